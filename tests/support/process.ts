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

/** Programs tools/test.sh installs when they are missing: their absence is a failure where deps are required. */
const INSTALLED_BY_TEST_SH: ReadonlySet<string> = new Set([
  "haproxy",
  "keepalived",
  "docker-compose",
  "ip",
  "iptables",
  "openssl",
]);

/**
 * Whether the test run must have every dependency tools/test.sh installs: on CI (`CI=true`) and in
 * tools/test.sh itself (`HACONFD_REQUIRE_DEPS=1`). There a missing one fails the run instead of leaving
 * its tests silently ignored under an "ok".
 */
export const REQUIRE_DEPS: boolean = Deno.env.get("HACONFD_REQUIRE_DEPS") === "1" ||
  Deno.env.get("CI") === "true";

const reportedMissing = new Set<string>();

/**
 * Reports that program `name` is missing: where dependencies are required (see {@linkcode REQUIRE_DEPS})
 * and tools/test.sh installs it, as one failing test per test file that names it (the tests that need it
 * are still skipped, so the run shows one clear failure, not dozens of spawn errors).
 */
export function missingDependency(name: string): void {
  if (!REQUIRE_DEPS || !INSTALLED_BY_TEST_SH.has(name) || reportedMissing.has(name)) return;
  reportedMissing.add(name);
  const message = `${name} is not installed, but HACONFD_REQUIRE_DEPS=1 or CI=true requires it ` +
    "(tools/test.sh installs it from apt): the tests that need it cannot run";
  try {
    Deno.test(`dependency ${name} is installed`, () => {
      throw new Error(message);
    });
  } catch {
    // Asked from inside a running test, where no test can be registered: fail that one.
    throw new Error(message);
  }
}

/**
 * Whether the command `name` is installed (on `PATH`, executable): use as
 * `Deno.test({ ignore: !installed("haproxy"), ... })`. Where dependencies are required, a missing one
 * that tools/test.sh installs also registers a failing test (see {@linkcode missingDependency}).
 */
export function installed(name: string): boolean {
  const found = which(name) !== undefined;
  if (!found) missingDependency(name);
  return found;
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
  if (path === undefined) {
    note(skipNotice);
    missingDependency(name);
  }
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
