import assert from "node:assert/strict";
import { createGenerator, generate } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import {
  dynamicAlgorithmProblem,
  parseServerLine,
  runtimeDiff,
  skeleton,
} from "../../lib/apply/config_diff.ts";
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

Deno.test("runtimeDiff() a server going to maintenance (disabled) and back, or to another weight, is a runtime change", () => {
  const maint = edit(BASE, "10.0.0.2:80 check\n", "10.0.0.2:80 check disabled\n");
  const diff = runtimeDiff(BASE, maint);
  assert.ok(diff.path === "runtime", JSON.stringify(diff));
  assert.deepEqual([diff.changes[0]?.states, diff.changes[0]?.weights], [[{ name: "b", maint: true }], []]);
  const back = runtimeDiff(maint, BASE);
  assert.ok(back.path === "runtime");
  assert.deepEqual(back.changes[0]?.states, [{ name: "b", maint: false }]);
  const weighted = runtimeDiff(BASE, edit(BASE, "10.0.0.2:80 check\n", "10.0.0.2:80 check weight 0\n"));
  assert.ok(weighted.path === "runtime");
  assert.deepEqual([weighted.changes[0]?.states, weighted.changes[0]?.weights], [[], [{
    name: "b",
    weight: 0,
  }]]);
  const beyond = runtimeDiff(BASE, edit(BASE, "10.0.0.2:80 check\n", "10.0.0.2:80 disabled\n"));
  assert.equal(beyond.path, "reload", "maintenance plus another keyword change");
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
    ["10.0.0.2:80 check", "10.0.0.2:80 check inter 1s", /server b changed beyond its address/],
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
      "pool-purge-delay",
      "500ms",
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

/** A seeded pseudo-random source (mulberry32), so that a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The verdict without the reload reason (which names the first difference found, reading less or more). */
function essence(diff: ReturnType<typeof runtimeDiff>): unknown {
  return diff.path === "reload" ? "reload" : diff;
}

Deno.test("runtimeDiff() with the generator's parts: the same verdicts as from the whole texts", () => {
  const next = random(7);
  const generator = createGenerator(compileTemplates(defaultTemplates()), {
    http: "*:80",
    https: "*:443",
    tcp: "*",
  });
  const protos = ["http", "http", "https", "redis"];
  const sets = new Map<string, EndpointSet | null>();
  const domainSet = (i: number, version: number) => {
    const ips = Array.from(
      { length: 1 + Math.floor(next() * 4) },
      (_, n) => `10.${i}.${version % 7}.${n + 1}`,
    );
    const notReady = next() < 0.2 ? [`10.${i}.9.9`] : [];
    return endpointSet(`svc-${i}`, { domain: `svc-${i}.test`, proto: protos[i % protos.length]! }, ips, {
      notReady,
    });
  };
  let pending = new Map<string, EndpointSet | null>();
  for (let i = 0; i < 300; i++) {
    const set = domainSet(i, 0);
    sets.set(`default/svc-${i}`, set);
    pending.set(`default/svc-${i}`, set);
  }
  const input = {
    snapshot: () => [...sets.values()].filter((s): s is EndpointSet => s !== null),
    takeChanges: () => {
      const taken = pending;
      pending = new Map();
      return taken;
    },
  };
  let last = generator(input);
  const seen = { runtime: 0, reload: 0, unchanged: 0 };
  for (let round = 1; round <= 300; round++) {
    const touched = next() < 0.7 ? 1 : 1 + Math.floor(next() * 6);
    for (let t = 0; t < touched; t++) {
      const i = next() < 0.05 ? 300 + Math.floor(next() * 20) : Math.floor(next() * 300);
      const key = `default/svc-${i}`;
      const gone = next() < 0.03;
      const set = gone ? null : domainSet(i, round);
      sets.set(key, set);
      pending.set(key, set);
    }
    const now = generator(input);
    assert.ok(last.parts !== undefined && now.parts !== undefined, "the generator keeps its parts");
    const whole = runtimeDiff(last.text, now.text);
    const parts = runtimeDiff(last.text, now.text, { installed: last.parts, next: now.parts });
    assert.deepEqual(essence(parts), essence(whole), `round ${round}`);
    seen[whole.path]++;
    last = now;
  }
  assert.ok(seen.runtime > 50 && seen.reload > 10, `both paths exercised: ${JSON.stringify(seen)}`);
});

const MIXED = `# top comment
global
    maxconn 100

defaults
    timeout connect 5s
    default-server inter 2s fall 3 rise 2

defaults named
    balance source
    hash-type consistent
    default-server weight 5

frontend f
    bind *:80
    default_backend be_a

backend be_a
    balance roundrobin
    server a1 10.0.0.1:80 check
    server a2 10.0.0.2:80 check

backend be_b from named
    server b1 10.0.1.1:80
    server b2 10.0.1.2:80

listen l
    bind *:81
    server l1 10.0.2.1:81 check

backend be_c
    balance static-rr
    server c1 10.0.3.1:80

defaults
    balance leastconn

backend be_d
    server d1 10.0.4.1:80 check
    server d2 [fd00::1]:80 check
`;

const TOKENS = [
  "    server z 10.9.9.9:80 check\n",
  "backend be_new\n",
  "defaults\n",
  "    balance source\n",
  "\r",
  "x",
  "\n",
  " ",
  "9",
  "defaults named\n",
];

/** `text` cut at `cuts` random places into parts. */
function cutInto(text: string, cuts: number, next: () => number): string[] {
  const at = [...new Set(Array.from({ length: cuts }, () => Math.floor(next() * text.length)))].sort((a, b) =>
    a - b
  );
  return [0, ...at].map((from, i) => text.slice(from, at[i] ?? text.length));
}

Deno.test("runtimeDiff() with parts cut anywhere and edited anyhow: the same verdicts as from the whole texts", () => {
  const next = random(11);
  const encoder = new TextEncoder();
  const seen = { runtime: 0, reload: 0, unchanged: 0 };
  for (let round = 0; round < 3000; round++) {
    const before = cutInto(MIXED, 1 + Math.floor(next() * 12), next);
    const after = [...before];
    const edits = 1 + Math.floor(next() * 3);
    for (let e = 0; e < edits; e++) {
      const i = Math.floor(next() * after.length);
      const part = after[i]!;
      const at = Math.floor(next() * (part.length + 1));
      const kind = next();
      if (kind < 0.6) {
        // A digit changed: an address or a port moves, or a keyword's value changes.
        const digit = part.slice(at).search(/\d/);
        if (digit >= 0) {
          const d = at + digit;
          after[i] = part.slice(0, d) + String((Number(part[d]) + 1) % 10) + part.slice(d + 1);
        }
      } else if (kind < 0.7) {
        const end = part.indexOf("\n", at);
        after[i] = part.slice(0, at) + (end < 0 ? "" : part.slice(end + 1));
      } else {
        after[i] = part.slice(0, at) + TOKENS[Math.floor(next() * TOKENS.length)]! + part.slice(at);
      }
    }
    const installed = before.join("");
    const rendered = after.join("");
    const encode = (list: string[]) => list.map((p) => encoder.encode(p));
    const whole = runtimeDiff(installed, rendered);
    const parts = runtimeDiff(installed, rendered, { installed: encode(before), next: encode(after) });
    assert.deepEqual(essence(parts), essence(whole), `round ${round}: ${JSON.stringify(after)}`);
    seen[whole.path]++;
  }
  assert.ok(seen.runtime > 150 && seen.reload > 300, `both paths exercised: ${JSON.stringify(seen)}`);
});

Deno.test("runtimeDiff() with parts reads only the sections around the parts that differ", () => {
  const encoder = new TextEncoder();
  const cut = MIXED.indexOf("backend be_d");
  const head = encoder.encode(MIXED.slice(0, cut));
  const tail = MIXED.slice(cut);
  const moved = tail.replace("10.0.4.1:80", "10.0.4.7:80");
  // The head differs in the texts but not in the parts: the parts say where to look, so it is not seen.
  const installed = MIXED.replace("maxconn 100", "maxconn 200");
  const diff = runtimeDiff(installed, MIXED.slice(0, cut) + moved, {
    installed: [head, encoder.encode(tail)],
    next: [head, encoder.encode(moved)],
  });
  assert.equal(diff.path, "runtime", JSON.stringify(diff));
  if (diff.path === "runtime") {
    assert.deepEqual(diff.changes.map((c) => [c.backend, c.updates.map((u) => u.address)]), [
      ["be_d", ["10.0.4.7"]],
    ]);
    // be_d's defaults (the last one before it, outside the stretch read) give its inherited keywords.
    assert.deepEqual(diff.changes[0]?.updates[0]?.keywords, ["check"]);
  }
  assert.equal(runtimeDiff(installed, MIXED).path, "reload", "the whole texts differ in global");
});

Deno.test("runtimeDiff() with the default templates' parts finds defaults across separator parts, from the parts alone", () => {
  const generator = createGenerator(compileTemplates(defaultTemplates()), {
    http: "*:80",
    https: "*:443",
    tcp: "*",
  });
  // Enough domains that the changed backend's part lies parts away from the one holding `defaults`.
  const sets = new Map<string, EndpointSet>();
  for (let i = 0; i < 400; i++) {
    sets.set(
      `default/svc-${i}`,
      endpointSet(`svc-${i}`, { domain: `svc-${i}.test`, proto: "http" }, [`10.0.${i % 250}.1`]),
    );
  }
  let pending = new Map<string, EndpointSet | null>(sets);
  const input = {
    snapshot: () => [...sets.values()],
    takeChanges: () => {
      const taken = pending;
      pending = new Map();
      return taken;
    },
  };
  const before = generator(input);
  const moved = endpointSet("svc-350", { domain: "svc-350.test", proto: "http" }, ["10.0.100.9"]);
  sets.set("default/svc-350", moved);
  pending.set("default/svc-350", moved);
  const after = generator(input);
  assert.ok(before.parts && after.parts && before.parts.length > 3);
  // The installed text differs in global too: only the whole-text comparison would see it (and reload).
  const installed = before.text.replace("maxconn 4096", "maxconn 4097");
  assert.notEqual(installed, before.text);
  const diff = runtimeDiff(installed, after.text, { installed: before.parts, next: after.parts });
  assert.equal(diff.path, "runtime", JSON.stringify(diff));
  if (diff.path === "runtime") {
    assert.equal(diff.changes.length, 1);
    assert.deepEqual(diff.changes[0]!.expected.map((server) => server.address), ["10.0.100.9"]);
  }
});
