/**
 * End-to-end (real managed HAProxy): a tenant's TCP service whose listen port another program holds,
 * and HAProxy's traffic log bypassing haconfd.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { httpGet, startHttpBackend } from "../lib/demo/backends.ts";
import { endpoints, startDaemonProcess, startKube } from "./support/daemon.ts";
import { haproxyAvailable, waitFor } from "./support/haproxy.ts";

const ignore = !haproxyAvailable();

/** Sends sequential requests for `host` until `stop()`; counts answers 200 from `backend` and the rest. */
function steadyClient(port: number, host: string, backend: string) {
  let running = true;
  const counts = { ok: 0, failures: [] as string[] };
  const done = (async () => {
    while (running) {
      try {
        const answer = await httpGet(port, host, "/", { timeoutMs: 5_000 });
        if (answer.status === 200 && answer.headers["x-backend"] === backend) counts.ok++;
        else counts.failures.push(`status ${answer.status}: ${answer.body.trim()}`);
      } catch (error) {
        counts.failures.push((error as Error).message);
      }
    }
  })();
  return {
    counts,
    async stop() {
      running = false;
      await done;
      return counts;
    },
  };
}

function skippedOf(status: Record<string, unknown>): { object: string; reason: string }[] {
  return status.skipped as { object: string; reason: string }[];
}

Deno.test({
  name:
    "haconfd run skips a TCP service whose listen port another program holds, keeps the others serving, and restarts clean",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    await using wiki = await startHttpBackend("wiki", { hostname: "127.0.0.3" });
    using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const busy = (blocker.addr as Deno.NetAddr).port;
    const webObject = endpoints(
      "web",
      { domain: "web.example.test", proto: "http" },
      [web.hostname],
      web.port,
    );
    await using kube = await startKube([webObject]);
    const dir = await Deno.makeTempDir({ prefix: "haconfd-e2e-busy-" });
    const haproxyConf = join(dir, "haproxy.cfg");
    try {
      {
        await using daemon = await startDaemonProcess({ apiServer: kube.url, haproxyConf });
        const client = steadyClient(daemon.ports.http, "web.example.test", "web");
        await waitFor(() => client.counts.ok >= 20, { what: "the innocent domain to answer" });

        // The culprit arrives: a redis service claiming the busy port.
        kube.upsert(
          "endpoints",
          endpoints(
            "redis",
            {
              domain: "redis.example.test",
              proto: "redis",
              "haconfd.io/listen-port": String(busy),
            },
            ["127.0.0.4"],
            6379,
          ),
        );
        const skipped = await waitFor(async () => {
          const found = skippedOf(await daemon.status()).find((s) => s.object === "e2e/redis");
          return found;
        }, { what: "/status to name the culprit" });
        assert.match(skipped.reason, new RegExp(`listen port ${busy} .*held by another program`));
        assert.ok(
          daemon.logs().some((l) =>
            l.msg === "object skipped: HAProxy could not load its part of the config" &&
            l.object === "e2e/redis"
          ),
        );

        // A later innocent change still reaches HAProxy.
        kube.upsert(
          "endpoints",
          endpoints("wiki", { domain: "wiki.example.test", proto: "http" }, [wiki.hostname], wiki.port),
        );
        await waitFor(async () => (await httpGet(daemon.ports.http, "wiki.example.test")).status === 200, {
          what: "the later innocent domain to be served",
        });
        const before = client.counts.ok;
        await waitFor(() => client.counts.ok >= before + 20, {
          what: "more requests while the culprit is present",
        });
        const counts = await client.stop();
        assert.deepEqual(
          counts.failures,
          [],
          `${counts.failures.length} of ${
            counts.ok + counts.failures.length
          } requests to the innocent domain failed`,
        );
        assert.equal(
          daemon.logsWith("reload failed, will retry").length,
          0,
          "HAProxy was never asked to bind the busy port",
        );
        assert.doesNotMatch(await Deno.readTextFile(haproxyConf), new RegExp(`:${busy}\\b`));
        assert.equal((await daemon.stop()).code, 0);
      }
      {
        // A restart with the culprit still there: the managed HAProxy starts and serves.
        await using daemon = await startDaemonProcess({ apiServer: kube.url, haproxyConf });
        assert.ok(daemon.haproxyPid() !== undefined);
        assert.equal((await httpGet(daemon.ports.http, "web.example.test")).headers["x-backend"], "web");
        assert.equal((await httpGet(daemon.ports.http, "wiki.example.test")).headers["x-backend"], "wiki");
        assert.ok(skippedOf(await daemon.status()).some((s) => s.object === "e2e/redis"));
        assert.equal((await daemon.stop()).code, 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "haconfd run --haproxy-run: HAProxy's traffic log goes to the inherited stdout, none of it through haconfd",
  ignore,
  async fn() {
    await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
    await using kube = await startKube([
      endpoints("web", { domain: "web.example.test", proto: "http" }, [web.hostname], web.port),
    ]);
    await using daemon = await startDaemonProcess({ apiServer: kube.url });
    const REQUESTS = 300;
    for (let i = 0; i < REQUESTS; i++) {
      assert.equal((await httpGet(daemon.ports.http, "web.example.test", `/traffic-${i}`)).status, 200);
    }
    // HAProxy wrote one line per request straight to the stdout it inherited...
    await waitFor(() => (daemon.stdout().match(/GET \/traffic-\d+ HTTP/g) ?? []).length >= REQUESTS, {
      what: `${REQUESTS} traffic log lines on stdout`,
    });
    // ...and haconfd relayed none of them, while still showing HAProxy's start-up messages.
    const relayed = daemon.logs().filter((l) => /traffic-\d+/.test(JSON.stringify(l)));
    assert.equal(relayed.length, 0, `${relayed.length} traffic lines relayed through haconfd`);
    assert.ok(daemon.logs().some((l) => l.component === "haproxy" && /Loading success/.test(String(l.msg))));
    assert.equal((await daemon.stop()).code, 0);
  },
});
