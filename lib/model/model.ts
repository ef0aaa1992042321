/**
 * Endpoint sets → the model handed to templates: annotations validated, domains resolved (one winner
 * per domain), ready and not-ready addresses, safe identifiers, TCP listen ports. A pure function.
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { z } from "zod";
import {
  type AddressView,
  type EndpointSet,
  fitted,
  type GroupView,
  isIp,
  type PortView,
} from "./endpoints.ts";
import { fnv1aHex } from "../hash.ts";
import { HostTls, tlsOf, type TlsRequested } from "./tls.ts";
import { tlsAnnotations } from "./tls_annotations.ts";
import { parseSettings, ServiceSettings } from "./settings.ts";
import { BackendMode } from "./nodeport_input.ts";
import { backendModeOf, nodePortBackend, NodePortData } from "./nodeport.ts";

/** Protos routed by the HTTP and HTTPS frontends; every other proto is a TCP service with a listen port. */
export const WEB_PROTOS: readonly string[] = ["http", "https"];

/** Listen ports for well-known TCP protos when `haconfd.io/listen-port` is not set. */
export const DEFAULT_LISTEN_PORTS: Readonly<Record<string, number>> = {
  redis: 6379,
  mysql: 3306,
  postgres: 5432,
  postgresql: 5432,
  mongodb: 27017,
  amqp: 5672,
  mqtt: 1883,
  memcached: 11211,
  ldap: 389,
  smtp: 25,
};

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * A domain annotation: a DNS name or an IP address, validated exactly as written — no trimming, and no
 * case folding before the check (Unicode folding turns the Kelvin sign "K" into "k", so a value the check
 * never saw would be used). Only after it passed, the ASCII name is lower-cased: DNS names are
 * case-insensitive and HAProxy compares them lower-cased.
 */
export const DomainName = z.string().refine(
  (value) => DNS_NAME.test(value.replace(/[A-Z]+/g, (upper) => upper.toLowerCase())) || isIp(value),
  { error: (issue) => `"${issue.input}" is not a DNS name or IP address` },
).transform((value) => value.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()));

/**
 * Endpoint addresses that are never a server: HAProxy would connect to itself or to whatever address the
 * client hit (unspecified), or to a group or the whole link (multicast, broadcast, link-local). Loopback
 * stays allowed: it is what `--from` files and the tests use for backends on the HAProxy host itself, and
 * only the cluster admin (who controls Endpoints addresses) can point one there. Keys are ipaddr.js's
 * range names.
 */
const REFUSED_RANGES: Readonly<Record<string, { ipv4: string; ipv6: string }>> = {
  unspecified: { ipv4: "unspecified (0.0.0.0/8)", ipv6: "unspecified (::)" },
  multicast: { ipv4: "multicast (224.0.0.0/4)", ipv6: "multicast (ff00::/8)" },
  broadcast: { ipv4: "broadcast", ipv6: "broadcast" },
  linkLocal: { ipv4: "link-local (169.254.0.0/16)", ipv6: "link-local (fe80::/10)" },
};

/**
 * Why `ip` cannot be a server address, or undefined when it can. IPv4-mapped IPv6 addresses
 * (`::ffff:0.0.0.0`) are judged by their IPv4 address.
 */
export function refusedAddress(ip: string): string | undefined {
  const address = parsedIp(ip);
  if (address === undefined) return "not an IP address";
  return REFUSED_RANGES[address.range()]?.[address.kind()];
}

// ipaddr.IPv4.isValidFourPartDecimal()'s own pattern: that function parses to check, then parse() again.
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;

/** `ip` parsed, or undefined; a dotted-quad IPv4 address (nearly every one) is parsed once. */
function parsedIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (FOUR_PART_DECIMAL.test(ip)) {
    try {
      return ipaddr.IPv4.parse(ip);
    } catch {
      return undefined; // an octet above 255
    }
  }
  return ipaddr.isValid(ip) ? ipaddr.process(ip) : undefined;
}

const PROTO = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** A proto annotation: a short lower-case word. */
export const Proto = z.string().trim().regex(PROTO, {
  error: (issue) => `"${issue.input}" is not a proto (a short [a-z0-9-] word)`,
});
// Ports that PortNumber takes as written (no blanks, no leading zero, 1..65535).
const PORT_NUMBER = /^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
/** A port number annotation. */
export const PortNumber = z.string().trim().regex(/^\d{1,5}$/, {
  error: (i) => `"${i.input}" is not a port number`,
})
  .transform(Number).refine((n) => n >= 1 && n <= 65535, { error: (i) => `"${i.input}" is not in 1..65535` });

/** One server of a domain's backend. */
export const Server = z.object({
  ip: z.string(),
  port: z.number(),
  name: z.string(),
  ready: z.boolean(),
  /** Terminating but still serving (EndpointSlices): kept as a server in maintenance; only present when true. */
  draining: z.literal(true).optional(),
  /** The node of a nodeport-mode server (its name is the node's). */
  node: z.string().optional(),
});
/** One server of a domain's backend. */
export type Server = z.infer<typeof Server>;

/** What templates get for one domain (pyconfd's `ips`, `proto`, `port`, plus additions). */
export const Domain = z.object({
  /** Ready addresses, sorted (pyconfd's field). */
  ips: z.array(z.string()),
  proto: z.string(),
  /** The chosen port (pyconfd's field); 0 when the object has no port at all. */
  port: z.number(),
  /** Safe, collision-free identifier for ACL and backend names. */
  id: z.string(),
  namespace: z.string(),
  name: z.string(),
  /** Every port by name (an unnamed port under its number). */
  ports: z.record(z.string(), z.number()),
  /** Not-ready addresses, sorted. */
  notReadyIps: z.array(z.string()),
  /** Every address with its port, name (pod name where known) and readiness, sorted by IP. */
  servers: z.array(Server),
  /** The frontend port of a TCP proto; null for http and https. */
  listenPort: z.number().nullable(),
  /** TLS termination (`haconfd.io/tls-secret`), only on a domain that asks for it. */
  tls: HostTls.optional(),
  /** The host name routed (the key without the path of a `haconfd.io/path` route). */
  host: z.string(),
  /**
   * `false` on a route whose host has a route with a shorter key (its `/` route, or a shorter path): that
   * route, the host's lead, writes what is kept once per host (SNI, TLS and redirect map entries); absent on
   * the lead.
   */
  hostLead: z.literal(false).optional(),
  /** The service's settings from its `haconfd.io/*` annotations (lib/model/settings.ts). */
  settings: ServiceSettings,
  /** Where the servers come from (lib/model/nodeport.ts); set on every domain the model builds. */
  backendMode: BackendMode.optional(),
  /** Backend mode nodeport: node port, traffic policy, health check, and which nodes get traffic and why. */
  nodePort: NodePortData.optional(),
});
/** What templates get for one domain. */
export type Domain = z.infer<typeof Domain>;

/** An object that takes no part in the config (or one of its addresses that is not a server), and why. */
export interface Skipped {
  /** `namespace/name`. */
  object: string;
  /** Why it was skipped, naming the annotation or field. */
  reason: string;
  /** Set when only this address of the object is not used (the object itself still serves). */
  address?: string;
}

/** A skip entry: the whole object, or with `address` only one of its addresses. */
export function skipEntry(object: string, reason: string, address?: string): Skipped {
  return address === undefined ? { object, reason } : { object, reason, address };
}

/** How many objects take no part at all (entries about a single address do not count). */
export function skippedObjectCount(skipped: readonly Skipped[]): number {
  return new Set(skipped.filter((s) => s.address === undefined).map((s) => s.object)).size;
}

/** The log message for a skip entry: what happened to what. */
export function skipMessage(skipped: Skipped): string {
  return skipped.address === undefined ? "object skipped" : "address not used";
}

/** The model: domains in sorted order and the objects that were skipped. */
export interface Model {
  /** Domain → its data; keys in sorted order. */
  domains: Record<string, Domain>;
  /** Objects with routing annotations that could not be used. */
  skipped: Skipped[];
}

/** Options of {@linkcode buildModel}. */
export interface ModelOptions {
  /** Listen ports per TCP proto. @default {DEFAULT_LISTEN_PORTS} */
  listenPorts?: Readonly<Record<string, number>>;
  /**
   * Ports haconfd itself uses (a bare number: the HTTP/HTTPS frontends; else `by` names the user, e.g.
   * "the status endpoint"); a TCP service may not claim them. @default {[]}
   */
  reservedPorts?: readonly (number | { port: number; by: string })[];
}

function annotation(set: EndpointSet, key: string): string | undefined {
  return set.annotations[`haconfd.io/${key}`] ?? set.annotations[key];
}

/** A name safe for HAProxy ACLs and backends: `[a-z0-9_]` plus a hash of the domain against collisions. */
export function domainId(domain: string): string {
  return `${domain.replace(/[^a-z0-9]+/g, "_")}_${fnv1aHex(domain)}`;
}

/** The value of IPv4 octets in order (no allocation: this runs for every pair of addresses sorted). */
function ipv4Value(ip: string): number {
  let value = 0, octet = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return value * 256 + octet;
}

/** Compares IP addresses: IPv4 numerically, then IPv6 (by text). */
export function compareIps(a: string, b: string): number {
  const sixA = a.includes(":"), sixB = b.includes(":");
  if (sixA !== sixB) return sixA ? 1 : -1;
  if (sixA) return a < b ? -1 : a > b ? 1 : 0;
  return Math.sign(ipv4Value(a) - ipv4Value(b));
}

function portKey(port: PortView): string {
  return port.name === "" ? String(port.port) : port.name;
}

/** The port of a group that a domain uses, by annotation (name or number), or the only/first one. */
function pickPort(group: GroupView, wanted: string | undefined): number | undefined {
  if (wanted === undefined) return group.ports[0]?.port;
  const byName = group.ports.find((p) => p.name === wanted);
  if (byName) return byName.port;
  const number = Number(wanted);
  return group.ports.find((p) => p.port === number)?.port ?? (/^\d+$/.test(wanted) ? number : undefined);
}

function serverName(address: AddressView, port: number, taken: Set<string>): string {
  const base = (address.target ?? address.ip).replace(/[^A-Za-z0-9_.-]+/g, "_");
  let name = base;
  if (taken.has(name)) name = `${base}_${port}`;
  for (let n = 2; taken.has(name); n++) name = `${base}_${port}_${n}`;
  taken.add(name);
  return name;
}

/** An object's claim on a domain (and on a listen port): valid, not yet resolved against other claims. */
export interface Candidate {
  /** The object. */
  set: EndpointSet;
  /** Its `namespace/name`. */
  key: string;
  /** The domain it claims. */
  domain: string;
  /** Its domain entry, with the base id (before collision suffixes). */
  data: Domain;
  /**
   * What it asks of TLS termination (Secret and redirect), as skip reasons name it: every route of one
   * host must ask the same ({@linkcode hostTlsDiffers}).
   */
  tlsClaim: string;
}

/** Required {@linkcode ModelOptions}: what {@linkcode candidate} reads. */
export type ResolvedModelOptions = Required<ModelOptions>;

/**
 * One object's claim: `null` when it has no routing annotation, a reason when it cannot be used, else
 * its candidate entry (shared by {@linkcode buildModel} and the incremental store, lib/model/store.ts).
 * `refused` hears each address that is not a server (skip entries of a usable object); `key` is the
 * object's `namespace/name`, which both callers hold already.
 */
export function candidate(
  set: EndpointSet,
  options: ResolvedModelOptions,
  refused: (reason: string, address?: string) => void,
  key: string,
): Candidate | string | null {
  const routing = routingAnnotations(set);
  if (routing === null || typeof routing === "string") return routing;
  const { domain, proto } = routing;
  const settings = parseSettings(set.annotations, proto);
  if (Array.isArray(settings)) return settings.join("; ");
  const wantedPort = annotation(set, "port")?.trim();
  const badPort = wantedPortError(wantedPort);
  if (badPort !== undefined) return badPort;
  const mode = backendModeOf(set);
  if (typeof mode !== "string") return mode.reason;
  const nodeport = mode === "nodeport" ? nodePortBackend(set, wantedPort, refusedAddress) : null;
  if (typeof nodeport === "string") return nodeport;
  const tlsRequest = tlsAnnotations(set.annotations, proto, isIp(domain));
  if (typeof tlsRequest === "string") return tlsRequest;
  const listen = listenPortOf(set, proto, options);
  if (typeof listen === "string") return listen;
  const picked = pickAddresses(set, wantedPort, nodeport === null);
  if (typeof picked === "string") return picked;
  const pods = serversOf(picked.addresses, refused);
  const servers = fitted(nodeport === null ? pods : [...pods, ...nodeport.servers]);
  const route = settings.path === "/" ? domain : `${domain}${settings.path}`;
  return {
    set,
    key,
    domain: route,
    tlsClaim: tlsRequest === null
      ? "no haconfd.io/tls-secret"
      : `Secret "${set.namespace}/${tlsRequest.secret}"${tlsRequest.redirect ? " with redirect-https" : ""}`,
    data: {
      ips: uniqueIps(servers, true),
      proto,
      port: nodeport?.port ?? picked.chosen ??
        (wantedPort !== undefined && /^\d+$/.test(wantedPort) ? Number(wantedPort) : 0),
      id: domainId(route),
      namespace: set.namespace,
      name: set.name,
      ports: Object.fromEntries(Object.entries(picked.ports).sort(([a], [b]) => a.localeCompare(b))),
      notReadyIps: uniqueIps(servers, false),
      servers,
      listenPort: listen.port,
      ...(tlsRequest === null ? {} : { tls: tlsOf(set as TlsRequested, tlsRequest, set.namespace) }),
      host: domain,
      settings,
      backendMode: mode,
      ...(nodeport === null ? {} : { nodePort: nodeport.data }),
    },
  };
}

/** The addresses of the ready (or not-ready) servers, each once, in the servers' order. */
function uniqueIps(servers: readonly Server[], ready: boolean): string[] {
  const ips = new Set<string>();
  for (const s of servers) if (s.ready === ready) ips.add(s.ip);
  return [...ips];
}

/** The `domain` and `proto` annotations, checked: `null` when neither is set, a reason when unusable. */
function routingAnnotations(set: EndpointSet): { domain: string; proto: string } | string | null {
  const rawDomain = annotation(set, "domain");
  const rawProto = annotation(set, "proto");
  if (rawDomain === undefined && rawProto === undefined) return null;
  if (rawDomain === undefined) return 'annotation "domain" is missing (proto is set)';
  if (rawProto === undefined) return 'annotation "proto" is missing (domain is set)';
  const domain = parsedAs(DomainName, rawDomain, DNS_NAME);
  if (!domain.success) return `annotation "domain": ${domain.error.issues[0]?.message}`;
  const proto = parsedAs(Proto, rawProto, PROTO);
  if (!proto.success) return `annotation "proto": ${proto.error.issues[0]?.message}`;
  if (proto.data === "https" && isIp(domain.data)) {
    return `annotation "domain": "${domain.data}" is an IP address, but proto "https" routes by SNI, which carries host names only`;
  }
  return { domain: domain.data, proto: proto.data };
}

/**
 * `schema.safeParse(raw)`, without the parse (which runs for every object) when `plain` accepts the value:
 * one the schema takes as written, nothing to trim or lower-case, whose output is `convert(raw)`.
 */
function parsedAs<T>(
  schema: z.ZodType<T, string>,
  raw: string,
  plain: RegExp,
  convert: (raw: string) => T = (value) => value as T,
): { success: true; data: T } | { success: false; error: z.ZodError } {
  return plain.test(raw) ? { success: true, data: convert(raw) } : schema.safeParse(raw);
}

function wantedPortError(wantedPort: string | undefined): string | undefined {
  if (wantedPort !== undefined && !/^([a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?|\d{1,5})$/.test(wantedPort)) {
    return `annotation "haconfd.io/port": "${wantedPort}" is not a port name or number`;
  }
  if (wantedPort !== undefined && /^\d+$/.test(wantedPort) && !PortNumber.safeParse(wantedPort).success) {
    return `annotation "haconfd.io/port": "${wantedPort}" is not in 1..65535`;
  }
  return undefined;
}

/** The port HAProxy listens on for a TCP proto (null for the web protos), or why there is none. */
function listenPortOf(
  set: EndpointSet,
  proto: string,
  options: ResolvedModelOptions,
): { port: number | null } | string {
  if (WEB_PROTOS.includes(proto)) return { port: null };
  const rawListen = annotation(set, "listen-port");
  if (rawListen !== undefined) {
    const parsed = parsedAs(PortNumber, rawListen, PORT_NUMBER, Number);
    if (!parsed.success) return `annotation "haconfd.io/listen-port": ${parsed.error.issues[0]?.message}`;
    return { port: parsed.data };
  }
  const port = options.listenPorts[proto] ?? null;
  if (port === null) {
    return `proto "${proto}" has no default listen port: set annotation "haconfd.io/listen-port"`;
  }
  return { port };
}

/** Every port by name, the chosen port, and (for pod backends) the addresses with it, sorted by IP. */
function pickAddresses(set: EndpointSet, wantedPort: string | undefined, pods: boolean): {
  ports: Record<string, number>;
  chosen: number | undefined;
  addresses: { address: AddressView; port: number }[];
} | string {
  const ports: Record<string, number> = {};
  let chosen: number | undefined;
  const addresses: { address: AddressView; port: number }[] = [];
  for (const group of set.groups) {
    for (const p of group.ports) ports[portKey(p)] ??= p.port;
    const port = pickPort(group, wantedPort);
    if (port === undefined) continue;
    chosen ??= port;
    if (pods) { for (const address of group.addresses) addresses.push({ address, port }); }
  }
  if (
    pods && wantedPort !== undefined && chosen === undefined && addresses.length === 0 &&
    set.groups.length > 0
  ) {
    return `annotation "haconfd.io/port": no port named "${wantedPort}"`;
  }
  addresses.sort((a, b) => compareIps(a.address.ip, b.address.ip) || a.port - b.port);
  return { ports, chosen, addresses };
}

/** One server per address and port, once; an address that may not be a server is told to `refused`. */
function serversOf(
  addresses: { address: AddressView; port: number }[],
  refused: (reason: string, address?: string) => void,
): Server[] {
  const servers: Server[] = [];
  const seen = new Set<string>();
  const names = new Set<string>();
  for (const { address, port } of addresses) {
    const key = `${address.ip}|${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const refusal = refusedAddress(address.ip);
    if (refusal !== undefined) {
      if (!seen.has(address.ip)) {
        refused(`address "${address.ip}" is ${refusal}: not used as a server`, address.ip);
      }
      seen.add(address.ip);
      continue;
    }
    const server: Server = {
      ip: address.ip,
      port,
      name: serverName(address, port, names),
      ready: address.ready,
    };
    if (address.draining === true) server.draining = true;
    servers.push(server);
  }
  return servers;
}

/** Older claims win; ties go to the smaller `namespace/name`. */
export function claimOrder(a: Pick<Candidate, "set" | "key">, b: Pick<Candidate, "set" | "key">): number {
  if (a.set.created !== b.set.created) {
    if (a.set.created === "") return 1;
    if (b.set.created === "") return -1;
    return a.set.created < b.set.created ? -1 : 1;
  }
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Who holds reserved listen ports, in skip reasons. */
export const RESERVED_HOLDER = "the HTTP/HTTPS frontends";

/** The skip reason of a claim on a domain that an older claim owns. */
export function domainTaken(domain: string, owner: Pick<Domain, "namespace" | "name">): string {
  return `domain "${domain}" is already claimed by ${owner.namespace}/${owner.name} (older claim wins)`;
}

/**
 * The skip reason of a route whose host an older claim serves with other TLS termination: all routes of a
 * host are terminated with one certificate (SNI picks it before the path is known) and redirected alike.
 */
export function hostTlsDiffers(claim: Pick<Candidate, "tlsClaim">, owner: Candidate): string {
  return `host "${owner.data.host}" is served by ${owner.set.namespace}/${owner.set.name} with ` +
    `${owner.tlsClaim} (older claim wins; every route of a host must name the same haconfd.io/tls-secret ` +
    `and haconfd.io/redirect-https), this object has ${claim.tlsClaim}`;
}

/**
 * The entry of `name` with its host lead mark: `lead` is the smallest key among its host's winners (the
 * `/` route sorts before the host's paths). The same object when the mark does not change.
 */
export function withHostLead(entry: Domain, name: string, lead: string): Domain {
  const isLead = name === lead;
  if ((entry.hostLead === undefined) === isLead) return entry;
  if (isLead) {
    const { hostLead: _, ...rest } = entry;
    return rest;
  }
  return { ...entry, hostLead: false };
}

/** The smallest key of each host among `winners` (domain → its entry). */
export function hostLeads(winners: Iterable<[string, Pick<Domain, "host">]>): Map<string, string> {
  const leads = new Map<string, string>();
  for (const [name, d] of winners) {
    const lead = leads.get(d.host);
    if (lead === undefined || name < lead) leads.set(d.host, name);
  }
  return leads;
}

/** The skip reason of a claim on a listen port that `holder` uses. */
export function portTaken(port: number, holder: string): string {
  return `listen port ${port} is already used by ${holder}`;
}

/** How a winning claim is named as a listen port's holder. */
export function portHolder(c: Candidate): string {
  return `${c.set.namespace}/${c.set.name} (${c.domain})`;
}

/** The order of {@linkcode Model.skipped}: by object, then reason. */
export function skippedOrder(a: Skipped, b: Skipped): number {
  return a.object.localeCompare(b.object) || a.reason.localeCompare(b.reason);
}

/** Options with their defaults filled in. */
export function resolveModelOptions(options: ModelOptions = {}): ResolvedModelOptions {
  return {
    listenPorts: options.listenPorts ?? DEFAULT_LISTEN_PORTS,
    reservedPorts: options.reservedPorts ?? [],
  };
}

/** The winners of `candidates` (in claim order) by domain; the losers go to `skipped` with the reason. */
function resolveClaims(
  candidates: readonly Candidate[],
  resolved: ResolvedModelOptions,
  skipped: Skipped[],
): Map<string, Domain> {
  const domains = new Map<string, Domain>();
  const hosts = new Map<string, Candidate>();
  const ids = new Set<string>();
  const listenPorts = new Map<number, string>();
  for (const reserved of resolved.reservedPorts) {
    if (typeof reserved === "number") listenPorts.set(reserved, RESERVED_HOLDER);
    else listenPorts.set(reserved.port, reserved.by);
  }
  for (const c of candidates) {
    const object = `${c.set.namespace}/${c.set.name}`;
    const owner = domains.get(c.domain);
    if (owner) {
      skipped.push({
        object,
        reason: domainTaken(c.domain, owner),
      });
      continue;
    }
    const hostOwner = hosts.get(c.data.host);
    if (hostOwner !== undefined && hostOwner.tlsClaim !== c.tlsClaim) {
      skipped.push({ object, reason: hostTlsDiffers(c, hostOwner) });
      continue;
    }
    if (c.data.listenPort !== null) {
      const holder = listenPorts.get(c.data.listenPort);
      if (holder !== undefined) {
        skipped.push({ object, reason: portTaken(c.data.listenPort, holder) });
        continue;
      }
      listenPorts.set(c.data.listenPort, portHolder(c));
    }
    let id = c.data.id;
    for (let n = 2; ids.has(id); n++) id = `${c.data.id}_${n}`;
    ids.add(id);
    hosts.set(c.data.host, hosts.get(c.data.host) ?? c);
    domains.set(c.domain, { ...c.data, id });
  }
  return domains;
}

/**
 * Builds the model from endpoint sets. Deterministic: the same sets in any order give the same model.
 *
 * @example
 * ```ts
 * const model = buildModel(sets);
 * for (const s of model.skipped) log.warn("object skipped", s);
 * ```
 */
export function buildModel(sets: Iterable<EndpointSet>, options: ModelOptions = {}): Model {
  const resolved = resolveModelOptions(options);
  const skipped: Skipped[] = [];
  const candidates: Candidate[] = [];
  for (const set of sets) {
    const object = `${set.namespace}/${set.name}`;
    const refusals: Skipped[] = [];
    const result = candidate(
      set,
      resolved,
      (reason, address) => refusals.push(skipEntry(object, reason, address)),
      object,
    );
    if (result === null) continue;
    if (typeof result === "string") skipped.push({ object, reason: result });
    else {
      candidates.push(result);
      skipped.push(...refusals);
    }
  }
  candidates.sort(claimOrder);
  const domains = resolveClaims(candidates, resolved, skipped);
  skipped.sort(skippedOrder);
  const leads = hostLeads(domains);
  const sorted = [...domains.keys()].sort();
  return {
    domains: Object.fromEntries(sorted.map((d) => {
      const entry = domains.get(d)!;
      return [d, withHostLead(entry, d, leads.get(entry.host)!)];
    })),
    skipped,
  };
}
