import assert from "node:assert/strict";
import { shownSerial } from "../../lib/haproxy/ssl_runtime.ts";

Deno.test("shownSerial() reads the serial of `show ssl cert <file>` as HAProxy 2.6 prints it", () => {
  const answer = "Filename: /etc/haproxy/certs/shop__tls-a.pem\nStatus: Used\nSerial: 00A1B2C3D4\n" +
    "notBefore: Dec  5 19:22:58 2026 GMT\nnotAfter: Mar  5 19:22:58 2027 GMT\nSubject: /CN=a.example.test\n";
  assert.equal(shownSerial(answer), "a1b2c3d4");
  assert.equal(shownSerial("Unknown command\n"), undefined);
});
