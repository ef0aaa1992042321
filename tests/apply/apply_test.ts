import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type ApplierOptions,
  createApplier,
  RENDERED_PLACEHOLDER,
  writeCause,
} from "../../lib/apply/apply.ts";
import { sha256Hex } from "../../lib/hash.ts";
import { checkConfig, type CheckResult } from "../../lib/haproxy/check.ts";
import { createMasterSocketReloader, type ReloadResult } from "../../lib/haproxy/reload.ts";
import { memoryLogger } from "../../lib/log.ts";
import { httpGet, startHttpBackend } from "../../lib/demo/backends.ts";
import {
  freePort,
  guardApplier,
  HAPROXY_BINARY,
  haproxyAvailable,
  routingConfig,
  startHaproxy,
  waitFor,
} from "../support/haproxy.ts";
import { run } from "../support/process.ts";

const NO_HAPROXY = !haproxyAvailable();

/**
 * A check that rejects any text containing "BAD" and warns about "WARN", naming the file it was given;
 * text containing "HANG" makes it report a timeout (not run).
 */
async function fakeCheck(path: string): Promise<CheckResult> {
  const text = await Deno.readTextFile(path);
  if (text.includes("HANG")) {
    return {
      verdict: "not-run",
      ok: false,
      output: "",
      errors: [`Cannot check config with "haproxy -c -f ${path}": timed out after 30000 ms`],
      durationMs: 30_000,
    };
  }
  const bad = text.includes("BAD");
  const warnings = text.includes("WARN")
    ? [`[WARNING] (1) : config : parsing [${path}:2] : WARN is odd`]
    : [];
  const errors = bad ? [`[ALERT] (1) : config : parsing [${path}:1] : unknown keyword 'BAD'`] : [];
  return {
    verdict: bad ? "invalid" : "valid",
    ok: !bad,
    output: [...errors, ...warnings, bad ? "" : "valid"].join("\n"),
    errors: [...errors, ...warnings],
    durationMs: 7,
  };
}

/** A reloader answering with queued results (ok by default) and counting calls with the clock time. */
function fakeReloader(clock: { t: number }) {
  const queue: Partial<ReloadResult>[] = [];
  const calls: number[] = [];
  return {
    queue,
    calls,
    reload(): Promise<ReloadResult> {
      calls.push(clock.t);
      const next = queue.shift() ?? {};
      const ok = next.ok ?? true;
      return Promise.resolve({
        ok,
        durationMs: 11,
        detail: next.detail ?? (ok ? "reloaded" : "failed"),
        ...(ok ? {} : { error: next.error ?? "HAProxy reload failed: boom" }),
      });
    },
  };
}

interface Fixture {
  dir: string;
  target: string;
  clock: { t: number };
  sleeps: number[];
  reloader: ReturnType<typeof fakeReloader>;
  options: ApplierOptions;
}

async function withFixture(fn: (f: Fixture) => Promise<void>, initial?: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-apply-" });
  try {
    const target = join(dir, "haproxy.cfg");
    if (initial !== undefined) await Deno.writeTextFile(target, initial);
    const clock = { t: 1_000_000 };
    const sleeps: number[] = [];
    const reloader = fakeReloader(clock);
    const options: ApplierOptions = {
      target,
      check: fakeCheck,
      reloader,
      minReloadIntervalMs: 0,
      log: memoryLogger(),
      now: () => clock.t,
      sleep: (ms) => {
        sleeps.push(ms);
        clock.t += ms;
        return Promise.resolve();
      },
    };
    await fn({ dir, target, clock, sleeps, reloader, options });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("createApplier() reloads an existing unchanged file exactly once, at the first apply", async () => {
  await withFixture(async ({ options, reloader, target }) => {
    const applier = await createApplier(options);
    assert.equal(applier.installed(), "cfg v1\n");
    assert.equal(applier.reloadPending(), true, "HAProxy may not run the installed file yet");

    const first = await applier.apply("cfg v1\n");
    assert.equal(first.status, "applied");
    if (first.status !== "applied") return;
    assert.equal(first.changed, false);
    assert.equal(first.detail, "reloaded the installed config once at start-up");
    assert.equal(first.durations.checkMs, 0, "an unchanged file is not checked again");
    assert.equal(first.hash, sha256Hex("cfg v1\n"));
    assert.equal(first.installedHash, first.hash);
    assert.equal(reloader.calls.length, 1);
    assert.equal(applier.reloadPending(), false);
    assert.equal(await Deno.readTextFile(target), "cfg v1\n");

    const second = await applier.apply("cfg v1\n");
    assert.equal(second.status, "unchanged");
    assert.equal(second.installedHash, second.hash);
    assert.equal(reloader.calls.length, 1, "no reload at the second apply");
  }, "cfg v1\n");
});

Deno.test("createApplier() reloads after a restart that follows a failed reload", async () => {
  await withFixture(async ({ options, reloader, target }) => {
    // First run (e.g. --once with a failing reload command): installs, the reload fails, the last good
    // file is put back, it exits.
    const before = await createApplier(options);
    reloader.queue.push({ ok: false, error: "HAProxy reload failed: command exited with code 1" });
    const failed = await before.apply("cfg v2\n");
    assert.equal(failed.status, "reload-failed");
    assert.equal(await Deno.readTextFile(target), "cfg v1\n");

    // Second run: the last good file is reloaded once at start-up, not answered "unchanged".
    const after = await createApplier(options);
    assert.equal(after.reloadPending(), true);
    const result = await after.apply("cfg v1\n");
    assert.equal(result.status, "applied");
    if (result.status !== "applied") return;
    assert.equal(result.changed, false);
    assert.equal(result.detail, "reloaded the installed config once at start-up");
    assert.equal(reloader.calls.length, 2);
    assert.equal((await after.apply("cfg v1\n")).status, "unchanged");
    assert.equal(reloader.calls.length, 2);
  }, "cfg v1\n");
});

Deno.test("createApplier() with no installed file has no reload pending", async () => {
  await withFixture(async ({ options, reloader }) => {
    const applier = await createApplier(options);
    assert.equal(applier.reloadPending(), false);
    const result = await applier.apply("fresh\n");
    assert.equal(result.status === "applied" && result.detail, "installed the new config and reloaded");
    assert.equal(reloader.calls.length, 1);
  });
});

Deno.test("createApplier() reports a failed start-up reload and retries it", async () => {
  await withFixture(async ({ options, reloader }) => {
    const applier = await createApplier(options);
    reloader.queue.push({ ok: false, error: "Cannot start HAProxy: boom" });
    const failed = await applier.apply("cfg v1\n");
    assert.equal(failed.status, "reload-failed");
    if (failed.status !== "reload-failed") return;
    assert.equal(failed.changed, false);
    assert.equal(failed.detail, "reloaded the installed config once at start-up");
    assert.equal(failed.error, "Cannot start HAProxy: boom");
    const retried = await applier.apply("cfg v1\n");
    assert.equal(retried.status === "applied" && retried.detail, "retried the pending reload");
    assert.equal(reloader.calls.length, 2);
  }, "cfg v1\n");
});

Deno.test("createApplier() installs a changed config, reloads once and reports durations and hashes", async () => {
  await withFixture(async ({ options, reloader, target, dir }) => {
    const applier = await createApplier(options);
    const result = await applier.apply("cfg v2\n");
    assert.equal(result.status, "applied");
    if (result.status !== "applied") return;
    assert.equal(result.changed, true);
    assert.equal(result.hash, sha256Hex("cfg v2\n"));
    assert.equal(result.installedHash, result.hash);
    assert.equal(result.durations.checkMs, 7);
    assert.equal(result.durations.reloadMs, 11);
    assert.equal(result.reload.detail, "reloaded");
    assert.equal(await Deno.readTextFile(target), "cfg v2\n");
    assert.equal(applier.installed(), "cfg v2\n");
    assert.equal(applier.reloadPending(), false);
    assert.equal(reloader.calls.length, 1);
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"]);
    assert.equal((await applier.apply("cfg v2\n")).status, "unchanged");
  }, "cfg v1\n");
});

Deno.test("createApplier() keeps the installed file on a failed check and the rejected text beside it", async () => {
  await withFixture(async ({ options, reloader, target, dir }) => {
    const applier = await createApplier(options);
    const result = await applier.apply("BAD config\n");
    assert.equal(result.status, "check-failed");
    if (result.status !== "check-failed") return;
    assert.equal(result.retryable, false);
    assert.equal(result.rejectedPath, `${target}.rejected`);
    // The line numbers belong to the rejected text: the messages name the file that holds it.
    assert.deepEqual(result.errors, [
      `[ALERT] (1) : config : parsing [${target}.rejected:1] : unknown keyword 'BAD'`,
    ]);
    assert.match(result.output, new RegExp(`parsing \\[${target}\\.rejected:1\\]`));
    assert.equal(result.installedHash, sha256Hex("cfg v1\n"));
    assert.equal(await Deno.readTextFile(target), "cfg v1\n");
    assert.equal(await Deno.readTextFile(`${target}.rejected`), "BAD config\n");
    assert.equal(applier.installed(), "cfg v1\n");
    assert.equal(reloader.calls.length, 1, "only the start-up reload of the installed file");
    assert.equal(result.pendingReload?.ok, true);
    assert.deepEqual(await listDir(dir), ["haproxy.cfg", "haproxy.cfg.rejected"]);

    // The next good config is installed and the stale rejected file goes away.
    assert.equal((await applier.apply("cfg v2\n")).status, "applied");
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"]);
  }, "cfg v1\n");
});

Deno.test("createApplier() names the placeholder in check errors when the rejected text cannot be kept", async () => {
  await withFixture(async ({ options, target }) => {
    await Deno.mkdir(`${target}.rejected`); // a directory: the rejected text cannot be written there
    const applier = await createApplier(options);
    const result = await applier.apply("BAD config\n");
    assert.equal(result.status, "check-failed");
    if (result.status !== "check-failed") return;
    assert.equal(result.rejectedPath, undefined);
    assert.equal(result.retryable, false);
    assert.deepEqual(result.errors, [
      `[ALERT] (1) : config : parsing [${RENDERED_PLACEHOLDER}:1] : unknown keyword 'BAD'`,
    ]);
    assert.ok(!result.output.includes(target), result.output);
  }, "cfg v1\n");
});

Deno.test("createApplier() names the installed file in the warnings of a config it installs", async () => {
  await withFixture(async ({ options, target }) => {
    const applier = await createApplier(options);
    const result = await applier.apply("cfg\nWARN\n");
    assert.equal(result.status, "applied");
    if (result.status !== "applied") return;
    assert.deepEqual(result.warnings, [`[WARNING] (1) : config : parsing [${target}:2] : WARN is odd`]);
  }, "cfg v1\n");
});

Deno.test("createApplier() reports a check that cannot run as retryable, without a rejected file", async () => {
  await withFixture(async ({ options, target, dir, reloader }) => {
    const applier = await createApplier({
      ...options,
      check: () => Promise.reject(new Error(`Cannot run "/nonexistent/haproxy": program not found`)),
    });
    const result = await applier.apply("cfg v2\n");
    assert.equal(result.status, "check-failed");
    if (result.status !== "check-failed") return;
    assert.equal(result.retryable, true);
    assert.equal(result.rejectedPath, undefined);
    assert.deepEqual(result.errors, [
      `Cannot check config: Cannot run "/nonexistent/haproxy": program not found`,
    ]);
    assert.equal(await Deno.readTextFile(target), "cfg v1\n");
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"]);
    assert.equal(reloader.calls.length, 1, "only the start-up reload of the installed file");
  }, "cfg v1\n");
});

Deno.test("createApplier() reports a timed-out check as retryable and installs the same text on retry", async () => {
  await withFixture(async ({ options, target, dir }) => {
    let hang = true;
    const applier = await createApplier({
      ...options,
      check: async (path) => {
        if (!hang) return await fakeCheck(path);
        // Stands for checkConfig()'s answer when haproxy -c runs past its timeout.
        return {
          verdict: "not-run",
          ok: false,
          output: "",
          errors: [`Cannot check config with "haproxy -c -f ${path}": timed out after 30000 ms`],
          durationMs: 30_000,
        };
      },
    });
    const result = await applier.apply("cfg v2\n");
    assert.equal(result.status, "check-failed");
    if (result.status !== "check-failed") return;
    assert.equal(result.retryable, true);
    assert.equal(result.rejectedPath, undefined);
    assert.deepEqual(result.errors, [
      `Cannot check config with "haproxy -c -f ${RENDERED_PLACEHOLDER}": timed out after 30000 ms`,
    ]);
    assert.equal(result.durations.checkMs, 30_000);
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"], "no rejected file, no temp file left");
    assert.equal(await Deno.readTextFile(target), "cfg v1\n");

    hang = false;
    const retried = await applier.apply("cfg v2\n");
    assert.equal(retried.status, "applied");
    assert.equal(await Deno.readTextFile(target), "cfg v2\n");
  }, "cfg v1\n");
});

Deno.test("createApplier() keeps an old rejected file when a check cannot run", async () => {
  await withFixture(async ({ options, target }) => {
    const applier = await createApplier(options);
    assert.equal((await applier.apply("BAD v2\n")).status, "check-failed");
    const hung = await applier.apply("HANG v3\n");
    assert.equal(hung.status === "check-failed" && hung.retryable, true);
    assert.equal(await Deno.readTextFile(`${target}.rejected`), "BAD v2\n");
  }, "cfg v1\n");
});

Deno.test("createApplier() puts the last good file back after a failed reload and retries on the next apply", async () => {
  await withFixture(async ({ options, reloader, target }) => {
    const applier = await createApplier(options);
    reloader.queue.push({ ok: false, error: "HAProxy reload failed: master socket refused" });
    const failed = await applier.apply("cfg v2\n");
    assert.equal(failed.status, "reload-failed");
    if (failed.status !== "reload-failed") return;
    assert.equal(failed.error, "HAProxy reload failed: master socket refused");
    assert.equal(failed.changed, true);
    assert.equal(failed.restored, true);
    assert.equal(failed.installedHash, await sha256Hex("cfg v1\n"));
    assert.equal(await Deno.readTextFile(target), "cfg v1\n", "HAProxy never finds a file it failed to load");
    assert.equal(applier.installed(), "cfg v1\n");
    assert.equal(applier.reloadPending(), true);

    // Same text again: installed and reloaded again.
    const retried = await applier.apply("cfg v2\n");
    assert.equal(retried.status, "applied");
    if (retried.status !== "applied") return;
    assert.equal(retried.changed, true);
    assert.equal(await Deno.readTextFile(target), "cfg v2\n");
    assert.equal(reloader.calls.length, 2);
    assert.equal(applier.reloadPending(), false);
    assert.equal((await applier.apply("cfg v2\n")).status, "unchanged");
    assert.equal(reloader.calls.length, 2);
  }, "cfg v1\n");
});

Deno.test("createApplier() turns a throwing reloader into reload-failed", async () => {
  await withFixture(async ({ options }) => {
    const applier = await createApplier({
      ...options,
      reloader: { reload: () => Promise.reject(new Error("socket exploded")) },
    });
    const result = await applier.apply("cfg v2\n");
    assert.equal(result.status, "reload-failed");
    if (result.status === "reload-failed") assert.equal(result.error, "socket exploded");
    assert.equal(applier.reloadPending(), true);
  }, "cfg v1\n");
});

Deno.test("createApplier() never reloads closer together than minReloadIntervalMs", async () => {
  await withFixture(async ({ options, reloader, clock, sleeps }) => {
    const applier = await createApplier({ ...options, minReloadIntervalMs: 5_000 });
    const start = clock.t;
    assert.equal((await applier.apply("v2\n")).status, "applied");
    assert.deepEqual(sleeps, [], "the first reload does not wait");

    clock.t += 1_000;
    const second = await applier.apply("v3\n");
    assert.equal(second.status, "applied");
    assert.deepEqual(sleeps, [4_000]);
    assert.equal(second.durations.waitMs, 4_000);
    assert.deepEqual(reloader.calls, [start, start + 5_000]);

    clock.t += 10_000;
    assert.equal((await applier.apply("v4\n")).status, "applied");
    assert.deepEqual(sleeps, [4_000], "no wait once the interval has passed");

    // A failed reload counts too: the retry waits as well.
    reloader.queue.push({ ok: false });
    clock.t += 6_000;
    assert.equal((await applier.apply("v5\n")).status, "reload-failed");
    clock.t += 2_000;
    assert.equal((await applier.apply("v5\n")).status, "applied");
    assert.deepEqual(sleeps, [4_000, 3_000]);
    const calls = reloader.calls;
    for (let i = 1; i < calls.length; i++) assert.ok((calls[i] ?? 0) - (calls[i - 1] ?? 0) >= 5_000);
  }, "v1\n");
});

Deno.test("createApplier() creates a missing target with mode 0640", async () => {
  await withFixture(async ({ options, target }) => {
    const applier = await createApplier(options);
    assert.equal(applier.installed(), undefined);
    const result = await applier.apply("fresh\n");
    assert.equal(result.status, "applied");
    assert.equal(await Deno.readTextFile(target), "fresh\n");
    assert.equal((Deno.statSync(target).mode ?? 0) & 0o777, 0o640);
  });
});

Deno.test("createApplier() keeps the installed file's mode", async () => {
  await withFixture(async ({ options, target }) => {
    await Deno.chmod(target, 0o644);
    const applier = await createApplier(options);
    assert.equal((await applier.apply("v2\n")).status, "applied");
    assert.equal((Deno.statSync(target).mode ?? 0) & 0o777, 0o644);
  }, "v1\n");
});

Deno.test("createApplier() dry-run diffs and checks without writing or reloading", async () => {
  await withFixture(async ({ options, reloader, target, dir }) => {
    const applier = await createApplier(options);
    const result = await applier.apply("a\nc\n", { dryRun: true });
    assert.equal(result.status, "dry-run");
    if (result.status !== "dry-run") return;
    assert.equal(result.changed, true);
    assert.equal(result.check?.verdict, "valid");
    assert.match(result.diff, /^--- .*haproxy\.cfg\tinstalled$/m);
    assert.match(result.diff, /^-b$/m);
    assert.match(result.diff, /^\+c$/m);
    assert.equal(await Deno.readTextFile(target), "a\nb\n");
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"]);
    assert.deepEqual(reloader.calls, []);

    const bad = await applier.apply("BAD\n", { dryRun: true });
    assert.equal(bad.status === "dry-run" && bad.check?.verdict, "invalid");
    assert.deepEqual(bad.status === "dry-run" && bad.check?.errors, [
      `[ALERT] (1) : config : parsing [${RENDERED_PLACEHOLDER}:1] : unknown keyword 'BAD'`,
    ]);
    assert.deepEqual(await listDir(dir), ["haproxy.cfg"], "no rejected file in a dry run");

    const same = await applier.apply("a\nb\n", { dryRun: true });
    assert.deepEqual(same.status === "dry-run" && [same.changed, same.diff, same.check], [
      false,
      "",
      undefined,
    ]);
  }, "a\nb\n");
});

Deno.test("createApplier() reports write-failed when the target's directory is missing", async () => {
  await withFixture(async ({ options, dir, reloader }) => {
    const applier = await createApplier({ ...options, target: join(dir, "missing", "haproxy.cfg") });
    const result = await applier.apply("v1\n");
    assert.equal(result.status, "write-failed");
    if (result.status === "write-failed") assert.match(result.error, /Cannot write temp file/);
    assert.equal(applier.installed(), undefined);
    assert.deepEqual(reloader.calls, []);
  });
});

Deno.test("createApplier() runs concurrent applies one after the other", async () => {
  await withFixture(async ({ options, target }) => {
    const applier = await createApplier(options);
    const results = await Promise.all([applier.apply("v2\n"), applier.apply("v3\n"), applier.apply("v3\n")]);
    assert.deepEqual(results.map((r) => r.status), ["applied", "applied", "unchanged"]);
    assert.equal(await Deno.readTextFile(target), "v3\n");
  }, "v1\n");
});

Deno.test({
  name: "createApplier() with the real haproxy: applies, rejects a broken config, keeps serving",
  ignore: NO_HAPROXY,
  async fn() {
    await using alpha = await startHttpBackend("alpha", { hostname: "127.0.0.2" });
    await using bravo = await startHttpBackend("bravo", { hostname: "127.0.0.3" });
    const port = freePort();
    const config = (server: string) => routingConfig({ http: { listen: port, server } });
    await using haproxy = await startHaproxy(config(`127.0.0.2:${alpha.port}`), { waitFor: [port] });
    const applier = guardApplier(
      await createApplier({
        target: haproxy.configPath,
        check: (path, signal) => checkConfig(path, { command: [HAPROXY_BINARY, "-c", "-f"], signal }),
        reloader: createMasterSocketReloader({ address: haproxy.masterSocket, timeoutMs: 10_000 }),
        minReloadIntervalMs: 0,
      }),
    );
    // The installed file is reloaded once at start-up, then the same render is unchanged.
    const startup = await applier.apply(config(`127.0.0.2:${alpha.port}`));
    assert.equal(startup.status, "applied", JSON.stringify(startup));
    assert.equal(startup.status === "applied" && startup.changed, false);
    assert.equal((await applier.apply(config(`127.0.0.2:${alpha.port}`))).status, "unchanged");

    const applied = await applier.apply(config(`127.0.0.3:${bravo.port}`));
    assert.equal(applied.status, "applied", JSON.stringify(applied));
    await waitFor(async () => (await httpGet(port, "app.test")).body === "bravo\n", { what: "bravo" });

    const broken = await applier.apply(config(`127.0.0.2:${alpha.port}`) + "\nfrontend x\n  bogus-keyword\n");
    assert.equal(broken.status, "check-failed");
    if (broken.status === "check-failed") {
      assert.equal(broken.retryable, false);
      assert.equal(broken.rejectedPath, `${haproxy.configPath}.rejected`);
      const alert = broken.errors.find((l) => l.includes("bogus-keyword")) ?? "";
      const line = /\[([^\]]+\.rejected):(\d+)\]/.exec(alert);
      assert.ok(line, alert);
      // The line number points into the rejected file at the offending line.
      const rejected = (await Deno.readTextFile(broken.rejectedPath ?? "")).split("\n");
      assert.match(rejected[Number(line[2]) - 1] ?? "", /bogus-keyword/);
      assert.ok(!broken.errors.some((l) => l.includes(`[${haproxy.configPath}:`)), broken.errors.join("\n"));
    }
    assert.equal(await Deno.readTextFile(haproxy.configPath), config(`127.0.0.3:${bravo.port}`));
    assert.equal((await httpGet(port, "app.test")).body, "bravo\n");
  },
});

Deno.test("createApplier() still reloads the installed file at start-up when the new text is rejected", async () => {
  await withFixture(async ({ options, reloader, target }) => {
    const applier = await createApplier(options);
    const result = await applier.apply("BAD config\n");
    assert.equal(result.status, "check-failed");
    if (result.status !== "check-failed") return;
    assert.equal(
      result.pendingReload?.ok,
      true,
      "the last good config is (re)loaded: a managed HAProxy starts",
    );
    assert.equal(reloader.calls.length, 1);
    assert.equal(await Deno.readTextFile(target), "good config\n");
    assert.equal(applier.reloadPending(), false);
    const again = await applier.apply("BAD config\n");
    assert.equal(again.status, "check-failed");
    assert.equal(reloader.calls.length, 1, "no second reload");
  }, "good config\n");
});

Deno.test("createApplier() dry-run needs no write access beside the target", async () => {
  await withFixture(async ({ options, dir }) => {
    await Deno.chmod(dir, 0o555); // root ignores modes: also point the target at a directory that cannot exist
    try {
      const applier = await createApplier({ ...options, target: "/proc/haconfd-test/haproxy.cfg" });
      const result = await applier.apply("cfg\n", { dryRun: true });
      assert.equal(result.status, "dry-run");
      if (result.status !== "dry-run") return;
      assert.equal(result.check?.verdict, "valid", "checked from a private temp directory");
    } finally {
      await Deno.chmod(dir, 0o755);
    }
  });
});

/**
 * A directory holding `haproxy.cfg` (`initial`) that nobody may write to: a read-only tmpfs when running
 * as root (whom file modes do not stop), else mode 0555. Throws when neither can be had.
 */
async function readOnlyDir(initial: string): Promise<{ dir: string; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-apply-ro-" });
  if (Deno.uid() !== 0) {
    await Deno.writeTextFile(join(dir, "haproxy.cfg"), initial);
    await Deno.chmod(dir, 0o555);
    return {
      dir,
      close: async () => {
        await Deno.chmod(dir, 0o755);
        await Deno.remove(dir, { recursive: true });
      },
    };
  }
  const mount = async (...args: string[]) => {
    const result = await run("mount", args);
    if (result.code !== 0) {
      throw new Error(`Cannot make a read-only directory: mount ${args.join(" ")}: ${result.stderr}`);
    }
  };
  await mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", dir);
  await Deno.writeTextFile(join(dir, "haproxy.cfg"), initial);
  await mount("-o", "remount,ro", dir);
  return {
    dir,
    close: async () => {
      await run("umount", [dir]);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("createApplier() logs a write failure at error level with its cause, once per distinct cause", async () => {
  const ro = await readOnlyDir("cfg v1\n");
  try {
    const log = memoryLogger();
    const clock = { t: 0 };
    const applier = await createApplier({
      target: join(ro.dir, "haproxy.cfg"),
      check: fakeCheck,
      reloader: fakeReloader(clock),
      log,
    });
    for (const text of ["cfg v2\n", "cfg v2\n", "cfg v3\n"]) {
      const result = await applier.apply(text);
      assert.equal(result.status, "write-failed");
    }
    const errors = log.lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 1, JSON.stringify(log.lines));
    assert.equal(errors[0]?.msg, "cannot write config, installed config kept, will retry");
    assert.match(String(errors[0]?.error), /Read-only file system|Permission denied/);
    assert.match(String(errors[0]?.error), /Cannot write temp file/);
    assert.equal(await Deno.readTextFile(join(ro.dir, "haproxy.cfg")), "cfg v1\n");
  } finally {
    await ro.close();
  }
});

Deno.test("writeCause() drops the paths a write error names", () => {
  assert.equal(
    writeCause(
      `Cannot write temp file "/etc/haproxy/.haproxy.cfg.123.tmp": Read-only file system (os error 30): open '/etc/haproxy/.haproxy.cfg.123.tmp'`,
    ),
    writeCause(
      `Cannot write temp file "/etc/haproxy/.haproxy.cfg.456.tmp": Read-only file system (os error 30): open '/etc/haproxy/.haproxy.cfg.456.tmp'`,
    ),
  );
  assert.notEqual(
    writeCause(`Cannot write temp file "/a": Read-only file system (os error 30)`),
    writeCause(`Cannot write temp file "/a": No space left on device (os error 28)`),
  );
});

Deno.test("createApplier() logs a reload cut short by haconfd's stop at info level, any other failure as an error", async () => {
  await withFixture(async ({ options, reloader }) => {
    const log = memoryLogger();
    const applier = await createApplier({ ...options, log });
    reloader.queue.push({ ok: false, error: "Cannot reload HAProxy: haconfd is stopping" });
    const stopping = AbortSignal.abort(new Error("haconfd is stopping"));
    assert.equal((await applier.apply("cfg v2\n", { signal: stopping })).status, "reload-failed");
    reloader.queue.push({ ok: false, error: "HAProxy reload failed: command exited with code 1" });
    assert.equal((await applier.apply("cfg v3\n")).status, "reload-failed");
    const failed = log.lines.filter((l) => l.msg === "reload failed, will retry").map((
      l,
    ) => [l.level, l.error]);
    assert.deepEqual(failed, [
      ["info", "Cannot reload HAProxy: haconfd is stopping"],
      ["error", "HAProxy reload failed: command exited with code 1"],
    ]);
  }, "cfg v1\n");
});
