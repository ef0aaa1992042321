import assert from "node:assert/strict";
import { createKubeClient } from "../../../lib/source/kube/client.ts";
import { createWatcher } from "../../../lib/source/kube/watch.ts";
import { ENDPOINTS_KIND } from "../../../lib/source/kube/source.ts";
import { testCerts } from "../../support/certs.ts";
import { waitFor } from "../../support/haproxy.ts";
import { plainConnection } from "../../support/kube_connection.ts";

const enc = new TextEncoder();
const ep = (name: string, rv: number) => ({
  kind: "Endpoints",
  apiVersion: "v1",
  metadata: {
    name,
    namespace: "a",
    resourceVersion: String(rv),
    annotations: { domain: `${name}.example.com`, proto: "http" },
  },
  subsets: [{ addresses: [{ ip: "10.0.0.1" }], ports: [{ name: "http", port: 80, protocol: "TCP" }] }],
});

Deno.test("createKubeClient() reconnects past a silently dead connection (HTTP/1.1, a new connection per watch)", async () => {
  const certs = await testCerts();
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let rv = 10;
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    cert: certs.serverCert,
    key: certs.serverKey,
    onListen() {},
  }, (req) => {
    const url = new URL(req.url);
    if (url.searchParams.get("watch") !== "1") {
      return Response.json({
        kind: "EndpointsList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(rv) },
        items: [],
      });
    }
    let ctl: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctl = c;
        streams.add(c);
      },
      cancel() {
        streams.delete(ctl);
      },
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });
  const emit = (o: unknown) => {
    for (const c of streams) {
      try {
        c.enqueue(enc.encode(JSON.stringify(o) + "\n"));
      } catch { /**/ }
    }
  };
  const beat = setInterval(
    () =>
      emit({
        type: "BOOKMARK",
        object: { kind: "Endpoints", apiVersion: "v1", metadata: { resourceVersion: String(rv) } },
      }),
    200,
  );

  // TCP proxy with a "blackhole" switch for the connections open at that moment
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: { dead: boolean; a: Deno.Conn; b: Deno.Conn }[] = [];
  let opened = 0;
  const pipe = async (from: Deno.Conn, to: Deno.Conn, p: { dead: boolean }) => {
    const buf = new Uint8Array(16384);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        if (p.dead) continue; // swallow: a black hole
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /**/ }
    if (!p.dead) await to.closeWrite().catch(() => {});
  };
  const accepting = (async () => {
    for await (const a of listener) {
      opened++;
      const b = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const p = { dead: false, a, b };
      conns.push(p);
      pipe(a, b, p);
      pipe(b, a, p);
    }
  })();
  const client = createKubeClient(
    plainConnection([`https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`], {
      caCerts: [certs.caCert],
      caSource: "test CA",
    }),
    { requestTimeoutMs: 1000 },
  );
  const watcher = createWatcher(client, ENDPOINTS_KIND, {
    readTimeoutMs: 1000,
    backoffBaseMs: 50,
    backoffCapMs: 200,
    watchTimeoutSeconds: 300,
  });
  const c = new AbortController();
  const run = watcher.run(c.signal);
  try {
    await waitFor(() => streams.size > 0, { what: "the first watch", intervalMs: 10 });
    emit({ type: "ADDED", object: ep("one", ++rv) });
    await waitFor(() => watcher.store.has("a/one"), { what: "the first event", intervalMs: 10 });
    const before = opened;
    for (const p of conns) p.dead = true; // the network path dies silently (no FIN/RST)
    await waitFor(() => (watcher.stats.restarts.stalled ?? 0) >= 1, {
      what: "the dead watch seen as stalled",
    });
    rv++;
    // An event emitted on every watch stream until one that runs on a fresh connection delivers it.
    await waitFor(() => {
      emit({ type: "ADDED", object: ep("two", rv) });
      return watcher.store.has("a/two");
    }, { what: "the watcher to reconnect on a fresh connection", intervalMs: 200 });
    assert.ok(opened > before, "the reconnect opened a new connection");
  } finally {
    c.abort();
    await run;
    client.close();
    clearInterval(beat);
    listener.close();
    await accepting.catch(() => {});
    for (const p of conns) {
      try {
        p.a.close();
      } catch { /**/ }
      try {
        p.b.close();
      } catch { /**/ }
    }
    for (const s of streams) {
      try {
        s.close();
      } catch { /**/ }
    }
    await server.shutdown();
    await certs.dispose();
  }
});
