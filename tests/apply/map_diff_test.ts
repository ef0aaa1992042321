import assert from "node:assert/strict";
import { mapDiff, parseMap } from "../../lib/apply/map_diff.ts";
import { runtimeDiff } from "../../lib/apply/config_diff.ts";

const file = (text: string, path = "/etc/haproxy/haconfd-hosts.map") => ({ path, text });
const HEAD = "# Host -> backend id\n";

Deno.test("mapDiff() gives the entries added, changed and removed, none for equal files", () => {
  const before = [file(`${HEAD}a.test a\nb.test pool_1\nc.test c\n`), file("x.test x\n", "/m/sni.map")];
  const after = [file(`${HEAD}a.test a\nb.test pool_2\nd.test d\n`), file("x.test x\n", "/m/sni.map")];
  assert.deepEqual(mapDiff(before, after), [{
    map: "/etc/haproxy/haconfd-hosts.map",
    adds: [["d.test", "d"]],
    sets: [["b.test", "pool_2"]],
    dels: ["c.test"],
    expected: [["a.test", "a"], ["b.test", "pool_2"], ["d.test", "d"]],
  }]);
  assert.deepEqual(mapDiff(before, before), []);
  assert.deepEqual(
    mapDiff(before, [
      file(`# another comment\n${HEAD.trim()}\n\na.test a\nb.test pool_1\nc.test c\n`),
      before[1]!,
    ]),
    [],
    "comments and blank lines change nothing",
  );
});

Deno.test("mapDiff() says why a reload is needed: files added or renamed, entries the CLI cannot carry", () => {
  const one = [file("a.test a\n")];
  assert.equal(mapDiff(one, []), "map files added or removed");
  assert.equal(mapDiff(one, [file("a.test a\n", "/other.map")]), "map files added or removed");
  assert.match(mapDiff(one, [file("a.test a\na.test b\n")]) as string, /"a\.test" appears twice/);
  assert.match(mapDiff(one, [file("a.test two words\n")]) as string, /is not "key value"/);
  assert.match(mapDiff(one, [file("a.test a;show\n")]) as string, /is not "key value"/);
  assert.match(mapDiff(one, [file("b.test\n")]) as string, /is not "key value"/);
});

Deno.test("parseMap() reads a map as HAProxy does: key, blanks, value; comments and blank lines skipped", () => {
  assert.deepEqual(
    parseMap("  # c\n\n[2001:db8::5]\tid_1  \nb.test  id_2\n"),
    new Map([["[2001:db8::5]", "id_1"], ["b.test", "id_2"]]),
  );
});

Deno.test("runtimeDiff() ignores comment lines (the trailer's domain count changes with a map-only change)", () => {
  const config = (n: number) =>
    `global\n    maxconn 10\n\nbackend be_pool\n    balance roundrobin\n    server a 10.0.0.1:80\n# haconfd: ${n} domains\n`;
  assert.deepEqual(runtimeDiff(config(1), config(2)), { path: "reload", reason: "server lines reordered" });
  const more = config(2).replace(
    "    server a 10.0.0.1:80\n",
    "    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n",
  );
  const verdict = runtimeDiff(config(1), more);
  assert.equal(verdict.path, "runtime");
});
