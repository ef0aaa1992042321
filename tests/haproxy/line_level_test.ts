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
  // HAProxy 2.6.12's wordings: after `add server` + `set server … state ready|maint` (with and without the
  // `CLI : ` prefix, which HAProxy writes when the change is done at once), and after failing checks.
  const table: [string, { level: string; backend?: string; server?: string }][] = [
    [
      "[WARNING]  (23729) : CLI : Server be_web/p1 is UP/READY (leaving forced maintenance).",
      { level: "info", backend: "be_web", server: "p1" },
    ],
    [
      "[WARNING]  (23729) : Server be_web/p1 is going DOWN for maintenance. 0 active and 0 backup servers " +
      "left. 0 sessions active, 0 requeued, 0 remaining in queue.",
      { level: "info", backend: "be_web", server: "p1" },
    ],
    [
      "[WARNING]  (23729) : CLI : Server be_web/p2 is going DOWN for maintenance. 1 active and 0 backup " +
      "servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
      { level: "info", backend: "be_web", server: "p2" },
    ],
    [
      "[WARNING]  (23729) : CLI : Server be_web/s0 was DOWN and now enters maintenance.",
      { level: "info", backend: "be_web", server: "s0" },
    ],
    [
      "[WARNING]  (23729) : CLI : Backup Server tcp_redis_1b2c/redis-1 is UP/READY (leaving forced maintenance).",
      { level: "info", backend: "tcp_redis_1b2c", server: "redis-1" },
    ],
    // A health check: HAProxy's own doing, with or without the CLI prefix (a check failing as it leaves
    // maintenance).
    [
      '[WARNING]  (23729) : Server be_web/s0 is DOWN, reason: Layer4 connection problem, info: "Connection ' +
      'refused", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 ' +
      "remaining in queue.",
      { level: "warn", backend: "be_web", server: "s0" },
    ],
    [
      '[WARNING]  (23729) : CLI : Server be_web/s0 is DOWN, reason: Layer4 connection problem, info: "Connection ' +
      'refused", check duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 ' +
      "remaining in queue.",
      { level: "warn", backend: "be_web", server: "s0" },
    ],
    [
      "[WARNING]  (23729) : Server be_web/s0 is UP, reason: Layer4 check passed, check duration: 0ms. 1 active " +
      "and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
      { level: "warn", backend: "be_web", server: "s0" },
    ],
    // Maintenance with a cause is HAProxy's (DNS resolution), not a command of haconfd's.
    [
      "[WARNING]  (23729) : Server be_web/s0 is going DOWN for maintenance (No IP for server ). 0 active and 0 " +
      "backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
      { level: "warn", backend: "be_web", server: "s0" },
    ],
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
