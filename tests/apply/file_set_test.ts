import assert from "node:assert/strict";
import { join } from "node:path";
import { replacedParts, stageSet } from "../../lib/apply/file_set.ts";

Deno.test("stageSet() stages the maps privately, checks a copy naming them, and installs maps before the config", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = join(dir, "haproxy.cfg");
    const map = join(dir, "hosts.map");
    await Deno.writeTextFile(map, "old.test old\n");
    const text = `frontend f\n    use_backend be_%[req.hdr(host),map_str(${map},x)]\n`;
    const staged = await stageSet(target, text, [{ path: map, text: "new.test new\n" }]);
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
    const staged = await stageSet(join(dir, "haproxy.cfg"), "x\n", [{
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `text` cut into parts at `cuts` (offsets), encoded. */
function partsOf(text: string, cuts: number[]): Uint8Array[] {
  const bounds = [0, ...cuts, text.length];
  return bounds.slice(1).map((end, i) => encoder.encode(text.slice(bounds[i], end)));
}

/** The bytes of `parts` as one text. */
function joinedText(parts: readonly Uint8Array[]): string {
  return parts.map((p) => decoder.decode(p)).join("");
}

Deno.test("replacedParts() replaces every occurrence, also across parts, as replaceAll() one after the other does", () => {
  const text = "map(/m/hosts.map) x /m/sni.map\nmap(/m/hosts.map,y) /m/other /m/hosts.ma\n";
  const pairs: [string, string][] = [["/m/hosts.map", "/s/.d/hosts.map"], ["/m/sni.map", "/s/.d/sni.map"]];
  const expected = pairs.reduce((t, [from, to]) => t.replaceAll(from, to), text);
  const encoded = pairs.map(([from, to]) => [encoder.encode(from), encoder.encode(to)] as const);
  for (const cuts of [[], [5], [4, 5, 6, 7], [10, 21, 22, 23, 40], [0, 0, 1, 70, 70]]) {
    const parts = partsOf(text, cuts);
    assert.equal(joinedText(replacedParts(parts, encoded)), expected, `cut at ${cuts}`);
  }
});

Deno.test("replacedParts() replaces the longest path at a position, whatever the order of the pairs", () => {
  const text = "map(/m/a.map) map(/m/a.map.d/b.map)\n";
  const pairs: [string, string][] = [["/m/a.map", "/s/a.map"], ["/m/a.map.d/b.map", "/s/b.map"]];
  for (const order of [pairs, [...pairs].reverse()]) {
    const encoded = order.map(([from, to]) => [encoder.encode(from), encoder.encode(to)] as const);
    assert.equal(joinedText(replacedParts(partsOf(text, [9, 30]), encoded)), "map(/s/a.map) map(/s/b.map)\n");
  }
});

Deno.test("replacedParts() gives the parts themselves when nothing matches, and nothing for nothing", () => {
  const parts = partsOf("a/b /c", [2]);
  const out = replacedParts(parts, [[encoder.encode("/x"), encoder.encode("/y")]]);
  assert.deepEqual(out.map((p) => p.buffer), parts.map((p) => p.buffer), "views of the same bytes");
  assert.equal(joinedText(out), "a/b /c");
  assert.deepEqual(replacedParts([], [[encoder.encode("/x"), encoder.encode("/y")]]), []);
  assert.equal(
    joinedText(replacedParts(partsOf("é/x€", [1]), [[encoder.encode("/x"), encoder.encode("/ü")]])),
    "é/ü€",
  );
});
Deno.test("stageSet() names every staged map in the checked copy, each path whole, however often it appears", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const hosts = join(dir, "a.map");
    const longer = join(dir, "a.map.d+(x)", "b.map"); // begins with the first path
    const text = [
      `use_backend be_%[req.hdr(host),map_str(${hosts},x)]`,
      `use_backend be_%[req.ssl_sni,map_str(${longer},y)]`,
      `http-request redirect location %[req.hdr(host),map_str(${hosts})]`,
      "",
    ].join("\n");
    const staged = await stageSet(join(dir, "haproxy.cfg"), text, [
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
