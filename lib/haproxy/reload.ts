/**
 * Reloading HAProxy: by an external command (`systemctl reload haproxy`) or through the master CLI
 * (`reload`, confirmed with 2.6 and 2.7+ semantics). The managed process lives in `managed.ts`.
 *
 * @module
 */

import { delay } from "../delay.ts";
import { type Logger, silentLogger } from "../log.ts";
import { runCommand } from "./check.ts";
import {
  formatMasterAddress,
  masterCommand,
  parseReloadAnswer,
  parseShowProc,
  type ProcTable,
} from "./master_cli.ts";
import { type MasterAddress, parseMasterAddress } from "../settings/values.ts";

/** The outcome of one reload. */
export interface ReloadResult {
  /** Whether HAProxy runs the new config. */
  ok: boolean;
  /** Wall time in milliseconds. */
  durationMs: number;
  /** What happened, for humans (command output, master CLI answer summary). */
  detail: string;
  /** Why it failed; set only when `ok` is false. */
  error?: string;
}

/** Something that makes HAProxy load the installed config. */
export interface Reloader {
  /** `"command"`, `"master-socket"` or `"managed"`. */
  readonly kind: string;
  /** Reloads HAProxy; never throws for HAProxy-side failures, they are in the result. */
  reload(signal?: AbortSignal): Promise<ReloadResult>;
  /** Releases what the reloader holds (stops a managed HAProxy). */
  close(): Promise<void>;
}

/** Default reload command (pyconfd's `--haproxy-reload-cmd`). */
export const DEFAULT_RELOAD_COMMAND: readonly string[] = ["systemctl", "reload", "haproxy"];
/** Default time a reload may take. */
export const DEFAULT_RELOAD_TIMEOUT_MS = 30_000;

/** Options of {@linkcode createCommandReloader}. */
export interface CommandReloaderOptions {
  /** argv of the reload command. @default {["systemctl", "reload", "haproxy"]} */
  command?: readonly string[];
  /** Time after which the command is killed and the reload reported failed. @default {30000} */
  timeoutMs?: number;
}

/**
 * A reloader that runs a command; exit code 0 in time means success.
 *
 * @example
 * ```ts
 * const reloader = createCommandReloader({ command: splitCommand("/bin/systemctl reload-or-restart haproxy") });
 * const result = await reloader.reload();
 * ```
 */
export function createCommandReloader(options: CommandReloaderOptions = {}): Reloader {
  const { command = DEFAULT_RELOAD_COMMAND, timeoutMs = DEFAULT_RELOAD_TIMEOUT_MS } = options;
  const shown = command.join(" ");
  return {
    kind: "command",
    async reload(signal?: AbortSignal): Promise<ReloadResult> {
      const started = performance.now();
      try {
        const outcome = await runCommand(command, { timeoutMs, signal });
        const detail = outcome.output === "" ? `"${shown}" exited with code ${outcome.code}` : outcome.output;
        if (outcome.timedOut) {
          return {
            ok: false,
            durationMs: outcome.durationMs,
            detail,
            error: `Reload command "${shown}" timed out after ${timeoutMs} ms`,
          };
        }
        if (outcome.code !== 0) {
          return {
            ok: false,
            durationMs: outcome.durationMs,
            detail,
            error: `Reload command "${shown}" failed with exit code ${outcome.code}` +
              (outcome.output === "" ? "" : `: ${outcome.output.split("\n").slice(-3).join(" | ")}`),
          };
        }
        return { ok: true, durationMs: outcome.durationMs, detail };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { ok: false, durationMs: performance.now() - started, detail: message, error: message };
      }
    },
    close: () => Promise.resolve(),
  };
}

/** Options of {@linkcode createMasterSocketReloader} and {@linkcode reloadViaMaster}. */
export interface MasterSocketReloaderOptions {
  /** Master CLI address: a unix socket path or `host:port` (or an already parsed address). */
  address: string | MasterAddress;
  /** Time for the whole reload, confirmation included. @default {30000} */
  timeoutMs?: number;
  /** Pause between `show proc` polls while confirming a 2.6 reload. @default {100} */
  pollIntervalMs?: number;
  /** Logger. @default {silentLogger} */
  log?: Logger;
}

function describeTable(table: ProcTable): string {
  const failed = table.master.failed === undefined ? "" : `, failed ${table.master.failed}`;
  return `HAProxy ${table.master.version}: reloads ${table.master.reloads}${failed}, ` +
    `workers ${table.workers.map((w) => w.pid).join(",") || "none"}`;
}

/** One reload through the master CLI: where, until when, and how its result is told. */
interface MasterReload {
  address: MasterAddress;
  where: string;
  timeoutMs: number;
  pollIntervalMs: number;
  signal: AbortSignal | undefined;
  /** Milliseconds left before the deadline (at least 1). */
  remaining(): number;
  /** A failed result. */
  fail(error: string, detail?: string): ReloadResult;
  /** A successful result. */
  ok(detail: string): ReloadResult;
}

/**
 * Reloads through the master CLI once. HAProxy 2.7+ answers `reload` with `Success=1`/`Success=0` and the
 * startup logs; 2.6 and earlier answer nothing and reload in the background, so the reload is confirmed by
 * polling `show proc` until the master's reload counter rises, and judged by its `[failed: N]` counter
 * (or, where that is absent, by a current worker having seen no reload).
 */
export async function reloadViaMaster(
  options: MasterSocketReloaderOptions,
  signal?: AbortSignal,
): Promise<ReloadResult> {
  const { timeoutMs = DEFAULT_RELOAD_TIMEOUT_MS, pollIntervalMs = 100, log = silentLogger } = options;
  const address = typeof options.address === "string" ? parseMasterAddress(options.address) : options.address;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  const r: MasterReload = {
    address,
    where: formatMasterAddress(address),
    timeoutMs,
    pollIntervalMs,
    signal,
    remaining: () => Math.max(1, started + timeoutMs - performance.now()),
    fail: (error, detail = error) => ({ ok: false, durationMs: elapsed(), detail, error }),
    ok: (detail) => ({ ok: true, durationMs: elapsed(), detail }),
  };
  let before: ProcTable;
  try {
    before = parseShowProc(await masterCommand(address, "show proc", { timeoutMs: r.remaining(), signal }));
  } catch (error) {
    return r.fail(`Cannot reload HAProxy: ${error instanceof Error ? error.message : String(error)}`);
  }
  let answer: string;
  try {
    answer = await masterCommand(address, "reload", { timeoutMs: r.remaining(), signal });
  } catch (error) {
    // 2.6 may drop the connection while re-executing: judge by `show proc` below.
    log.debug("reload answer not read", { socket: r.where, error: String(error) });
    answer = "";
  }
  const status = parseReloadAnswer(answer);
  if (status === undefined) return await confirmByShowProc(r, before);
  const detail = status.logs === "" ? `Success=${status.success ? 1 : 0}` : status.logs;
  return status.success
    ? r.ok(detail)
    : r.fail(`HAProxy reload failed: master socket "${r.where}" answered Success=0`, detail);
}

/** Polls `show proc` until the master's reload counter passes `before`'s, then judges the reload. */
async function confirmByShowProc(r: MasterReload, before: ProcTable): Promise<ReloadResult> {
  let lastError = "";
  while (r.remaining() > 1) {
    try {
      const after = parseShowProc(
        await masterCommand(r.address, "show proc", { timeoutMs: r.remaining(), signal: r.signal }),
      );
      if (after.master.reloads > before.master.reloads) return judgeReload(r, before, after);
      lastError = `reload counter still ${after.master.reloads}`;
    } catch (error) {
      if (r.signal?.aborted) break;
      lastError = error instanceof Error ? error.message : String(error);
    }
    try {
      await delay(Math.min(r.pollIntervalMs, r.remaining()), { signal: r.signal });
    } catch {
      break;
    }
  }
  const why = r.signal?.aborted ? "aborted" : `not confirmed within ${r.timeoutMs} ms`;
  return r.fail(`HAProxy reload through master socket "${r.where}" ${why}: ${lastError}`);
}

/** A reload seen in `show proc`: failed by the master's `[failed: N]` counter, or by no fresh worker. */
function judgeReload(r: MasterReload, before: ProcTable, after: ProcTable): ReloadResult {
  const failed = after.master.failed !== undefined && before.master.failed !== undefined
    ? after.master.failed > before.master.failed
    : !after.workers.some((w) => w.reloads === 0);
  const detail = describeTable(after);
  return failed
    ? r.fail(
      `HAProxy reload failed: master socket "${r.where}" reports a failed reload, the previous workers keep serving`,
      detail,
    )
    : r.ok(detail);
}

/**
 * A reloader that sends `reload` to the HAProxy master CLI (`--haproxy-master-socket`).
 *
 * @example
 * ```ts
 * const reloader = createMasterSocketReloader({ address: "/run/haproxy-master.sock" });
 * const { ok, error } = await reloader.reload();
 * ```
 */
export function createMasterSocketReloader(options: MasterSocketReloaderOptions): Reloader {
  const address = typeof options.address === "string" ? parseMasterAddress(options.address) : options.address;
  return {
    kind: "master-socket",
    reload: (signal?: AbortSignal) => reloadViaMaster({ ...options, address }, signal),
    close: () => Promise.resolve(),
  };
}
