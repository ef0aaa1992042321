import assert from "node:assert/strict";
import { reservedPortsOf } from "../../lib/daemon/daemon.ts";
import { generate } from "../../lib/render/generate.ts";
import { busyListenPorts, portBusy, reloadCulprits } from "../../lib/daemon/culprits.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import { buildModel } from "../../lib/model/model.ts";
import { endpointSet } from "../support/fixtures.ts";

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

Deno.test("busyListenPorts() probes only the listen ports the installed config does not bind already", () => {
  const probed: number[] = [];
  const busy = (_: string, port: number) => {
    probed.push(port);
    return port === 5432;
  };
  const installed = "listen tcp_redis\n    bind 127.0.0.1:6379\n";
  const culprits = busyListenPorts(model, installed, "127.0.0.1", busy);
  assert.deepEqual(probed, [5432], "6379 is HAProxy's own already");
  assert.deepEqual(culprits.map((c) => c.object), ["db/pg"]);
  assert.match(culprits[0]!.reason, /listen port 5432 on 127\.0\.0\.1 is held by another program/);
});

Deno.test("portBusy() tells a port another program listens on from a free one", () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assert.equal(portBusy("127.0.0.1", port), true);
  listener.close();
  assert.equal(portBusy("127.0.0.1", port), false);
});

Deno.test("reservedPortsOf() reserves the status port and a TCP master socket for generate()", () => {
  const reserved = reservedPortsOf({ statusListen: "127.0.0.1:9180", haproxyMasterSocket: "127.0.0.1:9999" });
  assert.deepEqual(reserved.map((r) => r.port), [9180, 9999]);
  const renderer = compileTemplates(defaultTemplates());
  const listen = { http: "*:80", https: "*:443", tcp: "*" };
  const sets = [
    endpointSet("redis", { domain: "redis.example.test", proto: "redis", "haconfd.io/listen-port": "9180" }),
  ];
  const { model: generated } = generate(sets, renderer, listen, undefined, reserved);
  assert.deepEqual(generated.skipped, [{
    object: "default/redis",
    reason: "listen port 9180 is already used by the status endpoint (--status-listen)",
  }]);
  assert.deepEqual(reservedPortsOf({ statusListen: "off", haproxyMasterSocket: "/run/m.sock" }), []);
});
