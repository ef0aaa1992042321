/**
 * End-to-end: `haconfd run` as a subprocess against the fake Kubernetes API server (plain HTTP), with a
 * real managed HAProxy and real backends on 127.0.0.x. Traffic goes through HAProxy's frontends only.
 * Failure paths (bad config, API outage, failing reload) are in e2e_failures_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Backend,
  httpGet,
  keepAliveClient,
  startHttpBackend,
  startRedisBackend,
  startTlsBackend,
  tcpRoundTrip,
  tlsHandshake,
} from "../lib/demo/backends.ts";
import {
  endpoints,
  type LogLine,
  pidAlive,
  reloadsTotal,
  runOnce,
  seenBackends,
  startDaemonProcess,
  startHttpBackends,
  startKube,
  waitForBackends,
} from "./support/daemon.ts";
import { freePort, haproxyAvailable, waitFor } from "./support/haproxy.ts";
import type { JsonObject } from "../lib/demo/kube_server.ts";
import { run as runCommand } from "./support/process.ts";

const ignore = !haproxyAvailable();

/** A change reached HAProxy: by a reload, or through the Runtime API (servers only). */
const applied = (l: { msg?: unknown }) =>
  l.msg === "haproxy reloaded" || l.msg === "config installed, servers changed without a reload";

Deno.test({
  name: "haconfd run routes Host grafana.example.test to its endpoints as they scale, and drops the route",
  ignore,
  async fn() {
    const { backends, port } = await startHttpBackends(["grafana-1", "grafana-2", "grafana-3"]);
    await using wiki = await startHttpBackend("wiki", { hostname: "127.0.0.5" });
    const [g1, g2, g3] = backends as [Backend, Backend, Backend];
    const grafana = (ips: string[], annotated = true) =>
      endpoints("grafana", annotated ? { domain: "grafana.example.test", proto: "http" } : {}, ips, port);
    await using kube = await startKube([
      grafana([g1.hostname]),
      // Two more domains, so dropping grafana's stays under the shrink guard's 50 %.
      endpoints("wiki", { domain: "wiki.example.test", proto: "http" }, [wiki.hostname], wiki.port),
      endpoints("chat", { domain: "chat.example.test", proto: "http" }, [wiki.hostname], wiki.port),
    ]);
    try {
      await using daemon = await startDaemonProcess({ apiServer: kube.url });
      const http = daemon.ports.http;

      const first = await httpGet(http, "grafana.example.test", "/dashboards");
      assert.equal(first.status, 200);
      assert.equal(first.headers["x-backend"], "grafana-1");
      assert.equal(first.headers["x-path"], "/dashboards");
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 6), ["grafana-1"]);

      // Scale up: 1 → 3 addresses, every one answers (round robin).
      let from = daemon.logs().length;
      kube.upsert("endpoints", grafana([g1.hostname, g2.hostname, g3.hostname]));
      await daemon.waitForLog(applied, { from });
      await waitForBackends(http, "grafana.example.test", ["grafana-1", "grafana-2", "grafana-3"], 9);

      // Scale down: 3 → 1, another address than the first.
      from = daemon.logs().length;
      kube.upsert("endpoints", grafana([g3.hostname]));
      await daemon.waitForLog(applied, { from });
      await waitForBackends(http, "grafana.example.test", ["grafana-3"], 6);
      assert.ok(g1.hits > 0 && g2.hits > 0, "the earlier backends answered before the scale-down");

      // The annotation goes: the route goes, the other domains stay.
      kube.upsert("endpoints", grafana([g3.hostname], false));
      const gone = await waitFor(async () => {
        const answer = await httpGet(http, "grafana.example.test");
        return answer.status === 404 ? answer : undefined;
      }, { what: "grafana's route to go" });
      assert.match(gone.body, /no route for this host/);
      assert.equal((await httpGet(http, "wiki.example.test")).headers["x-backend"], "wiki");
      assert.equal((await daemon.waitReady()).trim(), "the installed config is the last one rendered");

      const status = await daemon.stop();
      assert.equal(status.code, 0);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "haconfd run passes TLS with SNI dashboard.example.test through to the dashboard backend",
  ignore,
  async fn() {
    await using dashboard = await startTlsBackend("dashboard-backend", { hostname: "127.0.0.2" });
    await using kube = await startKube([
      endpoints(
        "dashboard",
        { domain: "dashboard.example.test", proto: "https" },
        [dashboard.hostname],
        dashboard.port,
      ),
    ]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });

    const peer = await tlsHandshake(daemon.ports.https, "dashboard.example.test");
    assert.equal(peer.cn, "dashboard-backend");
    assert.equal(peer.altNames, "DNS:dashboard-backend");
    assert.equal(dashboard.hits, 0, "a handshake alone sends no request");
    // An SNI no object claims has no backend: HAProxy closes the connection, no handshake completes.
    await assert.rejects(tlsHandshake(daemon.ports.https, "unknown.example.test", { timeoutMs: 3_000 }));
    assert.equal((await daemon.stop()).code, 0);
  },
});

Deno.test({
  name: "haconfd run forwards a redis client on the haconfd.io/listen-port port to its backend",
  ignore,
  async fn() {
    await using redis = await startRedisBackend("redis-a", { hostname: "127.0.0.3" });
    const listen = freePort();
    await using kube = await startKube([
      endpoints(
        "redis",
        {
          domain: "redis.example.test",
          proto: "redis",
          "haconfd.io/listen-port": String(listen),
        },
        [redis.hostname],
        redis.port,
      ),
    ]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });

    const reply = await tcpRoundTrip(listen, "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nNAME\r\n");
    assert.equal(reply, "+PONG\r\n+redis-a\r\n");
    assert.equal(redis.hits, 1);
    const installed = await Deno.readTextFile(daemon.configPath);
    assert.match(installed, new RegExp(`bind 127\\.0\\.0\\.1:${listen}\\n`));
    assert.equal((await daemon.stop()).code, 0);
  },
});

for (const path of ["reload", "runtime"] as const) {
  Deno.test({
    name: `haconfd run under endpoint churn loses no request of 20 keep-alive clients (${path} path: ${
      path === "reload" ? "across its reloads" : "no reload, no connection closed"
    })`,
    ignore,
    async fn() {
      const { backends, port } = await startHttpBackends(["churn-1", "churn-2", "churn-3"]);
      const ips = backends.map((b) => b.hostname);
      const names = backends.map((b) => b.name);
      const grafana = (subset: number) =>
        endpoints(
          "grafana",
          { domain: "grafana.example.test", proto: "http" },
          ips.filter((_, i) => (subset & (1 << i)) !== 0),
          port,
        );
      const CHANGES = 200;
      const CLIENTS = 20;
      await using kube = await startKube([grafana(0b111)]);
      try {
        await using daemon = await startDaemonProcess({
          apiServer: kube.url,
          wait: "50ms:500ms",
          args: path === "reload" ? ["--no-runtime-api"] : [],
        });
        const http = daemon.ports.http;
        await waitForBackends(http, "grafana.example.test", names, 9);
        const from = daemon.logs().length;
        const metricsBefore = await reloadsTotal(daemon);

        // 20 clients, each on its own keep-alive connection, until the churn has ended and converged.
        let churning = true;
        const failures: string[] = [];
        let requests = 0;
        const clients = Array.from({ length: CLIENTS }, () => keepAliveClient(http, "grafana.example.test"));
        const running = clients.map(async (client) => {
          while (churning) {
            try {
              const answer = await client.get("/");
              if (answer.status !== 200 || !names.includes(answer.headers["x-backend"] ?? "")) {
                failures.push(
                  `status ${answer.status} from ${answer.headers["x-backend"] ?? "?"}: ${answer.body}`,
                );
              }
            } catch (error) {
              failures.push((error as Error).message);
            }
            requests++;
          }
        });

        // 200 changes: the ready addresses cycle through every non-empty subset of the three backends
        // (paced, not synchronised: nothing below depends on how fast they arrive).
        let last = 0;
        try {
          for (let i = 0; i < CHANGES; i++) {
            last = (i % 7) + 1;
            kube.upsert("endpoints", grafana(last));
            await new Promise((resolve) => setTimeout(resolve, 15));
          }
          const finalNames = names.filter((_, i) => (last & (1 << i)) !== 0);
          await daemon.waitReady();
          await waitForBackends(http, "grafana.example.test", finalNames, 9);
        } finally {
          churning = false;
          await Promise.all(running);
          for (const client of clients) client.close();
        }

        const reloads = daemon.logs().slice(from).filter((l) => l.msg === "haproxy reloaded");
        const connections = clients.reduce((sum, c) => sum + c.connections, 0);
        assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
        if (path === "reload") {
          assert.ok(reloads.length >= 1, "the churn caused no reload");
          assert.ok(
            requests >= CLIENTS * reloads.length,
            `only ${requests} requests for ${reloads.length} reloads: the clients did not straddle them`,
          );
          assert.ok(
            connections > CLIENTS,
            `the reloads closed no keep-alive connection (${connections} connections for ${CLIENTS} clients)`,
          );
        } else {
          assert.equal(reloads.length, 0, "server changes go through the Runtime API");
          assert.ok(daemon.logs().slice(from).some(applied), "the churn reached HAProxy");
          assert.equal(connections, CLIENTS, "no keep-alive connection was closed");
        }
        // The metric agrees with the log (it is counted just after the log line: wait for it to catch up).
        let counted = 0;
        await waitFor(async () => {
          counted = (await reloadsTotal(daemon)) - metricsBefore;
          return counted === daemon.logs().slice(from).filter((l) => l.msg === "haproxy reloaded").length;
        }, { what: "haconfd_reloads_total to agree with the log" }).catch((error) => {
          throw new Error(`${(error as Error).message}: metric ${counted}, log ${reloads.length}`);
        });
        assert.equal((await daemon.stop()).code, 0);
      } finally {
        await Promise.all(backends.map((b) => b.close()));
      }
    },
  });
}

Deno.test({
  name: "haconfd run stops its managed HAProxy on SIGTERM and logs nothing at error level",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    await using kube = await startKube([
      endpoints("web", { domain: "web.example.test", proto: "http" }, [web.hostname], web.port),
    ]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });
    const pid = daemon.haproxyPid();
    assert.ok(pid !== undefined, 'no "haproxy started" log line');
    const running = await daemon.haproxyProcesses();
    assert.ok(running.includes(pid), `master ${pid} not among ${running.join(", ")}`);
    assert.ok(running.length >= 2, "a master and at least one worker");
    assert.equal((await httpGet(daemon.ports.http, "web.example.test")).headers["x-backend"], "web");

    daemon.kill("SIGTERM");
    const status = await daemon.exited;
    assert.equal(status.code, 0);
    assert.equal(await pidAlive(pid), false, `HAProxy master ${pid} outlived haconfd`);
    assert.deepEqual(await daemon.haproxyProcesses(), [], "no worker outlived haconfd either");
    assert.ok(daemon.logsWith("stopping").length === 1);
    assert.ok(daemon.logsWith("haproxy stopped").some((l) => l.pid === pid));
    await assert.rejects(httpGet(daemon.ports.http, "web.example.test", "/", { timeoutMs: 2_000 }));
    await daemon.stop(); // every line read
    const lines = daemon.logs();
    assert.ok(
      lines.some((l) => /Current worker \(\d+\) exited with code 143/.test(String(l.msg))),
      "HAProxy said it",
    );
    assert.deepEqual(lines.filter((l) => l.level === "error"), [], "a clean stop is no error");
  },
});

Deno.test({
  name: "haconfd run --haproxy-run logs a backend left without servers as a warning naming the domain",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    const annotations = { domain: "web.example.test", proto: "http" };
    await using kube = await startKube([endpoints("web", annotations, [web.hostname], web.port)]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });
    await daemon.waitReady();
    // Its only pod goes not ready: the route stays, with no server (HAProxy answers 503).
    const notReady = endpoints("web", annotations, [], web.port);
    (notReady.subsets as JsonObject[])[0]!.notReadyAddresses = [{ ip: web.hostname }];
    const from = daemon.logs().length;
    kube.upsert("endpoints", notReady);
    const line = await daemon.waitForLog((l) => /has no server available!/.test(String(l.msg)), {
      from,
      timeoutMs: 15_000,
    });
    // The pass ends before the stop: a stop during its read-back is another matter.
    await daemon.waitForLog(applied, { from, timeoutMs: 15_000 });
    assert.equal(line.level, "warn", JSON.stringify(line));
    assert.equal(line.domain, "web.example.test", JSON.stringify(line));
    assert.match(String(line.backend), /^be_web_example_test_\w+$/);
    await daemon.stop();
    assert.deepEqual(daemon.logs().filter((l) => l.level === "error"), [], "nothing at error level");
  },
});

/** One of HAProxy's lines about `server` of web.example.test's backend, matching `what`. */
const serverLine = (server: string, what: RegExp) => (l: LogLine) =>
  String(l.msg).includes(`Server be_web_example_test_`) && String(l.msg).includes(`/${server} `) &&
  what.test(String(l.msg));

Deno.test({
  name: "haconfd run --haproxy-run logs the server changes it applies at info, a failing check as a warning",
  ignore,
  async fn() {
    const { backends, port } = await startHttpBackends(["web-1", "web-2"]);
    const [w1, w2] = backends as [Backend, Backend];
    // Nothing listens on the backends' port there: its check is refused.
    const failing = "127.0.0.9";
    const annotations = { domain: "web.example.test", proto: "http", "haconfd.io/check-interval": "100ms" };
    const web = (ips: string[]) => endpoints("web", annotations, ips, port);
    try {
      await using kube = await startKube([web([w1.hostname])]);
      await using daemon = await startDaemonProcess({ apiServer: kube.url });
      await daemon.waitReady();
      const http = daemon.ports.http;
      const named = (l: LogLine) => `${l.level} ${String(l.msg)} (${String(l.domain)}, ${String(l.server)})`;

      // A pod added, then removed: `add server` + `state ready`, then `state maint` + `del server`.
      const from = daemon.logs().length;
      kube.upsert("endpoints", web([w1.hostname, w2.hostname]));
      const up = await daemon.waitForLog(serverLine(w2.hostname, /leaving forced maintenance/), { from });
      await waitForBackends(http, "web.example.test", ["web-1", "web-2"], 6);
      kube.upsert("endpoints", web([w1.hostname]));
      const down = await daemon.waitForLog(serverLine(w2.hostname, /going DOWN for maintenance/), { from });
      await waitForBackends(http, "web.example.test", ["web-1"], 6);
      for (const line of [up, down]) {
        assert.equal(line.level, "info", named(line));
        assert.equal(line.domain, "web.example.test", named(line));
        assert.equal(line.server, w2.hostname, named(line));
      }
      const changes = daemon.logs().slice(from);
      assert.deepEqual(changes.filter((l) => l.msg === "haproxy reloaded").map(named), [], "no reload");
      assert.deepEqual(changes.filter((l) => l.level === "warn" || l.level === "error").map(named), []);

      // A pod whose check fails: HAProxy takes it DOWN on its own.
      const next = daemon.logs().length;
      kube.upsert("endpoints", web([w1.hostname, failing]));
      const failed = await daemon.waitForLog(serverLine(failing, /is DOWN, reason: Layer4/), {
        from: next,
        timeoutMs: 15_000,
      });
      assert.equal(failed.level, "warn", named(failed));
      assert.equal(failed.domain, "web.example.test", named(failed));
      assert.equal(failed.server, failing, named(failed));
      await daemon.stop();
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "haconfd run --haproxy-run killed with SIGKILL leaves no HAProxy process, and its ports free",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    const route = (domain: string) =>
      endpoints(domain.split(".")[0]!, { domain, proto: "http" }, [web.hostname], web.port);
    await using kube = await startKube([route("web.example.test")]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });
    // A reload first: the master re-execs itself, and must still die with haconfd afterwards.
    const from = daemon.logs().length;
    kube.upsert("endpoints", route("other.example.test"));
    await daemon.waitForLog((l) => l.msg === "haproxy reloaded", { from });
    const running = await daemon.haproxyProcesses();
    assert.ok(running.length >= 2, `a master and a worker: ${running.join(", ")}`);

    daemon.kill("SIGKILL");
    assert.equal((await daemon.exited).signal, "SIGKILL");
    try {
      await waitFor(async () => (await daemon.haproxyProcesses()).length === 0, {
        timeoutMs: 5_000,
        what: `HAProxy processes ${running.join(", ")} to die with haconfd`,
      });
    } catch (error) {
      // Left running they would hold the daemon's output pipes, and the test would hang instead of failing.
      for (const pid of await daemon.haproxyProcesses()) Deno.kill(pid, "SIGKILL");
      throw error;
    }
    for (const pid of running) assert.equal(await pidAlive(pid), false, `pid ${pid}`);
    for (const port of [daemon.ports.http, daemon.ports.https]) {
      Deno.listen({ hostname: "127.0.0.1", port }).close(); // throws AddrInUse while a HAProxy holds it
    }
  },
});

Deno.test({
  name: "haconfd run --once installs a checked config, reloads once and exits 0",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    await using kube = await startKube([
      endpoints("grafana", { domain: "grafana.example.test", proto: "http" }, [web.hostname], web.port),
    ]);
    const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-once-" });
    try {
      const conf = join(dir, "haproxy.cfg");
      const marker = join(dir, "reloaded");
      const run = await runOnce({
        apiServer: kube.url,
        haproxyConf: conf,
        args: ["--haproxy-reload-cmd", `sh -c 'echo once >> "${marker}"'`],
      });
      assert.equal(run.code, 0, JSON.stringify(run.logs));
      const done = run.logs.find((l) => l.msg === "done");
      assert.equal(done?.outcome, "applied");
      assert.equal(await Deno.readTextFile(marker), "once\n", "the reload command ran exactly once");
      const installed = await Deno.readTextFile(conf);
      const hostsMap = join(dir, "haconfd-hosts.map");
      assert.ok(installed.includes(`map_str(${hostsMap},no_route)`), "the config names the map beside it");
      const id = /^grafana\.example\.test (grafana_example_test_\w+)$/m.exec(
        await Deno.readTextFile(hostsMap),
      );
      assert.ok(id !== null, "the hosts map routes the domain");
      assert.match(installed, new RegExp(`^backend be_${id[1]}$`, "m"));
      assert.match(installed, new RegExp(`server 127\\.0\\.0\\.2 127\\.0\\.0\\.2:${web.port} check`));
      const check = await runCommand("haproxy", ["-c", "-f", conf]);
      assert.equal(check.code, 0, check.stderr);
      assert.deepEqual((await listDir(dir)).sort(), [
        "haconfd-hosts.map",
        "haconfd-redirect.map",
        "haconfd-sni.map",
        "haconfd-tls.map",
        "haproxy.cfg",
        "reloaded",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "haconfd run --dry-run prints the diff and writes and reloads nothing",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    const grafana = (ip: string) =>
      endpoints("grafana", { domain: "grafana.example.test", proto: "http" }, [ip], web.port);
    await using kube = await startKube([grafana("127.0.0.2")]);
    const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-dry-" });
    try {
      const conf = join(dir, "haproxy.cfg");
      const marker = join(dir, "reloaded");
      const reload = ["--haproxy-reload-cmd", `sh -c 'echo reload >> "${marker}"'`];
      assert.equal((await runOnce({ apiServer: kube.url, haproxyConf: conf, args: reload })).code, 0);
      const before = await Deno.readTextFile(conf);
      const mtime = (await Deno.stat(conf)).mtime;
      await Deno.remove(marker);

      kube.upsert("endpoints", grafana("127.0.0.3"));
      const run = await runOnce({ apiServer: kube.url, haproxyConf: conf, args: ["--dry-run", ...reload] });
      assert.equal(run.code, 0, JSON.stringify(run.logs));
      assert.equal(run.logs.find((l) => l.msg === "done")?.outcome, "dry-run");
      const diff = run.stdout;
      assert.match(diff, new RegExp(`^--- ${conf.replaceAll(".", "\\.")}\\tinstalled$`, "m"));
      assert.match(diff, new RegExp(`^-    server 127\\.0\\.0\\.2 127\\.0\\.0\\.2:${web.port} check$`, "m"));
      assert.match(
        diff,
        new RegExp(`^\\+    server 127\\.0\\.0\\.3 127\\.0\\.0\\.3:${web.port} check$`, "m"),
      );
      assert.equal(await Deno.readTextFile(conf), before);
      assert.deepEqual((await Deno.stat(conf)).mtime, mtime);
      assert.deepEqual(
        (await listDir(dir)).sort(),
        ["haconfd-hosts.map", "haconfd-redirect.map", "haconfd-sni.map", "haconfd-tls.map", "haproxy.cfg"],
        "no reload, no staged or rejected file",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names;
}
