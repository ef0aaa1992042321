/**
 * Takes a screenshot of the status page (`/`) with headless Chromium, so the page is seen as a browser
 * shows it.
 *
 * Usage:
 *
 * ```sh
 * # a realistic demo state, served on a free loopback port → docs/status-page.png
 * tools/deno run -A tools/screenshot.ts
 * # a running daemon (token, if any, is sent as the Basic password)
 * tools/deno run -A tools/screenshot.ts --out /tmp/live.png [--token TOKEN] http://127.0.0.1:9180/
 * # the whole page of the demo state (window WIDTH,HEIGHT; default 1280,900)
 * tools/deno run -A tools/screenshot.ts --out /tmp/full.png --size 1280,1800
 * ```
 *
 * Needs Debian's `chromium` (`apt-get install -y chromium`).
 *
 * @module
 */
import { DEFAULT_SETTINGS } from "../lib/model/settings.ts";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createMetrics } from "../lib/status/metrics.ts";
import { type Domain, domainId } from "../lib/model/model.ts";
import type { ApplyRecord, DaemonState, HaproxyView } from "../lib/record/state.ts";
import { createStatusApp, startStatusServer } from "../lib/status/app.ts";
import { VERSION } from "../lib/version.ts";

const DEFAULT_OUT = "docs/status-page.png";
const DEFAULT_SIZE = "1280,900";
const CHROMIUM_TIMEOUT_MS = 60_000;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function server(ip: string, port: number, name: string, ready = true): Domain["servers"][number] {
  return { ip, port, name, ready };
}

function domain(
  name: string,
  proto: string,
  object: string,
  port: number,
  servers: Domain["servers"],
  listenPort: number | null = null,
): [string, Domain] {
  const [namespace = "", service = ""] = object.split("/");
  const ready = servers.filter((s) => s.ready).map((s) => s.ip);
  const notReady = servers.filter((s) => !s.ready).map((s) => s.ip);
  return [name, {
    ips: ready,
    proto,
    port,
    id: domainId(name),
    namespace,
    name: service,
    ports: { [proto]: port },
    notReadyIps: notReady,
    servers,
    listenPort,
    host: name,
    settings: DEFAULT_SETTINGS,
  }];
}

function apply(
  at: number,
  outcome: ApplyRecord["outcome"],
  detail: string,
  extra: Partial<ApplyRecord> = {},
): ApplyRecord {
  return {
    at,
    outcome,
    detail,
    durationMs: 212,
    renderMs: 4,
    checkMs: 61,
    reloadMs: 138,
    hash: "9f2c4e1b7a0d53c8e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
    errors: [],
    ...extra,
  };
}

/** A realistic state of a small cluster, for the screenshot and for trying the page by hand. */
export function demoState(now: number): DaemonState {
  const hash = "9f2c4e1b7a0d53c8e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";
  const domains = Object.fromEntries([
    domain("argocd.k8s.example.com", "https", "argocd/argocd-server", 8443, [
      server("10.244.1.21", 8443, "argocd-server-7c9d5b6f4-x2kqj"),
    ]),
    domain("grafana.k8s.example.com", "http", "monitoring/grafana", 3000, [
      server("10.244.0.77", 3000, "grafana-6d8f7c9b5-4mzpl"),
      server("10.244.1.78", 3000, "grafana-6d8f7c9b5-t7wq2"),
    ]),
    domain("keycloak.k8s.example.com", "https", "auth/keycloak", 8443, []),
    domain("mqtt.k8s.example.com", "mqtt", "iot/mosquitto", 1883, [
      server("10.244.2.40", 1883, "mosquitto-0"),
    ], 1883),
    domain("postgres.k8s.example.com", "postgres", "db/postgres-primary", 5432, [
      server("10.244.2.11", 5432, "postgres-0"),
      server("10.244.0.12", 5432, "postgres-1", false),
    ], 5432),
    domain("prometheus.k8s.example.com", "http", "monitoring/prometheus", 9090, [
      server("10.244.0.31", 9090, "prometheus-0"),
      server("10.244.2.32", 9090, "prometheus-1"),
    ]),
    domain("redis.k8s.example.com", "redis", "cache/redis", 6379, [
      server("10.244.1.50", 6379, "redis-master-0"),
    ], 6379),
    domain("shop.k8s.example.com", "http", "shop/storefront", 8080, [
      server("10.244.0.61", 8080, "storefront-5f6d7-abcde"),
      server("10.244.1.62", 8080, "storefront-5f6d7-fghij"),
      server("10.244.2.63", 8080, "storefront-5f6d7-klmno"),
    ]),
    domain("wiki.k8s.example.com", "http", "docs/wikijs", 3000, [
      server("10.244.1.90", 3000, "wikijs-0"),
    ]),
  ]);
  const reload = apply(now - 4 * MINUTE, "applied", "Reloaded HAProxy: 1 backend added, 2 servers changed");
  const failed = apply(
    now - 19 * MINUTE,
    "check-failed",
    "haproxy -c rejected the rendered config; the installed config stays",
    {
      reloadMs: null,
      durationMs: 74,
      hash: "1d0e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6",
      errors: [
        "[ALERT]    (4121) : config : parsing [/etc/haproxy/conf.d/40-custom.conf:7] : unknown keyword 'balanse' in 'backend' section",
      ],
    },
  );
  return {
    version: VERSION,
    startedAt: now - 26 * HOUR,
    heartbeatAt: now - 1_500,
    source: {
      kind: "kube",
      endpoint: "https://10.0.0.10:6443",
      resource: "endpointslices",
      namespaces: [],
      synced: true,
      fullSyncs: 27,
      lastEventAt: now - 38_000,
      lastFullSyncAt: now - 42 * MINUTE,
      events: { ADDED: 212, MODIFIED: 1489, DELETED: 37, BOOKMARK: 310 },
      restarts: { expired: 3, dropped: 1 },
      objects: 148,
      lastError: null,
      problems: [],
    },
    config: { path: "/etc/haproxy/haproxy.cfg", installedHash: hash, renderedHash: hash },
    ready: { ok: true, reason: "synced; the installed config is the last one rendered" },
    domains,
    skipped: [
      {
        object: "legacy/old-portal",
        reason: 'annotation "domain": "old_portal" is not a DNS name or IP address',
      },
      {
        object: "team-b/grafana",
        reason:
          'domain "grafana.k8s.example.com" is already served by monitoring/grafana (older object wins)',
      },
    ],
    applies: [
      apply(now - 38_000, "unchanged", "Rendered config equals the installed one", {
        durationMs: 5,
        checkMs: null,
        reloadMs: null,
      }),
      reload,
      failed,
      apply(now - 2 * HOUR, "applied", "Servers updated through the Runtime API", {
        reloadMs: null,
        durationMs: 23,
      }),
      apply(now - 26 * HOUR + 3_000, "applied", "First config installed", { durationMs: 391, reloadMs: 302 }),
    ],
    lastCheck: reload,
    lastReload: reload,
    lastSuccessAt: reload.at,
    reloadMode: "master-socket",
  };
}

/** HAProxy's backend rows to go with {@linkcode demoState}: one server down, one in maintenance. */
export function demoHaproxy(state: DaemonState, now: number): HaproxyView {
  const backends: HaproxyView["backends"] = {};
  for (const d of Object.values(state.domains)) {
    const name = d.listenPort === null ? `be_${d.id}` : `tcp_${d.id}`;
    const usable = d.servers.filter((s) =>
      s.ready && s.name !== "storefront-5f6d7-klmno" && s.name !== "wikijs-0"
    ).length;
    // HAProxy calls a backend without servers UP; DOWN is one whose servers all fail.
    backends[name] = { status: usable === 0 && d.servers.some((s) => s.ready) ? "DOWN" : "UP", usable };
  }
  return {
    processes: [
      { pid: 812, role: "master", reloads: 14, uptime: "1d02h", version: "2.8.5" },
      { pid: 24117, role: "worker", reloads: 0, uptime: "0d00h04m", version: "2.8.5" },
    ],
    backends,
    readAt: now,
    error: null,
  };
}

/** Runs headless Chromium to screenshot `url` into `out`. */
export async function screenshot(url: string, file: string, size: string = DEFAULT_SIZE): Promise<void> {
  const out = resolve(file);
  await Deno.mkdir(dirname(out), { recursive: true });
  await Deno.remove(out).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const profile = await Deno.makeTempDir({ prefix: "haconfd-chromium-" });
  try {
    const command = new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        `--screenshot=${out}`,
        `--window-size=${size}`,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(CHROMIUM_TIMEOUT_MS),
    });
    const result = await command.output();
    if (!result.success) {
      const stderr = new TextDecoder().decode(result.stderr).trim().split("\n").slice(-5).join("\n");
      throw new Error(`Chromium failed with code ${result.code}: ${stderr}`);
    }
    const info = await Deno.stat(out);
    if (info.size === 0) throw new Error(`Chromium wrote an empty screenshot "${out}"`);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string", default: DEFAULT_OUT },
      token: { type: "string" },
      size: { type: "string", default: DEFAULT_SIZE },
    },
    allowPositionals: true,
  });
  const out = args.values.out;
  const target = args.positionals[0];
  if (target !== undefined) {
    const url = new URL(target);
    if (args.values.token !== undefined) {
      url.username = "haconfd";
      url.password = args.values.token;
    }
    await screenshot(url.href, out, args.values.size);
    // deno-lint-ignore no-console
    console.log(`Wrote ${out} from ${target}`);
    return;
  }
  const now = Date.now();
  const state = demoState(now);
  const haproxy = demoHaproxy(state, now);
  const app = createStatusApp(() => state, {
    metrics: createMetrics(),
    exposeConfig: true,
    node: "lb-1.example.com",
    readConfig: () => Promise.resolve("# demo\n"),
    readHaproxy: () => Promise.resolve(haproxy),
  });
  const server = startStatusServer(app, "127.0.0.1:0");
  try {
    await screenshot(server.url, out, args.values.size);
    // deno-lint-ignore no-console
    console.log(`Wrote ${out} from the demo state served at ${server.url}`);
  } finally {
    await server.close();
  }
}

if (import.meta.main) await main();
