// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * The start-up benchmark (`tools/deno task bench startup [--objects 16700] [--rounds 5]`): one API stand-in
 * holding a synthetic cluster (bench/cluster.ts), then `rounds` real `haconfd run` subprocesses one after
 * the other, each measured from its spawn to its first config installed (its `haproxy -c` included) and
 * by its peak RSS then (VmHWM); beside them, in the same run, the floors: a bare client listing the whole
 * cluster and `haproxy -c` of the same config (with haconfd's malloc environment). Printed as lines to
 * paste into bench/RESULTS.md.
 *
 * @module
 */
import { haproxyEnv } from "../lib/haproxy/malloc_env.ts";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { cluster } from "./cluster.ts";
import { median, replaced, startBenchDaemon } from "./measure.ts";
import { haproxyCheckMs, listFloorMs, machineFacts, memMiB } from "./scale.ts";

/**
 * One start-up: spawn → first config installed, and the peak RSS then; with `check`, the `haproxy -c`
 * floor of that config (its map files beside it) too.
 */
async function startOnce(
  url: string,
  check: boolean,
): Promise<{ ms: number; peakMiB: number; checkMs: number }> {
  const daemon = await startBenchDaemon(url);
  try {
    await replaced(daemon.configPath, null, 120_000);
    const ms = performance.now() - daemon.spawnedAt;
    const peakMiB = await memMiB(daemon.pid, "VmHWM");
    const checkMs = check ? await haproxyCheckMs(daemon.configPath, haproxyEnv()) : NaN;
    return { ms, peakMiB, checkMs };
  } finally {
    await daemon.stop();
  }
}

/** Runs the start-up benchmark with the command-line arguments after `startup`. */
export async function startupBenchmark(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) => {
    const at = args.indexOf(name);
    return at === -1 ? fallback : Number(args[at + 1]);
  };
  const objects = option("--objects", 16_700);
  const rounds = option("--rounds", 5);
  const facts = await machineFacts();
  const kube = await startKubeServer({ objects: { endpoints: cluster(objects) } });
  try {
    const runs = [];
    for (let r = 0; r < rounds; r++) runs.push(await startOnce(kube.url, r === rounds - 1));
    const list = median([
      await listFloorMs(kube.url),
      await listFloorMs(kube.url),
      await listFloorMs(kube.url),
    ]);
    const check = runs.at(-1)!.checkMs;
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
    const mib = runs.map((r) => r.peakMiB).sort((a, b) => a - b);
    const f = (v: number) => v.toFixed(0);
    console.log([
      ...facts,
      `- load average ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")} at the end`,
      "",
      "| objects | start → first config: median (min–max) | peak RSS: median (min–max) | API list floor | `haproxy -c` floor | floors + 0.5 s |",
      "|---|---:|---:|---:|---:|---:|",
      `| ${objects} (${rounds} runs) | ${f(median(ms))} ms (${f(ms[0]!)}–${f(ms.at(-1)!)}) | ${
        f(median(mib))
      } MiB (${f(mib[0]!)}–${f(mib.at(-1)!)}) | ${f(list)} ms | ${f(check)} ms | ${
        f(list + check + 500)
      } ms |`,
    ].join("\n"));
  } finally {
    await kube.close();
  }
}
