import assert from "node:assert/strict";
import { type JsonObject, startKubeServer } from "../../../lib/demo/kube_server.ts";
import {
  KubeNode,
  NODES_KIND,
  projectNode,
  projectServiceSpec,
  ServiceSpec,
} from "../../../lib/source/kube/nodeport.ts";
import { createKubeSource, type KubeSourceSettings } from "../../../lib/source/kube/source.ts";
import { waitFor } from "../../support/haproxy.ts";
import { RECORDED_NODEPORT } from "../../support/kube_recorded_nodeport.ts";
import {
  endpointsObject,
  nodeObject,
  readyCondition,
  serviceObject,
  sliceObject,
} from "../../support/nodeport.ts";

function items(file: string): JsonObject[] {
  return (JSON.parse(RECORDED_NODEPORT[file]!.body) as { items: JsonObject[] }).items;
}

Deno.test("projectNode() keeps name, Ready, IP addresses by type, labels and cordon of recording 24's Nodes", () => {
  const views = items("24").map((n) => projectNode(KubeNode.parse(n)));
  assert.deepEqual(
    views.map((v) => typeof v === "string" ? v : [v.name, v.ready, v.addresses, v.unschedulable]),
    [
      ["node-a", true, { InternalIP: "198.51.100.51" }, false],
      ["node-b", true, { InternalIP: "198.51.100.52" }, true],
      ["node-c", false, { InternalIP: "198.51.100.53" }, false],
    ],
  );
  assert.equal(
    (views[0] as { labels: Record<string, string> }).labels["topology.kubernetes.io/zone"],
    "zone-a",
  );
});

Deno.test("NODES_KIND.project() refuses a Node whose IP address is not an IP, and a bad name", () => {
  const bad = nodeObject("node-x", "127.0.0.2 check", true);
  assert.match(String(NODES_KIND.project(bad)), /InternalIP "127\.0\.0\.2 check" is not an IP address/);
  assert.match(String(NODES_KIND.project(nodeObject("Node X", "127.0.0.2", true))), /is not a node name/);
});

Deno.test("projectServiceSpec() keeps type, ports with nodePort, traffic policy and healthCheckNodePort (recording 26)", () => {
  const facts = items("26").map((s) => projectServiceSpec(ServiceSpec.parse((s as { spec: unknown }).spec)));
  assert.deepEqual(facts.map((f) => [f.type, f.externalTrafficPolicy ?? null, f.ports[0]!.targetPort]), [
    ["ClusterIP", null, 8080],
    ["LoadBalancer", "Local", 8443],
    ["NodePort", "Cluster", 8080],
  ]);
  assert.equal(facts[1]!.healthCheckNodePort, 30483);
  assert.equal(facts[1]!.ports[0]!.nodePort, 30225);
  assert.equal(facts[2]!.ports[0]!.nodePort, 30080);
  assert.equal(facts[0]!.ports[0]!.nodePort, undefined);
});

function settings(url: string, extra: Partial<KubeSourceSettings> = {}): KubeSourceSettings {
  return { apiServers: [url], resource: "endpointslices", namespace: [], interval: 300_000, ...extra };
}

Deno.test("createKubeSource() watches Nodes and Services' node ports from the start with default nodeport, not with default pods and no object asking, and journals node changes", async () => {
  await using kube = await startKubeServer({
    objects: {
      nodes: [
        nodeObject("node-a", "127.0.0.2", true, { pool: "edge" }),
        nodeObject("node-z", "127.0.0.9", true),
      ],
      services: [serviceObject("web", "web.test", { type: "NodePort", nodePort: 30080 })],
      endpointslices: [sliceObject("web", [{ ip: "10.244.0.5", node: "node-a" }], 8080)],
    },
  });
  for (const mode of ["pods", "nodeport"] as const) {
    kube.clearRequests();
    const source = await createKubeSource(
      settings(kube.url, { backendMode: mode, nodeSelector: "pool=edge" }),
    );
    const controller = new AbortController();
    const running = source.run(controller.signal);
    try {
      await waitFor(() => source.status().synced || undefined, { what: "the first sync", timeoutMs: 10_000 });
      const [set] = source.snapshot();
      const nodeRequests = kube.requests.filter((r) => r.path === "/api/v1/nodes");
      if (mode === "pods") {
        assert.equal(nodeRequests.length, 0, "no object asks for nodeport: no RBAC on Nodes needed");
        assert.equal(set!.nodePort, undefined);
        continue;
      }
      assert.ok(
        nodeRequests.length > 0 && nodeRequests.every((r) => r.query.get("labelSelector") === "pool=edge"),
      );
      assert.deepEqual(set!.nodePort!.nodes.map((n) => [n.name, n.ready]), [["node-a", true]]);
      assert.equal(set!.nodePort!.service!.ports[0]!.nodePort, 30080);
      assert.equal(set!.groups[0]!.addresses[0]!.node, "node-a");
      source.takeChanges();
      kube.patch("nodes", "", "node-a", { status: { conditions: [readyCondition(false)] } }, {
        subresource: "status",
      });
      const changed = await waitFor(() => source.takeChanges()?.get("e2e/web") ?? undefined, {
        what: "the node change in the journal",
        timeoutMs: 10_000,
      });
      assert.deepEqual(changed.nodePort!.nodes.map((n) => [n.name, n.ready]), [["node-a", false]]);
    } finally {
      controller.abort();
      await running;
    }
  }
});

Deno.test("createKubeSource() with --resource endpoints joins the Service of the same name and the Endpoints' nodeName", async () => {
  await using kube = await startKubeServer({
    objects: {
      nodes: [nodeObject("node-a", "127.0.0.2", true)],
      services: [{
        ...serviceObject("web", "web.test", { type: "LoadBalancer", externalTrafficPolicy: "Local" }),
        metadata: { name: "web", namespace: "e2e" },
      }],
      endpoints: [{
        metadata: { name: "web", namespace: "e2e", annotations: { domain: "web.test", proto: "http" } },
        subsets: [{
          addresses: [{ ip: "10.244.0.5", nodeName: "node-a" }],
          notReadyAddresses: [{ ip: "10.244.1.5", nodeName: "node-b" }],
          ports: [{ name: "http", port: 8080 }],
        }],
      }],
    },
  });
  const source = await createKubeSource(
    settings(kube.url, { resource: "endpoints", backendMode: "nodeport" }),
  );
  const controller = new AbortController();
  const running = source.run(controller.signal);
  try {
    await waitFor(() => source.status().synced || undefined, { what: "the first sync", timeoutMs: 10_000 });
    const [set] = source.snapshot();
    assert.deepEqual(set!.groups[0]!.addresses.map((a) => [a.ip, a.ready, a.node]), [
      ["10.244.0.5", true, "node-a"],
      ["10.244.1.5", false, "node-b"],
    ]);
    const service = set!.nodePort!.service!;
    assert.equal(service.externalTrafficPolicy, "Local");
    assert.ok(service.healthCheckNodePort !== undefined && service.ports[0]!.nodePort !== undefined);
  } finally {
    controller.abort();
    await running;
  }
});

const POD = [{ ip: "127.0.1.5", node: "node-a" }];

Deno.test("createKubeSource() with default pods starts the Nodes and Services watches when the first object asks for nodeport", async () => {
  await using kube = await startKubeServer({
    objects: {
      nodes: [nodeObject("node-a", "127.0.0.2", true)],
      services: [{
        ...serviceObject("np", "np.test", { type: "NodePort", nodePort: 30080 }),
        metadata: { name: "np", namespace: "e2e" },
      }],
      endpoints: [endpointsObject("web", "web.test", POD, 8080)],
    },
  });
  const source = await createKubeSource(settings(kube.url, { resource: "endpoints", backendMode: "pods" }));
  const controller = new AbortController();
  const running = source.run(controller.signal);
  const watched = () => kube.requests.filter((r) => /^\/api\/v1\/(nodes|services)\b/.test(r.path));
  try {
    await waitFor(() => source.status().synced || undefined, { what: "the first sync", timeoutMs: 10_000 });
    // Synced means every watcher started has listed: none of them asked for Nodes or Services.
    assert.deepEqual(watched().map((r) => r.path), [], "no Nodes or Services watch while no object asks");
    assert.equal(source.snapshot()[0]!.nodePort, undefined);
    source.takeChanges();
    kube.upsert(
      "endpoints",
      endpointsObject("np", "np.test", POD, 8080, { "haconfd.io/backend-mode": "nodeport" }),
    );
    const np = await waitFor(() => {
      const changed = source.status().synced ? source.takeChanges()?.get("e2e/np") : undefined;
      return changed?.nodePort?.service ? changed : undefined;
    }, { what: "np with its Service and nodes", timeoutMs: 10_000 });
    assert.deepEqual(np.nodePort!.nodes.map((n) => n.name), ["node-a"]);
    assert.equal(np.nodePort!.service!.ports[0]!.nodePort, 30080);
    assert.equal(np.nodePort!.policy.defaultMode, "pods");
    assert.deepEqual([...new Set(watched().map((r) => r.path))].sort(), [
      "/api/v1/nodes",
      "/api/v1/services",
    ]);
    const web = source.snapshot().find((set) => set.name === "web")!;
    assert.equal(web.nodePort, undefined, "a pods-mode set carries no node context");
  } finally {
    controller.abort();
    await running;
  }
});
