import assert from "node:assert/strict";
import { join } from "node:path";
import { masterCommand, parseReloadAnswer, parseShowProc } from "../../lib/haproxy/master_cli.ts";
import { parseMasterAddress } from "../../lib/settings/values.ts";
import { createCommandReloader, createMasterSocketReloader } from "../../lib/haproxy/reload.ts";
import {
  httpGet,
  startHttpBackend,
  startRedisBackend,
  startTlsBackend,
  tcpRoundTrip,
  tlsHandshake,
} from "../../lib/demo/backends.ts";
import { freePort, haproxyAvailable, routingConfig, startHaproxy, waitFor } from "../support/haproxy.ts";

const NO_HAPROXY = !haproxyAvailable();

const PROC_26 = `#<PID>          <type>          <reloads>       <uptime>        <version>      
4417            master          2 [failed: 1]   0d00h00m05s     2.6.12-1+deb12u4
# workers
4552            worker          1               0d00h00m01s     2.6.12-1+deb12u4
# old workers
4420            worker          3               0d00h00m04s     2.6.12-1+deb12u4
# programs

`;

const PROC_24 = `#<PID>          <type>          <relative PID>  <reloads>       <uptime>        <version>
1162            master          0               5               0d00h02m07s     2.0-dev7-0124c9-7
# workers
1271            worker          1               0               0d00h00m00s     2.0-dev7-0124c9-7
1272            worker          2               0               0d00h00m00s     2.0-dev7-0124c9-7
# old workers
1233            worker          [was: 1]        3               0d00h00m43s     2.0-dev3-6019f6-289
`;

Deno.test("parseShowProc() reads the 2.6 layout with the failed-reload counter", () => {
  const table = parseShowProc(PROC_26);
  assert.deepEqual(table.master, { pid: 4417, reloads: 2, failed: 1, version: "2.6.12-1+deb12u4" });
  assert.deepEqual(table.workers, [{ pid: 4552, reloads: 1, version: "2.6.12-1+deb12u4" }]);
  assert.deepEqual(table.oldWorkers, [{ pid: 4420, reloads: 3, version: "2.6.12-1+deb12u4" }]);
});

Deno.test("parseShowProc() reads the older layout with relative PIDs", () => {
  const table = parseShowProc(PROC_24);
  assert.deepEqual(table.master, { pid: 1162, reloads: 5, failed: undefined, version: "2.0-dev7-0124c9-7" });
  assert.deepEqual(table.workers.map((w) => [w.pid, w.reloads]), [[1271, 0], [1272, 0]]);
  assert.deepEqual(table.oldWorkers.map((w) => [w.pid, w.reloads]), [[1233, 3]]);
});

Deno.test("parseShowProc() rejects text without a master line", () => {
  assert.throws(() => parseShowProc("Unknown command\n"), /no master line/);
});

Deno.test("parseReloadAnswer() reads 2.7+ answers and returns undefined for 2.6's silence", () => {
  assert.equal(parseReloadAnswer(""), undefined);
  assert.deepEqual(
    parseReloadAnswer(
      "Success=1\n--\n[NOTICE]   (1) : haproxy version is 2.8.5\n[NOTICE]   (1) : Loading success.\n",
    ),
    { success: true, logs: "[NOTICE]   (1) : haproxy version is 2.8.5\n[NOTICE]   (1) : Loading success." },
  );
  const failed = parseReloadAnswer(
    "Success=0\n--\n[ALERT]    (1) : config : parsing [x.cfg:3] : unknown keyword\n",
  );
  assert.equal(failed?.success, false);
  assert.match(failed?.logs ?? "", /unknown keyword/);
  assert.deepEqual(parseReloadAnswer("Success=1\n"), { success: true, logs: "" });
});

Deno.test("parseMasterAddress() tells unix sockets from host:port", () => {
  assert.deepEqual(parseMasterAddress("/run/haproxy-master.sock"), {
    transport: "unix",
    path: "/run/haproxy-master.sock",
  });
  assert.deepEqual(parseMasterAddress("unix@/run/m.sock"), { transport: "unix", path: "/run/m.sock" });
  assert.deepEqual(parseMasterAddress("master.sock"), { transport: "unix", path: "master.sock" });
  assert.deepEqual(parseMasterAddress("127.0.0.1:9999"), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 9999,
  });
  assert.deepEqual(parseMasterAddress("[::1]:9999"), { transport: "tcp", hostname: "::1", port: 9999 });
  assert.deepEqual(parseMasterAddress("localhost:1"), { transport: "tcp", hostname: "localhost", port: 1 });
  assert.throws(() => parseMasterAddress("127.0.0.1:70000"), /port out of range/);
  assert.throws(() => parseMasterAddress(" "), /empty/);
});

/**
 * A fake HAProxy 2.7+ master CLI on a unix socket: answers only after the client half-closes, like the
 * real one, with `show proc` and a synchronous `reload` answer.
 */
async function withFakeMaster(
  reloadAnswer: string,
  fn: (socket: string, commands: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-fake-master-" });
  const path = join(dir, "master.sock");
  const listener = Deno.listen({ transport: "unix", path });
  const commands: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      let received = "";
      const buffer = new Uint8Array(1024);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        received += new TextDecoder().decode(buffer.subarray(0, n));
      }
      const request = received.trim();
      commands.push(request);
      const answer = request === "show proc"
        ? "#<PID> <type> <reloads> <uptime> <version>\n1 master 0 [failed: 0] 0d00h00m01s 2.8.5\n# workers\n2 worker 0 0d00h00m01s 2.8.5\n"
        : request === "reload"
        ? reloadAnswer
        : "Unknown command\n";
      await conn.write(new TextEncoder().encode(answer)).catch(() => 0);
      conn.close();
    }
  })();
  try {
    await fn(path, commands);
  } finally {
    listener.close();
    await serving.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createMasterSocketReloader() reports a 2.7+ Success=1 answer with the startup logs", async () => {
  await withFakeMaster("Success=1\n--\n[NOTICE]   (1) : Loading success.\n", async (socket, commands) => {
    const result = await createMasterSocketReloader({ address: socket, timeoutMs: 5000 }).reload();
    assert.equal(result.ok, true, result.error);
    assert.match(result.detail, /Loading success/);
    assert.ok(commands.includes("reload"));
  });
});

Deno.test("createMasterSocketReloader() reports a 2.7+ Success=0 answer as failed", async () => {
  await withFakeMaster("Success=0\n--\n[ALERT]    (1) : config : unknown keyword 'x'\n", async (socket) => {
    const result = await createMasterSocketReloader({ address: socket, timeoutMs: 5000 }).reload();
    assert.equal(result.ok, false);
    assert.match(result.error ?? "", /answered Success=0/);
    assert.match(result.detail, /unknown keyword 'x'/);
  });
});

Deno.test("createMasterSocketReloader() fails clearly when the master socket is missing", async () => {
  const result = await createMasterSocketReloader({ address: "/nonexistent/master.sock", timeoutMs: 500 })
    .reload();
  assert.equal(result.ok, false);
  assert.match(result.error ?? "", /Cannot reload HAProxy: Cannot send "show proc" to master socket/);
});

Deno.test("createCommandReloader() reports exit codes, output and timeouts", async () => {
  const ok = await createCommandReloader({ command: ["sh", "-c", "echo reloaded"] }).reload();
  assert.deepEqual([ok.ok, ok.detail, ok.error], [true, "reloaded", undefined]);
  const failed = await createCommandReloader({ command: ["sh", "-c", "echo nope >&2; exit 4"] }).reload();
  assert.equal(failed.ok, false);
  assert.equal(failed.error, `Reload command "sh -c echo nope >&2; exit 4" failed with exit code 4: nope`);
  const slow = await createCommandReloader({ command: ["sleep", "10"], timeoutMs: 150 }).reload();
  assert.equal(slow.ok, false);
  assert.match(slow.error ?? "", /timed out after 150 ms/);
  const missing = await createCommandReloader({ command: ["/nonexistent/systemctl"] }).reload();
  assert.equal(missing.ok, false);
  assert.match(missing.error ?? "", /program not found/);
});

async function masterReloads(socket: string): Promise<number> {
  return parseShowProc(await masterCommand(parseMasterAddress(socket), "show proc")).master.reloads;
}

Deno.test({
  name: "createCommandReloader() reloads the real haproxy with a SIGUSR2 script",
  ignore: NO_HAPROXY,
  async fn() {
    await using alpha = await startHttpBackend("alpha", { hostname: "127.0.0.2" });
    await using bravo = await startHttpBackend("bravo", { hostname: "127.0.0.3" });
    const port = freePort();
    const config = (server: string) => routingConfig({ http: { listen: port, server } });
    await using haproxy = await startHaproxy(config(`127.0.0.2:${alpha.port}`), { waitFor: [port] });
    assert.equal((await httpGet(port, "app.test")).body, "alpha\n");
    await haproxy.writeConfig(config(`127.0.0.3:${bravo.port}`));
    const reloader = createCommandReloader({ command: ["sh", "-c", `kill -USR2 ${haproxy.pid}`] });
    const result = await reloader.reload();
    assert.equal(result.ok, true, result.error);
    await waitFor(async () => (await masterReloads(haproxy.masterSocket)) === 1, { what: "the reload" });
    await waitFor(async () => (await httpGet(port, "app.test")).body === "bravo\n", {
      what: "bravo to answer",
    });
    await reloader.close();
  },
});

Deno.test({
  name: "createMasterSocketReloader() switches the running 2.6 config and reports a broken one as failed",
  ignore: NO_HAPROXY,
  async fn() {
    await using httpA = await startHttpBackend("alpha", { hostname: "127.0.0.2" });
    await using httpB = await startHttpBackend("bravo", { hostname: "127.0.0.3" });
    await using tlsA = await startTlsBackend("alpha.test", { hostname: "127.0.0.2" });
    await using tlsB = await startTlsBackend("bravo.test", { hostname: "127.0.0.3" });
    await using redisA = await startRedisBackend("alpha", { hostname: "127.0.0.2" });
    await using redisB = await startRedisBackend("bravo", { hostname: "127.0.0.3" });
    const ports = { http: freePort(), tls: freePort(), tcp: freePort() };
    const configA = routingConfig({
      http: { listen: ports.http, server: `127.0.0.2:${httpA.port}` },
      tls: { listen: ports.tls, server: `127.0.0.2:${tlsA.port}` },
      tcp: { listen: ports.tcp, server: `127.0.0.2:${redisA.port}` },
    });
    const configB = routingConfig({
      http: { listen: ports.http, server: `127.0.0.3:${httpB.port}` },
      tls: { listen: ports.tls, server: `127.0.0.3:${tlsB.port}` },
      tcp: { listen: ports.tcp, server: `127.0.0.3:${redisB.port}` },
    });
    await using haproxy = await startHaproxy(configA, { waitFor: Object.values(ports) });

    // Before: everything goes to alpha.
    assert.equal((await httpGet(ports.http, "app.test")).body, "alpha\n");
    assert.equal((await httpGet(ports.http, "other.test")).status, 404);
    assert.equal((await tlsHandshake(ports.tls, "svc.test")).cn, "alpha.test");
    assert.equal(await tcpRoundTrip(ports.tcp, "PING\r\nNAME\r\n"), "+PONG\r\n+alpha\r\n");

    const reloader = createMasterSocketReloader({ address: haproxy.masterSocket, timeoutMs: 10_000 });
    await haproxy.writeConfig(configB);
    const ok = await reloader.reload();
    assert.equal(ok.ok, true, ok.error);
    assert.match(ok.detail, /HAProxy 2\.\d+.*reloads 1/);

    // After: everything goes to bravo.
    await waitFor(async () => (await httpGet(ports.http, "app.test")).body === "bravo\n", { what: "bravo" });
    assert.equal((await tlsHandshake(ports.tls, "svc.test")).cn, "bravo.test");
    assert.equal(await tcpRoundTrip(ports.tcp, "*1\r\n$4\r\nNAME\r\n"), "+bravo\r\n");
    assert.ok(httpB.hits >= 1 && redisB.hits >= 1);

    // A broken config on disk: reported as failed, the running workers keep serving bravo.
    await haproxy.writeConfig(configB + "\nfrontend broken\n  bogus-keyword\n");
    const failed = await reloader.reload();
    assert.equal(failed.ok, false);
    assert.match(failed.error ?? "", /reports a failed reload, the previous workers keep serving/);
    assert.match(failed.detail, /failed 1/);
    assert.equal((await httpGet(ports.http, "app.test")).body, "bravo\n");
    assert.equal(await tcpRoundTrip(ports.tcp, "PING\r\n"), "+PONG\r\n");

    // Fixed again: the next reload works.
    await haproxy.writeConfig(configA);
    const again = await reloader.reload();
    assert.equal(again.ok, true, again.error);
    await waitFor(async () => (await httpGet(ports.http, "app.test")).body === "alpha\n", { what: "alpha" });
    assert.match(haproxy.logs(), /unknown keyword 'bogus-keyword'/);
  },
});

Deno.test({
  name: "createMasterSocketReloader() reloads through a host:port master socket",
  ignore: NO_HAPROXY,
  async fn() {
    const port = freePort();
    const cliPort = freePort();
    await using haproxy = await startHaproxy(
      routingConfig({ tcp: { listen: port, server: "127.0.0.2:1" } }),
      {
        waitFor: [port],
        extraArgs: ["-S", `127.0.0.1:${cliPort}`],
      },
    );
    const reloader = createMasterSocketReloader({ address: `127.0.0.1:${cliPort}`, timeoutMs: 10_000 });
    const result = await reloader.reload();
    assert.equal(result.ok, true, result.error);
    assert.equal(await masterReloads(haproxy.masterSocket), 1);
  },
});
