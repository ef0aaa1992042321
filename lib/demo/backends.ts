/**
 * Backends on 127.0.0.x (every 127/8 address is loopback on Linux) — the demo's pods and the tests'
 * backends — and client helpers to reach them through HAProxy: HTTP with a Host header, TLS with SNI, raw TCP.
 *
 * @module
 */

import tls from "node:tls";
import { join } from "node:path";
import { concatBytes } from "../bytes.ts";
import { NEW_EC_KEY, openssl } from "./certs.ts";

/** A running backend. */
export interface Backend extends AsyncDisposable {
  /** The name it answers with. */
  readonly name: string;
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** Requests (HTTP) or connections (TCP) served so far. */
  readonly hits: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** A TLS backend with its own certificate. */
export interface TlsBackend extends Backend {
  /** The backend's certificate (PEM). */
  readonly cert: string;
}

/** Options of the backend starters. */
export interface BackendOptions {
  /** Loopback address to listen on. @default {"127.0.0.2"} */
  hostname?: string;
  /** Port. @default {0 (any free port)} */
  port?: number;
}

function httpHandler(name: string, count: () => void): (req: Request) => Response {
  return (req) => {
    count();
    const url = new URL(req.url);
    return new Response(`${name}\n`, {
      headers: {
        "content-type": "text/plain",
        "x-backend": name,
        "x-path": url.pathname,
        "x-host": req.headers.get("host") ?? "",
      },
    });
  };
}

function serveBackend(
  name: string,
  hostname: string,
  port: number,
  tlsPair?: { cert: string; key: string },
): Promise<Backend> {
  const controller = new AbortController();
  let hits = 0;
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname,
      port,
      signal: controller.signal,
      ...(tlsPair ?? {}),
      onListen(addr) {
        const backend: Backend = {
          name,
          hostname,
          port: addr.port,
          get hits() {
            return hits;
          },
          async close() {
            controller.abort();
            await server.finished;
          },
          [Symbol.asyncDispose]: () => backend.close(),
        };
        resolve(backend);
      },
    }, httpHandler(name, () => hits++));
  });
}

/**
 * An HTTP server answering every request with its own name (`<name>\n`, header `x-backend: <name>`,
 * plus `x-path` and `x-host` echoing the request).
 */
export function startHttpBackend(name: string, options: BackendOptions = {}): Promise<Backend> {
  const { hostname = "127.0.0.2", port = 0 } = options;
  return serveBackend(name, hostname, port);
}

/** A self-signed X.509 v3 certificate for `cn` (also the DNS subjectAltName), made with openssl. */
export async function makeCert(cn: string): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-cert-" });
  try {
    const keyPath = join(dir, "key.pem");
    const certPath = join(dir, "cert.pem");
    await openssl(dir, [
      "req",
      "-x509",
      ...NEW_EC_KEY,
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      `subjectAltName=DNS:${cn}`,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ]);
    return { cert: await Deno.readTextFile(certPath), key: await Deno.readTextFile(keyPath) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** An HTTPS server with its own self-signed certificate (CN = `name`), answering with its name. */
export async function startTlsBackend(name: string, options: BackendOptions = {}): Promise<TlsBackend> {
  const { hostname = "127.0.0.2", port = 0 } = options;
  const pair = await makeCert(name);
  const backend = await serveBackend(name, hostname, port, pair);
  return Object.assign(backend, { cert: pair.cert }) as TlsBackend;
}

/**
 * A tiny redis-protocol server: `PING` → `+PONG`, `NAME` → `+<name>`, other lines echoed back;
 * RESP framing lines (`*n`, `$n`) are skipped, so both inline and RESP-encoded commands work.
 */
export function startRedisBackend(name: string, options: BackendOptions = {}): Promise<Backend> {
  return Promise.resolve(new RedisBackend(name, options));
}

/** The replies to complete request lines (RESP framing lines skipped). */
function redisReplies(name: string, lines: readonly string[]): string {
  let reply = "";
  for (const raw of lines) {
    const line = raw.replace(/\r$/, "");
    if (/^[*$]\d+$/.test(line)) continue;
    const command = line.trim().toUpperCase();
    reply += command === "PING" ? "+PONG\r\n" : command === "NAME" ? `+${name}\r\n` : `${line}\r\n`;
  }
  return reply;
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // already closed
  }
}

/** The server behind {@linkcode startRedisBackend}: a listener and its open connections. */
class RedisBackend implements Backend {
  readonly name: string;
  readonly hostname: string;
  readonly port: number;
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #hits = 0;

  constructor(name: string, options: BackendOptions) {
    const { hostname = "127.0.0.2", port = 0 } = options;
    this.name = name;
    this.hostname = hostname;
    this.#listener = Deno.listen({ hostname, port });
    this.port = this.#listener.addr.port;
    this.#accepting = this.#accept();
  }

  get hits(): number {
    return this.#hits;
  }

  async close(): Promise<void> {
    closeQuietly(this.#listener);
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#accepting;
    await Promise.all(this.#handlers);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#hits++;
        this.#conns.add(conn);
        const handler = this.#handle(conn);
        this.#handlers.add(handler);
        handler.finally(() => this.#handlers.delete(handler));
      }
    } catch {
      // listener closed
    }
  }

  async #handle(conn: Deno.Conn): Promise<void> {
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    let pending = "";
    const buffer = new Uint8Array(4096);
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        pending += decoder.decode(buffer.subarray(0, n), { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        const reply = redisReplies(this.name, lines);
        if (reply !== "") await conn.write(encoder.encode(reply));
      }
      if (pending !== "") await conn.write(encoder.encode(pending));
    } catch {
      // connection reset or closed by close()
    } finally {
      this.#conns.delete(conn);
      closeQuietly(conn);
    }
  }
}

/** Options of the client helpers. */
export interface ClientOptions {
  /** Address to connect to. @default {"127.0.0.1"} */
  hostname?: string;
  /** Time for the whole exchange. @default {5000} */
  timeoutMs?: number;
}

/** A parsed HTTP response. */
export interface HttpAnswer {
  /** Status code. */
  status: number;
  /** Header names lower-cased (last value wins). */
  headers: Record<string, string>;
  /** Body as text (chunked encoding decoded). */
  body: string;
}

async function withTimeout<T>(
  timeoutMs: number,
  what: string,
  work: (onTimeout: Set<() => void>) => Promise<T>,
) {
  const cleanups = new Set<() => void>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      for (const cleanup of cleanups) cleanup();
      reject(new Error(`Timed out after ${timeoutMs} ms: ${what}`));
    }, timeoutMs);
  });
  const job = work(cleanups);
  try {
    return await Promise.race([job, timeout]);
  } finally {
    clearTimeout(timer);
    await job.catch(() => {});
  }
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  return concatBytes(chunks);
}

function decodeChunked(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const end = rest.indexOf("\r\n");
    if (end < 0) break;
    const size = parseInt(rest.slice(0, end), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out += rest.slice(end + 2, end + 2 + size);
    rest = rest.slice(end + 2 + size + 2);
  }
  return out;
}

/**
 * Sends `GET <path>` with `Host: <host>` to `127.0.0.1:<port>` over plain HTTP/1.1 (`Connection: close`).
 *
 * @example
 * ```ts
 * const { status, body } = await httpGet(haproxyPort, "grafana.example.com", "/");
 * ```
 */
export function httpGet(
  port: number,
  host: string,
  path = "/",
  options: ClientOptions = {},
): Promise<HttpAnswer> {
  const { hostname = "127.0.0.1", timeoutMs = 5_000 } = options;
  return withTimeout(timeoutMs, `GET http://${host}${path} via ${hostname}:${port}`, async (cleanups) => {
    const conn = await Deno.connect({ hostname, port });
    cleanups.add(() => conn.close());
    try {
      const request =
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: haconfd-test\r\nConnection: close\r\n\r\n`;
      await conn.write(new TextEncoder().encode(request));
      const text = new TextDecoder().decode(await readAll(conn));
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) throw new Error(`Incomplete HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
      const [statusLine = "", ...headerLines] = text.slice(0, split).split("\r\n");
      const status = Number(statusLine.split(" ")[1]);
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const raw = text.slice(split + 4);
      const body = headers["transfer-encoding"]?.toLowerCase() === "chunked" ? decodeChunked(raw) : raw;
      return { status, headers, body };
    } finally {
      cleanups.clear();
      try {
        conn.close();
      } catch {
        // closed by timeout
      }
    }
  });
}

/** What the server presented in a TLS handshake. */
export interface PeerCertificate {
  /** The subject's CN. */
  cn: string;
  /** The subject as `key=value` pairs joined by `,`. */
  subject: string;
  /** The subjectAltName text (e.g. `DNS:alpha.test`). */
  altNames: string;
}

/**
 * Opens a TLS connection to `127.0.0.1:<port>` with SNI `sni`, returns the peer certificate's subject and
 * closes. The certificate is not verified (test backends are self-signed).
 */
export function tlsHandshake(
  port: number,
  sni: string,
  options: ClientOptions = {},
): Promise<PeerCertificate> {
  const { hostname = "127.0.0.1", timeoutMs = 5_000 } = options;
  return withTimeout(timeoutMs, `TLS handshake with ${hostname}:${port} (SNI ${sni})`, async (cleanups) => {
    const socket = tls.connect({ host: hostname, port, servername: sni, rejectUnauthorized: false });
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    cleanups.add(() => socket.destroy());
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("secureConnect", () => resolve());
        socket.once("error", reject);
      });
      const peer = socket.getPeerCertificate();
      const subject = (peer?.subject ?? {}) as unknown as Record<string, string>;
      return {
        cn: subject.CN ?? "",
        subject: Object.entries(subject).map(([k, v]) => `${k}=${v}`).join(","),
        altNames: peer?.subjectaltname ?? "",
      };
    } finally {
      socket.destroy();
      await closed;
    }
  });
}

/**
 * Sends `data` to `127.0.0.1:<port>`, half-closes the write side and returns everything received until the
 * peer closes.
 */
export function tcpRoundTrip(
  port: number,
  data: string | Uint8Array,
  options: ClientOptions = {},
): Promise<string> {
  const { hostname = "127.0.0.1", timeoutMs = 5_000 } = options;
  return withTimeout(timeoutMs, `TCP round trip with ${hostname}:${port}`, async (cleanups) => {
    const conn = await Deno.connect({ hostname, port });
    cleanups.add(() => conn.close());
    try {
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      let written = 0;
      while (written < bytes.length) written += await conn.write(bytes.subarray(written));
      await conn.closeWrite();
      return new TextDecoder().decode(await readAll(conn));
    } finally {
      cleanups.clear();
      try {
        conn.close();
      } catch {
        // closed by timeout
      }
    }
  });
}

/** An HTTP/1.1 client that keeps one connection open across requests, like a browser or an API client. */
export interface KeepAliveClient extends Disposable {
  /** Sends `GET <path>` on the open connection (opening one first when there is none). */
  get(path?: string): Promise<HttpAnswer>;
  /** Connections opened so far. */
  readonly connections: number;
  /** Closes the connection. */
  close(): void;
}

const HEADER_END = new TextEncoder().encode("\r\n\r\n");

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The answer's head: status and lower-cased headers. */
function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(" ")[1]), headers };
}

/** The connection behind {@linkcode keepAliveClient} and the bytes read from it but not yet consumed. */
class KeepAlive implements KeepAliveClient {
  readonly #port: number;
  readonly #host: string;
  readonly #hostname: string;
  readonly #timeoutMs: number;
  #conn: Deno.TcpConn | undefined;
  #buffered: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #connections = 0;

  constructor(port: number, host: string, options: ClientOptions) {
    this.#port = port;
    this.#host = host;
    this.#hostname = options.hostname ?? "127.0.0.1";
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  get connections(): number {
    return this.#connections;
  }

  get(path = "/"): Promise<HttpAnswer> {
    const drop = () => this.close();
    return withTimeout(this.#timeoutMs, `keep-alive GET http://${this.#host}${path}`, async (cleanups) => {
      cleanups.add(drop);
      try {
        return await this.#exchange(path);
      } catch (error) {
        this.close();
        throw error;
      } finally {
        cleanups.delete(drop);
      }
    });
  }

  close(): void {
    if (this.#conn !== undefined) closeQuietly(this.#conn);
    this.#conn = undefined;
    this.#buffered = new Uint8Array(0);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #exchange(path: string): Promise<HttpAnswer> {
    if (this.#conn === undefined) {
      this.#conn = await Deno.connect({ hostname: this.#hostname, port: this.#port });
      this.#connections++;
    }
    const current = this.#conn;
    const request = `GET ${path} HTTP/1.1\r\nHost: ${this.#host}\r\nUser-Agent: haconfd-test\r\n\r\n`;
    await current.write(new TextEncoder().encode(request));
    let split: number;
    while ((split = indexOfBytes(this.#buffered, HEADER_END)) < 0) {
      await this.#fill(current, "before the answer");
    }
    const { status, headers } = parseHead(new TextDecoder().decode(this.#buffered.subarray(0, split)));
    const length = Number(headers["content-length"] ?? "0");
    while (this.#buffered.length < split + 4 + length) await this.#fill(current, "inside the answer");
    const body = new TextDecoder().decode(this.#buffered.subarray(split + 4, split + 4 + length));
    this.#buffered = this.#buffered.slice(split + 4 + length);
    if (headers["connection"]?.toLowerCase() === "close") this.close();
    return { status, headers, body };
  }

  async #fill(current: Deno.TcpConn, what: string): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await current.read(chunk);
    if (n === null) throw new Error(`The server closed the connection ${what}`);
    this.#buffered = concatBytes([this.#buffered, chunk.subarray(0, n)]);
  }
}

/**
 * A keep-alive client for `Host: <host>` on `127.0.0.1:<port>`. A connection the server announced it
 * closes (`Connection: close`) is replaced before the next request, as any HTTP client does; any other
 * end of the connection during a request is an error (the request failed).
 */
export function keepAliveClient(port: number, host: string, options: ClientOptions = {}): KeepAliveClient {
  return new KeepAlive(port, host, options);
}
