/**
 * Backend mode `nodeport`: a domain's servers are the cluster's nodes at the Service's node port instead
 * of the pods. Which nodes: Ready ones with an address of the chosen type (and not cordoned, when so
 * configured); under `externalTrafficPolicy: Local` only those running a ready endpoint of the Service,
 * health-checked on kube-proxy's `healthCheckNodePort` where the Service has one. A pure function of the
 * endpoint set and what the source attached to it (lib/model/nodeport_input.ts).
 *
 * @module
 */
import { z } from "zod";
import type { EndpointSet } from "./endpoints.ts";
import type { Server } from "./model.ts";
import { BackendMode, type NodeView, type ServiceFacts, type ServicePortFacts } from "./nodeport_input.ts";

/** The annotation choosing a service's backend mode. */
export const BACKEND_MODE_ANNOTATION = "haconfd.io/backend-mode";

/** The path kube-proxy answers on a Service's healthCheckNodePort (200 only with local endpoints). */
export const HEALTH_CHECK_PATH = "/healthz";

/** One node as a nodeport domain sees it: used or not, and why. */
export const NodeChoice = z.object({
  node: z.string(),
  /** Its address of the configured type; null when it has none. */
  address: z.string().nullable(),
  used: z.boolean(),
  reason: z.string(),
});
/** One node as a nodeport domain sees it. */
export type NodeChoice = z.infer<typeof NodeChoice>;

/** What a nodeport domain adds to its template data and status. */
export const NodePortData = z.object({
  /** The Service's node port for the chosen port. */
  nodePort: z.number(),
  externalTrafficPolicy: z.enum(["Cluster", "Local"]),
  /** Where servers are checked with `GET /healthz` (`check port N`); null: a check of the node port. */
  healthCheckPort: z.number().nullable(),
  /** Every node known, by name, with why it does or does not receive traffic. */
  nodes: z.array(NodeChoice),
});
/** What a nodeport domain adds to its template data and status. */
export type NodePortData = z.infer<typeof NodePortData>;

/** A domain's nodeport servers and data. */
export interface NodePortBackend {
  /** The chosen Service port. */
  port: number;
  /** One server per used node, named after it, sorted by node name. */
  servers: Server[];
  data: NodePortData;
}

/**
 * The backend mode of a set: its annotation, validated exactly as written, else the source's default
 * (pods when the source attaches no node context), or the skip reason.
 */
export function backendModeOf(set: EndpointSet): BackendMode | { reason: string } {
  const raw = set.annotations[BACKEND_MODE_ANNOTATION];
  if (raw === undefined) return set.nodePort?.policy.defaultMode ?? "pods";
  const parsed = BackendMode.safeParse(raw);
  if (parsed.success) return parsed.data;
  return {
    reason: `annotation "${BACKEND_MODE_ANNOTATION}": ${JSON.stringify(raw)} is not pods or nodeport`,
  };
}

/** The Service port a domain uses: by name or number (port or targetPort) as `haconfd.io/port` says, else the first. */
function pickServicePort(service: ServiceFacts, wanted: string | undefined): ServicePortFacts | undefined {
  if (wanted === undefined) return service.ports[0];
  const byName = service.ports.find((p) => p.name === wanted);
  if (byName !== undefined || !/^\d+$/.test(wanted)) return byName;
  const number = Number(wanted);
  return service.ports.find((p) => p.port === number) ?? service.ports.find((p) => p.targetPort === number);
}

/** Names of the nodes running a ready endpoint of the set (EndpointSlice / Endpoints `nodeName`). */
function localNodes(set: EndpointSet): Set<string> {
  const nodes = new Set<string>();
  for (const group of set.groups) {
    for (const address of group.addresses) if (address.ready && address.node) nodes.add(address.node);
  }
  return nodes;
}

/** Why a node receives no traffic for this service, or undefined when it does. */
function excluded(
  node: NodeView,
  address: string | undefined,
  local: Set<string> | null,
  options: {
    addressType: string;
    includeUnschedulable: boolean;
    refused: (ip: string) => string | undefined;
  },
): string | undefined {
  if (!node.ready) return "not Ready";
  if (address === undefined) return `no ${options.addressType} address`;
  const refusal = options.refused(address);
  if (refusal !== undefined) return `address "${address}" is ${refusal}`;
  if (node.unschedulable && !options.includeUnschedulable) {
    return "cordoned (--node-include-unschedulable is false)";
  }
  if (local !== null && !local.has(node.name)) {
    return "no ready endpoint of the service on this node (externalTrafficPolicy Local)";
  }
  return undefined;
}

/**
 * The nodeport backend of a set, or why it cannot have one. `wanted` is the validated `haconfd.io/port`;
 * `refused` says why an address can never be a server (lib/model/model.ts's `refusedAddress`).
 */
export function nodePortBackend(
  set: EndpointSet,
  wanted: string | undefined,
  refused: (ip: string) => string | undefined,
): NodePortBackend | string {
  const context = set.nodePort;
  if (context === undefined) {
    return `backend mode nodeport: Nodes and Services are not watched (a --from file has neither)`;
  }
  const service = context.service;
  if (service === null) return `backend mode nodeport: no Service ${set.namespace}/${set.name}`;
  if (service.type !== "NodePort" && service.type !== "LoadBalancer") {
    return `backend mode nodeport: Service type "${service.type}" has no node ports (needs NodePort or LoadBalancer)`;
  }
  const port = pickServicePort(service, wanted);
  if (port === undefined) return `annotation "haconfd.io/port": the Service has no port "${wanted}"`;
  if (port.nodePort === undefined) return `backend mode nodeport: Service port ${port.port} has no nodePort`;
  const policy = service.externalTrafficPolicy ?? "Cluster";
  const local = policy === "Local" ? localNodes(set) : null;
  const { addressType, includeUnschedulable } = context.policy;
  const nodes: NodeChoice[] = [];
  const servers: Server[] = [];
  for (const node of [...context.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const address = node.addresses[addressType];
    const why = excluded(node, address, local, { addressType, includeUnschedulable, refused });
    nodes.push({
      node: node.name,
      address: address ?? null,
      used: why === undefined,
      reason: why ?? usedReason(local),
    });
    if (why === undefined) {
      servers.push({ ip: address!, port: port.nodePort, name: node.name, ready: true, node: node.name });
    }
  }
  const healthCheckPort = policy === "Local" ? service.healthCheckNodePort ?? null : null;
  return {
    port: port.nodePort,
    servers,
    data: { nodePort: port.nodePort, externalTrafficPolicy: policy, healthCheckPort, nodes },
  };
}

function usedReason(local: Set<string> | null): string {
  return local === null
    ? "Ready (externalTrafficPolicy Cluster: every Ready node)"
    : "Ready, runs a ready endpoint";
}
