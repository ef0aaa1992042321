/**
 * `haconfd demo`: the real thing on one machine. The example cluster (examples/endpoints.json) is served
 * by the Kubernetes API stand-in (the tests' fake API server, TLS with a bearer token), its pods are small
 * backends on 127.0.0.x, and haconfd — the daemon's own wiring (lib/commands/service.ts), watching the stand-in
 * through the real API client — manages a real HAProxy on loopback ports. Every few seconds the script
 * (lib/demo/script.ts) changes the cluster and reports how long the change took to reach traffic.
 *
 * @module
 */
import example from "../../examples/endpoints.json" with { type: "json" };
import { ConfigError, type Settings } from "../settings/options.ts";
import { type Daemon, managedSocketPath } from "../daemon/daemon.ts";
import { startService } from "../commands/service.ts";
import { delay } from "../delay.ts";
import { masterCommand, parseShowProc } from "../haproxy/master_cli.ts";
import { parseMasterAddress } from "../settings/values.ts";
import { createLogger, errorText, type Logger } from "../log.ts";
import { parseListen } from "../listen.ts";
import { type Backend, httpGet, tcpRoundTrip } from "./backends.ts";
import { makeCa, makeLeaf, serverExtensions } from "./certs.ts";
import {
  createAddressPool,
  type DemoService,
  demoServices,
  endpointsObject,
  ExampleDump,
  serviceKey,
  withPod,
  withPort,
} from "./cluster.ts";
import { type KubeServer, startKubeServer } from "./kube_server.ts";
import { localClusterAdmission } from "./traffic_guard.ts";
import { startPods } from "./pods.ts";
import { type DemoCluster, HOSTS, REDIS_LISTEN_PORT, SCRIPT, type StepResult } from "./script.ts";
import { demoSettings, demoTiming, type DemoWiring } from "./settings.ts";
import { summarizeDemo, summaryLines } from "./summary.ts";
import type { ApplyRecord } from "../record/state.ts";

/** How long a change may take to reach traffic before the demo says it did not. */
const TRAFFIC_DEADLINE_MS = 15_000;
/** How long the first config may take to serve. */
const START_DEADLINE_MS = 30_000;
const PROBE_INTERVAL_MS = 25;
const PROBE_TIMEOUT_MS = 2_000;
const PASS_DEADLINE_MS = 5_000;
/** The example's postgres listen port (its haconfd.io/listen-port annotation). */
const PG_LISTEN_PORT = 15432;

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** Flags as parsed from the command line (`--dry-run`, `--http-bind`, …). */
  flags: Readonly<Record<string, string | boolean>>;
  /** Environment (`DEMO_SECONDS`, `DEMO_STEP_SECONDS`, and the daemon's variables the demo honours). */
  env: Readonly<Record<string, string | undefined>>;
  /** Where the demo's narrative goes (a line at a time). */
  print: (line: string) => void;
  /** Stops the demo (Ctrl-C). */
  signal: AbortSignal;
}

/** The ports HAProxy will listen on: frontends and the TCP services of the example. */
function haproxyListens(settings: Settings): string[] {
  const tcp = connectHost(`${settings.tcpBindAddress}:0`).hostname;
  return [settings.httpBind, settings.httpsBind, `${tcp}:${REDIS_LISTEN_PORT}`, `${tcp}:${PG_LISTEN_PORT}`];
}

/**
 * HAProxy binds with SO_REUSEPORT, so a port another HAProxy holds would be shared silently (and half the
 * demo's traffic lost to it): refuse a taken port up front, naming it.
 */
function assertFree(addresses: string[]): void {
  for (const address of addresses) {
    const { hostname, port } = connectHost(address);
    try {
      Deno.listen({ hostname, port }).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
      throw new ConfigError(
        `Cannot run the demo: ${hostname}:${port} is in use; move the demo with --http-bind, --https-bind or --tcp-bind-address (e.g. --tcp-bind-address 127.0.0.3 --http-bind 127.0.0.3:8080 --https-bind 127.0.0.3:8443)`,
      );
    }
  }
}

/** Everything the demo started, stopped in reverse order. */
type Cleanup = () => Promise<void>;

function connectHost(bind: string): { hostname: string; port: number } {
  const { hostname, port } = parseListen(bind);
  return { hostname: hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname, port };
}

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

async function makeWiring(dir: string): Promise<{ wiring: Omit<DemoWiring, "apiServer">; token: string }> {
  await makeCa(dir, "ca", "haconfd-demo-ca");
  await makeLeaf(dir, "api", "ca", "/CN=127.0.0.1", serverExtensions(["IP:127.0.0.1", "DNS:localhost"]));
  const token = Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  await Deno.writeTextFile(`${dir}/token`, `${token}\n`, { mode: 0o600 });
  return {
    wiring: { caPath: `${dir}/ca.crt`, tokenPath: `${dir}/token`, configPath: `${dir}/haproxy.cfg` },
    token,
  };
}

/** The demo's cluster: its services, their pods' backends, the API stand-in that serves them. */
function createCluster(
  kube: KubeServer,
  services: Map<string, DemoService>,
  pods: Map<string, Backend>,
  settings: Settings,
  pool: (original?: string) => string,
): DemoCluster {
  const http = connectHost(settings.httpBind);
  const tcpHost = connectHost(`${settings.tcpBindAddress}:0`).hostname;
  function update(next: DemoService): void {
    services.set(serviceKey(next), next);
    kube.upsert("endpoints", endpointsObject(next));
  }
  function service(key: string): DemoService {
    const found = services.get(key);
    if (found === undefined) throw new Error(`Unknown demo service "${key}"`);
    return found;
  }
  return {
    service,
    update,
    async addPod(key, pod) {
      const current = service(key);
      if (current.kind === null) throw new Error(`Cannot add a pod to "${key}": nothing routes to it`);
      const port = current.ports[current.routedPort]?.port ?? 0;
      const [backend] = await startPods(current.kind, [pod], port);
      if (backend !== undefined) pods.set(pod.name, backend);
      update(withPod(current, pod));
    },
    async addService(next) {
      if (next.kind === null) {
        throw new Error(`Cannot add "${serviceKey(next)}": it has no routing annotations`);
      }
      const started = await startPods(next.kind, next.pods);
      next.pods.forEach((pod, i) => started[i] && pods.set(pod.name, started[i]));
      update(withPort(next, started[0]?.port ?? 0));
    },
    removeService(key) {
      services.delete(key);
      const [namespace = "", name = ""] = key.split("/");
      kube.remove("endpoints", namespace, name);
    },
    async retire(podName) {
      await pods.get(podName)?.close();
      pods.delete(podName);
    },
    address: (podName) => pool(`pod:${podName}`),
    async http(host) {
      const answer = await httpGet(http.port, host, "/", {
        hostname: http.hostname,
        timeoutMs: PROBE_TIMEOUT_MS,
      });
      return { status: answer.status, backend: answer.headers["x-backend"] ?? "" };
    },
    async tcpName(port) {
      const text = await tcpRoundTrip(port, "NAME\r\n", { hostname: tcpHost, timeoutMs: PROBE_TIMEOUT_MS });
      return text.trim().replace(/^\+/, "");
    },
  };
}

/** Polls `check` until true; the elapsed ms since `since`, or null after the deadline or on abort. */
async function until(
  check: () => Promise<boolean>,
  since: number,
  deadlineMs: number,
  signal: AbortSignal,
): Promise<number | null> {
  const deadline = performance.now() + deadlineMs;
  while (!signal.aborted && performance.now() < deadline) {
    if (await check().catch(() => false)) return Math.round(performance.now() - since);
    await delay(PROBE_INTERVAL_MS, { signal, resolveOnAbort: true });
  }
  return null;
}

/** The daemon's pass that followed a change, in a few words (it may end just after traffic moved). */
async function passSummary(daemon: Daemon, since: number, signal: AbortSignal): Promise<string> {
  // Newest first: the pass that followed the change is the oldest one since it.
  const find = () => daemon.loop.state().applies.findLast((r) => r.at >= since);
  await until(() => Promise.resolve(find() !== undefined), performance.now(), PASS_DEADLINE_MS, signal);
  const record = find();
  if (record === undefined) return "haconfd: no pass recorded";
  if (record.path === "runtime") return `haconfd: ${record.outcome} through the Runtime API, no reload`;
  const reload = record.reloadMs === null ? "" : `, reload ${Math.round(record.reloadMs)} ms`;
  return `haconfd: ${record.outcome}${reload}`;
}

/** Plays one step; resolves to its time to traffic (in a dry run: to a checked config), null if none. */
async function playStep(
  result: StepResult,
  daemon: Daemon,
  settings: Settings,
  output: { print: (line: string) => void; log: Logger },
  signal: AbortSignal,
): Promise<number | null> {
  const wallClock = Date.now() - (performance.now() - result.changedAt);
  let outcome: string;
  let measured: number | null;
  if (settings.dryRun) {
    const rendered = await until(
      () => Promise.resolve(daemon.loop.state().applies.some((r) => r.at >= wallClock)),
      result.changedAt,
      TRAFFIC_DEADLINE_MS,
      signal,
    );
    measured = rendered;
    output.log.info("cluster changed", { change: result.title, renderedMs: rendered });
    outcome = `${
      rendered === null ? "no pass within the deadline" : `rendered and checked after ${rendered} ms`
    } (dry run: no traffic)`;
  } else {
    const ms = await until(result.probe.check, result.changedAt, TRAFFIC_DEADLINE_MS, signal);
    if (signal.aborted) return ms;
    measured = ms;
    output.log.info("cluster changed", { change: result.title, inTrafficMs: ms, probe: result.probe.what });
    outcome = `${
      ms === null
        ? `NOT in traffic after ${TRAFFIC_DEADLINE_MS / 1000} s (waited for: ${result.probe.what})`
        : `in traffic after ${ms} ms: ${result.probe.what}`
    } (${await passSummary(daemon, wallClock, signal)})`;
  }
  output.print(`${clock(wallClock)}  ${result.title}\n          → ${outcome}`);
  await result.after?.();
  return measured;
}

async function haproxyPids(settings: Settings): Promise<number[]> {
  const table = parseShowProc(
    await masterCommand(parseMasterAddress(managedSocketPath(settings)), "show proc"),
  );
  return [table.master.pid, ...table.workers.map((w) => w.pid)];
}

function banner(
  settings: Settings,
  kube: KubeServer,
  pods: Map<string, Backend>,
  haproxy: { pids: number[]; trafficLog: string | undefined },
): string[] {
  const { pids, trafficLog } = haproxy;
  const http = connectHost(settings.httpBind);
  const https = connectHost(settings.httpsBind);
  const tcp = connectHost(`${settings.tcpBindAddress}:0`).hostname;
  const status = settings.statusListen === "off" ? null : `http://${settings.statusListen}/`;
  const podList = [...pods.values()].map((b) => `${b.hostname}:${b.port}`);
  const listening = settings.dryRun ? [] : haproxyListens(settings);
  if (status !== null) listening.push(settings.statusListen);
  listening.push(new URL(kube.url).host, ...podList);
  const lines = [
    "haconfd demo: HAProxy routing to demo pods on this machine, kept in step with a simulated cluster.",
    "",
    `  cluster      examples/endpoints.json, served by haconfd's Kubernetes API stand-in at ${kube.url}`,
    "               (TLS with a generated CA, bearer token); haconfd watches it with its real API client",
    `  pods         ${pods.size} small backends on 127.0.0.x (a real API server refuses loopback addresses in`,
    "               Endpoints; the stand-in serves them so that the pods can run here)",
    settings.dryRun
      ? "  HAProxy      not started (--dry-run): configs are rendered and checked, no traffic is sent"
      : `  HAProxy      pids ${pids.join(" ")} (master first), config ${settings.haproxyConf}`,
    `  status page  ${status ?? "off"}`,
    ...(settings.dryRun ? [] : [
      `  traffic log  ${trafficLog ?? "here, on the screen (--traffic-log)"}${
        trafficLog === undefined ? "" : " (HAProxy's line per request; --traffic-log shows it here instead)"
      }`,
    ]),
    `  processes    demo pid ${Deno.pid}${settings.dryRun ? "" : `, haproxy pids ${pids.join(" ")}`}`,
    `  listening    ${listening.join(" ")}`,
    "",
  ];
  if (!settings.dryRun) {
    lines.push(
      "Try:",
      `  curl -H 'Host: ${HOSTS.grafana}' http://${http.hostname}:${http.port}/`,
      `  curl -k --resolve dashboard.example.test:${https.port}:${https.hostname} https://dashboard.example.test:${https.port}/`,
      `  printf 'NAME\\r\\n' | nc -q 1 ${tcp} ${REDIS_LISTEN_PORT}      # redis-like pods: PING, NAME`,
      ...(status === null ? [] : [`  open ${status} in a browser`]),
      "",
    );
  }
  return lines;
}

async function startCluster(
  dir: string,
  log: Logger,
): Promise<
  {
    kube: KubeServer;
    services: Map<string, DemoService>;
    pods: Map<string, Backend>;
    pool: (original?: string) => string;
    wiring: DemoWiring;
  }
> {
  const { wiring, token } = await makeWiring(dir);
  const pool = createAddressPool();
  const pods = new Map<string, Backend>();
  const services = new Map<string, DemoService>();
  try {
    for (
      const service of demoServices(ExampleDump.parse(example), pool, { "data/redis": REDIS_LISTEN_PORT })
    ) {
      if (service.kind === null || service.pods.length === 0) {
        services.set(serviceKey(service), service);
        continue;
      }
      const started = await startPods(service.kind, service.pods);
      service.pods.forEach((pod, i) => started[i] && pods.set(pod.name, started[i]));
      services.set(serviceKey(service), withPort(service, started[0]?.port ?? 0));
    }
    const cert = await Deno.readTextFile(`${dir}/api.crt`);
    const key = await Deno.readTextFile(`${dir}/api.key`);
    const kube = await startKubeServer({
      tls: { cert, key },
      tokens: { [token]: "haconfd-demo" },
      objects: { endpoints: [...services.values()].map(endpointsObject) },
      // Every pod the script adds must be on this machine, like those of the example.
      admit: localClusterAdmission(),
    });
    log.info("API stand-in started", { url: kube.url, pods: pods.size });
    return { kube, services, pods, pool, wiring: { ...wiring, apiServer: kube.url } };
  } catch (error) {
    await Promise.all([...pods.values()].map((b) => b.close()));
    throw error;
  }
}

async function waitForFirstConfig(
  daemon: Daemon,
  cluster: DemoCluster,
  settings: Settings,
  signal: AbortSignal,
) {
  const applied = await until(
    // A dry run on a machine without HAProxy fails its check: any pass shows the demo is running.
    () =>
      Promise.resolve(daemon.loop.state().applies.some((r) => settings.dryRun || r.outcome === "applied")),
    performance.now(),
    START_DEADLINE_MS,
    signal,
  );
  if (signal.aborted) return;
  if (applied === null) {
    const last = daemon.loop.state().applies[0];
    throw new Error(
      `Cannot start the demo: haconfd applied no config within ${START_DEADLINE_MS / 1000} s${
        last === undefined ? "" : ` (last pass: ${last.outcome}: ${last.detail})`
      }`,
    );
  }
  if (settings.dryRun) return;
  const serving = await until(
    async () => (await cluster.http(HOSTS.grafana)).status === 200,
    performance.now(),
    START_DEADLINE_MS,
    signal,
  );
  if (serving === null && !signal.aborted) {
    throw new Error(
      `Cannot start the demo: HAProxy does not answer for ${HOSTS.grafana} on ${settings.httpBind}`,
    );
  }
}

/**
 * Runs the demo until `signal` aborts (or `DEMO_SECONDS` pass), then stops everything it started —
 * HAProxy, the pods, the API stand-in — and removes its temp dir. A bad flag throws a `ConfigError`
 * before anything starts.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const { flags, env, print } = options;
  const timing = demoTiming(env);
  // Validate the user's flags and ports before anything starts; the real wiring follows.
  const early = demoSettings(flags, env, {
    apiServer: "https://127.0.0.1:1",
    caPath: "ca",
    tokenPath: "token",
    configPath: "cfg",
  });
  if (!early.dryRun) assertFree(haproxyListens(early));
  const signal = timing.durationMs === undefined
    ? options.signal
    : AbortSignal.any([options.signal, AbortSignal.timeout(timing.durationMs)]);
  const cleanups: Cleanup[] = [];
  const dir = await Deno.makeTempDir({ prefix: "haconfd-demo-" });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  let log = createLogger({ level: "warn", component: "demo" });
  /** What the script's run recorded: set once it starts, summarized at the end. */
  let events: { changes: { inTrafficMs: number | null }[]; passes: ApplyRecord[] } | undefined;
  try {
    const { kube, services, pods, pool, wiring } = await startCluster(dir, log);
    cleanups.push(() => kube.close());
    cleanups.push(() => Promise.all([...pods.values()].map((b) => b.close())).then(() => {}));
    const settings = demoSettings(flags, env, wiring);
    log = createLogger({ level: settings.logLevel, format: settings.logFormat, component: "demo" });
    const trafficLog = settings.trafficLog ? undefined : `${dir}/traffic.log`;
    const service = await startService(settings, log, {
      ...(trafficLog === undefined ? {} : { trafficLog }),
      onPass: (record) => events?.passes.push(record),
    });
    cleanups.push(() => service.stop());
    const { daemon } = service;
    const cluster = createCluster(kube, services, pods, settings, pool);
    await waitForFirstConfig(daemon, cluster, settings, signal);
    if (signal.aborted) return;
    const pids = settings.dryRun ? [] : await haproxyPids(settings);
    for (const line of banner(settings, kube, pods, { pids, trafficLog })) print(line);
    print(
      `Every ${timing.stepMs / 1000} s the cluster changes; each change says when it reached traffic${
        timing.durationMs === undefined ? "" : ` (for ${timing.durationMs / 1000} s)`
      }. Ctrl-C stops everything.`,
    );
    events = { changes: [], passes: [] };
    await playScript(timing.stepMs, (step) => playStep(step, daemon, settings, { print, log }, signal), {
      cluster,
      events,
      signal,
    });
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error) =>
        log.error("cannot stop a part of the demo", { error: errorText(error) })
      );
    }
    print(`Stopped: HAProxy, the demo pods and the API stand-in; removed ${dir}`);
    if (events !== undefined) { for (const line of summaryLines(summarizeDemo(events))) print(line); }
  }
}

/** Plays the script's steps, one every `stepMs`, until `signal`; records each change's time to traffic. */
async function playScript(
  stepMs: number,
  play: (step: StepResult) => Promise<number | null>,
  run: { cluster: DemoCluster; events: { changes: { inTrafficMs: number | null }[] }; signal: AbortSignal },
): Promise<void> {
  const { cluster, events, signal } = run;
  for (let i = 0; !signal.aborted; i++) {
    await delay(stepMs, { signal, resolveOnAbort: true });
    if (signal.aborted) break;
    const inTrafficMs = await play(await SCRIPT[i % SCRIPT.length]!(cluster));
    if (!signal.aborted) events.changes.push({ inTrafficMs });
  }
}
