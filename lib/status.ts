/**
 * The status endpoint: a Hono app that reads the loop's {@linkcode DaemonState} (never drives the loop) and
 * serves `/healthz`, `/readyz`, `/status`, `/metrics`, `/` (the HTML page) and `/config` (opt-in), plus
 * {@linkcode startStatusServer} to serve it with `Deno.serve` under the loopback-or-token rule.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ConfigError } from "./config.ts";
import {
  DEFAULT_LIMIT,
  type DomainQuery,
  pageLink,
  pageOfDomains,
  parseDomainQuery,
} from "./domain_query.ts";
import { errorText, type Logger, silentLogger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { DaemonState, HaproxyView } from "./state.ts";
import { backendOf, renderStatusPage, type Verdict } from "./status_page.ts";
import { commit } from "./version.ts";

export type { Verdict } from "./status_page.ts";

/** The routes of the status app. */
export const ROUTES = {
  page: "/",
  healthz: "/healthz",
  readyz: "/readyz",
  status: "/status",
  domain: "/status/domains/:name",
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
/** `/healthz` body while the loop is alive. */
export const ALIVE_TEXT = "ok";
/** `/readyz` body while ready. */
export const READY_TEXT = "ready";

/**
 * Default of {@linkcode StatusAppOptions.staleAfterMs}: longer than a pass can take with the default
 * check and reload timeouts (30 s each), so a slow reload is not taken for a dead loop.
 */
export const DEFAULT_STALE_AFTER_MS = 120_000;
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
  /** Reads HAProxy's view from its master socket; null when not configured. @default {none} */
  readHaproxy?: () => Promise<HaproxyView | null>;
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

/** Liveness: the loop's heartbeat is younger than `staleAfterMs`. */
export function liveness(
  state: DaemonState,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
): Verdict {
  const age = now - state.heartbeatAt;
  if (age > staleAfterMs) {
    return {
      ok: false,
      reason: `Loop not seen for ${Math.round(age / 1000)} s (limit ${Math.round(staleAfterMs / 1000)} s)`,
    };
  }
  return { ok: true, reason: ALIVE_TEXT };
}

/** Readiness: the loop is alive and reports itself ready (synced once, installed config = last rendered). */
export function readiness(
  state: DaemonState,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
): Verdict {
  const alive = liveness(state, now, staleAfterMs);
  if (!alive.ok) return alive;
  return { ok: state.ready.ok, reason: state.ready.reason || (state.ready.ok ? READY_TEXT : "not ready") };
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

function run(record: DaemonState["applies"][number] | null, duration: number | null): unknown {
  if (record === null) return null;
  return {
    at: iso(record.at),
    outcome: record.outcome,
    durationMs: duration,
    detail: record.detail,
    errors: record.errors,
  };
}

/** Servers of all domains: ready and not. */
function serverCounts(domains: DaemonState["domains"]): { ready: number; notReady: number; domains: number } {
  let ready = 0, all = 0, count = 0;
  for (const name in domains) {
    count++;
    for (const server of domains[name]!.servers) {
      all++;
      if (server.ready) ready++;
    }
  }
  return { ready, notReady: all - ready, domains: count };
}

/**
 * The `/status` JSON document: the summary, and one page of the domains (`query`: search, offset, limit;
 * the first {@linkcode DEFAULT_LIMIT} by default) and of the skipped objects.
 */
export function statusDocument(
  state: DaemonState,
  haproxy: HaproxyView | null,
  now: number,
  staleAfterMs: number = DEFAULT_STALE_AFTER_MS,
  query: DomainQuery = { q: "", offset: 0, limit: DEFAULT_LIMIT },
): Record<string, unknown> {
  const page = pageOfDomains(state.domains, query);
  const counted = serverCounts(state.domains);
  const next = query.offset + query.limit < page.matched ? pageLink(query, query.offset + query.limit) : null;
  const source = state.source;
  return {
    version: state.version,
    commit: commit(),
    startedAt: iso(state.startedAt),
    uptimeSeconds: Math.round((now - state.startedAt) / 1000),
    heartbeatAt: iso(state.heartbeatAt),
    healthy: liveness(state, now, staleAfterMs),
    ready: readiness(state, now, staleAfterMs),
    source: {
      kind: source.kind,
      endpoint: source.endpoint,
      resource: source.resource,
      namespaces: source.namespaces,
      synced: source.synced,
      fullSyncs: source.fullSyncs,
      lastEventAt: iso(source.lastEventAt),
      lastFullSyncAt: iso(source.lastFullSyncAt),
      events: source.events,
      restarts: source.restarts,
      lastError: source.lastError,
      problems: source.problems,
    },
    counts: {
      objects: source.objects,
      domains: counted.domains,
      servers: { ready: counted.ready, notReady: counted.notReady },
      skipped: state.skipped.length,
    },
    skipped: state.skipped.slice(0, query.limit),
    config: {
      path: state.config.path,
      installedHash: state.config.installedHash,
      renderedHash: state.config.renderedHash,
      current: state.config.installedHash !== null &&
        state.config.installedHash === state.config.renderedHash,
    },
    reloadMode: state.reloadMode,
    lastSuccessAt: iso(state.lastSuccessAt),
    lastApply: run(state.applies[0] ?? null, state.applies[0]?.durationMs ?? null),
    lastCheck: run(state.lastCheck, state.lastCheck?.checkMs ?? null),
    lastReload: run(state.lastReload, state.lastReload?.reloadMs ?? null),
    applies: state.applies.map((a) => ({ ...a, at: iso(a.at) })),
    domainsPage: {
      q: query.q,
      offset: query.offset,
      limit: query.limit,
      matched: page.matched,
      next: next === null ? null : `${ROUTES.status}${next}`,
      detail: ROUTES.domain,
    },
    domains: Object.fromEntries(page.entries.map(([name, d]) => [name, domainSummary(d)])),
    haproxy: haproxy === null ? null : { ...haproxy, readAt: iso(haproxy.readAt) },
  };
}

function domainSummary(d: DaemonState["domains"][string]): Record<string, unknown> {
  return {
    proto: d.proto,
    port: d.port,
    listenPort: d.listenPort,
    object: `${d.namespace}/${d.name}`,
    id: d.id,
    servers: d.servers,
  };
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

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
  return timingSafeEqual(digest(given), digest(token));
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

async function readFileOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
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
  const {
    metrics,
    token,
    exposeConfig = false,
    readConfig = () => readFileOrNull(readState().config.path),
    readHaproxy,
    staleAfterMs = DEFAULT_STALE_AFTER_MS,
    haproxyTimeoutMs = DEFAULT_HAPROXY_TIMEOUT_MS,
    now = Date.now,
    logger = silentLogger,
    node = hostname(),
  } = options;
  if (token !== undefined && token.trim() === "") throw new TypeError("Invalid status token: it is empty");
  const app = new Hono();

  async function haproxyView(): Promise<HaproxyView | null> {
    if (readHaproxy === undefined) return null;
    try {
      return await withTimeout(readHaproxy(), haproxyTimeoutMs, "the HAProxy master socket");
    } catch (error) {
      return { processes: [], backends: {}, readAt: now(), error: errorText(error) };
    }
  }

  function verdictText(c: Context, verdict: Verdict): Response {
    return c.text(`${verdict.reason}\n`, verdict.ok ? 200 : 503);
  }

  app.onError((error, c) => {
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
  });
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

  app.get(ROUTES.healthz, (c) => verdictText(c, liveness(readState(), now(), staleAfterMs)));
  app.get(ROUTES.readyz, (c) => verdictText(c, readiness(readState(), now(), staleAfterMs)));

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

  app.get(ROUTES.status, async (c) => {
    const query = listQuery(c);
    const doc = { node, ...statusDocument(readState(), await haproxyView(), now(), staleAfterMs, query) };
    const pretty = c.req.query("pretty") !== undefined;
    c.header("Content-Type", "application/json; charset=utf-8");
    return c.body(JSON.stringify(doc, null, pretty ? 2 : undefined) + "\n");
  });

  app.get(ROUTES.domain, async (c) => {
    const name = c.req.param("name");
    const domains = readState().domains;
    const domain = Object.hasOwn(domains, name) ? domains[name] : undefined;
    if (domain === undefined) {
      throw new HTTPException(404, {
        message: `Not found: no domain ${JSON.stringify(name)} in the last model`,
      });
    }
    const detail = { domain: name, ...domain, haproxy: backendOf(domain, await haproxyView()) ?? null };
    c.header("Content-Type", "application/json; charset=utf-8");
    return c.body(JSON.stringify(detail, null, c.req.query("pretty") !== undefined ? 2 : undefined) + "\n");
  });

  app.get(ROUTES.metrics, async (c) => {
    const text = await metrics.render(readState(), await haproxyView());
    c.header("Content-Type", metrics.contentType);
    return c.body(text);
  });

  app.get(ROUTES.page, async (c) => {
    const refreshText = c.req.query("refresh");
    let refreshSeconds: number | undefined;
    if (refreshText !== undefined) {
      refreshSeconds = Number(refreshText);
      if (!Number.isInteger(refreshSeconds) || refreshSeconds < 1 || refreshSeconds > MAX_REFRESH_SECONDS) {
        throw new HTTPException(400, {
          message: `Invalid refresh "${refreshText}": give whole seconds from 1 to ${MAX_REFRESH_SECONDS}`,
        });
      }
    }
    const state = readState();
    const at = now();
    const domain = c.req.query("domain");
    const page = await renderStatusPage({
      query: listQuery(c),
      ...(domain === undefined ? {} : { domain }),
      state,
      haproxy: await haproxyView(),
      health: liveness(state, at, staleAfterMs),
      ready: readiness(state, at, staleAfterMs),
      now: at,
      configExposed: exposeConfig,
      node,
      ...(refreshSeconds === undefined ? {} : { refreshSeconds }),
    });
    c.header("Content-Security-Policy", PAGE_SECURITY_POLICY);
    c.header("Referrer-Policy", "no-referrer");
    return c.html(page);
  });

  app.get(ROUTES.config, async (c) => {
    if (!exposeConfig) throw new HTTPException(404, { message: CONFIG_OFF_TEXT });
    const text = await readConfig();
    if (text === null) throw new HTTPException(404, { message: NO_CONFIG_TEXT });
    c.header("Content-Type", TEXT_TYPE);
    return c.body(text);
  });

  return Object.assign(app, { authRequired: token !== undefined });
}

/** A parsed listen address. */
export interface ListenAddress {
  /** Host to bind (`0.0.0.0` for `*` or an empty host). */
  hostname: string;
  /** Port (0 = any free port). */
  port: number;
  /** Whether the host is a loopback address. */
  loopback: boolean;
}

/** Whether a host name or address is loopback: `localhost`, 127.0.0.0/8, `::1`, `::ffff:127.x.x.x`. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (h === "::1" || /^(0{0,4}:){7}0{0,3}1$/.test(h)) return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** Parses `host:port`, `[v6]:port`, `*:port` or `:port`; a malformed address throws a `TypeError`. */
export function parseListen(listen: string): ListenAddress {
  const at = listen.lastIndexOf(":");
  const portText = listen.slice(at + 1);
  const port = Number(portText);
  if (at < 0 || !/^\d{1,5}$/.test(portText) || port > 65535) {
    throw new TypeError(`Invalid listen address "${listen}": expected HOST:PORT like 127.0.0.1:9180`);
  }
  let host = listen.slice(0, at);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "" || host === "*") host = "0.0.0.0";
  if (/:$/.test(host)) host = host.replace(/:+$/, "") === "" ? "::" : host;
  return { hostname: host, port, loopback: isLoopback(host) };
}

/**
 * The loopback-or-token rule: the status endpoint may listen off loopback only with a token. Returns the
 * parsed address; throws a {@linkcode ConfigError} naming the flags otherwise.
 */
export function checkStatusListen(listen: string, tokenSet: boolean): ListenAddress {
  let address: ListenAddress;
  try {
    address = parseListen(listen);
  } catch (error) {
    throw new ConfigError(`Invalid --status-listen: ${(error as Error).message}`);
  }
  if (!address.loopback && !tokenSet) {
    throw new ConfigError(
      `Invalid --status-listen "${listen}": listening off loopback requires --status-token or ` +
        `--status-token-file (/healthz and /readyz stay open); listen on 127.0.0.1 or set a token`,
    );
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
 * Serves the status app on `listen` (`host:port`, port 0 = any free port). Applies
 * {@linkcode checkStatusListen} against the app's own token setting, so an app without a token cannot be
 * exposed off loopback.
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
  const address = checkStatusListen(listen, app.authRequired);
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
