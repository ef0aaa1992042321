/**
 * No function in lib/ or main.ts is longer than 60 lines without saying why: a comment starting
 * `// Long because:` right above it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { longFunctions, longFunctionsIn } from "../tools/long_functions.ts";

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

Deno.test("longFunctions() in lib/ and main.ts: every one over 60 lines says why", async () => {
  const unexplained = (await longFunctions())
    .filter((f) => f.reason === undefined)
    .map((f) => `${f.path}:${f.line} ${f.name} (${f.lines} lines)`);
  assert.deepEqual(
    unexplained,
    [],
    `functions over 60 lines without a "// Long because: …" comment above them:\n${unexplained.join("\n")}`,
  );
});
