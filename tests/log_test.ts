import assert from "node:assert/strict";
import { createLogger, errorText, formatLine, type Level, memoryLogger, redact } from "../lib/log.ts";

const CLOCK = () => new Date("2026-01-02T03:04:05.678Z");

/** A logger writing into an array, with a fixed clock. */
function capture(options: { level?: Level; format?: "logfmt" | "json" } = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, now: CLOCK, write: (line) => lines.push(line) });
  return { log, lines };
}

Deno.test("redact() replaces the values of secret-looking keys at any depth", () => {
  const cases: [unknown, unknown][] = [
    [{ token: "abc" }, { token: "[redacted]" }],
    [{ bearerToken: "abc", Password: "p", client_secret: "s" }, {
      bearerToken: "[redacted]",
      Password: "[redacted]",
      client_secret: "[redacted]",
    }],
    [{ Authorization: "Bearer x", credential: 1, "key-data": "k", keydata: "k" }, {
      Authorization: "[redacted]",
      credential: "[redacted]",
      "key-data": "[redacted]",
      keydata: "[redacted]",
    }],
    [{ nested: { list: [{ token: "t", ok: 1 }] } }, { nested: { list: [{ token: "[redacted]", ok: 1 }] } }],
    // Empty and absent values say nothing secret, and saying they are empty helps the reader.
    [{ token: "", password: null, secret: undefined }, { token: "", password: null, secret: undefined }],
    // Keys that merely contain a secret word are kept: only the ending counts.
    [{ tokenFile: "/run/token", keys: 3, secretName: "tls" }, {
      tokenFile: "/run/token",
      keys: 3,
      secretName: "tls",
    }],
    ["plain", "plain"],
    [[1, "two"], [1, "two"]],
    [null, null],
  ];
  for (const [input, expected] of cases) assert.deepEqual(redact(input), expected, JSON.stringify(input));
});

Deno.test("redact() turns errors into their text with causes", () => {
  const error = new Error("outer", { cause: new Error("inner") });
  assert.deepEqual(redact({ error, list: [error] }), { error: "outer: inner", list: ["outer: inner"] });
});

Deno.test("errorText() joins the cause chain, first lines only, without repeats", () => {
  const cases: [unknown, string][] = [
    [new Error("a", { cause: new Error("b", { cause: new Error("c") }) }), "a: b: c"],
    [new Error("Cannot read: x", { cause: new Error("x") }), "Cannot read: x"],
    [
      new Error("top\nsecond line", { cause: new Error("cause\nstack-ish detail") }),
      "top\nsecond line: cause",
    ],
    [new Error("a", { cause: "a string cause" }), "a: a string cause"],
    [new Error("a", { cause: new Error("") }), "a"],
    ["not an error", "not an error"],
    [42, "42"],
    [null, ""],
    [undefined, ""],
  ];
  for (const [input, expected] of cases) assert.equal(errorText(input), expected, String(input));
});

Deno.test("errorText() stops after eight errors of a cyclic or long chain", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  a.cause = b;
  assert.equal(errorText(a), "a: b");
  let deep: Error = new Error("e0");
  for (let i = 1; i < 20; i++) deep = new Error(`e${i}`, { cause: deep });
  assert.equal(errorText(deep).split(": ").length, 8);
});

Deno.test("formatLine() writes logfmt, quoting only values that need it", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ a: "plain", b: 3, c: true }, "a=plain b=3 c=true"],
    [{ a: "two words" }, 'a="two words"'],
    [{ a: "" }, 'a=""'],
    [{ a: 'say "hi"' }, 'a="say \\"hi\\""'],
    [{ a: "k=v" }, 'a="k=v"'],
    [{ a: "back\\slash" }, 'a="back\\\\slash"'],
    [{ a: "line\nbreak" }, 'a="line\\nbreak"'],
    [{ a: "tab\there" }, 'a="tab\\there"'],
    [{ a: "naïve" }, 'a="naïve"'],
    [{ a: null }, "a=null"],
    [{ a: undefined, b: 1 }, "b=1"],
    [{ a: [1, 2] }, "a=[1,2]"],
    [{ a: { x: "y z" } }, 'a="{\\"x\\":\\"y z\\"}"'],
  ];
  for (const [record, line] of cases) assert.equal(formatLine("logfmt", record), line, line);
});

Deno.test("formatLine() writes JSON as one line", () => {
  assert.equal(formatLine("json", { a: "x\ny", b: 1 }), '{"a":"x\\ny","b":1}');
});

Deno.test("createLogger() writes time, level, component and msg first, then the fields", () => {
  const { log, lines } = capture();
  log.info("watch started", { resource: "endpoints" });
  assert.deepEqual(lines, [
    'time=2026-01-02T03:04:05.678Z level=info component=haconfd msg="watch started" resource=endpoints',
  ]);
});

Deno.test("createLogger() drops events below its level", () => {
  const levels: Level[] = ["debug", "info", "warn", "error"];
  for (const [index, min] of levels.entries()) {
    const { log, lines } = capture({ level: min, format: "json" });
    for (const at of levels) log[at](at);
    assert.deepEqual(lines.map((line) => JSON.parse(line).level), levels.slice(index), min);
  }
});

Deno.test("createLogger() children name their component and carry their fields, redacted", () => {
  const { log, lines } = capture({ format: "json" });
  const kube = log.child("kube", { server: "https://k", token: "t0p" });
  kube.child("watch", { resource: "endpoints" }).warn("restarting", { attempt: 2, password: "p" });
  log.info("parent");
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    {
      time: "2026-01-02T03:04:05.678Z",
      level: "warn",
      component: "watch",
      msg: "restarting",
      server: "https://k",
      token: "[redacted]",
      resource: "endpoints",
      attempt: 2,
      password: "[redacted]",
    },
    { time: "2026-01-02T03:04:05.678Z", level: "info", component: "haconfd", msg: "parent" },
  ]);
});

Deno.test("createLogger() lets event fields override the child's, and logs errors as text", () => {
  const { log, lines } = capture();
  log.child("apply", { pass: 1 }).error("failed", {
    pass: 2,
    error: new Error("a", { cause: new Error("b") }),
  });
  assert.equal(
    lines[0],
    'time=2026-01-02T03:04:05.678Z level=error component=apply msg=failed pass=2 error="a: b"',
  );
});

Deno.test("memoryLogger() keeps parsed lines from its level on", () => {
  const log = memoryLogger("warn");
  log.info("hidden");
  log.warn("kept", { n: 1 });
  assert.equal(log.lines.length, 1);
  assert.equal(log.lines[0]?.msg, "kept");
  assert.equal(log.lines[0]?.n, 1);
});
