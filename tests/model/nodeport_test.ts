import assert from "node:assert/strict";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { buildModel, refusedAddress } from "../../lib/model/model.ts";
import { backendModeOf, type NodePortBackend, nodePortBackend } from "../../lib/model/nodeport.ts";
import type { NodePolicy, NodeView, ServiceFacts } from "../../lib/model/nodeport_input.ts";
import { generate } from "../../lib/render/generate.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import { endpointSet } from "../support/fixtures.ts";

const POLICY: NodePolicy = { defaultMode: "nodeport", addressType: "InternalIP", includeUnschedulable: true };

function node(name: string, ip: string, extra: Partial<NodeView> = {}): NodeView {
  return { name, ready: true, addresses: { InternalIP: ip }, labels: {}, unschedulable: false, ...extra };
}

const NODES = [
  node("node-c", "192.0.2.3"),
  node("node-a", "192.0.2.1"),
  node("node-b", "192.0.2.2", { ready: false }),
  node("node-d", "192.0.2.4", { unschedulable: true }),
  node("node-e", "192.0.2.5", { addresses: { ExternalIP: "198.51.100.5" } }),
];

const CLUSTER: ServiceFacts = {
  type: "NodePort",
  ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30080 }, {
    name: "metrics",
    port: 9090,
    nodePort: 30090,
  }],
  externalTrafficPolicy: "Cluster",
};

/** A set of `web` (pods on node-a and node-c, one not ready on node-d) with a node-port context. */
function set(
  service: ServiceFacts | null,
  annotations: Record<string, string> = {},
  policy: NodePolicy = POLICY,
): EndpointSet {
  const base = endpointSet("web", { domain: "web.test", proto: "http", ...annotations });
  base.groups[0]!.addresses = [
    { ip: "10.244.0.5", ready: true, node: "node-a" },
    { ip: "10.244.2.5", ready: true, node: "node-c" },
    { ip: "10.244.3.5", ready: false, node: "node-d" },
  ];
  return { ...base, nodePort: { service, nodes: NODES, policy } };
}

function backend(s: EndpointSet, wanted?: string): NodePortBackend {
  const result = nodePortBackend(s, wanted, refusedAddress);
  assert.ok(typeof result !== "string", String(result));
  return result;
}

Deno.test("backendModeOf() takes the annotation exactly as written, else the source's default, else pods", () => {
  assert.equal(backendModeOf(endpointSet("a", {})), "pods");
  assert.equal(backendModeOf(set(CLUSTER)), "nodeport");
  assert.equal(backendModeOf(set(CLUSTER, { "haconfd.io/backend-mode": "pods" })), "pods");
  for (const bad of ["NodePort", " nodeport", "nodeport\n", "pods;", ""]) {
    const result = backendModeOf(set(CLUSTER, { "haconfd.io/backend-mode": bad }));
    assert.deepEqual(result, {
      reason: `annotation "haconfd.io/backend-mode": ${JSON.stringify(bad)} is not pods or nodeport`,
    });
  }
});

Deno.test("nodePortBackend() with externalTrafficPolicy Cluster uses every Ready node with an address, cordoned ones too", () => {
  const b = backend(set(CLUSTER));
  assert.equal(b.port, 30080);
  assert.deepEqual(b.servers.map((s) => `${s.name} ${s.ip}:${s.port}`), [
    "node-a 192.0.2.1:30080",
    "node-c 192.0.2.3:30080",
    "node-d 192.0.2.4:30080",
  ]);
  assert.equal(b.data.healthCheckPort, null);
  const why = Object.fromEntries(b.data.nodes.map((n) => [n.node, n.reason]));
  assert.equal(why["node-b"], "not Ready");
  assert.equal(why["node-e"], "no InternalIP address");
  const strict = backend(set(CLUSTER, {}, { ...POLICY, includeUnschedulable: false }));
  assert.deepEqual(strict.servers.map((s) => s.name), ["node-a", "node-c"]);
  const external = backend(set(CLUSTER, {}, { ...POLICY, addressType: "ExternalIP" }));
  assert.deepEqual(external.servers.map((s) => `${s.name} ${s.ip}`), ["node-e 198.51.100.5"]);
});

Deno.test("nodePortBackend() with externalTrafficPolicy Local uses only nodes with a ready endpoint, checked on healthCheckNodePort", () => {
  const local: ServiceFacts = {
    ...CLUSTER,
    type: "LoadBalancer",
    externalTrafficPolicy: "Local",
    healthCheckNodePort: 31305,
  };
  const b = backend(set(local));
  assert.deepEqual(b.servers.map((s) => s.name), ["node-a", "node-c"]);
  assert.equal(b.data.healthCheckPort, 31305);
  const why = Object.fromEntries(b.data.nodes.map((n) => [n.node, n.reason]));
  assert.match(why["node-d"]!, /no ready endpoint of the service on this node/);
  // NodePort + Local has no healthCheckNodePort: the node port itself is checked.
  assert.equal(
    backend(set({ ...local, type: "NodePort", healthCheckNodePort: undefined } as ServiceFacts)).data
      .healthCheckPort,
    null,
  );
});

Deno.test("nodePortBackend() picks the Service port by haconfd.io/port and explains what it cannot use", () => {
  assert.equal(backend(set(CLUSTER), "metrics").port, 30090);
  assert.equal(backend(set(CLUSTER), "8080").port, 30080);
  assert.match(String(nodePortBackend(set(CLUSTER), "admin", refusedAddress)), /has no port "admin"/);
  assert.match(
    String(
      nodePortBackend(
        set({ type: "ClusterIP", ports: [{ name: "http", port: 80 }] }),
        undefined,
        refusedAddress,
      ),
    ),
    /Service type "ClusterIP" has no node ports \(needs NodePort or LoadBalancer\)/,
  );
  assert.match(String(nodePortBackend(set(null), undefined, refusedAddress)), /no Service default\/web/);
  const bare = endpointSet("web", {
    domain: "web.test",
    proto: "http",
    "haconfd.io/backend-mode": "nodeport",
  });
  assert.match(
    String(nodePortBackend(bare, undefined, refusedAddress)),
    /Nodes and Services are not watched/,
  );
  const unspecified = {
    ...set(CLUSTER),
    nodePort: { service: CLUSTER, nodes: [node("zero", "0.0.0.0")], policy: POLICY },
  };
  assert.match(backend(unspecified).data.nodes[0]!.reason, /unspecified/);
});

Deno.test("buildModel() gives nodeport domains node servers and says each domain's backend mode", () => {
  const pods = endpointSet("api", { domain: "api.test", proto: "http", "haconfd.io/backend-mode": "pods" });
  const model = buildModel([set(CLUSTER), { ...pods, nodePort: set(CLUSTER).nodePort! }]);
  const web = model.domains["web.test"]!;
  assert.equal(web.backendMode, "nodeport");
  assert.equal(web.port, 30080);
  assert.deepEqual(web.servers.map((s) => s.node), ["node-a", "node-c", "node-d"]);
  assert.deepEqual(web.ips, ["192.0.2.1", "192.0.2.3", "192.0.2.4"]);
  assert.equal(model.domains["api.test"]!.backendMode, "pods");
  assert.equal(model.domains["api.test"]!.nodePort, undefined);
  const skipped = buildModel([set({ type: "ClusterIP", ports: [{ name: "http", port: 80 }] })]).skipped;
  assert.equal(skipped.length, 1);
  assert.match(skipped[0]!.reason, /ClusterIP/);
});

Deno.test("generate() renders a Local nodeport backend with the /healthz check on healthCheckNodePort", () => {
  const local: ServiceFacts = {
    ...CLUSTER,
    type: "LoadBalancer",
    externalTrafficPolicy: "Local",
    healthCheckNodePort: 31305,
  };
  const { text } = generate([set(local)], compileTemplates(defaultTemplates()), {
    http: "*:80",
    https: "*:443",
    tcp: "*",
  });
  assert.match(
    text,
    /\n {4}option httpchk GET \/healthz\n {4}server node-a 192\.0\.2\.1:30080 check port 31305\n {4}server node-c 192\.0\.2\.3:30080 check port 31305\n/,
  );
  const cluster = generate([set(CLUSTER)], compileTemplates(defaultTemplates()), {
    http: "*:80",
    https: "*:443",
    tcp: "*",
  });
  assert.doesNotMatch(cluster.text, /httpchk/);
  assert.match(cluster.text, /server node-a 192\.0\.2\.1:30080 check\n/);
});
