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
 * @module
 */
import type { IncomingMessage } from "node:http";
import { request } from "node:https";

/** Options of {@linkcode createInsecureFetch}. */
export interface InsecureFetchOptions {
  /** Client certificate chain (PEM) for mutual TLS; needs {@linkcode key}. */
  cert?: string;
  /** Private key (PEM) of {@linkcode cert}. */
  key?: string;
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
  const { cert, key } = options;
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
      let settled = false;
      let response: IncomingMessage | undefined;
      let body: ReadableStreamDefaultController<Uint8Array> | undefined;
      let finished = false;

      const finish = () => {
        finished = true;
        signal?.removeEventListener("abort", onAbort);
      };
      const fail = (error: unknown) => {
        if (finished) return;
        finish();
        req.destroy();
        response?.destroy();
        if (!settled) {
          settled = true;
          reject(error);
        } else {
          try {
            body?.error(error);
          } catch {
            // the body was already closed or cancelled
          }
        }
      };
      const onAbort = () => fail(signal?.reason);

      const req = request(url, {
        method: init.method ?? "GET",
        headers: headerRecord(init.headers),
        rejectUnauthorized: false,
        agent: false,
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (error: Error) => fail(settled ? bodyError(error) : fetchError(url, error)));
      req.on("response", (res: IncomingMessage) => {
        response = res;
        const status = res.statusCode ?? 0;
        const head = {
          status,
          statusText: res.statusMessage ?? "",
          headers: responseHeaders(res.rawHeaders),
        };
        if (status < 200 || status > 599) {
          fail(fetchError(url, new Error(`invalid HTTP status ${status}`)));
          return;
        }
        res.on("error", (error: Error) => fail(bodyError(error)));
        res.on("close", () => {
          if (!res.complete) fail(bodyError("the connection closed before the end of the body"));
        });
        if (NULL_BODY_STATUSES.has(status)) {
          res.resume();
          res.on("end", finish);
          settled = true;
          resolve(new Response(null, head));
          return;
        }
        res.pause();
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            body = controller;
            res.on("data", (chunk: Uint8Array) => {
              if (finished) return;
              controller.enqueue(new Uint8Array(chunk));
              if ((controller.desiredSize ?? 0) <= 0) res.pause();
            });
            res.on("end", () => {
              if (finished) return;
              finish();
              controller.close();
            });
          },
          pull() {
            res.resume();
          },
          cancel() {
            if (finished) return;
            finish();
            req.destroy();
            res.destroy();
          },
        });
        settled = true;
        resolve(new Response(stream, head));
      });
      req.end(payload);
    });
  };
}
