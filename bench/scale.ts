// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * The scale benchmark (`tools/deno task bench scale [--label NAME] [--sizes 300,3000,16700]`): a real
 * `haconfd run` subprocess against the fake API server holding a synthetic cluster (bench/cluster.ts),
 * measured from outside: start → first config installed (the check included), one change: API write →
 * new config installed, the daemon's CPU per change (/proc/<pid>/stat), peak RSS during start-up and
 * during 100 changes (VmHWM, reset through /proc/<pid>/clear_refs), `/status` and the status page;
 * in-process: model + render per change. HAProxy's own floor (`haproxy -c` of the same config) is
 * measured in the same run. Figures are printed and written to bench/RESULTS.md under the label.
 *
 * @module
 */
import { haproxyEnv } from "../lib/haproxy/malloc_env.ts";
import { parseObjectList } from "../lib/source/kube/objects.ts";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { cluster, clusterObject } from "./cluster.ts";
import { inProcessChangeCost } from "./scale_inprocess.ts";
import { cpuMs, inode, median, medianMs, percentile, replaced, startBenchDaemon } from "./measure.ts";

const CHANGES = 100;
const RESULTS = new URL("./RESULTS.md", import.meta.url);

/** A field of /proc/<pid>/status in MiB (VmHWM, VmRSS). */
export async function memMiB(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Resets the peak RSS (VmHWM) of a process we own. */
async function resetPeak(pid: number): Promise<void> {
  await Deno.writeTextFile(`/proc/${pid}/clear_refs`, "5");
}

/** Median of 3 `haproxy -c` of `path`, with only PATH and `env` in its environment. */
export async function haproxyCheckMs(path: string, env: Record<string, string>): Promise<number> {
  return await medianMs(3, async () => {
    const out = await new Deno.Command("haproxy", {
      args: ["-c", "-q", "-f", path],
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin", ...env },
    }).output();
    if (!out.success) throw new Error(`haproxy -c rejects ${path}: ${new TextDecoder().decode(out.stderr)}`);
  });
}

/** What one cluster size measured. */
interface SizeResult {
  objects: number;
  addresses: number;
  startMs: number;
  changeMedianMs: number;
  changeP90Ms: number;
  modelRenderMs: number;
  passOwnMs: number;
  cpuPerChangeMs: number;
  peakStartMiB: number;
  peakChangesMiB: number;
  configKiB: number;
  haproxyCheckMs: number;
  haproxyCheckEnvMs: number;
  listFloorMs: number;
  statusKiB: number;
  statusMs: number;
  pageKiB: number;
  pageMs: number;
}

/**
 * The API's own floor: paging through the whole list as haconfd does (500 a page, the next page asked for
 * as soon as a page is parsed), doing nothing else with the items.
 */
export async function listFloorMs(url: string): Promise<number> {
  const start = performance.now();
  let cont: string | undefined;
  do {
    const query = new URLSearchParams({ limit: "500", ...(cont ? { continue: cont } : {}) });
    const page = await (await fetch(`${url}/api/v1/endpoints?${query}`)).json() as {
      metadata: { continue?: string };
    };
    cont = page.metadata.continue || undefined;
  } while (cont !== undefined);
  return performance.now() - start;
}

async function timedGet(url: string): Promise<{ ms: number; bytes: number }> {
  const start = performance.now();
  const res = await fetch(url);
  const body = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return { ms: performance.now() - start, bytes: body.length };
}

async function measure(n: number): Promise<SizeResult> {
  const objects = cluster(n);
  const kube = await startKubeServer({ objects: { endpoints: objects } });
  try {
    const daemon = await startBenchDaemon(kube.url);
    try {
      await replaced(daemon.configPath, null, 120_000);
      const startMs = performance.now() - daemon.spawnedAt;
      const peakStartMiB = await memMiB(daemon.pid, "VmHWM");
      await daemon.waitReady({ timeoutMs: 60_000 });
      // Let start-up work (a second pass, if any) finish before the changes are measured.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await resetPeak(daemon.pid);
      const cpuBefore = await cpuMs(daemon.pid);
      const latencies: number[] = [];
      let ino = await inode(daemon.configPath);
      for (let k = 1; k <= CHANGES; k++) {
        const i = (k * 7919) % n;
        await new Promise((resolve) => setTimeout(resolve, 20)); // a lone change after a quiet moment
        const t0 = performance.now();
        kube.upsert("endpoints", clusterObject(i, 3, k));
        ino = await replaced(daemon.configPath, ino, 30_000);
        latencies.push(performance.now() - t0);
      }
      const cpuPerChangeMs = (await cpuMs(daemon.pid) - cpuBefore) / CHANGES;
      const peakChangesMiB = await memMiB(daemon.pid, "VmHWM");
      const configKiB = (await Deno.stat(daemon.configPath)).size / 1024;
      const floor = await haproxyCheckMs(daemon.configPath, {});
      const floorEnv = await haproxyCheckMs(daemon.configPath, haproxyEnv());
      const listFloor = median([
        await listFloorMs(kube.url),
        await listFloorMs(kube.url),
        await listFloorMs(kube.url),
      ]);
      const status = await timedGet(`${daemon.statusUrl}/status`);
      const passOwnMs = median(
        ((await daemon.status()).applies as {
          outcome: string;
          durationMs: number;
          checkMs: number | null;
          reloadMs: number | null;
        }[])
          .filter((a) => a.outcome === "applied")
          .map((a) => a.durationMs - (a.checkMs ?? 0) - (a.reloadMs ?? 0)),
      );
      const page = await timedGet(`${daemon.statusUrl}/`);
      const sets = parseObjectList({ kind: "EndpointsList", items: objects }).endpoints;
      return {
        objects: n,
        addresses: n * 3,
        startMs,
        changeMedianMs: median(latencies),
        changeP90Ms: percentile(latencies, 90),
        passOwnMs,
        modelRenderMs: inProcessChangeCost(sets, (i, k) => clusterObject(i, 3, k)),
        cpuPerChangeMs,
        peakStartMiB,
        peakChangesMiB,
        configKiB,
        haproxyCheckMs: floor,
        haproxyCheckEnvMs: floorEnv,
        listFloorMs: listFloor,
        statusKiB: status.bytes / 1024,
        statusMs: status.ms,
        pageKiB: page.bytes / 1024,
        pageMs: page.ms,
      };
    } finally {
      await daemon.stop();
    }
  } finally {
    await kube.close();
  }
}

async function run(command: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(command[0]!, { args: command.slice(1), stderr: "null" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "?";
  }
}

/** The machine, Deno, HAProxy and haconfd commit, as the lines a RESULTS.md section starts with. */
export async function machineFacts(): Promise<string[]> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "?";
  const mem = /^MemTotal:\s+(\d+) kB/m.exec(await Deno.readTextFile("/proc/meminfo").catch(() => ""))?.[1];
  const haproxy = (await run(["haproxy", "-v"])).split("\n")[0] ?? "?";
  return [
    `- CPU: ${model}, ${navigator.hardwareConcurrency} cores; memory ${
      mem ? (Number(mem) / 1048576).toFixed(1) : "?"
    } GiB`,
    `- OS: ${Deno.osRelease()} (${Deno.build.target}); load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    } at start`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ${haproxy}`,
    `- haconfd commit ${await run(["git", "rev-parse", "--short", "HEAD"])}${
      (await run(["git", "status", "--porcelain", "--untracked-files=no"])) === ""
        ? ""
        : " (with local changes)"
    }; ${new Date().toISOString()}`,
  ];
}

function table(results: SizeResult[]): string[] {
  const f = (v: number, digits = 0) => v.toFixed(digits);
  return [
    "| objects (addresses) | start → first config | API list floor | event → config (median / p90) | pass without check and reload | model + render per change | CPU per change | peak RSS start-up | peak RSS 100 changes | config | `haproxy -c` floor: plain / haconfd's env | /status | page |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...results.map((r) =>
      `| ${r.objects} (${(r.addresses / 1000).toFixed(1)}k) | ${f(r.startMs)} ms | ${f(r.listFloorMs)} ms | ${
        f(r.changeMedianMs)
      } / ${f(r.changeP90Ms)} ms | ${f(r.passOwnMs)} ms | ${f(r.modelRenderMs, 2)} ms | ${
        f(r.cpuPerChangeMs, 1)
      } ms | ${f(r.peakStartMiB)} MiB | ${f(r.peakChangesMiB)} MiB | ${f(r.configKiB)} KiB | ${
        f(r.haproxyCheckMs)
      } / ${f(r.haproxyCheckEnvMs)} ms | ${f(r.statusKiB)} KiB, ${f(r.statusMs)} ms | ${f(r.pageKiB)} KiB, ${
        f(r.pageMs)
      } ms |`
    ),
  ];
}

/** Replaces (or appends) the section `## Scale: <label>` of bench/RESULTS.md. */
async function writeResults(label: string, lines: string[]): Promise<void> {
  const text = await Deno.readTextFile(RESULTS);
  const heading = `## Scale: ${label}`;
  const section = `${heading}\n\n${lines.join("\n")}\n`;
  const start = text.indexOf(`${heading}\n`);
  if (start === -1) {
    await Deno.writeTextFile(RESULTS, `${text.replace(/\n*$/, "\n")}\n${section}`);
    return;
  }
  const next = text.indexOf("\n## ", start + heading.length);
  await Deno.writeTextFile(RESULTS, text.slice(0, start) + section + (next === -1 ? "" : text.slice(next)));
}

/** Runs the scale benchmark with the command-line arguments after `scale`. */
export async function scaleBenchmark(args: string[]): Promise<void> {
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at === -1 ? undefined : args[at + 1];
  };
  const label = option("--label") ?? "latest";
  const sizes = (option("--sizes") ?? "300,3000,16700").split(",").map(Number);
  const facts = await machineFacts();
  console.log(facts.join("\n"));
  const results: SizeResult[] = [];
  for (const n of sizes) {
    console.log(`\n${n} objects…`);
    const result = await measure(n);
    results.push(result);
    console.log(JSON.stringify(result));
  }
  const lines = [
    ...facts,
    "",
    ...table(results),
    "",
    `Each size: one \`haconfd run\` subprocess (\`--haproxy-reload-cmd true\`, \`--wait 1ms:1s\`, ` +
    "`--min-reload-interval 0s`) against the fake API server; " +
    `${CHANGES} lone changes (one object's addresses moved, 20 ms apart), each timed from the API write to the ` +
    "new config file in place (its `haproxy -c` included). CPU per change: the daemon's own user+system " +
    "time over the changes (the `haproxy -c` children not included). Peak RSS: VmHWM after the first config, " +
    "then reset and read after the changes. Pass without check and reload: the daemon's own pass records " +
    "(/status applies, the last 20), duration minus `haproxy -c` and reload. Model + render per change: " +
    "in-process, the daemon's generator, median of 100 changes. " +
    "`haproxy -c` floor: median of 3 checks of the final config, plain and with the malloc environment haconfd " +
    "gives HAProxy (lib/haproxy/malloc_env.ts). API list floor: median of 3 listings of the whole cluster by a " +
    "bare client (500 a page, nothing done with the items). /status and page: one GET each, after the changes.",
  ];
  console.log(`\n${table(results).join("\n")}`);
  await writeResults(label, lines);
}
