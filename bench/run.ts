// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * Benchmarks: speed and memory of the pure pipeline and of `haproxy -c`, printed as a table.
 * Run with `tools/deno task bench` (`tools/deno task bench scale`: the scale benchmark, bench/scale.ts;
 * `tools/deno task bench runtime --runtime-only --no-rolling 16700`: the runtime path at 50k servers,
 * bench/runtime.ts); the figures of a run are kept in bench/RESULTS.md by hand.
 *
 * @module
 */
import { generate } from "../lib/render/generate.ts";
import { parseObjectList } from "../lib/source/kube/objects.ts";
import { type EndpointSet } from "../lib/model/endpoints.ts";
import { buildModel } from "../lib/model/model.ts";
import { compileTemplates, defaultTemplates } from "../lib/render/render.ts";
import { e2eBenchmarks } from "./e2e.ts";
import { runtimeBenchmarks } from "./runtime.ts";
import { watchBenchmarks } from "./watch.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };
const PROTOS = ["http", "http", "http", "https", "redis"] as const;

/** A realistic Endpoints object as the API returns it (managedFields included), for `i`. */
function apiObject(i: number, addresses: number): Record<string, unknown> {
  const proto = PROTOS[i % PROTOS.length]!;
  const ip = (n: number) => `10.${(i >> 8) & 255}.${i & 255}.${n + 1}`;
  return {
    kind: "Endpoints",
    apiVersion: "v1",
    metadata: {
      name: `svc-${i}`,
      namespace: `ns-${i % 20}`,
      uid: crypto.randomUUID(),
      resourceVersion: String(1000 + i),
      creationTimestamp: "2026-01-01T00:00:00Z",
      labels: { app: `svc-${i}`, "app.kubernetes.io/part-of": "bench" },
      annotations: {
        domain: `svc-${i}.example.test`,
        proto,
        ...(proto === "redis" ? { "haconfd.io/listen-port": String(10000 + i) } : {}),
        "kubectl.kubernetes.io/last-applied-configuration": "x".repeat(300),
      },
      managedFields: [{
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        time: "2026-01-01T00:00:00Z",
        fieldsType: "FieldsV1",
        fieldsV1: { "f:subsets": {} },
      }],
    },
    subsets: [{
      addresses: Array.from({ length: addresses }, (_, n) => ({
        ip: ip(n),
        nodeName: `node-${n}`,
        targetRef: {
          kind: "Pod",
          namespace: `ns-${i % 20}`,
          name: `svc-${i}-pod-${n}`,
          uid: crypto.randomUUID(),
        },
      })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    }],
  };
}

function time(runs: number, fn: () => void): number {
  fn(); // warm-up
  const start = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - start) / runs;
}

function heapUsed(): number {
  // gc is exposed only with --v8-flags=--expose-gc (the bench task sets it).
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

const rows: string[][] = [];
function row(name: string, value: string, note = ""): void {
  rows.push([name, value, note]);
  console.log(`${name.padEnd(58)} ${value.padStart(12)}  ${note}`);
}

type Benchmark = (args: string[]) => Promise<void>;

/** The benchmarks run alone (`tools/deno task bench NAME [args…]`), each loaded from its own module. */
const ALONE: Record<string, () => Promise<Benchmark>> = {
  // [--runtime-only] [--no-rolling] [objects…]: the runtime path.
  runtime: async () => (await import("./runtime.ts")).runtimeCommand,
  // [hosts]: start-up with TLS-terminated hosts.
  tls: async () => {
    const { tlsBenchmark } = await import("./tls.ts");
    return (args) => tlsBenchmark(Number(args[0] ?? 1000));
  },
  // [seconds]: maps vs one rule per host.
  routing: async () => (await import("./routing.ts")).routingBenchmark,
  nodeport: async () => (await import("./nodeport.ts")).nodePortBenchmark,
  scrape: async () => (await import("./scrape.ts")).scrapeBenchmark,
  // [--rounds N]: three ways of reading a list page.
  "list-parse": async () => (await import("./list_parse.ts")).listParseBenchmark,
  // [--objects N] [--rounds N]: a start-up list's CPU.
  "list-cpu": async () => (await import("./list_cpu.ts")).listCpuBenchmark,
  // [--objects N] [--rounds N]: start-up alone.
  startup: async () => (await import("./startup.ts")).startupBenchmark,
  scale: async () => (await import("./scale.ts")).scaleBenchmark,
};

const alone = Object.hasOwn(ALONE, Deno.args[0] ?? "") ? ALONE[Deno.args[0]!] : undefined;
if (alone !== undefined) {
  await (await alone())(Deno.args.slice(1));
  Deno.exit(0);
}

console.log(`haconfd benchmarks — deno ${Deno.version.deno}, ${Deno.build.target}\n`);

const renderer = compileTemplates(defaultTemplates());
for (const n of [100, 1000, 5000]) {
  const objects = Array.from({ length: n }, (_, i) => apiObject(i, 3));
  const list = {
    kind: "EndpointsList",
    apiVersion: "v1",
    metadata: { resourceVersion: "1" },
    items: objects,
  };
  let sets: EndpointSet[] = [];
  const parseMs = time(5, () => {
    sets = parseObjectList(list).endpoints;
  });
  const modelMs = time(10, () => void buildModel(sets));
  let bytes = 0;
  const renderMs = time(10, () => {
    bytes = generate(sets, renderer, listen).text.length;
  });
  row(`validate + project ${n} Endpoints (3 addresses each)`, `${parseMs.toFixed(2)} ms`);
  row(`build model, ${n} domains`, `${modelMs.toFixed(2)} ms`);
  row(`model + render, ${n} domains`, `${renderMs.toFixed(2)} ms`, `${(bytes / 1024).toFixed(0)} KiB config`);
}

// Memory: whole API objects versus the projections haconfd keeps.
{
  const n = 10_000;
  const before = heapUsed();
  const objects = Array.from({ length: n }, (_, i) => apiObject(i, 3));
  const withObjects = heapUsed();
  const sets = parseObjectList({ kind: "EndpointsList", items: objects }).endpoints;
  objects.length = 0;
  const withProjections = heapUsed();
  row(`heap: ${n} whole Endpoints objects`, `${((withObjects - before) / 1048576).toFixed(1)} MiB`);
  row(
    `heap: their ${n} projections (what haconfd keeps)`,
    `${((withProjections - before) / 1048576).toFixed(1)} MiB`,
    `${sets.length} sets`,
  );
}

// haproxy -c on a large rendered config.
const haproxy =
  new Deno.Command("sh", { args: ["-c", "command -v haproxy"], stdout: "null" }).outputSync().success;
if (haproxy) {
  for (const n of [100, 1000]) {
    const sets = parseObjectList({
      kind: "EndpointsList",
      items: Array.from({ length: n }, (_, i) => apiObject(i, 3)),
    })
      .endpoints;
    const dir = await Deno.makeTempDir();
    try {
      const generated = generate(sets, compileTemplates(defaultTemplates(), { mapDir: dir }), listen);
      const path = `${dir}/haproxy.cfg`;
      await Deno.writeTextFile(path, generated.text);
      for (const map of generated.maps ?? []) await Deno.writeTextFile(map.path, map.text);
      const start = performance.now();
      const out = await new Deno.Command("haproxy", { args: ["-c", "-q", "-f", path] }).output();
      row(
        `haproxy -c, ${n} domains`,
        `${(performance.now() - start).toFixed(0)} ms`,
        out.success ? "valid" : "INVALID",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
} else {
  row("haproxy -c", "skipped", "haproxy is not installed");
}

await watchBenchmarks((name, value, note) => row(name, value, note));
if (haproxy) await e2eBenchmarks((name, value, note) => row(name, value, note));
if (haproxy) await runtimeBenchmarks((name, value, note) => row(name, value, note));

if (Deno.args.includes("--markdown")) {
  console.log("\n| benchmark | figure | note |\n| --- | ---: | --- |");
  for (const [name, value, note] of rows) console.log(`| ${name} | ${value} | ${note} |`);
}
