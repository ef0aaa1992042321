/**
 * Validates an HAProxy config file with the check command (`haproxy -c -f FILE` by default) and a
 * small runner for external commands shared with the command reloader.
 *
 * @module
 */
import { haproxyEnv } from "./malloc_env.ts";

/** Default argv prefix of the check; the file path is appended. */
export const DEFAULT_CHECK_COMMAND: readonly string[] = ["haproxy", "-c", "-f"];
/** Default time a check may take. */
export const DEFAULT_CHECK_TIMEOUT_MS = 30_000;

const MESSAGE_LINE = /^\[(ALERT|WARNING)\]/;

/** What {@linkcode runCommand} observed. */
export interface CommandOutcome {
  /** Exit code (`-1` when killed by a signal). */
  code: number;
  /** Whether the command was killed because it ran past its timeout. */
  timedOut: boolean;
  /** stdout and stderr, each trimmed, joined by a newline. */
  output: string;
  /** Wall time in milliseconds. */
  durationMs: number;
}

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Time after which the command is killed (SIGKILL). */
  timeoutMs: number;
  /** Aborting kills the command. */
  signal?: AbortSignal | undefined;
  /** Variables added to the inherited environment. */
  env?: Record<string, string>;
}

/**
 * Runs `argv` (no shell) and captures its output; killed on timeout or abort.
 *
 * @throws {Error} When the program cannot be started, e.g. `Cannot run "haproxy": program not found`.
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions,
): Promise<CommandOutcome> {
  const [program, ...args] = argv;
  if (program === undefined || program === "") throw new TypeError("Cannot run command: argv is empty");
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: options.env } : {}),
    }).spawn();
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "program not found" : "cannot start";
    throw new Error(`Cannot run "${program}": ${reason}`, { cause: error });
  }
  let timedOut = false;
  function kill(): void {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  options.signal?.addEventListener("abort", kill, { once: true });
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  try {
    const status = await child.status;
    // A program may leave a background child holding the pipes open (an init script starting a
    // daemon): read what is there, without waiting for an end that may never come.
    const [out, err] = await Promise.all([stdout.finish(OUTPUT_GRACE_MS), stderr.finish(OUTPUT_GRACE_MS)]);
    const output = [out.trim(), err.trim()].filter((s) => s !== "").join("\n");
    return {
      code: status.signal === null ? status.code : -1,
      timedOut,
      output,
      durationMs: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
  }
}

/** How long output is still read after the program exited. */
const OUTPUT_GRACE_MS = 200;

function collect(stream: ReadableStream<Uint8Array>): { finish(graceMs: number): Promise<string> } {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // cancelled
    }
    text += decoder.decode();
  })();
  return {
    async finish(graceMs: number): Promise<string> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), graceMs));
      const outcome = await Promise.race([done.then(() => "done" as const), late]);
      clearTimeout(timer);
      if (outcome === "late") {
        await reader.cancel().catch(() => {});
        await done;
      }
      return text;
    },
  };
}

/** Options of {@linkcode checkConfig}. */
export interface CheckOptions {
  /** argv prefix; the file path is appended. @default {["haproxy", "-c", "-f"]} */
  command?: readonly string[];
  /** Time after which the check is killed and reported as not run. @default {30000} */
  timeoutMs?: number;
  /** Aborting kills the check (reported as not run). */
  signal?: AbortSignal | undefined;
}

/**
 * Whether HAProxy judged the file: `"valid"` (exit 0), `"invalid"` (exited non-zero: the file was
 * rejected), or `"not-run"` (the check timed out, was aborted, was killed by a signal or could not be
 * started: nothing is known about the file and the check should be retried).
 */
export type CheckVerdict = "valid" | "invalid" | "not-run";

/** The outcome of a config check. */
export interface CheckResult {
  /** Whether HAProxy judged the file, and how. */
  verdict: CheckVerdict;
  /** Shorthand for `verdict === "valid"`. */
  ok: boolean;
  /** Everything the command wrote (stdout then stderr; empty when it could not be started). */
  output: string;
  /**
   * HAProxy's `[ALERT]` and `[WARNING]` lines; when the verdict is `"not-run"`, or `"invalid"` without an
   * `[ALERT]` line, also a line saying why, naming the command.
   */
  errors: string[];
  /** Wall time in milliseconds. */
  durationMs: number;
}

/** The `[ALERT]`/`[WARNING]` lines of HAProxy output, whitespace after the tag collapsed. */
export function parseCheckMessages(output: string): string[] {
  return output.split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => MESSAGE_LINE.test(line))
    .map((line) => line.replace(/^(\[\w+\])\s+/, "$1 "));
}

/**
 * Checks the config file `path` with the check command. When a command containing `-q` fails without
 * printing any `[ALERT]` line (HAProxy's quiet mode hides them), it is run once more without `-q` to
 * collect the reasons. Never throws for a check that cannot run: a missing program, a timeout, an abort
 * or a kill by a signal give the verdict `"not-run"` with an error line naming the command.
 *
 * @example
 * ```ts
 * const result = await checkConfig("/tmp/haproxy.cfg.new", { command: splitCommand("/usr/sbin/haproxy -c -q -f") });
 * if (result.verdict === "invalid") log.error("config rejected", { errors: result.errors });
 * if (result.verdict === "not-run") log.warn("config check did not run, will retry", { errors: result.errors });
 * ```
 *
 * @throws {TypeError} When the program name (`command[0]`) is empty.
 */
export async function checkConfig(path: string, options: CheckOptions = {}): Promise<CheckResult> {
  const { command = DEFAULT_CHECK_COMMAND, timeoutMs = DEFAULT_CHECK_TIMEOUT_MS, signal } = options;
  const started = performance.now();
  const shown = [...command, path].join(" ");
  function notRun(reason: string, output = ""): CheckResult {
    return {
      verdict: "not-run",
      ok: false,
      output,
      errors: [`Cannot check config with "${shown}": ${reason}`],
      durationMs: performance.now() - started,
    };
  }
  let outcome: CommandOutcome;
  let errors: string[];
  try {
    outcome = await runCommand([...command, path], { timeoutMs, signal, env: haproxyEnv() });
    errors = parseCheckMessages(outcome.output);
    const quiet = command.indexOf("-q");
    if (outcome.code !== 0 && !outcome.timedOut && errors.length === 0 && quiet > 0) {
      // `haproxy -c -q` (pyconfd's default) prints nothing on failure: run again without -q for the reasons.
      const verbose = await runCommand([...command.filter((_, i) => i !== quiet), path], {
        timeoutMs,
        signal,
        env: haproxyEnv(),
      });
      errors = parseCheckMessages(verbose.output);
      outcome = { ...verbose, durationMs: outcome.durationMs + verbose.durationMs };
    }
  } catch (error) {
    if (error instanceof TypeError) throw error;
    return notRun(error instanceof Error ? error.message : String(error));
  }
  if (outcome.timedOut) return notRun(`timed out after ${timeoutMs} ms`, outcome.output);
  if (outcome.code === -1) return notRun(signal?.aborted ? "aborted" : "killed by a signal", outcome.output);
  const ok = outcome.code === 0;
  if (!ok && !errors.some((line) => line.startsWith("[ALERT]"))) {
    const tail = outcome.output.split("\n").filter((l) => l.trim() !== "").slice(-3).join(" | ");
    errors.push(
      `Config check of "${path}" failed with exit code ${outcome.code}${tail === "" ? "" : `: ${tail}`}`,
    );
  }
  return {
    verdict: ok ? "valid" : "invalid",
    ok,
    output: outcome.output,
    errors,
    durationMs: outcome.durationMs,
  };
}
