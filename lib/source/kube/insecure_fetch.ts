/**
 * A `fetch` for `https:` URLs that does NOT verify the server's certificate: what a kubeconfig's
 * `insecure-skip-tls-verify: true` asks for. Deno's own `fetch` has no per-client switch for this (only
 * the process-wide `--unsafely-ignore-certificate-errors`), but `node:https` honours
 * `rejectUnauthorized: false` per request, so this builds a fetch on it: same call shape, a real
 * `Response` whose body streams the reply (pull-based, so a slow reader pauses the socket), an abort that
 * destroys the request and rejects (or errors the body) with the signal's reason, and failures thrown as
 * `TypeError`s whose cause chain carries the node error (e.g. `connect ECONNREFUSED 127.0.0.1:6443`).
 *
 * Every request gets its own connection (no keep-alive pool), so nothing outlives the response.
 *
 * Backpressure: Deno's `node:tls` reads its socket ahead without bound whatever the response's `pause()`
 * says (measured: 178 MB pulled from loopback into a reader that read nothing, the kernel queues
 * empty). So the TLS layer runs over a stream this module feeds from its own TCP socket, and that
 * socket is paused whenever the body's queue is full: what sits unread in the process stays within
 * about one socket read plus the body's queue.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import { Agent, request } from "node:https";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";

/** Options of {@linkcode createInsecureFetch}. */
export interface InsecureFetchOptions {
  /** Client certificate chain (PEM) for mutual TLS; needs {@linkcode key}. */
  cert?: string;
  /** Private key (PEM) of {@linkcode cert}. */
  key?: string;
  /** Called with each request's TCP socket once connecting (for diagnostics: `bytesRead`, `isPaused()`). */
  onSocket?: (socket: Socket) => void;
}

/** Bytes the body may hold unread before the socket is paused. */
const BODY_QUEUE_BYTES = 64 * 1024;

/**
 * A TCP socket as a plain stream for `tls.connect({ socket })`: Deno's TLS drains whatever stream it is
 * given, so the flow is gated here: `hold()` pauses the TCP socket (the kernel then pushes back on the
 * server), `release()` resumes it.
 */
function gatedSocket(raw: Socket): { stream: Duplex; hold(): void; release(): void } {
  let held = false;
  const stream = new Duplex({
    read() {
      if (!held) raw.resume();
    },
    write(chunk, encoding, callback) {
      raw.write(chunk, encoding, callback);
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(error, callback) {
      raw.destroy();
      callback(error);
    },
  });
  raw.on("data", (chunk: Uint8Array) => stream.push(chunk));
  raw.on("end", () => stream.push(null));
  raw.on("error", (error: Error) => stream.destroy(error));
  raw.on("close", () => stream.destroy());
  return {
    stream,
    hold() {
      held = true;
      raw.pause();
    },
    release() {
      held = false;
      raw.resume();
    },
  };
}

/** The subset of `fetch` the Kubernetes client uses. */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** Statuses whose `Response` must have a null body. */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function headerRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

function responseHeaders(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      // a header name or value the Fetch standard forbids: dropped, as fetch would not show it either
    }
  }
  return headers;
}

function requestBody(body: BodyInit | null | undefined): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  throw new TypeError("Cannot send the request: only a string or Uint8Array body is supported");
}

/** An error shaped like fetch's: a `TypeError` naming the URL, the node error as its cause. */
function fetchError(url: string, error: unknown): TypeError {
  const detail = error instanceof Error ? error.message : String(error);
  return new TypeError(`error sending request for url (${url}): ${detail}`, { cause: error });
}

/** A failure while the body streams, shaped like fetch's. */
function bodyError(error: unknown): TypeError {
  const detail = error instanceof Error ? error.message : String(error);
  return new TypeError(`error reading a body from connection: ${detail}`, { cause: error });
}

/**
 * Creates a fetch that skips server-certificate verification (and presents `cert`/`key` when given).
 * Only for `https:` URLs; use Deno's `fetch` for everything else.
 *
 * @example
 * ```ts
 * const insecureFetch = createInsecureFetch({ cert, key });
 * const response = await insecureFetch("https://127.0.0.1:6443/api", { headers, signal });
 * ```
 */
export function createInsecureFetch(options: InsecureFetchOptions = {}): FetchFunction {
  return function insecureFetch(url: string, init: RequestInit): Promise<Response> {
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    let payload: string | Uint8Array | undefined;
    try {
      if (new URL(url).protocol !== "https:") {
        throw new TypeError(`Cannot fetch "${url}" without certificate verification: not an https URL`);
      }
      payload = requestBody(init.body);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<Response>((resolve, reject) => {
      new InsecureRequest(url, init, options, signal, { resolve, reject }).send(payload);
    });
  };
}

/** How a request hands its response (or its failure before one) to the caller. */
interface Settle {
  resolve(response: Response): void;
  reject(error: unknown): void;
}

/**
 * One request over node:https, turned into a fetch Response whose body streams with backpressure: the
 * request's state (settled, response, body, finished) lives in its fields.
 */
class InsecureRequest {
  readonly #url: string;
  readonly #signal: AbortSignal | undefined;
  readonly #settle: Settle;
  readonly #req: ReturnType<typeof request>;
  #settled = false;
  #finished = false;
  #response: IncomingMessage | undefined;
  #body: ReadableStreamDefaultController<Uint8Array> | undefined;
  // One agent per request (no pool), whose connection is TLS over a gated TCP socket.
  #gate: ReturnType<typeof gatedSocket> | undefined;
  readonly #onAbort = () => this.#fail(this.#signal?.reason);

  constructor(
    url: string,
    init: RequestInit,
    options: InsecureFetchOptions,
    signal: AbortSignal | undefined,
    settle: Settle,
  ) {
    this.#url = url;
    this.#signal = signal;
    this.#settle = settle;
    this.#req = request(url, {
      method: init.method ?? "GET",
      headers: headerRecord(init.headers),
      rejectUnauthorized: false,
      agent: this.#agent(options),
    });
  }

  /** Sends the request with its body. */
  send(payload: string | Uint8Array | undefined): void {
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#req.on("error", (error: Error) => {
      this.#fail(this.#settled ? bodyError(error) : fetchError(this.#url, error));
    });
    this.#req.on("response", (res: IncomingMessage) => this.#onResponse(res));
    this.#req.end(payload);
  }

  #agent({ cert, key, onSocket }: InsecureFetchOptions): Agent {
    const agent = new Agent({ keepAlive: false });
    agent.createConnection = (o: { host?: string | null; port?: number | string | null }) => {
      const host = o.host ?? "localhost";
      const raw = netConnect(Number(o.port ?? 443), host);
      onSocket?.(raw);
      this.#gate = gatedSocket(raw);
      return tlsConnect({
        socket: this.#gate.stream,
        rejectUnauthorized: false,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
      });
    };
    return agent;
  }

  #finish(): void {
    this.#finished = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  #fail(error: unknown): void {
    if (this.#finished) return;
    this.#finish();
    this.#req.destroy();
    this.#response?.destroy();
    if (!this.#settled) {
      this.#settled = true;
      this.#settle.reject(error);
      return;
    }
    try {
      this.#body?.error(error);
    } catch {
      // the body was already closed or cancelled
    }
  }

  #onResponse(res: IncomingMessage): void {
    this.#response = res;
    const status = res.statusCode ?? 0;
    const head = { status, statusText: res.statusMessage ?? "", headers: responseHeaders(res.rawHeaders) };
    if (status < 200 || status > 599) {
      this.#fail(fetchError(this.#url, new Error(`invalid HTTP status ${status}`)));
      return;
    }
    res.on("error", (error: Error) => this.#fail(bodyError(error)));
    res.on("close", () => {
      if (!res.complete) this.#fail(bodyError("the connection closed before the end of the body"));
    });
    this.#settled = true;
    if (NULL_BODY_STATUSES.has(status)) {
      res.resume();
      res.on("end", () => this.#finish());
      this.#settle.resolve(new Response(null, head));
      return;
    }
    res.pause();
    this.#gate?.hold();
    this.#settle.resolve(new Response(this.#bodyStream(res), head));
  }

  /** The body as a stream that holds the socket while its queue is full. */
  #bodyStream(res: IncomingMessage): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#body = controller;
        res.on("data", (chunk: Uint8Array) => {
          if (this.#finished) return;
          controller.enqueue(new Uint8Array(chunk));
          if ((controller.desiredSize ?? 0) <= 0) {
            res.pause();
            this.#gate?.hold();
          }
        });
        res.on("end", () => {
          if (this.#finished) return;
          this.#finish();
          controller.close();
        });
      },
      pull: () => {
        this.#gate?.release();
        res.resume();
      },
      cancel: () => {
        if (this.#finished) return;
        this.#finish();
        this.#req.destroy();
        res.destroy();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: BODY_QUEUE_BYTES }));
  }
}
