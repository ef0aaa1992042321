// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * TLS termination at start-up: `haconfd run --tls` against the fake API server with N terminated hosts
 * (N Endpoints naming N `kubernetes.io/tls` Secrets, certificates made once with openssl and cached in
 * bench/.cache/), beside the same N hosts without TLS: time from spawn to the first installed config, the
 * daemon's peak RSS, and HAProxy's own floor, `haproxy -c` of each installed config (time and peak RSS).
 * Run with `tools/deno task bench tls [N]` (default 1000); the figures are kept in bench/RESULTS.md.
 *
 * @module
 */
import { makeCa, makeLeaf, serverExtensions } from "../lib/demo/certs.ts";
import { type JsonObject, startKubeServer } from "../lib/demo/kube_server.ts";
import { endpoints } from "../tests/support/daemon.ts";
import { median, replaced, startBenchDaemon } from "./measure.ts";

const CACHE = new URL("./.cache/", import.meta.url).pathname;

/** The N certificates (cert, key PEM), made on first use and kept in bench/.cache/tls-N/. */
async function certificates(n: number): Promise<{ cert: string; key: string }[]> {
  const dir = `${CACHE}tls-${n}`;
  await Deno.mkdir(dir, { recursive: true });
  try {
    await Deno.stat(`${dir}/ca.crt`);
  } catch {
    await makeCa(dir, "ca", "haconfd-bench-ca");
  }
  const out: { cert: string; key: string }[] = [];
  for (let start = 0; start < n; start += 8) {
    await Promise.all(Array.from({ length: Math.min(8, n - start) }, async (_, j) => {
      const i = start + j, name = `t${i}`;
      try {
        await Deno.stat(`${dir}/${name}.crt`);
      } catch {
        await makeLeaf(
          dir,
          name,
          "ca",
          `/CN=t${i}.example.test`,
          serverExtensions([`DNS:t${i}.example.test`]),
          {
            days: 90,
          },
        );
      }
      out[i] = {
        cert: await Deno.readTextFile(`${dir}/${name}.crt`),
        key: await Deno.readTextFile(`${dir}/${name}.key`),
      };
    }));
  }
  return out;
}

/** Peak RSS (VmHWM) of a process, MiB. */
async function peakMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** Median time and peak RSS (MiB) of 3 `haproxy -c` of `path`. */
async function haproxyCheck(path: string): Promise<{ ms: number; mib: number }> {
  const times: number[] = [], peaks: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const out = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%M", "haproxy", "-c", "-q", "-f", path],
    })
      .output();
    times.push(performance.now() - start);
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n");
    if (!out.success) throw new Error(`haproxy -c rejects ${path}: ${stderr.join("\n")}`);
    peaks.push(Number(stderr.at(-1)) / 1024);
  }
  return { ms: median(times), mib: median(peaks) };
}

/** Start-up of a daemon over `objects` (with `args`): time to the first config, peak RSS, haproxy -c. */
async function startUp(objects: { endpoints: JsonObject[]; secrets: JsonObject[] }, args: string[]) {
  await using kube = await startKubeServer({ objects });
  const daemon = await startBenchDaemon(kube.url, args);
  try {
    await replaced(daemon.configPath, null, 300_000);
    const firstMs = performance.now() - daemon.spawnedAt;
    const mib = await peakMiB(daemon.pid);
    return { firstMs, mib, check: await haproxyCheck(daemon.configPath) };
  } finally {
    await daemon.stop();
  }
}

/** Runs the benchmark for `n` hosts and prints a RESULTS.md table row per variant. */
export async function tlsBenchmark(n = 1000): Promise<void> {
  const pairs = await certificates(n);
  const hosts = pairs.map((_, i) => `t${i}.example.test`);
  const plain = hosts.map((domain, i) => endpoints(`t${i}`, { domain, proto: "http" }, ["127.0.0.2"], 1));
  const tls = hosts.map((domain, i) =>
    endpoints(`t${i}`, { domain, proto: "http", "haconfd.io/tls-secret": `tls-${i}` }, ["127.0.0.2"], 1)
  );
  const secrets = pairs.map(({ cert, key }, i) => ({
    metadata: { name: `tls-${i}`, namespace: "e2e" },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": cert, "tls.key": key },
  }));
  const rows: [string, Awaited<ReturnType<typeof startUp>>][] = [
    [`${n} http hosts, no TLS`, await startUp({ endpoints: plain, secrets: [] }, [])],
    [`${n} terminated hosts (--tls)`, await startUp({ endpoints: tls, secrets }, ["--tls"])],
  ];
  console.log(
    "| hosts | spawn → first config | haconfd peak RSS | `haproxy -c` of that config | its peak RSS |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${r.firstMs.toFixed(0)} ms | ${r.mib.toFixed(0)} MiB | ${r.check.ms.toFixed(0)} ms | ${
        r.check.mib.toFixed(0)
      } MiB |`,
    );
  }
}

if (import.meta.main) await tlsBenchmark(Number(Deno.args[0] ?? 1000));
