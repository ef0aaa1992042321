import assert from "node:assert/strict";
import { DEFAULT_SETTINGS, DEFAULT_STICKY_COOKIE, parseSettings } from "../../lib/model/settings.ts";
import { buildModel } from "../../lib/model/model.ts";
import { endpointSet } from "../support/fixtures.ts";

/** Every invalid form of every annotation: [proto, annotation (without prefix), value, reason pattern]. */
const INVALID: [string, string, string, RegExp][] = [
  ["http", "balance", "static-rr", /"static-rr" is not one of roundrobin/],
  ["http", "balance", "hdr(a b)", /is not one of/],
  ["http", "balance", "roundrobin\n    timeout server 1", /is not one of/],
  ["redis", "balance", "uri", /reads the HTTP request and needs proto http \(this service is redis\)/],
  ["https", "balance", "hdr(X-User)", /needs proto http/],
  ["http", "timeout-connect", "5", /not a duration/],
  ["http", "timeout-server", "0ms", /not in 1ms\.\.24h/],
  ["http", "timeout-server", "25h", /not in 1ms\.\.24h/],
  ["http", "timeout-tunnel", "1 h", /not a duration/],
  ["http", "timeout-tunnel", "1.5s", /not a duration/],
  ["http", "timeout-client", "30s", /TCP services only.*not proto http/],
  ["https", "timeout-client", "30s", /TCP services only.*not proto https/],
  ["redis", "timeout-client", "-1s", /not a duration/],
  ["http", "maxconn", "0", /not in 1\.\.1000000/],
  ["http", "maxconn", "1000001", /not in 1\.\.1000000/],
  ["http", "maxconn", "ten", /not a number/],
  ["http", "check", "HTTP", /not tcp, http or none/],
  ["http", "check-path", "healthz", /not an absolute path/],
  ["http", "check-path", "/health z", /not an absolute path/],
  ["http", "check-path", '/"x', /not an absolute path/],
  ["https", "check-path", "/healthz", /needs a plain-HTTP service/],
  ["http", "check-status", "2xx", /not a status/],
  ["http", "check-status", "399-200", /ends before it starts/],
  ["http", "check-status", "600", /not a status/],
  ["http", "check-interval", "50ms", /not in 100ms\.\.1h/],
  ["http", "check-interval", "2h", /not in 100ms\.\.1h/],
  ["http", "send-proxy", "v3", /not v1 or v2/],
  ["http", "send-proxy", "true", /not v1 or v2/],
  ["http", "allow", "", /"" is not an IPv4 or IPv6 CIDR/],
  ["http", "allow", "10.0.0.0/33", /"10\.0\.0\.0\/33" is not an IPv4 or IPv6 CIDR/],
  ["http", "allow", "10.0.0.0/8,evil.example", /"evil\.example" is not/],
  ["http", "allow", "10.0.0.0/8 }", /is not an IPv4 or IPv6 CIDR/],
  ["http", "allow", Array(65).fill("10.0.0.1").join(","), /more than 64 entries/],
  ["http", "sticky", "false", /remove the annotation/],
  ["http", "sticky", "a;b", /not true or a cookie name/],
  ["redis", "sticky", "true", /needs proto http \(this service is redis\)/],
  ["https", "sticky", "true", /needs proto http/],
  ["http", "path", "api", /not a path prefix/],
  ["http", "path", "/api/", /not a path prefix/],
  ["http", "path", "/a//b", /not a path prefix/],
  ["http", "path", "/a b", /not a path prefix/],
  ["http", "path", "/a/../b", /\. or \.\. segment/],
  ["redis", "path", "/api", /needs proto http \(this service is redis\)/],
];

Deno.test("parseSettings() refuses every invalid form of every annotation, naming it and the problem", () => {
  for (const [proto, key, value, reason] of INVALID) {
    const result = parseSettings({ [`haconfd.io/${key}`]: value }, proto);
    assert.ok(Array.isArray(result), `${key}=${JSON.stringify(value)} on ${proto} was accepted`);
    assert.equal(result.length, 1, JSON.stringify(result));
    assert.ok(result[0]!.startsWith(`annotation "haconfd.io/${key}": `), result[0]);
    assert.match(result[0]!, reason, `${key}=${JSON.stringify(value)}`);
  }
});

Deno.test("parseSettings() refuses contradicting annotations and lists every refusal", () => {
  assert.deepEqual(parseSettings({ "haconfd.io/check": "tcp", "haconfd.io/check-path": "/h" }, "http"), [
    'annotation "haconfd.io/check": "tcp" contradicts "haconfd.io/check-path" (an HTTP check)',
  ]);
  assert.deepEqual(parseSettings({ "haconfd.io/check": "none", "haconfd.io/check-interval": "1s" }, "http"), [
    'annotation "haconfd.io/check-interval": there is no check to time (check is "none")',
  ]);
  const many = parseSettings({ "haconfd.io/maxconn": "0", "haconfd.io/path": "x" }, "http");
  assert.ok(Array.isArray(many) && many.length === 2);
});

Deno.test("parseSettings() types every valid annotation", () => {
  assert.equal(parseSettings({ domain: "a.test" }, "http"), DEFAULT_SETTINGS);
  assert.deepEqual(
    parseSettings({
      "haconfd.io/balance": "hdr(X-User)",
      "haconfd.io/timeout-connect": "250ms",
      "haconfd.io/timeout-server": "24h",
      "haconfd.io/timeout-tunnel": "5m",
      "haconfd.io/maxconn": "1000000",
      "haconfd.io/check-path": "/healthz?full=1",
      "haconfd.io/check-status": "200-399",
      "haconfd.io/check-interval": "100ms",
      "haconfd.io/send-proxy": "v2",
      "haconfd.io/allow": "10.0.0.0/8, 192.168.1.7,2001:db8::/32",
      "haconfd.io/sticky": "true",
      "haconfd.io/path": "/api/v1",
    }, "http"),
    {
      balance: "hdr(X-User)",
      hashed: true,
      timeouts: { connect: "250ms", server: "24h", tunnel: "5m", client: null },
      maxconn: 1_000_000,
      check: "http",
      checkPath: "/healthz?full=1",
      checkStatus: "200-399",
      checkInterval: "100ms",
      sendProxy: "v2",
      allow: ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"],
      sticky: DEFAULT_STICKY_COOKIE,
      path: "/api/v1",
    },
  );
  const tcp = parseSettings({ "haconfd.io/timeout-client": "1h", "haconfd.io/balance": "source" }, "redis");
  assert.ok(!Array.isArray(tcp));
  assert.equal(tcp.timeouts.client, "1h");
  assert.equal(tcp.hashed, true);
});

Deno.test("buildModel() skips an object with a bad setting (naming it) and keeps the others", () => {
  const good = endpointSet("good", { domain: "good.test", proto: "http" }, ["10.0.0.1"]);
  const bad = endpointSet(
    "bad",
    { domain: "bad.test", proto: "http", "haconfd.io/allow": "10.0.0.0/8,any" },
    ["10.0.0.2"],
  );
  const model = buildModel([good, bad]);
  assert.deepEqual(Object.keys(model.domains), ["good.test"]);
  assert.equal(model.skipped.length, 1);
  assert.match(model.skipped[0]!.object, /\/bad$/);
  assert.match(
    model.skipped[0]!.reason,
    /annotation "haconfd\.io\/allow": "any" is not an IPv4 or IPv6 CIDR/,
  );
});

Deno.test("buildModel() gives each path prefix of a host its own route; the same host and path keep the older claim", () => {
  const api = endpointSet("api", { domain: "shop.test", proto: "http", "haconfd.io/path": "/api" }, [
    "10.0.0.1",
  ]);
  const web = endpointSet("web", { domain: "shop.test", proto: "http" }, ["10.0.0.2"]);
  const late = endpointSet("late", { domain: "shop.test", proto: "http", "haconfd.io/path": "/api" }, [], {
    created: "2030-01-01T00:00:00Z",
  });
  const model = buildModel([web, api, late]);
  assert.deepEqual(Object.keys(model.domains), ["shop.test", "shop.test/api"]);
  assert.equal(model.domains["shop.test/api"]?.host, "shop.test");
  assert.equal(model.domains["shop.test/api"]?.settings.path, "/api");
  assert.match(model.skipped[0]?.reason ?? "", /already claimed by .*\/api/);
});

Deno.test("buildModel() makes the routes of one host agree on TLS termination (older claim wins) and marks the host's lead", () => {
  const tls = { domain: "shop.test", proto: "http", "haconfd.io/tls-secret": "shop-tls" };
  const web = endpointSet("web", tls, ["10.0.0.2"], { created: "2020-01-01T00:00:00Z" });
  const api = endpointSet("api", { ...tls, "haconfd.io/path": "/api" }, ["10.0.0.1"]);
  const plain = endpointSet("plain", { domain: "shop.test", proto: "http", "haconfd.io/path": "/x" }, [], {
    created: "2030-01-01T00:00:00Z",
  });
  const other = endpointSet(
    "other",
    { ...tls, "haconfd.io/path": "/y", "haconfd.io/redirect-https": "true" },
    [],
    {
      created: "2030-01-01T00:00:00Z",
    },
  );
  const model = buildModel([web, api, plain, other]);
  assert.deepEqual(Object.keys(model.domains), ["shop.test", "shop.test/api"]);
  assert.equal(model.domains["shop.test"]?.hostLead, undefined, "the / route leads its host");
  assert.equal(model.domains["shop.test/api"]?.hostLead, false);
  assert.deepEqual(
    model.skipped.map((s) => s.object),
    ["e2e/other", "e2e/plain"].map((o) => o.replace("e2e", web.namespace)),
  );
  assert.match(
    model.skipped[1]?.reason ?? "",
    /host "shop\.test" is served by .*\/web with Secret ".*\/shop-tls" \(older claim wins.*this object has no haconfd\.io\/tls-secret/,
  );
  assert.match(model.skipped[0]?.reason ?? "", /this object has Secret ".*\/shop-tls" with redirect-https/);
  // Without its / route, the host's shortest path leads.
  const alone = buildModel([api, endpointSet("v2", { ...tls, "haconfd.io/path": "/api/v2" }, [])]);
  assert.equal(alone.domains["shop.test/api"]?.hostLead, undefined);
  assert.equal(alone.domains["shop.test/api/v2"]?.hostLead, false);
});
