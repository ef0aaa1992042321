// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * The scrape benchmark (`tools/deno task bench scrape [--sizes 100x3,16700x3,1000x50] [--rounds 15]`):
 * what one /metrics, /status, page or domain-detail scrape costs against a real HAProxy holding `n`
 * backends of `s` servers each (`NxS`; 16,700x3 = 50k servers, the scale benchmark's largest cluster). Before: the read
 * every scrape made until now (`show proc` + `@1 show stat` of every server, parsed); after: the
 * status app as it is, over {@linkcode HaproxyViewReader}. Floors, from the same HAProxy in the same run:
 * the bare answer of `@1 show stat` (every row) and of `@1 show stat -1 2 -1` (backend rows), read off
 * the master socket and not parsed. Medians of `rounds`, the variants interleaved; printed as a Markdown table.
 *
 * @module
 */
import { type Domain, domainId } from "../lib/model/model.ts";
import { DEFAULT_SETTINGS } from "../lib/model/settings.ts";
import { masterCommand } from "../lib/haproxy/master_cli.ts";
import { HaproxyViewReader, parseShowStat } from "../lib/haproxy/view.ts";
import { createStatusApp } from "../lib/status/app.ts";
import { createMetrics } from "../lib/status/metrics.ts";
import { BASE_CONFIG, freePort, startHaproxy } from "../tests/support/haproxy.ts";
import { daemonState } from "../tests/support/fixtures.ts";
import { median, medianMs } from "./measure.ts";

function host(i: number): string {
  return `svc-${i}.example.test`;
}

/** `n` backends named as the default templates name them, `servers` each on 127.x.y.z (no checks). */
function config(n: number, servers: number, port: number): string {
  const lines = [
    BASE_CONFIG,
    "frontend f",
    "  mode http",
    `  bind 127.0.0.1:${port}`,
    "  http-request return status 200",
  ];
  for (let i = 0; i < n; i++) {
    lines.push(`backend be_${domainId(host(i))}`, "  mode http");
    for (let s = 0; s < servers; s++) {
      lines.push(`  server s${s} 127.${(i >> 8) & 255}.${i & 255}.${s + 1}:8080`);
    }
  }
  return lines.join("\n") + "\n";
}

function domainOf(i: number, servers: number): Domain {
  const ips = Array.from({ length: servers }, (_, s) => `127.${(i >> 8) & 255}.${i & 255}.${s + 1}`);
  return {
    ips,
    proto: "http",
    port: 8080,
    id: domainId(host(i)),
    namespace: `ns-${i % 20}`,
    name: `svc-${i}`,
    ports: { http: 8080 },
    notReadyIps: [],
    servers: ips.map((ip, s) => ({ ip, port: 8080, name: `s${s}`, ready: true })),
    listenPort: null,
    host: host(i),
    settings: DEFAULT_SETTINGS,
  };
}

type Timed = "floorAll" | "floorBackends" | "before" | "afterRead" | "metrics" | "status" | "page" | "detail";

/**
 * Median time of each of `fns` in ms, over `rounds` rounds that run each once in turn (a load that comes
 * and goes on a shared machine then weighs on all of them alike); one round first, not counted.
 */
async function interleaved(
  rounds: number,
  fns: Record<Timed, () => Promise<unknown>>,
): Promise<Record<Timed, number>> {
  const times = Object.fromEntries(Object.keys(fns).map((name) => [name, [] as number[]])) as Record<
    Timed,
    number[]
  >;
  for (let r = 0; r <= rounds; r++) {
    for (const [name, fn] of Object.entries(fns) as [Timed, () => Promise<unknown>][]) {
      const ms = await medianMs(1, fn);
      if (r > 0) times[name].push(ms);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, list]) => [name, median(list)])) as Record<
    Timed,
    number
  >;
}

/** What one size measured, in ms. */
interface ScrapeResult {
  backends: number;
  servers: number;
  floorAll: number;
  floorBackends: number;
  before: number;
  afterRead: number;
  metrics: number;
  status: number;
  page: number;
  detail: number;
  allKiB: number;
  backendsKiB: number;
}

async function measure(n: number, perBackend: number, rounds: number): Promise<ScrapeResult> {
  const port = freePort();
  await using haproxy = await startHaproxy(config(n, perBackend, port), {
    waitFor: [port],
    timeoutMs: 120_000,
  });
  const master = { transport: "unix", path: haproxy.masterSocket } as const;
  const send = (command: string) => masterCommand(master, command, { timeoutMs: 60_000 });
  const reader = new HaproxyViewReader(send);
  const domains = Object.fromEntries(Array.from({ length: n }, (_, i) => [host(i), domainOf(i, perBackend)]));
  const state = daemonState(Date.now(), { domains });
  const app = createStatusApp(() => state, {
    metrics: createMetrics(),
    readHaproxy: () => reader.view(),
    readServers: (names) => reader.servers(names),
    haproxyTimeoutMs: 60_000,
  });
  const get = async (path: string) => {
    const res = await app.request(path);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return await res.text();
  };
  const all = await send("@1 show stat");
  const rows = await send("@1 show stat -1 2 -1");
  const servers = Object.values(parseShowStat(all)).flat().length;
  if (servers !== n * perBackend) throw new Error(`HAProxy lists ${servers} servers, not ${n * perBackend}`);
  return {
    backends: n,
    servers,
    ...await interleaved(rounds, {
      floorAll: () => send("@1 show stat"),
      floorBackends: () => send("@1 show stat -1 2 -1"),
      before: async () => {
        await send("show proc");
        parseShowStat(await send("@1 show stat"));
      },
      afterRead: () => reader.view(),
      metrics: () => get("/metrics"),
      status: () => get("/status"),
      page: () => get("/"),
      detail: () => get(`/status/domains/${host(n - 1)}`),
    }),
    allKiB: all.length / 1024,
    backendsKiB: rows.length / 1024,
  };
}

function table(results: ScrapeResult[]): string[] {
  const f = (v: number) => v < 10 ? v.toFixed(1) : v.toFixed(0);
  return [
    "| backends (servers) | floor: bare `show stat`, every row | floor: bare `show stat -1 2 -1` | before: a scrape's HAProxy read (`show proc` + every server, parsed) | after: its read (`show proc` + backend rows) | after: GET /metrics | GET /status | GET / | GET /status/domains/NAME |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.backends} (${r.servers}) | ${f(r.floorAll)} ms (${f(r.allKiB)} KiB) | ${
        f(r.floorBackends)
      } ms (${f(r.backendsKiB)} KiB) | ${f(r.before)} ms | ${f(r.afterRead)} ms | ${f(r.metrics)} ms | ${
        f(r.status)
      } ms | ${f(r.page)} ms | ${f(r.detail)} ms |`
    ),
  ];
}

/** Runs the scrape benchmark with the command-line arguments after `scrape`. */
export async function scrapeBenchmark(args: string[]): Promise<void> {
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at === -1 ? undefined : args[at + 1];
  };
  const sizes = (option("--sizes") ?? "100x3,16700x3,1000x3,1000x50").split(",").map((size) => {
    const [n, s = "3"] = size.split("x");
    if (!/^\d+$/.test(n ?? "") || !/^\d+$/.test(s)) {
      throw new TypeError(`Invalid size "${size}": give N or NxS`);
    }
    return [Number(n), Number(s)] as const;
  });
  const rounds = Number(option("--rounds") ?? 15);
  const results: ScrapeResult[] = [];
  for (const [n, s] of sizes) {
    console.log(`${n} backends of ${s} servers…`);
    results.push(await measure(n, s, rounds));
    console.log(JSON.stringify(results.at(-1)));
  }
  console.log(`\n${table(results).join("\n")}`);
}
