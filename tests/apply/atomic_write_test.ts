import assert from "node:assert/strict";
import { join } from "node:path";
import { atomicWrite, DEFAULT_MODE, stageFile } from "../../lib/apply/atomic_write.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-atomic-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

function mode(path: string): number {
  return (Deno.statSync(path).mode ?? 0) & 0o7777;
}

Deno.test("atomicWrite() creates a missing target with mode 0640", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "haproxy.cfg");
    await atomicWrite(target, "global\n");
    assert.equal(await Deno.readTextFile(target), "global\n");
    assert.equal(mode(target), DEFAULT_MODE);
    assert.deepEqual(await names(dir), ["haproxy.cfg"]);
  });
});

Deno.test("atomicWrite() keeps the existing file's mode and replaces its content", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(target, "old\n");
    await Deno.chmod(target, 0o604);
    await atomicWrite(target, new TextEncoder().encode("new\n"));
    assert.equal(await Deno.readTextFile(target), "new\n");
    assert.equal(mode(target), 0o604);
    assert.deepEqual(await names(dir), ["haproxy.cfg"]);
  });
});

Deno.test("atomicWrite() replaces the file by rename, so an open reader keeps the old content", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(target, "old\n");
    const before = Deno.statSync(target).ino;
    using reader = await Deno.open(target);
    await atomicWrite(target, "new content\n");
    const buffer = new Uint8Array(64);
    const n = await reader.read(buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "old\n");
    assert.notEqual(Deno.statSync(target).ino, before);
  });
});

Deno.test("atomicWrite() removes its temp file when the rename fails", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "is-a-dir");
    await Deno.mkdir(join(target, "child"), { recursive: true });
    await assert.rejects(() => atomicWrite(target, "x"), /Cannot rename/);
    assert.deepEqual(await names(dir), ["is-a-dir"]);
  });
});

Deno.test("atomicWrite() fails with a clear error when the directory does not exist", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => atomicWrite(join(dir, "missing", "haproxy.cfg"), "x"),
      /Cannot write temp file/,
    );
    assert.deepEqual(await names(dir), []);
  });
});

Deno.test("stageFile() writes beside the target and leaves it untouched until commit()", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(target, "old\n");
    await Deno.chmod(target, 0o600);
    const staged = await stageFile(target, "new\n");
    assert.equal(join(dir, staged.path.slice(dir.length + 1)), staged.path);
    assert.equal(await Deno.readTextFile(staged.path), "new\n");
    assert.equal(mode(staged.path), 0o600);
    assert.equal(await Deno.readTextFile(target), "old\n");
    await staged.commit();
    await staged.discard(); // no-op after commit
    assert.equal(await Deno.readTextFile(target), "new\n");
    assert.deepEqual(await names(dir), ["haproxy.cfg"]);
    await assert.rejects(() => staged.commit(), /already committed/);
  });
});

Deno.test("stageFile() discard() removes the temp file and keeps the target", async () => {
  await withTempDir(async (dir) => {
    const target = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(target, "old\n");
    const staged = await stageFile(target, "rejected\n");
    await staged.discard();
    await staged.discard();
    assert.equal(await Deno.readTextFile(target), "old\n");
    assert.deepEqual(await names(dir), ["haproxy.cfg"]);
  });
});
