// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * Runtime path versus reload path, with HAProxy's own floor measured in the same run: API write → first
 * request routed to the new server, haconfd's CPU per endpoint change, and a rolling update of one
 * deployment. A real `haconfd run` subprocess with its managed HAProxy 2.6, the fake API server, backends
 * on 127.0.0.x. Run with `tools/deno run -A bench/runtime.ts [objects…]` (part of `tools/deno task bench`).
 * At scale, the runtime path alone: `tools/deno task bench runtime --runtime-only --no-rolling 16700`
 * (`BENCH_ROUNDS=20` for more rounds; 16,700 objects are 50k servers, the size issue 12 targets).
 *
 * @module
 */
import { generate } from "../lib/render/generate.ts";
import { masterCommand } from "../lib/haproxy/master_cli.ts";
import { parseObjectList } from "../lib/source/kube/objects.ts";
import { compileTemplates, defaultTemplates } from "../lib/render/render.ts";
import { httpGet } from "../lib/demo/backends.ts";
import {
  type DaemonProcess,
  endpoints,
  startDaemonProcess,
  startHttpBackends,
  startKube,
} from "../tests/support/daemon.ts";
import { freePort, startHaproxy } from "../tests/support/haproxy.ts";
import { EVERY_SETTING } from "../tests/support/fixtures.ts";
import type { JsonObject } from "../lib/demo/kube_server.ts";
import { cpuMs, inode, percentile, replaced } from "./measure.ts";

const HOST = "app.example.test";
const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 10);

type Report = (name: string, value: string, note?: string) => void;

/** `filler` annotated objects, 3 addresses each, on 127.x addresses where nothing listens. */
function fillers(count: number, port: number): JsonObject[] {
  return Array.from({ length: count }, (_, i) =>
    endpoints(
      `svc-${i}`,
      { domain: `svc-${i}.example.test`, proto: "http" },
      [1, 2, 3].map((n) => `127.${1 + (i >> 8)}.${i & 255}.${n}`),
      port,
    ));
}

/** Polls HAProxy until `host` is answered by `name`; returns the elapsed ms since `start`. */
async function routed(port: number, name: string, start: number, host = HOST): Promise<number> {
  for (;;) {
    const answer = await httpGet(port, host, "/", { timeoutMs: 2000 }).catch(() => null);
    if (answer?.headers["x-backend"] === name) return performance.now() - start;
    if (performance.now() - start > 20_000) throw new Error(`no switch to ${name} in 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function reloads(daemon: DaemonProcess): Promise<number> {
  const { body } = await daemon.get("/metrics");
  return Number(/^haconfd_reloads_total\{result="success"\} (\d+)/m.exec(body)?.[1] ?? "0");
}

/** Flips `app` between blue and green ROUNDS times: latency to the first routed request, CPU per change. */
async function switchRounds(
  daemon: DaemonProcess,
  kube: Awaited<ReturnType<typeof startKube>>,
  port: number,
  annotations: Record<string, string>,
): Promise<{ latencies: number[]; cpuPerChange: number; reloads: number }> {
  const latencies: number[] = [];
  const reloadsBefore = await reloads(daemon);
  let cpu = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const [ip, name] = round % 2 === 0 ? ["127.0.0.3", "green"] : ["127.0.0.2", "blue"];
    // Lone changes: past --min-reload-interval, so the reload path pays no wait either.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const cpuBefore = await cpuMs(daemon.pid, { children: true }) / 1000;
    const ino = await inode(daemon.configPath);
    const start = performance.now();
    kube.upsert("endpoints", endpoints("app", annotations, [ip], port));
    latencies.push(await routed(daemon.ports.http, name, start));
    // The apply ends with the file install after the runtime commands: let it finish before reading CPU.
    await replaced(daemon.configPath, ino);
    await new Promise((resolve) => setTimeout(resolve, 300));
    cpu += (await cpuMs(daemon.pid, { children: true }) / 1000) - cpuBefore;
  }
  return { latencies, cpuPerChange: cpu / ROUNDS, reloads: (await reloads(daemon)) - reloadsBefore };
}

/**
 * One HTTP/1.1 request for `app` without `Connection: close`, on its own connection, closed once the
 * answer is in: HAProxy keeps its server-side connection in the server's idle pool.
 */
async function keepAliveRequest(port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`));
    const buffer = new Uint8Array(65536);
    let text = "";
    for (;;) {
      const head = text.indexOf("\r\n\r\n");
      const length = Number(/content-length:\s*(\d+)/i.exec(text)?.[1] ?? "-1");
      if (head >= 0 && length >= 0 && text.length >= head + 4 + length) return;
      const n = await conn.read(buffer);
      if (n === null) return;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } finally {
    conn.close();
  }
}

/** `haconfd_apply_paths_total{path="runtime"}`. */
async function runtimePaths(daemon: DaemonProcess): Promise<number> {
  const { body } = await daemon.get("/metrics");
  return Number(/^haconfd_apply_paths_total\{path="runtime"\} (\d+)/m.exec(body)?.[1] ?? "0");
}

/** Servers draining as /status says. */
async function drainingCount(daemon: DaemonProcess): Promise<number> {
  const status = await daemon.status() as { runtime?: { draining?: unknown[] } | null };
  return status.runtime?.draining?.length ?? 0;
}

/**
 * A server from the file removed while keep-alive clients use it: ms from the API write until
 * `del server` succeeded (/status lists no server draining). Leaves `app` on blue again.
 */
async function deletionMs(
  daemon: DaemonProcess,
  kube: Awaited<ReturnType<typeof startKube>>,
  port: number,
  annotations: Record<string, string>,
): Promise<number> {
  const runtimeApplies = await runtimePaths(daemon);
  // Keep-alive clients run across the change: requests in flight when blue goes to maintenance leave
  // their server-side connections idle after it (HAProxy closes the idle ones only at the transition).
  let running = true;
  const clients = Array.from({ length: 8 }, async () => {
    while (running) await keepAliveRequest(daemon.ports.http).catch(() => {});
  });
  const start = performance.now();
  kube.upsert("endpoints", endpoints("app", annotations, ["127.0.0.3"], port));
  await routed(daemon.ports.http, "green", start);
  running = false;
  await Promise.all(clients);
  // The pass ends after its first drain step: only then does /status say what still drains.
  while (await runtimePaths(daemon) === runtimeApplies || await drainingCount(daemon) > 0) {
    if (performance.now() - start > 60_000) throw new Error("the removed server was not deleted in 60 s");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = performance.now() - start;
  kube.upsert("endpoints", endpoints("app", annotations, ["127.0.0.2"], port));
  await routed(daemon.ports.http, "blue", performance.now());
  return ms;
}

/** HAProxy's own floor: `set server … addr` on a standalone HAProxy running the same-size config. */
async function floor(objects: JsonObject[], port: number, limits: string | undefined): Promise<number[]> {
  const listen = freePort();
  const sets = parseObjectList({ kind: "EndpointsList", items: objects }).endpoints;
  const mapDir = await Deno.makeTempDir({ prefix: "haconfd-bench-maps-" });
  const { text, maps = [] } = generate(sets, compileTemplates(defaultTemplates(), { mapDir }), {
    http: `127.0.0.1:${listen}`,
    https: `127.0.0.1:${freePort()}`,
    tcp: "127.0.0.1",
  });
  const backend = /^# app\.example\.test .*\nbackend (\S+)$/m.exec(text)?.[1];
  if (backend === undefined) throw new Error("no backend for app.example.test");
  const haproxy = await startHaproxy(text, {
    files: maps,
    waitFor: [listen],
    timeoutMs: 60_000,
    extraArgs: limits === undefined ? [] : ["-f", limits],
  });
  try {
    const address = { transport: "unix", path: haproxy.masterSocket } as const;
    const latencies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [ip, name] = round % 2 === 0 ? ["127.0.0.3", "green"] : ["127.0.0.2", "blue"];
      const start = performance.now();
      await masterCommand(address, `@1 set server ${backend}/127.0.0.2 addr ${ip} port ${port}`);
      latencies.push(await routed(listen, name, start));
    }
    return latencies;
  } finally {
    await haproxy.stop();
    await Deno.remove(mapDir, { recursive: true });
  }
}

/** A rolling update of `app`: 10 pods replaced one by one, 200 ms apart, while a client loop runs. */
async function rollingUpdate(
  daemon: DaemonProcess,
  kube: Awaited<ReturnType<typeof startKube>>,
  port: number,
): Promise<{ reloads: number; lastServesMs: number; failed: number; requests: number }> {
  const annotations = { domain: HOST, proto: "http" };
  const ip = (i: number) => `127.0.0.${i + 2}`; // pods 0–9 old, 10–19 new (backends r0…r19)
  const pods = Array.from({ length: 10 }, (_, i) => ip(i));
  kube.upsert("endpoints", endpoints("app", annotations, pods, port));
  await routed(daemon.ports.http, "r9", performance.now());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const reloadsBefore = await reloads(daemon);
  let failed = 0;
  let requests = 0;
  let running = true;
  const client = (async () => {
    while (running) {
      const answer = await httpGet(daemon.ports.http, HOST, "/", { timeoutMs: 5000 }).catch(() => null);
      requests++;
      if (answer?.status !== 200) failed++;
    }
  })();
  const start = performance.now();
  for (let step = 0; step < 10; step++) {
    pods[step] = ip(10 + step);
    kube.upsert("endpoints", endpoints("app", annotations, [...pods], port));
    if (step < 9) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const lastServesMs = await routed(daemon.ports.http, "r19", start);
  await new Promise((resolve) => setTimeout(resolve, 500));
  running = false;
  await client;
  return { reloads: (await reloads(daemon)) - reloadsBefore, lastServesMs, failed, requests };
}

function latencyRow(report: Report, label: string, values: number[], note = ""): void {
  report(
    label,
    `${percentile(values, 50).toFixed(1)} ms`,
    `p50 of ${values.length}; p90 ${percentile(values, 90).toFixed(1)} ms, max ${
      Math.max(...values).toFixed(1)
    } ms${note}`,
  );
}

/** The soft limit on open files of this process (inherited by haconfd and its HAProxy). */
async function openFilesLimit(): Promise<number> {
  const limits = await Deno.readTextFile("/proc/self/limits");
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === "unlimited" ? Infinity : Number(soft);
}

/**
 * HAProxy 2.6 wants about one descriptor per checked server plus two per connection (58,330 at 16,700
 * objects with the default maxconn 4096) and refuses to start when it cannot raise its limit that far.
 * Below that (a container that may not raise its hard limit) the bench runs HAProxy through a wrapper that
 * adds a config file with `no strict-limits`: HAProxy warns and runs (a health check holds a descriptor
 * only while it connects).
 * Null when the limit suffices.
 */
async function haproxyWithin(objects: number, dir: string): Promise<{ bin: string; limits: string } | null> {
  const limit = await openFilesLimit();
  if (limit >= objects * 3 + 2 * 4096 + 100) return null;
  const limits = `${dir}/limits.cfg`;
  const bin = `${dir}/haproxy`;
  await Deno.writeTextFile(limits, "global\n    no strict-limits\n");
  await Deno.writeTextFile(bin, `#!/bin/sh\nexec haproxy -f ${limits} "$@"\n`, { mode: 0o755 });
  return { bin, limits };
}

/** Which paths to measure, and whether to run the rolling update. */
export interface RuntimeBenchOptions {
  /** @default {["runtime", "reload"]} */
  paths?: ("runtime" | "reload")[];
  /** @default {true} */
  rolling?: boolean;
  /** The app service uses every per-service setting. @default {false} */
  settings?: boolean;
}

/** Runs the runtime-path benchmarks at each object count. */
export async function runtimeBenchmarks(
  report: Report,
  counts: number[] = [100, 2000],
  options: RuntimeBenchOptions = {},
): Promise<void> {
  const { paths = ["runtime", "reload"], rolling: withRolling = true } = options;
  const app = { domain: HOST, proto: "http", ...(options.settings === true ? EVERY_SETTING : {}) };
  const label = options.settings === true ? " (every setting)" : "";
  const names = Array.from({ length: 20 }, (_, i) => `r${i}`);
  const { backends, port } = await startHttpBackends(["blue", "green"], {
    proxyProtocol: options.settings === true,
  });
  // The rolling update's pods r0…r19 on 127.0.0.2–21, on a port of their own.
  const rolling = withRolling
    ? await startHttpBackends(names, { proxyProtocol: options.settings === true }).catch(() => null)
    : null;
  const scratch = await Deno.makeTempDir({ prefix: "haconfd-bench-" });
  try {
    for (const count of counts) {
      const objects = [
        ...fillers(count - 1, port),
        endpoints("app", app, ["127.0.0.2"], port),
      ];
      const within = await haproxyWithin(count, scratch);
      const haproxyArgs = within === null
        ? []
        : ["--haproxy-bin", within.bin, "--haproxy-chk-cmd", `${within.bin} -c -f`];
      const floorLatencies = await floor(objects, port, within?.limits);
      latencyRow(report, `${count} objects: HAProxy floor, set server addr → routed`, floorLatencies);
      for (const mode of paths) {
        const kube = await startKube(objects);
        const daemon = await startDaemonProcess({
          apiServer: kube.url,
          args: ["--log-level", "warn", ...haproxyArgs, ...(mode === "reload" ? ["--no-runtime-api"] : [])],
          readyTimeoutMs: 300_000,
        });
        try {
          if (mode === "runtime") {
            report(
              `${count} objects: runtime path${label}, removed server under keep-alive traffic → deleted`,
              `${(await deletionMs(daemon, kube, port, app)).toFixed(0)} ms`,
              "API write → del server succeeded (/status: nothing draining); a server from the file",
            );
          }
          const result = await switchRounds(daemon, kube, port, app);
          latencyRow(
            report,
            `${count} objects: ${mode} path${label}, API write → routed to the new server`,
            result.latencies,
            `; ${result.reloads} reloads`,
          );
          report(
            `${count} objects: ${mode} path${label}, haconfd CPU per endpoint change`,
            `${(result.cpuPerChange * 1000).toFixed(0)} ms`,
            "CPU time of haconfd and its reaped children (haproxy -c)",
          );
          if (rolling !== null) {
            const roll = await rollingUpdateWith(daemon, kube, rolling.port);
            report(
              `${count} objects: ${mode} path, rolling update of 10 pods 200 ms apart`,
              `${roll.reloads} reloads`,
              `last new pod serves after ${
                roll.lastServesMs.toFixed(0)
              } ms; ${roll.failed} of ${roll.requests} client requests failed`,
            );
          }
        } finally {
          await daemon.stop();
          await kube.close();
        }
      }
    }
  } finally {
    await Promise.all([...backends, ...(rolling?.backends ?? [])].map((b) => b.close()));
    await Deno.remove(scratch, { recursive: true });
  }
}

function rollingUpdateWith(
  daemon: DaemonProcess,
  kube: Awaited<ReturnType<typeof startKube>>,
  port: number,
) {
  return rollingUpdate(daemon, kube, port);
}

/** Runs the benchmarks as the command line says: `[--runtime-only] [--no-rolling] [--settings] [objects…]`. */
export async function runtimeCommand(args: string[]): Promise<void> {
  const counts = args.map(Number).filter((n) => n > 0);
  await runtimeBenchmarks(
    (name, value, note = "") => console.log(`| ${name} | ${value} | ${note} |`),
    counts.length > 0 ? counts : undefined,
    {
      ...(args.includes("--runtime-only") ? { paths: ["runtime"] } : {}),
      rolling: !args.includes("--no-rolling"),
      settings: args.includes("--settings"),
    },
  );
}

if (import.meta.main) await runtimeCommand(Deno.args);
