/**
 * HAProxy run by haconfd itself: `haproxy -W -S <socket>,mode,600 -f <config>` as a child process,
 * reloaded through its master CLI, restarted with backoff when it exits unexpectedly, stopped on close.
 *
 * @module
 */

import { Backoff } from "../backoff.ts";
import { delay } from "../delay.ts";
import { errorText, type Logger, silentLogger } from "../log.ts";
import { masterCommand, parseShowProc } from "./master_cli.ts";
import { DEFAULT_RELOAD_TIMEOUT_MS, type Reloader, type ReloadResult, reloadViaMaster } from "./reload.ts";
import { haproxyEnv } from "./malloc_env.ts";
import { haproxyLineLevel } from "./line_level.ts";
import { parentDeathPrefix, resolveProgram } from "./parent_death.ts";

/** Options of {@linkcode startManagedHaproxy}. */
export interface ManagedHaproxyOptions {
  /** The config file HAProxy loads (and reloads). */
  configPath: string;
  /** Path of the master CLI unix socket haconfd creates. */
  masterSocket: string;
  /** The haproxy binary. @default {"haproxy"} */
  binary?: string;
  /** Pid file passed as `-p`. @default {none} */
  pidFile?: string;
  /** Extra arguments placed before `-f`. @default {[]} */
  extraArgs?: readonly string[];
  /** Logger; HAProxy's stderr lines (alerts, warnings, notices) are logged through it. @default {silentLogger} */
  log?: Logger;
  /**
   * Where HAProxy's stdout goes. `"inherit"` (haconfd's own stdout) keeps the traffic log that the
   * default templates write there out of haconfd: the control plane never relays data-plane lines.
   * @default {"inherit"}
   */
  stdout?: "inherit" | "null";
  /** Time for the master CLI to answer after a (re)start. @default {10000} */
  startTimeoutMs?: number;
  /** Time for a reload, confirmation included. @default {30000} */
  reloadTimeoutMs?: number;
  /**
   * First restart delay after an unexpected exit (jittered down to half); doubles up to `restartMaxMs`.
   * @default {500}
   */
  restartMinMs?: number;
  /** Largest restart delay. @default {30000} */
  restartMaxMs?: number;
  /** A process that ran this long resets the restart delay to `restartMinMs`. @default {10000} */
  stableAfterMs?: number;
  /** Stop by soft stop (SIGUSR1: finish connections) rather than SIGTERM. @default {false} */
  softStop?: boolean;
  /** Time to wait for HAProxy to exit on close before SIGKILL. @default {10000} */
  stopTimeoutMs?: number;
}

/** A running (or restarting) HAProxy owned by haconfd. */
export interface ManagedHaproxy extends Reloader {
  /** `"managed"`. */
  readonly kind: "managed";
  /** Path of the master CLI socket. */
  readonly masterSocket: string;
  /** Pid of the current master process, `undefined` while not running. */
  readonly pid: number | undefined;
  /** How many times HAProxy was started (first start included). */
  readonly starts: number;
  /** Resolves once the current master answers on its socket (starting it now if it waits for a restart). */
  ready(signal?: AbortSignal): Promise<void>;
}

async function pipeLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) if (line.trim() !== "") onLine(line);
  }
  if (rest.trim() !== "") onLine(rest);
}

function logHaproxyLine(log: Logger, line: string, stopping: boolean, alerts?: string[]): void {
  const text = line.trimEnd();
  if (text.startsWith("[ALERT]") && alerts !== undefined) {
    alerts.push(text.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, ""));
    alerts.splice(0, Math.max(0, alerts.length - 5));
  }
  const { level, backend } = haproxyLineLevel(text, stopping);
  log[level](text, backend === undefined ? {} : { backend });
}

/**
 * Starts HAProxy in master-worker mode as a child and resolves once its master CLI answers.
 *
 * @example
 * ```ts
 * const haproxy = await startManagedHaproxy({ configPath: "/etc/haproxy/haproxy.cfg", masterSocket: "/run/haconfd/master.sock" });
 * await haproxy.reload();
 * await haproxy.close();
 * ```
 *
 * @throws {Error} When the binary is missing or HAProxy does not come up within `startTimeoutMs`
 * (it is stopped again before the error is thrown).
 */
export async function startManagedHaproxy(options: ManagedHaproxyOptions): Promise<ManagedHaproxy> {
  const {
    configPath,
    masterSocket,
    binary = "haproxy",
    pidFile,
    extraArgs = [],
    log: baseLog = silentLogger,
    startTimeoutMs = 10_000,
    reloadTimeoutMs = DEFAULT_RELOAD_TIMEOUT_MS,
    restartMinMs = 500,
    restartMaxMs = 30_000,
    stableAfterMs = 10_000,
    softStop = false,
    stopTimeoutMs = 10_000,
    stdout = "inherit",
  } = options;
  const log = baseLog.child("haproxy");
  const args = [
    "-W",
    "-S",
    `${masterSocket},mode,600`,
    ...(pidFile === undefined ? [] : ["-p", pidFile]),
    ...extraArgs,
    "-f",
    configPath,
  ];
  const address = { transport: "unix", path: masterSocket } as const;
  let resolved: string;
  try {
    resolved = await resolveProgram(binary);
  } catch (error) {
    throw new Error(`Cannot start HAProxy "${binary}"`, { cause: error });
  }
  const [program = resolved, ...wrapped] = [...(await parentDeathPrefix()), resolved];
  if (wrapped.length === 0) {
    log.warn("setpriv --pdeathsig is not available: if haconfd is killed (SIGKILL), HAProxy keeps running", {
      binary,
    });
  }
  const closing = new AbortController();
  let child: Deno.ChildProcess | undefined;
  /** Every started process until it exited and its output was read (old workers may hold the pipes). */
  const lifetimes = new Set<Promise<void>>();
  let starts = 0;
  const restarts = new Backoff(restartMinMs, restartMaxMs);
  let restartTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  /** The last [ALERT] lines, to say why a start failed. */
  const recentAlerts: string[] = [];
  /** Every stderr line's count and the alerts since a reload began (read by `reload()`). */
  const stderrSeen = { lines: 0, alerts: [] as string[], listeners: new Set<(line: string) => void>() };
  /** The output of the current process, read to its end (bounded wait: old workers may hold it). */
  let currentOutput: Promise<void> = Promise.resolve();

  function onStderr(line: string): void {
    logHaproxyLine(log, line, closed, recentAlerts);
    stderrSeen.lines++;
    if (line.startsWith("[ALERT]")) stderrSeen.alerts.push(line.trimEnd());
    for (const listener of stderrSeen.listeners) listener(line);
  }

  function spawn(): void {
    recentAlerts.length = 0;
    // stdout (the templates' traffic log) goes straight to haconfd's stdout; only stderr, where HAProxy
    // writes its alerts, warnings and notices, is read.
    const proc = new Deno.Command(program, {
      args: [...wrapped, ...args],
      stdin: "null",
      stdout,
      stderr: "piped",
      env: haproxyEnv(),
    }).spawn();
    child = proc;
    starts++;
    const spawnedAt = performance.now();
    log.info("haproxy started", { pid: proc.pid, args });
    const output = pipeLines(proc.stderr, onStderr)
      .catch((error) => log.warn("cannot read haproxy output", { error: errorText(error) }));
    currentOutput = output;
    const lifetime = proc.status.then(async (status) => {
      if (child === proc) child = undefined;
      if (performance.now() - spawnedAt >= stableAfterMs) restarts.reset();
      if (closed) {
        log.info("haproxy stopped", { pid: proc.pid, code: status.code, signal: status.signal });
      } else {
        const restartInMs = scheduleRestart();
        log.error("haproxy exited unexpectedly", {
          pid: proc.pid,
          code: status.code,
          signal: status.signal,
          restartInMs,
        });
      }
      await output;
    });
    lifetimes.add(lifetime);
    lifetime.finally(() => lifetimes.delete(lifetime));
  }

  /** Starts the restart timer unless one runs; returns its delay (undefined when none was started). */
  function scheduleRestart(): number | undefined {
    if (closed || restartTimer !== undefined) return undefined;
    const wait = restarts.next();
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      startNow();
    }, wait);
    return wait;
  }

  function startNow(): void {
    if (closed || child !== undefined) return;
    if (restartTimer !== undefined) {
      clearTimeout(restartTimer);
      restartTimer = undefined;
    }
    try {
      spawn();
    } catch (error) {
      log.error("cannot start haproxy", { binary, error: errorText(error) });
      scheduleRestart();
    }
  }

  async function waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    if (child === undefined) startNow();
    const waitingFor = child;
    while (performance.now() < deadline && !closed && !signal?.aborted) {
      const current = child;
      if (current !== waitingFor) {
        // It exited while starting: fail now with HAProxy's own words instead of restarting in a loop.
        // Its alerts were written before it exited; let the reader catch up with them (bounded).
        await Promise.race([currentOutput, delay(1_000, { signal: closing.signal, resolveOnAbort: true })]);
        throw new Error(
          `HAProxy exited during start-up${recentAlerts.length ? `: ${recentAlerts.join("; ")}` : ""}`,
          { cause: last },
        );
      }
      if (current !== undefined) {
        try {
          const table = parseShowProc(
            await masterCommand(address, "show proc", { timeoutMs: 1_000, signal: closing.signal }),
          );
          if (table.master.pid === current.pid && table.workers.length > 0) {
            restarts.reset();
            return;
          }
          last = new Error(`master socket answered for pid ${table.master.pid}, waiting for ${current.pid}`);
        } catch (error) {
          last = error;
        }
      }
      await delay(50, { signal: signal ?? closing.signal, resolveOnAbort: true });
    }
    throw new Error(`HAProxy did not answer on master socket "${masterSocket}" within ${timeoutMs} ms`, {
      cause: last,
    });
  }

  async function stop(): Promise<void> {
    const current = child;
    if (current === undefined) return void await Promise.all(lifetimes);
    const sig: Deno.Signal = softStop ? "SIGUSR1" : "SIGTERM";
    try {
      current.kill(sig);
    } catch {
      // already gone
    }
    const gone = new AbortController();
    const timedOut = await Promise.race([
      current.status.then(() => false),
      delay(stopTimeoutMs, { signal: gone.signal, resolveOnAbort: true }).then(() => !gone.signal.aborted),
    ]);
    gone.abort();
    if (timedOut) {
      log.warn("haproxy did not stop in time, killing it", { pid: current.pid, signal: sig });
      try {
        current.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all(lifetimes);
  }

  /**
   * Reloads through the master CLI; a failed reload's result carries the alerts the master wrote
   * meanwhile (2.6 answers nothing on the socket: its reasons, e.g. a port it cannot bind, are only
   * on stderr), waiting (bounded) for its "Loading failure" line when they have not been read yet.
   */
  async function reloadWithAlerts(signal?: AbortSignal): Promise<ReloadResult> {
    stderrSeen.alerts = [];
    const failureRead = new AbortController();
    const listener = (line: string) => {
      if (/Loading failure/.test(line)) failureRead.abort();
    };
    stderrSeen.listeners.add(listener);
    try {
      const result = await reloadViaMaster({ address, timeoutMs: reloadTimeoutMs, log }, signal);
      if (result.ok) return result;
      const stopWaiting = AbortSignal.any([failureRead.signal, closing.signal, ...(signal ? [signal] : [])]);
      await delay(1_000, { signal: stopWaiting, resolveOnAbort: true });
      const alerts = stderrSeen.alerts;
      return alerts.length === 0 ? result : { ...result, detail: [result.detail, ...alerts].join("\n") };
    } finally {
      stderrSeen.listeners.delete(listener);
    }
  }

  try {
    spawn();
  } catch (error) {
    closed = true;
    throw new Error(`Cannot start HAProxy "${binary}"`, { cause: error });
  }
  const managed: ManagedHaproxy = {
    kind: "managed",
    masterSocket,
    get pid() {
      return child?.pid;
    },
    get starts() {
      return starts;
    },
    ready: (signal?: AbortSignal) => waitReady(startTimeoutMs, signal),
    async reload(signal?: AbortSignal): Promise<ReloadResult> {
      const started = performance.now();
      if (child === undefined) {
        // Not running (waiting for a restart): starting it loads the installed config.
        try {
          await waitReady(startTimeoutMs, signal);
          return {
            ok: true,
            durationMs: performance.now() - started,
            detail: `started haproxy pid ${managed.pid}`,
          };
        } catch (error) {
          const message = errorText(error);
          return { ok: false, durationMs: performance.now() - started, detail: message, error: message };
        }
      }
      return await reloadWithAlerts(signal);
    },
    async close(): Promise<void> {
      if (closed) return void await Promise.all(lifetimes);
      closed = true;
      closing.abort();
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      restartTimer = undefined;
      await stop();
    },
  };
  try {
    await waitReady(startTimeoutMs);
  } catch (error) {
    await managed.close();
    throw error;
  }
  return managed;
}
