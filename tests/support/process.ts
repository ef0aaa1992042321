/**
 * Running programs from tests: find a command on `PATH` (to skip tests whose tool is missing), run one
 * to completion with its output as text, stop a spawned child with a grace period, and write a notice
 * to the test process's stderr.
 *
 * ```ts
 * const HAPROXY = whichOrNote("haproxy", "my_test: haproxy not installed: its tests are skipped");
 * Deno.test({ name: "…", ignore: HAPROXY === undefined, async fn() {
 *   const checked = await run(HAPROXY as string, ["-c", "-f", "examples/compose/haproxy.cfg"]);
 *   assert.equal(checked.code, 0, checked.stderr);
 * } });
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (absolute path, no trailing slash): the default working directory of {@linkcode run}. */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/**
 * The path of the executable file `name` in the first `PATH` directory that has one, as the shell's
 * `command -v` finds it; `undefined` when none does.
 *
 * @example
 * ```ts
 * const sha256sum = which("sha256sum"); // "/usr/bin/sha256sum" or undefined
 * ```
 */
export function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = join(dir, name);
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Whether the command `name` is installed (on `PATH`, executable): use as
 * `Deno.test({ ignore: !installed("haproxy"), ... })`.
 */
export function installed(name: string): boolean {
  return which(name) !== undefined;
}

/**
 * {@linkcode which}, and when `name` is not installed a {@linkcode note} of `skipNotice`, so the tests
 * skipped for want of it say why.
 *
 * @example
 * ```ts
 * const KEEPALIVED = whichOrNote("keepalived", "keepalived_test: keepalived not installed: its tests are skipped");
 * Deno.test({ name: "…", ignore: KEEPALIVED === undefined, fn() {} });
 * ```
 */
export function whichOrNote(name: string, skipNotice: string): string | undefined {
  const path = which(name);
  if (path === undefined) note(skipNotice);
  return path;
}

/** Options of {@linkcode run}. */
export interface RunOptions {
  /** Working directory. @default {ROOT} */
  cwd?: string | URL;
  /** Environment variables, added to the inherited ones (or the only ones with `clearEnv`). */
  env?: Record<string, string>;
  /** Start from an empty environment, so only `env` is set. @default {false} */
  clearEnv?: boolean;
  /** Text written to the command's stdin, which is then closed. @default {stdin is /dev/null} */
  stdin?: string;
}

/** What a command run to completion by {@linkcode run} produced. */
export interface RunResult {
  /** Exit code (128 + signal number when a signal ended it). */
  code: number;
  /** Standard output, decoded as UTF-8. */
  stdout: string;
  /** Standard error, decoded as UTF-8. */
  stderr: string;
}

/**
 * Runs `cmd` with `args` to completion and returns its exit code and output as text. A command that
 * cannot be started (not found, not executable) rejects.
 *
 * @example
 * ```ts
 * const res = await run("bash", ["-n", "tests/compose_drive.sh"]);
 * assert.equal(res.code, 0, res.stderr);
 * ```
 */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const { cwd = ROOT, env, clearEnv, stdin } = options;
  const child = new Deno.Command(cmd, {
    args,
    cwd,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(env === undefined ? {} : { env }),
    ...(clearEnv === undefined ? {} : { clearEnv }),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/** Sends `signal` to `child`, ignoring the error of a child that has already exited. */
export function signalQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/**
 * Stops `child`: SIGTERM, then SIGKILL if it is still running after `graceMs`. Resolves with its exit
 * status once it has exited (at once for a child that already has).
 */
export async function terminate(child: Deno.ChildProcess, graceMs: number): Promise<Deno.CommandStatus> {
  signalQuietly(child, "SIGTERM");
  const timer = setTimeout(() => signalQuietly(child, "SIGKILL"), graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `text` and a newline straight to the test process's stderr, e.g. why tests are skipped. */
export function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${text}\n`));
}
