import assert from "node:assert/strict";
import { join } from "node:path";
import { checkConfig, parseCheckMessages, runCommand } from "../../lib/haproxy/check.ts";
import { haproxyEnv } from "../../lib/haproxy/malloc_env.ts";
import { splitCommand } from "../../lib/settings/values.ts";
import { BASE_CONFIG, freePort, HAPROXY_BINARY, haproxyAvailable } from "../support/haproxy.ts";

const NO_HAPROXY = !haproxyAvailable();

Deno.test("splitCommand() splits words and honours quotes and escapes", () => {
  const cases: [string, string[]][] = [
    ["/usr/sbin/haproxy -c -q -f", ["/usr/sbin/haproxy", "-c", "-q", "-f"]],
    ["  /etc/init.d/haproxy   reload ", ["/etc/init.d/haproxy", "reload"]],
    [`sh -c 'kill -USR2 "$(cat /run/haproxy.pid)"'`, ["sh", "-c", `kill -USR2 "$(cat /run/haproxy.pid)"`]],
    [`a "b c" d`, ["a", "b c", "d"]],
    [`a "say \\"hi\\"" 'it''s'`, ["a", `say "hi"`, "its"]],
    [`a\\ b c`, ["a b", "c"]],
    [`empty "" ''`, ["empty", "", ""]],
    [`x"y z"w`, ["xy zw"]],
    ["", []],
  ];
  for (const [line, argv] of cases) assert.deepEqual(splitCommand(line), argv, line);
});

Deno.test("splitCommand() rejects unterminated quotes and a trailing backslash", () => {
  assert.throws(() => splitCommand(`a 'b`), /unterminated ' quote/);
  assert.throws(() => splitCommand(`a "b`), /unterminated " quote/);
  assert.throws(() => splitCommand(`a \\`), /trailing backslash/);
});

Deno.test("parseCheckMessages() keeps only ALERT and WARNING lines", () => {
  const output = [
    "[NOTICE]   (4379) : haproxy version is 2.6.12",
    "[ALERT]    (4379) : config : parsing [bad.cfg:2] : unknown keyword 'bogus' in 'global' section",
    "[WARNING]  (4379) : config : missing timeouts for frontend 'f'.",
    "Configuration file is valid",
  ].join("\n");
  assert.deepEqual(parseCheckMessages(output), [
    "[ALERT] (4379) : config : parsing [bad.cfg:2] : unknown keyword 'bogus' in 'global' section",
    "[WARNING] (4379) : config : missing timeouts for frontend 'f'.",
  ]);
});

Deno.test("runCommand() reports a missing program clearly", async () => {
  await assert.rejects(
    () => runCommand(["/nonexistent/haproxy", "-c"], { timeoutMs: 1000 }),
    /Cannot run "\/nonexistent\/haproxy": program not found/,
  );
});

Deno.test("checkConfig() answers not-run, naming the command, when the check binary is missing", async () => {
  const result = await checkConfig("/tmp/x.cfg", { command: ["/nonexistent/haproxy", "-c", "-f"] });
  assert.equal(result.verdict, "not-run");
  assert.equal(result.ok, false);
  assert.deepEqual(result.errors, [
    `Cannot check config with "/nonexistent/haproxy -c -f /tmp/x.cfg": Cannot run "/nonexistent/haproxy": program not found`,
  ]);
});

Deno.test("checkConfig() throws for an empty program name, a caller's mistake", async () => {
  await assert.rejects(() => checkConfig("/tmp/x.cfg", { command: ["", "-c"] }), TypeError);
});

Deno.test("checkConfig() kills a check that runs past its timeout and answers not-run", async () => {
  const result = await checkConfig("/tmp/x.cfg", { command: ["sh", "-c", "sleep 10", "sh"], timeoutMs: 200 });
  assert.equal(result.verdict, "not-run");
  assert.equal(result.ok, false);
  assert.deepEqual(result.errors, [
    `Cannot check config with "sh -c sleep 10 sh /tmp/x.cfg": timed out after 200 ms`,
  ]);
});

Deno.test("checkConfig() answers not-run when aborted", async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 100);
  try {
    const result = await checkConfig("/tmp/x.cfg", {
      command: ["sh", "-c", "sleep 10", "sh"],
      signal: controller.signal,
    });
    assert.equal(result.verdict, "not-run");
    assert.match(
      result.errors[0] ?? "",
      /^Cannot check config with "sh -c sleep 10 sh \/tmp\/x\.cfg": aborted$/,
    );
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("checkConfig() answers not-run when the check is killed by a signal", async () => {
  const result = await checkConfig("/tmp/x.cfg", { command: ["sh", "-c", "kill -9 $$", "sh"] });
  assert.equal(result.verdict, "not-run");
  assert.match(result.errors[0] ?? "", /: killed by a signal$/);
});

Deno.test("checkConfig() reports a non-zero exit without HAProxy lines as invalid", async () => {
  const result = await checkConfig("/tmp/x.cfg", { command: ["sh", "-c", "echo broken >&2; exit 3", "sh"] });
  assert.equal(result.verdict, "invalid");
  assert.equal(result.ok, false);
  assert.deepEqual(result.errors, [`Config check of "/tmp/x.cfg" failed with exit code 3: broken`]);
});

Deno.test("checkConfig() answers valid for an exit 0", async () => {
  const result = await checkConfig("/tmp/x.cfg", { command: ["sh", "-c", "echo fine", "sh"] });
  assert.deepEqual([result.verdict, result.ok, result.output, result.errors], ["valid", true, "fine", []]);
});

Deno.test("checkConfig() runs the check with haconfd's malloc tunables in its environment", async () => {
  const result = await checkConfig("/tmp/x.cfg", {
    command: ["sh", "-c", 'echo "$GLIBC_TUNABLES $MALLOC_TOP_PAD_"', "sh"],
  });
  const { GLIBC_TUNABLES, MALLOC_TOP_PAD_ } = haproxyEnv();
  assert.equal(result.output, `${GLIBC_TUNABLES} ${MALLOC_TOP_PAD_}`);
  assert.match(result.output, /glibc\.malloc\.hugetlb=/);
});

async function withConfig(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-check-" });
  try {
    const path = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const GOOD = `${BASE_CONFIG}
frontend f
  mode http
  bind 127.0.0.1:${freePort()}
  http-request return status 200
`;

Deno.test({
  name: "checkConfig() accepts a good config with the real haproxy",
  ignore: NO_HAPROXY,
  fn: () =>
    withConfig(GOOD, async (path) => {
      const result = await checkConfig(path, { command: [HAPROXY_BINARY, "-c", "-f"] });
      assert.equal(result.verdict, "valid", result.output);
      assert.equal(result.ok, true, result.output);
      assert.deepEqual(result.errors.filter((l) => l.startsWith("[ALERT]")), []);
      assert.match(result.output, /Configuration file is valid/);
    }),
});

Deno.test({
  name: "checkConfig() returns the ALERT lines of a bad config (pyconfd's -c -q -f command)",
  ignore: NO_HAPROXY,
  fn: () =>
    withConfig(`${GOOD}  bogus-keyword here\nbackend b\n  server s1 127.0.0.2:notaport\n`, async (path) => {
      const result = await checkConfig(path, { command: splitCommand(`${HAPROXY_BINARY} -c -q -f`) });
      assert.equal(result.verdict, "invalid");
      assert.equal(result.ok, false);
      const alerts = result.errors.filter((l) => l.startsWith("[ALERT]"));
      assert.ok(alerts.some((l) => l.includes("unknown keyword 'bogus-keyword'")), alerts.join("\n"));
      assert.ok(alerts.some((l) => l.includes(`${path}:`)), "the alerts name the file and line");
      assert.ok(alerts.some((l) => /notaport|port/.test(l)), alerts.join("\n"));
    }),
});
