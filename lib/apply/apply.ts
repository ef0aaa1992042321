/**
 * Installs a rendered HAProxy config: compare with the installed file, stage beside it, check, rename,
 * reload (never closer together than the minimum reload interval), and report what happened as data.
 *
 * @module
 */

import { createTwoFilesPatch } from "diff";
import { basename, join } from "node:path";
import { delay } from "../delay.ts";
import { atomicWrite } from "./atomic_write.ts";
import {
  readSideFiles,
  sameSideFiles,
  type SideFile,
  type StagedSet,
  stageSet,
  writeSideFiles,
} from "./file_set.ts";
import type { CheckResult } from "../haproxy/check.ts";
import type { Reloader, ReloadResult } from "../haproxy/reload.ts";
import type { RuntimePath } from "../haproxy/runtime.ts";
import type { BackendChange, MapChange } from "../haproxy/plan.ts";
import { sha256Hex } from "../hash.ts";
import { runtimeDiff } from "./config_diff.ts";
import { mapDiff } from "./map_diff.ts";
import { readTextIfExists } from "../read.ts";
import { errorText, type Logger, silentLogger } from "../log.ts";

/** Durations of one apply, in milliseconds (0 for a step that did not run). */
export interface ApplyDurations {
  /** The config check. */
  checkMs: number;
  /** The reload. */
  reloadMs: number;
  /** Time spent waiting for the minimum reload interval. */
  waitMs: number;
  /** The whole apply. */
  totalMs: number;
}

interface ResultBase {
  /** sha256 (hex) of the rendered text handed to `apply()`. */
  hash: string;
  /** sha256 (hex) of the installed file after this apply (`undefined` while there is none). */
  installedHash: string | undefined;
  /** Step durations. */
  durations: ApplyDurations;
}

/** Stands for the rendered text in check messages when it was not kept in a file. */
export const RENDERED_PLACEHOLDER = "<rendered>";

/** Rendered text equals the installed file and no reload is pending: nothing was done. */
export interface UnchangedResult extends ResultBase {
  /** Discriminant. */
  status: "unchanged";
}

/** The new file is installed and HAProxy reloaded it. */
export interface AppliedResult extends ResultBase {
  /** Discriminant. */
  status: "applied";
  /** Whether the file changed (false when only a pending or the start-up reload ran). */
  changed: boolean;
  /**
   * Why HAProxy was reloaded: "installed the new config and reloaded", "retried the pending reload" or
   * "reloaded the installed config once at start-up". Always set by {@linkcode createApplier}.
   */
  detail?: string;
  /** The reload outcome. */
  reload: ReloadResult;
  /** HAProxy's warnings from the check (empty when the check did not run). */
  warnings: string[];
  /** Why the runtime path could not be taken, when a runtime path is configured. */
  reloadReason?: string;
}

/** The new file is installed and its server changes went through HAProxy's Runtime API: no reload. */
export interface RuntimeAppliedResult extends ResultBase {
  /** Discriminant. */
  status: "runtime";
  /** Always true: only a changed file takes this path. */
  changed: true;
  /** What changed ("1 added, 0 removed, 0 moved in 1 backend(s)"). */
  detail: string;
  /** Runtime commands sent. */
  commands: number;
  /** Whether `haproxy -c` ran (skipped when all but the server lines equal the last checked config). */
  checked: boolean;
}

/** Nothing was written or reloaded; the diff and the check result say what would happen. */
export interface DryRunResult extends ResultBase {
  /** Discriminant. */
  status: "dry-run";
  /** Whether the rendered text differs from the installed file. */
  changed: boolean;
  /** Unified diff installed → rendered (empty when unchanged). */
  diff: string;
  /**
   * The check of the rendered text, its messages naming {@linkcode RENDERED_PLACEHOLDER} instead of
   * the temp file; `undefined` when unchanged (not checked).
   */
  check: CheckResult | undefined;
}

/**
 * The rendered text was not installed because the check rejected it (`retryable` false) or because the
 * check could not judge it (`retryable` true: timed out, aborted, killed, program missing); the
 * installed file is untouched.
 */
export interface CheckFailedResult extends ResultBase {
  /** Discriminant. */
  status: "check-failed";
  /**
   * `true` when HAProxy did not judge the text (the check timed out or could not run): nothing is
   * wrong with the text as far as is known, no `.rejected` file is written, and the caller should
   * retry the same text later. `false` (or absent) when HAProxy rejected it: retrying the same text is
   * pointless. Always set by {@linkcode createApplier}.
   */
  retryable?: boolean;
  /**
   * HAProxy's `[ALERT]`/`[WARNING]` lines, or why the check could not run (naming the command). File
   * names point at `rejectedPath` when the text was kept there, else at {@linkcode RENDERED_PLACEHOLDER}.
   */
  errors: string[];
  /** The reload of the installed file that was still owed (start-up or a failed one), when it ran. */
  pendingReload?: ReloadResult;
  /** The check command's whole output, file names rewritten like `errors`. */
  output: string;
  /** Where the rejected text was kept (`<target>.rejected`); `undefined` when the check could not run or the file not be written. */
  rejectedPath: string | undefined;
}

/**
 * The reload failed. When the apply had installed a new file, the previous one (the last file HAProxy
 * loaded, or none) is installed again, so that HAProxy never finds on disk a file it failed to load
 * (a managed HAProxy started after a restart of haconfd must come up); the next `apply()` installs
 * and reloads again.
 */
export interface ReloadFailedResult extends ResultBase {
  /** Discriminant. */
  status: "reload-failed";
  /** Whether the file changed in this apply. */
  changed: boolean;
  /**
   * Whether the previous file was put back after the failed reload of a new one (false when the
   * reload was not for a new file, or putting it back failed). Always set by {@linkcode createApplier}.
   */
  restored?: boolean;
  /** What the reload was for, worded like {@linkcode AppliedResult.detail}. Always set by {@linkcode createApplier}. */
  detail?: string;
  /** Why the reload failed. */
  error: string;
  /** The reload outcome. */
  reload: ReloadResult;
  /** Why the runtime path could not be taken, when a runtime path is configured. */
  reloadReason?: string;
}

/** Staging or renaming the file failed; the installed file is untouched. */
export interface WriteFailedResult extends ResultBase {
  /** Discriminant. */
  status: "write-failed";
  /** What failed, with its cause chain. */
  error: string;
}

/** What one `apply()` did. */
export type ApplyResult =
  | UnchangedResult
  | AppliedResult
  | RuntimeAppliedResult
  | DryRunResult
  | CheckFailedResult
  | ReloadFailedResult
  | WriteFailedResult;

/** Options of {@linkcode createApplier}. */
export interface ApplierOptions {
  /** The installed config file (e.g. `/etc/haproxy/haproxy.cfg`). */
  target: string;
  /** Checks a staged file, e.g. `(path, signal) => checkConfig(path, { command, signal })`. */
  check: (path: string, signal?: AbortSignal) => Promise<CheckResult>;
  /** Reloads HAProxy once the file is installed. */
  reloader: Pick<Reloader, "reload">;
  /** Smallest time between the starts of two reloads. @default {0} */
  minReloadIntervalMs?: number;
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** Clock in milliseconds. @default {Date.now} */
  now?: () => number;
  /** Waits `ms` (injectable for tests). @default {setTimeout-based} */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Server changes without reloads; absent: every change reloads. */
  runtime?: RuntimePath;
}

/** Options of {@linkcode Applier.apply}. */
export interface ApplyOptions {
  /** Only diff and check, write and reload nothing. @default {false} */
  dryRun?: boolean;
  /** Aborts a check, a wait or a reload. */
  signal?: AbortSignal;
  /** sha256 (hex) of the text when the caller has it already (saves hashing a large config twice). */
  hash?: string;
  /**
   * The text's UTF-8 bytes in the parts the generator assembled it from (lib/render/generate.ts): written
   * one after the other, and compared part by part with the installed file's on the runtime path.
   */
  parts?: readonly Uint8Array[];
  /**
   * The files the config names that are installed with it (map files, lib/render/generate.ts): staged,
   * checked and swapped together with it, and part of what makes a config "changed". @default {[]}
   */
  files?: readonly SideFile[];
}

/** Installs rendered configs one at a time. */
export interface Applier {
  /** Installs `text` if needed (calls are serialised). Never throws for check/reload/write failures. */
  apply(text: string, options?: ApplyOptions): Promise<ApplyResult>;
  /** The installed file's text as haconfd last knew it (`undefined` while there is none). */
  installed(): string | undefined;
  /**
   * Whether the installed file has not been reloaded successfully yet. True from the start while a
   * file is installed: haconfd cannot know whether HAProxy runs it (a previous run's reload may have
   * failed, a managed HAProxy is not started yet), so the first apply reloads it once.
   */
  reloadPending(): boolean;
}

/** `check` with every mention of the file `from` in its messages replaced by `to`. */
function renamed(check: CheckResult, from: string, to: string): CheckResult {
  return {
    ...check,
    errors: check.errors.map((line) => line.replaceAll(from, to)),
    output: check.output.replaceAll(from, to),
  };
}

/** `check` with the staged files' names put right (the config's as `config`, the side files' as theirs). */
function renamedSet(check: CheckResult, staged: StagedSet, config: string): CheckResult {
  return staged.renames.reduce(
    (c, [from, to]) => renamed(c, from, to === staged.target ? config : to),
    check,
  );
}

/** A write error without the paths it names (temp file names differ on every try): its cause. */
export function writeCause(message: string): string {
  return message.replace(/"[^"]*"|'[^']*'/g, "").replace(/\s+/g, " ").trim();
}

/** The options of {@linkcode createApplier} with every default filled in. */
type Config = Required<Omit<ApplierOptions, "runtime">> & Pick<ApplierOptions, "runtime">;

/** One `apply()` call: the text, its hash, the signal, and the durations its result reports. */
interface Pass {
  text: string;
  /** The same in the generator's parts, when the caller had them. */
  parts: readonly Uint8Array[] | undefined;
  hash: string;
  /** The side files (maps) installed with the config. */
  files: readonly SideFile[];
  signal: AbortSignal | undefined;
  durations: ApplyDurations;
}

/** The installed file as haconfd knows it; put back as a whole after a failed reload. */
interface Installed {
  /** Its text (`undefined` while there is none). */
  text: string | undefined;
  /** sha256 (hex) of `text`. */
  hash: string | undefined;
  /** The generator's parts of `text`, when the pass that installed it had them. */
  parts: readonly Uint8Array[] | undefined;
  /** Its side files as installed; undefined until known (read from disk on the first apply). */
  files: readonly SideFile[] | undefined;
  /** Whether `haproxy -c` accepted it, or everything in it but its server lines (see `#runtimeStep`). */
  proven: boolean;
}

/** What `pass` installed, checked (directly or as a runtime change of a checked text). */
function installedBy(pass: Pass): Installed {
  return { text: pass.text, hash: pass.hash, parts: pass.parts, files: pass.files, proven: true };
}

/** What a reload was for, carried into its result. */
interface ReloadFor {
  changed: boolean;
  detail: string;
  previous: Installed;
  warnings: string[];
  reloadReason: string | undefined;
}

/**
 * The applier: stage → check → swap → reload, or the runtime path instead of the reload. All state
 * lives in the fields below; `apply()` serialises calls through `#queue`.
 */
class FileApplier implements Applier {
  readonly #config: Config;
  readonly #rejectedPath: string;
  /** The installed file. */
  #installed: Installed;
  /** Whether the installed file still owes a successful reload. */
  #pending: boolean;
  /** Whether the owed reload is the one at start-up (for the result's wording). */
  #startupReload: boolean;
  /** When the last reload started (for the minimum reload interval). */
  #lastReloadAt: number | undefined;
  /** The last write failure's cause, logged at error level once (see `#writeFailed`). */
  #lastWriteCause: string | undefined;
  /** The previous `apply()`; the next one runs after it. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(config: Config, installed: string | undefined) {
    this.#config = config;
    this.#rejectedPath = `${config.target}.rejected`;
    this.#installed = {
      text: installed,
      hash: installed === undefined ? undefined : sha256Hex(installed),
      parts: undefined,
      files: undefined,
      proven: false,
    };
    // Whether HAProxy runs the installed file is unknown at start-up: reload it once.
    this.#pending = installed !== undefined;
    this.#startupReload = this.#pending;
  }

  apply(text: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    const next = this.#queue.then(() => this.#run(text, options));
    this.#queue = next.catch(() => {});
    return next;
  }

  installed(): string | undefined {
    return this.#installed.text;
  }

  reloadPending(): boolean {
    return this.#pending;
  }

  /** One apply, timed. */
  async #run(text: string, options: ApplyOptions): Promise<ApplyResult> {
    const started = this.#config.now();
    const pass: Pass = {
      text,
      parts: options.parts,
      hash: options.hash ?? sha256Hex(options.parts ?? text),
      files: options.files ?? [],
      signal: options.signal,
      durations: { checkMs: 0, reloadMs: 0, waitMs: 0, totalMs: 0 },
    };
    const result = await this.#decide(pass, options);
    pass.durations.totalMs = this.#config.now() - started;
    return result;
  }

  /** Dry run, nothing to do, the runtime path, or install (if changed) and reload. */
  async #decide(pass: Pass, options: ApplyOptions): Promise<ApplyResult> {
    // The hashes say it without comparing two large texts (both are sha256 of the UTF-8 text).
    const changed = this.#installed.text === undefined || pass.hash !== this.#installed.hash ||
      !sameSideFiles(await this.#installedFiles(pass), pass.files);
    if (options.dryRun ?? false) return await this.#dryRun(pass, changed);
    if (!changed && !this.#pending) return { status: "unchanged", ...this.#base(pass) };
    let reloadReason: string | undefined;
    const { runtime } = this.#config;
    const current = this.#installed.text;
    if (changed && !this.#pending && runtime !== undefined && current !== undefined) {
      const step = await this.#runtimeStep(runtime, current, pass);
      if ("result" in step) return step.result;
      reloadReason = step.reason;
    }
    const previous = { ...this.#installed };
    const detail = changed
      ? `installed the new config and reloaded${reloadReason === undefined ? "" : ` (${reloadReason})`}`
      : this.#startupReload
      ? "reloaded the installed config once at start-up"
      : "retried the pending reload";
    let warnings: string[] = [];
    if (changed) {
      const installed = await this.#install(pass);
      if ("status" in installed) return installed;
      warnings = installed.warnings;
    }
    this.#startupReload = false;
    return await this.#reload(pass, { changed, detail, previous, warnings, reloadReason });
  }

  /** The installed side files; on the first apply, those on disk at the paths `pass` names. */
  async #installedFiles(pass: Pass): Promise<readonly SideFile[]> {
    if (this.#installed.files !== undefined) return this.#installed.files;
    const found = await readSideFiles(pass.files).catch(() => []);
    // A missing or unreadable one differs from any text.
    if (found.length === 0 || !found.every((f) => f !== undefined)) return [];
    // What a failed reload puts back with the installed config.
    this.#installed = { ...this.#installed, files: found as SideFile[] };
    return this.#installed.files!;
  }

  /** The fields every result starts with; `installedHash` as it is now. */
  #base(pass: Pass): ResultBase {
    return { hash: pass.hash, installedHash: this.#installed.hash, durations: pass.durations };
  }

  /** Diffs and checks `pass.text` without writing anything beside the target. */
  async #dryRun(pass: Pass, changed: boolean): Promise<DryRunResult> {
    let checked: CheckResult | undefined;
    if (changed) {
      // A dry run writes nothing beside the target: the check file goes to a private temp directory.
      const scratch = await Deno.makeTempDir({ prefix: "haconfd-dry-run-" });
      try {
        const staged = await this.#stageAndCheck(pass, join(scratch, basename(this.#config.target)));
        if ("error" in staged) {
          checked = { verdict: "not-run", ok: false, output: "", errors: [staged.error], durationMs: 0 };
        } else {
          await staged.file.discard();
          checked = renamedSet(staged.check, staged.file, RENDERED_PLACEHOLDER);
        }
      } finally {
        await Deno.remove(scratch, { recursive: true });
      }
    }
    const { target } = this.#config;
    const installedFiles = await this.#installedFiles(pass);
    const patch = (path: string, from: string, to: string) =>
      from === to ? "" : createTwoFilesPatch(path, path, from, to, "installed", "rendered");
    const diff = changed
      ? patch(target, this.#installed.text ?? "", pass.text) +
        pass.files.map((f) =>
          patch(f.path, installedFiles.find((i) => i.path === f.path)?.text ?? "", f.text)
        )
          .join("")
      : "";
    return { status: "dry-run", ...this.#base(pass), changed, diff, check: checked };
  }

  /** Stage → check → swap: installs `pass.text`, or says why not (its check or write failed). */
  async #install(pass: Pass): Promise<{ warnings: string[] } | CheckFailedResult | WriteFailedResult> {
    const staged = await this.#stageAndCheck(pass);
    if ("error" in staged) return this.#writeFailed(pass, staged.error);
    const { file } = staged;
    if (staged.check.verdict !== "valid") {
      await file.discard();
      return await this.#checkFailed(pass, file, staged.check);
    }
    // The checked text is what gets installed: its messages may name the target.
    const warnings = renamedSet(staged.check, file, this.#config.target).errors
      .filter((line) => line.startsWith("[WARNING]"));
    try {
      await file.commit();
    } catch (error) {
      return this.#writeFailed(pass, errorText(error));
    } finally {
      await file.discard();
    }
    this.#lastWriteCause = undefined;
    this.#installed = installedBy(pass);
    this.#pending = true;
    await this.#removeRejected();
    this.#config.log.info("config installed", { target: this.#config.target, hash: pass.hash });
    return { warnings };
  }

  /**
   * The check did not pass: keeps the text in `.rejected` when HAProxy judged it (not when the check
   * could not run), makes the messages name the file holding the text they describe (never the
   * installed one), and still runs a reload the installed file owes.
   */
  async #checkFailed(pass: Pass, staged: StagedSet, check: CheckResult): Promise<CheckFailedResult> {
    const { log } = this.#config;
    const judged = check.verdict === "invalid";
    const kept = judged ? await this.#keepRejected(pass.text) : undefined;
    const result = renamedSet(check, staged, kept ?? RENDERED_PLACEHOLDER);
    if (judged) {
      log.error("config check failed, installed config kept", { errors: result.errors, rejected: kept });
    } else {
      log.error("config check could not run, installed config kept, will retry", { errors: result.errors });
    }
    const pendingReload = await this.#reloadInstalledIfPending(pass);
    return {
      status: "check-failed",
      ...this.#base(pass),
      ...(pendingReload ? { pendingReload } : {}),
      retryable: !judged,
      errors: result.errors,
      output: result.output,
      rejectedPath: kept,
    };
  }

  /** Reloads after an install (or for the owed reload); puts the previous file back when that fails. */
  async #reload(pass: Pass, what: ReloadFor): Promise<AppliedResult | ReloadFailedResult> {
    const { log } = this.#config;
    const { changed, detail, reloadReason } = what;
    const reload = await this.#reloadNow(pass);
    const reasonField = reloadReason === undefined ? {} : { reloadReason };
    if (!reload.ok) {
      const error = reload.error ?? "HAProxy reload failed";
      // A reload cut short because haconfd is stopping is the stop, not a fault.
      const level = pass.signal?.aborted ? "info" : "error";
      log[level]("reload failed, will retry", { error, detail: reload.detail, for: detail });
      const restored = changed ? await this.#restore(what.previous) : false;
      return {
        status: "reload-failed",
        ...this.#base(pass),
        changed,
        restored,
        detail,
        error,
        reload,
        ...reasonField,
      };
    }
    log.info("haproxy reloaded", { durationMs: reload.durationMs, changed, detail });
    return {
      status: "applied",
      ...this.#base(pass),
      changed,
      detail,
      reload,
      warnings: what.warnings,
      ...reasonField,
    };
  }

  /**
   * A reload still owed to the installed file (a failed one, or the start-up one) happens even when the
   * new text is rejected: with a managed HAProxy that reload is what starts it on the last good config.
   */
  async #reloadInstalledIfPending(pass: Pass): Promise<ReloadResult | undefined> {
    if (!this.#pending || this.#installed.text === undefined) return undefined;
    const { log } = this.#config;
    const result = await this.#reloadNow(pass);
    if (result.ok) {
      log.info("reloaded the installed config (the new one was not installed)", { detail: result.detail });
    } else log.error("reload of the installed config failed, will retry", { error: result.error });
    return result;
  }

  /** Waits for the minimum reload interval, then reloads; records the wait and reload durations. */
  async #reloadNow(pass: Pass): Promise<ReloadResult> {
    const { now, reloader, runtime } = this.#config;
    const waited = await this.#waitForInterval(pass);
    if (waited !== undefined) return waited;
    const startedAt = now();
    this.#lastReloadAt = startedAt;
    let result: ReloadResult;
    try {
      result = await reloader.reload(pass.signal);
    } catch (error) {
      const message = errorText(error);
      result = { ok: false, durationMs: now() - startedAt, detail: message, error: message };
    }
    pass.durations.reloadMs = result.durationMs;
    this.#pending = !result.ok;
    if (result.ok) runtime?.reloaded();
    return result;
  }

  /**
   * Sleeps until the minimum reload interval since the last reload has passed, recording the wait;
   * returns the failed reload result when the wait was aborted (the reload stays pending).
   */
  async #waitForInterval(pass: Pass): Promise<ReloadResult | undefined> {
    const { now, sleep, log, minReloadIntervalMs } = this.#config;
    pass.durations.waitMs = 0;
    if (this.#lastReloadAt === undefined) return undefined;
    const wait = this.#lastReloadAt + minReloadIntervalMs - now();
    if (wait <= 0) return undefined;
    log.debug("waiting for the minimum reload interval", { waitMs: wait });
    const before = now();
    try {
      await sleep(wait, pass.signal);
      return undefined;
    } catch (error) {
      const message = `Reload not attempted: waiting for the minimum reload interval was aborted: ${
        errorText(error)
      }`;
      this.#pending = true;
      pass.durations.reloadMs = 0;
      return { ok: false, durationMs: 0, detail: message, error: message };
    } finally {
      pass.durations.waitMs = now() - before;
    }
  }

  /**
   * The runtime path: server changes through the Runtime API, then the new file installed (staged,
   * fsynced, renamed). `haproxy -c` is skipped only when the installed text passed it (directly, or as a
   * runtime change of a text that did): the runtime path requires everything but the server lines to be
   * byte-identical to it, and HAProxy itself parses each server line it accepts. Anything else, or any failure,
   * returns the reason for the reload path; a failure after HAProxy was touched leaves a reload pending
   * so that HAProxy ends up running a file either way.
   */
  async #runtimeStep(
    path: RuntimePath,
    current: string,
    pass: Pass,
  ): Promise<{ result: RuntimeAppliedResult | WriteFailedResult } | { reason: string }> {
    const { log } = this.#config;
    const verdict = await this.#runtimeVerdict(current, pass);
    if ("reason" in verdict) {
      log.warn("runtime path not taken, reloading", { reason: verdict.reason });
      return { reason: verdict.reason };
    }
    const proof = { checked: false };
    const prove = () => this.#prove(pass, proof);
    const outcome = await path.apply(verdict.changes, pass.signal, prove, verdict.maps);
    if (!outcome.ok) {
      if (outcome.touched) this.#pending = true;
      log.warn("runtime path not taken, reloading", { reason: outcome.reason });
      return { reason: outcome.reason };
    }
    return await this.#installAfterRuntime(pass, outcome, proof.checked);
  }

  /** The decision: the server and map changes the Runtime API can carry, or why the pass must reload. */
  async #runtimeVerdict(
    current: string,
    pass: Pass,
  ): Promise<{ changes: readonly BackendChange[]; maps: readonly MapChange[] } | { reason: string }> {
    const installedParts = this.#installed.parts;
    const parts = installedParts !== undefined && pass.parts !== undefined
      ? { installed: installedParts, next: pass.parts }
      : undefined;
    const servers = runtimeDiff(current, pass.text, parts);
    if (servers.path === "reload") return { reason: servers.reason };
    const maps = mapDiff(await this.#installedFiles(pass), pass.files);
    if (typeof maps === "string") return { reason: maps };
    return { changes: servers.path === "runtime" ? servers.changes : [], maps };
  }

  /** Proves the pass's text with `haproxy -c` unless the installed text already passed it; why not, if it fails. */
  async #prove(pass: Pass, proof: { checked: boolean }): Promise<string | undefined> {
    if (this.#installed.proven) return undefined;
    const staged = await this.#stageAndCheck(pass);
    if ("error" in staged) return `cannot check: ${staged.error}`;
    await staged.file.discard();
    if (staged.check.verdict !== "valid") return "the config check did not pass";
    proof.checked = true;
    return undefined;
  }

  /** Installs the file after HAProxy took the runtime changes; a failed write leaves a reload owed. */
  async #installAfterRuntime(
    pass: Pass,
    outcome: { commands: number; detail: string },
    checked: boolean,
  ): Promise<{ result: RuntimeAppliedResult | WriteFailedResult }> {
    const { log, target } = this.#config;
    try {
      await writeSideFiles(pass.files);
      await atomicWrite(target, pass.parts ?? pass.text);
    } catch (error) {
      // HAProxy runs servers the file does not have: the reload owed now brings it back to the file.
      this.#pending = true;
      const message = `HAProxy took the server changes but the file was not installed: ${errorText(error)}`;
      log.error("cannot install config", { target, error: message });
      return { result: { status: "write-failed", ...this.#base(pass), error: message } };
    }
    this.#installed = installedBy(pass);
    await this.#removeRejected();
    log.info("config installed, servers changed without a reload", {
      target,
      hash: pass.hash,
      detail: outcome.detail,
    });
    const detail = `installed the new config, no reload: ${outcome.detail}`;
    const result: RuntimeAppliedResult = {
      status: "runtime",
      ...this.#base(pass),
      changed: true,
      detail,
      commands: outcome.commands,
      checked,
    };
    return { result };
  }

  /** Stages `pass.text` beside the target (or as `stageAs`) and checks it; the caller discards or commits the staged file. */
  async #stageAndCheck(
    pass: Pass,
    stageAs: string = this.#config.target,
  ): Promise<{ file: StagedSet; check: CheckResult } | { error: string }> {
    let file: StagedSet;
    try {
      file = await stageSet(stageAs, pass.parts ?? pass.text, pass.files);
    } catch (error) {
      return { error: errorText(error) };
    }
    const { now, check } = this.#config;
    const started = now();
    try {
      const result = await check(file.checkPath, pass.signal);
      pass.durations.checkMs = result.durationMs;
      return { file, check: result };
    } catch (error) {
      // A throwing check judged nothing: report it like one that could not run.
      pass.durations.checkMs = now() - started;
      const message = `Cannot check config: ${errorText(error)}`;
      const durationMs = pass.durations.checkMs;
      return { file, check: { verdict: "not-run", ok: false, output: "", errors: [message], durationMs } };
    }
  }

  /**
   * A failed write, logged at error level once per distinct cause: a read-only or full directory fails
   * the same way on every retry, and the retries must not bury the first report.
   */
  #writeFailed(pass: Pass, message: string): WriteFailedResult {
    const { log, target } = this.#config;
    const cause = writeCause(message);
    if (cause === this.#lastWriteCause) {
      log.debug("config still cannot be written", { target, error: message });
    } else {
      this.#lastWriteCause = cause;
      log.error("cannot write config, installed config kept, will retry", { target, error: message });
    }
    return { status: "write-failed", ...this.#base(pass), error: message };
  }

  /**
   * Puts the file HAProxy last loaded back after the reload of a new one failed (removes the new file
   * when there was none before). Whether it worked; a failure is logged and leaves the new file.
   */
  async #restore(before: Installed): Promise<boolean> {
    const { log, target } = this.#config;
    try {
      if (before.text === undefined) await Deno.remove(target);
      else {
        await writeSideFiles(before.files ?? []);
        await atomicWrite(target, before.text);
      }
    } catch (error) {
      log.error("cannot put the last good config back after a failed reload", {
        target,
        error: errorText(error),
      });
      return false;
    }
    this.#installed = before;
    log.warn("put the last good config back: HAProxy did not load the new one", {
      target,
      hash: before.hash ?? null,
    });
    return true;
  }

  async #keepRejected(text: string): Promise<string | undefined> {
    try {
      await atomicWrite(this.#rejectedPath, text);
      return this.#rejectedPath;
    } catch (error) {
      this.#config.log.warn("cannot keep rejected config", {
        path: this.#rejectedPath,
        error: errorText(error),
      });
      return undefined;
    }
  }

  async #removeRejected(): Promise<void> {
    try {
      await Deno.remove(this.#rejectedPath);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#config.log.warn("cannot remove stale rejected config", {
          path: this.#rejectedPath,
          error: errorText(error),
        });
      }
    }
  }
}

/**
 * Creates an applier for `target`, reading the currently installed file first (a missing file is fine:
 * it is created by the first apply). When a file is installed, a reload is pending from the start: the
 * first apply reloads HAProxy even if the rendered text equals the file (`applied` with `changed: false`
 * and the detail "reloaded the installed config once at start-up").
 *
 * @example
 * ```ts
 * const applier = await createApplier({
 *   target: "/etc/haproxy/haproxy.cfg",
 *   check: (path, signal) => checkConfig(path, { signal }),
 *   reloader: createMasterSocketReloader({ address: "/run/haproxy-master.sock" }),
 *   minReloadIntervalMs: 5_000,
 * });
 * const result = await applier.apply(rendered);
 * if (result.status === "check-failed") log.error("config rejected", { errors: result.errors });
 * ```
 */
export async function createApplier(options: ApplierOptions): Promise<Applier> {
  const config: Config = {
    ...options,
    minReloadIntervalMs: options.minReloadIntervalMs ?? 0,
    log: options.log ?? silentLogger,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? ((ms, signal) => delay(ms, { signal })),
  };
  return new FileApplier(config, await readTextIfExists(options.target));
}
