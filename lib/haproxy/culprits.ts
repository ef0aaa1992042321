/**
 * Traces a reload that failed after a successful check (`haproxy -c` cannot see ports that another
 * program holds) to the objects that caused it, from HAProxy's own alert: 2.6 says
 * `Binding [haproxy.cfg:42] for proxy tcp_redis_x: cannot bind socket (Address already in use) for [127.0.0.1:6379]`,
 * older releases `Starting proxy tcp_redis_x: cannot bind socket (Address already in use) [127.0.0.1:6379]`.
 *
 * @module
 */
import type { Model } from "../model.ts";

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
