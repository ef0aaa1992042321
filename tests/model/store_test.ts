import assert from "node:assert/strict";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { buildModel, type Model } from "../../lib/model/model.ts";
import { createModelStore, VersionedMap } from "../../lib/model/store.ts";
import { collidingDomains, prng, randomEvent, randomSet } from "../support/random_cluster.ts";

const options = { reservedPorts: [80, 443, { port: 7001, by: "the status endpoint (--status-listen)" }] };

function json(model: Model): string {
  return JSON.stringify({ domains: model.domains, skipped: model.skipped });
}

Deno.test("createModelStore() gives buildModel()'s model after every event of random sequences", () => {
  for (let seed = 1; seed <= 25; seed++) {
    const random = prng(seed);
    const store = createModelStore(options);
    const current = new Map<string, EndpointSet>();
    for (let step = 0; step < 150; step++) {
      // Mostly lone events, sometimes a burst applied at once.
      const batch = new Map<string, EndpointSet | null>();
      const size = random() < 0.2 ? 1 + Math.floor(random() * 6) : 1;
      for (let i = 0; i < size; i++) {
        const [key, set] = randomEvent(random, 12);
        batch.set(key, set);
      }
      for (const [key, set] of batch) set === null ? current.delete(key) : current.set(key, set);
      store.apply(batch);
      const full = buildModel(current.values(), options);
      assert.equal(json(store.model()), json(full), `seed ${seed}, step ${step}`);
      assert.equal(store.domainCount(), Object.keys(full.domains).length);
    }
  }
});

Deno.test("createModelStore() listenPorts() indexes the model's TCP domains, its version moving exactly when they do", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const random = prng(seed);
    const store = createModelStore(options);
    const current = new Map<string, EndpointSet>();
    let before = { version: store.listenPorts().version, ports: "[]" };
    for (let step = 0; step < 150; step++) {
      const [key, set] = randomEvent(random, 12);
      set === null ? current.delete(key) : current.set(key, set);
      store.apply(new Map([[key, set]]));
      const expected = Object.entries(buildModel(current.values(), options).domains)
        .filter(([, d]) => d.listenPort !== null)
        .map(([name, d]) => [d.listenPort, name] as const)
        .sort(([a], [b]) => a! - b!);
      const index = store.listenPorts();
      const ports = JSON.stringify([...index.ports].sort(([a], [b]) => a - b));
      assert.equal(ports, JSON.stringify(expected), `seed ${seed}, step ${step}`);
      for (const [, name] of index.ports) assert.equal(index.domain(name), store.domain(name));
      assert.equal(
        index.version !== before.version,
        ports !== before.ports,
        `seed ${seed}, step ${step}: version`,
      );
      before = { version: index.version, ports };
    }
  }
});

Deno.test("createModelStore() reports exactly the domains whose entries changed", () => {
  const random = prng(7);
  const store = createModelStore(options);
  let before: Model = store.model();
  const current = new Map<string, EndpointSet>();
  for (let step = 0; step < 500; step++) {
    const [key, set] = randomEvent(random, 10);
    set === null ? current.delete(key) : current.set(key, set);
    const update = store.apply(new Map([[key, set]]));
    const after = store.model();
    const names = new Set([...Object.keys(before.domains), ...Object.keys(after.domains)]);
    for (const name of names) {
      const changed = JSON.stringify(before.domains[name]) !== JSON.stringify(after.domains[name]);
      if (changed) assert.ok(update.domains.has(name), `step ${step}: ${name} changed but was not reported`);
      // An unchanged entry keeps its identity: what render caches rely on.
      if (!update.domains.has(name)) {
        assert.equal(before.domains[name], after.domains[name], `step ${step}: ${name}`);
      }
    }
    before = after;
  }
});

Deno.test("createModelStore() models taken earlier keep showing their own time after later changes", () => {
  const random = prng(3);
  const store = createModelStore(options);
  const current = new Map<string, EndpointSet>();
  const kept: { model: Model; expected: string }[] = [];
  for (let step = 0; step < 200; step++) {
    const [key, set] = randomEvent(random, 10);
    set === null ? current.delete(key) : current.set(key, set);
    store.apply(new Map([[key, set]]));
    if (step % 17 === 0) {
      kept.push({ model: store.model(), expected: json(buildModel(current.values(), options)) });
    }
  }
  for (const [i, { model, expected }] of kept.entries()) assert.equal(json(model), expected, `model #${i}`);
});

Deno.test("createModelStore() gives colliding domain ids their suffixes in claim order, and moves them", () => {
  const [first, second] = collidingDomains();
  const set = (name: string, domain: string, created: string) => ({
    ...randomSet(prng(1), name),
    namespace: "default",
    created,
    annotations: { domain, proto: "http" },
  });
  const store = createModelStore(options);
  const a = set("a", first, "2026-01-02T00:00:00Z");
  const b = set("b", second, "2026-01-01T00:00:00Z");
  store.replaceAll([a, b]);
  const base = store.domain(second)!.id;
  assert.equal(store.domain(first)!.id, `${base}_2`);
  store.apply(new Map([["default/b", null]]));
  assert.equal(store.domain(first)!.id, base);
  assert.equal(json(store.model()), json(buildModel([a], options)));
});

Deno.test("createModelStore() replaceAll() costs nothing for the same objects and reports no change", () => {
  const random = prng(11);
  const sets = Array.from({ length: 30 }, (_, i) => randomSet(random, `svc-${i}`));
  const store = createModelStore(options);
  store.replaceAll(sets);
  const update = store.replaceAll([...sets].reverse());
  assert.equal(update.domains.size, 0);
  assert.equal(update.skipped, false);
  assert.equal(json(store.model()), json(buildModel(sets, options)));
});

Deno.test("VersionedMap version() reads the entries of its time after sets and deletes", () => {
  const map = new VersionedMap<string, number>();
  map.set("a", 1);
  map.set("b", 2);
  const v1 = map.version();
  map.set("a", 10);
  map.delete("b");
  map.set("c", 3);
  const v2 = map.version();
  map.set("c", 30);
  assert.deepEqual([...v1.read()].sort(), [["a", 1], ["b", 2]]);
  assert.deepEqual([...v2.read()].sort(), [["a", 10], ["c", 3]]);
  assert.deepEqual([...map.version().read()].sort(), [["a", 10], ["c", 30]]);
});
