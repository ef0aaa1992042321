/**
 * Test harness for the real HAProxy: writes a config into a temp dir, starts `haproxy -W -S` in the
 * foreground on free 127.0.0.1 ports, waits until it listens, and always stops it again.
 *
 * @module
 */

import { join } from "node:path";
import { masterCommand, parseShowProc } from "../../lib/haproxy/master_cli.ts";
import { assertLocalConfig, type TrafficGuardOptions } from "../../lib/demo/traffic_guard.ts";
import type { Applier } from "../../lib/apply/apply.ts";
import { missingDependency, terminate } from "./process.ts";

/** The haproxy binary the tests use (`HAPROXY_BIN` overrides). */
export const HAPROXY_BINARY: string = Deno.env.get("HAPROXY_BIN") ?? "haproxy";

let available: boolean | undefined;

/**
 * Whether the haproxy binary runs here. The first negative answer writes a notice to stderr, so skipped
 * tests say why: use as `Deno.test({ ignore: !haproxyAvailable(), ... })`.
 */
export function haproxyAvailable(): boolean {
  if (available !== undefined) return available;
  try {
    available =
      new Deno.Command(HAPROXY_BINARY, { args: ["-v"], stdout: "null", stderr: "null" }).outputSync()
        .success;
  } catch {
    available = false;
  }
  if (!available) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `haproxy ("${HAPROXY_BINARY}") is not installed: skipping tests that need it\n`,
      ),
    );
    missingDependency("haproxy");
  }
  return available;
}

/** The first port of the kernel's ephemeral range: outgoing connections take their local ports from it. */
function ephemeralStart(): number {
  try {
    const [start] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/);
    return Number(start) || 32768;
  } catch {
    return 32768;
  }
}

const EPHEMERAL_START = ephemeralStart();
const handedOut = new Set<number>();

/**
 * A free TCP port on `hostname`, chosen at random below the kernel's ephemeral range and checked by binding
 * it. Not a port-0 pick: those come from the ephemeral range, where any client connection of this or a
 * concurrent test run (a watch, a keep-alive, a health check) may hold the same number as its local port
 * for minutes, and HAProxy then cannot bind it. A small race with another process choosing the same port
 * in the same moment remains.
 */
export function freePort(hostname = "127.0.0.1"): number {
  const low = 10_000, high = Math.min(EPHEMERAL_START, 32_768);
  for (let attempt = 0; high - low > 1000 && attempt < 1000; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname, port }).close();
    } catch {
      continue;
    }
    handedOut.add(port);
    return port;
  }
  const listener = Deno.listen({ hostname, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Polls `predicate` until it returns true (or a value other than false/undefined). */
export async function waitFor<T>(
  predicate: () => Promise<T | false | undefined> | T | false | undefined,
  { timeoutMs = 10_000, intervalMs = 50, what = "condition" } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await predicate();
      if (value !== false && value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
}

/** Resolves once a TCP connection to `hostname:port` succeeds. */
export function waitForPort(port: number, hostname = "127.0.0.1", timeoutMs = 10_000): Promise<true> {
  return waitFor(async () => {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true as const;
  }, { timeoutMs, what: `${hostname}:${port} to listen` });
}

/** Global and defaults sections suitable for tests (one thread, short timeouts). */
export const BASE_CONFIG = `global
  nbthread 1
  log stderr format raw local0 notice

defaults
  log global
  timeout connect 2s
  timeout client 10s
  timeout server 10s
`;

/** {@linkcode BASE_CONFIG} and a frontend `f` on 127.0.0.1:`port` answering every request with a 200. */
export function answeringConfig(port: number): string {
  return `${BASE_CONFIG}
frontend f
  mode http
  bind 127.0.0.1:${port}
  http-request return status 200
`;
}

/** A running HAProxy started by {@linkcode startHaproxy}. */
export interface HaproxyInstance extends AsyncDisposable {
  /** Temp dir holding the config and the master socket (removed by `stop()`). */
  readonly dir: string;
  /** The config file HAProxy loads. */
  readonly configPath: string;
  /** The master CLI unix socket. */
  readonly masterSocket: string;
  /** Pid of the master process. */
  readonly pid: number;
  /** Everything HAProxy wrote to stdout/stderr so far. */
  logs(): string;
  /** Replaces the config file (not reloaded); refused like the first config when it leaves the machine. */
  writeConfig(text: string): Promise<void>;
  /** Whether the master process has exited. */
  exited(): boolean;
  /** Stops HAProxy (SIGTERM, SIGKILL after 5 s) and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startHaproxy}; `allow` names addresses of test-made network namespaces. */
export interface StartHaproxyOptions extends TrafficGuardOptions {
  /** Ports on 127.0.0.1 to wait for before returning. @default {[]} */
  waitFor?: number[];
  /** Extra haproxy arguments before `-f`. @default {[]} */
  extraArgs?: string[];
  /** Time to wait for the master socket and the ports. @default {10000} */
  timeoutMs?: number;
  /** Files the config names (map files), written at their absolute paths before HAProxy starts. @default {[]} */
  files?: readonly { path: string; text: string }[];
}

/**
 * Starts HAProxy in master-worker mode with `config`, waits until the master socket exists and the
 * `waitFor` ports accept connections. A config whose servers (or checks, peers, log targets) are not on
 * this machine nor in `allow` is refused before anything starts (`OffMachineAddressError`).
 *
 * @example
 * ```ts
 * const port = freePort();
 * await using haproxy = await startHaproxy(`${BASE_CONFIG}\nfrontend f\n  mode http\n  bind 127.0.0.1:${port}\n  http-request return status 200\n`, { waitFor: [port] });
 * ```
 */
export async function startHaproxy(
  config: string,
  options: StartHaproxyOptions = {},
): Promise<HaproxyInstance> {
  const { waitFor: ports = [], extraArgs = [], timeoutMs = 10_000, allow = [] } = options;
  assertLocalConfig(config, { allow });
  const dir = await Deno.makeTempDir({ prefix: "haconfd-haproxy-" });
  const configPath = join(dir, "haproxy.cfg");
  const masterSocket = join(dir, "master.sock");
  await Deno.writeTextFile(configPath, config);
  for (const file of options.files ?? []) await Deno.writeTextFile(file.path, file.text);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(HAPROXY_BINARY, {
      args: ["-W", "-S", `${masterSocket},mode,600`, ...extraArgs, "-f", configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  let output = "";
  const decoder = new TextDecoder();
  async function collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  }
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let hasExited = false;
  void child.status.then(() => {
    hasExited = true;
  });
  let stopped: Promise<void> | undefined;
  const instance: HaproxyInstance = {
    dir,
    configPath,
    masterSocket,
    pid: child.pid,
    logs: () => output,
    async writeConfig(text) {
      assertLocalConfig(text, { allow });
      await Deno.writeTextFile(configPath, text);
    },
    exited: () => hasExited,
    stop() {
      stopped ??= (async () => {
        await terminate(child, 5_000);
        await drained;
        await Deno.remove(dir, { recursive: true });
      })();
      return stopped;
    },
    [Symbol.asyncDispose]() {
      return instance.stop();
    },
  };
  try {
    const outcome = await waitFor(async () => {
      if (hasExited) return "exited";
      // The master installs its signal handlers late (a SIGUSR2 sent before is lost): wait until its CLI
      // answers with a worker, which happens only once its event loop runs.
      const table = parseShowProc(
        await masterCommand({ transport: "unix", path: masterSocket }, "show proc"),
      );
      if (table.workers.length === 0) return undefined;
      for (const port of ports) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
      }
      return "ready";
    }, { timeoutMs, what: `the master socket and ports ${ports.join(", ")}` });
    if (outcome === "exited") throw new Error("haproxy exited during startup");
  } catch (error) {
    await instance.stop();
    throw new Error(`Cannot start haproxy: ${output.trim()}`, { cause: error });
  }
  return instance;
}

/**
 * Writes a config for a HAProxy the test starts itself (e.g. through `startManagedHaproxy`), refused like
 * {@linkcode startHaproxy}'s when an address in it is not on this machine nor in `allow`.
 */
export async function writeHaproxyConfig(
  path: string,
  text: string,
  options: TrafficGuardOptions = {},
): Promise<void> {
  assertLocalConfig(text, options);
  await Deno.writeTextFile(path, text);
}

/**
 * `applier` whose every apply first passes the traffic guard, for tests that drive a real HAProxy through
 * an Applier (the runtime path adds servers without any restart the harness could check).
 */
export function guardApplier(applier: Applier, options: TrafficGuardOptions = {}): Applier {
  return {
    apply(text, applyOptions) {
      assertLocalConfig(text, options);
      return applier.apply(text, applyOptions);
    },
    installed: () => applier.installed(),
    reloadPending: () => applier.reloadPending(),
  };
}

/** Where {@linkcode routingConfig} sends each kind of traffic. */
export interface RoutingTargets {
  /** HTTP frontend port and the backend address that `Host: app.test` goes to. */
  http?: { listen: number; server: string };
  /** TLS passthrough frontend port and the backend address that SNI `svc.test` goes to. */
  tls?: { listen: number; server: string };
  /** TCP (redis) listen port and its backend address. */
  tcp?: { listen: number; server: string };
}

/**
 * A small config exercising the three kinds of frontends haconfd renders: HTTP routed by Host, TLS
 * passed through by SNI, plain TCP. Addresses are `host:port`.
 */
export function routingConfig(targets: RoutingTargets): string {
  const parts = [BASE_CONFIG];
  if (targets.http !== undefined) {
    parts.push(`frontend http_in
  mode http
  bind 127.0.0.1:${targets.http.listen}
  http-request return status 404 content-type text/plain string "no route\\n" unless { hdr(host),field(1,:) -i app.test }
  use_backend be_http

backend be_http
  mode http
  server s1 ${targets.http.server}
`);
  }
  if (targets.tls !== undefined) {
    parts.push(`frontend tls_in
  mode tcp
  bind 127.0.0.1:${targets.tls.listen}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend be_tls if { req_ssl_sni -i svc.test }

backend be_tls
  mode tcp
  server s1 ${targets.tls.server}
`);
  }
  if (targets.tcp !== undefined) {
    parts.push(`listen tcp_in
  mode tcp
  bind 127.0.0.1:${targets.tcp.listen}
  server s1 ${targets.tcp.server}
`);
  }
  return parts.join("\n");
}

/** The rows of HAProxy's `show stat` CSV, each as column name → value. */
export function showStatRows(csv: string): Record<string, string>[] {
  const [header, ...rows] = csv.trim().split("\n");
  const columns = (header ?? "").replace(/^# /, "").split(",");
  return rows.map((row) => row.split(","))
    .map((cells) => Object.fromEntries(columns.map((column, i) => [column, cells[i] ?? ""])));
}
