/**
 * The parent-death wrapper: when it is used (setpriv's own help decides) and how programs are looked up. The
 * search path is passed in: test files run in one process, so changing its PATH would reach other tests.
 */
import assert from "node:assert/strict";
import { PARENT_DEATH_PREFIX, parentDeathPrefix, resolveProgram } from "../../lib/haproxy/parent_death.ts";

/** A temporary directory holding an executable `name` that prints `help`. */
async function fakeProgram(name: string, help: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-pdeath-" });
  await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\nprintf '%s\\n' '${help}'\n`, { mode: 0o755 });
  return dir;
}

Deno.test("parentDeathPrefix() is setpriv --pdeathsig KILL -- where setpriv's help names --pdeathsig", async () => {
  const dir = await fakeProgram(
    "setpriv",
    " --pdeathsig keep|clear|<signame>  set or clear parent death signal",
  );
  try {
    assert.deepEqual(await parentDeathPrefix(dir), ["setpriv", "--pdeathsig", "KILL", "--"]);
    assert.equal(await parentDeathPrefix(dir), PARENT_DEATH_PREFIX);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parentDeathPrefix() is empty where setpriv lacks --pdeathsig or is missing", async () => {
  const old = await fakeProgram("setpriv", " --reuid <user>  set real uid");
  const empty = await Deno.makeTempDir({ prefix: "haconfd-pdeath-" });
  try {
    assert.deepEqual(await parentDeathPrefix(old), []);
    assert.deepEqual(await parentDeathPrefix(empty), []);
  } finally {
    await Deno.remove(old, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("resolveProgram() keeps a path, finds a bare name on PATH in order and names a missing one", async () => {
  const first = await fakeProgram("haproxy", "first");
  const second = await fakeProgram("haproxy", "second");
  const withDir = await Deno.makeTempDir({ prefix: "haconfd-pdeath-" });
  await Deno.mkdir(`${withDir}/haproxy`);
  try {
    assert.equal(await resolveProgram(`${second}/haproxy`), `${second}/haproxy`);
    const path = [withDir, "", first, second].join(":");
    assert.equal(await resolveProgram("haproxy", path), `${first}/haproxy`);
    await assert.rejects(
      resolveProgram("haproxy", withDir),
      (e: unknown) => e instanceof Deno.errors.NotFound && /No program "haproxy"/.test(e.message),
    );
    await assert.rejects(resolveProgram(`${withDir}/nothing`), Deno.errors.NotFound);
  } finally {
    for (const dir of [first, second, withDir]) await Deno.remove(dir, { recursive: true });
  }
});
