import assert from "node:assert/strict";
import {
  batchLines,
  parseServersState,
  planCommands,
  readBackProblems,
  splitReplies,
} from "../lib/haproxy/runtime.ts";
import type { BackendChange } from "../lib/runtime_diff.ts";

const change: BackendChange = {
  backend: "be",
  adds: [{
    name: "b",
    address: "fd00::2",
    port: 80,
    keywords: ["check"],
    effectiveKeywords: ["inter", "2s", "check"],
  }],
  removes: ["a"],
  removedKeywords: { a: "inter 2s check" },
  updates: [{ name: "c", address: "10.0.0.3", port: 81, keywords: [] }],
  expected: [],
};

Deno.test("planCommands() adds and moves before it removes, so a backend never runs out of servers", () => {
  const plan = planCommands([change], new Map());
  assert.ok(typeof plan !== "string");
  assert.deepEqual(plan.map((p) => p.command), [
    "set server be/c addr 10.0.0.3 port 81",
    "add server be/b [fd00::2]:80 inter 2s check",
    "enable health be/b",
    "set server be/b state ready",
    "set server be/a state maint",
  ]);
});

Deno.test("planCommands() re-enables a draining server that comes back, refuses one with other keywords", () => {
  const same = planCommands([change], new Map([["be/b", { keywords: "inter 2s check" }]]));
  assert.ok(typeof same !== "string");
  assert.deepEqual(same.map((p) => p.command).slice(1, 3), [
    "set server be/b addr fd00::2 port 80",
    "set server be/b state ready",
  ]);
  const other = planCommands([change], new Map([["be/b", { keywords: "check" }]]));
  assert.match(other as string, /came back with other keywords/);
});

Deno.test("splitReplies() matches prompt-mode output to commands (stats socket and master CLI)", () => {
  // As HAProxy 2.6.12 answers "prompt; add server …; enable server …; del server be/nope".
  assert.deepEqual(
    splitReplies("\n> New server registered.\n\n> \n> No such server.\n> ", false),
    ["New server registered.", "", "No such server."],
  );
  assert.deepEqual(
    splitReplies("master> New server registered.\n\nmaster> \nmaster> Server deleted.\nmaster> ", true),
    ["New server registered.", "", "Server deleted."],
  );
});

Deno.test("batchLines() keeps lines short and loses no command", () => {
  const commands = Array.from({ length: 500 }, (_, i) => `set server be/s${i} state ready`);
  const lines = batchLines(commands);
  assert.ok(lines.length > 1);
  assert.ok(lines.every((l) => l.length <= 4_000));
  assert.deepEqual(lines.flatMap((l) => l.split("; ")), commands);
});

Deno.test("readBackProblems() names missing, moved, maintenance and unknown servers", () => {
  const state = parseServersState(`1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be 1 a 10.0.0.1 2 0 1 1 9 8 2 0 6 0 0 0 - 80 - 0 0 - - 0
3 be 2 b 10.0.0.9 2 0 1 1 9 8 2 0 6 0 0 0 - 80 - 0 0 - - 0
3 be 3 c 10.0.0.3 0 1 1 1 9 8 2 0 6 0 0 0 - 80 - 0 0 - - 0
3 be 4 x 10.0.0.4 0 1 1 1 9 8 2 0 2 0 0 0 - 80 - 0 0 - - 0
3 be 5 y 10.0.0.5 0 1 1 1 9 8 2 0 2 0 0 0 - 80 - 0 0 - - 0
`);
  const expected = ["a", "b", "c", "d"].map((name, i) => ({
    name,
    address: `10.0.0.${i + 1}`,
    port: 80,
    keywords: ["check"],
  }));
  const problems = readBackProblems([{ ...change, expected }], state, new Set(["be/x"]));
  assert.deepEqual(problems, [
    "be/b at 10.0.0.9:80, file says 10.0.0.2:80",
    "be/c admin state 1",
    "be/d missing",
    "be/y not in the file",
  ]);
});
