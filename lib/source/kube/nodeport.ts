/**
 * The Kubernetes side of backend mode `nodeport`: Nodes and the Service fields the mode needs, validated
 * with zod and projected at the edge (lib/model/nodeport_input.ts), and the step that attaches them to
 * the endpoint sets the source hands on. Only watched once an object asks for nodeport (by default or by
 * annotation), so users of pod routing need no RBAC on Nodes.
 *
 * @module
 */
import { z } from "zod";
import type { EndpointSet } from "../../model/endpoints.ts";
import type { NodePolicy, NodeView, ServiceFacts, ServicePortFacts } from "../../model/nodeport_input.ts";
import type { Settings } from "../../settings/options.ts";
import { describeIssues } from "./objects.ts";
import type { ResourceKind } from "./watch.ts";
import { BACKEND_MODE_ANNOTATION } from "../../model/nodeport.ts";

/** Node names as the API enforces them (DNS-1123 subdomain): they become HAProxy server names. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const PORT = z.number().int().min(1).max(65535);

/** A v1 Node (the fields haconfd uses). Cluster-scoped: no namespace. */
export const KubeNode = z.object({
  kind: z.literal("Node").optional(),
  metadata: z.object({
    name: z.string().regex(NODE_NAME, { error: (i) => `${JSON.stringify(i.input)} is not a node name` }),
    labels: z.record(z.string(), z.string()).nullish(),
  }),
  spec: z.object({ unschedulable: z.boolean().nullish() }).nullish(),
  status: z.object({
    conditions: z.array(z.object({ type: z.string(), status: z.string() })).nullish(),
    addresses: z.array(z.object({ type: z.string(), address: z.string() })).nullish(),
  }).nullish(),
});
/** A v1 Node. */
export type KubeNode = z.infer<typeof KubeNode>;

/** The spec fields of a v1 Service that nodeport mode reads. */
export const ServiceSpec = z.object({
  type: z.string().nullish(),
  ports: z.array(z.object({
    name: z.string().nullish(),
    protocol: z.string().nullish(),
    port: PORT,
    // A name (a container port name) or a number; only a number is matched against haconfd.io/port.
    targetPort: z.union([PORT, z.string()]).nullish(),
    nodePort: PORT.nullish(),
  })).nullish(),
  externalTrafficPolicy: z.enum(["Cluster", "Local"]).nullish(),
  healthCheckNodePort: PORT.nullish(),
});
/** The spec fields of a v1 Service that nodeport mode reads. */
export type ServiceSpec = z.infer<typeof ServiceSpec>;

/** Node address types that can be a server's address (Hostname / InternalDNS ones are left out). */
export const NODE_ADDRESS_TYPES: readonly string[] = ["InternalIP", "ExternalIP"];

const IP = z.union([z.ipv4(), z.ipv6()]);

/** Projects a validated Node: Ready, its first address of each IP type (must be an IP), labels, cordon. */
export function projectNode(node: KubeNode): NodeView | string {
  const addresses: Record<string, string> = {};
  for (const { type, address } of node.status?.addresses ?? []) {
    if (!NODE_ADDRESS_TYPES.includes(type)) continue;
    if (!IP.safeParse(address).success) {
      return `status.addresses: ${type} ${JSON.stringify(address)} is not an IP address`;
    }
    addresses[type] ??= address;
  }
  const ready = node.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
  return {
    name: node.metadata.name,
    ready,
    addresses,
    labels: node.metadata.labels ?? {},
    unschedulable: node.spec?.unschedulable === true,
  };
}

/** Projects a validated Service spec: its TCP ports sorted by name, type, traffic policy, health check port. */
export function projectServiceSpec(spec: ServiceSpec): ServiceFacts {
  const ports: ServicePortFacts[] = [];
  for (const p of spec.ports ?? []) {
    if (p.protocol !== undefined && p.protocol !== null && p.protocol !== "TCP") continue;
    const port: ServicePortFacts = { name: p.name ?? "", port: p.port };
    if (typeof p.targetPort === "number") port.targetPort = p.targetPort;
    if (typeof p.nodePort === "number") port.nodePort = p.nodePort;
    ports.push(port);
  }
  ports.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
  const facts: ServiceFacts = { type: spec.type ?? "ClusterIP", ports };
  if (spec.externalTrafficPolicy) facts.externalTrafficPolicy = spec.externalTrafficPolicy;
  if (spec.healthCheckNodePort) facts.healthCheckNodePort = spec.healthCheckNodePort;
  return facts;
}

/** v1 Nodes, projected (cluster-scoped: keys are `/name`). */
export const NODES_KIND: ResourceKind<NodeView> = {
  resource: "nodes",
  kind: "Node",
  group: "",
  version: "v1",
  project(object) {
    const parsed = KubeNode.safeParse(object);
    if (!parsed.success) return `invalid Node: ${describeIssues(parsed.error)}`;
    return projectNode(parsed.data);
  },
};

const ServiceWithSpec = z.object({ spec: ServiceSpec.nullish() });

/**
 * v1 Services reduced to their node-port facts, whatever their annotations: with `--resource endpoints`
 * the annotations are on the Endpoints, and the Service of the same name says where its node ports are.
 */
export const SERVICE_FACTS_KIND: ResourceKind<ServiceFacts> = {
  resource: "services",
  kind: "Service",
  group: "",
  version: "v1",
  project(object) {
    const parsed = ServiceWithSpec.safeParse(object);
    if (!parsed.success) return `invalid Service: ${describeIssues(parsed.error)}`;
    return projectServiceSpec(parsed.data.spec ?? {});
  },
};

/** The node policy of the settings (the default backend mode, node address type, cordon, selector). */
export function nodePolicyOf(
  settings: Partial<
    Pick<Settings, "backendMode" | "nodeAddressType" | "nodeSelector" | "nodeIncludeUnschedulable">
  >,
): NodePolicy {
  const policy: NodePolicy = {
    defaultMode: settings.backendMode ?? "pods",
    addressType: settings.nodeAddressType ?? "InternalIP",
    includeUnschedulable: settings.nodeIncludeUnschedulable ?? true,
  };
  if (settings.nodeSelector !== undefined) policy.selector = settings.nodeSelector;
  return policy;
}

/**
 * Whether an object's servers are nodes: its `haconfd.io/backend-mode` says nodeport, or it says nothing
 * and the default is nodeport (an invalid value is not: the model refuses it).
 */
export function wantsNodePort(annotations: Record<string, string>, policy: NodePolicy): boolean {
  const mode = annotations[BACKEND_MODE_ANNOTATION];
  return mode === "nodeport" || (mode === undefined && policy.defaultMode === "nodeport");
}

/** `set` with its Service's facts (null: none seen), the nodes and the policy attached. */
export function withNodePort(
  set: EndpointSet,
  service: ServiceFacts | null,
  nodes: NodeView[],
  policy: NodePolicy,
): EndpointSet {
  return { ...set, nodePort: { service, nodes, policy } };
}
