/**
 * The source-neutral projection of one service's endpoints that every source produces and the model
 * reads: identity, the annotations haconfd reads, and its address groups. Kubernetes Endpoints,
 * EndpointSlices + Services and the file source's dumps all end up here.
 *
 * @module
 */
import { z } from "zod";
import { NodePortContext } from "./nodeport_input.ts";

/** The characters of an IPv6 address (with an embedded IPv4 one): zod's guard before its URL check. */
const IPV6_ALPHABET = /^[0-9a-fA-F:.]+$/;

/**
 * Whether `value` is an IP address, exactly as `z.ipv4()` (its pattern) or `z.ipv6()` (its alphabet and
 * the URL parser's reading of `http://[value]`) accepts it, without their parse: this runs for every
 * address and up to three times per object's domain, and each failed parse built a ZodError (a host name
 * failed both, an IPv6 address z.ipv4() first); at 16,700 objects ~25 MB of them outlived the young
 * generation during the first list and stayed until a full GC.
 */
export function isIp(value: string): boolean {
  return z.regexes.ipv4.test(value) || (IPV6_ALPHABET.test(value) && URL.canParse(`http://[${value}]`));
}

/** An IPv4 or IPv6 address (as z.ipv4() or z.ipv6() accepts it: {@linkcode isIp}). */
export const IP = z.string({ error: "not an IP address" }).refine(isIp, { error: "not an IP address" });
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

/**
 * An array built by `push()`, as it is kept: V8 gives such an array room for 17 elements at its first push,
 * and a copy has exactly its length (~110 bytes less for each of tens of thousands of one- to three-element
 * lists kept per object).
 */
export function fitted<T>(list: T[]): T[] {
  return list.slice();
}
