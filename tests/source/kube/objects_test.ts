import assert from "node:assert/strict";
import { joinSlices, parseObjectList, projectSlice } from "../../../lib/source/kube/objects.ts";
import { EndpointSlice } from "../../../lib/source/kube/objects.ts";
import { endpointsList, endpointsObject } from "../../support/fixtures.ts";
import { RECORDED } from "../../support/kube_recorded.ts";

Deno.test("parseObjectList() reads a real API EndpointsList (recorded from kube-apiserver 1.26)", () => {
  const parsed = parseObjectList(JSON.parse(RECORDED["01"]!.body));
  assert.deepEqual(parsed.problems, []);
  const web = parsed.endpoints.find((e) => e.name === "web");
  assert.ok(web);
  assert.deepEqual(web.annotations, { domain: "web.example.com", proto: "http" });
  assert.deepEqual(web.groups[0]?.addresses.map((a) => [a.ip, a.ready]), [
    ["192.0.2.10", true],
    ["192.0.2.11", true],
    ["192.0.2.12", false],
  ]);
  assert.deepEqual(web.groups[0]?.ports, [{ name: "http", port: 8080 }, { name: "metrics", port: 9090 }]);
});

Deno.test("parseObjectList() reads a real EndpointSliceList (recorded), IPv4 and IPv6 slices", () => {
  const parsed = parseObjectList(JSON.parse(RECORDED["04"]!.body));
  assert.deepEqual(parsed.problems, []);
  assert.deepEqual(
    parsed.slices.map((s) => [s.name, s.service, s.group.addresses.map((a) => [a.ip, a.ready])]),
    [
      ["api-v4", "api", [["192.0.2.20", true], ["192.0.2.21", false]]],
      ["api-v6", "api", [["2001:db8::1", true]]],
    ],
  );
});

Deno.test("parseObjectList() keeps TCP ports only (kube-dns: dns/UDP is left out)", () => {
  const dns = endpointsObject({ name: "kube-dns", ready: ["10.0.0.2"], ports: [] });
  (dns.subsets as { ports: unknown[] }[])[0]!.ports = [
    { name: "dns", port: 53, protocol: "UDP" },
    { name: "dns-tcp", port: 53, protocol: "TCP" },
    { name: "metrics", port: 9153 },
  ];
  const parsed = parseObjectList(endpointsList(dns));
  assert.deepEqual(parsed.endpoints[0]?.groups[0]?.ports, [{ name: "dns-tcp", port: 53 }, {
    name: "metrics",
    port: 9153,
  }]);
});

Deno.test("parseObjectList() keeps only the annotations haconfd reads", () => {
  const parsed = parseObjectList(endpointsList(endpointsObject({
    name: "a",
    annotations: {
      domain: "a.example.test",
      proto: "http",
      "kubectl.kubernetes.io/last-applied-configuration": "{}",
    },
    ready: ["10.0.0.1"],
  })));
  assert.deepEqual(parsed.endpoints[0]?.annotations, { domain: "a.example.test", proto: "http" });
});

Deno.test("parseObjectList() skips malformed items with a reason naming the object", () => {
  const badIp = endpointsObject({ name: "bad-ip", namespace: "ns", ready: ["10.0.0.300"] });
  const badPort = endpointsObject({ name: "bad-port", ready: ["10.0.0.1"], ports: [{ port: 70000 }] });
  const noMeta = { kind: "Endpoints", subsets: [] };
  const wrongType = { ...endpointsObject({ name: "wrong" }), subsets: "nope" };
  const pod = { kind: "Pod", metadata: { name: "p", namespace: "d" } };
  const good = endpointsObject({ name: "good", ready: ["10.0.0.1"] });
  const parsed = parseObjectList(endpointsList(badIp, badPort, noMeta, wrongType, pod, good));
  assert.deepEqual(parsed.endpoints.map((e) => e.name), ["good"]);
  assert.deepEqual(parsed.problems.map((p) => p.object), [
    "ns/bad-ip",
    "default/bad-port",
    "items[2]",
    "default/wrong",
    "d/p",
  ]);
  assert.match(parsed.problems[0]!.reason, /subsets\.0\.addresses\.0\.ip: not an IP address/);
  assert.match(parsed.problems[1]!.reason, /port/);
  assert.match(parsed.problems[2]!.reason, /metadata/);
  assert.match(parsed.problems[4]!.reason, /unsupported kind "Pod"/);
});

Deno.test("parseObjectList() refuses names that the API would refuse (no config injection through a name)", () => {
  const injected = endpointsObject({
    name: "web\nlisten pwned\n    bind 127.0.0.1:9999",
    ready: ["10.0.0.1"],
  });
  const badNs = endpointsObject({ name: "ok", namespace: "Ns#1", ready: ["10.0.0.1"] });
  const parsed = parseObjectList(endpointsList(injected, badNs));
  assert.deepEqual(parsed.endpoints, []);
  assert.match(
    parsed.problems[0]!.reason,
    /metadata\.name: "web\\nlisten pwned.*" is not a Kubernetes object name/,
  );
  assert.match(parsed.problems[1]!.reason, /metadata\.namespace: "Ns#1" is not a namespace name/);
});

Deno.test("parseObjectList() rejects input that is not a list", () => {
  assert.throws(() => parseObjectList({ kind: "Endpoints", metadata: {} }), /not a Kubernetes list/);
  assert.throws(() => parseObjectList([1, 2]), /not a Kubernetes list/);
  assert.throws(() => parseObjectList(null), /not a Kubernetes list/);
});

Deno.test("projectSlice() maps ready/serving/terminating conditions", () => {
  const slice = EndpointSlice.parse({
    metadata: { name: "api-x", namespace: "rec", labels: { "kubernetes.io/service-name": "api" } },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["192.0.2.20"], conditions: { ready: true } },
      { addresses: ["192.0.2.21"], conditions: { ready: false } },
      { addresses: ["192.0.2.22"], conditions: {} },
      { addresses: ["192.0.2.23"], conditions: { ready: false, serving: true, terminating: true } },
    ],
    ports: [{ name: "https", protocol: "TCP", port: 8443 }],
  });
  const view = projectSlice(slice);
  assert.ok(typeof view !== "string");
  assert.equal(view.service, "api");
  assert.deepEqual(view.group.addresses.map((a) => [a.ip, a.ready]), [
    ["192.0.2.20", true],
    ["192.0.2.21", false],
    ["192.0.2.22", true],
    ["192.0.2.23", false],
  ]);
  const unlabelled = EndpointSlice.parse({ ...slice, metadata: { name: "x", namespace: "rec" } });
  assert.match(String(projectSlice(unlabelled)), /no "kubernetes.io\/service-name" label/);
});

Deno.test("joinSlices() joins slices to their Service by the service-name label", () => {
  const sets = joinSlices(
    [{
      namespace: "rec",
      name: "api",
      created: "",
      annotations: { domain: "api.example.com", proto: "https" },
    }],
    [
      {
        namespace: "rec",
        name: "api-v6",
        service: "api",
        group: { ports: [], addresses: [{ ip: "2001:db8::1", ready: true }] },
      },
      {
        namespace: "rec",
        name: "api-v4",
        service: "api",
        group: { ports: [], addresses: [{ ip: "192.0.2.20", ready: true }] },
      },
      { namespace: "other", name: "api-v4", service: "api", group: { ports: [], addresses: [] } },
    ],
  );
  assert.equal(sets.length, 1);
  assert.deepEqual(sets[0]?.groups.map((g) => g.addresses[0]?.ip), ["192.0.2.20", "2001:db8::1"]);
});
