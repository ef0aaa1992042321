// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * End-to-end latency: an Endpoints change written to the (fake) API server → HAProxy, managed by a real
 * `haconfd run` subprocess, routes a request to the new backend. Everything on 127.0.0.x.
 * Run with `tools/deno run -A bench/e2e.ts` (part of `tools/deno task bench`).
 *
 * @module
 */
import { httpGet } from "../lib/demo/backends.ts";
import { median } from "./measure.ts";
import { endpoints, startDaemonProcess, startHttpBackends, startKube } from "../tests/support/daemon.ts";

const HOST = "app.example.test";
const ROUNDS = 10;

/** Measures write → traffic switch for a `--wait` setting, reporting through `report`. */
export async function e2eBenchmarks(
  report: (name: string, value: string, note?: string) => void,
  waits: string[] = ["200ms:2s", "50ms:500ms"],
): Promise<void> {
  const { backends, port } = await startHttpBackends(["blue", "green"]);
  const annotations = { domain: HOST, proto: "http" };
  const kube = await startKube([endpoints("app", annotations, ["127.0.0.2"], port)]);
  try {
    for (const wait of waits) {
      const daemon = await startDaemonProcess({ apiServer: kube.url, wait, args: ["--log-level", "warn"] });
      try {
        const latencies: number[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const [ip, name] = round % 2 === 0 ? ["127.0.0.3", "green"] : ["127.0.0.2", "blue"];
          // Let the previous reload settle, so every round measures a lone change (no min-reload wait).
          await new Promise((resolve) => setTimeout(resolve, 1200));
          const start = performance.now();
          kube.upsert("endpoints", endpoints("app", annotations, [ip], port));
          for (;;) {
            const answer = await httpGet(daemon.ports.http, HOST, "/", { timeoutMs: 2000 }).catch(() => null);
            if (answer?.body.includes(name)) break;
            if (performance.now() - start > 10_000) throw new Error(`no switch to ${name} in 10 s`);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          latencies.push(performance.now() - start);
        }
        report(
          `end to end: API write → HAProxy routes to new pod (--wait ${wait})`,
          `${median(latencies).toFixed(0)} ms`,
          `median of ${ROUNDS}; max ${Math.max(...latencies).toFixed(0)} ms`,
        );
      } finally {
        await daemon.stop();
      }
    }
  } finally {
    await kube.close();
    await Promise.all(backends.map((b) => b.close()));
  }
}

if (import.meta.main) {
  await e2eBenchmarks((name, value, note = "") =>
    console.log(`${name.padEnd(70)} ${value.padStart(8)}  ${note}`)
  );
}
