/**
 * The pieces tests/docker_test.ts runs: whether this machine can run the Docker tests (and why not), the
 * "kind node" stand-in container (tests/docker/kind_node.ts) with its kubeconfig, and small helpers to
 * wait on containers.
 *
 * @module
 */
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { freePort, waitFor } from "../support/haproxy.ts";
import { testCerts } from "../support/certs.ts";
import { type JsonObject } from "../../lib/demo/kube_server.ts";
import { ROOT, run, which } from "../support/process.ts";
import { DOCKER, docker } from "./images.ts";
import type { NodeConfig } from "./kind_node.ts";

/** Why the Docker tests cannot run here, or undefined when they can. */
export async function dockerUnavailable(): Promise<string | undefined> {
  const told = Deno.env.get("HACONFD_DOCKER_SKIP");
  if (told) return told;
  if (Deno.uid() !== 0) return "not root (debootstrap and the Docker engine need root)";
  for (const tool of ["debootstrap", "docker-compose", "kubectl"]) {
    if (!which(tool)) return `"${tool}" is not installed (tools/test.sh installs it from apt as root)`;
  }
  const info = await run(DOCKER, ["version", "--format", "{{.Server.Version}}"]).catch((e) => ({
    code: 1,
    stdout: "",
    stderr: String(e),
  }));
  if (info.code !== 0) {
    return `no Docker engine answers (${
      info.stderr.trim().split("\n")[0]
    }); tools/test.sh starts one with tests/docker/engine.sh`;
  }
  return undefined;
}

/** A loopback address with free ports for a scenario (every 127/8 address is local on Linux). */
export function ports(hostname: string, count: number): number[] {
  return Array.from({ length: count }, () => freePort(hostname));
}

/** The running kind node stand-in. */
export interface KindNode extends AsyncDisposable {
  /** Container name (KIND_NODE). */
  readonly name: string;
  /** Host directory with kubeconfig, CA, token (bind-mounted at /work in the node). */
  readonly dir: string;
  /** Kubeconfig for the API server (CA + token), usable by kubectl and haconfd alike. */
  readonly kubeconfig: string;
  /** The API server's URL. */
  readonly apiUrl: string;
  /** CA of the API server's certificate (PEM). */
  readonly caCert: string;
  /** The bearer token the API server accepts. */
  readonly token: string;
  /** Runs kubectl against the node's API server; rejects with its output when it fails. */
  kubectl(args: string[]): Promise<string>;
  /** Stops and removes the container and the directory. */
  close(): Promise<void>;
}

/** Options of {@linkcode startKindNode}. */
export interface KindNodeOptions {
  /** Container name. */
  name: string;
  /** Image with a glibc userland (the Debian base). */
  image: string;
  /** The backends (pods): name, loopback address, port. */
  backends: NodeConfig["backends"];
  /** Endpoints objects existing at start. */
  endpoints: JsonObject[];
}

/**
 * Starts the kind node stand-in: a container in the host's network namespace (no bridge here) running
 * tests/docker/kind_node.ts with the pinned Deno and the repository mounted read-only.
 */
export async function startKindNode(options: KindNodeOptions): Promise<KindNode> {
  const certs = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "haconfd-kind-node-" });
  const token = crypto.randomUUID();
  const apiPort = freePort("127.0.0.1");
  const apiUrl = `https://127.0.0.1:${apiPort}`;
  const caCert = certs.caCert;
  try {
    await Deno.writeTextFile(join(dir, "server.crt"), certs.serverCert);
    await Deno.writeTextFile(join(dir, "server.key"), certs.serverKey);
    await Deno.writeTextFile(join(dir, "ca.crt"), caCert);
    await Deno.writeTextFile(join(dir, "token"), token);
    const config: NodeConfig = {
      api: { certFile: "/work/server.crt", keyFile: "/work/server.key", port: apiPort, token },
      backends: options.backends,
      endpoints: options.endpoints,
    };
    await Deno.writeTextFile(join(dir, "node.json"), JSON.stringify(config));
    const kubeconfig = join(dir, "kubeconfig");
    await Deno.writeTextFile(kubeconfig, kubeconfigText(apiUrl, caCert, token));
    // Readable by the containers' users (compose mounts it read-only into haconfd).
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(kubeconfig, 0o644);
    await run(DOCKER, ["rm", "-f", options.name]);
    const denoDir = await run("bash", [join(ROOT, "tools/deno"), "info", "--json"]).then((r) =>
      JSON.parse(r.stdout).denoDir as string
    );
    await docker([
      "run",
      "-d",
      "--name",
      options.name,
      "--network",
      "host",
      "-v",
      `${ROOT}:/src:ro`,
      "-v",
      `${dir}:/work`,
      "-v",
      `${join(ROOT, "tools/toolchain/node_modules/@deno/linux-x64-glibc/deno")}:/usr/local/bin/deno:ro`,
      "-v",
      `${denoDir}:/deno-dir:ro`,
      "-e",
      "DENO_DIR=/deno-dir",
      "-e",
      "DENO_NO_UPDATE_CHECK=1",
      options.image,
      "deno",
      "run",
      "--allow-all",
      "--no-check",
      "--cached-only",
      "/src/tests/docker/kind_node.ts",
      "/work/node.json",
    ]);
    const name = options.name;
    await waitFor(async () => {
      if (await Deno.stat(join(dir, "ready")).then(() => true, () => false)) return true;
      const state = await docker(["inspect", "-f", "{{.State.Running}}", name]);
      if (state !== "true") {
        throw new Error(`the kind node stand-in exited: ${(await run(DOCKER, ["logs", name])).stderr}`);
      }
      return false;
    }, { timeoutMs: 30_000, what: `kind node stand-in ${name} to serve the API and the backends` });
    const kubectl = async (args: string[]) => {
      const res = await run("kubectl", ["--kubeconfig", kubeconfig, ...args]);
      if (res.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${res.stderr}`);
      return res.stdout;
    };
    const close = async () => {
      await run(DOCKER, ["rm", "-f", name]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await certs.dispose();
    };
    return { name, dir, kubeconfig, apiUrl, caCert, token, kubectl, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await run(DOCKER, ["rm", "-f", options.name]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await certs.dispose();
    throw error;
  }
}

function kubeconfigText(server: string, ca: string, token: string): string {
  const caData = Buffer.from(ca).toString("base64");
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "stand-in", cluster: { server, "certificate-authority-data": caData } }],
    users: [{ name: "haconfd", user: { token } }],
    contexts: [{ name: "stand-in", context: { cluster: "stand-in", user: "haconfd" } }],
    "current-context": "stand-in",
  });
}

/** An annotated Endpoints object `namespace/name` with one ready address per subset. */
export function annotatedEndpoints(
  namespace: string,
  name: string,
  domain: string,
  pods: Array<{ ip: string; port: number }>,
): JsonObject {
  return {
    metadata: { name, namespace, annotations: { domain, proto: "http" } },
    subsets: pods.map((p) => ({
      addresses: [{ ip: p.ip }],
      ports: [{ name: "http", port: p.port, protocol: "TCP" }],
    })),
  };
}

/** Waits until `container`'s healthcheck reports `healthy` (fails at once on `unhealthy`). */
export function waitHealthy(container: string, timeoutMs = 60_000): Promise<true> {
  return waitFor(async () => {
    const status = await docker(["inspect", "-f", "{{.State.Health.Status}}", container]);
    if (status === "unhealthy") throw new Error(`container ${container} is unhealthy`);
    return status === "healthy" ? (true as const) : false;
  }, { timeoutMs, intervalMs: 500, what: `the healthcheck of ${container} to report healthy` });
}
