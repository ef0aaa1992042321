import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { Socket } from "node:net";
import { createInsecureFetch } from "../../../lib/source/kube/insecure_fetch.ts";
import { errorText } from "../../../lib/log.ts";
import { type TestCerts, testCerts } from "../../support/certs.ts";
import { waitFor } from "../../support/haproxy.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  /** Resolves when every connection the server accepted has closed. */
  allClosed(): Promise<void>;
  close(): Promise<void>;
}

/** An HTTPS server with the test CA's server certificate: not trusted by Deno's fetch (no CA given). */
async function httpsServer(certs: TestCerts, handler: Handler, clientCa = false): Promise<TestServer> {
  const server = createServer({
    cert: certs.serverCert,
    key: certs.serverKey,
    ...(clientCa ? { ca: certs.caCert, requestCert: true, rejectUnauthorized: false } : {}),
  }, handler);
  const sockets = new Set<Socket>();
  const closed = new Set<Promise<void>>();
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    closed.add(new Promise((resolve) => socket.on("close", () => resolve())));
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    allClosed: async () => {
      await Promise.all(closed);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await Promise.all(closed);
    },
  };
}

async function withServer(
  handler: Handler,
  fn: (server: TestServer, certs: TestCerts) => Promise<void>,
  clientCa = false,
): Promise<void> {
  const certs = await testCerts();
  try {
    const server = await httpsServer(certs, handler, clientCa);
    try {
      await fn(server, certs);
    } finally {
      await server.close();
    }
  } finally {
    await certs.dispose();
  }
}

Deno.test("createInsecureFetch() reaches a server whose certificate does not verify, with method and headers", async () => {
  const seen: { method?: string; auth?: string; accept?: string; cn?: string } = {};
  await withServer((req, res) => {
    seen.method = req.method ?? "";
    seen.auth = req.headers.authorization ?? "";
    seen.accept = req.headers.accept ?? "";
    const peer = (req.socket as Socket & { getPeerCertificate?: () => { subject?: { CN?: string } } })
      .getPeerCertificate?.();
    seen.cn = peer?.subject?.CN ?? "";
    if (req.url === "/empty") {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(201, "Made", { "x-test": "yes", "content-type": "application/json" });
    res.end('{"ok":true}');
  }, async (server, certs) => {
    // Deno's fetch refuses the certificate: no CA is given
    await assert.rejects(fetch(`${server.url}/`), (error) => /UnknownIssuer/.test(errorText(error)));

    const alice = await certs.client("alice", ["ops"]);
    const insecureFetch = createInsecureFetch({ cert: alice.cert, key: alice.key });
    const response = await insecureFetch(`${server.url}/thing`, {
      method: "POST",
      headers: new Headers({ authorization: "Bearer t", accept: "application/json" }),
      body: "{}",
    });
    assert.equal(response.status, 201);
    assert.equal(response.statusText, "Made");
    assert.equal(response.ok, true);
    assert.equal(response.headers.get("x-test"), "yes");
    assert.deepEqual(await response.json(), { ok: true });
    assert.deepEqual(seen, { method: "POST", auth: "Bearer t", accept: "application/json", cn: "alice" });

    const empty = await createInsecureFetch()(`${server.url}/empty`, {});
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
    assert.equal(seen.cn, "", "no client certificate when none is given");
    await server.allClosed();
  }, true);
});

Deno.test("createInsecureFetch() streams the body, and an abort mid-stream errors it with the signal's reason", async () => {
  let serverSawClose!: Promise<void>;
  await withServer((req, res) => {
    serverSawClose = new Promise((resolve) => req.socket.on("close", () => resolve()));
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"type":"ADDED"}\n');
    // and nothing more: the stream stays open until the client goes away
  }, async (server) => {
    const controller = new AbortController();
    const response = await createInsecureFetch()(`${server.url}/watch`, { signal: controller.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), '{"type":"ADDED"}\n');
    const pending = reader.read();
    const reason = new Error("Stop watching");
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
    await serverSawClose;
    await server.allClosed();
  });
});

Deno.test("createInsecureFetch() errors the body like fetch when the server cuts the connection mid-stream", async () => {
  await withServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"type":"ADDED"}\n', () => setTimeout(() => req.socket.destroy(), 20));
  }, async (server) => {
    const response = await createInsecureFetch()(`${server.url}/watch`, {});
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), '{"type":"ADDED"}\n');
    await assert.rejects(reader.read(), (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^error reading a body from connection: /);
      return true;
    });
    await server.allClosed();
  });
});

Deno.test("createInsecureFetch() rejects with the signal's reason when aborted before the response", async () => {
  let received!: () => void;
  const arrived = new Promise<void>((resolve) => received = resolve);
  await withServer(() => received(), async (server) => {
    const controller = new AbortController();
    const pending = createInsecureFetch()(`${server.url}/slow`, { signal: controller.signal });
    await arrived;
    const reason = new DOMException("Timed out", "TimeoutError");
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
    await server.allClosed();
    const done = new AbortController();
    done.abort("already");
    await assert.rejects(
      createInsecureFetch()(`${server.url}/`, { signal: done.signal }),
      (e) => e === "already",
    );
  });
});

Deno.test("createInsecureFetch() stops reading the socket while the body is not consumed", async () => {
  // What the process pulled from its socket (bytesRead), not what the server managed to write: the
  // kernel's buffers (tens of MB on loopback with autotuning) sit between the two and are no measure.
  const bound = 1024 * 1024;
  const chunk = new Uint8Array(64 * 1024);
  let written = 0;
  await withServer((_req, res) => {
    res.writeHead(200);
    const pump = () => {
      while (written < 1024 * 1024 * 1024) {
        written += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
      res.end();
    };
    pump();
  }, async (server) => {
    let socket: Socket | undefined;
    const response = await createInsecureFetch({ onSocket: (s) => socket = s })(`${server.url}/big`, {});
    const raw = await waitFor(() => socket, { what: "the connection" });
    await waitFor(() => raw.isPaused(), { what: "the socket paused while nobody reads", intervalMs: 5 });
    const atPause = raw.bytesRead;
    assert.ok(atPause <= bound, `${atPause} bytes pulled from the socket by a reader that read none`);
    // Reading resumes the socket, and what is pulled never runs more than the bound ahead of what is read.
    const reader = response.body!.getReader();
    let read = 0;
    let ahead = 0;
    while (read < atPause + 32 * 1024 * 1024) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the body ended early");
      read += value.length;
      ahead = Math.max(ahead, raw.bytesRead - read);
    }
    assert.ok(ahead <= bound, `the socket ran ${ahead} bytes ahead of the reader`);
    assert.ok(raw.bytesRead > atPause, "reading resumed the socket");
    await reader.cancel();
    await server.allClosed();
  });
});

Deno.test("createInsecureFetch() fails like fetch: a TypeError naming the URL, the node error as cause", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const url = `https://127.0.0.1:${port}/api`;
  await assert.rejects(createInsecureFetch()(url, {}), (error: Error) => {
    assert.ok(error instanceof TypeError);
    assert.equal(
      errorText(error),
      `error sending request for url (${url}): connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    assert.equal((error.cause as { code?: string }).code, "ECONNREFUSED");
    return true;
  });
  await assert.rejects(
    createInsecureFetch()(`http://127.0.0.1:${port}/`, {}),
    /Cannot fetch "http:\/\/127\.0\.0\.1:\d+\/" without certificate verification: not an https URL/,
  );
});
