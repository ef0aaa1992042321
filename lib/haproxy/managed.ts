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

/** Where HAProxy's stdout goes: haconfd's stdout, nowhere, or appended to a file. */
export type ManagedStdout = "inherit" | "null" | { file: string };

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
   * `{ file }` appends it to a file (the demo, whose screen is its narrative), copied unread.
   * @default {"inherit"}
   */
  stdout?: ManagedStdout;
  /** The domain a backend named in HAProxy's lines serves, for the log (`domain=`). @default {none} */
  domainOf?: (backend: string) => string | undefined;
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

/** Copies `stream` to the end of `path` (created 0640 when missing). */
async function appendTo(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { append: true, create: true, mode: 0o640 });
  } catch (error) {
    await stream.cancel(); // a pipe nobody reads would block HAProxy's writes
    throw error;
  }
  try {
    // Chunk by chunk, as it arrives (pipeTo held the lines back until the stream ended).
    for await (const chunk of stream) {
      for (let done = 0; done < chunk.length;) done += await file.write(chunk.subarray(done));
    }
  } finally {
    file.close();
  }
}

function logHaproxyLine(
  log: Logger,
  line: string,
  stopping: boolean,
  context: { alerts?: string[]; domainOf?: ((backend: string) => string | undefined) | undefined },
): void {
  const { alerts, domainOf } = context;
  const text = line.trimEnd();
  if (text.startsWith("[ALERT]") && alerts !== undefined) {
    alerts.push(text.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, ""));
    alerts.splice(0, Math.max(0, alerts.length - 5));
  }
  const { level, backend, server } = haproxyLineLevel(text, stopping);
  if (backend === undefined) return log[level](text);
  const domain = domainOf?.(backend);
  log[level](text, {
    ...(domain === undefined ? {} : { domain }),
    backend,
    ...(server === undefined ? {} : { server }),
  });
}

/** The options with their defaults applied, and what was resolved before the first start. */
interface Resolved {
  binary: string;
  program: string;
  /** The wrapper's arguments (if any), then HAProxy's. */
  args: readonly string[];
  /** HAProxy's own arguments, for the log. */
  haproxyArgs: readonly string[];
  log: Logger;
  stdout: ManagedStdout;
  domainOf: ((backend: string) => string | undefined) | undefined;
  startTimeoutMs: number;
  reloadTimeoutMs: number;
  stableAfterMs: number;
  softStop: boolean;
  stopTimeoutMs: number;
  masterSocket: string;
}

/** Every stderr line's count and the alerts since a reload began (read by `reload()`). */
interface StderrSeen {
  lines: number;
  alerts: string[];
  listeners: Set<(line: string) => void>;
}

/**
 * The process's life: spawn, restart with backoff after an unexpected exit, wait for the master CLI,
 * reload through it, stop. One instance per managed HAProxy.
 */
class ManagedProcess implements ManagedHaproxy {
  readonly kind = "managed";
  readonly masterSocket: string;
  readonly #o: Resolved;
  readonly #address: { transport: "unix"; path: string };
  readonly #closing = new AbortController();
  readonly #restarts: Backoff;
  #child: Deno.ChildProcess | undefined;
  /** Every started process until it exited and its output was read (old workers may hold the pipes). */
  readonly #lifetimes = new Set<Promise<void>>();
  #starts = 0;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The last [ALERT] lines, to say why a start failed. */
  readonly #recentAlerts: string[] = [];
  readonly #stderrSeen: StderrSeen = { lines: 0, alerts: [], listeners: new Set() };
  /** The output of the current process, read to its end (bounded wait: old workers may hold it). */
  #currentOutput: Promise<void> = Promise.resolve();

  constructor(o: Resolved, restarts: Backoff) {
    this.#o = o;
    this.masterSocket = o.masterSocket;
    this.#address = { transport: "unix", path: o.masterSocket };
    this.#restarts = restarts;
  }

  /** Pid of the current master process, `undefined` while not running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How many times HAProxy was started. */
  get starts(): number {
    return this.#starts;
  }

  /** Starts the first process; a failure marks the instance closed. */
  first(): void {
    try {
      this.#spawn();
    } catch (error) {
      this.#closed = true;
      throw new Error(`Cannot start HAProxy "${this.#o.binary}"`, { cause: error });
    }
  }

  ready(signal?: AbortSignal): Promise<void> {
    return this.#waitReady(this.#o.startTimeoutMs, signal);
  }

  async reload(signal?: AbortSignal): Promise<ReloadResult> {
    if (this.#child !== undefined) return await this.#reloadWithAlerts(signal);
    // Not running (waiting for a restart): starting it loads the installed config.
    const started = performance.now();
    try {
      await this.#waitReady(this.#o.startTimeoutMs, signal);
      return { ok: true, durationMs: performance.now() - started, detail: `started haproxy pid ${this.pid}` };
    } catch (error) {
      const message = errorText(error);
      return { ok: false, durationMs: performance.now() - started, detail: message, error: message };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return void await Promise.all(this.#lifetimes);
    this.#closed = true;
    this.#closing.abort();
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    await this.#stop();
  }

  #onStderr(line: string): void {
    logHaproxyLine(this.#o.log, line, this.#closed, {
      alerts: this.#recentAlerts,
      domainOf: this.#o.domainOf,
    });
    this.#stderrSeen.lines++;
    if (line.startsWith("[ALERT]")) this.#stderrSeen.alerts.push(line.trimEnd());
    for (const listener of this.#stderrSeen.listeners) listener(line);
  }

  #spawn(): void {
    const { program, args, stdout, log } = this.#o;
    this.#recentAlerts.length = 0;
    // stdout (the templates' traffic log) goes straight to haconfd's stdout or a file; only stderr, where
    // HAProxy writes its alerts, warnings and notices, is read line by line.
    const proc = new Deno.Command(program, {
      args: [...args],
      stdin: "null",
      stdout: typeof stdout === "string" ? stdout : "piped",
      stderr: "piped",
      env: haproxyEnv(),
    })
      .spawn();
    this.#child = proc;
    this.#starts++;
    const spawnedAt = performance.now();
    log.info("haproxy started", { pid: proc.pid, args: this.#o.haproxyArgs });
    const output = Promise.all([
      pipeLines(proc.stderr, (line) => this.#onStderr(line)),
      typeof stdout === "string" ? undefined : appendTo(stdout.file, proc.stdout),
    ]).then(() => {}, (error) => log.warn("cannot read haproxy output", { error: errorText(error) }));
    this.#currentOutput = output;
    const lifetime = proc.status.then(async (status) => {
      this.#onExit(proc, status, spawnedAt);
      await output;
    });
    this.#lifetimes.add(lifetime);
    lifetime.finally(() => this.#lifetimes.delete(lifetime));
  }

  #onExit(proc: Deno.ChildProcess, status: Deno.CommandStatus, spawnedAt: number): void {
    if (this.#child === proc) this.#child = undefined;
    if (performance.now() - spawnedAt >= this.#o.stableAfterMs) this.#restarts.reset();
    const facts = { pid: proc.pid, code: status.code, signal: status.signal };
    if (this.#closed) {
      this.#o.log.info("haproxy stopped", facts);
    } else {
      const restartInMs = this.#scheduleRestart();
      this.#o.log.error("haproxy exited unexpectedly", { ...facts, restartInMs });
    }
  }

  /** Starts the restart timer unless one runs; returns its delay (undefined when none was started). */
  #scheduleRestart(): number | undefined {
    if (this.#closed || this.#restartTimer !== undefined) return undefined;
    const wait = this.#restarts.next();
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#startNow();
    }, wait);
    return wait;
  }

  #startNow(): void {
    if (this.#closed || this.#child !== undefined) return;
    if (this.#restartTimer !== undefined) {
      clearTimeout(this.#restartTimer);
      this.#restartTimer = undefined;
    }
    try {
      this.#spawn();
    } catch (error) {
      this.#o.log.error("cannot start haproxy", { binary: this.#o.binary, error: errorText(error) });
      this.#scheduleRestart();
    }
  }

  async #waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    if (this.#child === undefined) this.#startNow();
    const waitingFor = this.#child;
    while (performance.now() < deadline && !this.#closed && !signal?.aborted) {
      const current = this.#child;
      if (current !== waitingFor) throw await this.#exitedDuringStart(last);
      if (current !== undefined) {
        const answer = await this.#askMaster(current.pid);
        if (answer === true) return;
        last = answer;
      }
      await delay(50, { signal: signal ?? this.#closing.signal, resolveOnAbort: true });
    }
    throw new Error(`HAProxy did not answer on master socket "${this.masterSocket}" within ${timeoutMs} ms`, {
      cause: last,
    });
  }

  /**
   * It exited while starting: fail now with HAProxy's own words instead of restarting in a loop. Its
   * alerts were written before it exited; the reader may catch up with them (bounded).
   */
  async #exitedDuringStart(last: unknown): Promise<Error> {
    await Promise.race([
      this.#currentOutput,
      delay(1_000, { signal: this.#closing.signal, resolveOnAbort: true }),
    ]);
    const alerts = this.#recentAlerts;
    return new Error(`HAProxy exited during start-up${alerts.length ? `: ${alerts.join("; ")}` : ""}`, {
      cause: last,
    });
  }

  /** `true` once the master of `pid` answers with a worker, else why not. */
  async #askMaster(pid: number): Promise<true | Error> {
    try {
      const table = parseShowProc(
        await masterCommand(this.#address, "show proc", { timeoutMs: 1_000, signal: this.#closing.signal }),
      );
      if (table.master.pid === pid && table.workers.length > 0) {
        this.#restarts.reset();
        return true;
      }
      return new Error(`master socket answered for pid ${table.master.pid}, waiting for ${pid}`);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  async #stop(): Promise<void> {
    const current = this.#child;
    if (current === undefined) return void await Promise.all(this.#lifetimes);
    const sig: Deno.Signal = this.#o.softStop ? "SIGUSR1" : "SIGTERM";
    killQuietly(current, sig);
    const gone = new AbortController();
    const timedOut = await Promise.race([
      current.status.then(() => false),
      delay(this.#o.stopTimeoutMs, { signal: gone.signal, resolveOnAbort: true }).then(() =>
        !gone.signal.aborted
      ),
    ]);
    gone.abort();
    if (timedOut) {
      this.#o.log.warn("haproxy did not stop in time, killing it", { pid: current.pid, signal: sig });
      killQuietly(current, "SIGKILL");
    }
    await Promise.all(this.#lifetimes);
  }

  /**
   * Reloads through the master CLI; a failed reload's result carries the alerts the master wrote
   * meanwhile (2.6 answers nothing on the socket: its reasons, e.g. a port it cannot bind, are only
   * on stderr), waiting (bounded) for its "Loading failure" line when they have not been read yet.
   */
  async #reloadWithAlerts(signal?: AbortSignal): Promise<ReloadResult> {
    const seen = this.#stderrSeen;
    seen.alerts = [];
    const failureRead = new AbortController();
    const listener = (line: string) => {
      if (/Loading failure/.test(line)) failureRead.abort();
    };
    seen.listeners.add(listener);
    try {
      const { log, reloadTimeoutMs } = this.#o;
      const result = await reloadViaMaster(
        { address: this.#address, timeoutMs: reloadTimeoutMs, log },
        signal,
      );
      if (result.ok) return result;
      const stopWaiting = AbortSignal.any([
        failureRead.signal,
        this.#closing.signal,
        ...(signal ? [signal] : []),
      ]);
      await delay(1_000, { signal: stopWaiting, resolveOnAbort: true });
      const alerts = seen.alerts;
      return alerts.length === 0 ? result : { ...result, detail: [result.detail, ...alerts].join("\n") };
    } finally {
      seen.listeners.delete(listener);
    }
  }
}

function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/** HAProxy's arguments: master-worker mode, the master CLI socket, the pid file, the config. */
function haproxyArgs(options: ManagedHaproxyOptions): string[] {
  const { masterSocket, pidFile, extraArgs = [], configPath } = options;
  return [
    "-W",
    "-S",
    `${masterSocket},mode,600`,
    ...(pidFile === undefined ? [] : ["-p", pidFile]),
    ...extraArgs,
    "-f",
    configPath,
  ];
}

/** The program to spawn and its arguments: HAProxy behind the parent-death guard where there is one. */
async function commandLine(binary: string, args: string[], log: Logger): Promise<[string, string[]]> {
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
  return [program, [...wrapped, ...args]];
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
  const { binary = "haproxy", log: baseLog = silentLogger } = options;
  const log = baseLog.child("haproxy");
  const own = haproxyArgs(options);
  const [program, args] = await commandLine(binary, own, log);
  const managed = new ManagedProcess({
    binary,
    program,
    args,
    haproxyArgs: own,
    log,
    masterSocket: options.masterSocket,
    stdout: options.stdout ?? "inherit",
    domainOf: options.domainOf,
    startTimeoutMs: options.startTimeoutMs ?? 10_000,
    reloadTimeoutMs: options.reloadTimeoutMs ?? DEFAULT_RELOAD_TIMEOUT_MS,
    stableAfterMs: options.stableAfterMs ?? 10_000,
    softStop: options.softStop ?? false,
    stopTimeoutMs: options.stopTimeoutMs ?? 10_000,
  }, new Backoff(options.restartMinMs ?? 500, options.restartMaxMs ?? 30_000));
  managed.first();
  try {
    await managed.ready();
  } catch (error) {
    await managed.close();
    throw error;
  }
  return managed;
}
