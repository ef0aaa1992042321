/**
 * A small HTTP/1.1 server over `node:net` / `node:tls` sockets that frames responses the way Go's net/http
 * does (what kube-apiserver runs on), for the test Kubernetes API server in `kube_server.ts`:
 *
 * - a complete body of at most 2048 bytes gets `Content-Length`, a larger one `Transfer-Encoding: chunked`;
 * - streams (watches) send their status line and headers at once and every `write()` as one chunk;
 * - header names are sorted, `Date` comes last before the framing header, like Go;
 * - keep-alive, request bodies with Content-Length or chunked, `Expect: 100-continue`;
 * - TLS with an optional client CA: client certificates are requested but not required, and handed to the
 *   handler (CN, O, whether the CA verified them) so the handler decides (401 for an untrusted one).
 *
 * It owns its sockets, so tests can cut them abruptly ({@linkcode HttpStream.abort}), stop listening and
 * listen again on the same port.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";

/** Go's threshold: bodies up to this size are buffered and sent with Content-Length. */
export const BUFFER_BEFORE_CHUNKING = 2048;

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  410: "Gone",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

const MAX_HEADER_BYTES = 1 << 20;
const encoder = new TextEncoder();

/** The verified or unverified identity in a client certificate. */
export interface PeerCertificate {
  /** Subject CN. */
  commonName: string;
  /** Subject O values, in order. */
  organizations: string[];
  /** Whether the configured client CA verified the certificate. */
  authorized: boolean;
}

/** One parsed HTTP request. */
export interface HttpRequest {
  /** Method, upper case. */
  method: string;
  /** The request target exactly as sent (path and query). */
  target: string;
  /** The target parsed against the server's base URL. */
  url: URL;
  /** Request headers. */
  headers: Headers;
  /** The request body (empty when none). */
  body: Uint8Array;
  /** The client certificate, when the client sent one over TLS. */
  peer: PeerCertificate | undefined;
}

/** An open chunked response (a watch). */
export interface HttpStream {
  /** Sends `data` as one chunk; returns false when the stream is already closed. */
  write(data: string | Uint8Array): boolean;
  /** Ends the body cleanly with the terminating 0-length chunk. */
  end(): void;
  /** Closes the connection at once, without the terminating chunk. */
  abort(): void;
  /** True once ended, aborted, or the client went away. */
  readonly closed: boolean;
  /** Calls `listener` once when the stream closes for any reason. */
  onClose(listener: () => void): void;
}

/** A request and the ways to answer it; exactly one of `respond` or `stream` must be called. */
export interface HttpExchange {
  /** The request. */
  request: HttpRequest;
  /** Sends a complete response, framed like Go (Content-Length up to 2048 bytes, chunked above). */
  respond(status: number, headers: Record<string, string>, body: string | Uint8Array): void;
  /** Sends the status line and headers now and returns the chunked stream. */
  stream(status: number, headers: Record<string, string>): HttpStream;
  /** Closes the connection without any response. */
  abort(): void;
}

/** Handles one request. */
export type HttpHandler = (exchange: HttpExchange) => void | Promise<void>;

/** TLS settings of {@linkcode HttpServer}. */
export interface HttpTlsOptions {
  /** Server certificate chain, PEM. */
  cert: string;
  /** Server private key, PEM. */
  key: string;
  /** CA bundle (PEM) for client certificates; when set, client certificates are requested. */
  clientCa?: string;
}

function head(
  status: number,
  headers: Record<string, string>,
  framing: [string, string] | undefined,
): string {
  const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}`];
  for (const name of Object.keys(headers).sort()) lines.push(`${name}: ${headers[name]}`);
  lines.push(`Date: ${new Date().toUTCString()}`);
  if (framing) lines.push(`${framing[0]}: ${framing[1]}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

function chunk(data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
}

function asBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

function peerOf(socket: net.Socket): PeerCertificate | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const cert = socket.getPeerCertificate();
  const subject = cert?.subject as unknown as Record<string, string | string[] | undefined> | undefined;
  if (!subject || Object.keys(subject).length === 0) return undefined;
  const cn = subject.CN;
  const o = subject.O;
  return {
    commonName: Array.isArray(cn) ? cn[0] ?? "" : cn ?? "",
    organizations: o === undefined ? [] : Array.isArray(o) ? o : [o],
    authorized: socket.authorized === true,
  };
}

type Parsed = { request: Omit<HttpRequest, "url" | "peer">; used: number; close: boolean; expect: boolean };

/** Parses one request from `buf`; undefined when incomplete; throws on garbage. */
function parseRequest(buf: Buffer): Parsed | undefined {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) {
    if (buf.length > MAX_HEADER_BYTES) throw new Error("Request header too large");
    return undefined;
  }
  const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
  const [method, target, version] = (lines[0] ?? "").split(" ");
  if (!method || !target || !version?.startsWith("HTTP/1.")) {
    throw new Error(`Malformed request line: "${lines[0]}"`);
  }
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`Malformed header line: "${line}"`);
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  let pos = end + 4;
  let body: Uint8Array = new Uint8Array(0);
  if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
    const parts: Uint8Array[] = [];
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", pos);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buf.subarray(pos, lineEnd).toString("latin1").split(";")[0] ?? "", 16);
      if (Number.isNaN(size)) throw new Error("Malformed chunk size");
      if (size === 0) {
        if (buf.length < lineEnd + 4) return undefined;
        if (buf[lineEnd + 2] === 13 && buf[lineEnd + 3] === 10) {
          pos = lineEnd + 4;
        } else {
          const trailersEnd = buf.indexOf("\r\n\r\n", lineEnd + 2);
          if (trailersEnd < 0) return undefined;
          pos = trailersEnd + 4;
        }
        break;
      }
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers.get("content-length") ?? "0");
    if (!Number.isInteger(length) || length < 0) throw new Error("Malformed Content-Length");
    if (buf.length < pos + length) return undefined;
    body = buf.subarray(pos, pos + length);
    pos += length;
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  return {
    request: { method: method.toUpperCase(), target, headers, body: new Uint8Array(body) },
    used: pos,
    close: connection.includes("close") || version === "HTTP/1.0",
    expect: (headers.get("expect") ?? "").toLowerCase() === "100-continue",
  };
}

/** One client connection: requests are parsed and answered one after the other. */
class Connection {
  #buf: Buffer = Buffer.alloc(0);
  #busy = false;
  #closed = false;
  #continued = false;
  readonly #closeListeners = new Set<() => void>();

  constructor(
    readonly socket: net.Socket,
    readonly handler: HttpHandler,
    readonly base: string,
    readonly peer: PeerCertificate | undefined,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (data: Buffer) => {
      this.#buf = this.#buf.length === 0 ? data : Buffer.concat([this.#buf, data]);
      this.#pump();
    });
    socket.on("error", () => this.#markClosed());
    socket.on("close", () => this.#markClosed());
    socket.on("end", () => {
      if (!this.#busy) socket.end();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  destroy(): void {
    this.socket.destroy();
    this.#markClosed();
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners.clear();
  }

  #pump(): void {
    while (!this.#busy && !this.#closed) {
      let parsed: Parsed | undefined;
      try {
        parsed = parseRequest(this.#buf);
      } catch {
        this.socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        this.#closed = true;
        return;
      }
      if (!parsed) {
        if (
          !this.#continued && this.#buf.indexOf("\r\n\r\n") >= 0 && /expect:\s*100-continue/i.test(
            this.#buf.subarray(0, this.#buf.indexOf("\r\n\r\n")).toString("latin1"),
          )
        ) {
          this.#continued = true;
          this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
        }
        return;
      }
      this.#continued = false;
      this.#buf = this.#buf.subarray(parsed.used);
      this.#busy = true;
      this.#run(parsed);
    }
  }

  #done(close: boolean): void {
    if (close) {
      this.socket.end();
      return;
    }
    this.#busy = false;
    queueMicrotask(() => this.#pump());
  }

  #run(parsed: Parsed): void {
    let answered = false;
    const close = parsed.close;
    const extra = (headers: Record<string, string>): Record<string, string> =>
      close ? { ...headers, Connection: "close" } : headers;
    const claim = (): void => {
      if (answered) throw new Error(`Request "${parsed.request.target}" was already answered`);
      answered = true;
    };
    const exchange: HttpExchange = {
      request: { ...parsed.request, url: new URL(parsed.request.target, this.base), peer: this.peer },
      respond: (status, headers, body) => {
        claim();
        if (this.#closed) return;
        const bytes = asBytes(body);
        if (bytes.length <= BUFFER_BEFORE_CHUNKING) {
          this.socket.write(
            Buffer.concat([
              Buffer.from(head(status, extra(headers), ["Content-Length", String(bytes.length)])),
              bytes,
            ]),
          );
        } else {
          this.socket.write(
            Buffer.concat([
              Buffer.from(head(status, extra(headers), ["Transfer-Encoding", "chunked"])),
              chunk(bytes),
              Buffer.from("0\r\n\r\n"),
            ]),
          );
        }
        this.#done(close);
      },
      stream: (status, headers) => {
        claim();
        return this.#stream(status, extra(headers), close);
      },
      abort: () => {
        answered = true;
        this.destroy();
      },
    };
    Promise.resolve()
      .then(() => this.handler(exchange))
      .catch((error: unknown) => {
        if (!answered && !this.#closed) {
          const text = `Internal error in the test server: ${
            error instanceof Error ? error.message : String(error)
          }`;
          exchange.respond(500, { "Content-Type": "text/plain; charset=utf-8" }, text);
        }
      });
  }

  #stream(status: number, headers: Record<string, string>, close: boolean): HttpStream {
    const socket = this.socket;
    let ended = false;
    const listeners: Array<() => void> = [];
    const finish = (): void => {
      if (ended) return;
      ended = true;
      for (const listener of listeners.splice(0)) listener();
    };
    this.#closeListeners.add(finish);
    if (!this.#closed) socket.write(head(status, headers, ["Transfer-Encoding", "chunked"]));
    const stream: HttpStream = {
      write: (data) => {
        if (ended || this.#closed) return false;
        const bytes = asBytes(data);
        if (bytes.length > 0) socket.write(chunk(bytes));
        return true;
      },
      end: () => {
        if (ended || this.#closed) return;
        socket.write("0\r\n\r\n");
        this.#closeListeners.delete(finish);
        finish();
        this.#done(close);
      },
      abort: () => {
        if (ended) return;
        this.destroy();
      },
      get closed() {
        return ended;
      },
      onClose: (listener) => {
        if (ended) listener();
        else listeners.push(listener);
      },
    };
    return stream;
  }
}

/** The HTTP/1.1 server: listen, stop listening, listen again on the same port, close. */
export class HttpServer {
  #server: net.Server | undefined;
  readonly #connections = new Set<Connection>();
  #port = 0;

  /** Creates a server that calls `handler` for every request; `tls` switches to HTTPS. */
  constructor(
    readonly handler: HttpHandler,
    readonly tlsOptions: HttpTlsOptions | undefined,
    readonly hostname: string,
  ) {}

  /** The port listened on (0 before the first listen). */
  get port(): number {
    return this.#port;
  }

  /** Whether the listener is open. */
  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Number of open client connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Starts listening on `port` (0 picks a free one; later calls reuse the first port). */
  async listen(port = this.#port): Promise<number> {
    if (this.#server) return this.#port;
    const scheme = this.tlsOptions ? "https" : "http";
    const accept = (socket: net.Socket): void => {
      const connection = new Connection(
        socket,
        this.handler,
        `${scheme}://${this.hostname}:${this.#port}`,
        peerOf(socket),
      );
      this.#connections.add(connection);
      socket.on("close", () => this.#connections.delete(connection));
    };
    let server: net.Server;
    if (this.tlsOptions) {
      const options: tls.TlsOptions = { cert: this.tlsOptions.cert, key: this.tlsOptions.key };
      if (this.tlsOptions.clientCa !== undefined) {
        Object.assign(options, {
          ca: this.tlsOptions.clientCa,
          requestCert: true,
          rejectUnauthorized: false,
        });
      }
      server = tls.createServer(options, accept);
      server.on("tlsClientError", () => {});
    } else {
      server = net.createServer(accept);
    }
    server.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, this.hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as net.AddressInfo).port;
    return this.#port;
  }

  /** Closes the listener and cuts every open connection (clients then see "connection refused"). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const connection of this.#connections) connection.destroy();
    this.#connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
