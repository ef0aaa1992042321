/**
 * The traffic guard (lib/demo/traffic_guard.ts) alone, and where the tests' harnesses apply it: the HAProxy
 * harness, configs written for a managed HAProxy, appliers driving a real HAProxy, the test API server and
 * the daemon harness — each refuses an off-machine address before any HAProxy (or daemon) starts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertLocalConfig,
  clusterAddresses,
  configAddresses,
  hostsOf,
  isLocalAddress,
  localClusterAdmission,
  OffMachineAddressError,
} from "../../lib/demo/traffic_guard.ts";
import { startKubeServer } from "../../lib/demo/kube_server.ts";
import type { Applier } from "../../lib/apply/apply.ts";
import {
  BASE_CONFIG,
  guardApplier,
  routingConfig,
  startHaproxy,
  writeHaproxyConfig,
} from "../support/haproxy.ts";
import { endpoints, processesNaming, startDaemonProcess, startKube } from "../support/daemon.ts";

const OFF = /"10\.0\.0\.1" is not on this machine/;

Deno.test("isLocalAddress() takes 127.0.0.0/8, ::1 and named allowed addresses only", () => {
  for (
    const local of [
      "127.0.0.1",
      "127.9.8.7",
      "::1",
      "[::1]",
      "::ffff:127.0.0.2",
      "0:0:0:0:0:0:0:1",
      "localhost",
    ]
  ) {
    assert.equal(isLocalAddress(local), true, local);
  }
  for (
    const off of ["10.0.0.1", "192.168.1.1", "0.0.0.0", "::", "8.8.8.8", "fd00::1", "db.example.com", ""]
  ) {
    assert.equal(isLocalAddress(off), false, off);
  }
  assert.equal(isLocalAddress("10.99.0.2", { allow: ["10.99.0.2"] }), true);
  assert.equal(isLocalAddress("10.99.0.3", { allow: ["10.99.0.2"] }), false);
  assert.equal(isLocalAddress("fd00::0:1", { allow: ["fd00::1"] }), true, "compared in canonical form");
});

Deno.test("hostsOf() reads HAProxy's address forms; both readings of an unbracketed IPv6 token", () => {
  assert.deepEqual(hostsOf("10.0.0.1:80"), ["10.0.0.1"]);
  assert.deepEqual(hostsOf("10.0.0.1"), ["10.0.0.1"]);
  assert.deepEqual(hostsOf("[::1]:80"), ["::1"]);
  assert.deepEqual(hostsOf("ipv4@127.0.0.2:80"), ["127.0.0.2"]);
  assert.deepEqual(hostsOf("ipv6@::1"), ["::1", ":"]);
  assert.deepEqual(hostsOf("udp@10.1.1.1:514"), ["10.1.1.1"]);
  for (const local of ["/dev/log", "unix@/run/x.sock", "abns@name", "fd@3", "ring@buf"]) {
    assert.deepEqual(hostsOf(local), [], local);
  }
});

Deno.test("configAddresses() finds servers, addr, peers, resolvers, mailers, templates and log targets", () => {
  const text = [
    "global",
    "  log stderr format raw local0",
    "  log 10.0.0.9:514 local0",
    "defaults",
    "  log global",
    "  default-server inter 2s addr 10.0.0.8",
    "peers p",
    "  peer a 10.0.0.7:1024",
    "resolvers dns",
    "  nameserver ns1 10.0.0.6:53",
    "mailers m",
    "  mailer smtp 10.0.0.5:25",
    "backend be",
    "  server s1 127.0.0.2:80 check addr 10.0.0.4 port 81 # server s2 10.0.0.3:80",
    "  server-template web 3 db.example.com:80",
    "  server u unix@/run/app.sock",
  ].join("\n");
  assert.deepEqual(configAddresses(text).map((f) => f.address), [
    "10.0.0.9",
    "10.0.0.8",
    "10.0.0.7",
    "10.0.0.6",
    "10.0.0.5",
    "127.0.0.2",
    "10.0.0.4",
    "db.example.com",
  ]);
  assert.match(configAddresses(text)[5]!.where, /^line 14: server s1 127\.0\.0\.2:80/);
});

Deno.test("assertLocalConfig() refuses the first off-machine address, naming it and its line", () => {
  const config = routingConfig({ http: { listen: 8080, server: "10.0.0.1:80" } });
  assert.throws(() => assertLocalConfig(config), (error: unknown) => {
    assert.ok(error instanceof OffMachineAddressError);
    assert.equal(error.address, "10.0.0.1");
    assert.match(error.message, OFF);
    assert.match(error.message, /line \d+: server s1 10\.0\.0\.1:80/);
    return true;
  });
  assertLocalConfig(config, { allow: ["10.0.0.1"] });
  assertLocalConfig(routingConfig({ http: { listen: 8080, server: "127.0.0.2:80" } }));
});

Deno.test("startHaproxy() refuses a config with a server on 10.0.0.1 before any HAProxy starts", async () => {
  const marker = `guard-test-${crypto.randomUUID()}`;
  // The test files share one process, so its TMPDIR is not the test's to move: the proof is that no
  // HAProxy process carrying this test's marker exists.
  await assert.rejects(
    startHaproxy(`${BASE_CONFIG}\nbackend be\n  server s1 10.0.0.1:80 check\n`, {
      extraArgs: ["-L", marker],
    }),
    (error: unknown) => error instanceof OffMachineAddressError && OFF.test(error.message),
  );
  assert.deepEqual(await processesNaming(marker), [], "no haproxy process");
});

Deno.test("writeHaproxyConfig() and guardApplier() refuse before writing or applying", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-guard-" });
  try {
    const bad = routingConfig({ tcp: { listen: 6379, server: "10.0.0.1:6379" } });
    await assert.rejects(writeHaproxyConfig(join(dir, "haproxy.cfg"), bad), OFF);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    const applied: string[] = [];
    const inner: Applier = {
      apply: (text) => {
        applied.push(text);
        return Promise.reject(new Error("not reached"));
      },
      installed: () => undefined,
      reloadPending: () => false,
    };
    assert.throws(() => guardApplier(inner).apply(bad), OFF);
    assert.deepEqual(applied, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clusterAddresses() reads Endpoints, EndpointSlices and Nodes", () => {
  const meta = { name: "web", namespace: "shop" };
  assert.deepEqual(
    clusterAddresses("endpoints", {
      metadata: meta,
      subsets: [{ addresses: [{ ip: "127.0.0.2" }], notReadyAddresses: [{ ip: "10.0.0.1" }] }],
    }),
    [{ address: "127.0.0.2", where: "endpoints shop/web" }, {
      address: "10.0.0.1",
      where: "endpoints shop/web",
    }],
  );
  assert.deepEqual(
    clusterAddresses("endpointslices", { metadata: meta, endpoints: [{ addresses: ["10.0.0.2"] }] })
      .map((f) => f.address),
    ["10.0.0.2"],
  );
  const node = {
    metadata: { name: "n1" },
    status: { addresses: [{ type: "InternalIP", address: "10.0.0.3" }, { type: "Hostname", address: "n1" }] },
  };
  assert.deepEqual(clusterAddresses("nodes", node).map((f) => f.address), ["10.0.0.3"]);
  assert.deepEqual(clusterAddresses("services", { spec: { clusterIP: "10.96.0.1" } }), []);
});

Deno.test("startKube() refuses an off-machine address at start and on a later write, unless allowed", async () => {
  const web = (ip: string) => endpoints("web", { domain: "web.test", proto: "http" }, [ip], 80);
  await assert.rejects(startKube([web("10.0.0.1")]), OFF);
  await using kube = await startKube([web("127.0.0.2")]);
  assert.throws(() => kube.upsert("endpoints", web("10.0.0.1")), OFF);
  assert.deepEqual(
    clusterAddresses("endpoints", kube.get("endpoints", "e2e", "web")!)[0]?.address,
    "127.0.0.2",
  );
  await using netns = await startKube([web("10.99.0.2")], { allow: ["10.99.0.2"] });
  assert.equal(netns.objects("endpoints").length, 1);
});

Deno.test("startDaemonProcess() refuses a cluster with an off-machine address before the daemon starts", async () => {
  // A server without the admission check: the daemon harness reads the cluster itself.
  await using kube = await startKubeServer({
    objects: { endpoints: [endpoints("web", { domain: "web.test", proto: "http" }, ["10.0.0.1"], 80)] },
  });
  await assert.rejects(startDaemonProcess({ apiServer: kube.url }), OFF);
  assert.equal(kube.watchCount(), 0, "no daemon watches the cluster");
  // The admission check as the demo and the Docker tests' kind node use it.
  assert.throws(() => localClusterAdmission()("endpoints", kube.objects("endpoints")[0]!), OFF);
});
