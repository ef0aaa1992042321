import assert from "node:assert/strict";
import type { Generated, Generator } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { memoryLogger } from "../../lib/log.ts";
import { Quarantine } from "../../lib/daemon/quarantine.ts";
import { endpointSet } from "../support/fixtures.ts";

/** A generator that records the objects it was given and renders their names. */
function namesGenerator() {
  const calls: string[][] = [];
  const generate: Generator = (input): Generated => {
    const names = input.snapshot().map((s) => `${s.namespace}/${s.name}`);
    calls.push(names);
    return {
      text: names.join("\n"),
      model: { domains: {}, skipped: [{ object: "default/zz", reason: "the model's own" }] },
    };
  };
  return { calls, generate };
}

/** A source without a journal, holding `sets`. */
const of = (sets: EndpointSet[]) => ({ snapshot: () => sets });

const culprit = (object: string) => ({ object, domain: "d.example.test", reason: "port 6379 is held" });

Deno.test("Quarantine.generateWithout() leaves held objects out and lists them as skipped, sorted", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  const sets = [endpointSet("a", { x: "1" }), endpointSet("b", { x: "1" })];
  assert.equal(quarantine.add([culprit("default/b")], () => sets), true);
  assert.equal(
    quarantine.add([culprit("default/b")], () => sets),
    false,
    "an object already held is not new",
  );
  const generated = quarantine.generateWithout(of(sets), generate);
  assert.deepEqual(calls, [["default/a"]]);
  assert.deepEqual(generated.model.skipped, [
    { object: "default/b", reason: "port 6379 is held" },
    { object: "default/zz", reason: "the model's own" },
  ]);
});

Deno.test("Quarantine.generateWithout() tries a changed object again and forgets a removed one", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  quarantine.add([culprit("default/b"), culprit("default/c")], () => [
    endpointSet("b", { x: "1" }),
    endpointSet("c", { x: "1" }),
  ]);
  quarantine.generateWithout(of([endpointSet("b", { x: "2" }), endpointSet("c", { x: "1" })]), generate);
  assert.deepEqual(calls.at(-1), ["default/b"], "b changed: tried again; c unchanged: still held");
  quarantine.generateWithout(of([endpointSet("b", { x: "1" })]), generate);
  quarantine.generateWithout(of([endpointSet("b", { x: "1" }), endpointSet("c", { x: "1" })]), generate);
  assert.deepEqual(calls.at(-1), ["default/b", "default/c"], "c left the source: forgotten, so back in");
});

Deno.test("Quarantine.clear() releases every object", () => {
  const { calls, generate } = namesGenerator();
  const quarantine = new Quarantine(memoryLogger());
  const sets = [endpointSet("a", {})];
  quarantine.add([culprit("default/a")], () => sets);
  quarantine.clear();
  quarantine.generateWithout(of(sets), generate);
  assert.deepEqual(calls, [["default/a"]]);
});

Deno.test("Quarantine.generateWithout() hands on the source's journal without held objects, none after it changed", () => {
  const quarantine = new Quarantine(memoryLogger());
  const a = endpointSet("a", { x: "1" }), b = endpointSet("b", { x: "1" });
  let sets = [a, b];
  let journal = new Map<string, EndpointSet | null>();
  const source = {
    snapshot: () => sets,
    takeChanges() {
      const taken = journal;
      journal = new Map();
      return taken;
    },
  };
  // An incremental generator: the journal when there is one, else the whole snapshot.
  const seen: unknown[] = [];
  const generate: Generator = (input) => {
    const changes = input.takeChanges?.() ?? null;
    seen.push(
      changes === null
        ? input.snapshot().map((s) => s.name)
        : Object.fromEntries([...changes].map(([k, v]) => [k, v?.name ?? null])),
    );
    return { text: "", model: { domains: {}, skipped: [] } };
  };
  quarantine.add([culprit("default/b")], () => sets);
  quarantine.generateWithout(source, generate);
  assert.deepEqual(seen.at(-1), ["a"], "b was just quarantined: the generator reads the snapshot without it");

  // New addresses, same annotations: b stays held, and reaches the generator as a removal.
  const b2 = endpointSet("b", { x: "1" }, ["10.0.0.9"]), a2 = endpointSet("a", { x: "2" });
  sets = [a2, b2];
  journal = new Map([["default/a", a2], ["default/b", b2]]);
  const generated = quarantine.generateWithout(source, generate);
  assert.deepEqual(seen.at(-1), { "default/a": "a", "default/b": null });
  assert.deepEqual(generated.model.skipped.map((s) => s.object), ["default/b"]);

  // Changed annotations: released, its change handed on as it is.
  const b3 = endpointSet("b", { x: "3" });
  sets = [a2, b3];
  journal = new Map([["default/b", b3]]);
  const released = quarantine.generateWithout(source, generate);
  assert.deepEqual(seen.at(-1), { "default/b": "b" });
  assert.deepEqual(released.model.skipped, []);

  // clear() changes the quarantine: the next generation reads the whole snapshot again.
  quarantine.clear();
  quarantine.generateWithout(source, generate);
  assert.deepEqual(seen.at(-1), ["a", "b"]);
});

Deno.test("Quarantine.generateWithout() does not join the config's bytes while an object is held", () => {
  let joined = 0;
  const generate: Generator = (): Generated => {
    const out: Generated = { text: "global\n", model: { domains: {}, skipped: [] } };
    return Object.defineProperty(out, "bytes", {
      enumerable: true,
      get: () => {
        joined++;
        return new TextEncoder().encode("global\n");
      },
    });
  };
  const quarantine = new Quarantine(memoryLogger());
  const sets = [endpointSet("a", { x: "1" }), endpointSet("b", { x: "1" })];
  quarantine.add([culprit("default/b")], () => sets);
  const generated = quarantine.generateWithout(of(sets), generate);
  assert.equal(joined, 0, "the bytes are joined only by whoever reads them");
  assert.equal(new TextDecoder().decode(generated.bytes), "global\n");
  assert.equal(joined, 1);
  assert.deepEqual(generated.model.skipped.map((s) => s.object), ["default/b"]);
});
