import assert from "node:assert/strict";
import { parseCommandLine } from "../../lib/settings/cli.ts";
import { loadSettings, optionSpecs, type Settings } from "../../lib/settings/options.ts";
import { runtimeTargetOf } from "../../lib/daemon/daemon.ts";
import {
  batchLines,
  createRuntimePath,
  parseServersState,
  planCommands,
  readBackProblems,
  type RuntimeClient,
  splitReplies,
} from "../../lib/haproxy/runtime.ts";
import type { BackendChange } from "../../lib/haproxy/plan.ts";
import { runtimeDiff } from "../../lib/apply/config_diff.ts";

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
  weights: [],
  states: [],
  dynamicCookies: false,
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

Deno.test("planCommands() puts a terminating server in maintenance after the additions, and back to ready", () => {
  const plan = planCommands([{
    ...change,
    states: [{ name: "t", maint: true }, { name: "u", maint: false }],
  }], new Map());
  assert.ok(typeof plan !== "string");
  const commands = plan.map((p) => p.command);
  assert.ok(
    commands.indexOf("set server be/u state ready") >
      commands.indexOf("add server be/b [fd00::2]:80 inter 2s check"),
  );
  assert.deepEqual(commands.slice(-2), ["set server be/t state maint", "set server be/a state maint"]);
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

const INSTALLED = `defaults
    default-server inter 2s

backend be
    balance roundrobin
    server a 10.0.0.1:80 check
    server b 10.0.0.2:80 check
`;

/** A scripted Runtime API: records commands, answers like HAProxy 2.6 (del refused while `busy`). */
function fakeClient(busy: Set<string>) {
  const sent: string[] = [];
  const client: RuntimeClient = {
    run(commands) {
      sent.push(...commands);
      return Promise.resolve(commands.map((c) => {
        if (c.startsWith("add server")) return "New server registered.";
        if (c.startsWith("del server")) {
          return busy.has(c.slice("del server ".length))
            ? "Server still has connections attached to it, cannot remove it."
            : "Server deleted.";
        }
        if (c.startsWith("show servers state")) {
          return "1\n# header\n3 be 1 a 10.0.0.1 2 0 1 1 9 8 2 0 6 0 0 0 - 80 - 0 0 - - 0\n" +
            "3 be 2 b 10.0.0.2 0 1 1 1 9 8 2 0 6 0 0 0 - 80 - 0 0 - - 0";
        }
        return "";
      }));
    },
  };
  return { client, sent };
}

Deno.test("RuntimePath.drainNow() deletes a drained server once free, shuts its sessions down after the drain timeout", async () => {
  const busy = new Set(["be/b"]);
  const { client, sent } = fakeClient(busy);
  let now = 1_000;
  const path = createRuntimePath({ client, drainTimeoutMs: 30_000, drainPollMs: 3_600_000, now: () => now });
  try {
    const verdict = runtimeDiff(INSTALLED, INSTALLED.replace("    server b 10.0.0.2:80 check\n", ""));
    assert.equal(verdict.path, "runtime");
    const outcome = await path.apply(verdict.path === "runtime" ? verdict.changes : []);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(path.draining().map((d) => d.id), ["be/b"], "busy: still draining");
    assert.ok(sent.includes("set server be/b state maint"));
    assert.ok(!sent.some((c) => c.startsWith("shutdown")), "no shutdown before the timeout");

    now += 29_999;
    await path.drainNow();
    assert.ok(!sent.some((c) => c.startsWith("shutdown")), "still within the drain timeout");

    now += 1;
    busy.delete("be/b"); // the shutdown ends its sessions
    await path.drainNow();
    const tail = sent.slice(-2);
    assert.deepEqual(tail, ["shutdown sessions server be/b", "del server be/b"]);
    assert.deepEqual(path.draining(), [], "deleted");
  } finally {
    path.close();
  }
});

function parseSettings(args: string[]): Settings {
  return loadSettings(parseCommandLine(args, optionSpecs()).values, {});
}

Deno.test("runtimeTargetOf() prefers --haproxy-runtime-socket, else the master CLI, never with --no-runtime-api", () => {
  const master = { transport: "unix", path: "/run/master.sock" } as const;
  const settings = (args: string[]) =>
    parseSettings(["--haproxy-master-socket", "/run/master.sock", ...args]);
  assert.deepEqual(runtimeTargetOf(settings([]), master), { address: master, viaMaster: true });
  assert.deepEqual(runtimeTargetOf(settings(["--haproxy-runtime-socket", "/run/admin.sock"]), master), {
    address: { transport: "unix", path: "/run/admin.sock" },
    viaMaster: false,
  });
  assert.equal(runtimeTargetOf(settings(["--no-runtime-api"]), master), null);
  assert.equal(runtimeTargetOf(settings(["--dry-run"]), master), null);
  assert.equal(runtimeTargetOf(parseSettings([]), null), null, "reload command only: reloads as before");
  assert.equal(settings([]).drainTimeout, 30_000);
});
