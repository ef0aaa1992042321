/**
 * Runs `haconfd run` as a subprocess exactly as a user does (`deno run --allow-all main.ts run …`) for
 * end-to-end tests: free 127.0.0.1 ports for the frontends and the status server, a temp dir for the
 * config, JSON log lines collected and searchable, and a stop that always sends SIGTERM and checks that
 * no HAProxy process of this daemon is left.
 *
 * ```ts
 * await using daemon = await startDaemonProcess({ apiServer: kube.url });
 * await daemon.waitReady();
 * const answer = await httpGet(daemon.ports.http, "grafana.example.test");
 * await daemon.waitForLog((l) => l.msg === "haproxy reloaded");
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { z } from "zod";
import { type Backend, httpGet, startHttpBackend } from "../../lib/demo/backends.ts";
import { startProxyHttpBackend } from "./proxy_backend.ts";
import { freePort, waitFor } from "./haproxy.ts";
import { type JsonObject, type KubeServer, startKubeServer } from "../../lib/demo/kube_server.ts";
import { signalQuietly, terminate } from "./process.ts";
import {
  assertLocalAddresses,
  clusterAddresses,
  localClusterAdmission,
  type TrafficGuardOptions,
} from "../../lib/demo/traffic_guard.ts";
import { V8_FLAGS } from "../../tools/compile.ts";

const ROOT = new URL("../../", import.meta.url);
const decoder = new TextDecoder();

/** One log line of the daemon (JSON), or `{ msg: <raw text>, raw: true }` for anything else. */
export type LogLine = Record<string, unknown> & { msg?: unknown };

/**
 * Options of {@linkcode startDaemonProcess}; `allow` names addresses of test-made network namespaces
 * that the cluster may hold beside loopback ones.
 */
export interface DaemonProcessOptions extends TrafficGuardOptions {
  /** `--api-servers` URL (the fake API server). */
  apiServer: string;
  /** Start and supervise HAProxy (`--haproxy-run`). @default {true} */
  haproxyRun?: boolean;
  /** Where the config is installed. @default {`<temp dir>/haproxy.cfg`} */
  haproxyConf?: string;
  /** `--wait`. @default {"50ms:500ms"} */
  wait?: string;
  /** More arguments, appended last (they win over the defaults above where repeated). */
  args?: string[];
  /** Wait for `/readyz` to answer 200 before returning. @default {true} */
  waitReady?: boolean;
  /** How long to wait for readiness. @default {20000} */
  readyTimeoutMs?: number;
}

/** What a run of haconfd to completion produced. */
export interface CompletedRun {
  /** Exit code. */
  code: number;
  /** Standard output (diffs of a dry run). */
  stdout: string;
  /** Log lines (standard error), parsed. */
  logs: LogLine[];
}

/** A running `haconfd run`. */
export interface DaemonProcess extends AsyncDisposable {
  /** Pid of the daemon (deno). */
  readonly pid: number;
  /**
   * `performance.now()` when it was spawned, after the traffic guard's check of the cluster (a list of every
   * object, which benchmarks must not count as the daemon's start-up).
   */
  readonly spawnedAt: number;
  /** Temp dir of this daemon (removed by `stop()`). */
  readonly dir: string;
  /** The installed config's path. */
  readonly configPath: string;
  /** Ports on 127.0.0.1: HTTP and HTTPS frontends, status server. */
  readonly ports: { http: number; https: number; status: number };
  /** Base URL of the status server. */
  readonly statusUrl: string;
  /** Every log line so far. */
  logs(): LogLine[];
  /** Log lines whose `msg` equals `msg`. */
  logsWith(msg: string): LogLine[];
  /** Standard output so far. */
  stdout(): string;
  /** Resolves with the first line (from index `from`, default 0) matching `match`; rejects after the timeout. */
  waitForLog(
    match: (line: LogLine) => boolean,
    options?: { from?: number; timeoutMs?: number },
  ): Promise<LogLine>;
  /** GET a path of the status server: status code and body text. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** `/status` as JSON. */
  status(): Promise<Record<string, unknown>>;
  /** Polls `/readyz` until it answers `want` (200 by default); resolves with its body. */
  waitReady(options?: { want?: number; timeoutMs?: number }): Promise<string>;
  /** Pid of the managed HAProxy master from the last "haproxy started" log line. */
  haproxyPid(): number | undefined;
  /** Pids of live processes running HAProxy on this daemon's config (`-f <config>`: master and workers). */
  haproxyProcesses(): Promise<number[]>;
  /** Sends a signal to the daemon. */
  kill(signal: Deno.Signal): void;
  /** Resolves with the exit status once the daemon has exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /**
   * Sends SIGTERM (SIGKILL after 15 s), waits for the exit, checks (with `--haproxy-run`) that no HAProxy
   * process on this daemon's config remains (killing leftovers and throwing if one does) and removes the
   * temp dir.
   * Resolves with the exit status; safe to call twice.
   */
  stop(): Promise<Deno.CommandStatus>;
}

function parseLine(line: string): LogLine {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as LogLine;
  } catch {
    // not JSON
  }
  return { msg: line, raw: true };
}

/** Calls `onLine` with each non-blank line of `stream` (UTF-8) until it ends. */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream) {
    const parts = (rest + decoder.decode(chunk, { stream: true })).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) if (line.trim() !== "") onLine(line);
  }
  rest += decoder.decode();
  if (rest.trim() !== "") onLine(rest);
}

/** Pids of live (not zombie) processes whose command line contains `needle` (Linux /proc). */
export async function processesNaming(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).replaceAll("\0", " ");
      if (!cmdline.includes(needle)) continue;
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z" && state !== "X") pids.push(Number(entry.name));
    } catch {
      // the process went away while reading
    }
  }
  return pids;
}

/** Whether a process with this pid is alive (not a zombie). */
export async function pidAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** HACONFD_PROF=DIR (benchmarks): each daemon writes a CPU profile into DIR when it exits. */
function spawnHaconfd(args: string[]): Deno.ChildProcess {
  const profileDir = Deno.env.get("HACONFD_PROF");
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `--v8-flags=${V8_FLAGS.join(",")}`,
      ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
      "main.ts",
      ...args,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Runs `haconfd ARGS` (e.g. `["run", "--once", …]`) to completion and returns its exit code, output and
 * parsed log lines. Killed (SIGKILL) after `timeoutMs`.
 */
export async function runHaconfd(args: string[], timeoutMs = 30_000): Promise<CompletedRun> {
  const child = spawnHaconfd(args);
  const timer = setTimeout(() => signalQuietly(child, "SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    const logs = decoder.decode(out.stderr).split("\n").filter((l) => l.trim() !== "").map(parseLine);
    return { code: out.code, stdout: decoder.decode(out.stdout), logs };
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@linkcode runOnce}. */
export interface RunOnceOptions {
  /** `--api-servers` URL. */
  apiServer: string;
  /** `--haproxy-conf`. */
  haproxyConf: string;
  /** More arguments (e.g. `--dry-run`, `--haproxy-reload-cmd`, `--template-dir`). */
  args?: string[];
}

/**
 * Runs `haconfd run --once` to completion: frontends on free 127.0.0.1 ports, `--status-listen off`,
 * `--log-format json`, the reload command `true` unless `args` names another.
 */
export function runOnce(options: RunOnceOptions): Promise<CompletedRun> {
  const { apiServer, haproxyConf, args = [] } = options;
  return runHaconfd([
    "run",
    "--once",
    "--api-servers",
    apiServer,
    "--haproxy-conf",
    haproxyConf,
    "--http-bind",
    `127.0.0.1:${freePort()}`,
    "--https-bind",
    `127.0.0.1:${freePort()}`,
    "--tcp-bind-address",
    "127.0.0.1",
    "--status-listen",
    "off",
    "--log-format",
    "json",
    ...(args.includes("--haproxy-reload-cmd") ? [] : ["--haproxy-reload-cmd", "true"]),
    ...args,
  ]);
}

/** The cluster lists whose addresses a daemon turns into servers (a 404: the server has no such resource). */
const ClusterList = z.object({ items: z.array(z.unknown()).nullish() });
const CLUSTER_LISTS = {
  endpoints: "/api/v1/endpoints",
  endpointslices: "/apis/discovery.k8s.io/v1/endpointslices",
  nodes: "/api/v1/nodes",
};

/**
 * Refuses to go on when the API server at `apiServer` serves an address a daemon would send traffic to
 * off this machine (see lib/demo/traffic_guard.ts); later writes are refused by the server itself when
 * it was started by {@linkcode startKube}.
 */
export async function assertLocalCluster(
  apiServer: string,
  options: TrafficGuardOptions = {},
): Promise<void> {
  for (const [resource, path] of Object.entries(CLUSTER_LISTS)) {
    const res = await fetch(`${apiServer}${path}`, { signal: AbortSignal.timeout(10_000) });
    if (res.status === 404) {
      await res.body?.cancel();
      continue;
    }
    if (!res.ok) throw new Error(`Cannot check the cluster's addresses: GET ${path} answered ${res.status}`);
    const { items } = ClusterList.parse(await res.json());
    for (const item of items ?? []) assertLocalAddresses(clusterAddresses(resource, item), options);
  }
}

/**
 * Starts `haconfd run` against `apiServer` with the end-to-end defaults: `--haproxy-run`, the config in a
 * fresh temp dir, `--http-bind`/`--https-bind`/`--status-listen` on free 127.0.0.1 ports,
 * `--tcp-bind-address 127.0.0.1`, `--wait 50ms:500ms`, `--min-reload-interval 200ms`, `--log-format json`.
 * Before it starts, the cluster's addresses must be on this machine or in `allow`
 * ({@linkcode assertLocalCluster}). Waits for `/readyz` unless told not to; on any start-up failure the
 * daemon is stopped again.
 */
export async function startDaemonProcess(options: DaemonProcessOptions): Promise<DaemonProcess> {
  await assertLocalCluster(options.apiServer, options);
  const {
    apiServer,
    haproxyRun = true,
    wait = "50ms:500ms",
    args: extra = [],
    waitReady: shouldWait = true,
    readyTimeoutMs = 20_000,
  } = options;
  const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-" });
  const configPath = options.haproxyConf ?? join(dir, "haproxy.cfg");
  const ports = { http: freePort(), https: freePort(), status: freePort() };
  const statusUrl = `http://127.0.0.1:${ports.status}`;
  const args = [
    "run",
    "--api-servers",
    apiServer,
    ...(haproxyRun ? ["--haproxy-run"] : []),
    "--haproxy-conf",
    configPath,
    "--http-bind",
    `127.0.0.1:${ports.http}`,
    "--https-bind",
    `127.0.0.1:${ports.https}`,
    "--tcp-bind-address",
    "127.0.0.1",
    "--status-listen",
    `127.0.0.1:${ports.status}`,
    "--wait",
    wait,
    "--min-reload-interval",
    "200ms",
    "--log-format",
    "json",
    ...extra,
  ];
  let child: Deno.ChildProcess;
  const spawnedAt = performance.now();
  try {
    child = spawnHaconfd(args);
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const lines: LogLine[] = [];
  let out = "";
  const listeners = new Set<() => void>();
  const drained = Promise.all([
    readLines(child.stderr, (line) => {
      lines.push(parseLine(line));
      for (const listener of listeners) listener();
    }),
    (async () => {
      for await (const chunk of child.stdout) out += decoder.decode(chunk, { stream: true });
    })(),
  ]);
  let hasExited = false;
  const exited = child.status.then((status) => {
    hasExited = true;
    for (const listener of listeners) listener();
    return status;
  });
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });

  async function get(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`${statusUrl}${path}`, { client, signal: AbortSignal.timeout(5_000) });
    return { status: res.status, body: await res.text() };
  }

  function describe(): string {
    return lines.slice(-30).map((l) => JSON.stringify(l)).join("\n");
  }

  let stopping: Promise<Deno.CommandStatus> | undefined;
  const daemon: DaemonProcess = {
    pid: child.pid,
    spawnedAt,
    dir,
    configPath,
    ports,
    statusUrl,
    logs: () => [...lines],
    logsWith: (msg) => lines.filter((l) => l.msg === msg),
    stdout: () => out,
    waitForLog(match, { from = 0, timeoutMs = 10_000 } = {}) {
      return new Promise<LogLine>((resolve, reject) => {
        let checked = from;
        function check(): void {
          for (; checked < lines.length; checked++) {
            const line = lines[checked]!;
            if (match(line)) return done(() => resolve(line));
          }
          if (hasExited) {
            done(() => reject(new Error(`haconfd exited before the log line came:\n${describe()}`)));
          }
        }
        function done(settle: () => void): void {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        }
        const timer = setTimeout(() => {
          done(() =>
            reject(
              new Error(`Timed out after ${timeoutMs} ms waiting for a log line; last lines:\n${describe()}`),
            )
          );
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    get,
    async status() {
      const { status, body } = await get("/status");
      if (status !== 200) throw new Error(`GET /status answered ${status}: ${body}`);
      return JSON.parse(body) as Record<string, unknown>;
    },
    async waitReady({ want = 200, timeoutMs = readyTimeoutMs } = {}) {
      try {
        return await waitFor(async () => {
          if (hasExited) throw new Error("haconfd exited");
          const { status, body } = await get("/readyz");
          return status === want ? body : undefined;
        }, { timeoutMs, what: `/readyz to answer ${want}` });
      } catch (error) {
        throw new Error(`${(error as Error).message}; last log lines:\n${describe()}`, { cause: error });
      }
    },
    haproxyPid() {
      const started = lines.filter((l) => l.msg === "haproxy started").at(-1);
      return typeof started?.pid === "number" ? started.pid : undefined;
    },
    haproxyProcesses: () => processesNaming(`-f ${configPath}`),
    kill(signal) {
      child.kill(signal);
    },
    exited,
    stop() {
      stopping ??= (async () => {
        const status = await terminate(child, 15_000);
        await drained;
        client.close();
        let left: number[] = [];
        if (haproxyRun) {
          try {
            left = await waitFor(async () => {
              const pids = await daemon.haproxyProcesses();
              return pids.length === 0 ? [] : undefined;
            }, { timeoutMs: 5_000, what: "the managed HAProxy to exit" });
          } catch {
            left = await daemon.haproxyProcesses();
            for (const pid of left) {
              try {
                Deno.kill(pid, "SIGKILL");
              } catch {
                // gone meanwhile
              }
            }
          }
        }
        await Deno.remove(dir, { recursive: true });
        if (left.length > 0) {
          throw new Error(`HAProxy processes ${left.join(", ")} outlived haconfd (killed now)`);
        }
        return status;
      })();
      return stopping;
    },
    [Symbol.asyncDispose]: async () => {
      await daemon.stop();
    },
  };

  if (shouldWait) {
    try {
      await daemon.waitReady();
    } catch (error) {
      await daemon.stop().catch(() => {});
      throw error;
    }
  }
  return daemon;
}

// ------------------------------------------------------------------------- fixtures of the e2e tests

/** Namespace of the objects the end-to-end tests create. */
export const NAMESPACE = "e2e";

/** A v1 Endpoints object in {@linkcode NAMESPACE}: `ips` ready on `port` (named `main`). */
export function endpoints(
  name: string,
  annotations: Record<string, string>,
  ips: string[],
  port: number,
): JsonObject {
  const subset: JsonObject = { ports: [{ name: "main", port, protocol: "TCP" }] };
  if (ips.length > 0) subset.addresses = ips.map((ip) => ({ ip }));
  return {
    metadata: { name, namespace: NAMESPACE, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    subsets: [subset],
  };
}

/**
 * The fake API server (plain HTTP on 127.0.0.1, no auth) holding `objects` as Endpoints; it refuses any
 * object (now or written later) with an address off this machine that `allow` does not name.
 */
export function startKube(objects: JsonObject[], options: TrafficGuardOptions = {}): Promise<KubeServer> {
  return startKubeServer({ objects: { endpoints: objects }, admit: localClusterAdmission(options) });
}

/**
 * HTTP backends named `names` on 127.0.0.2, 127.0.0.3, … all on one port (an Endpoints subset has one
 * port list for all its addresses); retried on another port when one address has it taken. With
 * `proxyProtocol` each reads the PROXY header HAProxy sends (`send-proxy`) before its HTTP.
 */
export async function startHttpBackends(
  names: string[],
  options: { proxyProtocol?: boolean } = {},
): Promise<{ backends: Backend[]; port: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const backends: Backend[] = [];
    try {
      for (const [i, name] of names.entries()) {
        const port = backends[0]?.port ?? 0;
        const hostname = `127.0.0.${i + 2}`;
        backends.push(
          options.proxyProtocol === true
            ? await startProxyHttpBackend(name, hostname, port)
            : await startHttpBackend(name, { hostname, port }),
        );
      }
      return { backends, port: backends[0]?.port ?? 0 };
    } catch (error) {
      lastError = error;
      await Promise.all(backends.map((b) => b.close()));
    }
  }
  throw new Error(`Cannot start backends ${names.join(", ")} on one port`, { cause: lastError });
}

/** The sorted set of `x-backend` names answering `count` sequential requests for `host`. */
export async function seenBackends(port: number, host: string, count: number): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const answer = await httpGet(port, host);
    seen.add(answer.status === 200 ? answer.headers["x-backend"] ?? "?" : `status ${answer.status}`);
  }
  return [...seen].sort();
}

/** Polls until `count` requests for `host` are answered by exactly the backends `expected`. */
export async function waitForBackends(
  port: number,
  host: string,
  expected: string[],
  count: number,
  timeoutMs = 10_000,
): Promise<void> {
  const want = [...expected].sort();
  let last: string[] = [];
  try {
    await waitFor(async () => {
      last = await seenBackends(port, host, count);
      return last.join(",") === want.join(",");
    }, { timeoutMs, what: `${host} to be served by ${want.join(", ")}` });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${last.join(", ")}`, { cause: error });
  }
}

/** `haconfd_reloads_total{result="success"}` from the daemon's /metrics. */
export async function reloadsTotal(daemon: DaemonProcess): Promise<number> {
  const { status, body } = await daemon.get("/metrics");
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`);
  const match = /^haconfd_reloads_total\{result="success"\} (\d+)/m.exec(body);
  return match ? Number(match[1]) : 0;
}
