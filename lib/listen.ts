/**
 * Listen addresses (`host:port`) as the status endpoint and the demo bind them.
 *
 * @module
 */

/** A parsed listen address. */
export interface ListenAddress {
  /** Host to bind (`0.0.0.0` for `*` or an empty host). */
  hostname: string;
  /** Port (0 = any free port). */
  port: number;
  /** Whether the host is a loopback address. */
  loopback: boolean;
}

/** Whether a host name or address is loopback: `localhost`, 127.0.0.0/8, `::1`, `::ffff:127.x.x.x`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1" || /^(0{0,4}:){7}0{0,3}1$/.test(h)) return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Parses `host:port`, `[v6]:port`, `*:port` or `:port`; a malformed address throws a `TypeError`. */
export function parseListen(listen: string): ListenAddress {
  const at = listen.lastIndexOf(":");
  const portText = listen.slice(at + 1);
  const port = Number(portText);
  if (at < 0 || !/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new TypeError(`Invalid listen address "${listen}": expected HOST:PORT like 127.0.0.1:9180`);
  }
  let host = listen.slice(0, at);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "" || host === "*") host = "0.0.0.0";
  if (/:$/.test(host)) host = host.replace(/:+$/, "") === "" ? "::" : host;
  return { hostname: host, port, loopback: isLoopback(host) };
}
