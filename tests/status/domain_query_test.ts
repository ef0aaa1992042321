import assert from "node:assert/strict";
import type { Domain } from "../../lib/model/model.ts";
import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import {
  DEFAULT_LIMIT,
  MAX_LIMIT,
  pageLink,
  pageOfDomains,
  parseDomainQuery,
} from "../../lib/status/domain_query.ts";

function domain(namespace: string, name: string): Domain {
  return {
    ips: ["10.0.0.1"],
    proto: "http",
    port: 8080,
    id: `${name}_id`,
    namespace,
    name,
    ports: { http: 8080 },
    notReadyIps: [],
    servers: [{ ip: "10.0.0.1", port: 8080, name: "pod", ready: true }],
    listenPort: null,
    host: name,
    settings: DEFAULT_SETTINGS,
  };
}

const DOMAINS: Record<string, Domain> = {
  "a.example.test": domain("shop", "web"),
  "B.Example.Test": domain("shop", "api"),
  "c.other.test": domain("blog", "web"),
  "d.other.test": domain("blog", "admin"),
  "e.other.test": domain("mail", "smtp"),
};

Deno.test("parseDomainQuery() applies the defaults and coerces numbers", () => {
  const cases: [Record<string, string | undefined>, { q: string; offset: number; limit: number }][] = [
    [{}, { q: "", offset: 0, limit: DEFAULT_LIMIT }],
    [{ q: undefined, offset: undefined, limit: undefined }, { q: "", offset: 0, limit: DEFAULT_LIMIT }],
    [{ q: "  web  ", offset: "20", limit: "5" }, { q: "web", offset: 20, limit: 5 }],
    [{ limit: String(MAX_LIMIT) }, { q: "", offset: 0, limit: MAX_LIMIT }],
    [{ limit: "1", offset: "0" }, { q: "", offset: 0, limit: 1 }],
  ];
  for (const [params, expected] of cases) {
    assert.deepEqual(parseDomainQuery(params), expected, JSON.stringify(params));
  }
});

Deno.test("parseDomainQuery() throws a RangeError naming the bad parameter", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ offset: "x" }, /offset is not a number/],
    [{ offset: "1.5" }, /offset is not a whole number/],
    [{ offset: "-1" }, /offset is negative/],
    [{ limit: "abc" }, /limit is not a number/],
    [{ limit: "2.5" }, /limit is not a whole number/],
    [{ limit: "0" }, /limit is below 1/],
    [{ limit: String(MAX_LIMIT + 1) }, /limit is above 1000/],
    [{ q: "x".repeat(254) }, /q is longer than 253 characters/],
  ];
  for (const [params, message] of cases) {
    assert.throws(
      () => parseDomainQuery(params),
      (error: unknown) =>
        error instanceof RangeError && /^Invalid query: /.test(error.message) &&
        message.test(error.message),
      JSON.stringify(params),
    );
  }
});

Deno.test("pageOfDomains() searches names in any case and namespace/name, counting all and the matches", () => {
  const cases: [string, string[]][] = [
    ["", ["a.example.test", "B.Example.Test", "c.other.test", "d.other.test", "e.other.test"]],
    ["EXAMPLE", ["a.example.test", "B.Example.Test"]],
    ["b.example", ["B.Example.Test"]],
    ["blog/", ["c.other.test", "d.other.test"]],
    ["shop/api", ["B.Example.Test"]],
    ["/web", ["a.example.test", "c.other.test"]],
    ["nothing", []],
  ];
  for (const [q, names] of cases) {
    const page = pageOfDomains(DOMAINS, { q, offset: 0, limit: DEFAULT_LIMIT });
    assert.deepEqual(page.entries.map(([name]) => name), names, q);
    assert.equal(page.total, 5, q);
    assert.equal(page.matched, names.length, q);
    assert.equal(page.entries[0]?.[1], names[0] === undefined ? undefined : DOMAINS[names[0]], q);
  }
});

Deno.test("pageOfDomains() returns the matches from offset, at most limit, still counting every match", () => {
  const cases: [{ q: string; offset: number; limit: number }, string[]][] = [
    [{ q: "", offset: 0, limit: 2 }, ["a.example.test", "B.Example.Test"]],
    [{ q: "", offset: 2, limit: 2 }, ["c.other.test", "d.other.test"]],
    [{ q: "", offset: 4, limit: 2 }, ["e.other.test"]],
    [{ q: "", offset: 5, limit: 2 }, []],
    [{ q: "", offset: 99, limit: 2 }, []],
    [{ q: "other", offset: 1, limit: 1 }, ["d.other.test"]],
  ];
  for (const [query, names] of cases) {
    const page = pageOfDomains(DOMAINS, query);
    assert.deepEqual(page.entries.map(([name]) => name), names, JSON.stringify(query));
    assert.equal(page.matched, query.q === "" ? 5 : 3, JSON.stringify(query));
    assert.equal(page.query, query);
  }
  assert.deepEqual(pageOfDomains({}, { q: "", offset: 0, limit: 1 }), {
    query: { q: "", offset: 0, limit: 1 },
    total: 0,
    matched: 0,
    entries: [],
  });
});

Deno.test("pageLink() keeps only what differs from the defaults", () => {
  const cases: [{ q: string; offset: number; limit: number }, number, string][] = [
    [{ q: "", offset: 0, limit: DEFAULT_LIMIT }, 0, "?"],
    [{ q: "", offset: 0, limit: DEFAULT_LIMIT }, 100, "?offset=100"],
    [{ q: "web", offset: 100, limit: DEFAULT_LIMIT }, 0, "?q=web"],
    [{ q: "web", offset: 0, limit: 10 }, 20, "?q=web&offset=20&limit=10"],
    [{ q: "a b&c=d", offset: 0, limit: DEFAULT_LIMIT }, 0, "?q=a+b%26c%3Dd"],
    [{ q: "", offset: 0, limit: 5 }, -5, "?limit=5"],
  ];
  for (const [query, offset, link] of cases) assert.equal(pageLink(query, offset), link);
});
