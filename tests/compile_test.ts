/**
 * tools/compile.ts: argument parsing, runtime lookup, checksums; the clear failure without a Deno
 * runtime; the bundled program (what `deno compile --bundle` embeds) against `deno run`; and a smoke run
 * of the program — through `deno run main.ts` always, through the compiled binary when a runtime is at
 * hand (DENORT_BIN or deno's cache).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compileArgs,
  compileEnv,
  denortCachePath,
  findRuntime,
  missingRuntimeMessage,
  parseCompileArgs,
  type RuntimeLookup,
  sha256File,
  SUMS_FILE,
  sumsLine,
  type Target,
  TARGETS,
  V8_FLAGS,
  writeChecksums,
} from "../tools/compile.ts";
import { freePort } from "./support/haproxy.ts";
import { ExampleDump, loopbackDump } from "../lib/demo/cluster.ts";
import { assertLocalConfig } from "../lib/demo/traffic_guard.ts";
import { note, ROOT, run, signalQuietly, which, whichOrNote } from "./support/process.ts";

const DENO = Deno.execPath();
const EXAMPLE = join(ROOT, "examples", "endpoints.json");
const HOST = Deno.build.target;
const X86 = "x86_64-unknown-linux-gnu";
const ARM = "aarch64-unknown-linux-gnu";

function lookup(overrides: Partial<RuntimeLookup> = {}): RuntimeLookup {
  return {
    env: {},
    hostTarget: X86,
    denoDir: "/cache/deno",
    denoVersion: "2.9.6",
    exists: () => false,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------
// Pure parts

Deno.test("parseCompileArgs() defaults to the host's target, dist/ and no download", () => {
  assert.deepEqual(parseCompileArgs([], X86), {
    targets: [X86],
    outDir: "dist",
    download: false,
    help: false,
  });
  assert.deepEqual(
    parseCompileArgs(["--all", "--out-dir", "out", "--download"], ARM),
    {
      targets: [X86, ARM],
      outDir: "out",
      download: true,
      help: false,
    },
  );
  assert.deepEqual(parseCompileArgs(["--target", ARM], X86).targets, [ARM]);
  assert.deepEqual(
    parseCompileArgs(["--target", ARM, "--target", ARM], X86).targets,
    [ARM],
  );
});

Deno.test("parseCompileArgs() rejects unknown targets, --all with --target and unshipped hosts", () => {
  assert.throws(
    () => parseCompileArgs(["--target", "x86_64-apple-darwin"], X86),
    /Unknown target/,
  );
  assert.throws(
    () => parseCompileArgs(["--all", "--target", X86], X86),
    /--all together with --target/,
  );
  assert.throws(
    () => parseCompileArgs([], "x86_64-apple-darwin"),
    /not a shipped target/,
  );
  assert.throws(() => parseCompileArgs(["--bogus"], X86));
});

Deno.test("findRuntime() takes DENORT_BIN for the host's target only, then deno's cache", () => {
  const env = { DENORT_BIN: "/opt/denort" };
  assert.deepEqual(findRuntime(X86, lookup({ env })), {
    kind: "variable",
    variable: "DENORT_BIN",
    path: "/opt/denort",
  });
  // deno would embed DENORT_BIN whatever the target: a cross build must not use it.
  assert.equal(findRuntime(ARM, lookup({ env })), undefined);
  assert.deepEqual(
    findRuntime(
      ARM,
      lookup({ env: { ...env, DENORT_BIN_AARCH64: "/opt/arm" } }),
    ),
    {
      kind: "variable",
      variable: "DENORT_BIN_AARCH64",
      path: "/opt/arm",
    },
  );
  const cached = denortCachePath("/cache/deno", "2.9.6", ARM);
  assert.equal(
    cached,
    "/cache/deno/dl/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip",
  );
  assert.deepEqual(
    findRuntime(ARM, lookup({ env, exists: (p) => p === cached })),
    {
      kind: "cache",
      path: cached,
    },
  );
  assert.equal(
    findRuntime(X86, lookup({ env: { DENORT_BIN: "" } })),
    undefined,
  );
  assert.deepEqual(findRuntime(X86, lookup({ download: true })), {
    kind: "download",
  });
});

Deno.test("missingRuntimeMessage() is one line naming the targets and DENORT_BIN", () => {
  const text = missingRuntimeMessage([X86, ARM]);
  assert.equal(text.includes("\n"), false);
  assert.match(
    text,
    /^Cannot compile: no Deno runtime \(denort\) at hand for "x86_64-unknown-linux-gnu", "aarch64/,
  );
  assert.match(text, /set DENORT_BIN=\/path\/to\/denort for offline builds/);
});

Deno.test("compileEnv() sets DENORT_BIN only for a runtime named by a variable", () => {
  const env = { PATH: "/bin", DENORT_BIN: "/host/denort" };
  assert.deepEqual(
    compileEnv(env, {
      kind: "variable",
      variable: "DENORT_BIN_AARCH64",
      path: "/arm",
    }),
    {
      PATH: "/bin",
      DENORT_BIN: "/arm",
    },
  );
  assert.deepEqual(compileEnv(env, { kind: "cache", path: "/c.zip" }), {
    PATH: "/bin",
  });
  assert.deepEqual(
    env,
    { PATH: "/bin", DENORT_BIN: "/host/denort" },
    "the input is not changed",
  );
});

Deno.test("compileArgs() bundles, pins the lockfile and embeds the build env file", () => {
  const args = compileArgs(ARM, "/out", "/tmp/build.env", "/src/main.ts");
  assert.equal(args[0], "compile");
  for (const flag of ["--allow-all", "--bundle", "--frozen"]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.ok(args.includes(`--target=${ARM}`));
  assert.ok(args.includes("--env-file=/tmp/build.env"));
  assert.ok(args.includes("--output=/out/haconfd-linux-aarch64"));
  assert.ok(args.includes(`--v8-flags=${V8_FLAGS.join(",")}`));
  assert.equal(args.at(-1), "/src/main.ts");
});

Deno.test("V8_FLAGS are the ones deno task run, the tests' daemons and the Docker stand-in pass", async () => {
  const flag = `--v8-flags=${V8_FLAGS.join(",")}`;
  const tasks = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks as Record<string, string>;
  for (const task of ["run", "start"]) {
    assert.ok(tasks[task]?.includes(` ${flag} `), `deno.json task ${task}`);
  }
  for (const file of ["tests/support/daemon.ts", "tests/docker/systemd/haconfd"]) {
    const text = await Deno.readTextFile(join(ROOT, file));
    assert.ok(text.includes("V8_FLAGS") || text.includes(flag), file);
  }
});

Deno.test("writeChecksums() writes NAME.sha256 and a SHA256SUMS over every binary present", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-sums-" });
  try {
    await Deno.writeTextFile(join(dir, TARGETS[X86]), "x86 bytes");
    await Deno.writeTextFile(join(dir, TARGETS[ARM]), "arm bytes");
    const sums = await writeChecksums(dir, [X86]);
    const x86 = await sha256File(join(dir, TARGETS[X86]));
    const arm = await sha256File(join(dir, TARGETS[ARM]));
    assert.equal(
      x86,
      "079abfc39e0a0054172743b50bde9cc83062af94f8a25fa83dbdf27f6044379e",
    ); // sha256 of "x86 bytes"
    assert.equal(
      await Deno.readTextFile(join(dir, `${TARGETS[X86]}.sha256`)),
      sumsLine(x86, "haconfd-linux-x86_64"),
    );
    // SHA256SUMS covers the earlier aarch64 build too, sorted by name.
    assert.equal(
      sums,
      `${arm}  haconfd-linux-aarch64\n${x86}  haconfd-linux-x86_64\n`,
    );
    assert.equal(await Deno.readTextFile(join(dir, SUMS_FILE)), sums);
    const sha256sum = which("sha256sum");
    if (sha256sum !== undefined) {
      const check = await run(sha256sum, ["-c", SUMS_FILE], { cwd: dir });
      assert.equal(check.code, 0, check.stdout + check.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// The task without a runtime

Deno.test("compile task stops with exit code 1 and one clear line when no runtime is at hand", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")))
    .tasks as Record<string, string>;
  assert.match(
    tasks.compile ?? "",
    /deno run .*tools\/compile\.ts$/,
    "deno task compile runs tools/compile.ts",
  );

  const tmp = await Deno.makeTempDir({ prefix: "haconfd-compile-test-" });
  try {
    const env = Deno.env.toObject();
    for (
      const name of ["DENORT_BIN", "DENORT_BIN_X86_64", "DENORT_BIN_AARCH64"]
    ) delete env[name];
    // An empty deno cache: no downloaded runtime in it.
    env.DENO_DIR = join(tmp, "deno-dir");
    const out = join(tmp, "dist");
    for (
      const [args, targets] of [[[], [HOST]], [["--all"], [X86, ARM]]] as const
    ) {
      // --no-lock: with an empty cache deno would resolve package.json's npm:deno into deno.lock.
      const res = await run(DENO, [
        "run",
        "--no-lock",
        "--allow-all",
        "tools/compile.ts",
        "--out-dir",
        out,
        ...args,
      ], {
        env,
        clearEnv: true,
      });
      assert.equal(res.code, 1, res.stderr);
      assert.equal(
        res.stderr.trim(),
        missingRuntimeMessage(targets as readonly Target[]),
      );
      assert.equal(res.stdout, "");
    }
    await assert.rejects(
      Deno.stat(out),
      Deno.errors.NotFound,
      "nothing was written",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// The program: bundle equivalence and smoke runs

Deno.test("compileArgs() --bundle: the bundled program renders the same bytes as deno run", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "haconfd-bundle-" });
  try {
    const bundle = join(tmp, "haconfd.mjs");
    const bundled = await run(DENO, [
      "bundle",
      "--quiet",
      "-o",
      bundle,
      "main.ts",
    ]);
    assert.equal(bundled.code, 0, bundled.stderr);
    const direct = await run(DENO, [
      "run",
      "--allow-all",
      "main.ts",
      "render",
      "--from",
      EXAMPLE,
    ]);
    assert.equal(direct.code, 0, direct.stderr);
    // Run the bundle from elsewhere: it must not need the source tree.
    const fromBundle = await run(DENO, [
      "run",
      "--allow-all",
      bundle,
      "render",
      "--from",
      EXAMPLE,
    ], {
      cwd: tmp,
    });
    assert.equal(fromBundle.code, 0, fromBundle.stderr);
    assert.ok(direct.stdout.length > 0);
    assert.equal(fromBundle.stdout, direct.stdout);
    // The commit embedded by compile.ts's --env-file reaches `version`.
    const env = { ...Deno.env.toObject(), HACONFD_COMMIT: "0123abc-test" };
    const version = await run(DENO, ["run", "--allow-all", bundle, "version"], {
      cwd: tmp,
      env,
    });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /0123abc-test/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A random loopback address, so fixed TCP ports from the example cannot collide with other tests. */
function loopbackAddress(): string {
  const byte = () => 2 + Math.floor(Math.random() * 250);
  return `127.${byte()}.${byte()}.${byte()}`;
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** Processes whose command line mentions `needle` (to prove nothing was left running). */
async function processesMentioning(needle: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(needle)) found.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * The example with its pods on 127.0.0.x (as the demo serves it), rendered by the program under test and
 * passed through the traffic guard: the run's HAProxy health-checks only this machine.
 */
async function loopbackExample(command: [string, ...string[]], tmp: string): Promise<string> {
  const [cmd, ...pre] = command;
  const path = join(tmp, "endpoints-loopback.json");
  const dump = ExampleDump.parse(JSON.parse(await Deno.readTextFile(EXAMPLE)));
  await Deno.writeTextFile(path, JSON.stringify(loopbackDump(dump)));
  const rendered = await run(cmd, [...pre, "render", "--from", path]);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.match(rendered.stdout, /^\s*server \S+ 127\.0\.0\.\d+:\d+ check$/m);
  assertLocalConfig(rendered.stdout);
  return path;
}

/**
 * Renders the example, checks it with haproxy -c, then starts `run --from … --haproxy-run` on the example
 * moved to loopback pods and free loopback ports, waits for /readyz = 200, sends SIGTERM and expects a
 * clean exit with HAProxy gone.
 */
async function smoke(command: string[], haproxy: string): Promise<void> {
  const [cmd, ...pre] = command as [string, ...string[]];
  const tmp = await Deno.makeTempDir({ prefix: "haconfd-smoke-" });
  let child: Deno.ChildProcess | undefined;
  let output: Promise<[string, string]> | undefined;
  try {
    const rendered = await run(cmd, [...pre, "render", "--from", EXAMPLE]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, /^\s*backend /m);
    // `check` runs haproxy -c on the config with the map files it names, as the daemon installs them.
    const checked = await run(cmd, [...pre, "check", "--from", EXAMPLE, "--haproxy-bin", haproxy]);
    assert.equal(
      checked.code,
      0,
      `haproxy -c rejected the rendered example:\n${checked.stdout}${checked.stderr}`,
    );

    const source = await loopbackExample([cmd, ...pre], tmp);
    const ip = loopbackAddress();
    const status = freePort("127.0.0.1");
    const http = freePort(ip);
    const https = freePort(ip);
    const conf = join(tmp, "haproxy.cfg");
    child = new Deno.Command(cmd, {
      args: [
        ...pre,
        "run",
        "--from",
        source,
        "--haproxy-run",
        "--haproxy-bin",
        haproxy,
        "--haproxy-conf",
        conf,
        "--status-listen",
        `127.0.0.1:${status}`,
        "--http-bind",
        `${ip}:${http}`,
        "--https-bind",
        `${ip}:${https}`,
        "--tcp-bind-address",
        ip,
        "--log-format",
        "json",
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    output = Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    const exited = child.status;

    let ready = 0;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const early: Deno.CommandStatus | undefined = await Promise.race([
        exited,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 250)),
      ]);
      if (early !== undefined) {
        const logs: [string, string] = await output;
        assert.fail(
          `haconfd exited early with code ${early.code}:\n${logs[1]}`,
        );
      }
      try {
        const res = await fetch(`http://127.0.0.1:${status}/readyz`);
        await res.body?.cancel();
        ready = res.status;
        if (ready === 200) break;
      } catch {
        // not listening yet
      }
    }
    if (ready !== 200) {
      child.kill("SIGKILL");
      await exited;
      child = undefined;
      const logs: [string, string] = await output;
      assert.fail(
        `/readyz answered ${ready} after 30 s, not 200; haconfd's log ends:\n${tail(logs[1], 15)}`,
      );
    }
    const conn = await Deno.connect({ hostname: ip, port: http });
    conn.close(); // HAProxy listens on the HTTP frontend
    assert.ok(
      (await Deno.readTextFile(conf)).length > 0,
      "the config was written",
    );

    child.kill("SIGTERM");
    const timer = new Promise<"timeout">((r) => {
      const id = setTimeout(() => r("timeout"), 15_000);
      exited.finally(() => clearTimeout(id));
    });
    const result = await Promise.race([exited, timer]);
    assert.notEqual(
      result,
      "timeout",
      "haconfd stopped within 15 s of SIGTERM",
    );
    const [, stderr] = await output;
    assert.equal((result as Deno.CommandStatus).code, 0, stderr);
    child = undefined;
    assert.deepEqual(
      await processesMentioning(tmp),
      [],
      "no HAProxy left running",
    );
  } finally {
    if (child !== undefined) {
      signalQuietly(child, "SIGKILL");
      await child.status;
    }
    await output;
    for (const pid of await processesMentioning(tmp)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await Deno.remove(tmp, { recursive: true });
  }
}

const HAPROXY = whichOrNote("haproxy", "compile_test: haproxy not installed: the smoke runs are skipped");

Deno.test({
  name: "main.ts smoke: render, then run --haproxy-run until /readyz is 200, then SIGTERM",
  ignore: HAPROXY === undefined,
  async fn() {
    await smoke(
      [DENO, "run", "--allow-all", join(ROOT, "main.ts")],
      HAPROXY as string,
    );
  },
});

async function hostRuntimeAtHand(): Promise<boolean> {
  if (!(HOST in TARGETS)) return false;
  const info = await run(DENO, ["info", "--json"]);
  const { denoDir, denoVersion } = JSON.parse(info.stdout) as {
    denoDir: string;
    denoVersion: string;
  };
  const runtime = findRuntime(HOST as Target, {
    env: Deno.env.toObject(),
    hostTarget: HOST,
    denoDir,
    denoVersion,
    exists: (path) => {
      try {
        return Deno.statSync(path).isFile;
      } catch {
        return false;
      }
    },
  });
  return runtime !== undefined;
}

const RUNTIME = await hostRuntimeAtHand();
const REQUIRE_RUNTIME = Deno.env.get("HACONFD_REQUIRE_RUNTIME") === "1";
if (!RUNTIME && !REQUIRE_RUNTIME) {
  note(
    "compile_test: no Deno runtime (denort) at hand (DENORT_BIN unset, none in deno's cache): " +
      "the compiled-binary smoke test is skipped",
  );
}

Deno.test({
  name: "compile task builds a binary that passes the same smoke run",
  // The release workflow sets HACONFD_REQUIRE_RUNTIME=1 after `deno task compile --download`: there a
  // missing runtime is a failure, not a reason to skip.
  ignore: (!RUNTIME && !REQUIRE_RUNTIME) || HAPROXY === undefined,
  async fn() {
    assert.ok(RUNTIME, "HACONFD_REQUIRE_RUNTIME=1 but no Deno runtime (denort) is at hand");
    const tmp = await Deno.makeTempDir({ prefix: "haconfd-dist-" });
    try {
      const built = await run(DENO, [
        "run",
        "--allow-all",
        "tools/compile.ts",
        "--out-dir",
        tmp,
      ]);
      assert.equal(built.code, 0, built.stderr);
      const name = TARGETS[HOST as Target];
      const binary = join(tmp, name);
      assert.equal(
        await Deno.readTextFile(join(tmp, SUMS_FILE)),
        sumsLine(await sha256File(binary), name),
      );
      const head = await run("git", ["rev-parse", "HEAD"]);
      const version = await run(binary, ["version"], {
        env: {},
        clearEnv: true,
      });
      assert.equal(version.code, 0, version.stderr);
      if (head.code === 0) {
        assert.match(
          version.stdout,
          new RegExp(`commit ${head.stdout.trim()}`),
        );
      }
      await smoke([binary], HAPROXY as string);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
