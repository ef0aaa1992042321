/**
 * What the benchmarks measure with: order statistics, a process's CPU time from /proc, and waiting for the
 * applier to rename a new config into place.
 *
 * @module
 */
import { type DaemonProcess, startDaemonProcess } from "../tests/support/daemon.ts";

/** The value at percentile `p` (0–100) of `values`, NaN when there are none. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The median time of `rounds` runs of `fn` one after the other, in ms. */
export async function medianMs(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** The median of `values` (the upper one of an even count), NaN when there are none. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

const TICK_MS = 1000 / 100; // USER_HZ: clock ticks per second of /proc/<pid>/stat on Linux

/**
 * CPU time of a process in ms: utime + stime, and with `children` also the time of the children it reaped
 * (cutime + cstime: e.g. its `haproxy -c` runs).
 */
export async function cpuMs(pid: number, { children = false } = {}): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const columns = children ? [11, 12, 13, 14] : [11, 12];
  return columns.reduce((sum, i) => sum + Number(fields[i]), 0) * TICK_MS;
}

/** The inode of `path`, null when it does not exist. */
export async function inode(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).ino;
  } catch {
    return null;
  }
}

/** Polls until the file at `path` is replaced (a new inode: the applier renames into place); its inode. */
export async function replaced(path: string, from: number | null, timeoutMs = 20_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const now = await inode(path);
    if (now !== null && now !== from) return now;
    if (performance.now() > deadline) throw new Error(`${path} was not replaced within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * A `haconfd run` for start-up benchmarks: no HAProxy of its own (reload is `true`), quick passes, warnings
 * only in its log, not waited for (the caller times the first config with {@linkcode replaced}).
 */
export function startBenchDaemon(apiServer: string, args: string[] = []): Promise<DaemonProcess> {
  return startDaemonProcess({
    apiServer,
    haproxyRun: false,
    waitReady: false,
    wait: "1ms:1s",
    args: ["--haproxy-reload-cmd", "true", "--min-reload-interval", "0s", "--log-level", "warn", ...args],
  });
}
