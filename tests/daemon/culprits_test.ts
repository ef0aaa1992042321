import assert from "node:assert/strict";
import { reservedPortsOf } from "../../lib/daemon/daemon.ts";
import { createGenerator, generate } from "../../lib/render/generate.ts";
import {
  busyListenPorts,
  type InstalledConfig,
  ListenPortProbe,
  listenPortsOf,
  portBusy,
  reloadCulprits,
  SOCKET_TABLE_FROM,
  socketPorts,
} from "../../lib/daemon/culprits.ts";
import { createModelStore, type ModelStore } from "../../lib/model/store.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import { buildModel, type Model } from "../../lib/model/model.ts";
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

/** A busy() that records what it probes; `taken` are the ports another program (or HAProxy) holds. */
function recordingBusy(taken: readonly number[]) {
  const probed: number[] = [];
  return { probed, busy: (_: string, port: number) => (probed.push(port), taken.includes(port)) };
}

/** An installed config binding `ports`, counting how often its text is read. */
function installedBinding(hash: string, ports: readonly number[], reads: { count: number }): InstalledConfig {
  const text = ports.map((p) => `listen tcp_${p}\n    bind 127.0.0.1:${p}\n`).join("");
  return { hash, text: () => (reads.count++, text) };
}

/** The generation view of a store's model: its listen ports (its domains are not to be read). */
function current(store: ModelStore) {
  return { model: withoutDomains(), listenPorts: store.listenPorts() };
}

/** A model whose domains must not be read (they are built on demand at scale: O(cluster)). */
function withoutDomains(): Pick<Model, "domains"> {
  return {
    get domains(): Model["domains"] {
      throw new Error("the probe read the model's domains");
    },
  };
}

const tcp = (name: string, port: number, ip = "10.0.0.5") =>
  endpointSet(
    name,
    { domain: `${name}.example.test`, proto: "tcp", "haconfd.io/listen-port": String(port) },
    [
      ip,
    ],
  );

Deno.test("ListenPortProbe culprits() probes a listen port once, when it enters the model, and none HAProxy binds", () => {
  const store = createModelStore();
  store.replaceAll([tcp("redis", 6379), tcp("pg", 5432), endpointSet("web", { domain: "web.example.test" })]);
  const { probed, busy } = recordingBusy([]);
  const probe = new ListenPortProbe("127.0.0.1", busy);
  const reads = { count: 0 };
  const first = installedBinding("h1", [6379], reads);

  assert.deepEqual(probe.culprits(current(store), first), []);
  assert.deepEqual(probed, [5432], "6379 is HAProxy's own: not probed");
  assert.equal(reads.count, 1, "the first call reads the installed config");

  assert.deepEqual(probe.culprits(current(store), first), []);
  store.apply(
    new Map([["default/redis", tcp("redis", 6379, "10.0.0.6")], ["default/pg", tcp("pg", 5432, "10.0.0.7")]]),
  );
  assert.deepEqual(probe.culprits(current(store), first), [], "an endpoint change");
  // The config with 5432 installed, then a pass with no change to listen ports.
  assert.deepEqual(probe.culprits(current(store), installedBinding("h2", [6379, 5432], reads)), []);
  assert.deepEqual(probed, [5432], "no port probed again for an unchanged set of listen ports");

  store.apply(new Map([["default/mysql", tcp("mysql", 3306)]]));
  assert.deepEqual(probe.culprits(current(store), installedBinding("h2", [6379, 5432], reads)), []);
  assert.deepEqual(probed, [5432, 3306], "only the port that entered the model");

  // A port that left the model is new again when it comes back.
  store.apply(new Map([["default/pg", null]]));
  probe.culprits(current(store), installedBinding("h3", [6379, 3306], reads));
  store.apply(new Map([["default/pg", tcp("pg", 5432)]]));
  probe.culprits(current(store), installedBinding("h3", [6379, 3306], reads));
  assert.deepEqual(probed, [5432, 3306, 5432]);
  assert.equal(reads.count, 1, "a port found free needs no look at the installed config");
});

Deno.test("ListenPortProbe culprits() tells HAProxy's ports from another program's by the installed config of the moment", () => {
  const store = createModelStore();
  store.replaceAll([tcp("redis", 6379)]);
  // 7000 is HAProxy's (the installed config binds it), 7001 another program's.
  const { probed, busy } = recordingBusy([7000, 7001]);
  const probe = new ListenPortProbe("127.0.0.1", busy);
  const reads = { count: 0 };
  // A config that once bound 7001: what it said must not outlive it.
  assert.deepEqual(probe.culprits(current(store), installedBinding("h1", [7001], reads)), []);

  store.apply(new Map([["default/other", tcp("other", 7001)]]));
  const found = probe.culprits(current(store), installedBinding("h2", [6379], reads));
  assert.deepEqual(found.map((c) => [c.object, c.domain]), [["default/other", "other.example.test"]]);
  assert.equal(reads.count, 2, "the changed installed config is read again, for the busy port");
  assert.deepEqual(
    probe.culprits(current(store), installedBinding("h2", [6379], reads)),
    found,
    "same answer",
  );

  // The culprit leaves (quarantined); a service whose port HAProxy binds arrives.
  store.apply(new Map([["default/other", null], ["default/mine", tcp("mine", 7000)]]));
  assert.deepEqual(probe.culprits(current(store), installedBinding("h3", [6379, 7000], reads)), []);
  assert.equal(reads.count, 3);
  // Another busy port against the same installed config: it is not read again.
  store.apply(new Map([["default/other", tcp("other", 7001)]]));
  assert.deepEqual(
    probe.culprits(current(store), installedBinding("h3", [6379, 7000], reads)).map((c) => c.object),
    ["default/other"],
  );
  assert.equal(reads.count, 3);
  assert.deepEqual(probed, [6379, 7001, 7000, 7001]);
});

Deno.test("ListenPortProbe culprits() reads an installed config of unknown hash at most once per call", () => {
  const store = createModelStore();
  const { busy } = recordingBusy([7000, 7001, 7002]);
  const probe = new ListenPortProbe("127.0.0.1", busy);
  const reads = { count: 0 };
  const unknown = { ...installedBinding("-", [7000], reads), hash: null };
  probe.culprits(current(store), unknown);
  assert.equal(reads.count, 1);
  store.apply(new Map([7000, 7001, 7002].map((port) => [`default/s${port}`, tcp(`s${port}`, port)])));
  assert.deepEqual(probe.culprits(current(store), unknown).map((c) => c.object), [
    "default/s7001",
    "default/s7002",
  ]);
  assert.equal(reads.count, 2, "one read for three busy ports");
});

Deno.test("ListenPortProbe culprits() reads createGenerator()'s listen ports, never the model's domains", () => {
  const renderer = compileTemplates(defaultTemplates());
  const listen = { http: "*:80", https: "*:443", tcp: "*" };
  const sets = [tcp("redis", 6379), tcp("pg", 5432), endpointSet("web", { domain: "web.example.test" })];
  const generated = createGenerator(renderer, listen)({ snapshot: () => sets });
  assert.ok(generated.listenPorts !== undefined);
  assert.deepEqual(
    [...generated.listenPorts.ports].sort(),
    [...listenPortsOf(buildModel(sets, { reservedPorts: [80, 443] })).ports].sort(),
  );
  // Installed: the config from before pg came.
  const before = generate(sets.filter((s) => s.name !== "pg"), renderer, listen).text;
  const { probed, busy } = recordingBusy([5432]);
  const culprits = new ListenPortProbe("127.0.0.1", busy).culprits(
    { ...generated, model: withoutDomains() },
    {
      hash: "h",
      text: () => before,
    },
  );
  assert.deepEqual(probed, [5432], "the installed config binds 6379");
  assert.deepEqual(culprits.map((c) => c.object), ["default/pg"]);
});

Deno.test("portBusy() tells a port another program listens on from a free one", () => {
  // Not 127.0.0.1: a concurrent test's outgoing connection may take the freed port there as its local port.
  const host = "127.0.0.254";
  using listener = Deno.listen({ hostname: host, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assert.equal(portBusy(host, port), true);
  listener.close();
  assert.equal(portBusy(host, port), false);
});

Deno.test("ListenPortProbe culprits() binds only the ports some socket has, from SOCKET_TABLE_FROM new ports on", () => {
  const many = buildModel(
    Array.from(
      { length: SOCKET_TABLE_FROM },
      (_, i) =>
        endpointSet(`t${i}`, {
          domain: `t${i}.example.test`,
          proto: "redis",
          "haconfd.io/listen-port": `${7000 + i}`,
        }),
    ),
  );
  const { probed, busy } = recordingBusy([7000, 7001]);
  let reads = 0;
  const probe = new ListenPortProbe("127.0.0.1", busy, () => (reads++, new Set([7000, 22])));
  const culprits = probe.culprits({ model: many }, { hash: null, text: () => undefined });
  assert.deepEqual(probed, [7000], "7001 has no socket: free without a bind (busy() would have said taken)");
  assert.deepEqual(culprits.map((c) => c.object), ["default/t0"]);
  assert.equal(reads, 1, "the table is read once per call");
  const unknown = recordingBusy([]);
  new ListenPortProbe("127.0.0.1", unknown.busy, () => null).culprits({ model: many }, {
    hash: null,
    text: () => "",
  });
  assert.equal(unknown.probed.length, SOCKET_TABLE_FROM, "no socket table: every port is bound");
  const few = recordingBusy([5432]);
  let fewReads = 0;
  new ListenPortProbe("127.0.0.1", few.busy, () => (fewReads++, new Set<number>())).culprits({ model }, {
    hash: null,
    text: () => undefined,
  });
  assert.deepEqual(
    [fewReads, few.probed.sort((a, b) => a - b)],
    [0, [5432, 6379]],
    "two new ports: two binds",
  );
});

Deno.test("socketPorts() reads the local ports of /proc/net/tcp and tcp6, null where there is none", () => {
  const tcp = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7362302 1",
    "   1: 0100007F:B705 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 7362303 1",
  ].join("\n");
  const tcp6 =
    "  sl  local_address ...\n   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A";
  const read = (path: string) => path.endsWith("6") ? tcp6 : tcp;
  assert.deepEqual([...socketPorts(read)!].sort((a, b) => a - b), [6379, 8080, 46853]);
  const noSix = (path: string) => {
    if (path.endsWith("6")) throw new Deno.errors.NotFound(path);
    return tcp;
  };
  assert.deepEqual([...socketPorts(noSix)!].sort((a, b) => a - b), [6379, 46853]);
  assert.equal(
    socketPorts(() => {
      throw new Deno.errors.NotFound("no /proc");
    }),
    null,
  );
});

Deno.test("socketPorts() finds a port this process listens on", { ignore: Deno.build.os !== "linux" }, () => {
  using listener = Deno.listen({ hostname: "127.0.0.254", port: 0 });
  assert.ok(socketPorts()?.has((listener.addr as Deno.NetAddr).port));
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

Deno.test("reservedPortsOf() reserves the port of HAProxy's metrics frontend (--haproxy-metrics-bind)", () => {
  const reserved = reservedPortsOf(
    {
      statusListen: "off",
      haproxyMetricsBind: "127.0.0.1:9101",
    } as Parameters<typeof reservedPortsOf>[0],
  );
  assert.deepEqual(reserved, [{ port: 9101, by: "HAProxy's metrics frontend (--haproxy-metrics-bind)" }]);
  const listen = { http: "*:80", https: "*:443", tcp: "*", metrics: "127.0.0.1:9101" };
  const sets = [
    endpointSet("pg", { domain: "pg.example.test", proto: "postgres", "haconfd.io/listen-port": "9101" }),
  ];
  const { model, text } = generate(sets, compileTemplates(defaultTemplates()), listen, undefined, reserved);
  assert.match(
    model.skipped[0]?.reason ?? "",
    /listen port 9101 is already used by HAProxy's metrics frontend/,
  );
  assert.match(text, /^frontend haconfd-metrics\n {4}bind 127\.0\.0\.1:9101\n/m);
  assert.doesNotMatch(
    generate([], compileTemplates(defaultTemplates()), { http: "*:80", https: "*:443", tcp: "*" }).text,
    /haconfd-metrics/,
  );
});
