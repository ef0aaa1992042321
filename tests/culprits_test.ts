import assert from "node:assert/strict";
import { reloadCulprits } from "../lib/haproxy/culprits.ts";
import { buildModel } from "../lib/model.ts";
import { endpointSet } from "./support/fixtures.ts";

const model = buildModel([
  endpointSet("web", { domain: "web.example.test", proto: "http" }),
  endpointSet("redis", { domain: "redis.example.test", proto: "redis" }, ["10.0.0.2"], {
    namespace: "cache",
  }),
  endpointSet("pg", { domain: "pg.example.test", proto: "postgres" }, ["10.0.0.3"], { namespace: "db" }),
]);

Deno.test("reloadCulprits() names the object whose listen port HAProxy 2.6 cannot bind", () => {
  const redis = model.domains["redis.example.test"]!;
  const alert =
    `[ALERT]    (10564) : Binding [/etc/haproxy/haproxy.cfg:9] for proxy tcp_${redis.id}: cannot bind socket (Address already in use) for [127.0.0.1:6379]`;
  const culprits = reloadCulprits(
    `[NOTICE] (1) : Reloading HAProxy\n${alert}\n[WARNING] Loading failure!`,
    model,
  );
  assert.deepEqual(culprits.map((c) => [c.object, c.domain]), [["cache/redis", "redis.example.test"]]);
  assert.equal(
    culprits[0]?.reason,
    `HAProxy cannot listen on 127.0.0.1:6379 for proxy tcp_${redis.id} (Address already in use); skipped so that the other services stay up`,
  );
});

Deno.test("reloadCulprits() reads the older 'Starting proxy' wording and a custom proxy name by port", () => {
  const alert = "Starting proxy my_pg_listener: cannot bind socket (Address already in use) [0.0.0.0:5432]";
  assert.deepEqual(reloadCulprits(alert, model).map((c) => c.object), ["db/pg"]);
});

Deno.test("reloadCulprits() blames nobody for haconfd's own frontends or unrelated alerts", () => {
  assert.deepEqual(
    reloadCulprits(
      "Binding [h.cfg:12] for proxy http-in: cannot bind socket (Address already in use) for [0.0.0.0:80]",
      model,
    ),
    [],
  );
  assert.deepEqual(reloadCulprits("HAProxy reload failed: master socket refused", model), []);
});
