/**
 * What the demo does to its cluster, one step every few seconds, and how each step is seen to reach
 * traffic: scale a service up and down, flip a pod's readiness, fail a TCP service over, add and remove
 * an annotated service. Each step returns a probe — a question asked through HAProxy that is true once
 * the change serves.
 *
 * @module
 */
import { type DemoPod, type DemoService, withoutPod, withReady } from "./cluster.ts";

/** What a step needs from the running demo: the cluster's state and ways to reach HAProxy. */
export interface DemoCluster {
  /** The service `namespace/name` (throws when unknown). */
  service(key: string): DemoService;
  /** Replaces a service in the API stand-in (MODIFIED). */
  update(next: DemoService): void;
  /** Starts a pod's backend on its service's port and adds it to the service. */
  addPod(key: string, pod: DemoPod): Promise<void>;
  /** Starts the pods of a new service, then creates it in the API stand-in (ADDED). */
  addService(service: DemoService): Promise<void>;
  /** Deletes a service from the API stand-in (DELETED); its pods run on until retired. */
  removeService(key: string): void;
  /** Stops the backend of a pod that no longer serves (as Kubernetes ends a pod after its endpoint). */
  retire(podName: string): Promise<void>;
  /** The loopback address of a demo pod, the same for the same name. */
  address(podName: string): string;
  /** The HTTP answer's status and backend name, through HAProxy's HTTP frontend. */
  http(host: string): Promise<{ status: number; backend: string }>;
  /** The name a TCP pod gives through HAProxy's listener on `port`. */
  tcpName(port: number): Promise<string>;
}

/** A question asked through HAProxy until it is true. */
export interface Probe {
  /** What is awaited, e.g. `grafana.example.test answers from grafana-…`. */
  what: string;
  /** One attempt. */
  check(): Promise<boolean>;
}

/** One change of the cluster and the probe that shows it serving. */
export interface StepResult {
  /** What changed, for the log. */
  title: string;
  /** When the change was made (performance.now()). */
  changedAt: number;
  /** Shows the change serving. */
  probe: Probe;
  /** Runs after the probe (e.g. stops a pod that no longer serves). */
  after?: () => Promise<void>;
}

/** A step of the script. */
export type Step = (cluster: DemoCluster) => Promise<StepResult>;

const GRAFANA = "monitoring/grafana";
const PROMETHEUS = "monitoring/prometheus";
const REDIS = "data/redis";
const SHOP = "shop/storefront";
const EXTRA_GRAFANA = "grafana-7b9f6d8c5-x7k2d";
const SHOP_PODS = ["storefront-5f6d7-abcde", "storefront-5f6d7-fghij"];
/** Answers in a row that must miss a removed pod before it counts as gone. */
const GONE_STREAK = 6;
/** The TCP listen port the demo gives redis (not 6379: a local redis may hold it). */
export const REDIS_LISTEN_PORT = 16379;

/** Host names the script's probes ask for. */
export const HOSTS = {
  grafana: "grafana.example.test",
  prometheus: "prometheus.example.test",
  // Not shop.example.test: the example's shop/shop claims it first, and the older claim wins.
  shop: "storefront.example.test",
} as const;

function answersFrom(cluster: DemoCluster, host: string, pod: string): Probe {
  return {
    what: `${host} answers from ${pod}`,
    check: async () => (await cluster.http(host)).backend === pod,
  };
}

function answersStatus(cluster: DemoCluster, host: string, status: number): Probe {
  return {
    what: `${host} answers ${status}`,
    check: async () => (await cluster.http(host)).status === status,
  };
}

function neverFrom(cluster: DemoCluster, host: string, pod: string): Probe {
  return {
    what: `${GONE_STREAK} answers in a row for ${host} without ${pod}`,
    async check() {
      for (let i = 0; i < GONE_STREAK; i++) {
        const answer = await cluster.http(host);
        if (answer.status !== 200 || answer.backend === pod) return false;
      }
      return true;
    },
  };
}

function tcpFrom(cluster: DemoCluster, port: number, pod: string): Probe {
  return {
    what: `port ${port} answers from ${pod}`,
    check: async () => (await cluster.tcpName(port)) === pod,
  };
}

function readiness(key: string, pod: string, ready: boolean, host: string): Step {
  return (cluster) => {
    const service = cluster.service(key);
    const changedAt = performance.now();
    cluster.update(withReady(service, pod, ready));
    return Promise.resolve({
      title: `readiness: ${key} pod ${pod} is ${ready ? "ready" : "not ready"}`,
      changedAt,
      probe: ready ? answersFrom(cluster, host, pod) : answersStatus(cluster, host, 503),
    });
  };
}

function redisServes(serving: string, idle: string): Step {
  return (cluster) => {
    const service = cluster.service(REDIS);
    const changedAt = performance.now();
    cluster.update(withReady(withReady(service, serving, true), idle, false));
    return Promise.resolve({
      title: `failover: ${REDIS} pod ${idle} not ready, ${serving} ready`,
      changedAt,
      probe: tcpFrom(cluster, REDIS_LISTEN_PORT, serving),
    });
  };
}

const scaleUp: Step = async (cluster) => {
  const pod = { name: EXTRA_GRAFANA, ip: cluster.address(EXTRA_GRAFANA), ready: true, node: "node-3" };
  const changedAt = performance.now();
  await cluster.addPod(GRAFANA, pod);
  return {
    title: `scale up: ${GRAFANA} gets pod ${pod.name} (${pod.ip})`,
    changedAt,
    probe: answersFrom(cluster, HOSTS.grafana, pod.name),
  };
};

const scaleDown: Step = (cluster) => {
  const service = cluster.service(GRAFANA);
  const changedAt = performance.now();
  cluster.update(withoutPod(service, EXTRA_GRAFANA));
  return Promise.resolve({
    title: `scale down: ${GRAFANA} loses pod ${EXTRA_GRAFANA}`,
    changedAt,
    probe: neverFrom(cluster, HOSTS.grafana, EXTRA_GRAFANA),
    after: () => cluster.retire(EXTRA_GRAFANA),
  });
};

const addShop: Step = async (cluster) => {
  const service: DemoService = {
    namespace: "shop",
    name: "storefront",
    annotations: { domain: HOSTS.shop, proto: "http" },
    labels: { app: "storefront" },
    ports: [{ name: "http", port: 0, protocol: "TCP" }],
    routedPort: 0,
    kind: "http",
    pods: SHOP_PODS.map((name) => ({ name, ip: cluster.address(name), ready: true })),
  };
  const changedAt = performance.now();
  await cluster.addService(service);
  return {
    title: `new service: ${SHOP} annotated domain=${HOSTS.shop} proto=http, 2 pods`,
    changedAt,
    probe: answersStatus(cluster, HOSTS.shop, 200),
  };
};

const removeShop: Step = (cluster) => {
  const changedAt = performance.now();
  cluster.removeService(SHOP);
  return Promise.resolve({
    title: `service deleted: ${SHOP}`,
    changedAt,
    probe: answersStatus(cluster, HOSTS.shop, 404),
    after: async () => {
      for (const pod of SHOP_PODS) await cluster.retire(pod);
    },
  });
};

/** The demo's script, played in a loop: every change is undone later in the same round. */
export const SCRIPT: readonly Step[] = [
  scaleUp,
  readiness(PROMETHEUS, "prometheus-server-0", true, HOSTS.prometheus),
  addShop,
  redisServes("redis-1", "redis-0"),
  scaleDown,
  readiness(PROMETHEUS, "prometheus-server-0", false, HOSTS.prometheus),
  removeShop,
  redisServes("redis-0", "redis-1"),
];
