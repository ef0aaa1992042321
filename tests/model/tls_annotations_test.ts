import assert from "node:assert/strict";
import { tlsAnnotations } from "../../lib/model/tls_annotations.ts";

Deno.test("tlsAnnotations() accepts a Secret name and a strict redirect flag, and refuses everything else", () => {
  const S = "haconfd.io/tls-secret", R = "haconfd.io/redirect-https";
  const table: Array<[string, Record<string, string>, string, boolean, unknown]> = [
    ["neither", {}, "http", false, null],
    ["secret", { [S]: "tls-a" }, "http", false, { secret: "tls-a", redirect: false }],
    ["secret + redirect", { [S]: "tls-a", [R]: "true" }, "http", false, { secret: "tls-a", redirect: true }],
    ["redirect false alone", { [R]: "false" }, "http", false, null],
    ["redirect alone", { [R]: "true" }, "http", false, /needs "haconfd\.io\/tls-secret"/],
    [
      "redirect yes",
      { [S]: "tls-a", [R]: "yes" },
      "http",
      false,
      /redirect-https": "yes" is not "true" or "false"/,
    ],
    ["redirect True", { [S]: "tls-a", [R]: "True" }, "http", false, /is not "true" or "false"/],
    ["space", { [S]: " tls-a" }, "http", false, /" tls-a" is not a Secret name/],
    ["newline", { [S]: "tls-a\n  bind :1" }, "http", false, /is not a Secret name/],
    ["upper case", { [S]: "TLS" }, "http", false, /is not a Secret name/],
    ["namespace/name", { [S]: "other/tls-a" }, "http", false, /"other\/tls-a" is not a Secret name/],
    ["empty", { [S]: "" }, "http", false, /is not a Secret name/],
    ["passthrough", { [S]: "tls-a" }, "https", false, /needs proto "http" \(proto "https" is passthrough/],
    ["tcp", { [S]: "tls-a" }, "redis", false, /needs proto "http" \(proto "redis" is not terminated/],
    ["ip domain", { [S]: "tls-a" }, "http", true, /IP address/],
  ];
  for (const [what, annotations, proto, ip, expected] of table) {
    const got = tlsAnnotations(annotations, proto, ip);
    if (expected instanceof RegExp) assert.match(String(got), expected, what);
    else assert.deepEqual(got, expected, what);
  }
});
