/**
 * Literal Kubernetes objects and endpoint sets for unit tests.
 *
 * @module
 */
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import type { DaemonState } from "../../lib/record/state.ts";
import { initialStatus } from "../../lib/source/source.ts";

/** Options of {@linkcode endpointsObject}. */
export interface EndpointsFixture {
  namespace?: string;
  name: string;
  annotations?: Record<string, string>;
  ready?: string[];
  notReady?: string[];
  ports?: { name?: string; port: number }[];
  created?: string;
}

/** A v1 Endpoints object as the API (or kubectl) returns it. */
export function endpointsObject(f: EndpointsFixture): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    name: f.name,
    namespace: f.namespace ?? "default",
    uid: `uid-${f.name}`,
    resourceVersion: "100",
    creationTimestamp: f.created ?? "2026-01-01T00:00:00Z",
  };
  if (f.annotations) metadata.annotations = f.annotations;
  const subset: Record<string, unknown> = {
    ports: (f.ports ?? [{ name: "http", port: 8080 }]).map((p) => ({ ...p, protocol: "TCP" })),
  };
  if (f.ready?.length) subset.addresses = f.ready.map((ip) => ({ ip }));
  if (f.notReady?.length) subset.notReadyAddresses = f.notReady.map((ip) => ({ ip }));
  return { kind: "Endpoints", apiVersion: "v1", metadata, subsets: [subset] };
}

/** A `kubectl get endpoints -A -o json` style list. */
export function endpointsList(...items: Record<string, unknown>[]): Record<string, unknown> {
  return { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items };
}

/** An endpoint set with one group. */
export function endpointSet(
  name: string,
  annotations: Record<string, string>,
  ready: string[] = ["10.0.0.1"],
  options: {
    namespace?: string;
    created?: string;
    ports?: { name: string; port: number }[];
    notReady?: string[];
  } = {},
): EndpointSet {
  return {
    namespace: options.namespace ?? "default",
    name,
    created: options.created ?? "2026-01-01T00:00:00Z",
    annotations,
    groups: [{
      ports: options.ports ?? [{ name: "http", port: 8080 }],
      addresses: [
        ...ready.map((ip) => ({ ip, ready: true })),
        ...(options.notReady ?? []).map((ip) => ({ ip, ready: false })),
      ],
    }],
  };
}

/**
 * Every per-service setting that keeps "/" routed to its service (no path): the runtime benchmark's and
 * the settings tests' "service using every setting". Its pods must read the PROXY v2 header
 * (`startHttpBackends(names, { proxyProtocol: true })`).
 */
export const EVERY_SETTING: Readonly<Record<string, string>> = {
  "haconfd.io/balance": "hdr(X-User)",
  "haconfd.io/timeout-connect": "2s",
  "haconfd.io/timeout-server": "30s",
  "haconfd.io/timeout-tunnel": "1h",
  "haconfd.io/maxconn": "100",
  "haconfd.io/check-path": "/healthz",
  "haconfd.io/check-status": "200-399",
  "haconfd.io/check-interval": "500ms",
  "haconfd.io/allow": "127.0.0.0/8",
  "haconfd.io/sticky": "true",
  "haconfd.io/send-proxy": "v2",
};

/** The record of a fresh daemon at `now` (nothing synced, installed or passed yet), with `extra` over it. */
export function daemonState(now: number, extra: Partial<DaemonState> = {}): DaemonState {
  return {
    version: "1.2.3",
    startedAt: now - 90_400,
    heartbeatAt: now,
    source: initialStatus("file", "/tmp/sets.json", "endpoints"),
    config: { path: "/etc/haproxy/haproxy.cfg", installedHash: null, renderedHash: null },
    ready: { ok: false, reason: "" },
    domains: {},
    skipped: [],
    applies: [],
    lastCheck: null,
    lastReload: null,
    lastSuccessAt: null,
    reloadMode: "none",
    ...extra,
  };
}

/**
 * A routed set in `namespace` with pods by name → IP on one port, ready unless listed in `draining`
 * (terminating but serving).
 */
export function podService(
  namespace: string,
  name: string,
  annotations: Record<string, string>,
  port: number,
  pods: Record<string, string>,
  draining: string[] = [],
): EndpointSet {
  return {
    namespace,
    name,
    created: "2026-01-01T00:00:00Z",
    annotations,
    groups: [{
      ports: [{ name: "main", port }],
      addresses: Object.entries(pods).map(([target, ip]) =>
        draining.includes(target) ? { ip, ready: false, target, draining: true } : { ip, ready: true, target }
      ),
    }],
  };
}
