/**
 * Traces a reload that failed after a successful check (`haproxy -c` cannot see ports that another
 * program holds) to the objects that caused it, from HAProxy's own alert: 2.6 says
 * `Binding [haproxy.cfg:42] for proxy tcp_redis_x: cannot bind socket (Address already in use) for [127.0.0.1:6379]`,
 * older releases `Starting proxy tcp_redis_x: cannot bind socket (Address already in use) [127.0.0.1:6379]`.
 *
 * @module
 */
import type { Model } from "../model/model.ts";
import type { ListenPorts } from "../model/store.ts";

/** An object whose part of the config HAProxy could not load. */
export interface Culprit {
  /** `namespace/name` of the object. */
  object: string;
  /** The domain it claims. */
  domain: string;
  /** Why it is skipped, quoting HAProxy. */
  reason: string;
}

const BIND_FAILURE =
  /(?:for proxy|Starting (?:proxy|frontend|listener))\s+([^\s:]+)\s*:\s*cannot bind socket([^[\n]*)\[([^\]\n]+)\]/g;

/** The port of an address as HAProxy prints it (`127.0.0.1:6379`, `[::1]:6379`, `:::6379`). */
function portOf(address: string): number | undefined {
  const match = /:(\d{1,5})$/.exec(address.trim());
  return match ? Number(match[1]) : undefined;
}

/**
 * The objects of `model` that HAProxy's `output` (alerts of a failed reload or start) blames: a TCP
 * service whose listen port or proxy could not bind. A bind of haconfd's own frontends blames nobody
 * (empty list): that failure is not a tenant's doing.
 *
 * @example
 * ```ts
 * reloadCulprits("[ALERT] ... for proxy tcp_redis_x: cannot bind socket (Address already in use) for [127.0.0.1:6379]", model);
 * // [{ object: "cache/redis", domain: "redis.example.test", reason: "HAProxy cannot bind listen port 6379 ..." }]
 * ```
 */
export function reloadCulprits(output: string, model: Pick<Model, "domains">): Culprit[] {
  const found = new Map<string, Culprit>();
  for (const match of output.matchAll(BIND_FAILURE)) {
    const [, proxy = "", why = "", address = ""] = match;
    const port = portOf(address);
    const cause = why.replace(/\bfor\s*$/, "").trim().replace(/^\((.*)\)$/, "$1");
    for (const [domain, d] of Object.entries(model.domains)) {
      const byPort = d.listenPort !== null && d.listenPort === port;
      const byProxy = proxy !== "" && (proxy === d.id || proxy.endsWith(`_${d.id}`));
      if (!byPort && !byProxy) continue;
      const object = `${d.namespace}/${d.name}`;
      found.set(object, {
        object,
        domain,
        reason: `HAProxy cannot listen on ${address} for proxy ${proxy}${
          cause === "" ? "" : ` (${cause})`
        }; skipped so that the other services stay up`,
      });
    }
  }
  return [...found.values()].sort((a, b) => a.object.localeCompare(b.object));
}

/** The ports an installed config binds (`bind ADDR:PORT` lines): HAProxy holds them already. */
export function boundPorts(installed: string | undefined): Set<number> {
  const ports = new Set<number>();
  for (const match of (installed ?? "").matchAll(/^\s*bind\s+\S*:(\d{1,5})\b/gm)) ports.add(Number(match[1]));
  return ports;
}

/** Whether `port` on `address` is held by another program: bind it for a moment (the address in use). */
export function portBusy(address: string, port: number): boolean {
  try {
    Deno.listen({ hostname: address === "*" || address === "" ? "0.0.0.0" : address, port }).close();
    return false;
  } catch (error) {
    // Only "in use" says another program holds it; e.g. a privileged port may still be HAProxy's to take.
    return error instanceof Deno.errors.AddrInUse;
  }
}

/**
 * The local ports of this network namespace's TCP sockets (`/proc/net/tcp` and `tcp6`), or null where they
 * cannot be read (not Linux). A port no socket has cannot be in use, so only the others need a bind to
 * tell: at start-up with thousands of listen ports, one read instead of a bind each. The table lists
 * listening and connected sockets; one only bound (never `listen()`ed) is not in it, and a reload that
 * fails on such a port is traced by {@linkcode reloadCulprits}, as one taken between probe and reload is.
 */
export function socketPorts(read: (path: string) => string = Deno.readTextFileSync): Set<number> | null {
  const ports = new Set<number>();
  for (const path of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      // No tcp6 table: IPv6 is off, no socket to find there.
      if (path.endsWith("6") && error instanceof Deno.errors.NotFound) continue;
      return null;
    }
    for (const match of text.matchAll(/^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s/gim)) {
      ports.add(parseInt(match[1]!, 16));
    }
  }
  // No socket at all (haconfd holds its API connection): a table this kernel does not fill in.
  return ports.size === 0 ? null : ports;
}

/**
 * From how many new listen ports the socket table is read instead of binding each: the table lists every
 * connection too (tens of thousands on a busy HAProxy host), so a few binds cost less than reading it.
 */
export const SOCKET_TABLE_FROM = 32;

/** The installed config as the loop knows it: its hash, and its text (read only when needed). */
export interface InstalledConfig {
  /** Its sha256 (hex), which identifies it cheaply; null when unknown (then it is read every time it is needed). */
  hash: string | null;
  /** Its text (undefined while there is none). */
  text(): string | undefined;
}

/** The listen ports of a model without a store's index: one walk over its domains. */
export function listenPortsOf(model: Pick<Model, "domains">): ListenPorts {
  const ports = new Map<number, string>();
  for (const [name, d] of Object.entries(model.domains)) {
    if (d.listenPort !== null) ports.set(d.listenPort, name);
  }
  return { ports, version: 0, domain: (name) => model.domains[name] };
}

/**
 * The TCP services whose listen port another program holds, found before HAProxy is asked to bind it:
 * ports the installed config binds are HAProxy's own and not probed. A reload that fails anyway (the
 * port taken in between) is traced by {@linkcode reloadCulprits}. One probe of the model's every port; the
 * daemon keeps a {@linkcode ListenPortProbe}, which probes only what a change needs.
 */
export function busyListenPorts(
  model: Pick<Model, "domains">,
  installed: string | undefined,
  bindAddress: string,
  busy: (address: string, port: number) => boolean = portBusy,
): Culprit[] {
  return new ListenPortProbe(bindAddress, busy).culprits({ model }, {
    hash: null,
    text: () => installed,
  });
}

/** The culprit whose listen port another program holds. */
function portCulprit(index: ListenPorts, domain: string, port: number, bindAddress: string): Culprit {
  const d = index.domain(domain);
  return {
    object: d === undefined ? domain : `${d.namespace}/${d.name}`,
    domain,
    reason:
      `listen port ${port} on ${bindAddress} is held by another program; skipped so that the other services stay up`,
  };
}

/**
 * {@linkcode busyListenPorts} pass after pass at the cost of what changed. A listen port is checked when
 * it enters the model: clear when the installed config binds it (HAProxy's own) or a probe finds it free,
 * it is not probed again while it stays in the model (HAProxy is about to bind it; a reload that fails
 * anyway, the port taken in between, is traced by {@linkcode reloadCulprits}); found busy, it is probed
 * again at the next call (its object is normally quarantined by then). The listen ports are walked only
 * when their version moves (lib/model/store.ts keeps them): an endpoint change costs nothing here. The
 * installed config is read at the first call, and later only when a probe finds a port busy (is it
 * HAProxy's?), once per installed config.
 *
 * @example
 * ```ts
 * const probe = new ListenPortProbe("0.0.0.0");
 * const culprits = probe.culprits(generated, {
 *   hash: installedHash,
 *   text: () => applier.installed(),
 * });
 * ```
 */
export class ListenPortProbe {
  readonly #bindAddress: string;
  readonly #busy: (address: string, port: number) => boolean;
  readonly #sockets: () => ReadonlySet<number> | null;
  /** Ports of the model checked since they entered it (held by the installed config, or found free). */
  #checked = new Set<number>();
  /** The ports the installed config last read binds, by its hash. */
  #bound: { hash: string | null; ports: Set<number> } | null = null;
  /** The last answer and the listen ports it was given for. */
  #last: { ports: ReadonlyMap<number, string>; version: number; culprits: Culprit[] } | null = null;

  /**
   * A probe binding `bindAddress` (the TCP services' bind address) with `busy`, only for the ports that
   * `sockets` (read once per call) says some socket has; with a `busy` of its own, every port is bound.
   */
  constructor(
    bindAddress: string,
    busy: (address: string, port: number) => boolean = portBusy,
    sockets: () => ReadonlySet<number> | null = busy === portBusy ? socketPorts : () => null,
  ) {
    this.#bindAddress = bindAddress;
    this.#busy = busy;
    this.#sockets = sockets;
  }

  /**
   * The services of a generation whose listen port another program holds, given the installed config:
   * from the listen ports the generator keeps, else (a model without a store) from the model's domains.
   */
  culprits(
    generated: { model: Pick<Model, "domains">; listenPorts?: ListenPorts },
    installed: InstalledConfig,
  ): Culprit[] {
    const index = generated.listenPorts ?? listenPortsOf(generated.model);
    const last = this.#last;
    if (last !== null && last.ports === index.ports && last.version === index.version) {
      return [...last.culprits];
    }
    const checked = new Set<number>();
    const culprits: Culprit[] = [];
    let fresh = 0;
    for (const port of index.ports.keys()) if (!this.#checked.has(port)) fresh++;
    const clear = this.#clearer(installed, last === null, fresh >= SOCKET_TABLE_FROM);
    for (const [port, domain] of index.ports) {
      if (this.#checked.has(port) || clear(port)) checked.add(port);
      else culprits.push(portCulprit(index, domain, port, this.#bindAddress));
    }
    culprits.sort((a, b) => a.object.localeCompare(b.object));
    this.#checked = checked; // a port that left the model is checked again when it comes back
    this.#last = { ports: index.ports, version: index.version, culprits };
    return [...culprits];
  }

  /**
   * Whether no program but HAProxy (for the installed config) holds a port. The config is read at most
   * once: first when `readFirst` (at the first call every port is new, and a previous run's config may
   * bind them all), else only to tell whose a busy port is — reading megabytes costs more than a probe.
   * With `table`, only the ports the socket table lists are bound (it is read at the first one).
   */
  #clearer(installed: InstalledConfig, readFirst: boolean, table: boolean): (port: number) => boolean {
    let bound = readFirst ? this.#boundBy(installed) : this.#readAlready(installed);
    let sockets: ReadonlySet<number> | null | undefined = table ? undefined : null;
    const busy = (port: number) => {
      if (sockets === undefined) sockets = this.#sockets();
      return (sockets === null || sockets.has(port)) && this.#busy(this.#bindAddress, port);
    };
    return (port) => {
      if (bound !== undefined) return bound.has(port) || !busy(port);
      if (!busy(port)) return true;
      bound = this.#boundBy(installed);
      return bound.has(port);
    };
  }

  /** The ports the installed config binds, if it has been read already. */
  #readAlready(installed: InstalledConfig): Set<number> | undefined {
    const bound = this.#bound;
    return bound !== null && installed.hash !== null && bound.hash === installed.hash
      ? bound.ports
      : undefined;
  }

  /** The ports the installed config binds, read once per installed config (by its hash). */
  #boundBy(installed: InstalledConfig): Set<number> {
    const known = this.#readAlready(installed);
    if (known !== undefined) return known;
    const ports = boundPorts(installed.text());
    this.#bound = { hash: installed.hash, ports };
    return ports;
  }
}
