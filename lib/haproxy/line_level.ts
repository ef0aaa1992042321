/**
 * The level haconfd logs a line of HAProxy's stderr at: HAProxy's own tag (`[ALERT]` error, `[WARNING]`
 * warn, else info), except for lines that report what haconfd or the cluster did on purpose.
 *
 * @module
 */

/** A log level for one HAProxy line. */
export type HaproxyLineLevel = "error" | "warn" | "info";

/** What the line is about, where known: the backend without servers, or the server changing state. */
export interface HaproxyLineVerdict {
  /** The level to log at. */
  level: HaproxyLineLevel;
  /** The backend the line names (`backend '…' has no server available!`, `Server <backend>/<server> …`). */
  backend?: string;
  /** The server the line names, without its backend (`Server <backend>/<server> …`). */
  server?: string;
}

/** HAProxy 2.6 names a `listen` section a proxy, a `backend` section a backend. */
const NO_SERVER = /(?:backend|proxy) '([^']+)' has no server available!/;
/** HAProxy 2.6's lines about one server, `CLI : ` first when written in reply to a command. */
const SERVER_LINE = /^\[[A-Z]+\]\s*\(\d+\)\s*:\s*(?:CLI : )?(?:Backup )?Server ([^/\s]+)\/(\S+) (.*)$/;
/**
 * What follows the server's name after the state changes haconfd makes through the Runtime API (`set server
 * … state ready|maint` after `add server`, before `del server`). A cause in parentheses (`going DOWN for
 * maintenance (No IP for server)`) is HAProxy's own doing, and so is a health check's `is DOWN, reason: …`.
 */
const ADMIN_CHANGE =
  /^(?:is UP\/READY \(leaving forced maintenance\)|is going DOWN for maintenance|was DOWN and now enters maintenance)\./;
/** The master's lines while it stops because haconfd asked it to (SIGTERM or SIGUSR1). */
const STOPPING = [
  /Current worker \(\d+\) exited with code \d+/,
  /Exiting Master process/,
  /All workers exited/,
];

/**
 * The level of `line`. `stopping`: haconfd is stopping HAProxy, so its workers' exit codes (143 after
 * SIGTERM) are the stop it asked for, not a fault. A backend left without servers (a scale to zero, pods
 * not ready) is the cluster's state, which the status page shows: a warning naming the backend. A server
 * entering or leaving maintenance is haconfd applying a pod change: info. Lines about a server name it and
 * its backend; a health check's verdict keeps HAProxy's tag.
 */
export function haproxyLineLevel(line: string, stopping: boolean): HaproxyLineVerdict {
  const text = line.trimStart();
  const noServer = NO_SERVER.exec(text);
  if (noServer !== null) return { level: "warn", backend: noServer[1]! };
  const server = SERVER_LINE.exec(text);
  if (server !== null) {
    const level = ADMIN_CHANGE.test(server[3]!) ? "info" : tagLevel(text);
    return { level, backend: server[1]!, server: server[2]! };
  }
  if (stopping && STOPPING.some((re) => re.test(text))) return { level: "info" };
  return { level: tagLevel(text) };
}

function tagLevel(text: string): HaproxyLineLevel {
  if (text.startsWith("[ALERT]")) return "error";
  if (text.startsWith("[WARNING]")) return "warn";
  return "info";
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
