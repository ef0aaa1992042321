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
  const where = formatMasterAddress(address);
  const started = performance.now();
  const deadline = started + timeoutMs;
  const remaining = () => Math.max(1, deadline - performance.now());
  const elapsed = () => performance.now() - started;
  function fail(error: string, detail = error): ReloadResult {
    return { ok: false, durationMs: elapsed(), detail, error };
  }
  let before: ProcTable;
  try {
    before = parseShowProc(await masterCommand(address, "show proc", { timeoutMs: remaining(), signal }));
  } catch (error) {
    return fail(`Cannot reload HAProxy: ${error instanceof Error ? error.message : String(error)}`);
  }
  let answer: string;
  try {
    answer = await masterCommand(address, "reload", { timeoutMs: remaining(), signal });
  } catch (error) {
    // 2.6 may drop the connection while re-executing: judge by `show proc` below.
    log.debug("reload answer not read", { socket: where, error: String(error) });
    answer = "";
  }
  const status = parseReloadAnswer(answer);
  if (status !== undefined) {
    const detail = status.logs === "" ? `Success=${status.success ? 1 : 0}` : status.logs;
    return status.success
      ? { ok: true, durationMs: elapsed(), detail }
      : fail(`HAProxy reload failed: master socket "${where}" answered Success=0`, detail);
  }
  let lastError = "";
  while (performance.now() < deadline) {
    try {
      const after = parseShowProc(
        await masterCommand(address, "show proc", { timeoutMs: remaining(), signal }),
      );
      if (after.master.reloads > before.master.reloads) {
        const failed = after.master.failed !== undefined && before.master.failed !== undefined
          ? after.master.failed > before.master.failed
          : !after.workers.some((w) => w.reloads === 0);
        const detail = describeTable(after);
        return failed
          ? fail(
            `HAProxy reload failed: master socket "${where}" reports a failed reload, the previous workers keep serving`,
            detail,
          )
          : { ok: true, durationMs: elapsed(), detail };
      }
      lastError = `reload counter still ${after.master.reloads}`;
    } catch (error) {
      if (signal?.aborted) break;
      lastError = error instanceof Error ? error.message : String(error);
    }
    try {
      await delay(Math.min(pollIntervalMs, remaining()), { signal });
    } catch {
      break;
    }
  }
  const why = signal?.aborted ? "aborted" : `not confirmed within ${timeoutMs} ms`;
  return fail(`HAProxy reload through master socket "${where}" ${why}: ${lastError}`);
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
