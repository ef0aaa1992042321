import assert from "node:assert/strict";
import { join } from "node:path";
import { startService } from "../../lib/commands/service.ts";
import { memoryLogger } from "../../lib/log.ts";
import { parseCommandLine } from "../../lib/settings/cli.ts";
import { ConfigError, loadSettings, optionSpecs } from "../../lib/settings/options.ts";
import { endpointsList, endpointsObject } from "../support/fixtures.ts";
import { freePort, waitFor } from "../support/haproxy.ts";

const TOKEN = "service-test-token-0123456789";

/**
 * A temp dir with a --from dump of one service and settings that check and reload with `true` (no
 * HAProxy runs: the servers are 10.x addresses that must never see traffic).
 */
async function withDump(fn: (dir: string, args: string[]) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-service-" });
  try {
    const dump = endpointsList(
      endpointsObject({
        name: "web",
        annotations: { domain: "web.example.test", proto: "http" },
        ready: ["10.0.0.1"],
      }),
    );
    await Deno.writeTextFile(join(dir, "sets.json"), JSON.stringify(dump));
    const args = [
      "--from",
      join(dir, "sets.json"),
      "--haproxy-conf",
      join(dir, "haproxy.cfg"),
      "--haproxy-chk-cmd",
      "true",
      "--haproxy-reload-cmd",
      "true",
      "--no-runtime-api",
    ];
    await fn(dir, args);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function settingsOf(args: string[]) {
  return loadSettings(parseCommandLine(args, optionSpecs()).values, {});
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("startService() runs the daemon from a --from file with its status server on 127.0.0.1", async () => {
  await withDump(async (dir, args) => {
    await Deno.writeTextFile(join(dir, "token"), `${TOKEN}\n`);
    const log = memoryLogger();
    const service = await startService(
      settingsOf([...args, "--status-listen", "127.0.0.1:0", "--status-token-file", join(dir, "token")]),
      log,
    );
    try {
      assert.ok(service.status !== null);
      assert.equal(service.status.hostname, "127.0.0.1");
      const ready = await waitFor(async () => {
        const res = await fetch(new URL("/readyz", service.status!.url));
        await res.body?.cancel();
        return res.status === 200;
      }, { what: "/readyz to answer 200" });
      assert.equal(ready, true);
      const config = await Deno.readTextFile(join(dir, "haproxy.cfg"));
      assert.match(config, /web\.example\.test/);
      assert.match(config, /^# haconfd: 1 domains$/m);
      const denied = await fetch(new URL("/status", service.status.url));
      await denied.body?.cancel();
      assert.equal(denied.status, 401);
      const status = await fetch(new URL("/status", service.status.url), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      const body = await status.json();
      assert.deepEqual(Object.keys(body.domains), ["web.example.test"]);
      assert.equal(body.reloadMode, "command");
      const metrics = await fetch(new URL("/metrics", service.status.url), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.match(await metrics.text(), /^haconfd_/m);
      assert.ok(log.lines.length > 0);
      assert.ok(!JSON.stringify(log.lines).includes(TOKEN), "the token never reaches the log");
    } finally {
      await service.stop();
    }
    await service.status.finished;
  });
});

Deno.test("startService() serves no status for --status-listen off or a --once run", async () => {
  await withDump(async (_dir, args) => {
    for (const extra of [["--status-listen", "off"], ["--once", "--status-listen", "0.0.0.0:1"]]) {
      const service = await startService(settingsOf([...args, ...extra]), memoryLogger());
      try {
        assert.equal(service.status, null, extra.join(" "));
      } finally {
        await service.stop();
      }
    }
  });
});

Deno.test("startService() starts nothing when the status token file or address is bad", async () => {
  await withDump(async (dir, args) => {
    await Deno.writeTextFile(join(dir, "short"), "too-short\n");
    const port = freePort();
    const missing = join(dir, "missing");
    const cases: [string[], RegExp][] = [
      [
        ["--status-token-file", missing],
        new RegExp(`^Invalid --status-token-file: cannot read "${missing}": `),
      ],
      [["--status-token-file", join(dir, "short")], /must hold a token of at least 16 characters$/],
      [
        ["--status-listen", `0.0.0.0:${port}`],
        /^Invalid --status-listen "0\.0\.0\.0:\d+": listening off loopback requires/,
      ],
    ];
    for (const [extra, message] of cases) {
      const settings = settingsOf([...args, "--status-listen", `127.0.0.1:${port}`, ...extra]);
      await assert.rejects(
        startService(settings, memoryLogger()),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        extra.join(" "),
      );
      assert.equal(await listening(port), false, extra.join(" "));
      await assert.rejects(Deno.stat(join(dir, "haproxy.cfg")), Deno.errors.NotFound, extra.join(" "));
    }
  });
});
