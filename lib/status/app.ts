/**
 * The status endpoint: a Hono app that reads the loop's {@linkcode DaemonState} (never drives the loop) and
 * serves `/healthz`, `/readyz`, `/status`, `/metrics`, `/` (the HTML page) and `/config` (opt-in), plus
 * {@linkcode startStatusServer} to serve it with `Deno.serve` under the loopback-or-token rule.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { sha256 } from "../hash.ts";
import { type ListenAddress, parseListen } from "../listen.ts";
import { readTextIfExists } from "../read.ts";
import type { Domain } from "../model/model.ts";
import { errorText, type Logger, silentLogger } from "../log.ts";
import type { Metrics } from "./metrics.ts";
import type { DaemonState, HaproxyView } from "../record/state.ts";
import type { BackendServers } from "../haproxy/view.ts";
import { renderStatusPage, type Verdict } from "./page.ts";
import { backendNames } from "./haproxy_rows.ts";
import { type DomainQuery, parseDomainQuery } from "./domain_query.ts";
import {
  ALIVE_TEXT,
  DEFAULT_STALE_AFTER_MS,
  liveness,
  readinessVerdict,
  READY_TEXT,
  STATUS_ROUTES,
  statusDocument,
} from "./document.ts";

export type { Verdict } from "./page.ts";
export { ALIVE_TEXT, DEFAULT_STALE_AFTER_MS, liveness, readinessVerdict, READY_TEXT, statusDocument };

/** The routes of the status app. */
export const ROUTES = {
  page: "/",
  healthz: "/healthz",
  readyz: "/readyz",
  status: STATUS_ROUTES.status,
  domain: STATUS_ROUTES.domain,
  metrics: "/metrics",
  config: "/config",
} as const;

/** Routes served without the token, for keepalived scripts and load balancers. */
export const OPEN_ROUTES: readonly string[] = [ROUTES.healthz, ROUTES.readyz];

/** Realm of the `WWW-Authenticate` challenge. */
export const AUTH_REALM = "haconfd";
/** Body of a 401. */
export const UNAUTHORIZED_TEXT =
  'Unauthorized: send the status token as "Authorization: Bearer TOKEN" (or as the Basic password)';
/** Body of `/config` while it is off. */
export const CONFIG_OFF_TEXT = "Not found: /config is off (start haconfd with --status-expose-config)";
/** Body of `/config` before a config is installed. */
export const NO_CONFIG_TEXT = "Not found: no config is installed yet";
/** Body of a 404. */
export const NOT_FOUND_TEXT = "Not found";
/** Body of a 500 (the detail goes to the log, not to the client). */
export const INTERNAL_ERROR_TEXT = "Internal error: see the haconfd log";

/** Default of {@linkcode StatusAppOptions.haproxyTimeoutMs}. */
export const DEFAULT_HAPROXY_TIMEOUT_MS = 2_000;
/** Longest `/?refresh=` accepted, in seconds. */
export const MAX_REFRESH_SECONDS = 3600;

const PAGE_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";
const TEXT_TYPE = "text/plain; charset=utf-8";

/** Options of {@linkcode createStatusApp}. */
export interface StatusAppOptions {
  /** Metrics rendered at `/metrics`. */
  metrics: Metrics;
  /** Bearer token required on every route but /healthz and /readyz. @default {no token} */
  token?: string;
  /** Serve the installed config at `/config`. @default {false} */
  exposeConfig?: boolean;
  /** Reads the installed config, null when there is none. @default {reads `state.config.path`} */
  readConfig?: () => Promise<string | null>;
  /** Reads HAProxy's view (processes, backend rows) from its master socket. @default {none} */
  readHaproxy?: () => Promise<HaproxyView | null>;
  /** Reads one backend's servers, the first of `names` HAProxy knows. @default {none} */
  readServers?: (names: readonly string[]) => Promise<BackendServers>;
  /** Heartbeat age after which the loop counts as dead (/healthz 503). @default {DEFAULT_STALE_AFTER_MS} */
  staleAfterMs?: number;
  /** How long to wait for `readHaproxy`. @default {DEFAULT_HAPROXY_TIMEOUT_MS} */
  haproxyTimeoutMs?: number;
  /** Clock (ms since epoch). @default {Date.now} */
  now?: () => number;
  /** Name of this node, shown on the page and in /status. @default {Deno.hostname(), "" when not allowed} */
  node?: string;
  /** Where unexpected errors are logged. @default {silentLogger} */
  logger?: Logger;
}

/** The status app: a Hono app that knows whether it asks for a token (checked by {@linkcode startStatusServer}). */
export type StatusApp = Hono & {
  /** Whether every route but /healthz and /readyz requires the token. */
  readonly authRequired: boolean;
};

/** Whether an `Authorization` header carries the token (Bearer, or Basic with the token as password). */
export function authorized(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const [scheme = "", value = ""] = header.trim().split(/\s+/, 2);
  let given: string;
  if (scheme.toLowerCase() === "bearer") {
    given = value;
  } else if (scheme.toLowerCase() === "basic") {
    let decoded: string;
    try {
      decoded = atob(value);
    } catch {
      return false;
    }
    given = decoded.slice(decoded.indexOf(":") + 1);
  } else {
    return false;
  }
  return timingSafeEqual(sha256(given), sha256(token));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms reading ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/**
 * Creates the status app. Every response is computed from `readState()` at request time.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * const app = createStatusApp(() => loop.state(), { metrics, token: settings.statusToken });
 * const res = await app.request("/readyz");
 * ```
 */
export function createStatusApp(readState: () => DaemonState, options: StatusAppOptions): StatusApp {
  const { token, logger = silentLogger } = options;
  if (token !== undefined && token.trim() === "") throw new TypeError("Invalid status token: it is empty");
  const s = resolveOptions(readState, options);
  const app = new Hono();
  app.onError((error, c) => errorAnswer(c, error, logger));
  app.notFound((c) => c.text(`${NOT_FOUND_TEXT}\n`, 404));
  app.use("*", async (c, next) => {
    c.header("Cache-Control", "no-store");
    c.header("X-Content-Type-Options", "nosniff");
    if (
      token !== undefined && !OPEN_ROUTES.includes(c.req.path) &&
      !authorized(c.req.header("Authorization"), token)
    ) {
      throw new HTTPException(401, { message: UNAUTHORIZED_TEXT });
    }
    await next();
  });
  app.get(ROUTES.healthz, (c) => verdictText(c, liveness(readState(), s.now(), s.staleAfterMs)));
  app.get(ROUTES.readyz, (c) => verdictText(c, readinessVerdict(readState(), s.now(), s.staleAfterMs)));
  app.get(ROUTES.status, (c) => statusAnswer(c, s));
  app.get(ROUTES.domain, (c) => domainAnswer(c, s));
  app.get(ROUTES.metrics, async (c) => {
    const text = await s.metrics.render(readState(), await haproxyView(s));
    c.header("Content-Type", s.metrics.contentType);
    return c.body(text);
  });
  app.get(ROUTES.page, (c) => pageAnswer(c, s));
  app.get(ROUTES.config, async (c) => {
    if (!s.exposeConfig) throw new HTTPException(404, { message: CONFIG_OFF_TEXT });
    const text = await s.readConfig();
    if (text === null) throw new HTTPException(404, { message: NO_CONFIG_TEXT });
    c.header("Content-Type", TEXT_TYPE);
    return c.body(text);
  });
  return Object.assign(app, { authRequired: token !== undefined });
}

/** {@linkcode StatusAppOptions} with their defaults, and the state reader: what the routes read. */
interface StatusSources {
  readState: () => DaemonState;
  metrics: Metrics;
  exposeConfig: boolean;
  readConfig: () => Promise<string | null>;
  readHaproxy: (() => Promise<HaproxyView | null>) | undefined;
  readServers: ((names: readonly string[]) => Promise<BackendServers>) | undefined;
  staleAfterMs: number;
  haproxyTimeoutMs: number;
  now: () => number;
  node: string;
}

function resolveOptions(readState: () => DaemonState, options: StatusAppOptions): StatusSources {
  return {
    readState,
    metrics: options.metrics,
    exposeConfig: options.exposeConfig ?? false,
    readConfig: options.readConfig ?? (async () => (await readTextIfExists(readState().config.path)) ?? null),
    readHaproxy: options.readHaproxy,
    readServers: options.readServers,
    staleAfterMs: options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS,
    haproxyTimeoutMs: options.haproxyTimeoutMs ?? DEFAULT_HAPROXY_TIMEOUT_MS,
    now: options.now ?? Date.now,
    node: options.node ?? hostname(),
  };
}

function errorAnswer(c: Context, error: Error, logger: Logger): Response {
  if (error instanceof HTTPException) {
    if (error.status === 401) {
      // Basic first: Chromium gives up on the whole header when Bearer comes first, and then shows
      // no login prompt (seen with Debian's chromium 156 headless).
      c.header("WWW-Authenticate", `Basic realm="${AUTH_REALM}", charset="UTF-8"`);
      c.header("WWW-Authenticate", `Bearer realm="${AUTH_REALM}"`, { append: true });
    }
    return c.text(`${error.message}\n`, error.status);
  }
  logger.error("Status request failed", { path: c.req.path, error: errorText(error) });
  return c.text(`${INTERNAL_ERROR_TEXT}\n`, 500);
}

async function haproxyView(s: StatusSources): Promise<HaproxyView | null> {
  if (s.readHaproxy === undefined) return null;
  try {
    return await withTimeout(s.readHaproxy(), s.haproxyTimeoutMs, "the HAProxy master socket");
  } catch (error) {
    return { processes: [], backends: {}, readAt: s.now(), error: errorText(error) };
  }
}

/** One domain's servers as HAProxy lists them: one backend read, whatever the number of servers elsewhere. */
async function serversView(s: StatusSources, domain: Domain): Promise<BackendServers | null> {
  if (s.readServers === undefined) return null;
  try {
    return await withTimeout(
      s.readServers(backendNames(domain)),
      s.haproxyTimeoutMs,
      "the HAProxy master socket",
    );
  } catch (error) {
    return { backend: null, servers: [], readAt: s.now(), error: errorText(error) };
  }
}

function verdictText(c: Context, verdict: Verdict): Response {
  return c.text(`${verdict.reason}\n`, verdict.ok ? 200 : 503);
}

function listQuery(c: Context): DomainQuery {
  try {
    return parseDomainQuery({
      q: c.req.query("q"),
      offset: c.req.query("offset"),
      limit: c.req.query("limit"),
    });
  } catch (error) {
    throw new HTTPException(400, { message: errorText(error) });
  }
}

function jsonAnswer(c: Context, value: unknown): Response {
  c.header("Content-Type", "application/json; charset=utf-8");
  return c.body(JSON.stringify(value, null, c.req.query("pretty") !== undefined ? 2 : undefined) + "\n");
}

async function statusAnswer(c: Context, s: StatusSources): Promise<Response> {
  const query = listQuery(c);
  const document = statusDocument(s.readState(), await haproxyView(s), s.now(), s.staleAfterMs, query);
  return jsonAnswer(c, { node: s.node, ...document });
}

async function domainAnswer(c: Context, s: StatusSources): Promise<Response> {
  const name = c.req.param("name") ?? "";
  const domains = s.readState().domains;
  const domain = Object.hasOwn(domains, name) ? domains[name] : undefined;
  if (domain === undefined) {
    throw new HTTPException(404, {
      message: `Not found: no domain ${JSON.stringify(name)} in the last model`,
    });
  }
  const servers = await serversView(s, domain);
  const haproxy = servers === null ? null : { ...servers, readAt: new Date(servers.readAt).toISOString() };
  return jsonAnswer(c, { domain: name, ...domain, haproxy });
}

async function pageAnswer(c: Context, s: StatusSources): Promise<Response> {
  const refreshSeconds = refreshOf(c.req.query("refresh"));
  const state = s.readState();
  const at = s.now();
  const domain = c.req.query("domain");
  const detail = domain === undefined || !Object.hasOwn(state.domains, domain)
    ? undefined
    : state.domains[domain];
  const page = await renderStatusPage({
    query: listQuery(c),
    ...(domain === undefined ? {} : { domain }),
    ...(detail === undefined ? {} : { servers: await serversView(s, detail) }),
    state,
    haproxy: await haproxyView(s),
    health: liveness(state, at, s.staleAfterMs),
    ready: readinessVerdict(state, at, s.staleAfterMs),
    now: at,
    configExposed: s.exposeConfig,
    node: s.node,
    ...(refreshSeconds === undefined ? {} : { refreshSeconds }),
  });
  c.header("Content-Security-Policy", PAGE_SECURITY_POLICY);
  c.header("Referrer-Policy", "no-referrer");
  return c.html(page);
}

function refreshOf(refreshText: string | undefined): number | undefined {
  if (refreshText === undefined) return undefined;
  const refreshSeconds = Number(refreshText);
  if (!Number.isInteger(refreshSeconds) || refreshSeconds < 1 || refreshSeconds > MAX_REFRESH_SECONDS) {
    throw new HTTPException(400, {
      message: `Invalid refresh "${refreshText}": give whole seconds from 1 to ${MAX_REFRESH_SECONDS}`,
    });
  }
  return refreshSeconds;
}

/**
 * The server's own interlock behind settings' `checkStatusListen`: an app without a token never listens
 * off loopback, whoever calls {@linkcode startStatusServer}.
 */
function listenAddress(listen: string, authRequired: boolean): ListenAddress {
  let address: ListenAddress;
  try {
    address = parseListen(listen);
  } catch (error) {
    throw new TypeError(`Invalid status listen address: ${errorText(error)}`);
  }
  if (!address.loopback && !authRequired) {
    throw new TypeError(`Refusing to serve status on "${listen}" off loopback without a token`);
  }
  return address;
}

/** Options of {@linkcode startStatusServer}. */
export interface StatusServerOptions {
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Logs where it listens. @default {silentLogger} */
  logger?: Logger;
}

/** A running status server. */
export interface StatusServer {
  /** The bound host. */
  hostname: string;
  /** The bound port (the real one when 0 was asked). */
  port: number;
  /** Base URL, e.g. `http://127.0.0.1:9180/`. */
  url: string;
  /** Stops accepting, finishes open requests, resolves when done. Safe to call twice. */
  close(): Promise<void>;
  /** Resolves once the server has stopped (by close or signal). */
  finished: Promise<void>;
}

/**
 * Serves the status app on `listen` (`host:port`, port 0 = any free port). An app without a token
 * cannot be exposed off loopback (the settings check this first, with a message naming the flags).
 *
 * @example
 * ```ts
 * const server = startStatusServer(app, settings.statusListen, { signal, logger });
 * // ...
 * await server.close();
 * ```
 */
export function startStatusServer(
  app: StatusApp,
  listen: string,
  options: StatusServerOptions = {},
): StatusServer {
  const { signal, logger = silentLogger } = options;
  const address = listenAddress(listen, app.authRequired);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: address.hostname,
      port: address.port,
      onListen: () => {},
      ...(signal === undefined ? {} : { signal }),
    }, app.fetch);
  } catch (error) {
    throw new Error(`Cannot listen on "${listen}" for the status endpoint: ${errorText(error)}`, {
      cause: error,
    });
  }
  const bound = server.addr;
  const host = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
  const url = `http://${host}:${bound.port}/`;
  logger.info("Status endpoint listening", { url, auth: app.authRequired ? "token" : "none" });
  let closing: Promise<void> | undefined;
  return {
    hostname: bound.hostname,
    port: bound.port,
    url,
    finished: server.finished,
    close(): Promise<void> {
      closing ??= server.shutdown().then(() => server.finished);
      return closing;
    },
  };
}
