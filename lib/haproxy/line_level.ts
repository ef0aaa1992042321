/**
 * The level haconfd logs a line of HAProxy's stderr at: HAProxy's own tag (`[ALERT]` error, `[WARNING]`
 * warn, else info), except for alerts that report what haconfd or the cluster did on purpose.
 *
 * @module
 */

/** A log level for one HAProxy line. */
export type HaproxyLineLevel = "error" | "warn" | "info";

/** What the line is about, where known: the backend without servers. */
export interface HaproxyLineVerdict {
  /** The level to log at. */
  level: HaproxyLineLevel;
  /** The backend the line names (`backend '…' has no server available!`). */
  backend?: string;
}

/** HAProxy 2.6 names a `listen` section a proxy, a `backend` section a backend. */
const NO_SERVER = /(?:backend|proxy) '([^']+)' has no server available!/;
/** The master's lines while it stops because haconfd asked it to (SIGTERM or SIGUSR1). */
const STOPPING = [
  /Current worker \(\d+\) exited with code \d+/,
  /Exiting Master process/,
  /All workers exited/,
];

/**
 * The level of `line`. `stopping`: haconfd is stopping HAProxy, so its workers' exit codes (143 after
 * SIGTERM) are the stop it asked for, not a fault. A backend left without servers (a scale to zero, pods
 * not ready) is the cluster's state, which the status page shows: a warning naming the backend.
 */
export function haproxyLineLevel(line: string, stopping: boolean): HaproxyLineVerdict {
  const text = line.trimStart();
  const noServer = NO_SERVER.exec(text);
  if (noServer !== null) return { level: "warn", backend: noServer[1]! };
  if (stopping && STOPPING.some((re) => re.test(text))) return { level: "info" };
  if (text.startsWith("[ALERT]")) return { level: "error" };
  if (text.startsWith("[WARNING]")) return { level: "warn" };
  return { level: "info" };
}

/**
 * The domain whose backend (or TCP `listen` section) is `backend`: the default templates name them
 * `be_<id>` and `tcp_<id>` after the domain's id, so the name is the id or ends with `_<id>`.
 */
export function backendDomain(
  domains: Readonly<Record<string, { readonly id: string }>>,
  backend: string,
): string | undefined {
  for (const [domain, { id }] of Object.entries(domains)) {
    if (backend === id || backend.endsWith(`_${id}`)) return domain;
  }
  return undefined;
}
