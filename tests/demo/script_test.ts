/**
 * The demo's script against a fake cluster whose "HAProxy" answers from a snapshot taken on demand: each
 * step's probe must be false while the change has not reached traffic and true once it has.
 */
import assert from "node:assert/strict";
import { type DemoService, serviceKey } from "../../lib/demo/cluster.ts";
import { type DemoCluster, HOSTS, REDIS_LISTEN_PORT, SCRIPT } from "../../lib/demo/script.ts";

const GRAFANA_PODS = ["grafana-7b9f6d8c5-2lq8m", "grafana-7b9f6d8c5-h4x9t"];

function service(namespace: string, name: string, domain: string, pods: [string, boolean][]): DemoService {
  return {
    namespace,
    name,
    annotations: { domain, proto: namespace === "data" ? "tcp" : "http" },
    labels: { app: name },
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    routedPort: 0,
    kind: namespace === "data" ? "tcp" : "http",
    pods: pods.map(([pod, ready], i) => ({ name: pod, ip: `127.0.0.${10 + i}`, ready })),
  };
}

/** The demo's starting services that the script touches. */
function initial(): DemoService[] {
  return [
    service("monitoring", "grafana", HOSTS.grafana, GRAFANA_PODS.map((p) => [p, true])),
    service("monitoring", "prometheus", HOSTS.prometheus, [["prometheus-server-0", false]]),
    service("data", "redis", "redis.example.test", [["redis-0", true], ["redis-1", false]]),
  ];
}

/** A fake {@linkcode DemoCluster}: changes land in `current`; answers come from `served` until `sync()`. */
function fakeCluster() {
  const current = new Map(initial().map((s) => [serviceKey(s), s]));
  let served = new Map(current);
  const retired: string[] = [];
  const addresses = new Map<string, string>();
  let turn = 0;
  const readyPods = (s: DemoService | undefined) => (s?.pods ?? []).filter((p) => p.ready).map((p) => p.name);
  const cluster: DemoCluster = {
    service(key) {
      const found = current.get(key);
      if (found === undefined) throw new Error(`unknown service ${key}`);
      return found;
    },
    update: (next) => void current.set(serviceKey(next), next),
    addPod(key, pod) {
      const s = cluster.service(key);
      current.set(key, { ...s, pods: [...s.pods, pod] });
      return Promise.resolve();
    },
    addService: (s) => Promise.resolve(void current.set(serviceKey(s), s)),
    removeService: (key) => void current.delete(key),
    retire: (pod) => Promise.resolve(void retired.push(pod)),
    address: (pod) => addresses.get(pod) ?? addresses.set(pod, `127.0.1.${addresses.size + 1}`).get(pod)!,
    http(host) {
      const s = [...served.values()].find((x) => x.annotations.domain === host);
      if (s === undefined) return Promise.resolve({ status: 404, backend: "" });
      const pods = readyPods(s);
      if (pods.length === 0) return Promise.resolve({ status: 503, backend: "" });
      return Promise.resolve({ status: 200, backend: pods[turn++ % pods.length]! });
    },
    tcpName: (port) =>
      Promise.resolve(port === REDIS_LISTEN_PORT ? readyPods(served.get("data/redis"))[0] ?? "" : ""),
  };
  return {
    cluster,
    retired,
    sync: () => void (served = new Map(current)),
    snapshot: () => JSON.stringify([...current.entries()].sort()),
  };
}

/** Asks `check` `times` times; true when any answer was true. */
async function anyTrue(check: () => Promise<boolean>, times: number): Promise<boolean> {
  for (let i = 0; i < times; i++) if (await check()) return true;
  return false;
}

Deno.test("SCRIPT steps() make changes whose probes are false before they serve and true after", async () => {
  const fake = fakeCluster();
  const titles: string[] = [];
  for (const step of SCRIPT) {
    const result = await step(fake.cluster);
    titles.push(result.title);
    assert.equal(await anyTrue(result.probe.check, 12), false, `before: ${result.probe.what}`);
    fake.sync();
    assert.equal(await anyTrue(result.probe.check, 12), true, `after: ${result.probe.what}`);
    await result.after?.();
  }
  assert.match(
    titles[0]!,
    /^scale up: monitoring\/grafana gets pod grafana-7b9f6d8c5-x7k2d \(127\.0\.1\.1\)$/,
  );
  assert.ok(titles.includes("readiness: monitoring/prometheus pod prometheus-server-0 is not ready"));
  assert.ok(titles.includes("failover: data/redis pod redis-0 not ready, redis-1 ready"));
});

Deno.test("SCRIPT steps() undo every change within one round and retire the pods that left", async () => {
  const fake = fakeCluster();
  const start = fake.snapshot();
  for (const step of SCRIPT) {
    const result = await step(fake.cluster);
    fake.sync();
    await result.after?.();
  }
  assert.equal(fake.snapshot(), start);
  assert.deepEqual(fake.retired, [
    "grafana-7b9f6d8c5-x7k2d",
    "storefront-5f6d7-abcde",
    "storefront-5f6d7-fghij",
  ]);
});
