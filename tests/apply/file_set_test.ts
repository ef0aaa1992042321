import assert from "node:assert/strict";
import { join } from "node:path";
import { stageSet } from "../../lib/apply/file_set.ts";

Deno.test("stageSet() stages the maps privately, checks a copy naming them, and installs maps before the config", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "haproxy.cfg");
    const map = join(dir, "hosts.map");
    await Deno.writeTextFile(map, "old.test old\n");
    const text = `frontend f\n    use_backend be_%[req.hdr(host),map_str(${map},x)]\n`;
    const staged = await stageSet(target, text, text, [{ path: map, text: "new.test new\n" }]);
    const checked = await Deno.readTextFile(staged.checkPath);
    const stagedMap = staged.renames.find(([, to]) => to === map)![0];
    assert.equal(checked, text.replace(map, stagedMap), "the check sees the staged map");
    assert.equal(await Deno.readTextFile(stagedMap), "new.test new\n");
    assert.equal(await Deno.readTextFile(map), "old.test old\n", "nothing installed before commit");
    await staged.commit();
    await staged.discard();
    assert.equal(await Deno.readTextFile(map), "new.test new\n");
    assert.equal(await Deno.readTextFile(target), text);
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left.sort(), ["haproxy.cfg", "hosts.map"], "no staging left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stageSet() discarded leaves the installed map and config as they were", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const map = join(dir, "hosts.map");
    await Deno.writeTextFile(map, "old.test old\n");
    const staged = await stageSet(join(dir, "haproxy.cfg"), "x\n", "x\n", [{
      path: map,
      text: "new.test new\n",
    }]);
    await staged.discard();
    assert.equal(await Deno.readTextFile(map), "old.test old\n");
    const left = [];
    for await (const e of Deno.readDir(dir)) left.push(e.name);
    assert.deepEqual(left, ["hosts.map"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stageSet() names every staged map in the checked copy, each path whole, however often it appears", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hosts = join(dir, "a.map");
    const longer = join(dir, "a.map.d+(x).map"); // begins with the first path, and holds regexp characters
    const text = [
      `use_backend be_%[req.hdr(host),map_str(${hosts},x)]`,
      `use_backend be_%[req.ssl_sni,map_str(${longer},y)]`,
      `http-request redirect location %[req.hdr(host),map_str(${hosts})]`,
      "",
    ].join("\n");
    const staged = await stageSet(join(dir, "haproxy.cfg"), text, text, [
      { path: hosts, text: "a x\n" },
      { path: longer, text: "b y\n" },
    ]);
    try {
      const at = new Map(staged.renames.map(([from, to]) => [to, from]));
      const expected = text.replaceAll(longer, "LONGER").replaceAll(hosts, at.get(hosts)!)
        .replaceAll("LONGER", at.get(longer)!);
      assert.equal(await Deno.readTextFile(staged.checkPath), expected);
      assert.equal(await Deno.readTextFile(at.get(longer)!), "b y\n");
    } finally {
      await staged.discard();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
