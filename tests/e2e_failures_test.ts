/**
 * End-to-end failure paths of `haconfd run` (a subprocess against the fake Kubernetes API server, real
 * HAProxy, backends on 127.0.0.x): a config HAProxy rejects, an API outage, a reload that fails. Each
 * must leave HAProxy serving the last good config (asserted with traffic), report the failure (/readyz,
 * /status, the log), and recover once the cause goes away.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_TEMPLATES } from "../templates/mod.ts";
import { type Backend, httpGet, startHttpBackend } from "../lib/demo/backends.ts";
import {
  endpoints,
  NAMESPACE,
  runOnce,
  seenBackends,
  startDaemonProcess,
  startHttpBackends,
  startKube,
  waitForBackends,
} from "./support/daemon.ts";
import { BASE_CONFIG, freePort, haproxyAvailable, startHaproxy } from "./support/haproxy.ts";

const ignore = !haproxyAvailable();

/** A directive HAProxy does not know: any config holding it fails `haproxy -c`. */
const BAD_DIRECTIVE = "no-such-haproxy-keyword";

/**
 * The default templates plus `40-extra.eta`, which emits {@linkcode BAD_DIRECTIVE} for every domain
 * whose name starts with `broken` — so an annotation value (`domain: broken.…`) makes the config invalid.
 */
async function templateDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-templates-" });
  for (const [name, text] of Object.entries(DEFAULT_TEMPLATES)) {
    await Deno.writeTextFile(join(dir, name), text);
  }
  await Deno.writeTextFile(
    join(dir, "40-extra.eta"),
    `<% for (const [domain, d] of Object.entries(it.domains)) { -%>\n` +
      `<% if (domain.startsWith("broken")) { -%>\n    ${BAD_DIRECTIVE} <%= d.id %>\n<% } -%>\n<% } -%>\n`,
  );
  return dir;
}

function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) current = (current as Record<string, unknown> | null)?.[key];
  return current;
}

Deno.test({
  name: "haconfd run keeps the last good config serving when HAProxy rejects a new one, and recovers",
  ignore,
  async fn() {
    await using g1 = await startHttpBackend("grafana-1", { hostname: "127.0.0.2" });
    const templates = await templateDir();
    try {
      await using kube = await startKube([
        endpoints("grafana", { domain: "grafana.example.test", proto: "http" }, [g1.hostname], g1.port),
      ]);
      await using daemon = await startDaemonProcess({
        apiServer: kube.url,
        args: ["--template-dir", templates],
      });
      const http = daemon.ports.http;
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);
      const good = await Deno.readTextFile(daemon.configPath);

      // 1. An annotation value the (custom) template turns into an invalid directive.
      let from = daemon.logs().length;
      kube.upsert(
        "endpoints",
        endpoints("broken", { domain: "broken.example.test", proto: "http" }, [g1.hostname], g1.port),
      );
      const failed = await daemon.waitForLog((l) => l.msg === "config check failed, installed config kept", {
        from,
      });
      assert.ok(
        (failed.errors as string[]).some((e) => e.startsWith("[ALERT]") && e.includes(BAD_DIRECTIVE)),
        JSON.stringify(failed),
      );
      const reason = await daemon.waitReady({ want: 503 });
      assert.match(reason, /last apply check-failed: the check rejected the config; installed config kept/);
      const status = await daemon.status();
      assert.equal(field(status, "lastCheck", "outcome"), "check-failed");
      assert.ok((field(status, "lastCheck", "errors") as string[]).some((e) => e.includes(BAD_DIRECTIVE)));
      assert.equal(await Deno.readTextFile(daemon.configPath), good, "the installed config is untouched");
      assert.match(await Deno.readTextFile(`${daemon.configPath}.rejected`), new RegExp(BAD_DIRECTIVE));
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);
      assert.equal((await httpGet(http, "broken.example.test")).status, 404);

      // Recovery: the object goes, the rendered config is the installed one again.
      kube.remove("endpoints", NAMESPACE, "broken");
      assert.equal((await daemon.waitReady()).trim(), "the installed config is the last one rendered");
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);

      // 2. A template edited into an invalid one, picked up by SIGHUP.
      const extra = join(templates, "40-extra.eta");
      const fine = await Deno.readTextFile(extra);
      await Deno.writeTextFile(extra, `    ${BAD_DIRECTIVE} always\n`);
      from = daemon.logs().length;
      daemon.kill("SIGHUP");
      await daemon.waitForLog((l) => l.msg === "templates re-read", { from });
      await daemon.waitForLog((l) => l.msg === "config check failed, installed config kept", { from });
      assert.match(await daemon.waitReady({ want: 503 }), /last apply check-failed/);
      assert.equal(await Deno.readTextFile(daemon.configPath), good);
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);

      await Deno.writeTextFile(extra, fine);
      daemon.kill("SIGHUP");
      assert.equal((await daemon.waitReady()).trim(), "the installed config is the last one rendered");
      assert.equal((await daemon.stop()).code, 0);
    } finally {
      await Deno.remove(templates, { recursive: true });
    }
  },
});

Deno.test({
  name: "haconfd run keeps serving through an API outage, reports it, and catches up afterwards",
  ignore,
  async fn() {
    const { backends, port } = await startHttpBackends(["grafana-1", "grafana-2"]);
    const [g1, g2] = backends as [Backend, Backend];
    const grafana = (ip: string) =>
      endpoints("grafana", { domain: "grafana.example.test", proto: "http" }, [ip], port);
    try {
      await using kube = await startKube([grafana(g1.hostname)]);
      await using daemon = await startDaemonProcess({ apiServer: kube.url });
      const http = daemon.ports.http;
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);
      assert.equal(field(await daemon.status(), "source", "lastError"), null);

      const from = daemon.logs().length;
      await kube.stopListening();
      const failed = await daemon.waitForLog((l) => l.msg === "API request failed", { from });
      assert.match(JSON.stringify(failed), /127\.0\.0\.1/);
      const lastError = field(await daemon.status(), "source", "lastError");
      assert.equal(typeof lastError, "string", "the outage shows in /status");
      // HAProxy keeps the last config: traffic flows, and the daemon stays ready (nothing it could do better).
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);
      assert.equal((await daemon.get("/readyz")).status, 200);

      // A change made while the daemon cannot see it arrives once the API is back.
      kube.upsert("endpoints", grafana(g2.hostname));
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 3), ["grafana-1"]);
      await kube.startListening();
      await waitForBackends(http, "grafana.example.test", ["grafana-2"], 3, 15_000);
      assert.equal(field(await daemon.status(), "source", "lastError"), null);
      assert.equal((await daemon.waitReady()).trim(), "the installed config is the last one rendered");
      assert.equal((await daemon.stop()).code, 0);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name:
    "haconfd run --haproxy-reload-cmd: a failing reload keeps the old config serving, is retried, recovers",
  ignore,
  async fn() {
    const { backends, port } = await startHttpBackends(["grafana-1", "grafana-2"]);
    const [g1, g2] = backends as [Backend, Backend];
    const grafana = (ip: string) =>
      endpoints("grafana", { domain: "grafana.example.test", proto: "http" }, [ip], port);
    const placeholder = freePort();
    // A "system" HAProxy, as systemd would run it; haconfd only writes its config and runs the command.
    const haproxy = await startHaproxy(
      `${BASE_CONFIG}\nfrontend placeholder\n  mode http\n  bind 127.0.0.1:${placeholder}\n` +
        `  http-request return status 200\n`,
      { waitFor: [placeholder] },
    );
    const flag = join(haproxy.dir, "refuse-reload");
    const script = join(haproxy.dir, "reload.sh");
    await Deno.writeTextFile(
      script,
      `if [ -e "${flag}" ]; then echo "reload refused by the test" >&2; exit 3; fi\nkill -USR2 ${haproxy.pid}\n`,
    );
    try {
      await using kube = await startKube([grafana(g1.hostname)]);
      await using daemon = await startDaemonProcess({
        apiServer: kube.url,
        haproxyRun: false,
        haproxyConf: haproxy.configPath,
        args: ["--haproxy-reload-cmd", `sh ${script}`],
      });
      const http = daemon.ports.http;
      await waitForBackends(http, "grafana.example.test", ["grafana-1"], 3);

      await Deno.writeTextFile(flag, "");
      let from = daemon.logs().length;
      kube.upsert("endpoints", grafana(g2.hostname));
      const failed = await daemon.waitForLog((l) => l.msg === "reload failed, will retry", { from });
      assert.match(String(failed.error), /failed with exit code 3: reload refused by the test/);
      const reason = await daemon.waitReady({ want: 503 });
      assert.match(reason, /last apply reload-failed: .*reload refused by the test/);
      assert.equal(field(await daemon.status(), "lastReload", "outcome"), "reload-failed");
      // HAProxy still runs the last config it loaded, and that is the file installed again (a restart of
      // HAProxy must not load a file a reload failed on).
      await daemon.waitForLog(
        (l) => l.msg === "put the last good config back: HAProxy did not load the new one",
        {
          from,
        },
      );
      const installed = await Deno.readTextFile(haproxy.configPath);
      assert.match(installed, /server 127\.0\.0\.2 /);
      assert.doesNotMatch(installed, /server 127\.0\.0\.3 /);
      assert.deepEqual(await seenBackends(http, "grafana.example.test", 6), ["grafana-1"]);
      await daemon.waitForLog((l) => l.msg === "retrying", { from });

      from = daemon.logs().length;
      await Deno.remove(flag);
      await daemon.waitForLog((l) => l.msg === "haproxy reloaded", { from, timeoutMs: 15_000 });
      await waitForBackends(http, "grafana.example.test", ["grafana-2"], 3);
      assert.equal((await daemon.waitReady()).trim(), "the installed config is the last one rendered");
      assert.equal(field(await daemon.status(), "lastReload", "outcome"), "applied");
      assert.equal((await daemon.stop()).code, 0);
      assert.ok(!haproxy.exited(), "haconfd leaves a HAProxy it does not manage running");
    } finally {
      await haproxy.stop();
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "haconfd run --once exits 1 with HAProxy's reason when the check rejects the config",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    await using kube = await startKube([
      endpoints("broken", { domain: "broken.example.test", proto: "http" }, [web.hostname], web.port),
    ]);
    const templates = await templateDir();
    const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-once-" });
    try {
      const conf = join(dir, "haproxy.cfg");
      const run = await runOnce({
        apiServer: kube.url,
        haproxyConf: conf,
        args: ["--template-dir", templates],
      });
      assert.equal(run.code, 1);
      const failed = run.logs.find((l) => l.msg === "apply failed");
      assert.equal(failed?.outcome, "check-failed", JSON.stringify(run.logs));
      assert.ok(
        (failed?.errors as string[]).some((e) => e.startsWith("[ALERT]") && e.includes(BAD_DIRECTIVE)),
        JSON.stringify(failed),
      );
      await assert.rejects(Deno.stat(conf), Deno.errors.NotFound, "nothing is installed");
      assert.match(await Deno.readTextFile(`${conf}.rejected`), new RegExp(BAD_DIRECTIVE));
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(templates, { recursive: true });
    }
  },
});
