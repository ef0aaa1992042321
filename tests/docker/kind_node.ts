/**
 * Entry script of the "kind node" stand-in container (tests/docker_test.ts): in the node's network
 * namespace it serves the project's Kubernetes test API server over TLS (lib/demo/kube_server.ts,
 * the one every kube test uses) with a bearer token, and small HTTP backends on 127.0.0.x that stand in
 * for the pods. Run with `deno run --allow-all --no-check tests/docker/kind_node.ts CONFIG.json`; it
 * writes `ready` (a file beside CONFIG) once everything listens and runs until SIGTERM.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { z } from "zod";
import { type Backend, startHttpBackend } from "../../lib/demo/backends.ts";
import { type JsonObject, startKubeServer } from "../../lib/demo/kube_server.ts";
import { localClusterAdmission } from "../../lib/demo/traffic_guard.ts";

/** What the test hands the node (a JSON file). */
export const NodeConfig = z.object({
  /** API server: TLS certificate and key files, port on 127.0.0.1, accepted token. */
  api: z.object({ certFile: z.string(), keyFile: z.string(), port: z.number(), token: z.string() }),
  /** Backends: name (answered as the body and `x-backend`), loopback address, port. */
  backends: z.array(z.object({ name: z.string(), hostname: z.string(), port: z.number() })),
  /** Endpoints objects existing when the API server starts. */
  endpoints: z.array(z.record(z.string(), z.unknown())),
});
/** See {@linkcode NodeConfig}. */
export type NodeConfig = z.infer<typeof NodeConfig>;

async function main(path: string): Promise<void> {
  const config = NodeConfig.parse(JSON.parse(await Deno.readTextFile(path)));
  const api = await startKubeServer({
    tls: {
      cert: await Deno.readTextFile(config.api.certFile),
      key: await Deno.readTextFile(config.api.keyFile),
    },
    tokens: { [config.api.token]: "haconfd" },
    objects: { endpoints: config.endpoints as JsonObject[] },
    port: config.api.port,
    // The haconfd and HAProxy containers share the host's network: their servers must be local.
    admit: localClusterAdmission(),
  });
  const backends: Backend[] = [];
  for (const b of config.backends) {
    backends.push(await startHttpBackend(b.name, { hostname: b.hostname, port: b.port }));
  }
  await Deno.writeTextFile(join(dirname(path), "ready"), `${api.url}\n`);
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
  await Promise.all([api.close(), ...backends.map((b) => b.close())]);
}

if (import.meta.main) {
  const [path] = Deno.args;
  if (path === undefined) throw new Error("usage: kind_node.ts CONFIG.json");
  await main(path);
}
