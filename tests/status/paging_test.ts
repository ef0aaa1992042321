import assert from "node:assert/strict";
import { createMetrics } from "../../lib/status/metrics.ts";
import type { Domain } from "../../lib/model/model.ts";
import type { DaemonState } from "../../lib/record/state.ts";
import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import { createStatusApp } from "../../lib/status/app.ts";
import { initialStatus } from "../../lib/source/source.ts";

function domain(i: number): Domain {
  return {
    ips: [`10.0.${i >> 8}.${i & 255}`],
    proto: "http",
    port: 8080,
    id: `d${i}_example_test_00000000`,
    namespace: i % 2 === 0 ? "even" : "odd",
    name: `svc-${i}`,
    ports: { http: 8080 },
    notReadyIps: [],
    servers: [{ ip: `10.0.${i >> 8}.${i & 255}`, port: 8080, name: `pod-${i}`, ready: true }],
    listenPort: null,
    host: `d${i}.example.test`,
    settings: DEFAULT_SETTINGS,
  };
}

function state(count: number): DaemonState {
  const names = Array.from({ length: count }, (_, i) => `d${String(i).padStart(4, "0")}.example.test`);
  return {
    version: "0.1.0",
    startedAt: 0,
    heartbeatAt: 0,
    source: { ...initialStatus("kube", "https://k", "endpoints"), synced: true, objects: count },
    config: { path: "/etc/haproxy/haproxy.cfg", installedHash: null, renderedHash: null },
    ready: { ok: true, reason: "ready" },
    domains: Object.fromEntries(names.map((name, i) => [name, domain(i)])),
    skipped: Array.from({ length: 300 }, (_, i) => ({ object: `x/bad-${i}`, reason: "no" })),
    applies: [],
    lastCheck: null,
    lastReload: null,
    lastSuccessAt: null,
    reloadMode: "none",
  };
}

const app = createStatusApp(() => state(250), { metrics: createMetrics(), now: () => 0, node: "n" });

async function json(path: string): Promise<Record<string, unknown> & { domains: Record<string, unknown> }> {
  const res = await app.request(path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return await res.json();
}

Deno.test("createStatusApp() /status lists one page of domains with the counts of all, and links the next", async () => {
  const body = await json("/status");
  assert.equal(Object.keys(body.domains).length, 100);
  assert.equal(Object.keys(body.domains)[0], "d0000.example.test");
  assert.deepEqual(body.domainsPage, {
    q: "",
    offset: 0,
    limit: 100,
    matched: 250,
    next: "/status?offset=100",
    detail: "/status/domains/:name",
  });
  assert.equal((body.counts as { domains: number }).domains, 250);
  assert.equal((body.skipped as unknown[]).length, 100);
  const last = await json("/status?offset=200");
  assert.deepEqual(Object.keys(last.domains).slice(-1), ["d0249.example.test"]);
  assert.equal((last.domainsPage as { next: unknown }).next, null);
});

Deno.test("createStatusApp() /status searches domain names and objects, any case", async () => {
  const byName = await json("/status?q=D001&limit=5");
  assert.deepEqual(Object.keys(byName.domains), [
    "d0010.example.test",
    "d0011.example.test",
    "d0012.example.test",
    "d0013.example.test",
    "d0014.example.test",
  ]);
  assert.equal((byName.domainsPage as { matched: number }).matched, 10);
  assert.equal((byName.domainsPage as { next: string }).next, "/status?q=D001&offset=5&limit=5");
  const byObject = await json("/status?q=odd/svc-24&limit=1000");
  assert.deepEqual(Object.keys(byObject.domains), [
    "d0241.example.test",
    "d0243.example.test",
    "d0245.example.test",
    "d0247.example.test",
    "d0249.example.test",
  ]);
});

Deno.test("createStatusApp() /status refuses a bad page query naming the parameter", async () => {
  for (
    const [query, pattern] of [["offset=-1", /offset is negative/], ["limit=5000", /limit is above 1000/], [
      "limit=x",
      /limit is not a number/,
    ]] as const
  ) {
    const res = await app.request(`/status?${query}`);
    assert.equal(res.status, 400, query);
    assert.match(await res.text(), pattern);
  }
});

Deno.test("createStatusApp() /status/domains/:name shows one domain in full, 404 for an unknown one", async () => {
  const detail = await json("/status/domains/d0007.example.test");
  assert.equal(detail.domain, "d0007.example.test");
  assert.equal(detail.name, "svc-7");
  assert.deepEqual(detail.ips, ["10.0.0.7"]);
  assert.equal(detail.haproxy, null);
  const missing = await app.request("/status/domains/nope.example.test");
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /no domain "nope\.example\.test" in the last model/);
  assert.equal((await app.request("/status/domains/constructor")).status, 404);
});

Deno.test("createStatusApp() page lists one page of domains with search and paging, and a domain's detail", async () => {
  const page = await (await app.request("/")).text();
  assert.equal(page.match(/<span class="domain">/g)?.length, 100);
  assert.match(page, /showing 1–100 of 250/);
  assert.match(page, /<a href="\?offset=100">next<\/a>/);
  assert.match(page, /first 200 shown/);
  const search = await (await app.request("/?q=d024")).text();
  assert.equal(search.match(/<span class="domain">/g)?.length, 10);
  assert.match(search, /value="d024"/);
  const detail = await (await app.request("/?domain=d0007.example.test")).text();
  assert.equal(detail.match(/<span class="domain">/g)?.length, 1);
  assert.match(detail, /d7_example_test_00000000/);
  assert.match(
    await (await app.request("/?domain=nope")).text(),
    /No domain "nope" in the last model/,
  );
});
