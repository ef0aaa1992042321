/**
 * The source-neutral projection of one service's endpoints that every source produces and the model
 * reads: identity, the annotations haconfd reads, and its address groups. Kubernetes Endpoints,
 * EndpointSlices + Services and the file source's dumps all end up here.
 *
 * @module
 */
import { z } from "zod";
import { NodePortContext } from "./nodeport_input.ts";

/** An IPv4 or IPv6 address. */
export const IP = z.union([z.ipv4(), z.ipv6()], { error: "not an IP address" });
/** A TCP port number. */
export const PORT = z.number().int().min(1).max(65535);

/** One port of an endpoint group. */
export const PortView = z.object({ name: z.string(), port: PORT });
/** One port of an endpoint group. */
export type PortView = z.infer<typeof PortView>;

/** One address of an endpoint group, with its readiness and the pod it belongs to where known. */
export const AddressView = z.object({
  ip: IP,
  ready: z.boolean(),
  target: z.string().optional(),
  /** Terminating but still serving (EndpointSlice conditions): drains instead of leaving at once. */
  draining: z.boolean().optional(),
  /** The node the address runs on (Endpoints / EndpointSlice `nodeName`), where known. */
  node: z.string().optional(),
});
/** One address of an endpoint group. */
export type AddressView = z.infer<typeof AddressView>;

/** Addresses that share one set of ports: an Endpoints subset or one EndpointSlice. */
export const GroupView = z.object({ ports: z.array(PortView), addresses: z.array(AddressView) });
/** Addresses that share one set of ports. */
export type GroupView = z.infer<typeof GroupView>;

/**
 * The projection of one service's endpoints that the model needs: identity, the annotations haconfd
 * reads, and its address groups. Both resources (Endpoints, EndpointSlices + Service) end up here.
 */
export const EndpointSet = z.object({
  namespace: z.string(),
  name: z.string(),
  created: z.string(),
  annotations: z.record(z.string(), z.string()),
  groups: z.array(GroupView),
  /** The Service's node ports and the cluster's nodes, where the source watches them (lib/model/nodeport.ts). */
  nodePort: NodePortContext.optional(),
});
/** The projection of one service's endpoints. */
export type EndpointSet = z.infer<typeof EndpointSet>;
