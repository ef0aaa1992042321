import assert from "node:assert/strict";
import type { Generated } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { memoryLogger } from "../../lib/log.ts";
import { Quarantine } from "../../lib/daemon/quarantine.ts";
import { endpointSet } from "../support/fixtures.ts";

/** A generator that records the objects it was given and renders their names. */
function namesGenerator() {
  const calls: string[][] = [];
  const generate = (sets: EndpointSet[]): Generated => {
    const names = sets.map((s) => `${s.namespace}/${s.name}`);
    calls.push(names);
    return {
      text: names.join("\n"),
      model: { domains: {}, skipped: [{ object: "default/zz", reason: "the model's own" }] },
    };
  };
  return { calls, generate };
}

const culprit = (object: string) => ({ object, domain: "d.example.test", reason: "port 6379 is held" });

Deno.test("Quarantine.generateWithout() leaves held objects out and lists them as skipped, sorted", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  const sets = [endpointSet("a", { x: "1" }), endpointSet("b", { x: "1" })];
  assert.equal(quarantine.add([culprit("default/b")], sets), true);
  assert.equal(quarantine.add([culprit("default/b")], sets), false, "an object already held is not new");
  const generated = quarantine.generateWithout(sets, generate);
  assert.deepEqual(calls, [["default/a"]]);
  assert.deepEqual(generated.model.skipped, [
    { object: "default/b", reason: "port 6379 is held" },
    { object: "default/zz", reason: "the model's own" },
  ]);
});

Deno.test("Quarantine.generateWithout() tries a changed object again and forgets a removed one", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  quarantine.add([culprit("default/b"), culprit("default/c")], [
    endpointSet("b", { x: "1" }),
    endpointSet("c", { x: "1" }),
  ]);
  quarantine.generateWithout([endpointSet("b", { x: "2" }), endpointSet("c", { x: "1" })], generate);
  assert.deepEqual(calls.at(-1), ["default/b"], "b changed: tried again; c unchanged: still held");
  quarantine.generateWithout([endpointSet("b", { x: "1" })], generate);
  quarantine.generateWithout([endpointSet("b", { x: "1" }), endpointSet("c", { x: "1" })], generate);
  assert.deepEqual(calls.at(-1), ["default/b", "default/c"], "c left the source: forgotten, so back in");
});

Deno.test("Quarantine.clear() releases every object", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  const sets = [endpointSet("a", {})];
  quarantine.add([culprit("default/a")], sets);
  quarantine.clear();
  quarantine.generateWithout(sets, generate);
  assert.deepEqual(calls, [["default/a"]]);
});
