/**
 * The guard every test, benchmark and tool runs before a HAProxy of theirs can start: each address that
 * HAProxy would connect to (servers and their health checks, `addr`, peers, resolvers, mailers, syslog
 * targets) must be on this machine — 127.0.0.0/8 or ::1 — or named in an explicit allow-list (addresses
 * inside network namespaces the test itself created). Anything else is refused before HAProxy starts,
 * naming the address: the machines this project is built on have no network, and traffic off them is a
 * fault of the project. The same check runs on the cluster objects the test API server serves (the
 * addresses a daemon under test turns into servers, at start and on every later change).
 *
 * The product (`haconfd run`) never calls this: it routes wherever its cluster says.
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import type { JsonObject } from "./kube_objects.ts";

/** Options of the guard's checks. */
export interface TrafficGuardOptions {
  /**
   * Addresses allowed beside loopback: only those of network namespaces the caller created (e.g.
   * `["10.99.0.2", "10.99.0.3"]`), each named explicitly. @default {[]}
   */
  allow?: readonly string[];
}

/** An address found in a config or a cluster object, and where. */
export interface FoundAddress {
  /** The address as written (host part only). */
  address: string;
  /** Where it was found, e.g. `line 12: server web-1 10.0.0.1:80 check`. */
  where: string;
}

/** A config or cluster object that would send traffic off the machine; `address` names the culprit. */
export class OffMachineAddressError extends Error {
  /** The refused address. */
  readonly address: string;
  /** Creates the error for `found`. */
  constructor(found: FoundAddress) {
    super(
      `Refusing to start HAProxy for a test or tool: "${found.address}" is not on this machine (127.0.0.0/8, ::1) nor in the allow-list of test network namespaces (${found.where})`,
    );
    this.name = "OffMachineAddressError";
    this.address = found.address;
  }
}

/** Address prefixes that name no network peer (unix sockets, inherited fds, rings). */
const LOCAL_PREFIXES = ["unix@", "abns@", "fd@", "sockpair@", "ring@", "/"];
/** Address family prefixes HAProxy accepts in front of a network address. */
const FAMILY_PREFIX = /^(?:ipv4|ipv6|udp|udp4|udp6|tcp|tcp4|tcp6|quic4|quic6)@/;
/** Log targets that are no address. */
const LOG_KEYWORDS = new Set(["global", "stdout", "stderr"]);

function canonical(address: string): string | undefined {
  const bare = address.replace(/^\[(.*)\]$/, "$1");
  if (!ipaddr.isValid(bare)) return undefined;
  return ipaddr.process(bare).toString();
}

/** Whether `address` is loopback (127.0.0.0/8, ::1, their IPv4-mapped form) or in `allow`. */
export function isLocalAddress(address: string, options: TrafficGuardOptions = {}): boolean {
  const { allow = [] } = options;
  if (address === "localhost") return true;
  const normal = canonical(address);
  if (normal === undefined) return false; // a name: resolving it may already leave the machine
  if (ipaddr.process(normal).range() === "loopback") return true;
  return allow.some((a) => canonical(a) === normal);
}

/**
 * The host parts HAProxy may read from an address token (`10.0.0.1:80`, `[::1]:80`, `ipv6@::1`): without
 * brackets HAProxy cuts the port at the last colon, so both readings of an unbracketed IPv6 token are
 * returned and both must pass. Empty for unix sockets and file descriptors.
 */
export function hostsOf(token: string): string[] {
  if (LOCAL_PREFIXES.some((p) => token.startsWith(p))) return [];
  const bare = token.replace(FAMILY_PREFIX, "");
  const bracketed = /^\[([^\]]*)\]/.exec(bare);
  if (bracketed !== null) return [bracketed[1]!];
  const colon = bare.lastIndexOf(":");
  if (colon < 0) return [bare];
  const host = bare.slice(0, colon);
  return host.includes(":") ? [...new Set([bare, host])] : [host];
}

/** The index of the address token on a line starting with `keyword` (undefined: none there). */
function addressIndex(words: readonly string[]): number | undefined {
  switch (words[0]) {
    case "server":
    case "peer":
    case "nameserver":
    case "mailer":
      return 2;
    case "server-template":
      return 3;
    case "log":
      return LOG_KEYWORDS.has(words[1] ?? "global") ? undefined : 1;
    default:
      return undefined;
  }
}

/** Every address a HAProxy config names as a peer to connect to, with its line. */
export function configAddresses(text: string): FoundAddress[] {
  const found: FoundAddress[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const words = raw.trim().split(/\s+/);
    const comment = words.findIndex((w) => w.startsWith("#"));
    if (comment >= 0) words.length = comment;
    const where = `line ${i + 1}: ${raw.trim()}`;
    const index = addressIndex(words);
    const tokens = index === undefined ? [] : [words[index]];
    // `addr` (health checks elsewhere) on a server or on default-server.
    if (words[0] === "server" || words[0] === "default-server") {
      words.forEach((w, j) => w === "addr" && tokens.push(words[j + 1]));
    }
    for (const token of tokens) {
      if (token === undefined || token === "") continue;
      for (const address of hostsOf(token)) found.push({ address, where });
    }
  }
  return found;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * The addresses a cluster object hands a daemon as servers: Endpoints' (ready and not) addresses,
 * EndpointSlices' endpoint addresses, Nodes' IP addresses.
 */
export function clusterAddresses(resource: string, object: unknown): FoundAddress[] {
  const meta = field(object, "metadata");
  const where = `${resource} ${String(field(meta, "namespace") ?? "-")}/${
    String(field(meta, "name") ?? "?")
  }`;
  const ips: unknown[] = [];
  if (resource === "endpoints") {
    for (const subset of list(field(object, "subsets"))) {
      for (const a of [...list(field(subset, "addresses")), ...list(field(subset, "notReadyAddresses"))]) {
        ips.push(field(a, "ip"));
      }
    }
  } else if (resource === "endpointslices") {
    for (const endpoint of list(field(object, "endpoints"))) ips.push(...list(field(endpoint, "addresses")));
  } else if (resource === "nodes") {
    for (const a of list(field(field(object, "status"), "addresses"))) {
      if (/IP$/.test(String(field(a, "type")))) ips.push(field(a, "address"));
    }
  }
  return ips.filter((ip): ip is string => typeof ip === "string").map((address) => ({ address, where }));
}

/** Throws {@linkcode OffMachineAddressError} for the first address that is not local nor allowed. */
export function assertLocalAddresses(
  found: readonly FoundAddress[],
  options: TrafficGuardOptions = {},
): void {
  const bad = found.find((f) => !isLocalAddress(f.address, options));
  if (bad !== undefined) throw new OffMachineAddressError(bad);
}

/**
 * Refuses a HAProxy config that would connect anywhere but this machine (and the allowed addresses).
 *
 * @example
 * ```ts
 * assertLocalConfig(await Deno.readTextFile(path)); // before spawning haproxy -f path
 * ```
 * @throws {OffMachineAddressError} Naming the first such address and its line.
 */
export function assertLocalConfig(text: string, options: TrafficGuardOptions = {}): void {
  assertLocalAddresses(configAddresses(text), options);
}

/**
 * The test API server's admission check (its `admit` option): refuses an object whose addresses a daemon
 * under test would send traffic to off the machine.
 */
export function localClusterAdmission(
  options: TrafficGuardOptions = {},
): (resource: string, object: JsonObject) => void {
  return (resource, object) => assertLocalAddresses(clusterAddresses(resource, object), options);
}
