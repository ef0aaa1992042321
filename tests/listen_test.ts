import assert from "node:assert/strict";
import { isLoopback, parseListen } from "../lib/listen.ts";

Deno.test("parseListen() and isLoopback() read listen addresses", () => {
  const cases: [string, string, number, boolean][] = [
    ["127.0.0.1:9180", "127.0.0.1", 9180, true],
    ["127.0.0.2:0", "127.0.0.2", 0, true],
    ["localhost:9180", "localhost", 9180, true],
    ["[::1]:9180", "::1", 9180, true],
    ["*:9180", "0.0.0.0", 9180, false],
    [":9180", "0.0.0.0", 9180, false],
    ["0.0.0.0:9180", "0.0.0.0", 9180, false],
    ["10.1.2.3:80", "10.1.2.3", 80, false],
    ["[::]:9180", "::", 9180, false],
    [":::9180", "::", 9180, false],
    ["lb.example.com:9180", "lb.example.com", 9180, false],
  ];
  for (const [listen, hostname, port, loopback] of cases) {
    assert.deepEqual(parseListen(listen), { hostname, port, loopback }, listen);
  }
  assert.equal(isLoopback("::ffff:127.0.0.1"), true);
  assert.equal(isLoopback("128.0.0.1"), false);
  assert.throws(() => parseListen("9180"), TypeError);
  assert.throws(() => parseListen("host:99999"), TypeError);
});
