// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * Watch benchmarks against the fake API server (lib/demo/kube_server.ts) on 127.0.0.1: the time
 * from a write to the source's change notification, and the source's memory for many objects.
 * Run with `tools/deno task bench`.
 *
 * @module
 */
import { parseSettings } from "./settings.ts";
import { createKubeSource } from "../lib/source/kube/source.ts";
import { type JsonObject, startKubeServer } from "../lib/demo/kube_server.ts";
import { createLogger } from "../lib/log.ts";
import { percentile } from "./measure.ts";

function endpoints(i: number, annotated: boolean, version = 0): JsonObject {
  return {
    metadata: {
      name: `svc-${i}`,
      namespace: `ns-${i % 20}`,
      ...(annotated ? { annotations: { domain: `svc-${i}.example.test`, proto: "http" } } : {}),
    },
    subsets: [{
      addresses: [1, 2, 3].map((n) => ({ ip: `10.${(i >> 8) & 255}.${i & 255}.${n + (version % 200)}` })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    }],
  };
}

/** Prints one figure. */
export function print(name: string, value: string, note = ""): void {
  console.log(`${name.padEnd(58)} ${value.padStart(12)}  ${note}`);
}

/** Runs the watch benchmarks, reporting each figure through `report`. */
export async function watchBenchmarks(report: typeof print = print): Promise<void> {
  const server = await startKubeServer({});
  const controller = new AbortController();
  try {
    const source = await createKubeSource(parseSettings(["--api-servers", server.url]), {
      ...(Deno.env.get("BENCH_DEBUG") ? { log: createLogger({ level: "debug" }) } : {}),
    });
    let resolveChange: (() => void) | null = null;
    source.onChange(() => resolveChange?.());
    const running = source.run(controller.signal);
    const synced = Promise.withResolvers<void>();
    resolveChange = () => source.status().synced && synced.resolve();
    server.upsert("endpoints", endpoints(0, true));
    await synced.promise;

    const latencies: number[] = [];
    for (let i = 1; i <= 200; i++) {
      const seen = Promise.withResolvers<void>();
      resolveChange = () => seen.resolve();
      const start = performance.now();
      server.upsert("endpoints", endpoints(i % 10, true, i)); // every write changes the projection
      await seen.promise;
      latencies.push(performance.now() - start);
    }
    report("watch: write → source change, median of 200", `${percentile(latencies, 50).toFixed(2)} ms`);
    report("watch: write → source change, p99 of 200", `${percentile(latencies, 99).toFixed(2)} ms`);

    resolveChange = null;
    controller.abort();
    await running;
  } finally {
    controller.abort();
    await server.close();
  }

  // Memory: the fake server is filled first, then a fresh source lists it; the growth is the source's.
  const big = await startKubeServer({});
  const bigController = new AbortController();
  try {
    for (let i = 0; i < 10_000; i++) big.upsert("endpoints", endpoints(i, i % 2 === 0));
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = Deno.memoryUsage().heapUsed;
    const source = await createKubeSource(parseSettings(["--api-servers", big.url]), {});
    const synced = Promise.withResolvers<void>();
    source.onChange(() => source.status().synced && synced.resolve());
    const running = source.run(bigController.signal);
    await synced.promise;
    const sets = source.snapshot().length;
    gc?.();
    report(
      "source: heap held after listing 10000 Endpoints (half annotated)",
      `${((Deno.memoryUsage().heapUsed - before) / 1048576).toFixed(1)} MiB`,
      `${sets} endpoint sets kept; unannotated objects kept as keys only`,
    );
    bigController.abort();
    await running;
  } finally {
    bigController.abort();
    await big.close();
  }
}
if (import.meta.main) await watchBenchmarks();
