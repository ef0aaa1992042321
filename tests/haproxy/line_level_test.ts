import assert from "node:assert/strict";
import { backendDomain, haproxyLineLevel } from "../../lib/haproxy/line_level.ts";

Deno.test("haproxyLineLevel() follows HAProxy's tags for what is not expected", () => {
  assert.deepEqual(haproxyLineLevel("[ALERT]    (7) : Cannot bind socket [127.0.0.1:80]", false), {
    level: "error",
  });
  assert.deepEqual(haproxyLineLevel("[WARNING]  (7) : config : missing timeouts for proxy 'f'.", false), {
    level: "warn",
  });
  assert.deepEqual(haproxyLineLevel("[NOTICE]   (7) : Loading success.", false), { level: "info" });
});

Deno.test("haproxyLineLevel() a backend without servers is a warning naming the backend", () => {
  for (const stopping of [false, true]) {
    assert.deepEqual(
      haproxyLineLevel(
        "[ALERT]    (13667) : backend 'be_prometheus_example_test_1a2b' has no server available!",
        stopping,
      ),
      { level: "warn", backend: "be_prometheus_example_test_1a2b" },
    );
  }
});

Deno.test("haproxyLineLevel() the master's stop lines are info only while haconfd stops it", () => {
  const lines = [
    "[WARNING]  (13651) : Exiting Master process...",
    "[ALERT]    (13651) : Current worker (13667) exited with code 143 (Terminated)",
    "[WARNING]  (13651) : All workers exited. Exiting... (0)",
  ];
  for (const line of lines) assert.deepEqual(haproxyLineLevel(line, true), { level: "info" }, line);
  // The same lines without a stop haconfd asked for: a worker died, the master exits.
  assert.deepEqual(haproxyLineLevel(lines[1]!, false), { level: "error" });
  assert.deepEqual(haproxyLineLevel(lines[0]!, false), { level: "warn" });
});

Deno.test("haproxyLineLevel() a listen section without servers (HAProxy says proxy) is a warning too", () => {
  assert.deepEqual(
    haproxyLineLevel(
      "[ALERT]    (13667) : proxy 'tcp_redis_example_test_9f8e' has no server available!",
      false,
    ),
    { level: "warn", backend: "tcp_redis_example_test_9f8e" },
  );
});

Deno.test("haproxyLineLevel() server state changes: haconfd's own are info, HAProxy's own stay warnings", () => {
  // HAProxy 2.6.12's wordings after `add server` + `set server … state ready|maint`, and after checks. It
  // writes `CLI : ` first when the change is done at once, in reply to the command.
  const warning = (cli: boolean, text: string) => `[WARNING]  (23729) : ${cli ? "CLI : " : ""}${text}`;
  const left = "0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.";
  const refused = 'Layer4 connection problem, info: "Connection refused", check duration: 0ms.';
  const info = (backend: string, server: string) => ({ level: "info", backend, server });
  const warn = { level: "warn", backend: "be_web", server: "s0" };
  const table: [string, { level: string; backend?: string; server?: string }][] = [
    [warning(true, "Server be_web/p1 is UP/READY (leaving forced maintenance)."), info("be_web", "p1")],
    [warning(false, `Server be_web/p1 is going DOWN for maintenance. ${left}`), info("be_web", "p1")],
    [warning(true, `Server be_web/p2 is going DOWN for maintenance. ${left}`), info("be_web", "p2")],
    [warning(true, "Server be_web/s0 was DOWN and now enters maintenance."), info("be_web", "s0")],
    [
      warning(true, "Backup Server tcp_redis_1b2c/redis-1 is UP/READY (leaving forced maintenance)."),
      info("tcp_redis_1b2c", "redis-1"),
    ],
    // Health checks are HAProxy's own doing, with or without the prefix (one failing as the server leaves
    // maintenance), and so is maintenance with a cause (DNS resolution).
    [warning(false, `Server be_web/s0 is DOWN, reason: ${refused} ${left}`), warn],
    [warning(true, `Server be_web/s0 is DOWN, reason: ${refused} ${left}`), warn],
    [warning(false, "Server be_web/s0 is UP, reason: Layer4 check passed, check duration: 0ms."), warn],
    [warning(false, `Server be_web/s0 is going DOWN for maintenance (No IP for server ). ${left}`), warn],
    ["[ALERT]    (23729) : CLI : backend 'be_web' has no server available!", {
      level: "warn",
      backend: "be_web",
    }],
  ];
  for (const [line, verdict] of table) {
    for (const stopping of [false, true]) assert.deepEqual(haproxyLineLevel(line, stopping), verdict, line);
  }
});

Deno.test("backendDomain() finds the domain of a be_<id> backend or tcp_<id> listen section", () => {
  const domains = {
    "grafana.example.test": { id: "grafana_example_test_caa5f9bf" },
    "redis.example.test": { id: "redis_example_test_1b2c3d4e" },
  };
  assert.equal(backendDomain(domains, "be_grafana_example_test_caa5f9bf"), "grafana.example.test");
  assert.equal(backendDomain(domains, "tcp_redis_example_test_1b2c3d4e"), "redis.example.test");
  assert.equal(backendDomain(domains, "be_no_route"), undefined);
});
