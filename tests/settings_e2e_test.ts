/**
 * Per-service settings against a real HAProxy 2.6 with real traffic: each annotation proved by what a
 * client sees, and the runtime path on a service using every setting (no reload, file and HAProxy agree).
 */
import assert from "node:assert/strict";
import { parseServersState } from "../lib/haproxy/runtime.ts";
import { parseServerLine } from "../lib/apply/config_diff.ts";
import { httpGet, tcpRoundTrip } from "../lib/demo/backends.ts";
import { seenBackends, startHttpBackends } from "./support/daemon.ts";
import { freePort, haproxyAvailable, showStatRows, waitFor } from "./support/haproxy.ts";
import { expectRuntime, type Rig, rig } from "./support/runtime_rig.ts";
import type { ProxyBackend } from "./support/proxy_backend.ts";
import { EVERY_SETTING, podService } from "./support/fixtures.ts";

/** A routed set in namespace "e2e" (see {@linkcode podService}). */
const service = podService.bind(null, "e2e");

/**
 * A backend on `hostname:port` answering after `delayMs`, or with `health()` on /healthz; requests for
 * /hold wait for `hold` (`held` resolves when the first one arrives).
 */
function testBackend(
  hostname: string,
  port: number,
  options: { delayMs?: number; health?: () => number; hold?: Promise<void> } = {},
) {
  let arrived!: () => void;
  const held = new Promise<void>((resolve) => (arrived = resolve));
  const server = Deno.serve({ hostname, port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return new Response("", { status: options.health?.() ?? 200 });
    if (path === "/hold" && options.hold !== undefined) {
      arrived();
      await options.hold;
    }
    if (options.delayMs !== undefined) await new Promise((r) => setTimeout(r, options.delayMs));
    return new Response(`${hostname}\n`, { headers: { "x-backend": hostname } });
  });
  return { held, close: () => server.shutdown() };
}

Deno.test({
  name: "settings: timeout-server, HTTP check, allow, path prefix and an invalid object, with traffic",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.2");
    let health = 200;
    const slow = testBackend("127.0.0.2", port, { delayMs: 1_000 });
    const checked = testBackend("127.0.0.3", port, { health: () => health });
    const api = testBackend("127.0.0.4", port);
    try {
      const sets = [
        service(
          "short",
          { domain: "short.test", proto: "http", "haconfd.io/timeout-server": "200ms" },
          port,
          {
            s: "127.0.0.2",
          },
        ),
        service("long", { domain: "long.test", proto: "http", "haconfd.io/timeout-server": "5s" }, port, {
          s: "127.0.0.2",
        }),
        service(
          "checked",
          {
            domain: "checked.test",
            proto: "http",
            "haconfd.io/check-path": "/healthz",
            "haconfd.io/check-status": "200",
            "haconfd.io/check-interval": "100ms",
          },
          port,
          { c: "127.0.0.3" },
        ),
        service("denied", { domain: "denied.test", proto: "http", "haconfd.io/allow": "10.0.0.0/8" }, port, {
          c: "127.0.0.3",
        }),
        service(
          "allowed",
          { domain: "allowed.test", proto: "http", "haconfd.io/allow": "127.0.0.0/8,::1" },
          port,
          {
            c: "127.0.0.3",
          },
        ),
        service("site", { domain: "shop.test", proto: "http" }, port, { c: "127.0.0.3" }),
        service("api", { domain: "shop.test", proto: "http", "haconfd.io/path": "/api" }, port, {
          a: "127.0.0.4",
        }),
        service("broken", { domain: "broken.test", proto: "http", "haconfd.io/maxconn": "lots" }, port, {
          c: "127.0.0.3",
        }),
      ];
      await using r = await rig(sets);
      const get = (host: string, path = "/") => httpGet(r.listen, host, path);
      assert.equal((await get("short.test")).status, 504, "a pod slower than timeout-server");
      assert.equal((await get("long.test")).status, 200, "the same pod behind a longer timeout-server");
      await waitFor(async () => (await get("checked.test")).status === 200, { what: "checked.test up" });
      health = 500;
      await waitFor(async () => (await get("checked.test")).status === 503, { what: "the check to fail" });
      health = 200;
      await waitFor(async () => (await get("checked.test")).status === 200, { what: "the check to pass" });
      assert.equal((await get("denied.test")).status, 403, "a client outside allow");
      assert.equal((await get("allowed.test")).status, 200, "a client inside allow");
      assert.equal((await get("shop.test", "/api/orders")).headers["x-backend"], "127.0.0.4");
      assert.equal((await get("shop.test", "/api")).headers["x-backend"], "127.0.0.4");
      assert.equal((await get("shop.test", "/apiary")).headers["x-backend"], "127.0.0.3");
      assert.equal((await get("shop.test", "/")).headers["x-backend"], "127.0.0.3");
      assert.equal((await get("broken.test")).status, 404, "the invalid object is skipped, the rest serves");
    } finally {
      await Promise.all([slow.close(), checked.close(), api.close()]);
    }
  },
});

/** A TCP pod that records the first bytes of each connection and answers "pong". */
function proxyPod(hostname: string, port: number) {
  const listener = Deno.listen({ hostname, port });
  const heads: Uint8Array[] = [];
  async function serve(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(256);
    const n = await conn.read(buffer).catch(() => null);
    if (n !== null) heads.push(buffer.slice(0, n));
    await conn.write(new TextEncoder().encode("pong\n")).catch(() => {});
    conn.close();
  }
  void (async () => {
    for (;;) {
      try {
        void serve(await listener.accept());
      } catch (error) {
        // A health check that connects and resets at once fails its accept (ENOTCONN): keep listening.
        if (error instanceof Deno.errors.BadResource) return;
      }
    }
  })();
  return { heads, close: () => listener.close() };
}

/** The source address and port of a PROXY v2 header for TCP over IPv4, or undefined. */
function proxyV2Source(head: Uint8Array): string | undefined {
  const signature = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  if (!signature.every((b, i) => head[i] === b) || head[12] !== 0x21 || head[13] !== 0x11) return undefined;
  const ip = [...head.slice(16, 20)].join(".");
  return `${ip}:${(head[24]! << 8) | head[25]!}`;
}

Deno.test({
  name:
    "settings: send-proxy v2 gives a TCP pod the client's address; allow closes a TCP connection from outside",
  ignore: !haproxyAvailable(),
  async fn() {
    const port = freePort("127.0.0.5");
    const pod = proxyPod("127.0.0.5", port);
    const [open, closed] = [freePort(), freePort()];
    try {
      const tcp = (name: string, listenPort: number, extra: Record<string, string>) =>
        service(
          name,
          {
            domain: `${name}.test`,
            proto: "pg",
            "haconfd.io/listen-port": String(listenPort),
            "haconfd.io/send-proxy": "v2",
            ...extra,
          },
          port,
          { p: "127.0.0.5" },
        );
      await using _ = await rig([
        tcp("db", open, { "haconfd.io/allow": "127.0.0.1/32" }),
        tcp("closed", closed, { "haconfd.io/allow": "10.0.0.0/8" }),
      ]);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: open });
      const local = conn.localAddr as Deno.NetAddr;
      await conn.write(new TextEncoder().encode("ping\n"));
      const answer = new Uint8Array(16);
      const n = await conn.read(answer);
      conn.close();
      assert.equal(new TextDecoder().decode(answer.slice(0, n ?? 0)), "pong\n");
      const sources = pod.heads.map(proxyV2Source);
      assert.ok(sources.includes(`127.0.0.1:${local.port}`), `PROXY v2 sources seen: ${sources.join(", ")}`);
      // HAProxy rejects at connection: the client sees the connection closed or reset, never an answer.
      const outside = await tcpRoundTrip(closed, "ping\n").catch((error) => {
        if (error instanceof Deno.errors.ConnectionReset) return "";
        throw error;
      });
      assert.equal(outside, "", "outside allow: closed without an answer");
    } finally {
      pod.close();
    }
  },
});

/** A GET with a Cookie header; the answering backend and the cookie set, if any. */
async function getWithCookie(port: number, host: string, cookie: string | undefined) {
  const text = await tcpRoundTrip(
    port,
    `GET / HTTP/1.1\r\nHost: ${host}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ""}Connection: close\r\n\r\n`,
  );
  return {
    backend: /^x-backend: (\S+)/im.exec(text)?.[1],
    setCookie: /^set-cookie: ([^;\r\n]+)/im.exec(text)?.[1],
  };
}

Deno.test({
  name: "settings: sticky keeps a client on its pod, also after a pod is added reload-free",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c"]);
    const ann = { domain: "shop.test", proto: "http", "haconfd.io/sticky": "true" };
    try {
      await using r = await rig([service("shop", ann, port, { a: "127.0.0.2", b: "127.0.0.3" })]);
      const reloads = (await r.proc()).reloads;
      const first = await getWithCookie(r.listen, "shop.test", undefined);
      assert.ok(first.setCookie?.startsWith("HACONFD_SERVER="), `cookie set: ${first.setCookie}`);
      const seen = async () =>
        new Set(
          await Promise.all(
            Array.from({ length: 10 }, async () =>
              (await getWithCookie(r.listen, "shop.test", first.setCookie)).backend),
          ),
        );
      assert.deepEqual([...await seen()], [first.backend], "ten requests with the cookie: one pod");
      const three = service("shop", ann, port, { a: "127.0.0.2", b: "127.0.0.3", c: "127.0.0.4" });
      expectRuntime(await r.applier.apply(r.render([three])), "add c");
      assert.deepEqual([...await seen()], [first.backend], "still one pod after c was added");
      // The added pod gets a cookie of its own, and a client holding it stays there.
      const cCookie = await waitFor(async () => {
        const answer = await getWithCookie(r.listen, "shop.test", undefined);
        return answer.backend === "c" ? answer.setCookie : undefined;
      }, { what: "a request to reach c" });
      const onC = await getWithCookie(r.listen, "shop.test", cCookie);
      assert.equal(onC.backend, "c");
      assert.equal((await r.proc()).reloads, reloads, "no reload");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "settings: --accept-proxy serves a client that speaks the PROXY protocol",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a"]);
    try {
      await using r = await rig([
        service("web", { domain: "web.test", proto: "http" }, port, { a: "127.0.0.2" }),
      ], { acceptProxy: true });
      const answer = await tcpRoundTrip(
        r.listen,
        `PROXY TCP4 127.0.0.9 127.0.0.1 40000 ${r.listen}\r\nGET / HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1\.1 200/);
      assert.match(answer, /x-backend: a/i);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name:
    "settings: a terminating-but-serving pod finishes its in-flight request and gets no new one, sticky clients included",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a"]);
    let release!: () => void;
    const hold = new Promise<void>((resolve) => (release = resolve));
    const slow = testBackend("127.0.0.9", port, { hold });
    try {
      const ann = { domain: "web.test", proto: "http", "haconfd.io/sticky": "true" };
      await using r = await rig([service("web", ann, port, { slow: "127.0.0.9" })]);
      const reloads = (await r.proc()).reloads;
      const sticky = await getWithCookie(r.listen, "web.test", undefined);
      assert.equal(sticky.backend, "127.0.0.9");
      assert.ok(sticky.setCookie !== undefined, "the slow pod's cookie");
      const inFlight = httpGet(r.listen, "web.test", "/hold", { timeoutMs: 30_000 });
      // Awaited below; should an assertion fail first, its message is the one reported.
      inFlight.catch(() => {});
      await slow.held;
      const pods = { a: "127.0.0.2", slow: "127.0.0.9" };
      const draining = service("web", ann, port, pods, ["slow"]);
      const text = r.render([draining]);
      assert.match(text, /server slow 127\.0\.0\.9:\d+ .*disabled\n/, "the file has it in maintenance");
      expectRuntime(await r.applier.apply(text), "slow drains");
      assert.deepEqual(
        await seenBackends(r.listen, "web.test", 6),
        ["a"],
        "no new request to the draining pod",
      );
      for (let i = 0; i < 4; i++) {
        const answer = await getWithCookie(r.listen, "web.test", sticky.setCookie);
        assert.equal(answer.backend, "a", "a client with the draining pod's cookie goes to another pod");
      }
      release();
      const answer = await inFlight;
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["x-backend"], "127.0.0.9", "the in-flight request finished on its pod");
      assert.equal((await r.proc()).reloads, reloads, "draining is a runtime change");
    } finally {
      release();
      await Promise.all([...backends.map((b) => b.close()), slow.close()]);
    }
  },
});

/** The `show stat` rows of the servers of backends whose name starts with `prefix`, by server name. */
function statServers(stat: string, prefix: string): Map<string, Record<string, string>> {
  const servers = showStatRows(stat)
    .filter(({ pxname = "", svname = "" }) => pxname.startsWith(prefix) && svname !== "BACKEND");
  return new Map(servers.map((row) => [row.svname ?? "", row]));
}

/**
 * The keywords of the file's servers as HAProxy 2.6 shows them live in `show stat`: `maxconn` as `slim`,
 * `check` as check rise/fall (none while in maintenance) and, once checked, an HTTP check's `L7OK`
 * (`inter` is not shown, nor send-proxy); the sticky cookie, not in the file (dynamic cookies), as a
 * value of each server's own.
 */
async function assertKeywordsLive(r: Rig, file: ReturnType<typeof parseServerLine>[], what: string) {
  const servers = file.filter((s) => typeof s !== "string");
  const expected = servers.map((s) => {
    const maxconn = s.keywords[s.keywords.indexOf("maxconn") + 1];
    // HAProxy pauses the check of a server in maintenance and then shows none.
    const checked = s.keywords.includes("check") && !s.keywords.includes("disabled");
    return `${s.name} slim ${maxconn} check ${checked} cookie true`;
  });
  const live = await waitFor(async () => {
    const stat = statServers(await r.cli("@1 show stat"), "be_all_test");
    const ready = servers.filter((s) => !s.keywords.includes("disabled"));
    return ready.every((s) => stat.get(s.name)?.check_status === "L7OK") ? stat : undefined;
  }, { what: `${what}: the HTTP checks of the ready servers to pass` });
  const cookies = servers.map((s) => live.get(s.name)?.cookie ?? "");
  assert.deepEqual(
    servers.map((s) => {
      const row = live.get(s.name) ?? {};
      return `${s.name} slim ${row.slim} check ${row.check_rise !== ""} cookie ${row.cookie !== ""}`;
    }),
    expected,
    `${what}: keywords live`,
  );
  assert.equal(new Set(cookies).size, cookies.length, `${what}: one cookie per server: ${cookies}`);
}

/** Every setting at once, on one http service. */
const EVERYTHING = {
  domain: "all.test",
  proto: "http",
  ...EVERY_SETTING,
  "haconfd.io/sticky": "shop",
  "haconfd.io/path": "/app",
};

Deno.test({
  name:
    "settings: pods of a service using every setting come and go without a reload; file and HAProxy agree",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c", "d"], { proxyProtocol: true });
    const ip = (i: number) => `127.0.0.${i + 2}`;
    try {
      await using r = await rig([service("all", EVERYTHING, port, { a: ip(0) })]);
      const reloads = (await r.proc()).reloads;
      const steps: [string, Record<string, string>, string[]][] = [
        ["add b", { a: ip(0), b: ip(1) }, []],
        ["add c and d", { a: ip(0), b: ip(1), c: ip(2), d: ip(3) }, []],
        ["b drains", { a: ip(0), b: ip(1), c: ip(2), d: ip(3) }, ["b"]],
        ["remove b and c", { a: ip(0), d: ip(3) }, []],
        ["c back", { a: ip(0), c: ip(2), d: ip(3) }, []],
      ];
      for (const [what, pods, draining] of steps) {
        const text = r.render([service("all", EVERYTHING, port, pods, draining)]);
        expectRuntime(await r.applier.apply(text), what);
        const file = text.split("\n").filter((l) => l.trim().startsWith("server ")).map(parseServerLine);
        // Every file server live with its address, weight and state; any other live one is removed (MAINT).
        const live = [...parseServersState(await r.cli("@1 show servers state")).values()].flat();
        const state = (maint: boolean) => maint ? "maint" : "ready";
        assert.deepEqual(
          live.filter((s) => file.some((f) => typeof f !== "string" && f.name === s.name))
            .map((s) =>
              `${s.name} ${s.address}:${s.port} weight ${s.weight} ${state((s.admin & 0x05) !== 0)}`
            )
            .sort(),
          file.map((s) =>
            typeof s === "string"
              ? s
              : `${s.name} ${s.address}:${s.port} weight 1 ${state(s.keywords.includes("disabled"))}`
          ).sort(),
          what,
        );
        const removed = live.filter((s) => !file.some((f) => typeof f !== "string" && f.name === s.name));
        assert.ok(
          removed.every((s) => (s.admin & 0x01) !== 0),
          `${what}: removed servers are in maintenance`,
        );
        await assertKeywordsLive(r, file, what);
      }
      // send-proxy-v2 is in no `show` output of HAProxy 2.6: the pods, added at runtime included, prove it.
      const answered = new Set<string | undefined>();
      for (let i = 0; i < 30; i++) {
        const text = await tcpRoundTrip(
          r.listen,
          `GET /app HTTP/1.1\r\nHost: all.test\r\nX-User: u${i}\r\nConnection: close\r\n\r\n`,
        );
        answered.add(/^x-backend: (\S+)/im.exec(text)?.[1]);
      }
      assert.ok(answered.has("c") || answered.has("d"), `a pod added at runtime served: ${[...answered]}`);
      for (const b of backends.filter((b) => answered.has(b.name))) {
        const { headers } = b as ProxyBackend;
        assert.ok(headers.v2 > 0 && headers.v1 === 0, `${b.name}: PROXY v2 ${headers.v2}, v1 ${headers.v1}`);
      }
      assert.equal((await r.proc()).reloads, reloads, "no reload");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});
