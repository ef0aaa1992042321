/**
 * HAProxy's rows matched to domains: which backend is a domain's, and the backend rows summed up for
 * /status, the page and /metrics. Pure.
 *
 * @module
 */
import type { Domain } from "../model/model.ts";
import type { BackendRow, HaproxyView } from "../haproxy/view.ts";

/**
 * The names a domain's backend may have, the likeliest first: `be_<id>` (HTTP, HTTPS) or `tcp_<id>` (a TCP
 * service's `listen`) in the default templates, `<id>` alone in templates of one's own.
 */
export function backendNames(domain: Domain): string[] {
  const [first, second] = domain.listenPort === null ? ["be_", "tcp_"] : ["tcp_", "be_"];
  return [`${first}${domain.id}`, `${second}${domain.id}`, domain.id];
}

/** HAProxy's row of a domain's backend; undefined when HAProxy was not read or has no such backend. */
export function backendOf(domain: Domain, haproxy: HaproxyView | null): BackendRow | undefined {
  if (!haproxy || haproxy.error !== null) return undefined;
  for (const name of backendNames(domain)) {
    if (Object.hasOwn(haproxy.backends, name)) return haproxy.backends[name];
  }
  return undefined;
}

/** HAProxy's backends summed up: how many in each status, and the servers that can take traffic. */
export interface BackendTotals {
  /** Backends by status (UP, DOWN). */
  backends: Record<string, number>;
  /** Servers that can take traffic, over all backends (each backend's `act` + `bck`). */
  usableServers: number;
}

/** Sums up HAProxy's backend rows. */
export function backendTotals(haproxy: HaproxyView): BackendTotals {
  const backends: Record<string, number> = {};
  let usableServers = 0;
  for (const name in haproxy.backends) {
    const row = haproxy.backends[name]!;
    backends[row.status] = (backends[row.status] ?? 0) + 1;
    usableServers += row.usable;
  }
  return { backends, usableServers };
}
