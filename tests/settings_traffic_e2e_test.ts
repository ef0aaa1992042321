/**
 * Per-service settings proved with traffic against a real HAProxy 2.6, beyond tests/settings_e2e_test.ts:
 * the HTTP check's Host header and status range, maxconn queueing, header hashing, `check: none`, PROXY v1.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { httpGet, startTlsBackend, tcpRoundTrip, tlsHandshake } from "../lib/demo/backends.ts";
import {
  endpoints,
  seenBackends,
  startDaemonProcess,
  startHttpBackends,
  startKube,
} from "./support/daemon.ts";
import { freePort, haproxyAvailable, showStatRows, waitFor } from "./support/haproxy.ts";
import { rig } from "./support/runtime_rig.ts";
import { podService } from "./support/fixtures.ts";
import { acceptEach } from "./support/proxy_backend.ts";

/** A routed set in namespace "traffic" (see {@linkcode podService}). */
const service = podService.bind(null, "traffic");

/**
 * An HTTP pod on `hostname:port`: /healthz answers `health(request)`; /hold waits for `hold`, counting the
 * requests in flight (`maxInFlight`), and `arrived` resolves with the first.
 */
function pod(
  hostname: string,
  port: number,
  options: { health?: (req: Request) => number; hold?: Promise<void> } = {},
) {
  let arrive!: () => void;
  const arrived = new Promise<void>((resolve) => (arrive = resolve));
  const stats = { inFlight: 0, maxInFlight: 0 };
  const server = Deno.serve({ hostname, port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") {
      const status = options.health?.(req) ?? 200;
      return new Response("", { status, headers: status === 302 ? { location: "/" } : {} });
    }
    if (path === "/hold" && options.hold !== undefined) {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      arrive();
      await options.hold;
      stats.inFlight--;
    }
    return new Response(`${hostname}\n`, { headers: { "x-backend": hostname } });
  });
  return { arrived, stats, close: () => server.shutdown() };
}

Deno.test({
  name: "settings: check-path sends the service's host name; check-status 200-399 passes a 302, fails a 500",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.2");
    let code = 302;
    const hosted = pod("127.0.0.2", port, {
      health: (req) => req.headers.get("host") === "hosted.test" ? 200 : 404,
    });
    const ranged = pod("127.0.0.3", port, { health: () => code });
    try {
      const checked = (domain: string, extra: Record<string, string> = {}) => ({
        domain,
        proto: "http",
        "haconfd.io/check-path": "/healthz",
        "haconfd.io/check-interval": "100ms",
        ...extra,
      });
      await using r = await rig([
        service("hosted", checked("hosted.test"), port, { p: "127.0.0.2" }),
        service("other", checked("other.test"), port, { p: "127.0.0.2" }),
        service("ranged", checked("ranged.test", { "haconfd.io/check-status": "200-399" }), port, {
          p: "127.0.0.3",
        }),
      ]);
      const get = (host: string) => httpGet(r.listen, host);
      await waitFor(async () => (await get("other.test")).status === 503, {
        what: "the check with Host other.test to fail",
      });
      assert.equal((await get("hosted.test")).status, 200, "the check with Host hosted.test passes");
      assert.equal((await get("ranged.test")).status, 200, "a 302 is within 200-399");
      code = 500;
      await waitFor(async () => (await get("ranged.test")).status === 503, {
        what: "a 500 to fail the check",
      });
      code = 302;
      await waitFor(async () => (await get("ranged.test")).status === 200, { what: "a 302 to pass again" });
    } finally {
      await Promise.all([hosted.close(), ranged.close()]);
    }
  },
});

/** The rows of `show stat` whose proxy name contains `proxy`, each as column → value. */
function statRows(stat: string, proxy: string): Record<string, string>[] {
  return showStatRows(stat).filter((row) => row.pxname?.includes(proxy) === true);
}

/**
 * The most requests ever queued at once (`qmax` of `show stat`) over the rows of proxies whose name contains
 * `proxy`: a maximum, so a poll that comes late (a loaded machine) still sees a queue that was there.
 */
function queuedAtMost(stat: string, proxy: string): number {
  return Math.max(0, ...statRows(stat, proxy).map((row) => Number(row.qmax || 0)));
}

Deno.test({
  name: "settings: maxconn 1 queues a second concurrent request in HAProxy, then serves it",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.2");
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const slow = pod("127.0.0.2", port, { hold });
    try {
      const ann = { domain: "queue.test", proto: "http", "haconfd.io/maxconn": "1" };
      await using r = await rig([service("queue", ann, port, { s: "127.0.0.2" })]);
      const requests = [0, 1].map(() => httpGet(r.listen, "queue.test", "/hold", { timeoutMs: 30_000 }));
      // Awaited below; should an assertion fail first, its message is the one reported.
      requests.forEach((request) => request.catch(() => {}));
      await slow.arrived;
      await waitFor(async () => queuedAtMost(await r.cli("@1 show stat"), "queue") >= 1, {
        what: "the second request in HAProxy's queue",
      });
      assert.equal(slow.stats.inFlight, 1, "the pod has one request while the other waits");
      release();
      const answers = await Promise.all(requests);
      assert.deepEqual(answers.map((a) => a.status), [200, 200], "both served");
      assert.equal(slow.stats.maxInFlight, 1, "never more than maxconn at the pod");
    } finally {
      release();
      await slow.close();
    }
  },
});

/** The backend that answered a GET for `host` carrying `X-User: user`. */
async function backendFor(port: number, host: string, user: string): Promise<string | undefined> {
  const text = await tcpRoundTrip(
    port,
    `GET / HTTP/1.1\r\nHost: ${host}\r\nX-User: ${user}\r\nConnection: close\r\n\r\n`,
  );
  return /^x-backend: (\S+)/im.exec(text)?.[1];
}

Deno.test({
  name:
    "settings: balance hdr(X-User) sends one user to one pod and spreads users, with hash-type consistent",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c"]);
    try {
      const ann = { domain: "hash.test", proto: "http", "haconfd.io/balance": "hdr(X-User)" };
      const pods = { a: "127.0.0.2", b: "127.0.0.3", c: "127.0.0.4" };
      await using r = await rig([service("hash", ann, port, pods)]);
      const text = r.render([service("hash", ann, port, pods)]);
      assert.match(
        text,
        /balance hdr\(X-User\)\n\s*hash-type consistent\n/,
        "hashing with consistent hashes",
      );
      for (const user of ["alice", "bob", "carol"]) {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 8; i++) seen.add(await backendFor(r.listen, "hash.test", user));
        assert.equal(seen.size, 1, `${user} reached ${[...seen].join(", ")}`);
      }
      const spread = new Set<string | undefined>();
      for (let i = 0; i < 30; i++) spread.add(await backendFor(r.listen, "hash.test", `user-${i}`));
      assert.ok(spread.size > 1, `thirty users reached only ${[...spread].join(", ")}`);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

/** The backend that answered a GET for `host` sent from the local address `source`. */
function backendFrom(port: number, host: string, source: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: source });
    let text = "";
    socket.setEncoding("utf8");
    socket.setTimeout(
      5_000,
      () => socket.destroy(new Error(`GET http://${host}/ from ${source}: no answer in 5 s`)),
    );
    socket.on("connect", () => socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(/^x-backend: (\S+)/im.exec(text)?.[1]));
  });
}

Deno.test({
  name: "settings: balance source keeps one client address on one pod and spreads addresses",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c"]);
    try {
      const ann = { domain: "source.test", proto: "http", "haconfd.io/balance": "source" };
      await using r = await rig([
        service("source", ann, port, { a: "127.0.0.2", b: "127.0.0.3", c: "127.0.0.4" }),
      ]);
      for (const source of ["127.0.0.1", "127.0.0.50"]) {
        const seen = new Set<string | undefined>();
        for (let i = 0; i < 8; i++) seen.add(await backendFrom(r.listen, "source.test", source));
        assert.equal(seen.size, 1, `${source} reached ${[...seen].join(", ")}`);
      }
      const spread = new Set<string | undefined>();
      for (let i = 0; i < 30; i++) spread.add(await backendFrom(r.listen, "source.test", `127.0.1.${i + 1}`));
      assert.ok(spread.size > 1, `thirty addresses reached only ${[...spread].join(", ")}`);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "settings: check none keeps a dead pod in rotation, check tcp takes it out",
  ignore: !haproxyAvailable(),
  async fn() {
    // Pod "dead" is never started: its address is dead.
    const { backends, port } = await startHttpBackends(["a"]);
    try {
      const pods = { a: "127.0.0.2", dead: "127.0.0.3" };
      const ann = (domain: string, check: string) => ({
        domain,
        proto: "http",
        "haconfd.io/check": check,
        "haconfd.io/check-interval": "100ms",
      });
      const none = { domain: "none.test", proto: "http", "haconfd.io/check": "none" };
      await using r = await rig([
        service("none", none, port, pods),
        service("tcp", ann("tcp.test", "tcp"), port, pods),
      ]);
      await waitFor(async () => (await seenBackends(r.listen, "tcp.test", 6)).join() === "a", {
        what: "the tcp check to take the dead pod out",
      });
      // Without a check the dead pod stays in rotation: HAProxy keeps sending it requests, which fail to
      // connect and are redispatched to "a" (`option redispatch`), so clients still see only "a".
      assert.deepEqual(await seenBackends(r.listen, "none.test", 4), ["a"]);
      const rows = async (proxy: string) => {
        const found = statRows(await r.cli("@1 show stat"), proxy)
          .find((row) => row.svname === "dead" || row.svname?.includes("127.0.0.3") === true);
        assert.ok(found, `the dead pod's server in ${proxy}`);
        return found;
      };
      const unchecked = await rows("none");
      assert.equal(unchecked.status, "no check", "without a check the dead pod stays in rotation");
      assert.ok(Number(unchecked.wredis) >= 1, "requests were sent to the dead pod and redispatched");
      assert.equal((await rows("tcp")).status, "DOWN", "the tcp check took the dead pod out");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

/** A TCP pod that records the first line of each connection and answers "pong". */
function linePod(hostname: string, port: number) {
  const listener = Deno.listen({ hostname, port });
  const lines: string[] = [];
  acceptEach(listener, async (conn) => {
    const buffer = new Uint8Array(256);
    const n = await conn.read(buffer);
    if (n !== null) lines.push(new TextDecoder().decode(buffer.slice(0, n)).split("\r\n")[0]!);
    await conn.write(new TextEncoder().encode("pong\n"));
  });
  return { lines, close: () => listener.close() };
}

Deno.test({
  name: "settings: send-proxy v1 gives a TCP pod a PROXY v1 line with the client's address",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.5");
    const tcpPod = linePod("127.0.0.5", port);
    const listen = freePort();
    try {
      const ann = {
        domain: "v1.test",
        proto: "pg",
        "haconfd.io/listen-port": String(listen),
        "haconfd.io/send-proxy": "v1",
      };
      await using _ = await rig([service("v1", ann, port, { p: "127.0.0.5" })]);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listen });
      const local = conn.localAddr as Deno.NetAddr;
      await conn.write(new TextEncoder().encode("ping\n"));
      const answer = new Uint8Array(16);
      const n = await conn.read(answer);
      conn.close();
      assert.equal(new TextDecoder().decode(answer.slice(0, n ?? 0)), "pong\n");
      const expected = `PROXY TCP4 127.0.0.1 127.0.0.1 ${local.port} ${listen}`;
      assert.ok(tcpPod.lines.includes(expected), `lines seen: ${tcpPod.lines.join(" | ")}`);
    } finally {
      tcpPod.close();
    }
  },
});

Deno.test({
  name:
    "settings: allow on an https passthrough service refuses a client outside, serves one inside, IPv6 CIDRs too",
  ignore: !haproxyAvailable(),
  async fn() {
    await using pod = await startTlsBackend("pod-tls", { hostname: "127.0.0.3" });
    const passthrough = (name: string, allow: string) =>
      service(name, { domain: `${name}.test`, proto: "https", "haconfd.io/allow": allow }, pod.port, {
        p: pod.hostname,
      });
    const sets = [
      passthrough("inside", "fd00::/8,127.0.0.0/8"),
      passthrough("outside", "10.0.0.0/8,2001:db8::/32"),
    ];
    await using r = await rig(sets);
    const text = r.render(sets);
    for (const cidr of ["fd00::/8", "2001:db8::/32"]) assert.ok(text.includes(cidr), `${cidr} rendered`);
    const https = Number(r.listenSpec.https.split(":").at(-1));
    assert.equal((await tlsHandshake(https, "inside.test")).cn, "pod-tls", "a client inside allow");
    await assert.rejects(tlsHandshake(https, "outside.test"), "a client outside allow: no handshake");
    assert.equal((await tlsHandshake(https, "inside.test")).cn, "pod-tls", "still served inside");
  },
});

/** A TCP pod answering "pong" to every read on a connection it keeps open. */
function echoPod(hostname: string, port: number) {
  const listener = Deno.listen({ hostname, port });
  const open = new Set<Deno.Conn>();
  acceptEach(listener, async (conn) => {
    open.add(conn);
    const buffer = new Uint8Array(256);
    try {
      while ((await conn.read(buffer)) !== null) await conn.write(new TextEncoder().encode("pong\n"));
    } finally {
      open.delete(conn);
    }
  });
  return {
    close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Closed by HAProxy already.
        }
      }
    },
  };
}

/** Sends "ping" on `conn` and returns the answer, "" when the connection was closed. */
async function ping(conn: Deno.Conn): Promise<string> {
  try {
    await conn.write(new TextEncoder().encode("ping\n"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    return n === null ? "" : new TextDecoder().decode(buffer.slice(0, n));
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe) return "";
    throw error;
  }
}

Deno.test({
  name: "settings: timeout-tunnel closes an idle TCP connection after it, a longer one stays open",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.6");
    const pod = echoPod("127.0.0.6", port);
    const [shortPort, longPort] = [freePort(), freePort()];
    const tcp = (name: string, listen: number, tunnel: string) =>
      service(
        name,
        {
          domain: `${name}.test`,
          proto: "pg",
          "haconfd.io/listen-port": String(listen),
          "haconfd.io/timeout-tunnel": tunnel,
        },
        port,
        { p: "127.0.0.6" },
      );
    const conns: Deno.Conn[] = [];
    try {
      await using _ = await rig([tcp("short", shortPort, "300ms"), tcp("long", longPort, "60s")]);
      const long = await Deno.connect({ hostname: "127.0.0.1", port: longPort });
      conns.push(long);
      assert.equal(await ping(long), "pong\n");
      const short = await Deno.connect({ hostname: "127.0.0.1", port: shortPort });
      conns.push(short);
      assert.equal(await ping(short), "pong\n");
      // The close is the event: a read that ends (EOF or reset), under a deadline that fails loudly.
      const buffer = new Uint8Array(16);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const closed = await Promise.race([
        short.read(buffer).then((n) => n === null, (error) => error instanceof Deno.errors.ConnectionReset),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("the idle connection was not closed within 10 s")),
            10_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      assert.ok(closed, "HAProxy closed the idle connection past timeout-tunnel");
      assert.equal(await ping(long), "pong\n", "the connection idle as long behind a 60s tunnel still works");
    } finally {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed by HAProxy already.
        }
      }
      pod.close();
    }
  },
});

Deno.test({
  name:
    "settings: an object with three invalid annotations is skipped, each named on /status; the rest is served",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["web"]);
    try {
      const invalid = {
        "haconfd.io/maxconn": "lots",
        "haconfd.io/check-path": "healthz",
        "haconfd.io/timeout-client": "5s",
      };
      await using kube = await startKube([
        endpoints("web", { domain: "web.test", proto: "http" }, ["127.0.0.2"], port),
        endpoints("bad", { domain: "bad.test", proto: "http", ...invalid }, ["127.0.0.2"], port),
      ]);
      await using daemon = await startDaemonProcess({ apiServer: kube.url });
      await waitFor(async () => (await httpGet(daemon.ports.http, "web.test")).status === 200, {
        what: "the valid service to be served",
      });
      const skipped = await waitFor(async () => {
        const all = (await daemon.status()).skipped as { object: string; reason: string }[];
        return all.find((s) => s.object === "e2e/bad");
      }, { what: "/status to list e2e/bad as skipped" });
      for (const annotation of Object.keys(invalid)) {
        assert.ok(skipped.reason.includes(annotation), `the reason names ${annotation}: ${skipped.reason}`);
      }
      assert.equal(
        (await httpGet(daemon.ports.http, "bad.test")).status,
        404,
        "the skipped object is not routed",
      );
      assert.equal((await httpGet(daemon.ports.http, "web.test")).status, 200, "the valid one still is");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});
