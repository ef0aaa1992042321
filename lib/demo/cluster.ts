/**
 * The demo cluster as data: the example dump (examples/endpoints.json) read into services whose pods live
 * on 127.0.0.x, the Endpoints objects the API stand-in serves for them, and the pure edits the demo's
 * script makes (add or remove a pod, flip its readiness).
 *
 * A real API server refuses loopback addresses in Endpoints (`may not be in the loopback range`); the
 * stand-in serves them, which is what lets the pods run on this machine.
 *
 * @module
 */
import { z } from "zod";
import type { JsonObject } from "./kube_objects.ts";

/** The annotation naming a TCP service's listen port. */
export const LISTEN_PORT_ANNOTATION = "haconfd.io/listen-port";

const Address = z.object({
  ip: z.string(),
  nodeName: z.string().optional(),
  targetRef: z.object({ name: z.string() }).optional(),
});
const Port = z.object({ name: z.string().optional(), port: z.number(), protocol: z.string().optional() });
const ExampleEndpoints = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    creationTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  subsets: z.array(z.object({
    addresses: z.array(Address).optional(),
    notReadyAddresses: z.array(Address).optional(),
    ports: z.array(Port),
  })).optional(),
});
/** The `kubectl get endpoints -A -o json` dump the demo starts from. */
export const ExampleDump = z.object({ items: z.array(ExampleEndpoints) });
/** A parsed example dump. */
export type ExampleDump = z.infer<typeof ExampleDump>;

/** What a service's pods speak: HTTP, TLS (passthrough) or a line protocol over TCP. */
export type PodKind = "http" | "tls" | "tcp";

/** One pod of a demo service. */
export interface DemoPod {
  /** Pod name (targetRef), also what its backend answers with. */
  name: string;
  /** Its loopback address. */
  ip: string;
  /** Listed under `addresses` (true) or `notReadyAddresses` (false). */
  ready: boolean;
  /** Node name, as in the dump. */
  node?: string;
}

/** One Endpoints object of the demo cluster. */
export interface DemoService {
  /** Namespace. */
  namespace: string;
  /** Name. */
  name: string;
  /** Annotations (routing). */
  annotations: Record<string, string>;
  /** Labels. */
  labels: Record<string, string>;
  /** creationTimestamp (decides domain conflicts: the older object wins). */
  created?: string;
  /** Ports; `routedPort` names the one pods serve on. */
  ports: { name?: string; port: number; protocol: string }[];
  /** Index in `ports` of the port the pods listen on. */
  routedPort: number;
  /** What the pods speak, or null when nothing routes to them (no domain/proto annotation). */
  kind: PodKind | null;
  /** Pods. */
  pods: DemoPod[];
}

/** `namespace/name` of a service. */
export function serviceKey(service: Pick<DemoService, "namespace" | "name">): string {
  return `${service.namespace}/${service.name}`;
}

function annotation(annotations: Record<string, string>, key: string): string | undefined {
  return annotations[`haconfd.io/${key}`] ?? annotations[key];
}

/** What a service's pods must speak for its annotations (null: not routed). */
export function podKind(annotations: Record<string, string>): PodKind | null {
  const proto = annotation(annotations, "proto");
  if (proto === undefined || annotation(annotations, "domain") === undefined) return null;
  return proto === "http" ? "http" : proto === "https" ? "tls" : "tcp";
}

/**
 * Hands out loopback addresses 127.0.0.2 … 127.0.0.254, one per distinct original address (127.0.0.1 is
 * left to HAProxy's frontends, the status page and the API stand-in); no argument: a fresh one.
 */
export function createAddressPool(): (original?: string) => string {
  const assigned = new Map<string, string>();
  let next = 2;
  return (original) => {
    const known = original === undefined ? undefined : assigned.get(original);
    if (known !== undefined) return known;
    if (next > 254) throw new RangeError("Cannot hand out another pod address: 127.0.0.2-254 are used up");
    const ip = `127.0.0.${next++}`;
    if (original !== undefined) assigned.set(original, ip);
    return ip;
  };
}

/**
 * The example's Endpoints as demo services: every address moved to loopback (`address` maps it), the
 * pod name from targetRef (else `<name>-<n>`), TCP services given `listenPorts` where named (so that
 * the demo does not take a port a local redis may hold).
 */
export function demoServices(
  dump: ExampleDump,
  address: (original: string) => string,
  listenPorts: Readonly<Record<string, number>> = {},
): DemoService[] {
  return dump.items.map((item) => {
    const annotations = { ...item.metadata.annotations };
    const key = `${item.metadata.namespace}/${item.metadata.name}`;
    const listen = listenPorts[key];
    if (listen !== undefined) annotations[LISTEN_PORT_ANNOTATION] = String(listen);
    const subsets = item.subsets ?? [];
    const ports = (subsets[0]?.ports ?? []).map((p) => ({
      ...(p.name === undefined ? {} : { name: p.name }),
      port: p.port,
      protocol: p.protocol ?? "TCP",
    }));
    const wanted = annotation(annotations, "port");
    const named = ports.findIndex((p) => p.name === wanted || String(p.port) === wanted);
    const pods: DemoPod[] = [];
    for (const subset of subsets) {
      for (const [ready, list] of [[true, subset.addresses], [false, subset.notReadyAddresses]] as const) {
        for (const a of list ?? []) {
          pods.push({
            name: a.targetRef?.name ?? `${item.metadata.name}-${pods.length}`,
            ip: address(a.ip),
            ready,
            ...(a.nodeName === undefined ? {} : { node: a.nodeName }),
          });
        }
      }
    }
    return {
      namespace: item.metadata.namespace,
      name: item.metadata.name,
      annotations,
      labels: { ...item.metadata.labels },
      ...(item.metadata.creationTimestamp === undefined ? {} : { created: item.metadata.creationTimestamp }),
      ports,
      routedPort: named >= 0 ? named : 0,
      kind: podKind(annotations),
      pods,
    };
  });
}

/** The service with its routed port set to `port` (where its pods listen). */
export function withPort(service: DemoService, port: number): DemoService {
  return { ...service, ports: service.ports.map((p, i) => (i === service.routedPort ? { ...p, port } : p)) };
}

/** The service with one more pod. */
export function withPod(service: DemoService, pod: DemoPod): DemoService {
  return { ...service, pods: [...service.pods, pod] };
}

/** The service without the pod named `name`. */
export function withoutPod(service: DemoService, name: string): DemoService {
  return { ...service, pods: service.pods.filter((p) => p.name !== name) };
}

/** The service with the pod named `name` ready or not. */
export function withReady(service: DemoService, name: string, ready: boolean): DemoService {
  return { ...service, pods: service.pods.map((p) => (p.name === name ? { ...p, ready } : p)) };
}

function addressOf(pod: DemoPod, namespace: string): JsonObject {
  return {
    ip: pod.ip,
    ...(pod.node === undefined ? {} : { nodeName: pod.node }),
    targetRef: { kind: "Pod", name: pod.name, namespace },
  };
}

/** The v1 Endpoints object the API stand-in serves for a service. */
export function endpointsObject(service: DemoService): JsonObject {
  const ready = service.pods.filter((p) => p.ready).map((p) => addressOf(p, service.namespace));
  const notReady = service.pods.filter((p) => !p.ready).map((p) => addressOf(p, service.namespace));
  const subset: JsonObject = { ports: service.ports.map((p) => ({ ...p })) };
  if (ready.length > 0) subset.addresses = ready;
  if (notReady.length > 0) subset.notReadyAddresses = notReady;
  const metadata: JsonObject = { name: service.name, namespace: service.namespace };
  if (service.created !== undefined) metadata.creationTimestamp = service.created;
  if (Object.keys(service.labels).length > 0) metadata.labels = { ...service.labels };
  if (Object.keys(service.annotations).length > 0) metadata.annotations = { ...service.annotations };
  return {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata,
    subsets: service.pods.length > 0 ? [subset] : [],
  };
}

/**
 * The example dump as the demo serves it — every address moved to 127.0.0.x — as a list `--from`
 * reads: for runs of a real HAProxy whose servers must stay on this machine.
 */
export function loopbackDump(dump: ExampleDump): { kind: "List"; apiVersion: "v1"; items: JsonObject[] } {
  return {
    kind: "List",
    apiVersion: "v1",
    items: demoServices(dump, createAddressPool()).map(endpointsObject),
  };
}
