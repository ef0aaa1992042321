/**
 * The README's first command, `bash tools/example.sh`, run as a reader runs it: a real HAProxy routes to
 * the demo pods, a scripted change of the cluster reaches traffic, Ctrl-C (SIGINT) leaves nothing running.
 * The frontends and the status page go to a loopback address of their own (HTTP_BIND etc., which the
 * demo honours), so that the demo's fixed ports cannot collide with anything else on the machine.
 */
import assert from "node:assert/strict";
import { httpGet, tcpRoundTrip, tlsHandshake } from "../lib/demo/backends.ts";
import { pidAlive, processesNaming } from "./support/daemon.ts";
import { waitFor } from "./support/haproxy.ts";
import { installed, ROOT, signalQuietly } from "./support/process.ts";

const GRAFANA_PODS = ["grafana-7b9f6d8c5-2lq8m", "grafana-7b9f6d8c5-h4x9t"];
const NEW_GRAFANA_POD = "grafana-7b9f6d8c5-x7k2d";
const NO_DEMO = !installed("haproxy") || !installed("openssl");

/** A running `bash tools/example.sh` with its output collected line by line. */
interface ExampleRun {
  child: Deno.ChildProcess;
  output(): string;
  /** Everything the demo printed so far, stdout and stderr in full (the reader's screen). */
  screen(): string;
  /** The first match of `pattern` in the output; fails loudly with the output after `timeoutMs`. */
  waitFor(pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray>;
  /** Exit status; rejects loudly after `timeoutMs`. */
  exited(timeoutMs: number): Promise<Deno.CommandStatus>;
}

function startExample(env: Record<string, string>, args: string[] = []): ExampleRun {
  const child = new Deno.Command("bash", {
    args: ["tools/example.sh", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let errors = "";
  const changed = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, add: (chunk: string) => void) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      add(chunk);
      for (const wake of changed) wake();
    }
  };
  const pumped = Promise.all([
    pump(child.stdout, (c) => text += c),
    pump(child.stderr, (c) => errors += c),
  ]);
  const output = () => `--- stdout\n${text}\n--- stderr\n${errors.slice(-4000)}`;
  async function within<T>(timeoutMs: number, what: string, attempt: () => T | undefined): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = attempt();
      if (found !== undefined) return found;
      if (Date.now() > deadline) {
        throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}\n${output()}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      const timer = setTimeout(resolve, deadline - Date.now() + 1);
      changed.add(resolve);
      await promise;
      clearTimeout(timer);
      changed.delete(resolve);
    }
  }
  let status: Deno.CommandStatus | undefined;
  const statusKnown = child.status.then(async (s) => {
    await pumped;
    status = s;
    for (const wake of changed) wake();
  });
  return {
    child,
    output,
    screen: () => `${text}\n${errors}`,
    waitFor: (pattern, what, timeoutMs) =>
      within(timeoutMs, what, () => {
        if (status !== undefined) {
          throw new Error(`The demo exited (${status.code}) before ${what}\n${output()}`);
        }
        return pattern.exec(text) ?? undefined;
      }),
    async exited(timeoutMs) {
      const result = await within(timeoutMs, "the demo to exit", () => status);
      await statusKnown;
      return result;
    },
  };
}

/** A loopback address of the test's own (127.x.y.z, outside 127.0.0.0/24 where the demo's pods live). */
function ownLoopback(): string {
  const byte = () => 1 + Math.floor(Math.random() * 250);
  return `127.${100 + Math.floor(Math.random() * 100)}.${byte()}.${byte()}`;
}

/** The demo's frontends and status page moved to `ip`, the test's own loopback address. */
function frontendsOn(ip: string): Record<string, string> {
  return {
    HTTP_BIND: `${ip}:8080`,
    HTTPS_BIND: `${ip}:8443`,
    TCP_BIND_ADDRESS: ip,
    EXAMPLE_STATUS_LISTEN: `${ip}:9180`,
  };
}

/** The demo (for 300 s at most) on a loopback address of the test's own. */
function startOnOwnAddress(args: string[] = []): { ip: string; run: ExampleRun } {
  const ip = ownLoopback();
  return { ip, run: startExample({ EXAMPLE_SECONDS: "300", ...frontendsOn(ip) }, args) };
}

async function refusesConnections(address: string): Promise<boolean> {
  const at = address.lastIndexOf(":");
  try {
    const conn = await Deno.connect({ hostname: address.slice(0, at), port: Number(address.slice(at + 1)) });
    conn.close();
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return true;
    throw error;
  }
}

Deno.test({
  name:
    "tools/example.sh (the README's first command) routes through real HAProxy, follows the cluster and stops cleanly",
  ignore: !installed("haproxy") || !installed("openssl"),
  async fn() {
    const ip = ownLoopback();
    const run = startExample({
      EXAMPLE_SECONDS: "300",
      DEMO_STEP_SECONDS: "2",
      ...frontendsOn(ip),
    });
    let stopped = false;
    try {
      const listening = (await run.waitFor(/^ {2}listening +(.+)$/m, "the demo's banner", 120_000))[1]!.split(
        " ",
      );
      const [, demoPid, haproxyPids] = (await run.waitFor(
        /^ {2}processes +demo pid (\d+), haproxy pids ([\d ]+)$/m,
        "the demo's pids",
        1_000,
      ))!;
      const configPath = (await run.waitFor(/config (\/\S+haproxy\.cfg)/, "the config path", 1_000))[1]!;
      const trafficLog =
        (await run.waitFor(/^ {2}traffic log +(\/\S+)/m, "the traffic log's path", 1_000))[1]!;
      assert.equal(Number(demoPid), run.child.pid, "example.sh execs the demo, so Ctrl-C reaches it");
      assert.ok(listening.includes(`${ip}:8080`), `the banner lists ${ip}:8080: ${listening.join(" ")}`);
      assert.match(
        run.output(),
        new RegExp(`curl -H 'Host: grafana\\.example\\.test' http://${ip.replaceAll(".", "\\.")}:8080/`),
      );

      // Through the real HAProxy: HTTP by Host header, TLS by SNI, TCP on the redis listener.
      const answer = await httpGet(8080, "grafana.example.test", "/", { hostname: ip });
      assert.equal(answer.status, 200, answer.body);
      assert.ok(
        GRAFANA_PODS.includes(answer.headers["x-backend"] ?? ""),
        `answered by ${answer.headers["x-backend"]}`,
      );
      assert.equal(
        (await tlsHandshake(8443, "dashboard.example.test", { hostname: ip })).cn,
        "kubernetes-dashboard-6c7ccbcf87-vwxzk",
      );
      assert.equal((await tcpRoundTrip(16379, "NAME\r\n", { hostname: ip })).trim(), "+redis-0");
      assert.equal((await httpGet(9180, ip, "/readyz", { hostname: ip })).status, 200);

      // HAProxy's line for each of those requests lands in the traffic log, not on the screen.
      await waitFor(async () => /be_grafana_example_test_\w+/.test(await Deno.readTextFile(trafficLog)), {
        timeoutMs: 10_000,
        what: `HAProxy's log line for the grafana request in ${trafficLog}`,
      });
      assert.doesNotMatch(
        run.output(),
        /be_grafana_example_test_|haproxy\[\d+\]/,
        "no traffic log on the screen",
      );

      // The first scripted change (scale up) is reported as in traffic, and HAProxy indeed routes to the new pod.
      const reached = await run.waitFor(
        /scale up: monitoring\/grafana gets pod (\S+) .*\n\s+→ in traffic after (\d+) ms/,
        "the scale-up to reach traffic",
        60_000,
      );
      assert.equal(reached[1], NEW_GRAFANA_POD);
      await waitFor(
        async () =>
          (await httpGet(8080, "grafana.example.test", "/", { hostname: ip })).headers["x-backend"] ===
            NEW_GRAFANA_POD,
        {
          timeoutMs: 10_000,
          what: `${NEW_GRAFANA_POD} to answer through HAProxy`,
        },
      );

      // The planned scale-to-zero (prometheus' only pod not ready) reaches traffic before Ctrl-C.
      await run.waitFor(
        /readiness: monitoring\/prometheus pod prometheus-server-0 is not ready\n\s+→ in traffic after \d+ ms/,
        "prometheus' scale-to-zero to reach traffic",
        90_000,
      );

      // Ctrl-C: everything the demo started stops.
      signalQuietly(run.child, "SIGINT");
      stopped = true;
      const status = await run.exited(60_000);
      assert.equal(status.code, 0, run.output());
      assert.match(run.output(), /^Stopped: HAProxy, the demo pods and the API stand-in; removed (\S+)$/m);
      // The last lines: the run's figures.
      assert.match(
        run.output(),
        /^Summary: \d+ changes? made.*\n {2}time to traffic: median \d+ ms, worst \d+ ms\n {2}reloads avoided: \d+ of \d+ applies went through the Runtime API, \d+ reloaded HAProxy\n+--- stderr/m,
      );
      assert.doesNotMatch(
        run.output(),
        /be_grafana_example_test_|haproxy\[\d+\]/,
        "no traffic log on the screen",
      );
      for (const pid of [Number(demoPid), ...(haproxyPids ?? "").trim().split(" ").map(Number)]) {
        assert.equal(await pidAlive(pid), false, `process ${pid} is still running`);
      }
      assert.deepEqual(await processesNaming(configPath), [], `an HAProxy on ${configPath} is still running`);
      for (const address of listening) {
        assert.ok(await refusesConnections(address), `${address} still accepts connections`);
      }
      // Neither the scale-to-zero nor the stop is an error on the reader's screen.
      const errorLines = run.screen().split("\n").filter((l) => /\blevel=error\b|"level":"error"/.test(l));
      assert.deepEqual(errorLines, [], "no level=error line on the demo's screen");
      const dir = /removed (\S+)$/m.exec(run.output())![1]!;
      await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, `${dir} is left behind`);
    } finally {
      if (!stopped) signalQuietly(run.child, "SIGINT");
      await run.exited(60_000).catch(() => signalQuietly(run.child, "SIGKILL"));
    }
  },
});

Deno.test({
  name:
    "tools/example.sh with EXAMPLE_DRY_RUN=1 starts no HAProxy, follows the cluster and ends after EXAMPLE_SECONDS",
  ignore: !installed("openssl"),
  async fn() {
    const ip = ownLoopback();
    const run = startExample({
      EXAMPLE_DRY_RUN: "1",
      EXAMPLE_SECONDS: "25",
      DEMO_STEP_SECONDS: "1",
      EXAMPLE_STATUS_LISTEN: `${ip}:9180`,
    });
    try {
      await run.waitFor(/HAProxy +not started \(--dry-run\)/, "the dry-run banner", 40_000);
      await run.waitFor(
        /scale up: .*\n\s+→ rendered and checked after \d+ ms \(dry run: no traffic\)/,
        "a dry-run step",
        40_000,
      );
      const status = await run.exited(60_000);
      assert.equal(status.code, 0, run.output());
      const dir = /^Stopped: .*removed (\S+)$/m.exec(run.output())?.[1];
      assert.ok(dir !== undefined, run.output());
      assert.deepEqual(await processesNaming(dir), [], "no HAProxy runs on the demo's config");
    } finally {
      signalQuietly(run.child, "SIGINT");
      await run.exited(60_000).catch(() => signalQuietly(run.child, "SIGKILL"));
    }
  },
});

Deno.test({
  name: "tools/example.sh killed with SIGKILL leaves no HAProxy process of it, and its ports free",
  ignore: NO_DEMO,
  async fn() {
    const { ip, run } = startOnOwnAddress();
    let configPath: string | undefined;
    try {
      const [, haproxyPids = ""] = await run.waitFor(
        /^ {2}processes +demo pid \d+, haproxy pids ([\d ]+)$/m,
        "the demo's pids",
        120_000,
      );
      configPath = (await run.waitFor(/config (\/\S+haproxy\.cfg)/, "the config path", 1_000))[1]!;
      const listening = (await run.waitFor(/^ {2}listening +(.+)$/m, "the banner", 1_000))[1]!.split(" ");
      const frontends = listening.filter((address) => address.startsWith(`${ip}:`));
      assert.equal(
        frontends.length,
        5,
        `HAProxy's four listeners and the status page: ${listening.join(" ")}`,
      );
      const pids = haproxyPids.trim().split(" ").map(Number);
      assert.ok(pids.length >= 2, `a master and a worker: ${haproxyPids}`);

      // example.sh execs the demo: its pid is the demo's.
      signalQuietly(run.child, "SIGKILL");
      assert.equal((await run.exited(30_000)).signal, "SIGKILL");
      const config = configPath;
      await waitFor(async () => (await processesNaming(config)).length === 0, {
        timeoutMs: 10_000,
        what: `the demo's HAProxy (pids ${pids.join(" ")}) to die with it`,
      });
      for (const pid of pids) assert.equal(await pidAlive(pid), false, `process ${pid} is still running`);
      for (const address of frontends) {
        assert.ok(await refusesConnections(address), `${address} still accepts connections`);
      }
    } finally {
      signalQuietly(run.child, "SIGKILL");
      await run.exited(30_000).catch(() => {});
      if (configPath !== undefined) {
        // Left running they would hold the test's pipes: end them, then fail above.
        for (const pid of await processesNaming(configPath)) Deno.kill(pid, "SIGKILL");
        await Deno.remove(configPath.replace(/\/haproxy\.cfg$/, ""), { recursive: true });
      }
    }
  },
});

Deno.test({
  name: "tools/example.sh --traffic-log shows HAProxy's traffic log on the screen",
  ignore: NO_DEMO,
  async fn() {
    const { ip, run } = startOnOwnAddress(["--traffic-log"]);
    try {
      await run.waitFor(/^ {2}traffic log +here, on the screen \(--traffic-log\)$/m, "the banner", 120_000);
      assert.equal(
        (await httpGet(8080, "grafana.example.test", "/traffic-log", { hostname: ip })).status,
        200,
      );
      await run.waitFor(
        /be_grafana_example_test_\w+\/\S+ .*GET \/traffic-log/,
        "the request's log line",
        10_000,
      );
      signalQuietly(run.child, "SIGINT");
      assert.equal((await run.exited(60_000)).code, 0, run.output());
    } finally {
      signalQuietly(run.child, "SIGINT");
      await run.exited(60_000).catch(() => signalQuietly(run.child, "SIGKILL"));
    }
  },
});
