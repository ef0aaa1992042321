/**
 * End-to-end, backend mode nodeport: `haconfd run --backend-mode nodeport` against the test API server
 * serving Nodes, Services and EndpointSlices, with a real managed HAProxy. Small HTTP servers on
 * 127.0.0.x play the nodes at their node port (each answers with its node's name) and kube-proxy's
 * health check port; the nodes' InternalIPs are those 127.0.0.x addresses.
 *
 * @module
 */
import assert from "node:assert/strict";
import { httpGet, startHttpBackend } from "../lib/demo/backends.ts";
import { type KubeServer, startKubeServer } from "../lib/demo/kube_server.ts";
import {
  type DaemonProcess,
  NAMESPACE,
  reloadsTotal,
  startDaemonProcess,
  startHttpBackends,
  waitForBackends,
} from "./support/daemon.ts";
import { haproxyAvailable, waitFor } from "./support/haproxy.ts";
import { delay } from "../lib/delay.ts";
import {
  endpointsObject,
  nodeObject,
  readyCondition,
  serviceObject,
  sliceObject,
  startHealthChecks,
} from "./support/nodeport.ts";

const ignore = !haproxyAvailable();
const NODES = ["node-a", "node-b", "node-c", "node-d", "node-e"];
/** Node name → its InternalIP (the address its node-port server listens on). */
const IPS: Record<string, string> = Object.fromEntries(NODES.map((n, i) => [n, `127.0.0.${i + 2}`]));
const ARGS = ["--resource", "endpointslices", "--backend-mode", "nodeport", "--node-selector", "pool=edge"];

interface LiveServer {
  server: string;
  address: string;
  status: string;
}

/** HAProxy's servers of a domain's backend from /status (the view the status page shows). */
async function liveServers(daemon: DaemonProcess, domain: string): Promise<LiveServer[]> {
  const detail = JSON.parse((await daemon.get(`/status/domains/${domain}`)).body) as {
    haproxy: { servers: LiveServer[] };
  };
  return detail.haproxy.servers;
}

/** The server lines of a backend in the installed file, as `name address:port`. */
async function fileServers(daemon: DaemonProcess, backendPrefix: string): Promise<string[]> {
  const text = await Deno.readTextFile(daemon.configPath);
  const section = text.split(/\n(?=backend |listen |frontend )/).find((s) => s.startsWith(backendPrefix)) ??
    "";
  return [...section.matchAll(/^\s+server (\S+) (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
}

/** The file's servers of `domain` equal HAProxy's live servers in service (removed ones sit in MAINT). */
async function assertFileMatchesLive(daemon: DaemonProcess, domain: string): Promise<void> {
  const id = domain.replaceAll(".", "_");
  const file = await fileServers(daemon, `backend be_${id}`);
  const live = (await liveServers(daemon, domain)).filter((s) => s.status !== "MAINT")
    .map((s) => `${s.server} ${s.address}`).sort();
  assert.deepEqual(live, file);
}

Deno.test({
  name:
    "haconfd run --backend-mode nodeport routes eTP Cluster to every ready selected node, follows node changes without a reload",
  ignore,
  async fn() {
    const nodePorts = await startHttpBackends(NODES);
    await using pod = await startHttpBackend("pod-1", { hostname: "127.0.0.9" });
    try {
      const selected = { pool: "edge" };
      await using kube = await startKubeServer({
        objects: {
          nodes: [
            nodeObject("node-a", IPS["node-a"]!, true, selected),
            nodeObject("node-b", IPS["node-b"]!, true, selected),
            nodeObject("node-c", IPS["node-c"]!, true, selected),
            nodeObject("node-d", IPS["node-d"]!, true, { pool: "other" }),
          ],
          services: [
            serviceObject("cl", "cl.test", { type: "NodePort", nodePort: nodePorts.port }),
            serviceObject("cip", "cip.test", { type: "ClusterIP" }),
            serviceObject("web", "web.test", { type: "NodePort" }, { "haconfd.io/backend-mode": "pods" }),
            serviceObject("bad", "bad.test", { type: "NodePort" }, { "haconfd.io/backend-mode": "nodes" }),
          ],
          endpointslices: [sliceObject("web", [{ ip: pod.hostname, node: "node-a" }], pod.port)],
        },
      });
      await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ARGS });
      const http = daemon.ports.http;

      // Every Ready node in the selector; node-d (pool=other) is never seen.
      await waitForBackends(http, "cl.test", ["node-a", "node-b", "node-c"], 12);
      // A pods-mode service beside it goes to its pod.
      await waitForBackends(http, "web.test", ["pod-1"], 2);
      const skipped = (await daemon.status()).skipped as { object: string; reason: string }[];
      const reasonOf = (o: string) => skipped.find((s) => s.object === `${NAMESPACE}/${o}`)?.reason ?? "";
      assert.match(reasonOf("cip"), /Service type "ClusterIP" has no node ports/);
      assert.match(reasonOf("bad"), /annotation "haconfd.io\/backend-mode": "nodes" is not pods or nodeport/);
      const before = await reloadsTotal(daemon);

      kube.patch("nodes", "", "node-b", { status: { conditions: [readyCondition(false)] } }, {
        subresource: "status",
      });
      await waitForBackends(http, "cl.test", ["node-a", "node-c"], 12);
      kube.upsert("nodes", nodeObject("node-e", IPS["node-e"]!, true, selected));
      await waitForBackends(http, "cl.test", ["node-a", "node-c", "node-e"], 12);
      kube.patch("nodes", "", "node-a", { spec: { unschedulable: true } });
      kube.upsert("nodes", nodeObject("node-d", IPS["node-d"]!, true, { pool: "other", zone: "z" }));
      await waitForBackends(http, "cl.test", ["node-a", "node-c", "node-e"], 12);

      assert.equal(await reloadsTotal(daemon), before, "node changes went through the Runtime API");
      await waitFor(async () => {
        await assertFileMatchesLive(daemon, "cl.test");
        return true;
      }, { what: "file and HAProxy to agree", timeoutMs: 10_000 });
      const detail = JSON.parse((await daemon.get("/status/domains/cl.test")).body);
      assert.equal(detail.backendMode, "nodeport");
      const reasons = Object.fromEntries(
        (detail.nodePort.nodes as { node: string; reason: string }[]).map((n) => [n.node, n.reason]),
      );
      assert.equal(reasons["node-b"], "not Ready");
      assert.equal(reasons["node-d"], undefined, "outside the selector: never seen");
      assert.equal((await daemon.stop()).code, 0);
      // Counted by the node-port servers themselves from their start, not sampled after the fact.
      const hits = Object.fromEntries(nodePorts.backends.map((b) => [b.name, b.hits]));
      assert.equal(hits["node-d"], 0, "node-d (outside --node-selector) received no request");
      assert.ok(hits["node-a"]! > 0 && hits["node-c"]! > 0 && hits["node-e"]! > 0);
    } finally {
      await Promise.all(nodePorts.backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name:
    "haconfd run --backend-mode nodeport routes eTP Local to nodes with a ready endpoint, checked on healthCheckNodePort",
  ignore,
  async fn() {
    const local = ["node-a", "node-b", "node-c"];
    const nodePorts = await startHttpBackends(local);
    await using checks = await startHealthChecks(Object.fromEntries(local.map((n) => [n, IPS[n]!])));
    try {
      checks.set("node-b", 200);
      await using kube = await startKubeServer({
        objects: {
          nodes: local.map((n) => nodeObject(n, IPS[n]!, true, { pool: "edge" })),
          services: [serviceObject("lo", "lo.test", {
            type: "LoadBalancer",
            externalTrafficPolicy: "Local",
            nodePort: nodePorts.port,
            healthCheckNodePort: checks.port,
          })],
          // Pod addresses on loopback: in nodeport mode nothing connects to them, and the traffic guard
          // (startDaemonProcess) refuses any address off the machine all the same.
          endpointslices: [sliceObject("lo", [{ ip: "127.0.1.5", node: "node-b" }], 8080)],
        },
      });
      await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ARGS });
      const http = daemon.ports.http;

      await waitForBackends(http, "lo.test", ["node-b"], 6);
      const installed = await Deno.readTextFile(daemon.configPath);
      assert.match(installed, /option httpchk GET \/healthz\n/);
      assert.match(
        installed,
        new RegExp(`server node-b 127\\.0\\.0\\.3:${nodePorts.port} check port ${checks.port}\\n`),
      );
      const before = await reloadsTotal(daemon);

      // The pod moves from node-b to node-c: the traffic moves with it.
      checks.set("node-c", 200);
      kube.upsert("endpointslices", sliceObject("lo", [{ ip: "127.0.2.7", node: "node-c" }], 8080));
      checks.set("node-b", 503);
      await waitForBackends(http, "lo.test", ["node-c"], 6);

      // A second pod on node-a; then it dies before any API event: kube-proxy answers 503 on node-a.
      checks.set("node-a", 200);
      kube.upsert(
        "endpointslices",
        sliceObject("lo", [{ ip: "127.0.2.7", node: "node-c" }, { ip: "127.0.0.9", node: "node-a" }], 8080),
      );
      await waitForBackends(http, "lo.test", ["node-a", "node-c"], 8);
      // From before the pod dies until HAProxy has marked node-a down, a client keeps asking: node-a's
      // node port refuses connections (no local endpoint) from the moment its health port says 503.
      const client = keepAsking(http, "lo.test");
      await client.answered(5);
      const nodeA = nodePorts.backends.find((b) => b.name === "node-a")!;
      await nodeA.close();
      checks.set("node-a", 503);
      let asked = { failed: ["not stopped"], count: 0 };
      try {
        await waitFor(
          async () =>
            (await liveServers(daemon, "lo.test")).some((s) =>
              s.server === "node-a" && s.status.startsWith("DOWN")
            ),
          { what: "HAProxy to mark node-a down by its health check", timeoutMs: 30_000 },
        );
        await client.answered(5);
      } finally {
        asked = await client.stop();
      }
      assert.deepEqual(asked.failed, [], "no request failed while node-a's pod was dead");
      assert.ok(asked.count > 10);
      // None reaches node-a, though the API still lists its endpoint.
      for (let i = 0; i < 20; i++) {
        const answer = await httpGet(http, "lo.test");
        assert.equal(answer.status, 200);
        assert.equal(answer.headers["x-backend"], "node-c");
      }
      assert.equal(await reloadsTotal(daemon), before, "endpoint changes went through the Runtime API");
      await assertFileMatchesLive(daemon, "lo.test");
      assert.equal((await daemon.stop()).code, 0);
    } finally {
      await Promise.all(nodePorts.backends.map((b) => b.close()));
    }
  },
});

/**
 * A client sending requests for `host` one after another until `stop()`, which resolves with the answers
 * that were not 200 from a node (status or error) and the number of requests.
 */
function keepAsking(port: number, host: string) {
  let stopping = false;
  let count = 0;
  const failed: string[] = [];
  const waiters: { until: number; resolve: () => void }[] = [];
  const asking = (async () => {
    while (!stopping) {
      try {
        const answer = await httpGet(port, host);
        if (answer.status !== 200) failed.push(`status ${answer.status}`);
      } catch (error) {
        failed.push(String(error));
      }
      count++;
      for (const w of waiters.filter((w) => count >= w.until)) w.resolve();
    }
  })();
  return {
    /** Resolves once `n` more requests have been answered. */
    answered(n: number): Promise<void> {
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ until: count + n, resolve });
      return promise;
    },
    async stop(): Promise<{ failed: string[]; count: number }> {
      stopping = true;
      await asking;
      return { failed, count };
    },
  };
}

/**
 * The cluster of the default-pods tests: Ready nodes `nodes` (none selected out), the NodePort Service
 * `np` at `nodePort` (its Endpoints not annotated yet) and the pods-mode Endpoints `web` on `pod`.
 */
function podsDefaultCluster(nodes: string[], nodePort: number, pod: { hostname: string; port: number }) {
  return {
    nodes: nodes.map((n) => nodeObject(n, IPS[n]!, true)),
    services: [serviceObject("np", "np.test", { type: "NodePort", nodePort })],
    endpoints: [endpointsObject("web", "web.test", [{ ip: pod.hostname, node: "node-a" }], pod.port)],
  };
}

/**
 * Runs `fn` against `haconfd run --resource endpoints` (default backend mode pods) on the
 * {@linkcode podsDefaultCluster} of `nodes`, once web.test is served; then stops the daemon (exit 0).
 */
async function withPodsDefault(
  nodes: string[],
  fn: (kube: KubeServer, daemon: DaemonProcess) => Promise<void>,
): Promise<void> {
  const nodePorts = await startHttpBackends(nodes);
  await using pod = await startHttpBackend("pod-1", { hostname: "127.0.0.9" });
  try {
    await using kube = await startKubeServer({ objects: podsDefaultCluster(nodes, nodePorts.port, pod) });
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--resource", "endpoints"] });
    await waitForBackends(daemon.ports.http, "web.test", ["pod-1"], 2);
    await fn(kube, daemon);
    assert.equal((await daemon.stop()).code, 0);
  } finally {
    await Promise.all(nodePorts.backends.map((b) => b.close()));
  }
}

/** The Endpoints of `np` annotated `haconfd.io/backend-mode: nodeport` (with the default pods). */
function annotatedNodePort() {
  return endpointsObject("np", "np.test", [{ ip: "127.0.1.5", node: "node-a" }], 8080, {
    "haconfd.io/backend-mode": "nodeport",
  });
}

/** Asks /readyz over and over until `stop()`, which resolves with every answer that was not 200 and the count. */
function watchReadyz(daemon: DaemonProcess): { stop(): Promise<{ bad: string[]; asked: number }> } {
  let stopping = false;
  const bad: string[] = [];
  let asked = 0;
  const polling = (async () => {
    while (!stopping) {
      const { status, body } = await daemon.get("/readyz");
      asked++;
      if (status !== 200) bad.push(`${status} ${body.trim()}`);
      // Pacing only (the test waits for events, not for this).
      await delay(20);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await polling;
      return { bad, asked };
    },
  };
}

Deno.test({
  name:
    "haconfd run keeps /readyz 200 while the Nodes watch a first nodeport service starts makes its first list, and routes the service once it arrives",
  ignore,
  async fn() {
    const nodes = ["node-a", "node-b"];
    await withPodsDefault(nodes, async (kube, daemon) => {
      const http = daemon.ports.http;
      const nodesList = kube.holdNext({ path: "/api/v1/nodes", watch: false });
      let reached = false;
      void nodesList.reached.then(() => reached = true);
      const readyz = watchReadyz(daemon);
      let polled = { bad: ["not stopped"], asked: 0 };
      try {
        kube.upsert("endpoints", annotatedNodePort());
        await waitFor(() => reached, { what: "haconfd's first Nodes list to reach the API server" });
        const waiting = "listing Nodes and Services' node ports";
        await waitFor(async () => {
          const source = (await daemon.status()).source as { synced: boolean; listing: string[] };
          return source.synced && source.listing.includes(waiting);
        }, { what: "/status to say the source is listing Nodes" });
        const ready = await daemon.get("/readyz");
        assert.equal(ready.status, 200);
        assert.match(ready.body, /changes wait while the source is listing Nodes/);
        assert.match((await daemon.get("/")).body, /listing Nodes and Services(&#39;|') node ports/);
        const answer = await httpGet(http, "np.test");
        assert.equal(answer.headers["x-backend"], undefined, "np.test is not routed before the Nodes list");
        await waitForBackends(http, "web.test", ["pod-1"], 2);
        nodesList.release();
        await waitForBackends(http, "np.test", nodes, 6);
        const after = (await daemon.status()).source as { listing: string[] };
        assert.deepEqual(after.listing, []);
      } finally {
        nodesList.release();
        polled = await readyz.stop();
      }
      assert.deepEqual(polled.bad, [], "/readyz answered 200 throughout");
      assert.ok(polled.asked > 0);
    });
  },
});

Deno.test({
  name:
    "haconfd run with default backend mode pods routes a service annotated nodeport to node ports beside a pods service, watching Nodes and Services only once asked",
  ignore,
  async fn() {
    const nodes = ["node-a", "node-b", "node-c"];
    await withPodsDefault(nodes, async (kube, daemon) => {
      const http = daemon.ports.http;
      // haconfd's requests (the test's own reads of the cluster are not haconfd's).
      const watched = () =>
        kube.requests.filter((r) =>
          r.headers["user-agent"] === "haconfd" && /^\/api\/v1\/(nodes|services)\b/.test(r.path)
        ).map((r) => r.path);
      // Ready means synced: every watch haconfd started has listed, and none was of Nodes or Services.
      assert.deepEqual(watched(), [], "no Nodes or Services watch while no object asks for nodeport");
      const started = await reloadsTotal(daemon);

      kube.upsert("endpoints", annotatedNodePort());
      await waitForBackends(http, "np.test", nodes, 9);
      await waitForBackends(http, "web.test", ["pod-1"], 2);
      assert.deepEqual([...new Set(watched())].sort(), ["/api/v1/nodes", "/api/v1/services"]);
      // A new domain reloads; HAProxy may answer before haconfd has confirmed and counted the reload.
      const before = await waitFor(async () => {
        const total = await reloadsTotal(daemon);
        return total > started ? total : undefined;
      }, { what: "the reload that added np.test to be counted" });

      kube.patch("nodes", "", "node-b", { status: { conditions: [readyCondition(false)] } }, {
        subresource: "status",
      });
      await waitForBackends(http, "np.test", ["node-a", "node-c"], 8);
      assert.equal(await reloadsTotal(daemon), before, "the node change went through the Runtime API");
      await waitFor(async () => {
        await assertFileMatchesLive(daemon, "np.test");
        return true;
      }, { what: "file and HAProxy to agree", timeoutMs: 10_000 });
      await waitForBackends(http, "web.test", ["pod-1"], 2);
      const detail = JSON.parse((await daemon.get("/status/domains/np.test")).body);
      assert.equal(detail.backendMode, "nodeport");
    });
  },
});
