/**
 * Nodes and Service node ports in the test Kubernetes API server, as kube-apiserver v1.26 stores them
 * (recordings 24–27, /work/shared/kube-recorded/README.md): the Node's admission taint, status defaults
 * (allocatable from capacity, canonical quantities, null condition times, zero daemonEndpoints/nodeInfo),
 * key orders, the status subresource split, and a Service's allocated `nodePort`s and
 * `healthCheckNodePort` with the fields the server drops when type or traffic policy change.
 *
 * @module
 */
import { type JsonObject, type JsonValue, ordered } from "./kube_objects.ts";

/** The zero `status.nodeInfo` every Node carries (non-omitempty strings). */
const NODE_INFO: JsonObject = Object.fromEntries(
  [
    "machineID",
    "systemUUID",
    "bootID",
    "kernelVersion",
    "osImage",
    "containerRuntimeVersion",
    "kubeletVersion",
    "kubeProxyVersion",
    "operatingSystem",
    "architecture",
  ].map((k) => [k, ""]),
);
const DAEMON_ENDPOINTS: JsonObject = { kubeletEndpoint: { Port: 0 } };
/** Added at admission to every Node created (TaintNodesByCondition); only a controller removes it. */
const NOT_READY_TAINT: JsonObject = { key: "node.kubernetes.io/not-ready", effect: "NoSchedule" };

/** The node port range of a default kube-apiserver. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

function obj(value: JsonValue | undefined): JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
}

function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

/** A binary quantity in the largest unit that keeps it whole (`8192Mi` → `8Gi`), as the API canonicalises it. */
export function canonicalQuantity(value: JsonValue): JsonValue {
  if (typeof value !== "string") return value;
  const m = /^(\d+)(Ki|Mi|Gi|Ti|Pi)$/.exec(value);
  if (!m) return value;
  const units = ["Ki", "Mi", "Gi", "Ti", "Pi"];
  let n = Number(m[1]);
  let unit = units.indexOf(m[2]!);
  while (n % 1024 === 0 && unit < units.length - 1 && n > 0) {
    n /= 1024;
    unit++;
  }
  return `${n}${units[unit]}`;
}

function quantities(value: JsonValue | undefined): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  return Object.fromEntries(Object.entries(obj(value)).map(([k, v]) => [k, canonicalQuantity(v)]));
}

/** A Node as the server stores it (metadata already normalised, no namespace). */
export function normalizeNode(o: JsonObject): JsonObject {
  const spec = obj(o.spec);
  const taints = spec.taints === undefined ? [NOT_READY_TAINT] : list(spec.taints);
  const outSpec = ordered({ ...spec, taints }, [
    "podCIDR",
    "podCIDRs",
    "providerID",
    "unschedulable",
    "taints",
  ]);
  if (list(outSpec.taints).length === 0) delete outSpec.taints;
  const status = obj(o.status);
  const capacity = quantities(status.capacity);
  const allocatable = quantities(status.allocatable) ?? capacity;
  const conditions = status.conditions === undefined
    ? undefined
    : list(status.conditions).map((c) =>
      ordered({ lastHeartbeatTime: null, lastTransitionTime: null, ...obj(c) }, [
        "type",
        "status",
        "lastHeartbeatTime",
        "lastTransitionTime",
        "reason",
        "message",
      ])
    );
  const outStatus: JsonObject = { ...status };
  if (capacity !== undefined) outStatus.capacity = capacity;
  if (allocatable !== undefined) outStatus.allocatable = allocatable;
  if (conditions !== undefined) outStatus.conditions = conditions;
  outStatus.daemonEndpoints ??= DAEMON_ENDPOINTS;
  outStatus.nodeInfo = { ...NODE_INFO, ...obj(status.nodeInfo) };
  return ordered({ ...o, spec: outSpec, status: ordered(outStatus, STATUS_ORDER) }, [
    "metadata",
    "spec",
    "status",
  ]);
}

const STATUS_ORDER = [
  "capacity",
  "allocatable",
  "phase",
  "conditions",
  "addresses",
  "daemonEndpoints",
  "nodeInfo",
];

/**
 * The Node after an HTTP write through the main resource (`status` ignored: the previous one kept) or
 * through the status subresource (only `status` taken), as the real server splits them; `undefined`: a
 * write of the whole object (the test server's programmatic API).
 */
export function splitNodeWrite(
  previous: JsonObject,
  next: JsonObject,
  through: "main" | "status" | undefined,
): JsonObject {
  if (through === "status") return { ...previous, metadata: next.metadata ?? {}, status: next.status ?? {} };
  if (through === "main") return { ...next, status: previous.status ?? {} };
  return next;
}

/** The zero-valued Node BOOKMARK fields (recording 25). */
export function nodeBookmarkFields(): JsonObject {
  return { spec: {}, status: { daemonEndpoints: DAEMON_ENDPOINTS, nodeInfo: NODE_INFO } };
}

/**
 * A Service spec's node-port fields as the server keeps them: NodePort and LoadBalancer get a `nodePort`
 * per port (allocated when missing) and `externalTrafficPolicy` (default Cluster); LoadBalancer gets
 * `allocateLoadBalancerNodePorts` and, with Local, a `healthCheckNodePort`; anything else loses all of them.
 */
export function serviceNodePorts(spec: JsonObject, allocate: () => number): JsonObject {
  const out = { ...spec };
  const type = out.type;
  const external = type === "NodePort" || type === "LoadBalancer";
  out.ports = list(out.ports).map((p) => {
    const port = { ...obj(p) };
    if (!external) delete port.nodePort;
    else if (typeof port.nodePort !== "number" || port.nodePort === 0) port.nodePort = allocate();
    return port;
  });
  if (!external) {
    delete out.externalTrafficPolicy;
    delete out.healthCheckNodePort;
    return out;
  }
  out.externalTrafficPolicy ??= "Cluster";
  if (type === "LoadBalancer") out.allocateLoadBalancerNodePorts ??= true;
  const local = type === "LoadBalancer" && out.externalTrafficPolicy === "Local";
  if (!local) delete out.healthCheckNodePort;
  else if (typeof out.healthCheckNodePort !== "number" || out.healthCheckNodePort === 0) {
    out.healthCheckNodePort = allocate();
  }
  return out;
}

/** The node ports a Service holds (ports and health check). */
export function nodePortsOf(service: JsonObject): number[] {
  const spec = obj(service.spec);
  const ports = list(spec.ports).map((p) => obj(p).nodePort);
  return [...ports, spec.healthCheckNodePort].filter((n): n is number => typeof n === "number");
}

/** A free node port at random in {@linkcode NODE_PORT_RANGE}, avoiding `used`. */
export function freeNodePort(used: ReadonlySet<number>, random: () => number = Math.random): number {
  const size = NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1;
  const start = Math.floor(random() * size);
  for (let i = 0; i < size; i++) {
    const port = NODE_PORT_RANGE.min + (start + i) % size;
    if (!used.has(port)) return port;
  }
  throw new RangeError("No free node port left in 30000-32767");
}
