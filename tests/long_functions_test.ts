/**
 * No function in lib/ or main.ts is longer than 60 lines without saying why: a comment starting
 * `// Long because:` right above it, or (while its split is under way) an entry in tools/long_functions.allow.
 *
 * @module
 */
import assert from "node:assert/strict";
import { longFunctions, longFunctionsIn, parseAllowList } from "../tools/long_functions.ts";

const ALLOW_LIST = new URL("../tools/long_functions.allow", import.meta.url);

function body(lines: number): string {
  return Array.from({ length: lines }, (_, i) => `  const v${i} = ${i};`).join("\n");
}

Deno.test("longFunctionsIn() finds functions, methods and arrow functions over the limit", () => {
  const text = [
    `export function short() {\n${body(3)}\n}`,
    `export function long() {\n${body(10)}\n}`,
    `class Box {\n  #grow(): void {\n${body(10)}\n  }\n}`,
    `const arrow = () => {\n${body(10)}\n};`,
    `register("x", () => {\n${body(10)}\n});`,
  ].join("\n");
  const found = longFunctionsIn("lib/x.ts", text, 10);
  assert.deepEqual(found.map((f) => [f.name, f.lines]), [
    ["long", 12],
    ["Box.#grow", 12],
    ["arrow", 12],
    ["<anonymous>", 12],
  ]);
  assert.equal(found[0]?.line, 6);
});

Deno.test("longFunctionsIn() reads the reason right above a function, its JSDoc or its statement", () => {
  const text = [
    `// Long because: one table, read top to bottom\n/** Docs. */\nexport function a() {\n${body(10)}\n}`,
    `function b() {\n${body(10)}\n}`,
    `// Long because: the routes in one place\nconst c = () => {\n${body(10)}\n};`,
    `function outer() {\n  return [1].map(() => {\n${body(10)}\n  });\n}`,
  ].join("\n");
  const found = longFunctionsIn("lib/x.ts", text, 10);
  assert.deepEqual(found.map((f) => [f.name, f.reason]), [
    ["a", "one table, read top to bottom"],
    ["b", undefined],
    ["c", "the routes in one place"],
    ["outer", undefined],
    ["outer.<anonymous>", undefined],
  ]);
});

Deno.test("parseAllowList() reads path:functionName lines, skipping blanks and comments", () => {
  assert.deepEqual([...parseAllowList("# why\n\nlib/a.ts:f\n  lib/b.ts:K.#m \n")], [
    "lib/a.ts:f",
    "lib/b.ts:K.#m",
  ]);
});

Deno.test("longFunctions() in lib/ and main.ts: every one over 60 lines says why or is allow-listed", async () => {
  const allowed = parseAllowList(await Deno.readTextFile(ALLOW_LIST));
  const unexplained = (await longFunctions())
    .filter((f) => f.reason === undefined && !allowed.has(`${f.path}:${f.name}`))
    .map((f) => `${f.path}:${f.line} ${f.name} (${f.lines} lines)`);
  assert.deepEqual(
    unexplained,
    [],
    `functions over 60 lines without a "// Long because: …" comment above them:\n${unexplained.join("\n")}`,
  );
});

Deno.test("longFunctions(): every entry of tools/long_functions.allow still names a long function", async () => {
  const long = new Set((await longFunctions()).map((f) => `${f.path}:${f.name}`));
  const stale = [...parseAllowList(await Deno.readTextFile(ALLOW_LIST))].filter((entry) => !long.has(entry));
  assert.deepEqual(
    stale,
    [],
    `remove from tools/long_functions.allow (no longer over 60 lines):\n${stale.join("\n")}`,
  );
});
