/**
 * A small HTTP(S) client for the Kubernetes API: servers tried in order with failover (connect errors,
 * TLS errors, timeouts, 5xx), sticking to the one that works; client certificate, bearer token (the
 * token file re-read on every request, so rotated tokens are picked up), basic auth; typed errors whose
 * messages an operator can act on. No credential ever appears in an error or a log line.
 *
 * @module
 */
import { concatBytes } from "../../bytes.ts";
import { errorText, type Logger, silentLogger } from "../../log.ts";
import { type Connection, skipsServerVerification } from "./auth.ts";
import { createInsecureFetch, type FetchFunction } from "./insecure_fetch.ts";

/** What a request is for, so errors can name the verb and resource (e.g. for RBAC). */
export interface RequestAction {
  /** `list`, `watch` or `get`. */
  verb: "list" | "watch" | "get";
  /** Plural resource name, e.g. `endpoints`. */
  resource: string;
  /** API group, `""` for the core group. */
  group: string;
  /** Namespace, or undefined for all namespaces (cluster scope). */
  namespace?: string;
}

/** Base of every error the client throws (except the caller's own abort reason). */
export class KubeError extends Error {
  /** API server the error came from, if one answered or was tried. */
  readonly server: string;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** Creates the error. */
  constructor(message: string, server: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeError";
    this.server = server;
    this.status = status;
  }
}

/** 401: the credentials were not accepted. */
export class Unauthorized extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server, 401);
    this.name = "Unauthorized";
  }
}

/** 403: the identity lacks a permission (RBAC). */
export class Forbidden extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server, 403);
    this.name = "Forbidden";
  }
}

/** 410 Gone / reason Expired: the resourceVersion or continue token is too old; relist. */
export class Expired extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server, 410);
    this.name = "Expired";
  }
}

/** 5xx from a server (it is failed over). */
export class ServerError extends KubeError {
  /** How long the server asked to wait (`Retry-After`), if it said. */
  readonly retryAfterMs: number | undefined;
  /** Creates the error. */
  constructor(message: string, server: string, status: number, retryAfterMs?: number) {
    super(message, server, status);
    this.name = "ServerError";
    this.retryAfterMs = retryAfterMs;
  }
}

/** The wait a server asked for with `Retry-After` (seconds), if any; undefined for dates or garbage. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Math.min(Number(header), 300) * 1000;
}

/** The longest wait any server of an error asked for (`Retry-After`), or 0. */
export function retryAfterMs(error: unknown): number {
  if (error instanceof ServerError) return error.retryAfterMs ?? 0;
  if (error instanceof Unavailable) return Math.max(0, ...error.errors.map((e) => retryAfterMs(e)));
  return 0;
}

/** An answer that is not what was asked for (e.g. a list of another kind): never taken as data. */
export class UnexpectedAnswer extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server);
    this.name = "UnexpectedAnswer";
  }
}

/** A body (or a watch line) larger than the configured cap: abandoned before it could fill memory. */
export class ResponseTooLarge extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server);
    this.name = "ResponseTooLarge";
  }
}

/** The default of {@linkcode KubeClientOptions.maxResponseBytes}. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Reads a body as bytes (in an array of its own), or undefined once it grows past `maxBytes` (the rest is
 * not read: the body is cancelled). A `content-length` above the cap is refused before reading.
 */
export async function readCappedBytes(
  response: Response,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concatBytes(chunks);
}

/** Reads a body as text, or undefined once it grows past `maxBytes` ({@linkcode readCappedBytes}). */
export async function readCapped(response: Response, maxBytes: number): Promise<string | undefined> {
  const bytes = await readCappedBytes(response, maxBytes);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/** A JSON body's bytes parsed (UTF-8, as `Response.json()` reads them). Throws `SyntaxError`. */
export function parseJsonBytes(body: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(body));
}

/** The connection could not be made (refused, reset, DNS, protocol). */
export class ConnectError extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string, options?: ErrorOptions) {
    super(message, server, undefined, options);
    this.name = "ConnectError";
  }
}

/** The TLS handshake failed: a certificate did not verify. */
export class TlsError extends KubeError {
  /** Which side's certificate: the server's (did not verify here) or ours (rejected there). */
  readonly side: "server" | "client";
  /** Creates the error. */
  constructor(message: string, server: string, side: "server" | "client", options?: ErrorOptions) {
    super(message, server, undefined, options);
    this.name = "TlsError";
    this.side = side;
  }
}

/** No response (headers, or a whole non-streaming body) within the request timeout. */
export class RequestTimeout extends KubeError {
  /** Creates the error. */
  constructor(message: string, server: string) {
    super(message, server);
    this.name = "RequestTimeout";
  }
}

/** Every API server failed; `errors` holds each one's failure, in the order tried. */
export class Unavailable extends KubeError {
  /** The failure of each server tried. */
  readonly errors: readonly KubeError[];
  /** Creates the error. */
  constructor(errors: readonly KubeError[]) {
    const last = errors[errors.length - 1];
    super(
      errors.length === 1 && last
        ? last.message
        : `No API server answered: ${errors.map((e) => e.message).join("; ")}`,
      last?.server ?? "",
      last?.status,
      { cause: last },
    );
    this.name = "Unavailable";
    this.errors = errors;
  }
}

/** An open watch (or any streaming) response. */
export interface KubeStream {
  /** Server that answered. */
  server: string;
  /** The response body. */
  body: ReadableStream<Uint8Array>;
  /** Ends the stream (cancels the body, aborts the request); safe to call more than once. */
  close(): Promise<void>;
}

/** Options of {@linkcode createKubeClient}. */
export interface KubeClientOptions {
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** Time allowed for connect + response headers (and the whole body of a non-streaming request). @default {30000} */
  requestTimeoutMs?: number;
  /** Largest body of a non-streaming answer (a list page), in bytes. @default {64 MiB} */
  maxResponseBytes?: number;
}

/** What a request's answer is for: a stream handed out as it is, or a body read and parsed by the function. */
type How = "stream" | ((body: Uint8Array<ArrayBuffer>) => unknown);

/** The API client. */
export interface KubeClient {
  /** Who the client is to the API, for messages: certificate subject and/or token subject. */
  readonly identity: string;
  /** The API server currently in use (the last one that worked). */
  server(): string;
  /**
   * GETs `path` with `query` and returns the JSON body parsed by `parse` from its bytes (an array of its
   * own, which `parse` may keep; default {@linkcode parseJsonBytes}).
   */
  getJson(
    path: string,
    query: Record<string, string>,
    action: RequestAction,
    signal?: AbortSignal,
    parse?: (body: Uint8Array<ArrayBuffer>) => unknown,
  ): Promise<unknown>;
  /** GETs `path` with `query` and returns the open body (a watch). */
  openStream(
    path: string,
    query: Record<string, string>,
    action: RequestAction,
    signal?: AbortSignal,
  ): Promise<KubeStream>;
  /** Releases the HTTP client. */
  close(): void;
}

/** The `sub` claim of a JWT (service-account tokens are JWTs), or undefined. Reads no signature. */
export function tokenSubject(token: string): string | undefined {
  const part = token.split(".")[1];
  if (part === undefined) return undefined;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const claims = JSON.parse(json) as { sub?: unknown };
    return typeof claims.sub === "string" ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

function describeIdentity(connection: Connection, token: string | undefined): string {
  const parts: string[] = [];
  if (connection.clientCert) parts.push(`client certificate "${connection.clientCert.subject}"`);
  if (token !== undefined || connection.tokenFile !== undefined) {
    const subject = token === undefined ? undefined : tokenSubject(token);
    const from = connection.tokenFile !== undefined ? ` from "${connection.tokenFile}"` : "";
    parts.push(subject ? `token of "${subject}"${from}` : `bearer token${from}`);
  }
  if (connection.basic) parts.push(`user "${connection.basic.username}"`);
  return parts.length > 0 ? parts.join(" and ") : "anonymous (no credentials)";
}

/** `endpoints` or `endpointslices.discovery.k8s.io` in namespace "x" / in all namespaces. */
export function describeAction(action: RequestAction): string {
  const resource = action.group === "" ? action.resource : `${action.resource}.${action.group}`;
  const scope = action.namespace === undefined
    ? "in all namespaces (cluster scope)"
    : `in namespace "${action.namespace}"`;
  return `"${resource}" ${scope}`;
}

/** The parts of a Kubernetes `Status` body used in messages. */
interface StatusBody {
  message: string;
  reason: string;
}

function parseStatus(text: string): StatusBody {
  try {
    const json = JSON.parse(text) as { message?: unknown; reason?: unknown };
    return {
      message: typeof json.message === "string" ? json.message : "",
      reason: typeof json.reason === "string" ? json.reason : "",
    };
  } catch {
    return { message: text.slice(0, 200).trim(), reason: "" };
  }
}

/** Classifies a fetch failure as TLS (with the side at fault) or connection. */
function classifyFetchError(error: unknown, server: string, connection: Connection): KubeError {
  const text = errorText(error);
  const detail = text.replace(/^fetch failed: /, "");
  if (/invalid peer certificate/i.test(text)) {
    const reason = /invalid peer certificate: (.*)$/i.exec(text)?.[1] ?? detail;
    const insecure = connection.insecureSkipTlsVerify
      ? " (the kubeconfig's insecure-skip-tls-verify is ignored because a CA is configured)"
      : "";
    return new TlsError(
      `TLS to "${server}" failed: the API server's certificate did not verify against ${connection.caSource}${insecure}: ${reason}`,
      server,
      "server",
      { cause: error },
    );
  }
  const alert = /received fatal alert: (\w+)/i.exec(text)?.[1];
  // Deno's fetch says close_notify or handshake eof; node:https (insecure-skip-tls-verify) says the socket
  // disconnected before the TLS connection was established, or hung up.
  const closed = /close_notify|handshake|before secure TLS connection|socket hang up/i.test(text);
  if (alert !== undefined || (closed && connection.clientCert)) {
    const ours = connection.clientCert
      ? `the client certificate "${connection.clientCert.subject}" (${connection.clientCert.source})`
      : "a client certificate (none is configured: give --ssl-cert/--ssl-key or a kubeconfig user with one)";
    return new TlsError(
      `TLS to "${server}" failed: the API server rejected ${ours}: ${alert ?? "it closed the connection"}`,
      server,
      "client",
      { cause: error },
    );
  }
  if (/certificate|tls/i.test(text)) {
    return new TlsError(`TLS to "${server}" failed: ${detail}`, server, "server", { cause: error });
  }
  const short = /client error \(\w+\): (.*)$/.exec(detail)?.[1] ??
    /^error sending request for url \([^)]*\): (.*)$/.exec(detail)?.[1] ?? detail;
  return new ConnectError(`Cannot connect to "${server}": ${short}`, server, { cause: error });
}

/**
 * Creates a client for `connection`. Call `close()` when done (it holds a Deno HTTP client).
 *
 * When the kubeconfig sets `insecure-skip-tls-verify` and no CA is configured, `https:` servers are
 * reached through {@linkcode createInsecureFetch} (node:https, the server certificate NOT verified; the
 * client certificate still presented); everything else uses Deno's `fetch`. The start-up warning about
 * it is `insecureNote()`'s (auth.ts), logged once by the Kubernetes source.
 *
 * @example
 * ```ts
 * const client = createKubeClient(await resolveConnection(settings));
 * const list = await client.getJson("/api/v1/endpoints", { limit: "500" },
 *   { verb: "list", resource: "endpoints", group: "" });
 * client.close();
 * ```
 */
export function createKubeClient(connection: Connection, options: KubeClientOptions = {}): KubeClient {
  return new ApiClient(connection, options);
}

/** What a request resolved to. */
interface Answer {
  server: string;
  body: unknown;
  stream?: KubeStream;
}

/** One attempt at one server: its answer, or why that server failed (so the next one is tried). */
type Attempt = { answer: Answer } | { failure: KubeError };

/** The per-attempt plumbing: its abort controller, and how to stop its timer and let go of the caller's signal. */
interface AttemptControl {
  controller: AbortController;
  stopTimer: () => void;
  release: () => void;
}

/** The 401/403/410/5xx/other error for a non-2xx answer, naming the identity and what was tried. */
function statusError(
  status: number,
  text: string,
  server: string,
  action: RequestAction,
  identity: string,
  retryAfter: number | undefined,
): KubeError {
  const { message, reason } = parseStatus(text);
  const said = message ? `: ${message}` : "";
  const what = describeAction(action);
  if (status === 401) {
    return new Unauthorized(
      `API server "${server}" rejected the credentials of ${identity} (401 Unauthorized) while trying to ` +
        `${action.verb} ${what}: check the token or client certificate${said}`,
      server,
    );
  }
  if (status === 403) {
    return new Forbidden(
      `API server "${server}" forbids ${identity} to ${action.verb} ${what} (403 Forbidden): grant it ` +
        `"list" and "watch" on "${action.resource}"${
          action.group === "" ? "" : ` in API group "${action.group}"`
        } (RBAC)${said}`,
      server,
    );
  }
  if (status === 410 || reason === "Expired" || reason === "Gone") {
    return new Expired(`API server "${server}": ${action.verb} ${what} expired (410 Gone)${said}`, server);
  }
  // 5xx and 429 (API priority and fairness throttling) are the server's trouble: try the next one, and
  // honour Retry-After before coming back.
  if (status >= 500 || status === 429) {
    return new ServerError(
      `API server "${server}" failed to ${action.verb} ${what} (${status})${said}`,
      server,
      status,
      retryAfter,
    );
  }
  const hint = status === 404 ? " (is the API group served by this cluster?)" : "";
  return new KubeError(
    `API server "${server}" refused to ${action.verb} ${what} (${status}${
      reason ? ` ${reason}` : ""
    })${hint}${said}`,
    server,
    status,
  );
}

/** The client behind {@linkcode createKubeClient}: failover over the servers, its state in fields. */
class ApiClient implements KubeClient {
  readonly #connection: Connection;
  readonly #log: Logger;
  readonly #requestTimeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #servers: readonly string[];
  readonly #httpClient: Deno.HttpClient;
  readonly #insecureFetch: FetchFunction | undefined;
  /** The server that answered last: requests start there. */
  #current = 0;
  #lastToken: string | undefined;
  #identity: string;
  // The API's own warnings (e.g. "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1
  // EndpointSlice"), logged once each: they tell the operator what to change.
  readonly #warned = new Set<string>();

  constructor(connection: Connection, options: KubeClientOptions) {
    this.#connection = connection;
    this.#log = options.log ?? silentLogger;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#servers = connection.servers;
    if (this.#servers.length === 0) throw new TypeError("Cannot create an API client: no server URL");
    const cert = connection.clientCert
      ? { cert: connection.clientCert.cert, key: connection.clientCert.key }
      : {};
    // HTTP/1.1 only: with HTTP/2 every request shares one pooled connection, and a silently dead one
    // (no FIN/RST) would be reused by every reconnect until the kernel gives up (~15 min).
    this.#httpClient = Deno.createHttpClient({ http2: false, caCerts: connection.caCerts, ...cert });
    this.#insecureFetch = skipsServerVerification(connection) ? createInsecureFetch(cert) : undefined;
    this.#lastToken = connection.token;
    this.#identity = describeIdentity(connection, this.#lastToken);
  }

  /** Who the client authenticates as (for messages). */
  get identity(): string {
    return this.#identity;
  }

  /** The server that answered last. */
  server(): string {
    return this.#servers[this.#current]!;
  }

  /** GETs `path` and parses the JSON answer (with `parse`, e.g. lib/source/kube/list_text.ts's). */
  async getJson(
    path: string,
    query: Record<string, string>,
    action: RequestAction,
    signal?: AbortSignal,
    parse: (body: Uint8Array<ArrayBuffer>) => unknown = parseJsonBytes,
  ): Promise<unknown> {
    return (await this.#request(path, query, action, signal, parse)).body;
  }

  /** GETs `path` and hands out the body as a stream (a watch). */
  async openStream(
    path: string,
    query: Record<string, string>,
    action: RequestAction,
    signal?: AbortSignal,
  ): Promise<KubeStream> {
    const result = await this.#request(path, query, action, signal, "stream");
    if (!result.stream) throw new KubeError(`API server "${result.server}" sent no body`, result.server);
    return result.stream;
  }

  /** Closes the HTTP client's connections. */
  close(): void {
    this.#httpClient.close();
  }

  async #currentToken(): Promise<string | undefined> {
    const { tokenFile, token: fixed } = this.#connection;
    if (tokenFile === undefined) return fixed;
    let token: string;
    try {
      token = (await Deno.readTextFile(tokenFile)).trim();
      // An empty file is a rewrite in progress (tokens are never empty): keep the last token.
      if (token === "" && this.#lastToken !== undefined) return this.#lastToken;
    } catch (error) {
      if (this.#lastToken !== undefined) {
        this.#log.warn("cannot re-read the token file, using the last token", {
          file: tokenFile,
          error: errorText(error),
        });
        return this.#lastToken;
      }
      throw new KubeError(
        `Cannot read token file "${tokenFile}": ${(error as Error).message}`,
        this.#servers[this.#current] ?? "",
        undefined,
        { cause: error },
      );
    }
    if (token !== this.#lastToken) {
      if (this.#lastToken !== undefined) {
        this.#log.info("token file changed, using the new token", { file: tokenFile });
      }
      this.#lastToken = token;
      this.#identity = describeIdentity(this.#connection, token);
    }
    return token;
  }

  #noteWarnings(header: string | null, server: string): void {
    if (header === null) return;
    for (const match of header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) {
      const text = (match[1] ?? "").replace(/\\(.)/g, "$1");
      if (text === "" || this.#warned.has(text)) continue;
      this.#warned.add(text);
      this.#log.warn("API server warning", { server, warning: text });
    }
  }

  async #headers(): Promise<Headers> {
    const h = new Headers({ accept: "application/json", "user-agent": "haconfd" });
    const token = await this.#currentToken();
    const basic = this.#connection.basic;
    if (token) h.set("authorization", `Bearer ${token}`);
    else if (basic) h.set("authorization", `Basic ${btoa(`${basic.username}:${basic.password}`)}`);
    return h;
  }

  /** Tries each server once, starting with the last good one; throws {@linkcode Unavailable} when all fail. */
  async #request(
    path: string,
    query: Record<string, string>,
    action: RequestAction,
    signal: AbortSignal | undefined,
    how: How,
  ): Promise<Answer> {
    const servers = this.#servers;
    const failures: KubeError[] = [];
    const search = new URLSearchParams(query).toString();
    const auth = await this.#headers();
    for (let n = 0; n < servers.length; n++) {
      signal?.throwIfAborted();
      const index = (this.#current + n) % servers.length;
      const server = servers[index]!;
      const url = `${server}${path}${search ? `?${search}` : ""}`;
      const attempt = await this.#attempt(index, url, auth, action, signal, how);
      if ("answer" in attempt) return attempt.answer;
      failures.push(attempt.failure);
      if (n + 1 < servers.length) {
        this.#log.warn("API server failed, trying the next", {
          server,
          next: servers[(index + 1) % servers.length],
          error: attempt.failure.message,
        });
      }
    }
    throw new Unavailable(failures);
  }

  /** One request to one server, under the request timeout and the caller's signal. */
  async #attempt(
    index: number,
    url: string,
    auth: Headers,
    action: RequestAction,
    signal: AbortSignal | undefined,
    how: How,
  ): Promise<Attempt> {
    const server = this.#servers[index]!;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const release = () => signal?.removeEventListener("abort", onAbort);
    const timeout = () =>
      new RequestTimeout(`API server "${server}" did not answer within ${this.#requestTimeoutMs}ms`, server);
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => {
      timedOut = true;
      controller.abort(timeout());
    }, this.#requestTimeoutMs);
    const stopTimer = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    try {
      const init: RequestInit & { client?: Deno.HttpClient } = { headers: auth, signal: controller.signal };
      init.client = this.#httpClient;
      const response = this.#insecureFetch !== undefined && url.startsWith("https:")
        ? await this.#insecureFetch(url, init)
        : await fetch(url, init);
      this.#noteWarnings(response.headers.get("warning"), server);
      const control = { controller, stopTimer, release };
      return response.ok
        ? await this.#answer(response, index, action, how, control)
        : await this.#refusal(response, index, action, control);
    } catch (error) {
      stopTimer();
      release();
      if (error instanceof KubeError && !(error instanceof RequestTimeout)) throw error;
      if (signal?.aborted) throw signal.reason;
      return { failure: timedOut ? timeout() : classifyFetchError(error, server, this.#connection) };
    }
  }

  /** A 2xx answer: the stream handed out as it is, or the body read (capped) and parsed. */
  async #answer(
    response: Response,
    index: number,
    action: RequestAction,
    how: How,
    control: AttemptControl,
  ): Promise<Attempt> {
    const server = this.#servers[index]!;
    if (how === "stream" && response.body) {
      control.stopTimer();
      this.#current = index;
      return { answer: { server, body: undefined, stream: openedStream(server, response.body, control) } };
    }
    const bytes = await readCappedBytes(response, this.#maxResponseBytes);
    control.stopTimer();
    control.release();
    const what = `${action.verb} ${describeAction(action)}`;
    if (bytes === undefined) {
      throw new ResponseTooLarge(
        `API server "${server}" sent more than ${this.#maxResponseBytes} bytes (--max-response-bytes) for ${what}: the answer was abandoned`,
        server,
      );
    }
    try {
      const body = (how === "stream" ? parseJsonBytes : how)(bytes);
      this.#current = index;
      return { answer: { server, body } };
    } catch {
      return {
        failure: new ServerError(
          `API server "${server}" sent a body that is not JSON for ${what}`,
          server,
          response.status,
        ),
      };
    }
  }

  /** A non-2xx answer: the server's trouble (5xx, 429) tries the next server; anything else is thrown. */
  async #refusal(
    response: Response,
    index: number,
    action: RequestAction,
    control: AttemptControl,
  ): Promise<Attempt> {
    const server = this.#servers[index]!;
    // An error body is only read for its message: the first 64 KiB say it all.
    const text = await readCapped(response, 64 * 1024) ?? "";
    control.stopTimer();
    control.release();
    const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
    const error = statusError(response.status, text, server, action, this.#identity, retryAfter);
    if (error instanceof ServerError) return { failure: error };
    this.#current = index;
    throw error;
  }
}

/** The watch stream of an answer; closing it cancels the body and aborts the request. */
function openedStream(server: string, body: ReadableStream<Uint8Array>, control: AttemptControl): KubeStream {
  let closed = false;
  return {
    server,
    body,
    close: async () => {
      if (closed) return;
      closed = true;
      control.release();
      try {
        await body.cancel();
      } catch {
        // already errored or locked by a reader that is being cancelled
      }
      control.controller.abort();
    },
  };
}
