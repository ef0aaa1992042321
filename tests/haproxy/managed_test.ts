import { haproxyEnv } from "../../lib/haproxy/malloc_env.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { reloadCulprits } from "../../lib/daemon/culprits.ts";
import { type ManagedStdout, startManagedHaproxy } from "../../lib/haproxy/managed.ts";
import { buildModel } from "../../lib/model/model.ts";
import { memoryLogger } from "../../lib/log.ts";
import { httpGet, startHttpBackend } from "../../lib/demo/backends.ts";
import { endpointSet } from "../support/fixtures.ts";
import {
  freePort,
  HAPROXY_BINARY,
  haproxyAvailable,
  routingConfig,
  waitFor,
  writeHaproxyConfig,
} from "../support/haproxy.ts";

const NO_HAPROXY = !haproxyAvailable();

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is as good as gone
  } catch {
    return false;
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-managed-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "startManagedHaproxy() starts, reloads, restarts a killed haproxy and stops on close()",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      await using alpha = await startHttpBackend("alpha", { hostname: "127.0.0.2" });
      await using bravo = await startHttpBackend("bravo", { hostname: "127.0.0.3" });
      const port = freePort();
      const configPath = join(dir, "haproxy.cfg");
      const config = (server: string) => routingConfig({ http: { listen: port, server } });
      await writeHaproxyConfig(configPath, config(`127.0.0.2:${alpha.port}`));
      const log = memoryLogger();
      const managed = await startManagedHaproxy({
        configPath,
        masterSocket: join(dir, "master.sock"),
        pidFile: join(dir, "haproxy.pid"),
        binary: HAPROXY_BINARY,
        log,
        restartMinMs: 50,
      });
      try {
        assert.equal(managed.kind, "managed");
        const first = managed.pid;
        assert.ok(first !== undefined && alive(first));
        assert.equal(
          (await Deno.readTextFile(join(dir, "haproxy.pid"))).trim().split("\n")[0],
          String(first),
        );
        await waitFor(async () => (await httpGet(port, "app.test")).body === "alpha\n", { what: "alpha" });
        // Started with the malloc tunables that make a large config load fast (lib/haproxy/malloc_env.ts),
        // as the master's re-executed process still shows them.
        const environ = (await Deno.readTextFile(`/proc/${first}/environ`)).split("\0");
        for (const [key, value] of Object.entries(haproxyEnv())) {
          assert.ok(environ.includes(`${key}=${value}`), `${key}=${value} in ${environ.join(" ")}`);
        }
        // HAProxy's own output goes through the logger.
        await waitFor(() =>
          log.lines.some((l) => l.component === "haproxy" && /Loading success/.test(String(l.msg)))
        );

        // Reload through the master socket switches the config.
        await writeHaproxyConfig(configPath, config(`127.0.0.3:${bravo.port}`));
        const reloaded = await managed.reload();
        assert.equal(reloaded.ok, true, reloaded.error);
        assert.equal(managed.pid, first, "a reload keeps the master");
        await waitFor(async () => (await httpGet(port, "app.test")).body === "bravo\n", { what: "bravo" });

        // Killed: restarted with the installed config.
        Deno.kill(first, "SIGKILL");
        const second = await waitFor(() => {
          const pid = managed.pid;
          return pid !== undefined && pid !== first ? pid : undefined;
        }, { what: "a restart" });
        await managed.ready();
        assert.equal(managed.starts, 2);
        assert.ok(log.lines.some((l) => l.msg === "haproxy exited unexpectedly" && l.signal === "SIGKILL"));
        await waitFor(async () => (await httpGet(port, "app.test")).body === "bravo\n", {
          what: "bravo again",
        });
        const again = await managed.reload();
        assert.equal(again.ok, true, again.error);

        await managed.close();
        assert.equal(managed.pid, undefined);
        assert.equal(alive(second), false);
        await assert.rejects(() => httpGet(port, "app.test", "/", { timeoutMs: 1000 }));
        assert.ok(log.lines.some((l) => l.msg === "haproxy stopped"));
      } finally {
        await managed.close();
      }
    }),
});

Deno.test({
  name: "startManagedHaproxy() soft-stops with SIGUSR1 when asked",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      const port = freePort();
      const configPath = join(dir, "haproxy.cfg");
      await writeHaproxyConfig(configPath, routingConfig({ tcp: { listen: port, server: "127.0.0.2:1" } }));
      const log = memoryLogger();
      const managed = await startManagedHaproxy({
        configPath,
        masterSocket: join(dir, "master.sock"),
        binary: HAPROXY_BINARY,
        softStop: true,
        log,
      });
      const pid = managed.pid ?? -1;
      await managed.close();
      assert.equal(alive(pid), false);
      const stopped = log.lines.find((l) => l.msg === "haproxy stopped");
      assert.ok(stopped !== undefined);
      assert.equal(stopped.signal, null, "exited by itself after the soft stop");
    }),
});

Deno.test({
  name: "startManagedHaproxy() fails at once, with HAProxy's alerts, when haproxy cannot start its config",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      const configPath = join(dir, "haproxy.cfg");
      await writeHaproxyConfig(configPath, "global\n  bogus-keyword\n");
      const log = memoryLogger();
      await assert.rejects(
        () =>
          startManagedHaproxy({
            configPath,
            masterSocket: join(dir, "master.sock"),
            binary: HAPROXY_BINARY,
            startTimeoutMs: 800,
            restartMinMs: 100,
            log,
          }),
        /HAProxy exited during start-up: .*unknown keyword 'bogus-keyword'/,
      );
      assert.ok(
        log.lines.some((l) => l.level === "error" && /unknown keyword 'bogus-keyword'/.test(String(l.msg))),
      );
      assert.equal(log.lines.filter((l) => l.msg === "haproxy started").length, 1, "no restart loop");
    }),
});

Deno.test("startManagedHaproxy() fails clearly when the binary is missing", async () => {
  await assert.rejects(
    () =>
      startManagedHaproxy({
        configPath: "/nonexistent/haproxy.cfg",
        masterSocket: "/nonexistent/master.sock",
        binary: "/nonexistent/haproxy",
      }),
    /Cannot start HAProxy "\/nonexistent\/haproxy"/,
  );
});

Deno.test({
  name:
    "startManagedHaproxy() reload() that cannot bind a port reports HAProxy's alert, which names the object",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      const port = freePort();
      const configPath = join(dir, "haproxy.cfg");
      await writeHaproxyConfig(configPath, routingConfig({ http: { listen: port, server: "127.0.0.2:1" } }));
      const managed = await startManagedHaproxy({
        configPath,
        masterSocket: join(dir, "master.sock"),
        binary: HAPROXY_BINARY,
        stdout: "null",
      });
      using blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const busy = (blocker.addr as Deno.NetAddr).port;
      try {
        const model = buildModel([
          endpointSet("redis", {
            domain: "redis.example.test",
            proto: "redis",
            "haconfd.io/listen-port": String(busy),
          }, [
            "127.0.0.3",
          ], { namespace: "cache" }),
        ]);
        const id = model.domains["redis.example.test"]!.id;
        await writeHaproxyConfig(
          configPath,
          routingConfig({ http: { listen: port, server: "127.0.0.2:1" } }) +
            `\nlisten tcp_${id}\n  mode tcp\n  bind 127.0.0.1:${busy}\n  server s 127.0.0.3:6379\n`,
        );
        const result = await managed.reload();
        assert.equal(result.ok, false);
        assert.match(result.detail, new RegExp(`cannot bind socket.*127\\.0\\.0\\.1:${busy}`));
        assert.deepEqual(reloadCulprits(`${result.error}\n${result.detail}`, model).map((c) => c.object), [
          "cache/redis",
        ]);
      } finally {
        await managed.close();
      }
    }),
});

/** A managed HAProxy whose config logs every request to stdout, routing to 127.0.0.2:`webPort`. */
async function startLoggingHaproxy(dir: string, webPort: number, stdout: ManagedStdout) {
  const port = freePort();
  const configPath = join(dir, "haproxy.cfg");
  const traffic = routingConfig({ http: { listen: port, server: `127.0.0.2:${webPort}` } })
    .replace(/log stderr format raw local0 notice/, "log stdout format raw local0 info")
    .replace(/frontend http_in\n/, "frontend http_in\n  option httplog\n  log global\n");
  assert.match(traffic, /log stdout/);
  await writeHaproxyConfig(configPath, traffic);
  const log = memoryLogger();
  const managed = await startManagedHaproxy({
    configPath,
    masterSocket: join(dir, "master.sock"),
    binary: HAPROXY_BINARY,
    log,
    stdout,
  });
  return { port, log, managed };
}

Deno.test({
  name: "startManagedHaproxy() leaves HAProxy's stdout (the traffic log) to the process, reading none of it",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
      const { port, log, managed } = await startLoggingHaproxy(dir, web.port, "null");
      try {
        const REQUESTS = 200;
        for (let i = 0; i < REQUESTS; i++) {
          assert.equal((await httpGet(port, "app.test", `/r${i}`)).status, 200);
        }
        assert.equal(web.hits, REQUESTS);
        const relayed = log.lines.filter((l) => /GET \/r\d+/.test(String(l.msg)));
        assert.equal(relayed.length, 0, "no traffic line went through haconfd's logger");
        assert.ok(
          log.lines.some((l) => /Loading success/.test(String(l.msg))),
          "start-up notices still read",
        );
      } finally {
        await managed.close();
      }
    }),
});

Deno.test({
  name: "startManagedHaproxy() appends HAProxy's stdout (the traffic log) to a file while it runs",
  ignore: NO_HAPROXY,
  fn: () =>
    withDir(async (dir) => {
      await using web = await startHttpBackend("web", { hostname: "127.0.0.2" });
      const file = join(dir, "traffic.log");
      await Deno.writeTextFile(file, "kept\n");
      const { port, log, managed } = await startLoggingHaproxy(dir, web.port, { file });
      try {
        assert.equal((await httpGet(port, "app.test", "/first")).status, 200);
        await waitFor(async () => /GET \/first/.test(await Deno.readTextFile(file)), {
          timeoutMs: 10_000,
          what: `the request's line in ${file} while HAProxy runs`,
        });
        assert.match(await Deno.readTextFile(file), /^kept\n/, "appended, not replaced");
        assert.equal(log.lines.filter((l) => /GET \/first/.test(String(l.msg))).length, 0, "not logged");
      } finally {
        await managed.close();
      }
    }),
});
