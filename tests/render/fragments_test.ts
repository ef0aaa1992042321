import assert from "node:assert/strict";
import { createFragmentRenderer, keyOrder, OrderedText } from "../../lib/render/fragments.ts";
import { createGenerator, generate, type GeneratorInput } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import type { SetChanges } from "../../lib/model/store.ts";
import {
  compileTemplates,
  defaultTemplates,
  type HaproxyProcess,
  TemplateError,
  type TemplateFile,
} from "../../lib/render/render.ts";
import { prng, randomEvent } from "../support/random_cluster.ts";
import { endpointSet } from "../support/fixtures.ts";

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

/**
 * Feeds random events to createGenerator() and checks each text and map file against generate()'s full render; returns
 * whether the generator kept the incremental parts (the bytes) after every event.
 */
function assertSameAsFull(files: TemplateFile[], seeds: number[], steps: number): boolean {
  const renderer = compileTemplates(files);
  const users: HaproxyProcess[] = [{ user: null, group: null }, { user: "haproxy", group: "haproxy" }];
  let incremental = true;
  for (const seed of seeds) {
    const random = prng(seed);
    const haproxy = users[seed % 2]!;
    const source = journalSource();
    const next = createGenerator(renderer, listen, haproxy);
    for (let step = 0; step < steps; step++) {
      const [key, set] = randomEvent(random, 14);
      source.set(key, set);
      const full = generate(source.sets.values(), renderer, listen, haproxy);
      const got = next(source.input);
      assert.equal(got.text, full.text, `seed ${seed}, step ${step}`);
      assert.deepEqual(got.maps, full.maps, `map files, seed ${seed}, step ${step}`);
      assert.equal(got.domainCount, full.domainCount);
      if (got.bytes === undefined) incremental = false;
      else {assert.deepEqual(
          got.bytes,
          new TextEncoder().encode(got.text),
          `bytes, seed ${seed}, step ${step}`,
        );}
    }
  }
  return incremental;
}

const meta = { generatedBy: "haconfd", version: "test" };
const data = {
  domains: {},
  listen,
  haproxy: { user: null, group: null },
  meta,
  maps: {
    "haconfd-hosts.map": "/etc/haproxy/haconfd-hosts.map",
    "haconfd-sni.map": "/etc/haproxy/haconfd-sni.map",
  },
};

/** The default templates with `name` replaced by (or added as) `source`. */
function withFile(name: string, source: string): TemplateFile[] {
  const files = defaultTemplates().filter((f) => f.name !== name);
  return [...files, { name, origin: `test:${name}`, source }].sort((a, b) => (a.name < b.name ? -1 : 1));
}

const LOOP = (partial: string) =>
  `<% for (const [domain, d] of Object.entries(it.domains)) { -%>\n<%~ include("${partial}", { domain, d }) -%>\n<% } -%>\n`;

Deno.test("createGenerator() with the default templates renders incrementally and gives generate()'s text after every random event", () => {
  assert.notEqual(createFragmentRenderer(compileTemplates(defaultTemplates()), data), null);
  assert.equal(assertSameAsFull(defaultTemplates(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 120), true);
});

Deno.test("createGenerator() renders edited templates that keep the partials convention incrementally, equal to generate()", () => {
  const variants: TemplateFile[][] = [
    // One line changed in a shipped partial, and in a frame.
    defaultTemplates().map((f) =>
      f.name === "_http-backend.eta"
        ? { ...f, source: f.source.replace("balance roundrobin", "balance first") }
        : f
    ),
    defaultTemplates().map((f) =>
      f.name === "10-http.eta"
        ? { ...f, source: f.source.replace("option httplog", "option httplog\n   ") }
        : f
    ),
    // A new frame and partial: text around the loop, blank lines the tidying collapses, a partial that
    // shows every domain (never empty) and one with trailing blanks.
    withFile(
      "40-extra.eta",
      `\n\n# extra\n\n\n\n${LOOP("_extra.eta")}# between   \n${LOOP("_blank.eta")}\n\n# end\n\n\n`,
    ).concat(
      {
        name: "_extra.eta",
        origin: "test:_extra.eta",
        source: "# <%= it.domain %> <%= it.d.ips.length %>  \n",
      },
      {
        name: "_blank.eta",
        origin: "test:_blank.eta",
        source: "<% if (it.d.ips.length > 1) { %>\n# two+\n<% } %>",
      },
    ),
    // A frame that is only a loop whose partial output starts with a blank line (tidy() drops it at the top).
    withFile("05-first.eta", LOOP("_tcp-listen.eta")),
    // A partial included once, outside the loops.
    withFile("40-extra.eta", `<%~ include("_head.eta", { title: "extra" }) %>${LOOP("_https-backend.eta")}`)
      .concat(
        {
          name: "_head.eta",
          origin: "test:_head.eta",
          source: "# <%= it.title %> on <%= it.listen.tcp %>\n",
        },
      ),
    // Blank lines alone between loops and at the ends.
    withFile("40-extra.eta", `\n# head\n${LOOP("_https-backend.eta")}\n${LOOP("_tcp-listen.eta")}\n\n\n`),
    withFile("40-extra.eta", `\n\n${LOOP("_https-backend.eta")}\n\n\n${LOOP("_http-backend.eta")}\n# tail\n`),
    // A partial that writes to `it`: each call sees only its own writes, as in a full render.
    withFile("40-extra.eta", LOOP("_count.eta")).concat({
      name: "_count.eta",
      origin: "test:_count.eta",
      source: "<% it.calls = (it.calls ?? 0) + 1 -%>\n# <%= it.domain %> call <%= it.calls %>\n",
    }),
  ];
  for (const [i, files] of variants.entries()) {
    assert.notEqual(createFragmentRenderer(compileTemplates(files), data), null, `variant ${i}`);
    assert.equal(assertSameAsFull(files, [21 + i, 31 + i], 80), true, `variant ${i}`);
  }
});

Deno.test("createGenerator() renders templates that read the whole model in full, equal to generate()", () => {
  const oldStyle = '<% const web = Object.entries(it.domains).filter(([, d]) => d.proto === "http") -%>\n' +
    "<% for (const [domain, d] of web) { -%>\nbackend be_<%= d.id %>\n<% } -%>\n";
  const variants: TemplateFile[][] = [
    defaultTemplates().map((f) => ({ ...f, source: f.name === "10-http.eta" ? oldStyle : f.source })),
    // The loop of the convention with more in its body; a count outside any loop.
    withFile(
      "40-extra.eta",
      `<% for (const [domain, d] of Object.entries(it.domains)) { -%>\n` +
        `<% if (domain.startsWith("a")) { %># a\n<% } %><%~ include("_servers.eta", { domain, d }) -%>\n<% } -%>\n`,
    ),
    withFile("40-extra.eta", `# <%= Object.keys(it.domains).length %> domains\n${LOOP("_servers.eta")}`),
    // The same count, in a partial included outside the loops.
    withFile("40-extra.eta", `<%~ include("_count.eta") %>${LOOP("_servers.eta")}`).concat({
      name: "_count.eta",
      origin: "test:_count.eta",
      source: "<% if (Object.keys(it.domains).length > 5) { %># many\n<% } %>",
    }),
    // Text between iterations (no -%>), and a loop with one include of two partials' worth.
    withFile(
      "40-extra.eta",
      `<% for (const [domain, d] of Object.entries(it.domains)) { -%>\n<%~ include("_servers.eta", { domain, d }) %>\n<% } -%>\n`,
    ),
  ];
  for (const [i, files] of variants.entries()) {
    assert.equal(createFragmentRenderer(compileTemplates(files), data), null, `variant ${i}`);
    assert.equal(assertSameAsFull(files, [41 + i], 60), false, `variant ${i}`);
  }
});

Deno.test("createGenerator() falls back to the full render when a partial breaks the convention at run time", () => {
  const variants: [string, string][] = [
    ["reads it.domains", "# <%= it.domain %> of <%= Object.keys(it.domains).length %>\n"],
    ["ends without a newline", "<%= it.domain %>"],
    ["starts with two blank lines", "\n\n\n# <%= it.domain %>\n"],
  ];
  for (const [what, source] of variants) {
    const files = withFile("40-extra.eta", `# extra\n${LOOP("_extra.eta")}`).concat({
      name: "_extra.eta",
      origin: "test:_extra.eta",
      source,
    });
    assert.notEqual(createFragmentRenderer(compileTemplates(files), data), null, what);
    assert.equal(assertSameAsFull(files, [51], 60), false, what);
  }
});

Deno.test("createGenerator() names the partial that fails, as the full render does", () => {
  const files = withFile(
    "_http-backend.eta",
    `<% if (it.domain.startsWith("a")) throw new Error("no a") %>\n`,
  );
  const renderer = compileTemplates(files);
  assert.notEqual(createFragmentRenderer(renderer, data), null);
  const source = journalSource();
  source.set("default/a", endpointSet("a", { domain: "a.example.test", proto: "http" }, []));
  const names = (error: unknown) =>
    error instanceof TemplateError && error.file === "test:_http-backend.eta" && /no a/.test(error.message);
  assert.throws(() => createGenerator(renderer, listen)(source.input), names);
  assert.throws(() => generate(source.sets.values(), renderer, listen), names);
});

Deno.test("createGenerator() returns the last text marked unchanged when no domain changed", () => {
  const source = journalSource();
  const next = createGenerator(compileTemplates(defaultTemplates()), listen);
  source.set("default/a", endpointSet("a", { domain: "a.example.test", proto: "http" }, []));
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
