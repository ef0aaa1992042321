// deno-lint-ignore-file no-console -- a build tool run from the command line: the console is its interface
/**
 * Builds standalone haconfd binaries with `deno compile` (`deno task compile`):
 *
 * ```
 * deno task compile                       # the host's target only
 * deno task compile --target aarch64-unknown-linux-gnu
 * deno task compile --all                 # both Linux targets
 * deno task compile --all --download      # let deno fetch the runtimes it lacks (needs Deno's servers)
 * ```
 *
 * Output: `dist/haconfd-linux-x86_64`, `dist/haconfd-linux-aarch64`, one `NAME.sha256` beside each and a
 * `dist/SHA256SUMS` covering every binary in the directory (`sha256sum -c SHA256SUMS` checks them).
 *
 * `deno compile` wraps the program into `denort`, a slim Deno runtime it takes from, in this order:
 * the `DENORT_BIN` variable (read for every target, so valid for the host's target only), then
 * `$DENO_DIR/dl/release/v<deno version>/denort-<target>.zip`, else it downloads that zip. Offline, that
 * download hangs or fails deep inside deno, so this script looks first and stops with one clear line when
 * no runtime is at hand, unless `--download` is given. Per-target variables `DENORT_BIN_X86_64` and
 * `DENORT_BIN_AARCH64` name a runtime for one target (cross builds).
 *
 * The templates are imported as text modules (templates/mod.ts), so they are in the module graph and need
 * no `--include`; the program is embedded as one bundle (`--bundle`, see {@linkcode compileArgs}). The commit is embedded as `HACONFD_COMMIT` through `--env-file` (a compiled binary sets
 * those variables at start unless the environment already has them); lib/version.ts prints it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The targets haconfd ships for, and the file name of each binary. */
export const TARGETS = {
  "x86_64-unknown-linux-gnu": "haconfd-linux-x86_64",
  "aarch64-unknown-linux-gnu": "haconfd-linux-aarch64",
} as const;

/** A target triple haconfd ships for. */
export type Target = keyof typeof TARGETS;

/** The per-target runtime variable of each target (the part of the triple before the first dash). */
export const TARGET_RUNTIME_VARIABLES: Readonly<Record<Target, string>> = {
  "x86_64-unknown-linux-gnu": "DENORT_BIN_X86_64",
  "aarch64-unknown-linux-gnu": "DENORT_BIN_AARCH64",
};

/**
 * V8 flags haconfd runs with, compiled or not (`deno task run`, the compiled binary, the tests' daemons and
 * the Docker stand-in pass the same ones; tests/compile_test.ts checks that they agree). A young generation
 * of 1 MiB semi-spaces instead of V8's default 16 MiB: the daemon's garbage is many small short-lived
 * objects, and at 50,000 addresses this keeps ~50 MiB less resident for ~6 % more CPU at start-up. The old
 * generation grows by half its live size before the next full collection, not by up to 4×: V8's default
 * lets a daemon whose live heap is ~60 MB reach 333 MiB over 100 changes at 50,000 addresses, this keeps it
 * at 183 MiB (156 instead of 168 MiB at start-up) for ~3 % more CPU per change, within the noise
 * (bench/RESULTS.md).
 */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--heap-growing-percent=50"];

/** The file with every binary's checksum, in `sha256sum` format. */
export const SUMS_FILE = "SHA256SUMS";

/** What `compile.ts` was asked to do. */
export interface CompileOptions {
  /** Targets to build, in order. */
  targets: Target[];
  /** Output directory. */
  outDir: string;
  /** Let `deno compile` download runtimes that are not at hand. */
  download: boolean;
  /** Print usage and stop. */
  help: boolean;
}

/** Where the Deno runtime for one target comes from. */
export type Runtime =
  | { kind: "variable"; variable: string; path: string }
  | { kind: "cache"; path: string }
  | { kind: "download" };

/** What {@linkcode findRuntime} looks at. */
export interface RuntimeLookup {
  /** The environment (`DENORT_BIN`, `DENORT_BIN_<ARCH>`). */
  env: Readonly<Record<string, string | undefined>>;
  /** The target deno runs on (`Deno.build.target`). */
  hostTarget: string;
  /** Deno's cache directory (`deno info --json` → `denoDir`). */
  denoDir: string;
  /** The version of the deno doing the compiling. */
  denoVersion: string;
  /** Whether a file exists. */
  exists: (path: string) => boolean;
  /**
   * Allow `deno compile` to download a missing runtime.
   * @default {false}
   */
  download?: boolean;
}

/** The usage text of `deno task compile`. */
export const USAGE = `Usage: deno task compile [--target TARGET | --all] [--out-dir DIR] [--download]

  --target TARGET  build for TARGET (${Object.keys(TARGETS).join(", ")}); default: the host's
  --all            build for every target
  --out-dir DIR    where binaries and checksums go (default: dist)
  --download       let deno download a missing runtime (denort) from Deno's servers

Offline, name a local runtime: DENORT_BIN=/path/to/denort (host target), or DENORT_BIN_X86_64 /
DENORT_BIN_AARCH64 for one target each.`;

/** Whether a string is one of the shipped targets. */
export function isTarget(value: string): value is Target {
  return Object.hasOwn(TARGETS, value);
}

/**
 * Parses `compile.ts`'s arguments; the default target is the host's.
 * Throws a `TypeError` for an unknown flag or target, or when the host is not a shipped target and none
 * was named.
 *
 * @example
 * ```ts
 * parseCompileArgs(["--all"], "x86_64-unknown-linux-gnu").targets.length; // 2
 * ```
 */
export function parseCompileArgs(
  args: readonly string[],
  hostTarget: string,
): CompileOptions {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: "string", multiple: true },
      all: { type: "boolean", default: false },
      "out-dir": { type: "string", default: "dist" },
      download: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const named = values.target ?? [];
  if (values.all && named.length > 0) {
    throw new TypeError(`Cannot use --all together with --target`);
  }
  for (const target of named) {
    if (!isTarget(target)) {
      throw new TypeError(
        `Unknown target "${target}": use one of ${Object.keys(TARGETS).join(", ")}`,
      );
    }
  }
  let targets: Target[];
  if (values.all) targets = Object.keys(TARGETS) as Target[];
  else if (named.length > 0) targets = [...new Set(named as Target[])];
  else if (isTarget(hostTarget)) targets = [hostTarget];
  else if (values.help) targets = [];
  else {
    throw new TypeError(
      `Cannot build for the host "${hostTarget}": not a shipped target; pass --target or --all`,
    );
  }
  return {
    targets,
    outDir: values["out-dir"],
    download: values.download,
    help: values.help,
  };
}

/** The path where `deno compile` keeps the downloaded runtime of a target. */
export function denortCachePath(
  denoDir: string,
  denoVersion: string,
  target: string,
): string {
  return join(
    denoDir,
    "dl",
    "release",
    `v${denoVersion}`,
    `denort-${target}.zip`,
  );
}

/**
 * Finds the Deno runtime `deno compile` would use for a target, or `undefined` when none is at hand
 * (and downloading is not allowed). `DENORT_BIN` counts for the host's target only, because deno would
 * embed it whatever the target.
 */
export function findRuntime(
  target: Target,
  lookup: RuntimeLookup,
): Runtime | undefined {
  const perTarget = TARGET_RUNTIME_VARIABLES[target];
  const candidates: [string, string | undefined][] = [[
    perTarget,
    lookup.env[perTarget],
  ]];
  if (target === lookup.hostTarget) {
    candidates.push(["DENORT_BIN", lookup.env.DENORT_BIN]);
  }
  for (const [variable, path] of candidates) {
    if (path !== undefined && path !== "") {
      return { kind: "variable", variable, path };
    }
  }
  const cached = denortCachePath(lookup.denoDir, lookup.denoVersion, target);
  if (lookup.exists(cached)) return { kind: "cache", path: cached };
  return lookup.download === true ? { kind: "download" } : undefined;
}

/** The one line printed when a runtime is missing. */
export function missingRuntimeMessage(targets: readonly Target[]): string {
  return `Cannot compile: no Deno runtime (denort) at hand for ${
    targets.map((t) => `"${t}"`).join(", ")
  }; set DENORT_BIN=/path/to/denort for offline builds (or pass --download where Deno's servers are reachable)`;
}

/**
 * The environment for one `deno compile` run: `DENORT_BIN` set to the chosen runtime file, or removed
 * so that deno uses its cache (a `DENORT_BIN` for the host must not leak into a cross build).
 */
export function compileEnv(
  env: Readonly<Record<string, string>>,
  runtime: Runtime,
): Record<string, string> {
  const out: Record<string, string> = { ...env };
  delete out.DENORT_BIN;
  if (runtime.kind === "variable") out.DENORT_BIN = runtime.path;
  return out;
}

/** The `deno compile` arguments for one target. */
export function compileArgs(
  target: Target,
  outDir: string,
  envFile: string,
  entry: string,
): string[] {
  return [
    "compile",
    // The daemon reads its config and templates, writes the HAProxy config, talks to the API and the
    // status clients, and runs the configurable check/reload commands. --allow-run of arbitrary
    // commands is as wide as --allow-all, so the real sandbox is the systemd unit (deploy/).
    "--allow-all",
    // One esbuild bundle instead of the npm packages' trees: deno 2.9.x overflows its stack while
    // embedding prom-client's tree (denoland/deno#36746), and the binary's payload shrinks to ~1 MB.
    // tests/compile_test.ts checks that the bundled program renders the same bytes as `deno run`.
    "--bundle",
    "--frozen",
    `--v8-flags=${V8_FLAGS.join(",")}`,
    `--target=${target}`,
    `--env-file=${envFile}`,
    `--output=${join(outDir, TARGETS[target])}`,
    entry,
  ];
}

/** One line of a `sha256sum` file. */
export function sumsLine(hex: string, name: string): string {
  return `${hex}  ${name}\n`;
}

/** The hex SHA-256 of a file. */
export async function sha256File(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes `NAME.sha256` for each built binary and rewrites `SHA256SUMS` over every binary in `outDir`
 * (so building the targets one by one still ends with one complete file). Returns the SHA256SUMS text.
 */
export async function writeChecksums(
  outDir: string,
  built: readonly Target[],
): Promise<string> {
  for (const target of built) {
    const name = TARGETS[target];
    await Deno.writeTextFile(
      join(outDir, `${name}.sha256`),
      sumsLine(await sha256File(join(outDir, name)), name),
    );
  }
  let sums = "";
  for (const name of Object.values(TARGETS).toSorted()) {
    const file = join(outDir, name);
    if (!exists(file)) continue;
    sums += sumsLine(await sha256File(file), name);
  }
  await Deno.writeTextFile(join(outDir, SUMS_FILE), sums);
  return sums;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function output(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return {
      ok: out.success,
      text: new TextDecoder().decode(out.stdout).trim(),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { ok: false, text: "" };
    throw error;
  }
}

/** The commit to embed: `git rev-parse HEAD`, with `-dirty` when the tree has changes; else "unknown". */
export async function gitCommit(cwd: string): Promise<string> {
  const head = await output("git", ["rev-parse", "HEAD"], cwd);
  if (!head.ok || head.text === "") return "unknown";
  const status = await output("git", [
    "status",
    "--porcelain",
    "--untracked-files=no",
  ], cwd);
  return status.ok && status.text !== "" ? `${head.text}-dirty` : head.text;
}

async function denoInfo(
  cwd: string,
): Promise<{ denoDir: string; denoVersion: string }> {
  const info = await output(Deno.execPath(), ["info", "--json"], cwd);
  const fallback = { denoDir: "", denoVersion: Deno.version.deno };
  if (!info.ok) return fallback;
  const parsed: unknown = JSON.parse(info.text);
  if (typeof parsed !== "object" || parsed === null) return fallback;
  const { denoDir, denoVersion } = parsed as Record<string, unknown>;
  return {
    denoDir: typeof denoDir === "string" ? denoDir : "",
    denoVersion: typeof denoVersion === "string" ? denoVersion : Deno.version.deno,
  };
}

/** Runs the build; resolves to the process exit code. */
export async function compile(args: readonly string[]): Promise<number> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  let options: CompileOptions;
  try {
    options = parseCompileArgs(args, Deno.build.target);
  } catch (error) {
    console.error(
      `Cannot compile: ${error instanceof Error ? error.message : String(error)}`,
    );
    console.error(USAGE);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }

  const { denoDir, denoVersion } = await denoInfo(root);
  const env = Deno.env.toObject();
  const runtimes = new Map<Target, Runtime>();
  const missing: Target[] = [];
  for (const target of options.targets) {
    const runtime = findRuntime(target, {
      env,
      hostTarget: Deno.build.target,
      denoDir,
      denoVersion,
      exists,
      download: options.download,
    });
    if (runtime === undefined) missing.push(target);
    else runtimes.set(target, runtime);
  }
  if (missing.length > 0) {
    console.error(missingRuntimeMessage(missing));
    return 1;
  }
  for (const [target, runtime] of runtimes) {
    if (runtime.kind === "variable" && !exists(runtime.path)) {
      console.error(
        `Cannot compile: ${runtime.variable} names "${runtime.path}", which does not exist`,
      );
      return 1;
    }
    if (runtime.kind !== "download") continue;
    console.error(`${target}: the runtime will be downloaded by deno`);
  }

  const outDir = resolve(root, options.outDir);
  await Deno.mkdir(outDir, { recursive: true });
  const commit = await gitCommit(root);
  const tmp = await Deno.makeTempDir({ prefix: "haconfd-compile-" });
  try {
    const envFile = join(tmp, "build.env");
    await Deno.writeTextFile(envFile, `HACONFD_COMMIT=${commit}\n`);
    for (const [target, runtime] of runtimes) {
      console.error(
        `Compiling ${TARGETS[target]} (${target}, commit ${commit})`,
      );
      const status = await new Deno.Command(Deno.execPath(), {
        args: compileArgs(target, outDir, envFile, join(root, "main.ts")),
        cwd: root,
        env: compileEnv(env, runtime),
        clearEnv: true,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (!status.success) {
        console.error(
          `Cannot compile: deno compile for "${target}" failed with exit code ${status.code}`,
        );
        return 1;
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  const sums = await writeChecksums(outDir, [...runtimes.keys()]);
  console.log(`${outDir}/${SUMS_FILE}:\n${sums.trimEnd()}`);
  return 0;
}

if (import.meta.main) Deno.exit(await compile(Deno.args));
