/**
 * Fixtures of the backend-mode nodeport tests: Node, Service, EndpointSlice and Endpoints objects for the test API
 * server, and small servers on 127.0.0.x that play a node's kube-proxy health check port.
 *
 * @module
 */
import type { JsonObject } from "../../lib/demo/kube_objects.ts";
import { NAMESPACE } from "./daemon.ts";

/** A Node whose InternalIP is `ip`, Ready or not, with `labels`. */
export function nodeObject(
  name: string,
  ip: string,
  ready: boolean,
  labels: Record<string, string> = {},
): JsonObject {
  return {
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...labels } },
    status: {
      conditions: [readyCondition(ready)],
      addresses: [{ type: "InternalIP", address: ip }, { type: "Hostname", address: name }],
    },
  };
}

/** The Ready condition as a kubelet writes it. */
export function readyCondition(ready: boolean): JsonObject {
  return ready
    ? { type: "Ready", status: "True", reason: "KubeletReady", message: "kubelet is posting ready status" }
    : { type: "Ready", status: "False", reason: "KubeletNotReady", message: "container runtime is down" };
}

/** A Service in {@linkcode NAMESPACE} routed to `domain` (proto http), with one port `http` at `nodePort`. */
export function serviceObject(
  name: string,
  domain: string,
  spec: { type: string; nodePort?: number; externalTrafficPolicy?: string; healthCheckNodePort?: number },
  annotations: Record<string, string> = {},
): JsonObject {
  const { nodePort, ...rest } = spec;
  return {
    metadata: { name, namespace: NAMESPACE, annotations: { domain, proto: "http", ...annotations } },
    spec: {
      ...rest,
      selector: { app: name },
      ports: [{ name: "http", port: 80, targetPort: 8080, ...(nodePort === undefined ? {} : { nodePort }) }],
    },
  };
}

/** An EndpointSlice of Service `service`: ready endpoints `ip` on node `node`, port `http` at `port`. */
export function sliceObject(
  service: string,
  endpoints: { ip: string; node: string }[],
  port: number,
): JsonObject {
  return {
    metadata: {
      name: `${service}-1`,
      namespace: NAMESPACE,
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    endpoints: endpoints.map(({ ip, node }) => ({
      addresses: [ip],
      conditions: { ready: true },
      nodeName: node,
    })),
    ports: [{ name: "http", port, protocol: "TCP" }],
  };
}

/**
 * An Endpoints object in {@linkcode NAMESPACE} routed to `domain` (proto http, plus `annotations`): ready
 * addresses `ip` on node `node`, port `http` at `port`.
 */
export function endpointsObject(
  name: string,
  domain: string,
  endpoints: { ip: string; node: string }[],
  port: number,
  annotations: Record<string, string> = {},
): JsonObject {
  return {
    metadata: { name, namespace: NAMESPACE, annotations: { domain, proto: "http", ...annotations } },
    subsets: [{
      addresses: endpoints.map(({ ip, node }) => ({ ip, nodeName: node })),
      ports: [{ name: "http", port, protocol: "TCP" }],
    }],
  };
}

/** kube-proxy's health check servers of some nodes: `GET /healthz` answers each node's current status. */
export interface HealthChecks extends AsyncDisposable {
  /** The port (the Service's healthCheckNodePort), the same on every node. */
  readonly port: number;
  /** Sets what a node answers: 200 (local endpoints) or 503 (none). */
  set(node: string, status: 200 | 503): void;
  /** Requests a node's server has answered. */
  hits(node: string): number;
  close(): Promise<void>;
}

/** Health check servers for `nodes` (name → 127.0.0.x address) on one free port; all answer 503 at first. */
export async function startHealthChecks(nodes: Record<string, string>): Promise<HealthChecks> {
  const status = new Map<string, number>();
  const hits = new Map<string, number>();
  const controller = new AbortController();
  const servers: Deno.HttpServer[] = [];
  let port = 0;
  for (const [node, hostname] of Object.entries(nodes)) {
    status.set(node, 503);
    const ready = Promise.withResolvers<number>();
    servers.push(
      Deno.serve(
        { hostname, port, signal: controller.signal, onListen: (a) => ready.resolve(a.port) },
        () => {
          hits.set(node, (hits.get(node) ?? 0) + 1);
          const code = status.get(node) ?? 503;
          return new Response(JSON.stringify({ localEndpoints: code === 200 ? 1 : 0 }), { status: code });
        },
      ),
    );
    port = await ready.promise;
  }
  const checks: HealthChecks = {
    port,
    set: (node, code) => void status.set(node, code),
    hits: (node) => hits.get(node) ?? 0,
    async close() {
      controller.abort();
      await Promise.all(servers.map((s) => s.finished));
    },
    [Symbol.asyncDispose]: () => checks.close(),
  };
  return checks;
}
