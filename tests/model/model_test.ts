import assert from "node:assert/strict";
import {
  buildModel,
  compareIps,
  DEFAULT_LISTEN_PORTS,
  domainId,
  DomainName,
  PortNumber,
  Proto,
  skipMessage,
  skippedObjectCount,
} from "../../lib/model/model.ts";
import { fitted, isIp } from "../../lib/model/endpoints.ts";
import { endpointSet } from "../support/fixtures.ts";
import { z } from "zod";

const web = { domain: "grafana.example.test", proto: "http" };

Deno.test("buildModel() keeps pyconfd's shape: ips, proto, port per domain", () => {
  const model = buildModel([
    endpointSet("grafana", web, ["10.0.0.2", "10.0.0.1"], { ports: [{ name: "http", port: 3000 }] }),
  ]);
  const d = model.domains["grafana.example.test"];
  assert.ok(d);
  assert.deepEqual(d.ips, ["10.0.0.1", "10.0.0.2"]);
  assert.equal(d.proto, "http");
  assert.equal(d.port, 3000);
  assert.equal(d.namespace, "default");
  assert.equal(d.name, "grafana");
  assert.deepEqual(d.ports, { http: 3000 });
  assert.equal(d.listenPort, null);
  assert.deepEqual(model.skipped, []);
});

Deno.test("buildModel() ignores objects without routing annotations, silently", () => {
  const model = buildModel([endpointSet("kubernetes", {}), endpointSet("other", { app: "x" })]);
  assert.deepEqual(model.domains, {});
  assert.deepEqual(model.skipped, []);
});

Deno.test("buildModel() accepts the haconfd.io/ prefixed annotations, which win over plain ones", () => {
  const model = buildModel([
    endpointSet("a", { "haconfd.io/domain": "a.example.test", "haconfd.io/proto": "https", proto: "http" }),
  ]);
  assert.equal(model.domains["a.example.test"]?.proto, "https");
});

Deno.test("buildModel() serves ready addresses only and lists not-ready ones apart", () => {
  const model = buildModel([endpointSet("g", web, ["10.0.0.3"], { notReady: ["10.0.0.9", "10.0.0.4"] })]);
  const d = model.domains["grafana.example.test"]!;
  assert.deepEqual(d.ips, ["10.0.0.3"]);
  assert.deepEqual(d.notReadyIps, ["10.0.0.4", "10.0.0.9"]);
  assert.deepEqual(d.servers.map((s) => [s.ip, s.ready]), [["10.0.0.3", true], ["10.0.0.4", false], [
    "10.0.0.9",
    false,
  ]]);
});

Deno.test("buildModel() skips invalid annotations with a reason naming the object and annotation", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ domain: "bad domain!", proto: "http" }, /annotation "domain": "bad domain!" is not a DNS name/],
    [{ domain: "a.example.test", proto: "HTTP/2" }, /annotation "proto": "HTTP\/2" is not a proto/],
    [{ domain: "a.example.test" }, /annotation "proto" is missing/],
    [{ proto: "http" }, /annotation "domain" is missing/],
    [{ domain: "a.example.test", proto: "http", "haconfd.io/port": "99999" }, /"99999" is not in 1\.\.65535/],
    [
      { domain: "a.example.test", proto: "http", "haconfd.io/port": "no such!" },
      /is not a port name or number/,
    ],
    [{ domain: "a.example.test", proto: "tcp" }, /proto "tcp" has no default listen port/],
    [{ domain: "a.example.test", proto: "redis", "haconfd.io/listen-port": "0" }, /"0" is not in 1\.\.65535/],
    [{ domain: "a.example.test", proto: "redis", "haconfd.io/listen-port": "x" }, /"x" is not a port number/],
    [{ domain: "a.example.test\nfrontend evil", proto: "http" }, /is not a DNS name/],
    [{ domain: "a.example.test", proto: "http", "haconfd.io/port": "metrics" }, /no port named "metrics"/],
    [{ domain: "192.0.2.1", proto: "https" }, /is an IP address, but proto "https" routes by SNI/],
  ];
  for (const [annotations, reason] of cases) {
    const model = buildModel([endpointSet("obj", annotations, ["10.0.0.1"], { namespace: "ns" })]);
    assert.deepEqual(model.domains, {}, JSON.stringify(annotations));
    assert.equal(model.skipped.length, 1, JSON.stringify(annotations));
    assert.equal(model.skipped[0]?.object, "ns/obj");
    assert.match(model.skipped[0]!.reason, reason);
  }
});

Deno.test("buildModel() accepts domains that are DNS names or IP addresses, lower-cased", () => {
  for (
    const [domain, key] of [["Grafana.Example.TEST", "grafana.example.test"], ["192.0.2.7", "192.0.2.7"], [
      "2001:db8::1",
      "2001:db8::1",
    ]]
  ) {
    const model = buildModel([endpointSet("x", { domain: domain!, proto: "http" })]);
    assert.ok(model.domains[key!], domain);
  }
});

Deno.test("buildModel() picks the port by annotation name or number, else the first", () => {
  const ports = [{ name: "http", port: 3000 }, { name: "metrics", port: 9090 }];
  const byName = buildModel([
    endpointSet("x", { ...web, "haconfd.io/port": "metrics" }, ["10.0.0.1"], { ports }),
  ]);
  assert.equal(byName.domains["grafana.example.test"]?.port, 9090);
  const byNumber = buildModel([
    endpointSet("x", { ...web, "haconfd.io/port": "9090" }, ["10.0.0.1"], { ports }),
  ]);
  assert.equal(byNumber.domains["grafana.example.test"]?.port, 9090);
  const first = buildModel([endpointSet("x", web, ["10.0.0.1"], { ports })]);
  assert.equal(first.domains["grafana.example.test"]?.port, 3000);
  assert.deepEqual(first.domains["grafana.example.test"]?.ports, { http: 3000, metrics: 9090 });
});

Deno.test("buildModel() resolves two claims on one domain: the older wins, deterministically", () => {
  const older = endpointSet("old", web, ["10.0.0.1"], { namespace: "b", created: "2026-01-01T00:00:00Z" });
  const newer = endpointSet("new", web, ["10.0.0.2"], { namespace: "a", created: "2026-02-01T00:00:00Z" });
  for (const order of [[older, newer], [newer, older]]) {
    const model = buildModel(order);
    assert.equal(model.domains["grafana.example.test"]?.name, "old");
    assert.equal(model.skipped.length, 1);
    assert.match(model.skipped[0]!.reason, /already claimed by b\/old/);
  }
  const tieA = endpointSet("x", web, ["10.0.0.1"], { namespace: "a" });
  const tieB = endpointSet("x", web, ["10.0.0.2"], { namespace: "b" });
  assert.equal(buildModel([tieB, tieA]).domains["grafana.example.test"]?.namespace, "a");
});

Deno.test("buildModel() gives TCP protos a listen port and reports conflicts", () => {
  const model = buildModel([
    endpointSet("redis", { domain: "redis.example.test", proto: "redis" }, ["10.0.0.1"], {
      created: "2026-01-01T00:00:00Z",
    }),
    endpointSet("cache", { domain: "cache.example.test", proto: "redis" }, ["10.0.0.2"], {
      created: "2026-01-02T00:00:00Z",
    }),
    endpointSet("pg", { domain: "pg.example.test", proto: "postgres", "haconfd.io/listen-port": "15432" }),
    endpointSet("web", { domain: "w.example.test", proto: "tcp", "haconfd.io/listen-port": "80" }),
  ], { reservedPorts: [80, 443] });
  assert.equal(model.domains["redis.example.test"]?.listenPort, DEFAULT_LISTEN_PORTS.redis);
  assert.equal(model.domains["pg.example.test"]?.listenPort, 15432);
  assert.equal(model.domains["cache.example.test"], undefined);
  assert.deepEqual(model.skipped.map((s) => s.object), ["default/cache", "default/web"]);
  assert.match(model.skipped[0]!.reason, /listen port 6379 is already used by default\/redis/);
  assert.match(model.skipped[1]!.reason, /listen port 80 is already used by the HTTP\/HTTPS frontends/);
});

Deno.test("buildModel() is deterministic: any input order, same model", () => {
  const sets = [
    endpointSet("b", { domain: "b.example.test", proto: "http" }, ["10.0.0.10", "10.0.0.9"]),
    endpointSet("a", { domain: "a.example.test", proto: "https" }, ["10.0.1.1"]),
    endpointSet("c", { domain: "c.example.test", proto: "redis" }, ["10.0.2.1"]),
  ];
  const one = JSON.stringify(buildModel(sets));
  const two = JSON.stringify(buildModel([...sets].reverse()));
  assert.equal(one, two);
  assert.deepEqual(Object.keys(buildModel(sets).domains), [
    "a.example.test",
    "b.example.test",
    "c.example.test",
  ]);
  assert.deepEqual(buildModel(sets).domains["b.example.test"]?.ips, ["10.0.0.9", "10.0.0.10"]);
});

Deno.test("domainId() is safe for HAProxy names and tells similar domains apart", () => {
  const a = domainId("a-b.example.test"), b = domainId("a.b.example.test");
  assert.match(a, /^[a-z0-9_]+$/);
  assert.notEqual(a, b);
  assert.equal(domainId("a-b.example.test"), a);
});

Deno.test("buildModel() names servers after their pod, else their address", () => {
  const model = buildModel([{
    namespace: "n",
    name: "x",
    created: "",
    annotations: web,
    groups: [{
      ports: [{ name: "", port: 80 }],
      addresses: [{ ip: "10.0.0.1", ready: true, target: "pod-a" }, { ip: "2001:db8::1", ready: true }],
    }],
  }]);
  assert.deepEqual(model.domains["grafana.example.test"]?.servers.map((s) => s.name), [
    "pod-a",
    "2001_db8_1",
  ]);
  assert.deepEqual(model.domains["grafana.example.test"]?.ports, { "80": 80 });
});

Deno.test("compareIps() orders IPv4 numerically before IPv6", () => {
  assert.deepEqual(["10.0.0.10", "::1", "10.0.0.9", "9.0.0.1"].sort(compareIps), [
    "9.0.0.1",
    "10.0.0.9",
    "10.0.0.10",
    "::1",
  ]);
});

Deno.test("buildModel() validates the domain exactly as written: no trimming, no Unicode case folding", () => {
  const cases = [
    "x.example.test\n", // a trailing newline (a heredoc or `echo` in a script)
    " x.example.test",
    "x.example.test ",
    "x .example.test",
    "\u212Aube.example.test", // KELVIN SIGN: Unicode case folding makes it "kube.example.test"
    "x.example.test\t",
  ];
  for (const domain of cases) {
    const model = buildModel([
      endpointSet("obj", { domain, proto: "http" }, ["10.0.0.1"], { namespace: "ns" }),
    ]);
    assert.deepEqual(model.domains, {}, JSON.stringify(domain));
    assert.deepEqual(
      model.skipped.map((s) => s.object),
      ["ns/obj"],
      `${JSON.stringify(domain)} is skipped with a reason`,
    );
    assert.match(model.skipped[0]!.reason, /^annotation "domain": ".*" is not a DNS name or IP address$/s);
  }
  // ASCII upper case is still accepted (DNS is case-insensitive) and used lower-cased.
  assert.ok(
    buildModel([endpointSet("x", { domain: "KUBE.Example.test", proto: "http" })])
      .domains["kube.example.test"],
  );
});

Deno.test("buildModel() refuses unspecified, multicast, broadcast and link-local addresses as servers, saying so", () => {
  const refused: [string, RegExp][] = [
    ["0.0.0.0", /unspecified/],
    ["0.1.2.3", /unspecified/],
    ["::", /unspecified/],
    ["224.0.0.1", /multicast/],
    ["239.255.255.250", /multicast/],
    ["ff02::1", /multicast/],
    ["255.255.255.255", /broadcast/],
    ["169.254.169.254", /link-local/],
    ["fe80::1", /link-local/],
    ["::ffff:0.0.0.0", /unspecified/],
    ["::ffff:169.254.1.1", /link-local/],
  ];
  for (const [ip, what] of refused) {
    const model = buildModel([
      endpointSet("web", web, ["10.0.0.1", ip], { namespace: "shop", notReady: [ip] }),
    ]);
    const domain = model.domains["grafana.example.test"];
    assert.ok(domain, `${ip}: the object still serves from its good addresses`);
    assert.deepEqual(domain.servers.map((s) => s.ip), ["10.0.0.1"], ip);
    assert.deepEqual(domain.ips, ["10.0.0.1"], ip);
    assert.deepEqual(domain.notReadyIps, [], ip);
    assert.equal(model.skipped.length, 1, `${ip}: one entry, though listed ready and not ready`);
    assert.equal(model.skipped[0]?.object, "shop/web");
    assert.match(model.skipped[0]!.reason, new RegExp(`^address "${ip.replaceAll(".", "\\.")}" is `));
    assert.match(model.skipped[0]!.reason, what);
    assert.match(model.skipped[0]!.reason, /not used as a server$/);
    assert.equal(model.skipped[0]?.address, ip, `${ip}: the entry names the address, not the whole object`);
    assert.equal(skipMessage(model.skipped[0]!), "address not used");
    assert.equal(skippedObjectCount(model.skipped), 0, `${ip}: no object is skipped`);
  }
});

Deno.test("skippedObjectCount() counts objects left out, not addresses", () => {
  const model = buildModel([
    endpointSet("web", web, ["10.0.0.1", "0.0.0.0", "224.0.0.1"], { namespace: "shop" }),
    endpointSet("bad", { domain: "not a name", proto: "http" }, ["10.0.0.2"], { namespace: "shop" }),
  ]);
  assert.equal(model.skipped.length, 3);
  assert.equal(skippedObjectCount(model.skipped), 1);
  assert.deepEqual(model.skipped.filter((s) => skipMessage(s) === "object skipped").map((s) => s.object), [
    "shop/bad",
  ]);
});

Deno.test("buildModel() keeps loopback, private and public addresses as servers", () => {
  // Loopback stays: `--from` files and the tests run backends on the HAProxy host (127.0.0.x).
  for (const ip of ["127.0.0.1", "127.0.0.2", "::1", "10.1.2.3", "192.0.2.1", "2001:db8::1", "240.0.0.1"]) {
    const model = buildModel([endpointSet("web", web, [ip])]);
    assert.deepEqual(model.domains["grafana.example.test"]?.ips, [ip], ip);
    assert.deepEqual(model.skipped, [], ip);
  }
});

Deno.test("isIp() accepts what z.ipv4() or z.ipv6() accepts, and nothing else", () => {
  const values = [
    "1.2.3.4",
    "0.0.0.0",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4 ",
    " 1.2.3.4",
    "::",
    "::1",
    "::1\n",
    "::@1\\",
    "2001:db8::1",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "G::1",
    "fe80::1%eth0",
    "::ffff:1.2.3.4",
    "[::1]",
    "example.test",
    "",
    "localhost",
  ];
  const ipv4 = z.ipv4(), ipv6 = z.ipv6();
  for (const value of values) {
    assert.equal(
      isIp(value),
      ipv4.safeParse(value).success || ipv6.safeParse(value).success,
      JSON.stringify(value),
    );
  }
});

Deno.test("buildModel() reads domain, proto and listen-port exactly as DomainName, Proto and PortNumber parse them", () => {
  const domains = [
    "web.example.test",
    "Web.Example.TEST",
    " web.example.test",
    "10.0.0.1",
    "fe80::1",
    "a_b.test",
    "-a.test",
  ];
  const protos = ["http", "redis", " redis ", "Redis", "my-proto", "-x", "a".repeat(33)];
  const ports = ["6380", "08080", "65535", "65536", "0", " 7000", "1e3", "99999"];
  for (const domain of domains) {
    for (const proto of protos) {
      for (const port of ports) {
        const set = endpointSet("s", { domain, proto, "haconfd.io/listen-port": port });
        const model = buildModel([set]);
        const d = DomainName.safeParse(domain), p = Proto.safeParse(proto), l = PortNumber.safeParse(port);
        const web = p.success && (p.data === "http" || p.data === "https");
        const ok = d.success && p.success && (web || l.success) && !(p.data === "https" && isIp(d.data!));
        const what = JSON.stringify({ domain, proto, port });
        assert.equal(Object.keys(model.domains).length, ok ? 1 : 0, what);
        if (!ok) continue;
        const entry = model.domains[d.data!]!;
        assert.equal(entry.proto, p.data, what);
        assert.equal(entry.listenPort, web ? null : l.data, what);
      }
    }
  }
});

Deno.test("fitted() gives the same elements in a list of its own", () => {
  const built: string[] = [];
  for (const ip of ["10.0.0.2", "10.0.0.1"]) built.push(ip);
  const kept = fitted(built);
  assert.deepEqual(kept, ["10.0.0.2", "10.0.0.1"]);
  assert.notEqual(kept, built);
});
