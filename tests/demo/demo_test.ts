import assert from "node:assert/strict";
import example from "../../examples/endpoints.json" with { type: "json" };
import { ConfigError } from "../../lib/settings/options.ts";
import {
  createAddressPool,
  demoServices,
  endpointsObject,
  ExampleDump,
  LISTEN_PORT_ANNOTATION,
  podKind,
  serviceKey,
  withoutPod,
  withPod,
  withPort,
  withReady,
} from "../../lib/demo/cluster.ts";
import { runDemo } from "../../lib/demo/demo.ts";
import { DEMO_DEFAULTS, demoSettings, demoTiming } from "../../lib/demo/settings.ts";
import { parseObjectList } from "../../lib/source/kube/objects.ts";

const wiring = {
  apiServer: "https://127.0.0.1:6443",
  caPath: "/d/ca.crt",
  tokenPath: "/d/token",
  configPath: "/d/h.cfg",
};

function services() {
  return demoServices(ExampleDump.parse(example), createAddressPool(), { "data/redis": 16379 });
}

Deno.test("demoServices() moves every pod of the example to its own 127.0.0.x address", () => {
  const all = services();
  const ips = all.flatMap((s) => s.pods.map((p) => p.ip));
  assert.ok(ips.length > 10);
  assert.ok(ips.every((ip) => /^127\.0\.0\.(\d+)$/.test(ip) && ip !== "127.0.0.1"), ips.join(" "));
  const grafana = all.find((s) => serviceKey(s) === "monitoring/grafana")!;
  assert.deepEqual(grafana.pods.map((p) => [p.name, p.ready]), [
    ["grafana-7b9f6d8c5-2lq8m", true],
    ["grafana-7b9f6d8c5-h4x9t", true],
    ["grafana-7b9f6d8c5-zp6rn", false],
  ]);
  assert.equal(grafana.kind, "http");
});

Deno.test("demoServices() gives redis the demo's listen port and knows what each service's pods speak", () => {
  const byKey = new Map(services().map((s) => [serviceKey(s), s]));
  assert.equal(byKey.get("data/redis")?.annotations[LISTEN_PORT_ANNOTATION], "16379");
  assert.equal(byKey.get("data/redis")?.kind, "tcp");
  assert.equal(byKey.get("kube-system/kubernetes-dashboard")?.kind, "tls");
  assert.equal(byKey.get("default/kubernetes")?.kind, null);
  // prometheus routes its "web" port (haconfd.io/port), not the first one.
  const prometheus = byKey.get("monitoring/prometheus")!;
  assert.equal(prometheus.ports[prometheus.routedPort]?.name, "web");
});

Deno.test("podKind() needs both annotations, the haconfd.io/ spelling included", () => {
  assert.equal(podKind({ domain: "a.test", proto: "http" }), "http");
  assert.equal(podKind({ "haconfd.io/domain": "a.test", "haconfd.io/proto": "postgres" }), "tcp");
  assert.equal(podKind({ proto: "https" }), null);
});

Deno.test("createAddressPool() gives one address per original, a new one per name, and stops at 127.0.0.254", () => {
  const pool = createAddressPool();
  assert.equal(pool("10.0.0.1"), "127.0.0.2");
  assert.equal(pool("10.0.0.2"), "127.0.0.3");
  assert.equal(pool("10.0.0.1"), "127.0.0.2");
  for (let i = 0; i < 251; i++) pool();
  assert.throws(() => pool(), RangeError);
});

Deno.test("endpointsObject() is an Endpoints object the daemon's own parser reads back as edited", () => {
  const grafana = services().find((s) => serviceKey(s) === "monitoring/grafana")!;
  const added = withPod(withPort(grafana, 41000), { name: "new-pod", ip: "127.0.0.99", ready: true });
  const edited = withReady(withoutPod(added, "grafana-7b9f6d8c5-2lq8m"), "grafana-7b9f6d8c5-zp6rn", true);
  const parsed = parseObjectList({ kind: "EndpointsList", items: [endpointsObject(edited)] });
  assert.deepEqual(parsed.problems, []);
  const [set] = parsed.endpoints;
  assert.equal(set?.annotations.domain, "grafana.example.test");
  assert.deepEqual(set?.groups.map((g) => g.ports.map((p) => p.port)), [[41000]]);
  assert.deepEqual(
    set?.groups.flatMap((g) => g.addresses.map((a) => `${a.target}:${a.ready}`)).sort(),
    ["grafana-7b9f6d8c5-h4x9t:true", "grafana-7b9f6d8c5-zp6rn:true", "new-pod:true"],
  );
});

Deno.test("demoSettings() points the daemon at the stand-in, with loopback defaults the environment may move", () => {
  const settings = demoSettings(
    {},
    { HTTP_BIND: "127.0.0.9:8080", KUBECONFIG: "/home/me/.kube/config" },
    wiring,
  );
  assert.deepEqual(settings.apiServers, ["https://127.0.0.1:6443"]);
  assert.equal(settings.haproxyRun, true);
  assert.equal(settings.httpBind, "127.0.0.9:8080");
  assert.equal(settings.httpsBind, DEMO_DEFAULTS.HTTPS_BIND);
  assert.equal(settings.kubeconfig, undefined, "the user's KUBECONFIG is not the demo's");
  assert.equal(demoSettings({ "dry-run": true }, {}, wiring).haproxyRun, false);
});

Deno.test("demoSettings() refuses flags the demo sets itself, naming them", () => {
  assert.throws(
    () => demoSettings({ "api-servers": "https://10.0.0.1:6443", from: "x.json" }, {}, wiring),
    (error: unknown) =>
      error instanceof ConfigError && /--api-servers, --from for "demo"/.test(error.message),
  );
});

Deno.test("demoTiming() reads DEMO_SECONDS and DEMO_STEP_SECONDS and names a bad one", () => {
  assert.deepEqual(demoTiming({}), { durationMs: undefined, stepMs: 4000 });
  assert.deepEqual(demoTiming({ DEMO_SECONDS: "30", DEMO_STEP_SECONDS: "0.5" }), {
    durationMs: 30_000,
    stepMs: 500,
  });
  assert.throws(
    () => demoTiming({ DEMO_SECONDS: "soon" }),
    /Invalid DEMO_SECONDS: "soon": not a number of seconds/,
  );
  assert.throws(
    () => demoTiming({ DEMO_STEP_SECONDS: "0" }),
    /Invalid DEMO_STEP_SECONDS: "0": must be more than 0/,
  );
});

Deno.test("runDemo() refuses a frontend port something else holds before it starts anything", async () => {
  // HAProxy binds with SO_REUSEPORT: without this check the demo would share the port with its holder.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const lines: string[] = [];
  await assert.rejects(
    runDemo({
      flags: { "http-bind": taken },
      env: {},
      print: (l) => lines.push(l),
      signal: AbortSignal.abort(),
    }),
    (error: unknown) => error instanceof ConfigError && error.message.includes(`${taken} is in use`),
  );
  assert.deepEqual(lines, [], "nothing started, nothing to stop");
});
