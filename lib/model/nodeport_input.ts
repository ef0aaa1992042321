/**
 * What a source hands the model for backend mode `nodeport`: a Service's type, ports, node ports and
 * traffic policy, the cluster's nodes, and the node policy from the settings. Source-neutral: the
 * Kubernetes source projects Services and Nodes onto these shapes (lib/source/kube/nodeport.ts), and
 * nothing downstream sees a Kubernetes object.
 *
 * @module
 */
import { z } from "zod";

/** Where a domain's servers come from: the pods' addresses, or the nodes at the Service's node port. */
export const BACKEND_MODES = ["pods", "nodeport"] as const;
/** A backend mode. */
export const BackendMode = z.enum(BACKEND_MODES);
/** A backend mode. */
export type BackendMode = z.infer<typeof BackendMode>;

const PORT = z.number().int().min(1).max(65535);

/** One TCP port of a Service: its name, port, numeric targetPort where given, and node port where allocated. */
export const ServicePortFacts = z.object({
  name: z.string(),
  port: PORT,
  targetPort: PORT.optional(),
  nodePort: PORT.optional(),
});
/** One TCP port of a Service. */
export type ServicePortFacts = z.infer<typeof ServicePortFacts>;

/** The fields of a Service that nodeport mode needs. */
export const ServiceFacts = z.object({
  type: z.string(),
  ports: z.array(ServicePortFacts),
  /** Absent on ClusterIP Services (the API server drops it there). */
  externalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
  /** Allocated for type LoadBalancer with externalTrafficPolicy Local: kube-proxy's `/healthz` port. */
  healthCheckNodePort: PORT.optional(),
});
/** The fields of a Service that nodeport mode needs. */
export type ServiceFacts = z.infer<typeof ServiceFacts>;

/** One node: name, readiness, one address per address type (the first of each), labels, cordon. */
export const NodeView = z.object({
  name: z.string(),
  ready: z.boolean(),
  addresses: z.record(z.string(), z.string()),
  labels: z.record(z.string(), z.string()),
  unschedulable: z.boolean(),
});
/** One node. */
export type NodeView = z.infer<typeof NodeView>;

/** The node settings: default mode, which address to use, cordoned nodes, and the selector (for status). */
export const NodePolicy = z.object({
  defaultMode: BackendMode,
  addressType: z.string(),
  includeUnschedulable: z.boolean(),
  /** The label selector the Nodes watch uses (nodes outside it are never seen). */
  selector: z.string().optional(),
});
/** The node settings. */
export type NodePolicy = z.infer<typeof NodePolicy>;

/**
 * What an endpoint set carries for nodeport mode. `nodes` and `policy` are shared by every set of one
 * source state (the same array), so a node change costs one array, not one per set.
 */
export const NodePortContext = z.object({
  /** The Service of the same namespace/name; null when the source has not seen one. */
  service: ServiceFacts.nullable(),
  nodes: z.array(NodeView),
  policy: NodePolicy,
});
/** What an endpoint set carries for nodeport mode. */
export type NodePortContext = z.infer<typeof NodePortContext>;
