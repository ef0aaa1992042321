/**
 * A resolved API connection for client and watcher tests: plain server URLs, no credentials.
 *
 * @module
 */
import type { Connection } from "../../lib/source/kube/auth.ts";

/** A connection to `servers` with no CA, certificate or token; `extra` overrides any field. */
export function plainConnection(servers: string[], extra: Partial<Connection> = {}): Connection {
  return {
    servers,
    caCerts: [],
    caSource: "the system roots",
    insecureSkipTlsVerify: false,
    origin: "test",
    ...extra,
  };
}
