/**
 * The runtime path against a real HAProxy 2.6: server changes without reloads, draining, restart
 * equivalence, health checks on dynamic servers, and the fallbacks to a reload.
 */
import assert from "node:assert/strict";
import { applyPathOf } from "../lib/daemon/apply_path.ts";
import { generate } from "../lib/render/generate.ts";
import { masterCommand } from "../lib/haproxy/master_cli.ts";
import { createRuntimeClient, parseServersState, type RuntimeClient } from "../lib/haproxy/runtime.ts";
import type { EndpointSet } from "../lib/model/endpoints.ts";
import { compileTemplates, defaultTemplates, type TemplateFile } from "../lib/render/render.ts";
import { parseShowMap } from "../lib/haproxy/runtime_maps.ts";
import { parseMap } from "../lib/apply/map_diff.ts";
import { join } from "node:path";
import { httpGet } from "../lib/demo/backends.ts";
import { startHttpBackends } from "./support/daemon.ts";
import { seenBackends } from "./support/daemon.ts";
import { expectRuntime, type Rig, rig } from "./support/runtime_rig.ts";
import { haproxyAvailable, startHaproxy, waitFor } from "./support/haproxy.ts";

const HOST = "web.test";

/** An Endpoints set for `web.test` whose addresses carry pod names (server names). */
function web(port: number, pods: Record<string, string>, notReady: string[] = []): EndpointSet {
  return {
    namespace: "default",
    name: "web",
    created: "2026-01-01T00:00:00Z",
    annotations: { domain: HOST, proto: "http" },
    groups: [{
      ports: [{ name: "http", port }],
      addresses: Object.entries(pods).map(([target, ip]) => ({
        ip,
        ready: !notReady.includes(target),
        target,
      })),
    }],
  };
}

/** One HTTP/1.1 keep-alive connection that sends requests one after the other. */
async function keepAlive(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = conn.readable.getReader();
  let buffered = "";
  const decoder = new TextDecoder();
  return {
    async get(): Promise<string> {
      await conn.write(new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`));
      for (;;) {
        const head = buffered.indexOf("\r\n\r\n");
        if (head >= 0) {
          const length = Number(/content-length:\s*(\d+)/i.exec(buffered.slice(0, head))?.[1] ?? "0");
          if (buffered.length >= head + 4 + length) {
            const response = buffered.slice(0, head + 4 + length);
            buffered = buffered.slice(head + 4 + length);
            if (/^connection:\s*close/im.test(response)) {
              throw new Error("HAProxy announced closing the connection");
            }
            return response.slice(head + 4).trim();
          }
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the keep-alive connection was closed");
        buffered += decoder.decode(value, { stream: true });
      }
    },
    close() {
      reader.releaseLock();
      conn.close();
    },
  };
}

Deno.test({
  name:
    "RuntimePath.apply() scale up/down, readiness flip and address change: no reload, traffic on exactly the new set, keep-alive kept",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c", "d"]);
    const ip = (i: number) => `127.0.0.${i + 2}`;
    try {
      await using r = await rig([web(port, { a: ip(0), b: ip(1) })]);
      const before = await r.proc();
      const client = await keepAlive(r.listen);
      try {
        assert.match(await client.get(), /^[ab]$/);
        const steps: [string, EndpointSet, string[]][] = [
          ["scale up", web(port, { a: ip(0), b: ip(1), c: ip(2) }), ["a", "b", "c"]],
          ["scale up again", web(port, { a: ip(0), b: ip(1), c: ip(2), d: ip(3) }), ["a", "b", "c", "d"]],
          ["scale down", web(port, { a: ip(0), c: ip(2) }), ["a", "c"]],
          ["readiness flip off", web(port, { a: ip(0), c: ip(2) }, ["c"]), ["a"]],
          ["readiness flip on", web(port, { a: ip(0), c: ip(2) }), ["a", "c"]],
          // pod "a" keeps its name and moves to the address d listens on: set server addr
          ["address change", web(port, { a: ip(3), c: ip(2) }), ["c", "d"]],
          ["address back", web(port, { a: ip(0), c: ip(2) }), ["a", "c"]],
          ["scale to one", web(port, { b: ip(1) }), ["b"]],
          ["scale up from one", web(port, { b: ip(1), c: ip(2), d: ip(3) }), ["b", "c", "d"]],
          ["replace all", web(port, { a: ip(0) }), ["a"]],
        ];
        for (const [what, set, expected] of steps) {
          expectRuntime(await r.applier.apply(r.render([set])), what);
          assert.deepEqual(await seenBackends(r.listen, HOST, expected.length * 3), expected, what);
          assert.match(await client.get(), /^[abcd]$/, `${what}: the keep-alive connection still serves`);
        }
        const after = await r.proc();
        assert.deepEqual(after, before, "no reload: same reload counter and worker pid");
        await waitFor(() => r.runtime.draining().length === 0, { what: "removed servers to be deleted" });
        const state = parseServersState(await r.cli("@1 show servers state"));
        const servers = [...state.values()].flat();
        assert.deepEqual(servers.filter((s) => s.admin !== 0), [], "nothing left in maintenance");
      } finally {
        client.close();
      }
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

/** A backend whose answers wait until released; `arrived` resolves with the first request. */
function slowBackend(hostname: string, port: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const first = new Promise<void>((resolve) => (arrived = resolve));
  const server = Deno.serve({ hostname, port, onListen: () => {} }, async () => {
    arrived();
    await released;
    return new Response("slow\n", { headers: { "x-backend": "slow" } });
  });
  return { release, first, close: () => server.shutdown() };
}

Deno.test({
  name: "RuntimePath.apply() a request in flight to a removed server completes, then the server is deleted",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a"]);
    const slow = slowBackend("127.0.0.9", port);
    try {
      await using r = await rig([web(port, { slow: "127.0.0.9" })]);
      const client = await keepAlive(r.listen);
      const inFlight = client.get();
      await slow.first;
      expectRuntime(await r.applier.apply(r.render([web(port, { a: "127.0.0.2" })])), "replace slow by a");
      assert.deepEqual(r.runtime.draining().map((d) => d.id), [`${serverBackend(r)}/slow`], "slow drains");
      assert.deepEqual(
        await seenBackends(r.listen, HOST, 3),
        ["a"],
        "new requests avoid the draining server",
      );
      slow.release();
      assert.equal(await inFlight, "slow", "the request in flight completed");
      client.close();
      await waitFor(() => r.runtime.draining().length === 0, {
        what: "the drained server to be deleted",
        timeoutMs: 40_000,
      });
      const names = [...parseServersState(await r.cli("@1 show servers state")).values()].flat().map((s) =>
        s.name
      );
      assert.ok(!names.includes("slow"), `slow deleted, left: ${names.join(",")}`);
    } finally {
      slow.release();
      await slow.close();
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

/** A keep-alive backend: `/` answers at once, `/slow` once released; `slowArrived` resolves with it. */
function keepAliveBackend(hostname: string, port: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let arrived!: () => void;
  const slowArrived = new Promise<void>((resolve) => (arrived = resolve));
  const server = Deno.serve({ hostname, port, onListen: () => {} }, async (request) => {
    if (new URL(request.url).pathname !== "/slow") return new Response("fast\n");
    arrived();
    await released;
    return new Response("slow\n");
  });
  return { release, slowArrived, close: () => server.shutdown() };
}

/** `show servers conn` of `backend`: server name → purge delay (ms) and idle connections. */
async function serverConns(r: Rig, backend: string): Promise<Map<string, { purgeMs: number; idle: number }>> {
  const rows = new Map<string, { purgeMs: number; idle: number }>();
  for (const line of (await r.cli(`@1 show servers conn ${backend}`)).split("\n")) {
    const f = line.trim().split(/\s+/);
    if (line.startsWith("#") || f.length < 13) continue;
    rows.set(f[0]!.split("/")[1]!, { purgeMs: Number(f[5]), idle: Number(f[12]) });
  }
  return rows;
}

Deno.test({
  name:
    "RuntimePath.apply() a removed server's idle keep-alive connections are purged: deleted once its request in flight ends",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["z"]);
    const pod = keepAliveBackend("127.0.0.9", port);
    try {
      // Every command the runtime path sends, to show that only the purge let `del server` succeed.
      const sent: string[] = [];
      const recording = (real: RuntimeClient): RuntimeClient => ({
        run(commands, signal) {
          sent.push(...commands);
          return real.run(commands, signal);
        },
      });
      // A server from the file: HAProxy 2.6 keeps no idle connections to servers added at runtime. The
      // drain timeout is far beyond any deadline here: only the purge of ka's idle connections, not a
      // `shutdown sessions`, can let its `del server` succeed.
      await using r = await rig([web(port, { ka: "127.0.0.9", z: "127.0.0.2" })], {
        client: recording,
        drainTimeoutMs: 10 * 60_000,
      });
      const be = serverBackend(r);
      // Parallel requests leave HAProxy's pool of idle connections to ka filled.
      await waitFor(async () => {
        await Promise.all(Array.from({ length: 8 }, () => httpGet(r.listen, HOST, "/")));
        return ((await serverConns(r, be)).get("ka")?.idle ?? 0) >= 2;
      }, { what: "two idle keep-alive connections to ka", timeoutMs: 30_000 });
      assert.equal(
        (await serverConns(r, be)).get("ka")?.purgeMs,
        500,
        "ka's purge delay",
      );
      const slow = (async () => {
        // Round robin: one of the first requests lands on ka, which holds it; z answers the others.
        for (let attempt = 0; attempt < 20; attempt++) {
          const answer = await httpGet(r.listen, HOST, "/slow", { timeoutMs: 60_000 });
          if (answer.body.trim() === "slow") return answer;
        }
        throw new Error("no request to /slow reached ka");
      })();
      await pod.slowArrived;
      expectRuntime(await r.applier.apply(r.render([web(port, { z: "127.0.0.2" })])), "remove ka");
      assert.deepEqual(r.runtime.draining().map((d) => d.id), [`${be}/ka`], "ka drains");
      pod.release();
      const answer = await slow;
      assert.equal(answer.status, 200, "the request in flight on ka completed");
      assert.equal(answer.body.trim(), "slow");
      // How fast the purge goes is a benchmark figure (bench/runtime.ts); the deadline only stops a hang.
      await waitFor(() => r.runtime.draining().length === 0, {
        what: "ka to be deleted once its idle connections are purged",
        timeoutMs: 60_000,
      });
      assert.ok(!(await serverConns(r, be)).has("ka"), "ka is gone from HAProxy");
      assert.ok(sent.includes(`del server ${be}/ka`), `del server sent: ${sent.join("; ")}`);
      assert.deepEqual(sent.filter((c) => c.startsWith("shutdown sessions")), [], "no session was shut down");
    } finally {
      pod.release();
      await pod.close();
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

function serverBackend(r: Rig): string {
  const m = /^backend (be_web_test\S*)$/m.exec(r.applier.installed() ?? "");
  return m?.[1] ?? "?";
}

Deno.test({
  name: "RuntimePath.apply() restarting HAProxy from the installed file gives the same servers state",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b", "c"]);
    try {
      const r = await rig([web(port, { a: "127.0.0.2", b: "127.0.0.3" })]);
      let state: string;
      try {
        for (
          const set of [
            web(port, { a: "127.0.0.2", b: "127.0.0.3", c: "127.0.0.4" }),
            web(port, { b: "127.0.0.2", c: "127.0.0.4" }, ["c"]),
            web(port, { b: "127.0.0.2", x: "127.0.0.3", y: "127.0.0.4" }),
          ]
        ) {
          expectRuntime(await r.applier.apply(r.render([set])), "change");
        }
        await waitFor(() => r.runtime.draining().length === 0, { what: "removed servers to be deleted" });
        state = summarize(await r.cli("@1 show servers state"));
      } finally {
        r.runtime.close();
        await r.haproxy.stop();
      }
      const text = r.applier.installed() ?? "";
      await using again = await startHaproxy(text, { waitFor: [r.listen] });
      const restarted = summarize(
        await masterCommand({ transport: "unix", path: again.masterSocket }, "@1 show servers state"),
      );
      assert.equal(restarted, state);
      assert.match(state, /x 127\.0\.0\.3 \d+ admin 0/);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

/** Names, addresses, ports and admin states of every server, sorted. */
function summarize(text: string): string {
  return [...parseServersState(text)].flatMap(([backend, rows]) =>
    rows.map((s) => `${backend} ${s.name} ${s.address} ${s.port} admin ${s.admin}`)
  ).sort().join("\n");
}

Deno.test({
  name: "RuntimePath.apply() health checks run on runtime-added servers as on file servers",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a"]);
    try {
      // 127.0.0.8 and .9 listen on nothing: one dead server from the file, one added at runtime.
      await using r = await rig([web(port, { a: "127.0.0.2", fromfile: "127.0.0.8" })]);
      expectRuntime(
        await r.applier.apply(
          r.render([web(port, { a: "127.0.0.2", fromfile: "127.0.0.8", dynamic: "127.0.0.9" })]),
        ),
        "add",
      );
      const be = serverBackend(r);
      const down = await waitFor(async () => {
        const rows = parseServersState(await r.cli(`@1 show servers state ${be}`)).get(be) ?? [];
        const op = (name: string) => rows.find((s) => s.name === name);
        const dead = ["fromfile", "dynamic"].map(op);
        return dead.every((s) => s !== undefined && (s.check & 0x04) !== 0) && rows.length === 3 &&
          (await r.cli(`@1 show stat ${be} 4 -1`)).split("\n").filter((l) =>
              /,(fromfile|dynamic),/.test(l) && /,DOWN,/.test(l)
            ).length === 2 &&
          rows;
      }, { timeoutMs: 30_000, what: "both dead servers to be marked DOWN by their health checks" });
      assert.equal(down.length, 3);
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "Applier.apply() runtime faults fall back to exactly one reload of the new file and say why",
  ignore: !haproxyAvailable(),
  async fn(t) {
    const { backends, port } = await startHttpBackends(["a", "b", "c"]);
    try {
      await t.step("socket missing", async () => {
        const missing = createRuntimeClient({
          address: { transport: "unix", path: "/nonexistent/haproxy.sock" },
          viaMaster: true,
        });
        await using r = await rig([web(port, { a: "127.0.0.2" })], { client: () => missing });
        const before = await r.proc();
        const result = await r.applier.apply(r.render([web(port, { a: "127.0.0.2", b: "127.0.0.3" })]));
        assert.equal(result.status, "applied");
        assert.match(applyPathOf(result).reloadReason ?? "", /runtime API unreachable/);
        assert.match(
          result.status === "applied" ? result.detail ?? "" : "",
          /reloaded \(runtime API unreachable/,
        );
        assert.equal((await r.proc()).reloads, before.reloads + 1, "one reload");
        assert.deepEqual(await seenBackends(r.listen, HOST, 6), ["a", "b"]);
      });
      await t.step("command rejected", async () => {
        await using r = await rig([web(port, { a: "127.0.0.2" })]);
        const before = await r.proc();
        // A keyword the file accepts but `add server` does not.
        const next = r.render([web(port, { a: "127.0.0.2", b: "127.0.0.3" })]).replace(
          /(server b \S+ check)/,
          "$1 init-addr last,libc,none",
        );
        const result = await r.applier.apply(next);
        assert.equal(result.status, "applied", JSON.stringify(result));
        assert.match(
          applyPathOf(result).reloadReason ?? "",
          /runtime command failed: "add server .*init-addr/,
        );
        assert.equal((await r.proc()).reloads, before.reloads + 1, "one reload");
        assert.deepEqual(await seenBackends(r.listen, HOST, 6), ["a", "b"]);
      });
      await t.step("read-back mismatch", async () => {
        const sabotage: { cli?: (command: string) => Promise<string> } = {};
        await using r = await rig([web(port, { a: "127.0.0.2" })], {
          client: (real) => ({
            async run(commands, signal) {
              // Someone else moves server a just before the read-back.
              if (commands[0]?.startsWith("show servers state") && sabotage.cli !== undefined) {
                await sabotage.cli("@1 set server " + serverBackend(r) + "/a addr 127.0.0.4");
              }
              return await real.run(commands, signal);
            },
          }),
        });
        sabotage.cli = r.cli;
        const before = await r.proc();
        const result = await r.applier.apply(r.render([web(port, { a: "127.0.0.2", b: "127.0.0.3" })]));
        assert.equal(result.status, "applied", JSON.stringify(result));
        assert.match(
          applyPathOf(result).reloadReason ?? "",
          /read-back does not match the file: .*\/a at 127\.0\.0\.4/,
        );
        assert.equal((await r.proc()).reloads, before.reloads + 1, "one reload");
        assert.deepEqual(
          await seenBackends(r.listen, HOST, 6),
          ["a", "b"],
          "the reload restored the file's servers",
        );
      });
      await t.step("domain added, proto changed: reload path", async () => {
        await using r = await rig([web(port, { a: "127.0.0.2" })]);
        const other: EndpointSet = {
          ...web(port, { b: "127.0.0.3" }),
          name: "other",
          annotations: { domain: "other.test", proto: "http" },
        };
        const added = await r.applier.apply(r.render([web(port, { a: "127.0.0.2" }), other]));
        assert.equal(added.status, "applied");
        assert.match(applyPathOf(added).reloadReason ?? "", /frontend http-in changed|sections/);
        const https = await r.applier.apply(
          r.render([
            { ...web(port, { a: "127.0.0.2" }), annotations: { domain: HOST, proto: "https" } },
            other,
          ]),
        );
        assert.equal(https.status, "applied");
        assert.equal(applyPathOf(https).path, "reload");
      });
      await t.step("template edited (a server keyword and a backend option): reload path", async () => {
        await using r = await rig([web(port, { a: "127.0.0.2" })]);
        const sets = [web(port, { a: "127.0.0.2", b: "127.0.0.3" })];
        const edited = (from: string, to: string) =>
          compileTemplates(
            defaultTemplates().map((f) => ({ ...f, source: f.source.replaceAll(from, to) })),
            { mapDir: r.mapDir },
          );
        const listenSpec = r.listenSpec;
        const keyword = generate(
          sets,
          edited(":<%= s.port %><%=", ":<%= s.port %> maxconn 50<%="),
          listenSpec,
        );
        const k = await r.applier.apply(keyword.text);
        assert.equal(k.status, "applied", "a keyword on every server line reloads");
        assert.match(applyPathOf(k).reloadReason ?? "", /server a changed beyond its address/);
        const option = generate(
          sets,
          edited(
            '    balance <%= it.d.settings.balance ?? "roundrobin" %>',
            '    balance <%= it.d.settings.balance ?? "roundrobin" %>\n    option redispatch',
          ),
          listenSpec,
        );
        const o = await r.applier.apply(option.text);
        assert.equal(o.status, "applied");
        assert.match(applyPathOf(o).reloadReason ?? "", /changed beyond its server lines/);
        assert.deepEqual(await seenBackends(r.listen, HOST, 6), ["a", "b"]);
      });
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name:
    "RuntimePath.apply() through an admin stats socket (--haproxy-runtime-socket): scale up and down, no reload",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["a", "b"]);
    const dir = await Deno.makeTempDir({ prefix: "haconfd-stats-" });
    try {
      await using r = await rig([web(port, { a: "127.0.0.2" })], { statsSocket: `${dir}/admin.sock` });
      assert.match(r.applier.installed() ?? "", /stats socket .*admin\.sock mode 600 level admin/);
      const before = await r.proc();
      expectRuntime(
        await r.applier.apply(r.render([web(port, { a: "127.0.0.2", b: "127.0.0.3" })])),
        "scale up",
      );
      assert.deepEqual(await seenBackends(r.listen, HOST, 6), ["a", "b"]);
      expectRuntime(await r.applier.apply(r.render([web(port, { b: "127.0.0.3" })])), "scale down");
      assert.deepEqual(await seenBackends(r.listen, HOST, 6), ["b"]);
      assert.deepEqual(await r.proc(), before, "no reload");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * User templates that pool the http domains of a namespace in one backend (`be_ns_<namespace>`) and route
 * hosts to the pools through the hosts map: a host added, moved or removed changes map entries and server
 * lines of backends that exist (the default templates give each domain its own backend, so there a new host
 * is a new backend and reloads).
 */
function poolTemplates(): TemplateFile[] {
  const pools = `<% const pools = {}; for (const [domain, d] of Object.entries(it.domains)) {
  if (d.proto === "http") (pools[d.namespace] ??= []).push(d);
} -%>
<% for (const [ns, ds] of Object.entries(pools).sort(([a], [b]) => a < b ? -1 : 1)) { -%>

backend be_ns_<%= ns %>
    mode http
    balance roundrobin
<% for (const d of ds) for (const s of d.servers.filter((s) => s.ready)) { -%>
    server <%= d.id %>_<%= s.name %> <%= s.ip %>:<%= s.port %> check
<% } -%>
<% } -%>
`;
  const replaced: Record<string, string> = {
    "_http-backend.eta": "",
    "_http-map.eta":
      '<% if (it.d.proto === "http") { -%>\n<%= it.domain %> ns_<%= it.d.namespace %>\n<% } -%>\n',
  };
  return [
    ...defaultTemplates().map((f) => ({ ...f, source: replaced[f.name] ?? f.source })),
    { name: "15-pools.eta", origin: "test:15-pools.eta", source: pools },
  ];
}

/** An http domain of namespace `ns` served by `pods` (name → address). */
function hostIn(domain: string, ns: string, port: number, pods: Record<string, string>): EndpointSet {
  return {
    ...web(port, pods),
    namespace: ns,
    name: domain.split(".")[0]!,
    annotations: { domain, proto: "http" },
  };
}

/** Requests `host` one after the other until stopped; the statuses it got. */
function steadyTraffic(port: number, host: string) {
  const statuses: number[] = [];
  let stopped = false;
  const running = (async () => {
    while (!stopped) statuses.push(await httpGet(port, host).then((a) => a.status, () => -1));
  })();
  return {
    async stop(): Promise<number[]> {
      stopped = true;
      await running;
      return statuses;
    },
  };
}

Deno.test({
  name:
    "Applier.apply() hosts added, moved and removed between existing backends: map entries through the Runtime API, no reload, map file == show map, traffic flows",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["s", "m", "o", "n"]);
    const ip = (i: number) => `127.0.0.${i + 2}`;
    const stable = hostIn("stable.test", "a", port, { s: ip(0) });
    const other = hostIn("other.test", "b", port, { o: ip(2) });
    const mover = (ns: string) => hostIn("mover.test", ns, port, { m: ip(1) });
    const added = hostIn("new.test", "a", port, { n: ip(3) });
    try {
      await using r = await rig([stable, other, mover("a")], { templates: poolTemplates() });
      const before = await r.proc();
      const traffic = steadyTraffic(r.listen, "stable.test");
      const steps: [string, EndpointSet[], string, string[]][] = [
        // A pool serves its hosts from all its servers.
        ["host added", [stable, other, mover("a"), added], "new.test", ["m", "n", "s"]],
        ["host moved to another backend", [stable, other, mover("b"), added], "mover.test", ["m", "o"]],
        ["host removed", [stable, other, mover("b")], "new.test", ["status 404"]],
      ];
      for (const [what, sets, host, expected] of steps) {
        const result = await r.applier.apply(r.render(sets));
        expectRuntime(result, what);
        assert.match(result.status === "runtime" ? result.detail : "", /map entries/, what);
        assert.deepEqual(await seenBackends(r.listen, host, 12), expected, what);
        const file = join(r.mapDir, "haconfd-hosts.map");
        const onDisk = parseMap(await Deno.readTextFile(file));
        assert.ok(typeof onDisk !== "string", onDisk as string);
        const shown = parseShowMap(await r.cli(`@1 show map ${file}`));
        assert.deepEqual(new Map(shown), onDisk, `${what}: the map file equals show map`);
      }
      assert.equal(
        new Map(parseShowMap(await r.cli(`@1 show map ${join(r.mapDir, "haconfd-hosts.map")}`)))
          .get("mover.test"),
        "ns_b",
      );
      const statuses = await traffic.stop();
      assert.ok(statuses.length > 0 && statuses.every((s) => s === 200), `stable.test answered ${statuses}`);
      assert.deepEqual(await r.proc(), before, "no reload: same reload counter and worker pid");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});

Deno.test({
  name: "Applier.apply() a map entry HAProxy refuses falls back to one reload of the new files",
  ignore: !haproxyAvailable(),
  async fn() {
    const { backends, port } = await startHttpBackends(["s", "m"]);
    const stable = hostIn("stable.test", "a", port, { s: "127.0.0.2" });
    const mover = (ns: string) => hostIn("mover.test", ns, port, { m: "127.0.0.3" });
    try {
      await using r = await rig([stable, mover("a"), hostIn("other.test", "b", port, { s: "127.0.0.2" })], {
        templates: poolTemplates(),
      });
      const before = await r.proc();
      // The running HAProxy drifts from the file (an entry deleted by hand): `set map` answers "entry not found".
      const file = join(r.mapDir, "haconfd-hosts.map");
      assert.equal(await r.cli(`@1 del map ${file} mover.test`), "\n");
      const result = await r.applier.apply(
        r.render([stable, mover("b"), hostIn("other.test", "b", port, { s: "127.0.0.2" })]),
      );
      assert.equal(result.status, "applied", JSON.stringify(result));
      assert.match(applyPathOf(result).reloadReason ?? "", /set map .*mover\.test ns_b.*entry not found/);
      assert.equal((await r.proc()).reloads, before.reloads + 1, "exactly one reload");
      assert.deepEqual(await seenBackends(r.listen, "mover.test", 6), ["m", "s"]);
      assert.equal(new Map(parseShowMap(await r.cli(`@1 show map ${file}`))).get("mover.test"), "ns_b");
    } finally {
      await Promise.all(backends.map((b) => b.close()));
    }
  },
});
