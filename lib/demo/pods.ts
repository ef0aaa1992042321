/**
 * The demo's pods: one small backend per pod on its 127.0.0.x address, all pods of a service on one
 * port (an Endpoints subset lists one port set for all its addresses). HTTP pods answer their name, TLS
 * pods present a certificate for it, TCP pods answer `NAME` with it (and echo other lines).
 *
 * @module
 */
import { type Backend, startHttpBackend, startRedisBackend, startTlsBackend } from "./backends.ts";
import type { DemoPod, PodKind } from "./cluster.ts";

const PORT_ATTEMPTS = 5;

function startPod(kind: PodKind, pod: DemoPod, port: number): Promise<Backend> {
  const options = { hostname: pod.ip, port };
  if (kind === "http") return startHttpBackend(pod.name, options);
  if (kind === "tls") return startTlsBackend(pod.name, options);
  return startRedisBackend(pod.name, options);
}

/**
 * Starts a backend for each pod on one port: `port` when given (a pod joining a running service), else
 * a free one, tried again elsewhere when an address has it taken.
 */
export async function startPods(kind: PodKind, pods: readonly DemoPod[], port = 0): Promise<Backend[]> {
  let lastError: unknown;
  for (let attempt = 0; attempt < (port === 0 ? PORT_ATTEMPTS : 1); attempt++) {
    const started: Backend[] = [];
    try {
      for (const pod of pods) started.push(await startPod(kind, pod, started[0]?.port ?? port));
      return started;
    } catch (error) {
      lastError = error;
      await Promise.all(started.map((b) => b.close()));
    }
  }
  throw new Error(`Cannot start the demo pods ${pods.map((p) => `${p.name} (${p.ip})`).join(", ")}`, {
    cause: lastError,
  });
}
