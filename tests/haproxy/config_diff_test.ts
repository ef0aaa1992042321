import assert from "node:assert/strict";
import { generate } from "../../lib/render/generate.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import {
  dynamicAlgorithmProblem,
  parseServerLine,
  runtimeDiff,
  skeleton,
} from "../../lib/haproxy/config_diff.ts";
import { endpointSet } from "../support/fixtures.ts";

const BASE = `global
    maxconn 100

defaults
    timeout connect 5s
    default-server inter 2s fall 3 rise 2

frontend f
    bind *:80
    default_backend be_app

backend be_app
    balance roundrobin
    default-server weight 10
    server a 10.0.0.1:80 check
    server b 10.0.0.2:80 check
`;

function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `fixture lacks ${from}`);
  return text.replace(from, to);
}

Deno.test("runtimeDiff() identical texts are unchanged", () => {
  assert.deepEqual(runtimeDiff(BASE, BASE), { path: "unchanged" });
});

Deno.test("runtimeDiff() an added server carries the effective default-server keywords before its own", () => {
  const next = edit(
    BASE,
    "    server b 10.0.0.2:80 check\n",
    "    server b 10.0.0.2:80 check\n    server c 10.0.0.3:81 check\n",
  );
  const diff = runtimeDiff(BASE, next);
  assert.equal(diff.path, "runtime");
  if (diff.path !== "runtime") return;
  assert.equal(diff.changes.length, 1);
  const [change] = diff.changes;
  assert.equal(change?.backend, "be_app");
  assert.deepEqual(change?.removes, []);
  assert.deepEqual(change?.updates, []);
  assert.deepEqual(change?.adds, [{
    name: "c",
    address: "10.0.0.3",
    port: 81,
    keywords: ["check"],
    effectiveKeywords: ["inter", "2s", "fall", "3", "rise", "2", "weight", "10", "check"],
  }]);
  assert.deepEqual(change?.expected.map((s) => s.name), ["a", "b", "c"]);
});

Deno.test("runtimeDiff() removed servers and address changes are runtime changes", () => {
  const next = edit(edit(BASE, "    server a 10.0.0.1:80 check\n", ""), "10.0.0.2:80", "10.0.0.9:8080");
  const diff = runtimeDiff(BASE, next);
  assert.equal(diff.path, "runtime");
  if (diff.path !== "runtime") return;
  assert.deepEqual(diff.changes[0]?.removes, ["a"]);
  assert.deepEqual(diff.changes[0]?.updates, [{
    name: "b",
    address: "10.0.0.9",
    port: 8080,
    keywords: ["check"],
  }]);
});

Deno.test("runtimeDiff() anything but server lines forces a reload, naming the section", () => {
  const cases: [string, string, RegExp][] = [
    ["bind *:80", "bind *:81", /frontend f changed/],
    ["timeout connect 5s", "timeout connect 6s", /defaults changed/],
    [
      "default-server weight 10",
      "default-server weight 11",
      /backend be_app changed beyond its server lines/,
    ],
    ["balance roundrobin", "balance static-rr", /backend be_app changed beyond its server lines/],
    ["    server b 10.0.0.2:80 check\n", "    server b 10.0.0.2:80 check\n\nbackend be_new\n", /sections/],
    ["10.0.0.2:80 check", "10.0.0.2:80 check weight 3", /server b changed beyond its address/],
    ["10.0.0.2:80", "b.example:80", /not an IP address/],
    ["10.0.0.2:80", "10.0.0.1:80", /^(?!)/], // same address twice is allowed (the runtime path adds nothing)
  ];
  for (const [from, to, reason] of cases.slice(0, -1)) {
    const diff = runtimeDiff(BASE, edit(BASE, from, to));
    assert.equal(diff.path, "reload", `${from} → ${to}`);
    if (diff.path === "reload") assert.match(diff.reason, reason);
  }
});

Deno.test("runtimeDiff() a backend whose algorithm does not allow dynamic servers takes the reload path", () => {
  const text = edit(BASE, "balance roundrobin", "balance static-rr");
  const diff = runtimeDiff(text, edit(text, "    server a 10.0.0.1:80 check\n", ""));
  assert.equal(diff.path, "reload");
  if (diff.path === "reload") assert.match(diff.reason, /static-rr does not allow dynamic servers/);
});

Deno.test("dynamicAlgorithmProblem() follows HAProxy 2.6: hash only with hash-type consistent", () => {
  assert.equal(dynamicAlgorithmProblem([], []), undefined); // roundrobin by default
  assert.equal(dynamicAlgorithmProblem(["balance leastconn"], []), undefined);
  assert.equal(dynamicAlgorithmProblem(["balance first"], []), undefined);
  assert.equal(dynamicAlgorithmProblem(["balance random(2)"], []), undefined);
  assert.equal(dynamicAlgorithmProblem(["balance source", "hash-type consistent"], []), undefined);
  assert.equal(dynamicAlgorithmProblem([], ["balance uri", "hash-type consistent sdbm"]), undefined);
  assert.match(dynamicAlgorithmProblem(["balance source"], []) ?? "", /map-based/);
  assert.match(dynamicAlgorithmProblem([], ["balance static-rr"]) ?? "", /static-rr/);
});

Deno.test("parseServerLine() accepts IPv4 and bracketed IPv6, refuses names and quoting", () => {
  assert.deepEqual(parseServerLine("  server a [fd00::1]:443 check"), {
    name: "a",
    address: "fd00::1",
    port: 443,
    keywords: ["check"],
  });
  assert.match(parseServerLine("server a db:5432") as string, /not an IP address/);
  assert.match(parseServerLine("server a 10.0.0.1") as string, /not IP:port/);
  assert.match(parseServerLine('server a 10.0.0.1:80 check-sni "x y"') as string, /quoting/);
});

Deno.test("skeleton() drops exactly the server lines of backend and listen sections", () => {
  const text = "listen l\n    bind :1\n    server x 1.1.1.1:1\nfrontend f\n    # server y\n";
  assert.equal(skeleton(text), "listen l\n    bind :1\nfrontend f\n    # server y\n");
});

Deno.test("runtimeDiff() default templates: scaling and readiness flips are runtime, a new domain reloads", () => {
  const renderer = compileTemplates(defaultTemplates());
  const listen = { http: "*:80", https: "*:443", tcp: "*" };
  const render = (sets: ReturnType<typeof endpointSet>[]) => generate(sets, renderer, listen).text;
  const web = (ips: string[], notReady: string[] = []) =>
    endpointSet("web", { domain: "web.test", proto: "http" }, ips, { notReady });
  const tls = endpointSet("tls", { domain: "tls.test", proto: "https" }, ["10.0.1.1"]);
  const tcp = (ips: string[]) => endpointSet("db", { domain: "db.test", proto: "redis" }, ips);
  const before = render([web(["10.0.0.1", "10.0.0.2"]), tls, tcp(["10.0.2.1"])]);

  const scaled = runtimeDiff(
    before,
    render([web(["10.0.0.1", "10.0.0.2", "10.0.0.3"]), tls, tcp(["10.0.2.1", "10.0.2.2"])]),
  );
  assert.equal(scaled.path, "runtime", JSON.stringify(scaled));
  if (scaled.path === "runtime") {
    assert.deepEqual(scaled.changes.map((c) => c.adds.map((a) => a.address)), [["10.0.0.3"], ["10.0.2.2"]]);
    // defaults' default-server reaches the dynamic server
    assert.deepEqual(scaled.changes[0]?.adds[0]?.effectiveKeywords, [
      "inter",
      "2s",
      "fall",
      "3",
      "rise",
      "2",
      "check",
    ]);
  }
  const flipped = runtimeDiff(before, render([web(["10.0.0.1"], ["10.0.0.2"]), tls, tcp(["10.0.2.1"])]));
  assert.equal(flipped.path, "runtime");
  if (flipped.path === "runtime") assert.deepEqual(flipped.changes[0]?.removes, ["10.0.0.2"]);

  const added = runtimeDiff(
    before,
    render([
      web(["10.0.0.1", "10.0.0.2"]),
      tls,
      tcp(["10.0.2.1"]),
      endpointSet("x", { domain: "x.test", proto: "http" }),
    ]),
  );
  assert.equal(added.path, "reload");
  const proto = runtimeDiff(
    before,
    render([
      web(["10.0.0.1", "10.0.0.2"]),
      endpointSet("tls", { domain: "tls.test", proto: "http" }, ["10.0.1.1"]),
      tcp(["10.0.2.1"]),
    ]),
  );
  assert.equal(proto.path, "reload");
});
