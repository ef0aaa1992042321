import assert from "node:assert/strict";
import { join } from "node:path";
import { checkOnce, readOnce, renderOnce } from "../../lib/commands/commands.ts";
import { RENDERED_PLACEHOLDER } from "../../lib/apply/apply.ts";
import { memoryLogger } from "../../lib/log.ts";
import { parseCommandLine } from "../../lib/settings/cli.ts";
import { loadSettings, optionSpecs } from "../../lib/settings/options.ts";
import { endpointsList, endpointsObject } from "../support/fixtures.ts";

/** A temp dir with a --from dump: one good service, one bad domain, one malformed object. */
async function withDump(fn: (dir: string, from: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-commands-" });
  try {
    const malformed = endpointsObject({ namespace: "shop", name: "broken" });
    malformed.subsets = "not a list";
    const dump = endpointsList(
      endpointsObject({
        name: "web",
        annotations: { domain: "web.example.test", proto: "http" },
        ready: ["10.0.0.1"],
      }),
      endpointsObject({
        name: "evil",
        annotations: { domain: "bad domain\nbind", proto: "http" },
        ready: ["10.0.0.2"],
      }),
      malformed,
    );
    await Deno.writeTextFile(join(dir, "sets.json"), JSON.stringify(dump));
    await fn(dir, join(dir, "sets.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function settingsOf(args: string[]) {
  return loadSettings(parseCommandLine(args, optionSpecs()).values, {});
}

/** A console that keeps its lines. */
function memoryConsole() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) } };
}

Deno.test("readOnce() reads a --from dump and warns about each malformed object by name", async () => {
  await withDump(async (_dir, from) => {
    const log = memoryLogger();
    const sets = await readOnce(settingsOf(["--from", from]), log);
    assert.deepEqual(sets.map((s) => `${s.namespace}/${s.name}`).sort(), ["default/evil", "default/web"]);
    const warnings = log.lines.filter((line) => line.msg === "object skipped");
    assert.deepEqual(warnings.map((line) => [line.level, line.object]), [["warn", "shop/broken"]]);
    assert.match(String(warnings[0]?.reason), /subsets/);
  });
});

Deno.test("renderOnce() renders the good services, warns about the skipped ones and counts both", async () => {
  await withDump(async (_dir, from) => {
    const log = memoryLogger();
    const text = await renderOnce(settingsOf(["--from", from]), log);
    assert.match(text, /web\.example\.test/);
    assert.doesNotMatch(text, /bad domain/);
    assert.match(text, /^# haconfd: 1 domains$/m);
    const skipped = log.lines.filter((line) => line.msg === "object skipped").map((line) => line.object);
    assert.deepEqual(skipped.sort(), ["default/evil", "shop/broken"]);
    const rendered = log.lines.find((line) => line.msg === "rendered");
    assert.deepEqual([rendered?.domains, rendered?.skipped], [1, 1]);
  });
});

Deno.test("checkOnce() reports a valid config on standard output", async () => {
  await withDump(async (_dir, from) => {
    const { out, err, io } = memoryConsole();
    assert.equal(
      await checkOnce(settingsOf(["--from", from, "--haproxy-chk-cmd", "true"]), memoryLogger(), io),
      true,
    );
    assert.deepEqual(out, ["Configuration is valid"]);
    assert.deepEqual(err, []);
  });
});

Deno.test("checkOnce() shows the check's alerts with the temp path hidden, and removes its temp copy", async () => {
  await withDump(async (dir, from) => {
    const checker = join(dir, "check.sh");
    const seen = join(dir, "seen");
    await Deno.writeTextFile(
      checker,
      `#!/bin/sh\necho "$1" > "${seen}"\necho "[ALERT]    (1) : config : parsing [$1:3] : unknown keyword 'balanse'" >&2\nexit 1\n`,
      { mode: 0o755 },
    );
    const { out, err, io } = memoryConsole();
    assert.equal(
      await checkOnce(settingsOf(["--from", from, "--haproxy-chk-cmd", checker]), memoryLogger(), io),
      false,
    );
    assert.deepEqual(out, ["Configuration is invalid"]);
    assert.equal(err.length, 1);
    assert.ok(err[0]?.includes(`parsing [${RENDERED_PLACEHOLDER}:3]`), err[0]);
    const checked = (await Deno.readTextFile(seen)).trim();
    assert.ok(!err[0]?.includes(checked), "the temp path is hidden");
    await assert.rejects(Deno.stat(checked), Deno.errors.NotFound);
  });
});
