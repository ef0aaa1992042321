/**
 * A synthetic cluster of any size for the scale benchmark: annotated Endpoints objects as the API server
 * returns them (3 addresses each by default), a mix of http, https and TCP (redis) services.
 *
 * @module
 */
import type { JsonObject } from "../lib/demo/kube_server.ts";

const PROTOS = ["http", "http", "http", "https", "redis"] as const;

/** The i-th object's address n, changed by `version` (every version moves the addresses). */
function address(i: number, n: number, version: number): string {
  return `127.${(i >> 8) & 255}.${i & 255}.${(n + 1 + version * 3) % 250 + 1}`;
}

/**
 * Endpoints object `i` of a synthetic cluster: domain `svc-<i>.example.test`, `addresses` ready
 * addresses on port 8080, its addresses shifted by `version` (so each version is a real change).
 */
export function clusterObject(i: number, addresses = 3, version = 0): JsonObject {
  const proto = PROTOS[i % PROTOS.length]!;
  return {
    metadata: {
      name: `svc-${i}`,
      namespace: `ns-${i % 20}`,
      labels: { app: `svc-${i}`, "app.kubernetes.io/part-of": "bench" },
      annotations: {
        domain: `svc-${i}.example.test`,
        proto,
        ...(proto === "redis" ? { "haconfd.io/listen-port": String(10000 + i) } : {}),
        "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(300),
      },
    },
    subsets: [{
      addresses: Array.from({ length: addresses }, (_, n) => ({
        ip: address(i, n, version),
        nodeName: `node-${n}`,
        targetRef: { kind: "Pod", namespace: `ns-${i % 20}`, name: `svc-${i}-pod-${n}` },
      })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    }],
  };
}

/** The `n` objects of a synthetic cluster. */
export function cluster(n: number, addresses = 3): JsonObject[] {
  return Array.from({ length: n }, (_, i) => clusterObject(i, addresses));
}
