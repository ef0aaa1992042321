/**
 * End-to-end tests of the status endpoint: `haconfd run` as a subprocess against the fake Kubernetes API
 * server, with a real managed HAProxy (`--haproxy-run`) and real backends on 127.0.0.x. Every route is
 * asked over HTTP while the cluster changes: /healthz, /readyz, /status, /metrics (parsed with
 * parse-prometheus-text-format), the page `/` and `/config`, and the loopback-or-token rule.
 *
 * The daemons run with `--template-dir` holding a copy of the default templates whose health checks are
 * fast (so a stopped backend turns DOWN in about a second, not six), plus one template that breaks the
 * config when a domain named `break.example.test` exists.
 *
 * The last test ("/readyz stays 200 while a change is checked and reloaded") guards against readiness
 * flapping to 503 during every successful apply; it needs /tmp/status-fixes/loop-readiness-during-pass.patch
 * (lib/daemon/loop.ts publishes the rendered hash only when the pass ends).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { domainId } from "../lib/model/model.ts";
import { sha256Hex } from "../lib/hash.ts";
import { VERSION } from "../lib/version.ts";
import { type Backend, httpGet, startHttpBackend } from "../lib/demo/backends.ts";
import {
  type DaemonProcess,
  endpoints,
  NAMESPACE,
  processesNaming,
  runHaconfd,
  startDaemonProcess,
  startHttpBackends,
  startKube,
} from "./support/daemon.ts";
import { freePort, haproxyAvailable, waitFor } from "./support/haproxy.ts";
import type { KubeServer } from "../lib/demo/kube_server.ts";
import { familiesByName, type Family, findSample, parsePrometheus } from "./support/prometheus.ts";

const ignore = !haproxyAvailable();

/** The default templates in the repository, copied into each test's template dir. */
const TEMPLATES = new URL("../templates/", import.meta.url);
/** The health-check line of the default templates, and its fast replacement for these tests. */
const DEFAULT_SERVER = /^(\s*)default-server .*$/m;
const FAST_CHECKS = "default-server inter 200ms fastinter 200ms downinter 200ms fall 2 rise 1";
/** The domain whose presence makes the config invalid, and the directive it adds. */
const BREAK_DOMAIN = "break.example.test";
const BOGUS = "bogus-directive";
/** Renders an invalid directive only while {@linkcode BREAK_DOMAIN} is a domain. */
const BREAK_TEMPLATE = `<% if ("${BREAK_DOMAIN}" in it.domains) { -%>
${BOGUS} on
<% } -%>
`;
const TOKEN = "status-token-0123456789abcdef";
const READY_TEXT = "the installed config is the last one rendered";

/** A parsed scrape: families by name. */
type Scrape = Map<string, Family>;

/** The `/status` document, as far as these tests read it. */
interface StatusDoc {
  version: string;
  healthy: { ok: boolean; reason: string };
  ready: { ok: boolean; reason: string };
  source: {
    kind: string;
    endpoint: string;
    resource: string;
    synced: boolean;
    fullSyncs: number;
    events: Record<string, number>;
    lastError: string | null;
  };
  counts: { objects: number; domains: number; servers: { ready: number; notReady: number }; skipped: number };
  config: { path: string; installedHash: string | null; renderedHash: string | null; current: boolean };
  reloadMode: string;
  lastApply: { outcome: string; detail: string; errors: string[] } | null;
  applies: { outcome: string; detail: string }[];
  lastCheck: { outcome: string; errors: string[] } | null;
  lastReload: { outcome: string; detail: string } | null;
  domains: Record<string, { proto: string; port: number; object: string; id: string }>;
  haproxy: {
    processes: { pid: number; role: string }[];
    backends: Record<string, number>;
    usableServers: number;
    error: string | null;
  } | null;
}

/**
 * A template dir: the repository's `templates/*.eta` with fast health checks, plus `90-break.eta`.
 * Removed by the caller.
 */
async function makeTemplateDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-status-e2e-templates-" });
  try {
    let copied = 0;
    let fast = false;
    for await (const entry of Deno.readDir(TEMPLATES)) {
      if (!entry.isFile || !entry.name.endsWith(".eta")) continue;
      let text = await Deno.readTextFile(new URL(entry.name, TEMPLATES));
      if (DEFAULT_SERVER.test(text)) {
        text = text.replace(DEFAULT_SERVER, `$1${FAST_CHECKS}`);
        fast = true;
      }
      await Deno.writeTextFile(join(dir, entry.name), text);
      copied++;
    }
    assert.ok(copied >= 4, `only ${copied} templates in ${TEMPLATES.pathname}`);
    assert.ok(fast, "no default-server line in the default templates to speed the health checks up");
    await Deno.writeTextFile(join(dir, "90-break.eta"), BREAK_TEMPLATE);
    return dir;
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** A fetch client without connection reuse, so no socket outlives a test. */
function statusClient(): Deno.HttpClient {
  return Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

async function request(
  client: Deno.HttpClient,
  daemon: DaemonProcess,
  path: string,
  token?: string,
): Promise<Answer> {
  const headers: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  const res = await fetch(`${daemon.statusUrl}${path}`, {
    client,
    headers,
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function statusOf(client: Deno.HttpClient, daemon: DaemonProcess, token?: string): Promise<StatusDoc> {
  const answer = await request(client, daemon, "/status", token);
  assert.equal(answer.status, 200, `GET /status: ${answer.body}`);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
  return JSON.parse(answer.body) as StatusDoc;
}

/** GET /metrics, check the exposition content type, parse it (a parse error fails the test). */
async function scrape(client: Deno.HttpClient, daemon: DaemonProcess, token?: string): Promise<Scrape> {
  const answer = await request(client, daemon, "/metrics", token);
  assert.equal(answer.status, 200, `GET /metrics: ${answer.body}`);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheus(answer.body);
  assert.ok(families.length > 10, `only ${families.length} metric families`);
  for (const family of families) {
    assert.ok(family.name.startsWith("haconfd_"), `unexpected family ${family.name}`);
    assert.notEqual(family.help, "", `${family.name} has no help`);
  }
  return familiesByName(families);
}

/** The value of the sample of `name` with exactly `labels`. */
function metric(families: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  assert.ok(family, `no metric family ${name}`);
  const sample = findSample(family, labels);
  assert.ok(sample?.value !== undefined, `no sample ${name}${JSON.stringify(labels)}`);
  return Number(sample.value);
}

/** The sum of every sample of `name` (a counter with labels). */
function total(families: Scrape, name: string): number {
  const family = families.get(name);
  assert.ok(family, `no metric family ${name}`);
  return family.metrics.reduce((n, m) => n + Number(m.value ?? 0), 0);
}

/** Polls /status until `check` returns true; resolves with that document. */
async function waitForStatus(
  client: Deno.HttpClient,
  daemon: DaemonProcess,
  what: string,
  check: (doc: StatusDoc) => boolean,
  timeoutMs = 10_000,
): Promise<StatusDoc> {
  let last: StatusDoc | undefined;
  try {
    return await waitFor(async () => {
      last = await statusOf(client, daemon);
      return check(last) ? last : undefined;
    }, { timeoutMs, what });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last /status: ${JSON.stringify(last)}`, { cause: error });
  }
}

/** The servers HAProxy reports for `domain`'s backend (`be_<id>`), from `/status/domains/NAME`. */
async function haproxyServers(
  client: Deno.HttpClient,
  daemon: DaemonProcess,
  domain: string,
): Promise<{ server: string; address: string; status: string }[]> {
  const answer = await request(client, daemon, `/status/domains/${domain}`);
  assert.equal(answer.status, 200, `GET /status/domains/${domain}: ${answer.body}`);
  const { haproxy } = JSON.parse(answer.body) as {
    haproxy:
      | { backend: string | null; servers: { server: string; address: string; status: string }[] }
      | null;
  };
  assert.ok(haproxy === null || haproxy.backend === `be_${domainId(domain)}`, JSON.stringify(haproxy));
  return haproxy?.servers ?? [];
}

/** Polls `/status/domains/NAME` of `domains` until `check` holds for their servers together. */
function waitForServers(
  client: Deno.HttpClient,
  daemon: DaemonProcess,
  domains: string[],
  what: string,
  check: (servers: { server: string; address: string; status: string }[]) => boolean,
): Promise<{ server: string; address: string; status: string }[]> {
  return waitFor(async () => {
    const servers = (await Promise.all(domains.map((d) => haproxyServers(client, daemon, d)))).flat();
    return check(servers) ? servers : undefined;
  }, { what });
}

/** What every test needs: the test templates and a status client, both released by `stack`. */
async function testKit(stack: AsyncDisposableStack): Promise<{ templates: string; client: Deno.HttpClient }> {
  const templates = await makeTemplateDir();
  stack.defer(() => Deno.remove(templates, { recursive: true }));
  const client = stack.adopt(statusClient(), (c) => c.close());
  return { templates, client };
}

/** Starts a daemon with the test templates (and `args`) against `kube`. */
function startDaemon(kubeUrl: string, templateDir: string, args: string[] = []): Promise<DaemonProcess> {
  return startDaemonProcess({ apiServer: kubeUrl, args: ["--template-dir", templateDir, ...args] });
}

/**
 * The fixture most tests share: backend `web` on 127.0.0.2, the fake API listing it as Endpoints `web`
 * for `web.example.test`, and a daemon on it with the test templates (and `args`); all three released
 * by `stack`, the daemon first.
 */
async function startWebDaemon(
  stack: AsyncDisposableStack,
  templateDir: string,
  args: string[] = [],
): Promise<{ web: Backend; kube: KubeServer; daemon: DaemonProcess }> {
  const web = stack.use(await startHttpBackend("web", { hostname: "127.0.0.2" }));
  const kube = stack.use(
    await startKube([
      endpoints("web", { domain: "web.example.test", proto: "http" }, [web.hostname], web.port),
    ]),
  );
  const daemon = stack.use(await startDaemon(kube.url, templateDir, args));
  return { web, kube, daemon };
}

Deno.test({
  name: "haconfd run serves /healthz, /readyz and /status with the source, config and HAProxy's own view",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { backends, port } = await startHttpBackends(["web-1", "web-2"]);
    for (const backend of backends) stack.use(backend);
    const [web1, web2] = backends as [Backend, Backend];
    await using kube = await startKube([
      endpoints("web", { domain: "web.example.test", proto: "http" }, [web1.hostname, web2.hostname], port),
    ]);
    await using daemon = await startDaemon(kube.url, templates);

    const healthz = await request(client, daemon, "/healthz");
    assert.deepEqual([healthz.status, healthz.body], [200, "ok\n"]);
    const readyz = await request(client, daemon, "/readyz");
    assert.deepEqual([readyz.status, readyz.body], [200, `${READY_TEXT}\n`]);

    // Both servers UP in HAProxy's own view (read from the managed HAProxy's master socket).
    const up = await waitForServers(client, daemon, ["web.example.test"], "both servers UP", (servers) => {
      return servers.length === 2 && servers.every((s) => s.status === "UP");
    });
    const doc = await statusOf(client, daemon);
    assert.equal(doc.version, VERSION);
    assert.deepEqual(doc.healthy, { ok: true, reason: "ok" });
    assert.deepEqual(doc.ready, { ok: true, reason: READY_TEXT });
    assert.equal(doc.source.kind, "kube");
    assert.equal(doc.source.endpoint.replace(/\/$/, ""), kube.url);
    assert.equal(doc.source.resource, "endpoints");
    assert.equal(doc.source.synced, true);
    assert.equal(doc.source.lastError, null);
    assert.ok(doc.source.fullSyncs >= 1);
    assert.deepEqual(doc.counts, {
      objects: 1,
      domains: 1,
      servers: { ready: 2, notReady: 0 },
      skipped: 0,
    });
    assert.deepEqual(Object.keys(doc.domains), ["web.example.test"]);
    assert.equal(doc.domains["web.example.test"]?.object, `${NAMESPACE}/web`);
    assert.equal(doc.domains["web.example.test"]?.port, port);

    const installed = await Deno.readTextFile(daemon.configPath);
    assert.equal(doc.config.path, daemon.configPath);
    assert.equal(doc.config.installedHash, sha256Hex(installed));
    assert.equal(doc.config.renderedHash, doc.config.installedHash);
    assert.equal(doc.config.current, true);
    assert.match(installed, new RegExp(FAST_CHECKS));

    assert.equal(doc.reloadMode, "managed");
    assert.equal(doc.lastReload?.outcome, "applied");
    assert.match(doc.lastReload?.detail ?? "", /started HAProxy/);
    // One pass installed the config (any later pass of the first sync found it current).
    assert.deepEqual(doc.applies.filter((a) => a.outcome === "applied").length, 1);
    assert.ok(["applied", "unchanged"].includes(doc.lastApply?.outcome ?? ""), doc.lastApply?.outcome);

    assert.ok(doc.haproxy !== null && doc.haproxy.error === null, JSON.stringify(doc.haproxy));
    const running = await daemon.haproxyProcesses();
    const master = doc.haproxy.processes.filter((p) => p.role === "master");
    const workers = doc.haproxy.processes.filter((p) => p.role === "worker");
    assert.deepEqual(master.map((p) => p.pid), [daemon.haproxyPid()]);
    assert.equal(workers.length, 1);
    for (const p of [...master, ...workers]) assert.ok(running.includes(p.pid), `pid ${p.pid} not running`);
    assert.deepEqual(
      up.map((s) => s.address).sort(),
      [`${web1.hostname}:${port}`, `${web2.hostname}:${port}`],
    );
    assert.deepEqual(doc.haproxy.backends, { UP: 3 }, "web's, be_no_route and be_no_route_tls");
    assert.equal(doc.haproxy.usableServers, 2);

    // A backend goes away: its health checks fail and HAProxy (not the model) marks it DOWN.
    await web2.close();
    const servers = await waitForServers(
      client,
      daemon,
      ["web.example.test"],
      "web-2 DOWN",
      (list) => list.some((s) => s.address === `${web2.hostname}:${port}` && s.status === "DOWN"),
    );
    assert.deepEqual(
      servers.map((s) => [s.address, s.status]).sort(),
      [[`${web1.hostname}:${port}`, "UP"], [`${web2.hostname}:${port}`, "DOWN"]],
    );
    const down = await statusOf(client, daemon);
    assert.deepEqual(down.counts.servers, { ready: 2, notReady: 0 }, "the cluster still lists both");
    assert.equal(down.haproxy?.usableServers, 1, "HAProxy's backend row: one server takes traffic");
    const families = await scrape(client, daemon);
    assert.equal(metric(families, "haconfd_haproxy_servers_usable"), 1);
    assert.equal(metric(families, "haconfd_haproxy_backends", { status: "UP" }), 3);
    assert.equal(metric(families, "haconfd_haproxy_processes"), 2);
    // HAProxy sends the traffic to the live server only.
    for (let i = 0; i < 4; i++) {
      assert.equal((await httpGet(daemon.ports.http, "web.example.test")).headers["x-backend"], "web-1");
    }
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name: "haconfd run /status and /metrics figures follow the cluster as a domain comes and goes",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { kube, daemon } = await startWebDaemon(stack, templates);
    const api = stack.use(await startHttpBackend("api", { hostname: "127.0.0.3" }));
    const apiObject = endpoints(
      "api",
      { domain: "api.example.test", proto: "http" },
      [api.hostname],
      api.port,
    );

    const before = await statusOf(client, daemon);
    const m0 = await scrape(client, daemon);
    assert.equal(before.counts.domains, 1);
    assert.equal(metric(m0, "haconfd_domains"), 1);
    assert.equal(metric(m0, "haconfd_source_objects"), 1);
    assert.equal(metric(m0, "haconfd_ready"), 1);
    assert.equal(metric(m0, "haconfd_source_synced"), 1);
    assert.equal(metric(m0, "haconfd_domains_by_proto", { proto: "http" }), 1);
    assert.equal(metric(m0, "haconfd_servers", { state: "ready" }), 1);
    assert.equal(metric(m0, "haconfd_applies_total", { result: "applied" }), 1);
    assert.equal(metric(m0, "haconfd_reloads_total", { result: "success" }), 1);
    assert.equal(metric(m0, "haconfd_reloads_total", { result: "failure" }), 0);
    assert.equal(total(m0, "haconfd_source_events_total"), 0, "initial objects are listed, not watched");
    assert.equal((await httpGet(daemon.ports.http, "api.example.test")).status, 404);

    // A second annotated Endpoints: one more domain, one more apply, reload and watch event.
    let from = daemon.logs().length;
    kube.upsert("endpoints", apiObject);
    await daemon.waitForLog((l) => l.msg === "haproxy reloaded", { from });
    const added = await waitForStatus(
      client,
      daemon,
      "two domains, ready",
      (d) => d.counts.domains === 2 && d.ready.ok,
    );
    assert.deepEqual(Object.keys(added.domains).sort(), ["api.example.test", "web.example.test"]);
    assert.equal(added.counts.objects, 2);
    assert.deepEqual(added.counts.servers, { ready: 2, notReady: 0 });
    assert.equal(added.config.installedHash, sha256Hex(await Deno.readTextFile(daemon.configPath)));
    assert.notEqual(added.config.installedHash, before.config.installedHash);
    const m1 = await scrape(client, daemon);
    assert.equal(metric(m1, "haconfd_domains"), 2);
    assert.equal(metric(m1, "haconfd_source_objects"), 2);
    assert.equal(metric(m1, "haconfd_domains_by_proto", { proto: "http" }), 2);
    assert.equal(metric(m1, "haconfd_servers", { state: "ready" }), 2);
    assert.ok(
      metric(m1, "haconfd_applies_total", { result: "applied" }) >
        metric(m0, "haconfd_applies_total", { result: "applied" }),
    );
    assert.ok(
      metric(m1, "haconfd_reloads_total", { result: "success" }) >
        metric(m0, "haconfd_reloads_total", { result: "success" }),
    );
    assert.equal(metric(m1, "haconfd_source_events_total", { type: "ADDED" }), 1);
    assert.ok(total(m1, "haconfd_source_events_total") > total(m0, "haconfd_source_events_total"));
    assert.equal(metric(m1, "haconfd_ready"), 1);
    await waitFor(
      async () => (await httpGet(daemon.ports.http, "api.example.test")).headers["x-backend"] === "api",
      {
        what: "api.example.test to be served by api",
      },
    );

    // It goes again (50 % of the domains: within the shrink guard's default).
    from = daemon.logs().length;
    kube.remove("endpoints", NAMESPACE, "api");
    await daemon.waitForLog((l) => l.msg === "haproxy reloaded", { from });
    const removed = await waitForStatus(
      client,
      daemon,
      "one domain, ready",
      (d) => d.counts.domains === 1 && d.ready.ok,
    );
    assert.deepEqual(Object.keys(removed.domains), ["web.example.test"]);
    assert.equal(removed.counts.objects, 1);
    assert.equal(removed.config.installedHash, sha256Hex(await Deno.readTextFile(daemon.configPath)));
    const m2 = await scrape(client, daemon);
    assert.equal(metric(m2, "haconfd_domains"), 1);
    assert.equal(metric(m2, "haconfd_source_objects"), 1);
    assert.equal(metric(m2, "haconfd_servers", { state: "ready" }), 1);
    assert.ok(
      metric(m2, "haconfd_applies_total", { result: "applied" }) >
        metric(m1, "haconfd_applies_total", { result: "applied" }),
    );
    assert.ok(
      metric(m2, "haconfd_reloads_total", { result: "success" }) >
        metric(m1, "haconfd_reloads_total", { result: "success" }),
    );
    assert.equal(metric(m2, "haconfd_source_events_total", { type: "DELETED" }), 1);
    assert.ok(total(m2, "haconfd_source_events_total") > total(m1, "haconfd_source_events_total"));
    // The log and the metric agree on the reloads (the first one started HAProxy).
    assert.equal(
      metric(m2, "haconfd_reloads_total", { result: "success" }),
      daemon.logsWith("haproxy reloaded").length,
    );
    // The old worker may still take a last connection: poll until the route is gone.
    await waitFor(async () => (await httpGet(daemon.ports.http, "api.example.test")).status === 404, {
      what: "api.example.test's route to go",
    });
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name: "haconfd run /readyz turns 503 when the check rejects a config and 200 once the cluster recovers",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { web, kube, daemon } = await startWebDaemon(stack, templates);
    const good = await Deno.readTextFile(daemon.configPath);
    assert.ok(!good.includes(BOGUS));
    const pid = daemon.haproxyPid();
    const m0 = await scrape(client, daemon);

    // An object whose domain makes the template emit an invalid directive: the check fails.
    kube.upsert(
      "endpoints",
      endpoints("break", { domain: BREAK_DOMAIN, proto: "http" }, [web.hostname], web.port),
    );
    const reason = await waitFor(async () => {
      const answer = await request(client, daemon, "/readyz");
      return answer.status === 503 && answer.body.startsWith("last apply check-failed")
        ? answer.body
        : undefined;
    }, { timeoutMs: 10_000, what: "/readyz to answer 503 for the failed check" });
    assert.match(reason, /^last apply check-failed: the check rejected the config; installed config kept/);
    const healthz = await request(client, daemon, "/healthz");
    assert.equal(healthz.status, 200, "a failed apply is not a dead loop");

    const failed = await statusOf(client, daemon);
    assert.equal(failed.ready.ok, false);
    assert.equal(failed.ready.reason, reason.trim());
    assert.equal(failed.lastApply?.outcome, "check-failed");
    assert.equal(failed.lastCheck?.outcome, "check-failed");
    assert.ok(
      failed.lastApply.errors.some((line) => line.includes(BOGUS)),
      `no check error names ${BOGUS}: ${JSON.stringify(failed.lastApply.errors)}`,
    );
    assert.equal(failed.config.current, false);
    assert.notEqual(failed.config.renderedHash, failed.config.installedHash);
    // The installed file and the running HAProxy are the old ones.
    assert.equal(await Deno.readTextFile(daemon.configPath), good);
    assert.equal(failed.config.installedHash, sha256Hex(good));
    assert.equal(daemon.haproxyPid(), pid);
    const m1 = await scrape(client, daemon);
    assert.equal(metric(m1, "haconfd_ready"), 0);
    assert.equal(metric(m1, "haconfd_applies_total", { result: "check-failed" }), 1);
    assert.equal(
      metric(m1, "haconfd_reloads_total", { result: "success" }),
      metric(m0, "haconfd_reloads_total", { result: "success" }),
      "no reload for a rejected config",
    );
    const served = await httpGet(daemon.ports.http, "web.example.test");
    assert.deepEqual([served.status, served.headers["x-backend"]], [200, "web"]);
    assert.equal(
      (await httpGet(daemon.ports.http, BREAK_DOMAIN)).status,
      404,
      "the rejected route is not live",
    );

    // The object goes: the rendered config is the installed one again, so ready again without a reload.
    kube.remove("endpoints", NAMESPACE, "break");
    assert.equal((await daemon.waitReady({ want: 200, timeoutMs: 10_000 })).trim(), READY_TEXT);
    const recovered = await statusOf(client, daemon);
    assert.deepEqual(recovered.ready, { ok: true, reason: READY_TEXT });
    assert.equal(recovered.lastApply?.outcome, "unchanged");
    assert.equal(recovered.config.current, true);
    assert.equal(recovered.config.installedHash, sha256Hex(good));
    const m2 = await scrape(client, daemon);
    assert.equal(metric(m2, "haconfd_ready"), 1);
    assert.equal(
      metric(m2, "haconfd_reloads_total", { result: "success" }),
      metric(m0, "haconfd_reloads_total", { result: "success" }),
    );
    assert.equal((await httpGet(daemon.ports.http, "web.example.test")).headers["x-backend"], "web");
    assert.equal((await daemon.stop()).code, 0);
  },
});

/** The domain names the page lists, in page order. */
function pageDomains(html: string): string[] {
  return [...html.matchAll(/<span class="domain">([^<]*)<\/span>/g)].map((m) => m[1] ?? "");
}

Deno.test({
  name: "haconfd run serves the HTML page listing the domains, and /config only with --status-expose-config",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { backends, port } = await startHttpBackends(["web-1", "web-2"]);
    for (const backend of backends) stack.use(backend);
    const api = stack.use(await startHttpBackend("api", { hostname: "127.0.0.4" }));
    await using kube = await startKube([
      endpoints(
        "web",
        { domain: "web.example.test", proto: "http" },
        backends.map((b) => b.hostname),
        port,
      ),
      endpoints("api", { domain: "api.example.test", proto: "http" }, [api.hostname], api.port),
    ]);
    {
      await using daemon = await startDaemon(kube.url, templates);
      await waitForServers(
        client,
        daemon,
        ["web.example.test", "api.example.test"],
        "three servers UP",
        (servers) => servers.filter((s) => s.status === "UP").length === 3,
      );
      const page = await request(client, daemon, "/");
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.deepEqual(pageDomains(page.body), ["api.example.test", "web.example.test"]);
      assert.match(page.body, /<h2>Domains <span class="count">2<\/span><\/h2>/);
      assert.match(page.body, new RegExp(`<div class="sub">${NAMESPACE}/web</div>`));
      assert.match(page.body, />2\/2 up</, "web's servers, UP as HAProxy reports them");
      assert.match(page.body, />1\/1 up</);
      assert.ok(page.body.includes(`${backends[1]?.hostname}:${port}`));
      assert.ok(!page.body.includes('href="config"'), "no link to /config while it is off");

      const config = await request(client, daemon, "/config");
      assert.equal(config.status, 404);
      assert.match(config.body, /\/config is off \(start haconfd with --status-expose-config\)/);
      assert.ok(!config.body.includes("backend"), "nothing of the config leaks");
      assert.equal((await daemon.stop()).code, 0);
    }
    {
      await using daemon = await startDaemon(kube.url, templates, ["--status-expose-config"]);
      const config = await request(client, daemon, "/config");
      assert.equal(config.status, 200);
      assert.match(config.headers.get("content-type") ?? "", /^text\/plain/);
      const installed = await Deno.readTextFile(daemon.configPath);
      assert.equal(config.body, installed);
      assert.match(config.body, new RegExp(`backend be_${domainId("api.example.test")}\\n`));
      const page = await request(client, daemon, "/");
      assert.ok(page.body.includes('href="config"'), "the page links /config");
      assert.equal((await daemon.stop()).code, 0);
    }
  },
});

/** Every status route: whether it needs the token. */
const GUARDED = ["/status", "/metrics", "/", "/config"];
const OPEN = ["/healthz", "/readyz"];

/** The token rule against a running daemon: guarded routes 401 without or with a wrong token. */
async function assertTokenRule(client: Deno.HttpClient, daemon: DaemonProcess, token: string): Promise<void> {
  for (const path of GUARDED) {
    for (const given of [undefined, "wrong-token-0123456789", `${token}x`]) {
      const answer = await request(client, daemon, path, given);
      assert.equal(answer.status, 401, `${path} with ${given ?? "no token"}`);
      assert.match(answer.headers.get("www-authenticate") ?? "", /Bearer realm="haconfd"/);
      assert.match(answer.body, /^Unauthorized/);
    }
  }
  for (const path of OPEN) {
    const answer = await request(client, daemon, path);
    assert.equal(answer.status, 200, `${path} stays open: ${answer.body}`);
  }
  const doc = await statusOf(client, daemon, token);
  assert.equal(doc.counts.domains, 1);
  assert.equal(doc.ready.ok, true);
  const families = await scrape(client, daemon, token);
  assert.equal(metric(families, "haconfd_domains"), 1);
  const page = await request(client, daemon, "/", token);
  assert.equal(page.status, 200);
  assert.deepEqual(pageDomains(page.body), ["web.example.test"]);
  // /config is still off: with the token it is the ordinary 404.
  assert.equal((await request(client, daemon, "/config", token)).status, 404);
  // Basic with the token as the password works too (browsers).
  const basic = await fetch(`${daemon.statusUrl}/status`, {
    client,
    headers: { Authorization: `Basic ${btoa(`admin:${token}`)}` },
    signal: AbortSignal.timeout(5_000),
  });
  await basic.body?.cancel();
  assert.equal(basic.status, 200);
  assert.ok(!JSON.stringify(daemon.logs()).includes(token), "the token is not logged");
}

Deno.test({
  name: "haconfd run refuses --status-listen off loopback without a token, before binding anything",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const dir = await Deno.makeTempDir({ prefix: "haconfd-status-e2e-" });
    stack.defer(() => Deno.remove(dir, { recursive: true }));
    await using kube = await startKube([]);
    const configPath = join(dir, "haproxy.cfg");
    const port = freePort();
    const run = await runHaconfd([
      "run",
      "--api-servers",
      kube.url,
      "--haproxy-run",
      "--haproxy-conf",
      configPath,
      "--http-bind",
      `127.0.0.1:${freePort()}`,
      "--https-bind",
      `127.0.0.1:${freePort()}`,
      "--status-listen",
      `0.0.0.0:${port}`,
      "--log-format",
      "json",
    ], 20_000);
    assert.equal(run.code, 2, JSON.stringify(run.logs));
    const text = run.logs.map((l) => String(l.msg)).join("\n");
    assert.match(text, new RegExp(`Invalid --status-listen "0\\.0\\.0\\.0:${port}"`));
    assert.match(text, /requires --status-token or --status-token-file/);
    // Nothing started: no status server, no watch, no config, no HAProxy.
    assert.ok(!text.includes("Status endpoint listening"), text);
    assert.deepEqual(kube.requests.map((r) => r.url), [], "the API was not even asked");
    await assert.rejects(Deno.stat(configPath), Deno.errors.NotFound);
    assert.deepEqual(await processesNaming(`-f ${configPath}`), []);
  },
});

Deno.test({
  name:
    "haconfd run with --status-token guards /status, /metrics, / and /config and leaves /healthz, /readyz open",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { daemon } = await startWebDaemon(stack, templates, ["--status-token", TOKEN]);
    const listening = daemon.logsWith("Status endpoint listening");
    assert.equal(listening.at(-1)?.auth, "token");
    await assertTokenRule(client, daemon, TOKEN);
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name: "haconfd run with --status-token-file reads the token from the file and applies the same rule",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const tokenFile = join(templates, "status-token");
    const token = "file-token-abcdefghijklmnop";
    await Deno.writeTextFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const { daemon } = await startWebDaemon(stack, templates, ["--status-token-file", tokenFile]);
    await assertTokenRule(client, daemon, token);
    // The flag's token is not a fallback: only the file's works.
    assert.equal((await request(client, daemon, "/status", TOKEN)).status, 401);
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name: "haconfd run /readyz stays 200 while a change is checked and reloaded",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const { kube, daemon } = await startWebDaemon(stack, templates);
    const api = stack.use(await startHttpBackend("api", { hostname: "127.0.0.3" }));
    // Poll /readyz without pause from before the change until the change is installed.
    const notReady: string[] = [];
    let polls = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const answer = await request(client, daemon, "/readyz");
        polls++;
        if (answer.status !== 200) notReady.push(`${answer.status} ${answer.body.trim()}`);
      }
    })();
    try {
      const from = daemon.logs().length;
      kube.upsert(
        "endpoints",
        endpoints("api", { domain: "api.example.test", proto: "http" }, [api.hostname], api.port),
      );
      await daemon.waitForLog((l) => l.msg === "haproxy reloaded", { from });
      await waitForStatus(
        client,
        daemon,
        "two domains installed",
        (d) => d.counts.domains === 2 && d.config.current,
      );
    } finally {
      polling = false;
      await poller;
    }
    assert.ok(polls >= 5, `only ${polls} polls of /readyz`);
    assert.equal(
      notReady.length,
      0,
      `${notReady.length} of ${polls} polls were not 200 during a good change: ${
        [...new Set(notReady)].join("; ")
      }`,
    );
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name:
    "haconfd run --haproxy-metrics-bind: HAProxy's exporter answers with every server's lines, haconfd's /metrics with none",
  ignore,
  async fn() {
    await using stack = new AsyncDisposableStack();
    const { templates, client } = await testKit(stack);
    const metricsPort = freePort();
    const { web, daemon } = await startWebDaemon(stack, templates, [
      "--haproxy-metrics-bind",
      `127.0.0.1:${metricsPort}`,
    ]);
    const backend = `be_${domainId("web.example.test")}`;
    const line = new RegExp(
      `^haproxy_server_status\\{proxy="${backend}",server="[^"]+",state="UP"\\} 1$`,
      "m",
    );
    const text = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { client });
      const body = await res.text();
      return res.status === 200 && line.test(body) ? body : undefined;
    }, { what: `HAProxy's exporter on 127.0.0.1:${metricsPort} to list ${backend}'s server UP` });
    const families = familiesByName(parsePrometheus(text));
    const servers = families.get("haproxy_server_status")?.metrics.filter((m) => m.labels?.proxy === backend);
    assert.equal(new Set(servers?.map((m) => m.labels?.server)).size, 1, "web's one server");
    assert.ok(families.has("haproxy_server_current_sessions"), "per-server figures beside the state");
    const other = await fetch(`http://127.0.0.1:${metricsPort}/`, { client });
    assert.deepEqual([other.status, await other.text()], [404, "haconfd: HAProxy's metrics are at /metrics"]);

    const own = await request(client, daemon, "/metrics");
    assert.ok(
      !/^haconfd_[a-z_]+\{[^}]*server=/m.test(own.body),
      "no per-server series in haconfd's /metrics",
    );
    assert.equal(metric(await scrape(client, daemon), "haconfd_haproxy_servers_usable"), 1);
    assert.equal((await httpGet(daemon.ports.http, "web.example.test")).headers["x-backend"], web.name);
    assert.equal((await daemon.stop()).code, 0);
  },
});
