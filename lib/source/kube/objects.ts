/**
 * Zod schemas of the Kubernetes objects haconfd reads (Endpoints, EndpointSlice, Service) and their
 * projection onto the source-neutral {@linkcode EndpointSet} (lib/model/endpoints.ts): the few fields the
 * model needs, kept in memory instead of whole API objects.
 *
 * @module
 */
import { SETTING_ANNOTATIONS } from "../../model/settings.ts";
import { z } from "zod";
import {
  type AddressView,
  type EndpointSet,
  fitted,
  type GroupView,
  IP,
  PORT,
  type PortView,
} from "../../model/endpoints.ts";

/** Annotation keys haconfd reads; every other annotation is dropped at the edge. */
export const ANNOTATION_KEYS = [
  "domain",
  "proto",
  "haconfd.io/domain",
  "haconfd.io/proto",
  "haconfd.io/port",
  "haconfd.io/listen-port",
  "haconfd.io/tls-secret",
  "haconfd.io/redirect-https",
  "haconfd.io/backend-mode",
] as const;

/** Label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** Kubernetes object names (DNS-1123 subdomain) and namespaces (DNS-1123 label), as the API enforces them. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// Names reach the rendered config (comments, the status page): only what the API itself allows passes,
// so an object from a file or a misbehaving server cannot smuggle a newline into the config.
/** Object metadata as the API enforces it (names, namespace, labels, annotations). */
export const ObjectMeta = z.object({
  name: z.string().regex(NAME, {
    error: (i) => `${JSON.stringify(i.input)} is not a Kubernetes object name`,
  }),
  namespace: z.string().regex(NAMESPACE, {
    error: (i) => `${JSON.stringify(i.input)} is not a namespace name`,
  }),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  creationTimestamp: z.string().nullish(),
  labels: z.record(z.string(), z.string()).nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
});

const TargetRef = z.object({ kind: z.string().optional(), name: z.string().optional() }).nullish();

const EndpointAddress = z.object({ ip: IP, targetRef: TargetRef, nodeName: z.string().nullish() });
const EndpointPort = z.object({ name: z.string().nullish(), port: PORT, protocol: z.string().nullish() });

// Endpoints' labels are read by nobody: not validating them spares a copy of each object's label record.
const EndpointsMeta = ObjectMeta.omit({ labels: true });

/** A v1 Endpoints object (the fields haconfd uses). */
export const Endpoints = z.object({
  kind: z.literal("Endpoints").optional(),
  metadata: EndpointsMeta,
  subsets: z.array(z.object({
    addresses: z.array(EndpointAddress).nullish(),
    notReadyAddresses: z.array(EndpointAddress).nullish(),
    ports: z.array(EndpointPort).nullish(),
  })).nullish(),
});
/** A v1 Endpoints object. */
export type Endpoints = z.infer<typeof Endpoints>;

/** A discovery.k8s.io/v1 EndpointSlice (the fields haconfd uses). */
export const EndpointSlice = z.object({
  kind: z.literal("EndpointSlice").optional(),
  metadata: ObjectMeta,
  addressType: z.enum(["IPv4", "IPv6", "FQDN"]),
  endpoints: z.array(z.object({
    addresses: z.array(z.string()).min(1),
    conditions: z.object({
      ready: z.boolean().nullish(),
      serving: z.boolean().nullish(),
      terminating: z.boolean().nullish(),
    }).nullish(),
    targetRef: TargetRef,
    nodeName: z.string().nullish(),
  })).nullish(),
  ports: z.array(
    z.object({ name: z.string().nullish(), port: PORT.nullish(), protocol: z.string().nullish() }),
  )
    .nullish(),
});
/** A discovery.k8s.io/v1 EndpointSlice. */
export type EndpointSlice = z.infer<typeof EndpointSlice>;

/** A v1 Service (the fields haconfd uses: its annotations). */
export const Service = z.object({ kind: z.literal("Service").optional(), metadata: ObjectMeta });
/** A v1 Service. */
export type Service = z.infer<typeof Service>;

/** The projection of one EndpointSlice: which service it belongs to and its one group. */
export interface SliceView {
  /** Namespace of the slice and its Service. */
  namespace: string;
  /** The slice's own name. */
  name: string;
  /** The Service it belongs to (its `kubernetes.io/service-name` label). */
  service: string;
  /** Its addresses and ports. */
  group: GroupView;
}

/** The projection of one Service: identity and the annotations haconfd reads. */
export interface ServiceView {
  /** Namespace of the Service. */
  namespace: string;
  /** Name of the Service. */
  name: string;
  /** creationTimestamp (decides conflicts: the older claim wins). */
  created: string;
  /** Only the keys in {@linkcode ANNOTATION_KEYS}. */
  annotations: Record<string, string>;
}

function keepAnnotations(annotations: Record<string, string> | null | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const key of [...ANNOTATION_KEYS, ...SETTING_ANNOTATIONS]) {
    const value = annotations?.[key];
    if (value !== undefined) kept[key] = value;
  }
  return kept;
}

/** The TCP ports of a port list, sorted by name: HAProxy proxies TCP, so UDP and SCTP ports are left out. */
function portViews(
  ports:
    | readonly {
      name?: string | null | undefined;
      port?: number | null | undefined;
      protocol?: string | null | undefined;
    }[]
    | null
    | undefined,
): PortView[] {
  const views: PortView[] = [];
  for (const p of ports ?? []) {
    const tcp = p.protocol === undefined || p.protocol === null || p.protocol === "TCP";
    if (tcp && typeof p.port === "number") views.push({ name: p.name ?? "", port: p.port });
  }
  return fitted(views.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port));
}

// One literal per combination: a property added after the literal lands outside the object (a property
// array), ~36 bytes more for each of 50,000 addresses.
function addressView(
  ip: string,
  ready: boolean,
  target: string | null | undefined,
  node?: string | null,
): AddressView {
  if (target && node) return { ip, ready, target, node };
  if (target) return { ip, ready, target };
  return node ? { ip, ready, node } : { ip, ready };
}

/** The identity and routing annotations of an object: what Endpoints and Service projections share. */
function identity(metadata: Omit<z.infer<typeof ObjectMeta>, "labels">): ServiceView {
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    created: metadata.creationTimestamp ?? "",
    annotations: keepAnnotations(metadata.annotations),
  };
}

/** Projects a validated Endpoints object. */
export function projectEndpoints(object: Endpoints): EndpointSet {
  return {
    ...identity(object.metadata),
    groups: (object.subsets ?? []).map((subset) => ({
      ports: portViews(subset.ports),
      addresses: [
        ...(subset.addresses ?? []).map((a) => addressView(a.ip, true, a.targetRef?.name, a.nodeName)),
        ...(subset.notReadyAddresses ?? []).map((a) =>
          addressView(a.ip, false, a.targetRef?.name, a.nodeName)
        ),
      ],
    })),
  };
}

/**
 * Projects a validated EndpointSlice, or explains why it cannot be used.
 *
 * An endpoint serves when `ready` is not false (Kubernetes: unset means ready); serving-but-terminating
 * endpoints count as not ready and are marked `draining`: they stay servers in maintenance (no new
 * requests, sticky ones included; the ones in flight finish) until they leave the slice.
 */
export function projectSlice(object: EndpointSlice): SliceView | string {
  const { metadata } = object;
  const service = metadata.labels?.[SERVICE_NAME_LABEL];
  if (!service) return `no "${SERVICE_NAME_LABEL}" label`;
  if (object.addressType === "FQDN") return 'addressType "FQDN" is not supported';
  const addresses: AddressView[] = [];
  for (const endpoint of object.endpoints ?? []) {
    const terminating = endpoint.conditions?.terminating === true;
    const ready = endpoint.conditions?.ready !== false && !terminating;
    const draining = terminating && endpoint.conditions?.serving === true;
    for (const address of endpoint.addresses) {
      if (!IP.safeParse(address).success) return `address "${address}" is not an IP address`;
      const view = addressView(address, ready, endpoint.targetRef?.name, endpoint.nodeName);
      addresses.push(draining ? { ...view, draining } : view);
    }
  }
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    service,
    group: { ports: portViews(object.ports), addresses: fitted(addresses) },
  };
}

/** Projects a validated Service. */
export function projectService(object: Service): ServiceView {
  return identity(object.metadata);
}

/**
 * Joins Services and their EndpointSlices into endpoint sets; a Service without slices gets an empty
 * set (its route stays, with no server), slices without their Service are left out.
 */
export function joinSlices(services: Iterable<ServiceView>, slices: Iterable<SliceView>): EndpointSet[] {
  const byService = new Map<string, SliceView[]>();
  for (const slice of slices) {
    const key = `${slice.namespace}/${slice.service}`;
    const list = byService.get(key) ?? [];
    list.push(slice);
    byService.set(key, list);
  }
  const sets: EndpointSet[] = [];
  for (const service of services) {
    const own = (byService.get(`${service.namespace}/${service.name}`) ?? [])
      .sort((a, b) => a.name.localeCompare(b.name));
    sets.push({ ...service, groups: own.map((s) => s.group) });
  }
  return sets;
}

/** Where an object came from and why it was not used. */
export interface ObjectProblem {
  /** `namespace/name` when known, else the item's position. */
  object: string;
  /** What is wrong, naming the field. */
  reason: string;
}

/** Formats the first zod issues as `path: message; …`. */
export function describeIssues(error: z.ZodError, limit = 3): string {
  return error.issues.slice(0, limit)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

function objectName(item: unknown, index: number): string {
  const meta = (item as { metadata?: { namespace?: unknown; name?: unknown } } | null)?.metadata;
  return typeof meta?.namespace === "string" && typeof meta?.name === "string"
    ? `${meta.namespace}/${meta.name}`
    : `items[${index}]`;
}

/** What a JSON dump holds, projected. */
export interface ParsedObjects {
  /** Projected Endpoints objects. */
  endpoints: EndpointSet[];
  /** Projected Services. */
  services: ServiceView[];
  /** Projected EndpointSlices. */
  slices: SliceView[];
  /** Items that were skipped, with the reason. */
  problems: ObjectProblem[];
}

const ListShape = z.object({
  kind: z.string().refine((k) => k === "List" || k.endsWith("List"), "not a list kind"),
  items: z.array(z.unknown()),
});

/**
 * Parses what `kubectl get endpoints -A -o json` (or `… endpoints,endpointslices,services …`) prints, or
 * an API list response. Items are validated one by one: a malformed item is skipped with its reason,
 * while input that is not a list at all throws a `TypeError`.
 */
export function parseObjectList(json: unknown): ParsedObjects {
  const list = ListShape.safeParse(json);
  if (!list.success) {
    throw new TypeError(
      `Input is not a Kubernetes list (kind EndpointsList or List): ${describeIssues(list.error)}`,
    );
  }
  const listKind = list.data.kind;
  const itemKind = listKind === "List" ? undefined : listKind.slice(0, -"List".length);
  const parsed: ParsedObjects = { endpoints: [], services: [], slices: [], problems: [] };
  list.data.items.forEach((item, index) => {
    const name = objectName(item, index);
    const kind = itemKind ?? (item as { kind?: unknown } | null)?.kind;
    if (kind === "Endpoints") {
      const result = Endpoints.safeParse(item);
      if (result.success) parsed.endpoints.push(projectEndpoints(result.data));
      else {parsed.problems.push({
          object: name,
          reason: `invalid Endpoints: ${describeIssues(result.error)}`,
        });}
    } else if (kind === "EndpointSlice") {
      const result = EndpointSlice.safeParse(item);
      const view = result.success
        ? projectSlice(result.data)
        : `invalid EndpointSlice: ${describeIssues(result.error)}`;
      if (typeof view === "string") parsed.problems.push({ object: name, reason: view });
      else parsed.slices.push(view);
    } else if (kind === "Service") {
      const result = Service.safeParse(item);
      if (result.success) parsed.services.push(projectService(result.data));
      else parsed.problems.push({ object: name, reason: `invalid Service: ${describeIssues(result.error)}` });
    } else {
      parsed.problems.push({ object: name, reason: `unsupported kind ${JSON.stringify(kind ?? null)}` });
    }
  });
  return parsed;
}

/**
 * The endpoint sets of a parsed dump: Endpoints objects when it has any, else Services joined with
 * their EndpointSlices.
 */
export function endpointSetsOf(parsed: ParsedObjects): EndpointSet[] {
  if (parsed.endpoints.length > 0 || (parsed.services.length === 0 && parsed.slices.length === 0)) {
    return parsed.endpoints;
  }
  return joinSlices(parsed.services, parsed.slices);
}
