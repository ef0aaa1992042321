import assert from "node:assert/strict";
import { keyOrder, OrderedText } from "../../lib/render/fragments.ts";
import { createGenerator, generate, type GeneratorInput } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import type { SetChanges } from "../../lib/model/store.ts";
import {
  compileTemplates,
  defaultTemplates,
  type HaproxyProcess,
  TemplateError,
} from "../../lib/render/render.ts";
import { prng, randomEvent } from "../support/random_cluster.ts";

const listen = { http: "127.0.0.1:8080", https: "127.0.0.1:8443", tcp: "127.0.0.1" };

/** A source as the generator sees it: a map of sets and a journal of the keys changed since the last take. */
function journalSource() {
  const sets = new Map<string, EndpointSet>();
  let journal = new Map<string, EndpointSet | null>();
  const input: GeneratorInput = {
    snapshot: () => [...sets.values()],
    takeChanges(): SetChanges {
      const taken = journal;
      journal = new Map();
      return taken;
    },
  };
  return {
    input,
    sets,
    set(key: string, set: EndpointSet | null) {
      set === null ? sets.delete(key) : sets.set(key, set);
      journal.set(key, set);
    },
  };
}

Deno.test("createGenerator() with the default templates gives generate()'s text after every random event", () => {
  const renderer = compileTemplates(defaultTemplates());
  assert.equal(renderer.builtin, true);
  const users: HaproxyProcess[] = [{ user: null, group: null }, { user: "haproxy", group: "haproxy" }];
  for (let seed = 1; seed <= 12; seed++) {
    const random = prng(seed);
    const haproxy = users[seed % 2]!;
    const source = journalSource();
    const next = createGenerator(renderer, listen, haproxy);
    for (let step = 0; step < 120; step++) {
      const [key, set] = randomEvent(random, 14);
      source.set(key, set);
      const full = generate(source.sets.values(), renderer, listen, haproxy);
      const got = next(source.input);
      assert.equal(got.text, full.text, `seed ${seed}, step ${step}`);
      assert.equal(got.domainCount, full.domainCount);
      assert.deepEqual(got.bytes, new TextEncoder().encode(got.text), `bytes, seed ${seed}, step ${step}`);
    }
  }
});

Deno.test("createGenerator() with user templates renders them in full, and equals generate()", () => {
  const files = defaultTemplates().map((f) => ({ ...f, source: `${f.source}# ${f.name}\n` }));
  const renderer = compileTemplates(files);
  assert.equal(renderer.builtin, false);
  const random = prng(5);
  const source = journalSource();
  const next = createGenerator(renderer, listen);
  for (let step = 0; step < 60; step++) {
    const [key, set] = randomEvent(random, 10);
    source.set(key, set);
    assert.equal(
      next(source.input).text,
      generate(source.sets.values(), renderer, listen).text,
      `step ${step}`,
    );
  }
});

Deno.test("createGenerator() returns the last text marked unchanged when no domain changed", () => {
  const source = journalSource();
  const next = createGenerator(compileTemplates(defaultTemplates()), listen);
  source.set("default/a", {
    namespace: "default",
    name: "a",
    created: "",
    annotations: { domain: "a.example.test", proto: "http" },
    groups: [],
  });
  const first = next(source.input);
  assert.equal(first.unchanged, false);
  const again = next(source.input);
  assert.equal(again.unchanged, true);
  assert.equal(again.text, first.text);
  // An object without routing annotations changes nothing either.
  source.set("default/b", { namespace: "default", name: "b", created: "", annotations: {}, groups: [] });
  assert.equal(next(source.input).unchanged, true);
});

Deno.test("createGenerator() renders again after a failed render, though no new change came", () => {
  const files = [{
    name: "10-x.eta",
    origin: "test:10-x.eta",
    source: `<% if (it.domains["boom.example.test"]) throw new Error("boom") %>` +
      `<% for (const d of Object.keys(it.domains)) { %>backend be_<%= d %>\n<% } %>`,
  }];
  const source = journalSource();
  const next = createGenerator(compileTemplates(files), listen);
  const set = (domain: string): EndpointSet => ({
    namespace: "default",
    name: domain.split(".")[0]!,
    created: "",
    annotations: { domain, proto: "http" },
    groups: [],
  });
  source.set("default/a", set("a.example.test"));
  source.set("default/boom", set("boom.example.test"));
  assert.throws(() => next(source.input), TemplateError);
  source.set("default/boom", null);
  const text = next(source.input).text;
  assert.match(text, /backend be_a\.example\.test/);
  assert.doesNotMatch(text, /boom/);
});

Deno.test("OrderedText text() joins in object-key order across chunk splits and removals", () => {
  const random = prng(9);
  const texts = new OrderedText();
  const expected = new Map<string, string>();
  for (let i = 0; i < 3000; i++) {
    const key = random() < 0.1 ? String(Math.floor(random() * 300)) : `k${Math.floor(random() * 600)}.test`;
    if (random() < 0.3) {
      texts.delete(key);
      expected.delete(key);
    } else {
      texts.set(key, `${key};`);
      expected.set(key, `${key};`);
    }
  }
  const record = Object.fromEntries([...expected.keys()].sort().map((k) => [k, expected.get(k)]));
  assert.equal(texts.text(), Object.values(record).join(""));
  assert.deepEqual([...expected.keys()].sort(keyOrder), Object.keys(record));
});
