/**
 * The prefix that ties a child's life to haconfd's: `setpriv --pdeathsig KILL --` (util-linux) sets the
 * Linux parent-death signal and execs the program in place, so the kernel kills HAProxy's master however
 * haconfd ends — SIGKILL and the OOM killer included — and the master's workers follow it (they exit when
 * its pipe closes). The signal survives the master's re-exec on reloads (it is kept across execve of a
 * program that is not set-user-ID). haconfd spawns from its main thread, whose end is the process's end.
 *
 * @module
 */

/** The wrapper program and the arguments that precede the wrapped command. */
export const PARENT_DEATH_PREFIX: readonly string[] = ["setpriv", "--pdeathsig", "KILL", "--"];

/**
 * {@linkcode PARENT_DEATH_PREFIX} where this machine's `setpriv` knows `--pdeathsig`, else `[]` (the
 * caller warns: a SIGKILLed haconfd would leave its HAProxy running). `path` is the search path (the
 * process's `PATH` by default).
 */
export async function parentDeathPrefix(path = Deno.env.get("PATH") ?? ""): Promise<readonly string[]> {
  try {
    const setpriv = await resolveProgram(PARENT_DEATH_PREFIX[0]!, path);
    const out = await new Deno.Command(setpriv, { args: ["--help"], stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(out.stdout).includes("--pdeathsig") ? PARENT_DEATH_PREFIX : [];
  } catch {
    return [];
  }
}

/**
 * `program` as a path that exists: itself when it names a path, else its first match on `path` (the
 * process's `PATH` by default). Behind the wrapper a missing program would only show as the wrapper's exit
 * code: it is looked up first.
 *
 * @throws {Deno.errors.NotFound} When there is no such program.
 */
export async function resolveProgram(program: string, path = Deno.env.get("PATH") ?? ""): Promise<string> {
  const candidates = program.includes("/")
    ? [program]
    : path.split(":").filter((dir) => dir !== "").map((dir) => `${dir}/${program}`);
  for (const path of candidates) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not here
    }
  }
  throw new Deno.errors.NotFound(`No program "${program}" (PATH searched)`);
}
