// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * Backend mode nodeport: what one node change costs haconfd's pure pipeline when every service routes to
 * the nodes (each nodeport service's set is re-resolved and its backend re-rendered), beside a pod change
 * of one pods-mode service and `haproxy -c` of the same config (HAProxy's own floor for a reload).
 * `tools/deno task bench nodeport [services] [nodes]`.
 *
 * @module
 */
import type { EndpointSet } from "../lib/model/endpoints.ts";
import type { NodePolicy, NodeView, ServiceFacts } from "../lib/model/nodeport_input.ts";
import { createGenerator } from "../lib/render/generate.ts";
import { compileTemplates, defaultTemplates } from "../lib/render/render.ts";
import { median } from "./measure.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };
const POLICY: NodePolicy = { defaultMode: "nodeport", addressType: "InternalIP", includeUnschedulable: true };

function nodes(count: number, notReady: number): NodeView[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `node-${i}`,
    ready: i !== notReady,
    addresses: { InternalIP: `10.1.${i >> 8}.${i & 255}` },
    labels: {},
    unschedulable: false,
  }));
}

function service(i: number): ServiceFacts {
  return {
    type: "NodePort",
    ports: [{ name: "http", port: 80, nodePort: 30000 + i }],
    externalTrafficPolicy: "Cluster",
  };
}

function set(i: number, all: NodeView[]): EndpointSet {
  return {
    namespace: `ns-${i % 20}`,
    name: `svc-${i}`,
    created: "2026-01-01T00:00:00Z",
    annotations: { domain: `svc-${i}.example.test`, proto: "http" },
    groups: [{
      ports: [{ name: "http", port: 8080 }],
      addresses: [{ ip: `10.244.${i >> 8 & 255}.${i & 255}`, ready: true, node: "node-0" }],
    }],
    nodePort: { service: service(i), nodes: all, policy: POLICY },
  };
}

/** Median ms of one generator pass after a change of `changed` sets, over `runs` alternating changes. */
function changeCost(
  services: number,
  nodeCount: number,
  runs: number,
  change: (sets: EndpointSet[], run: number) => Map<string, EndpointSet>,
) {
  const generator = createGenerator(compileTemplates(defaultTemplates()), listen);
  let sets = Array.from({ length: services }, (_, i) => set(i, nodes(nodeCount, -1)));
  let changes: Map<string, EndpointSet> | null = null;
  const input = { snapshot: () => sets, takeChanges: () => changes };
  let text = generator(input).text;
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    changes = change(sets, run);
    sets = sets.map((s) => changes!.get(`${s.namespace}/${s.name}`) ?? s);
    const start = performance.now();
    text = generator(input).text;
    times.push(performance.now() - start);
  }
  return { ms: median(times), text };
}

async function haproxyCheckMs(text: string): Promise<number | null> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-bench-nodeport-" });
  try {
    const path = `${dir}/haproxy.cfg`;
    await Deno.writeTextFile(path, text);
    const start = performance.now();
    const out = await new Deno.Command("haproxy", { args: ["-c", "-q", "-f", path] }).output();
    return out.success ? performance.now() - start : null;
  } catch {
    return null;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs the benchmark and prints a table. */
export async function nodePortBenchmark(args: string[]): Promise<void> {
  const services = Number(args[0] ?? 1000);
  const nodeCount = Number(args[1] ?? 50);
  const runs = 10;
  // One node flips Ready on every run: every nodeport service changes.
  const node = changeCost(services, nodeCount, runs, (sets, run) => {
    const all = nodes(nodeCount, run % 2 === 0 ? 7 : -1);
    return new Map(
      sets.map((s) => [`${s.namespace}/${s.name}`, { ...s, nodePort: { ...s.nodePort!, nodes: all } }]),
    );
  });
  // One service's pod changes (its endpoint set alone).
  const pod = changeCost(services, nodeCount, runs, (sets, run) => {
    const s = sets[run % sets.length]!;
    const address = { ip: `10.250.0.${run + 1}`, ready: true, node: "node-0" };
    const changed = { ...s, annotations: { ...s.annotations, "haconfd.io/backend-mode": "pods" } };
    changed.groups = [{ ...s.groups[0]!, addresses: [address] }];
    return new Map([[`${s.namespace}/${s.name}`, changed]]);
  });
  const check = await haproxyCheckMs(node.text);
  const rows = [
    [
      `model + render after a node change, ${services} nodeport services x ${nodeCount} nodes`,
      node.ms,
      "median of 10",
    ],
    [`model + render after one pod change, same ${services} services`, pod.ms, "median of 10"],
    [
      `haproxy -c of that config (${(node.text.length / 1024).toFixed(0)} KiB)`,
      check,
      "HAProxy's floor for a reload",
    ],
  ] as const;
  console.log("| benchmark | ms | note |\n| --- | ---: | --- |");
  for (const [name, ms, note] of rows) {
    console.log(`| ${name} | ${ms === null ? "n/a" : ms.toFixed(1)} | ${note} |`);
  }
}
