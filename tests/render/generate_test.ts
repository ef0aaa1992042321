import assert from "node:assert/strict";
import {
  bindPort,
  createGenerator,
  domainsTrailer,
  generate,
  templateData,
  trailerDomains,
} from "../../lib/render/generate.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import { RESERVED_HOLDER } from "../../lib/model/model.ts";
import { VERSION } from "../../lib/version.ts";
import { endpointSet } from "../support/fixtures.ts";

const renderer = compileTemplates(defaultTemplates());
const listen = { http: "*:80", https: "*:443", tcp: "*" };
/** An HTTP service. */
function web(name: string) {
  return endpointSet(name, { domain: `${name}.example.test`, proto: "http" });
}
const STATUS = { port: 9180, by: "the status endpoint (--status-listen)" };

/** A TCP service (proto redis) asking for one listen port. */
function tcpService(name: string, port: number) {
  return endpointSet(name, {
    domain: `${name}.example.test`,
    proto: "redis",
    "haconfd.io/listen-port": String(port),
  });
}

Deno.test("bindPort() reads the port of a host:port bind only", () => {
  const cases: [string, number | undefined][] = [
    ["*:80", 80],
    ["127.0.0.1:8080", 8080],
    ["[::]:443", 443],
    [":1", 1],
    ["0.0.0.0:65535", 65535],
    ["*", undefined],
    ["127.0.0.1", undefined],
    ["*:", undefined],
    ["*:123456", undefined],
    ["*:80x", undefined],
    ["", undefined],
  ];
  for (const [bind, port] of cases) assert.equal(bindPort(bind), port, bind);
});

Deno.test("trailerDomains() reads back what domainsTrailer() writes, anywhere in the text", () => {
  for (const count of [0, 1, 16_700]) {
    assert.equal(trailerDomains(domainsTrailer(count)), count);
    assert.equal(trailerDomains(`global\n  daemon\n${domainsTrailer(count)}`), count);
  }
  assert.equal(domainsTrailer(3), "# haconfd: 3 domains\n");
  const cases: [string, number | undefined][] = [
    ["", undefined],
    ["global\n", undefined],
    ["# haconfd: many domains\n", undefined],
    ["# haconfd: -1 domains\n", undefined],
    ["  # haconfd: 5 domains\n", undefined],
    ["# haconfd: 5 domains trailing\n", undefined],
    ["frontend f # haconfd: 5 domains\n", undefined],
  ];
  for (const [text, count] of cases) assert.equal(trailerDomains(text), count, JSON.stringify(text));
});

Deno.test("templateData() hands the model's domains, the binds and a timestamp-free meta to the templates", () => {
  const model = { domains: {}, skipped: [] };
  const data = templateData(model, listen);
  assert.equal(data.domains, model.domains);
  assert.equal(data.listen, listen);
  assert.deepEqual(data.haproxy, { user: null, group: null });
  assert.deepEqual(data.meta, { generatedBy: "haconfd", version: VERSION });
  const user = { user: "haproxy", group: "haproxy" };
  assert.equal(templateData(model, listen, user).haproxy, user);
});

Deno.test("generate() ends the text with the domain count and gives the count beside the model", () => {
  const sets = [
    web("web"),
    web("api"),
    endpointSet("bad", { domain: "not a domain", proto: "http" }),
  ];
  const out = generate(sets, renderer, listen);
  assert.equal(out.domainCount, 2);
  assert.deepEqual(Object.keys(out.model.domains), ["api.example.test", "web.example.test"]);
  assert.equal(out.model.skipped.length, 1);
  assert.equal(out.model.skipped[0]?.object, "default/bad");
  assert.ok(out.text.endsWith("\n# haconfd: 2 domains\n"), out.text.slice(-80));
  assert.equal(trailerDomains(out.text), 2);
  assert.equal(generate([], renderer, listen).domainCount, 0);
});

Deno.test("generate() refuses TCP services on the frontends' ports and on reserved ports, naming the holder", () => {
  const cases: [
    { http: string; https: string; tcp: string },
    number,
    string | null,
  ][] = [
    [listen, 80, `listen port 80 is already used by ${RESERVED_HOLDER}`],
    [listen, 443, `listen port 443 is already used by ${RESERVED_HOLDER}`],
    [listen, STATUS.port, `listen port 9180 is already used by ${STATUS.by}`],
    [listen, 6380, null],
    // A frontend bound elsewhere frees its usual port; a bind without a port reserves nothing.
    [{ http: "127.0.0.1:8080", https: "*", tcp: "*" }, 80, null],
    [{ http: "127.0.0.1:8080", https: "*", tcp: "*" }, 443, null],
    [
      { http: "127.0.0.1:8080", https: "*", tcp: "*" },
      8080,
      `listen port 8080 is already used by ${RESERVED_HOLDER}`,
    ],
  ];
  for (const [binds, port, reason] of cases) {
    const { model } = generate([tcpService("cache", port)], renderer, binds, undefined, [STATUS]);
    const label = `${binds.http} ${binds.https} → ${port}`;
    if (reason === null) {
      assert.equal(model.domains["cache.example.test"]?.listenPort, port, label);
      assert.deepEqual(model.skipped, [], label);
    } else {
      assert.deepEqual(model.domains, {}, label);
      assert.deepEqual(model.skipped, [{ object: "default/cache", reason }], label);
    }
  }
});

Deno.test("createGenerator() reserves the same ports as generate() and gives the same text", () => {
  const sets = [tcpService("cache", 443), tcpService("queue", STATUS.port), tcpService("db", 6390)];
  const full = generate(sets, renderer, listen, undefined, [STATUS]);
  const next = createGenerator(renderer, listen, undefined, [STATUS]);
  const out = next({ snapshot: () => sets });
  assert.equal(out.text, full.text);
  assert.deepEqual(out.model, full.model);
  assert.equal(out.domainCount, 1);
  assert.deepEqual(out.model.skipped.map((s) => s.object), ["default/cache", "default/queue"]);
});

Deno.test("createGenerator() keeps its bytes equal to the text and re-renders when a set changes", () => {
  let sets = [web("web")];
  const next = createGenerator(renderer, listen);
  const first = next({ snapshot: () => sets });
  assert.equal(first.incremental, true);
  assert.ok(first.parts !== undefined && first.bytes !== undefined);
  assert.equal(new TextDecoder().decode(first.bytes), first.text);
  sets = [...sets, web("api")];
  const second = next({ snapshot: () => sets });
  assert.equal(second.unchanged, false);
  assert.equal(second.domainCount, 2);
  assert.equal(second.text, generate(sets, renderer, listen).text);
  assert.equal(new TextDecoder().decode(second.bytes), second.text);
});

Deno.test("createGenerator() primed with list pages gives generate()'s text for the snapshot, rendering only what changed since", () => {
  const rendered: string[] = [];
  const counting = Object.create(renderer) as typeof renderer;
  counting.partial = (name, data) => {
    rendered.push((data as { domain: string }).domain);
    return renderer.partial(name, data);
  };
  const [a, b, c, d, e] = [web("a"), web("b"), tcpService("c", 6390), web("d"), tcpService("e", 6390)];
  const next = createGenerator(counting, listen, undefined, [STATUS]);
  next.prime?.([a, b, c]);
  next.prime?.([d, e]);
  assert.ok(rendered.includes("d.example.test"), "a primed page's domains are rendered as it arrives");
  rendered.length = 0;
  // Between the pages and the sync: b changed, c is gone (so e gets its port), f is new.
  const b2 = endpointSet("b", { domain: "b.example.test", proto: "http" }, ["10.0.0.2"]);
  const snapshot = [a, b2, d, e, web("f")];
  const out = next({ snapshot: () => snapshot });
  assert.equal(out.text, generate(snapshot, renderer, listen, undefined, [STATUS]).text);
  assert.deepEqual(
    [...new Set(rendered)].sort(),
    ["b.example.test", "e.example.test", "f.example.test"], // c's fragments are dropped, not rendered
  );
  // After the first call, pages are ignored: the journal or snapshot is what counts.
  next.prime?.([web("g")]);
  assert.equal(next({ snapshot: () => snapshot }).text, out.text);
});
