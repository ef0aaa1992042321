import assert from "node:assert/strict";
import { backendDomain, haproxyLineLevel } from "../../lib/haproxy/line_level.ts";

Deno.test("haproxyLineLevel() follows HAProxy's tags for what is not expected", () => {
  assert.deepEqual(haproxyLineLevel("[ALERT]    (7) : Cannot bind socket [127.0.0.1:80]", false), {
    level: "error",
  });
  assert.deepEqual(haproxyLineLevel("[WARNING]  (7) : Server b/s1 is DOWN", false), { level: "warn" });
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

Deno.test("backendDomain() finds the domain of a be_<id> backend or tcp_<id> listen section", () => {
  const domains = {
    "grafana.example.test": { id: "grafana_example_test_caa5f9bf" },
    "redis.example.test": { id: "redis_example_test_1b2c3d4e" },
  };
  assert.equal(backendDomain(domains, "be_grafana_example_test_caa5f9bf"), "grafana.example.test");
  assert.equal(backendDomain(domains, "tcp_redis_example_test_1b2c3d4e"), "redis.example.test");
  assert.equal(backendDomain(domains, "be_no_route"), undefined);
});
