/**
 * Traces a reload that failed after a successful check (`haproxy -c` cannot see ports that another
 * program holds) to the objects that caused it, from HAProxy's own alert: 2.6 says
 * `Binding [haproxy.cfg:42] for proxy tcp_redis_x: cannot bind socket (Address already in use) for [127.0.0.1:6379]`,
 * older releases `Starting proxy tcp_redis_x: cannot bind socket (Address already in use) [127.0.0.1:6379]`.
 *
 * @module
 */
import type { Model } from "../model/model.ts";

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
 * The TCP services whose listen port another program holds, found before HAProxy is asked to bind it:
 * ports the installed config binds are HAProxy's own and not probed. A reload that fails anyway (the
 * port taken in between) is traced by {@linkcode reloadCulprits}.
 */
export function busyListenPorts(
  model: Pick<Model, "domains">,
  installed: string | undefined,
  bindAddress: string,
  busy: (address: string, port: number) => boolean = portBusy,
): Culprit[] {
  const held = boundPorts(installed);
  const culprits: Culprit[] = [];
  for (const [domain, d] of Object.entries(model.domains)) {
    if (d.listenPort === null || held.has(d.listenPort) || !busy(bindAddress, d.listenPort)) continue;
    culprits.push({
      object: `${d.namespace}/${d.name}`,
      domain,
      reason:
        `listen port ${d.listenPort} on ${bindAddress} is held by another program; skipped so that the other services stay up`,
    });
  }
  return culprits.sort((a, b) => a.object.localeCompare(b.object));
}
