/**
 * An in-process fake Kubernetes API server for tests, faithful to a real kube-apiserver v1.26 on the wire
 * (see /work/shared/kube-recorded/README.md): Endpoints, Services and EndpointSlices with list, watch,
 * pagination, bookmarks, 410 paths, RBAC-style 401/403, and fault injection for client tests.
 *
 * ```ts
 * const server = await startKubeServer({
 *   tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },  // omit for plain HTTP
 *   tokens: { "admin-token": "admin", "reader-token": { name: "reader", groups: ["readers"] } },
 *   authorize: { admin: [{ verbs: "*", resources: "*" }] },                          // table or function
 *   objects: { endpoints: [{ metadata: { name: "web", namespace: "rec", annotations: {...} }, subsets: [...] }] },
 * });
 * server.url;                                   // "https://127.0.0.1:PORT"
 * server.upsert("endpoints", obj);              // create or replace -> ADDED / MODIFIED
 * server.patch("endpoints", "rec", "web", { metadata: { annotations: { domain: "x" } } });
 * server.remove("endpoints", "rec", "web");     // -> DELETED
 * server.objects("endpoints"); server.get("endpoints", "rec", "web"); server.resourceVersion;
 * server.compact();                             // old RVs now give 410 (watch ERROR event, Exact list, continue)
 * server.bookmark();                            // force a BOOKMARK on open bookmark-enabled watches
 * await server.waitForWatches(1, { resource: "endpoints" });
 * server.dropWatches(); server.stallWatches(); server.sendGarbage();
 * server.failNext(2, { status: 500, path: "/api/v1/endpoints" });
 * const held = server.holdNext({ path: "/api/v1/nodes", watch: false }); await held.reached; held.release();
 * await server.stopListening(); await server.startListening();   // refuse connections, then same port again
 * server.requests;                              // what clients sent (method, url, headers, user, status)
 * await server.close();
 * ```
 *
 * Behaviour copied from the recordings:
 * - Framing like Go: Content-Length up to 2048 bytes, chunked above; watches flush headers at once, one
 *   event per chunk when live, replayed events coalesced into 2048-byte chunks (so boundaries fall
 *   mid-event); `timeoutSeconds` ends a watch cleanly with no final event.
 * - Headers: `Content-Type: application/json`, `Cache-Control: no-cache, private`, `Audit-Id`, the
 *   `X-Kubernetes-Pf-*` pair after authentication, `X-Content-Type-Options: nosniff` on 403.
 * - One global resourceVersion for all resources. A list without resourceVersion (or with a limit and an
 *   RV other than "0", a continue token, or resourceVersionMatch=Exact) reads the "etcd" snapshot: sorted
 *   by namespace/name, metadata.resourceVersion = the global RV, pagination with the real continue-token
 *   format and remainingItemCount (omitted when a selector is used). resourceVersion=0 (or any RV without
 *   limit) reads the "watch cache": limit ignored, insertion order (not sorted), RV = the last event of
 *   that type; an RV above it waits `tooLargeWaitMs` then answers 504 like v1.26.
 * - Watch from RV N replays events with RV > N from a bounded history; none/0 sends synthetic ADDED
 *   events first; older than the window -> 200 + one ERROR event (410 Expired) and the end. Objects
 *   leaving a label/field selector become DELETED (old content, new RV), returning ones ADDED.
 *   BOOKMARKs (allowWatchBookmarks=true) come `bookmarkBeforeTimeoutMs` before the timeout and every
 *   `bookmarkIntervalMs`, only when an event of the type newer than the watch's start was seen (v1.26).
 * - Objects supplied in `objects` exist "before the server started": they have RVs but no events, so a
 *   watch from RV 1 gets 410 "too old resource version: 1 (N)"; changes made later are events.
 * - Auth (when `tls.clientCa`, `tokens` or `authorize` is set): a valid client certificate is user CN
 *   with groups O; a known bearer token its user; no credentials system:anonymous (403 on resources and
 *   discovery, /version allowed); an unknown token or an untrusted certificate 401. Without any auth
 *   option every request is allowed.
 *
 * @module
 */
import { type HttpExchange, HttpServer } from "./kube_http.ts";
import {
  authenticate,
  type Authorizer,
  FLOW_HEADERS,
  notFound,
  parseBool,
  type RbacTable,
  type Route,
  route,
} from "./kube_api.ts";
import {
  bookmarkObject,
  clone,
  encodeJson,
  type JsonObject,
  type JsonValue,
  mergePatch,
  type ResourceName,
  RESOURCES,
  StatusError,
  withKind,
} from "./kube_objects.ts";
import { listObjects } from "./kube_list.ts";
import {
  type AuthorizeContext,
  authorizeResource,
  discoveryAnswer,
  type FailureAnswer,
  type FailureSpec,
  type PendingFailure,
  plainNotFound,
  type RecordedRequest,
  recordOf,
  type RequestMatch,
  requestMatches,
  takeFailure,
  verbOf,
} from "./kube_routing.ts";
import { KubeStore, type StoreOptions, type Watch } from "./kube_store.ts";
import { Timers } from "./kube_timers.ts";
import { publishEvent, startWatch, type WatchOptions, writeEvent } from "./kube_watch.ts";
import { writeObject } from "./kube_write.ts";

export type { JsonObject, JsonValue, ResourceName } from "./kube_objects.ts";
export type { Authorizer, KubeUser, RbacRule, RbacTable, RequestAttributes } from "./kube_api.ts";
export type { FailureSpec, RecordedRequest } from "./kube_routing.ts";
export { RESOURCES } from "./kube_objects.ts";

/** Options of {@linkcode startKubeServer}. */
export interface KubeServerOptions extends StoreOptions, WatchOptions {
  /** Serve HTTPS with this certificate; `clientCa` also enables client-certificate authentication. */
  tls?: { cert: string; key: string; clientCa?: string };
  /** Bearer tokens: token -> user name or user. */
  tokens?: Record<string, string | { name: string; groups?: string[] }>;
  /**
   * Authorization of resource requests. @default {any authenticated user may do anything; anonymous may not}
   */
  authorize?: Authorizer | RbacTable;
  /** Whether requests without credentials are system:anonymous (true) or 401 (false). @default {true} */
  anonymous?: boolean;
  /** Objects existing before the server "started" (no watch events for them). */
  objects?: Partial<Record<ResourceName, JsonObject[]>>;
  /** The global resourceVersion before the first object. @default {100} */
  startResourceVersion?: number;
  /** Watch-cache events kept per resource; older start RVs get 410. @default {1000} */
  historyLimit?: number;
  /** How long a cache list with a too-large RV waits before 504. @default {3000} */
  tooLargeWaitMs?: number;
  /** A bookmark is due this long before a watch's timeout. @default {2000} */
  bookmarkBeforeTimeoutMs?: number;
  /** Period of bookmarks on long watches. @default {60000} */
  bookmarkIntervalMs?: number;
  /** Server-side timeout of a watch without timeoutSeconds. @default {1800} */
  defaultWatchTimeoutSeconds?: number;
  /** Whether objects carry (approximate) managedFields like the real server. @default {true} */
  managedFields?: boolean;
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port to listen on. @default {0 (a free port)} */
  port?: number;
  /** Called with every object before it is stored (seeded or written); throwing refuses the write. */
  admit?: (resource: ResourceName, object: JsonObject) => void;
}

/** A URL path that addresses a resource. */
type ResourceRoute = Extract<Route, { kind: "resource" }>;

/** How a request is answered: its record, the response headers, and JSON pretty-printing. */
interface Reply {
  ex: HttpExchange;
  record: RecordedRequest;
  headers: Record<string, string>;
  pretty: boolean;
}

/** A request held back by {@linkcode KubeServer.holdNext}. */
export interface HeldRequest {
  /** Resolves once a matching request has arrived (and is being held). */
  readonly reached: Promise<void>;
  /** Lets it go on, answered as usual (close() does too). */
  release(): void;
}

/** The running fake API server; see the module documentation. */
export class KubeServer {
  readonly #options: KubeServerOptions;
  readonly #http: HttpServer;
  readonly #store: KubeStore;
  readonly #timers = new Timers();
  readonly #failures: PendingFailure[] = [];
  readonly #holds: Array<{ spec: RequestMatch; reach: () => void; released: Promise<void> }> = [];
  readonly #releases = new Set<() => void>();
  readonly #requests: RecordedRequest[] = [];
  readonly #auth: AuthorizeContext;
  #closed = false;

  /** Use {@linkcode startKubeServer}. */
  constructor(options: KubeServerOptions) {
    this.#options = options;
    this.#auth = {
      configured: options.tokens !== undefined || options.tls?.clientCa !== undefined ||
        options.authorize !== undefined,
      authorize: options.authorize,
    };
    this.#store = new KubeStore(options, publishEvent);
    this.#http = new HttpServer((ex) => this.#handle(ex), options.tls, options.hostname ?? "127.0.0.1");
  }

  /** Listens (used by {@linkcode startKubeServer}). */
  async listen(): Promise<void> {
    await this.#http.listen(this.#options.port ?? 0);
  }

  /** Base URL, e.g. `https://127.0.0.1:40123`. */
  get url(): string {
    return `${this.#options.tls ? "https" : "http"}://${
      this.#options.hostname ?? "127.0.0.1"
    }:${this.#http.port}`;
  }

  /** The port (kept across {@linkcode stopListening} / {@linkcode startListening}). */
  get port(): number {
    return this.#http.port;
  }

  /** The current global resourceVersion (the "etcd revision"). */
  get resourceVersion(): number {
    return this.#store.rv;
  }

  /** Every request received so far, oldest first. */
  get requests(): readonly RecordedRequest[] {
    return this.#requests;
  }

  /** Forgets the recorded requests. */
  clearRequests(): void {
    this.#requests.length = 0;
  }

  // ----------------------------------------------------------------------------------- programmatic API

  /**
   * Creates or replaces an object (namespace defaults to "default"), producing ADDED or MODIFIED (nothing
   * when unchanged). Returns the stored object with kind/apiVersion.
   */
  upsert(resource: ResourceName, object: JsonObject, options: { manager?: string } = {}): JsonObject {
    const stored = this.#store.upsert(resource, object, options.manager ?? "kube-server-test");
    return clone(withKind(RESOURCES[resource], stored));
  }

  /**
   * Applies a JSON merge patch to an existing object (MODIFIED); throws when it does not exist. A Node's
   * namespace is "", and `subresource: "status"` writes only its status, as `kubectl patch --subresource`.
   */
  patch(
    resource: ResourceName,
    namespace: string,
    name: string,
    patch: JsonObject,
    options: { manager?: string; subresource?: "status" } = {},
  ): JsonObject {
    const type = RESOURCES[resource];
    const current = this.#store.current(resource, namespace, name);
    if (!current) throw notFound(type, name);
    const next = mergePatch(current, patch) as JsonObject;
    const manager = options.manager ?? "kube-server-test";
    return clone(withKind(type, this.#store.update(type, next, manager, true, options.subresource).obj));
  }

  /** Deletes an object (DELETED); returns false when it did not exist. */
  remove(resource: ResourceName, namespace: string, name: string): boolean {
    return this.#store.remove(resource, namespace, name);
  }

  /** The stored object with kind/apiVersion, or undefined. */
  get(resource: ResourceName, namespace: string, name: string): JsonObject | undefined {
    const o = this.#store.current(resource, namespace, name);
    return o ? clone(withKind(RESOURCES[resource], o)) : undefined;
  }

  /** All current objects of a resource, sorted by namespace/name, shaped like list items (no kind). */
  objects(resource: ResourceName): JsonObject[] {
    return [...this.#store.state(resource).current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  /**
   * Compacts history at the current RV: older list RVs (Exact / pagination) and continue tokens give 410,
   * and, unless `keepWatchHistory`, a watch from an RV older than the type's last event gets the 410 ERROR
   * event (the watch cache keeps serving RVs at or above it, as after a real apiserver's cache refill).
   */
  compact(options: { keepWatchHistory?: boolean } = {}): void {
    this.#store.compact(options.keepWatchHistory === true);
  }

  /**
   * Sends a BOOKMARK now on open bookmark-enabled watches (of `resource`, or all), ignoring the v1.26
   * "newer event seen" rule. Its RV is the type's last event RV, or the watch's start RV if higher.
   * Returns how many were sent.
   */
  bookmark(resource?: ResourceName): number {
    let sent = 0;
    for (const watch of this.#watches(resource)) {
      if (!watch.bookmarks || watch.stalled) continue;
      const state = this.#store.state(watch.type.name);
      writeEvent(watch, "BOOKMARK", bookmarkObject(watch.type, Math.max(state.lastEventRV, watch.startRV)));
      sent++;
    }
    return sent;
  }

  /** Number of open watch streams (of `resource`, or all). */
  watchCount(resource?: ResourceName): number {
    return this.#watches(resource).length;
  }

  /** Resolves once at least `count` watches (of `resource`, or all) are open; rejects after `timeoutMs`. */
  async waitForWatches(
    count: number,
    options: { resource?: ResourceName; timeoutMs?: number } = {},
  ): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    while (this.watchCount(options.resource) < count) {
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${count} watches: ${this.watchCount(options.resource)} open`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Cuts every open watch connection abruptly (no terminating chunk). Returns how many. */
  dropWatches(resource?: ResourceName): number {
    const watches = this.#watches(resource);
    for (const watch of watches) watch.stream.abort();
    return watches.length;
  }

  /** Open watches stop receiving anything (events, bookmarks, even the timeout end) but stay open. */
  stallWatches(resource?: ResourceName): number {
    const watches = this.#watches(resource);
    for (const watch of watches) watch.stalled = true;
    return watches.length;
  }

  /** Writes `text` as a chunk on every open, not stalled watch. Returns how many. */
  sendGarbage(text = "this is not json\n", resource?: ResourceName): number {
    const watches = this.#watches(resource).filter((w) => !w.stalled);
    for (const watch of watches) watch.stream.write(text);
    return watches.length;
  }

  /** Answers the next `count` requests matching `spec` with an error status (or a cut connection). */
  failNext(count: number, spec: FailureSpec = {}): void {
    this.#failures.push({ remaining: count, spec });
  }

  /**
   * Holds the next request matching `spec` (e.g. the first list of a resource) until `release()`, then
   * answers it as usual: a slow API server, for as long as the test wants.
   */
  holdNext(spec: RequestMatch): HeldRequest {
    let reach = () => {};
    const reached = new Promise<void>((resolve) => reach = resolve);
    let release = () => {};
    const released = new Promise<void>((resolve) => release = resolve);
    const releaseOnce = () => {
      this.#releases.delete(releaseOnce);
      release();
    };
    this.#releases.add(releaseOnce);
    this.#holds.push({ spec, reach, released });
    return { reached, release: releaseOnce };
  }

  /** Closes the listener and every connection: clients get "connection refused" until restarted. */
  async stopListening(): Promise<void> {
    await this.#http.stop();
  }

  /** Listens again on the same port. */
  async startListening(): Promise<void> {
    await this.#http.listen(this.#http.port);
  }

  /** Stops everything: listener, connections, timers. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const release of [...this.#releases]) release();
    await this.#http.stop();
    this.#timers.clearAll();
    for (const state of this.#store.states()) {
      for (const wake of state.rvWaiters) wake();
      state.rvWaiters.clear();
    }
  }

  /** Same as {@linkcode close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #watches(resource?: ResourceName): Watch[] {
    return this.#store.states(resource).flatMap((s) => [...s.watches]);
  }

  // ---------------------------------------------------------------------------------------- HTTP

  async #handle(ex: HttpExchange): Promise<void> {
    const { request } = ex;
    const record = recordOf(request);
    this.#requests.push(record);
    const ua = request.headers.get("user-agent") ?? "";
    const reply: Reply = {
      ex,
      record,
      headers: {
        "Audit-Id": crypto.randomUUID(),
        "Cache-Control": "no-cache, private",
        "Content-Type": "application/json",
      },
      pretty: /^(curl|Wget|Mozilla\/5\.0)/.test(ua) || parseBool(request.url.searchParams.get("pretty")),
    };
    const hold = this.#holds.findIndex(({ spec }) => requestMatches(spec, record));
    if (hold >= 0) {
      const [held] = this.#holds.splice(hold, 1);
      held!.reach();
      await held!.released;
    }
    try {
      const failure = takeFailure(this.#failures, record);
      if (failure !== undefined) return this.#injectFailure(reply, failure);
      const anonymous = !this.#auth.configured || this.#options.anonymous !== false;
      const user = authenticate(request, this.#options.tokens, anonymous);
      if (!user) throw new StatusError(401, "Unauthorized", "Unauthorized");
      record.user = user.name;
      Object.assign(reply.headers, FLOW_HEADERS);
      const r = route(request.url.pathname);
      if (r.kind === "unknown" && r.status) {
        throw new StatusError(404, "the server could not find the requested resource", "NotFound", {});
      }
      if (r.kind === "unknown") {
        record.status = 404;
        plainNotFound(ex);
      } else if (r.kind === "path") {
        this.#send(reply, 200, discoveryAnswer(request, user, this.#auth, this.port));
      } else {
        const verb = verbOf(request.method, r.name, record.watch);
        authorizeResource(this.#auth, user, { verb, ...r, path: request.url.pathname });
        const manager = request.url.searchParams.get("fieldManager") ?? (ua.split("/")[0] || "unknown");
        await this.#resource(reply, verb, r, manager);
      }
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      this.#sendError(reply, error);
    }
  }

  #injectFailure(reply: Reply, failure: FailureAnswer): void {
    if (failure.kind === "abort") {
      reply.record.status = 0;
      reply.ex.abort();
    } else if (failure.kind === "body") {
      this.#send(reply, failure.status, failure.body);
    } else {
      this.#sendError(reply, failure.error);
    }
  }

  async #resource(reply: Reply, verb: string, target: ResourceRoute, manager: string): Promise<void> {
    const { type, namespace, name } = target;
    // Cluster-scoped resources (Node) are addressed without a namespace, namespaced ones with one.
    const scoped = type.clusterScoped === true ? namespace === undefined : namespace !== undefined;
    const state = this.#store.state(type.name);
    if (verb === "watch") {
      const options: WatchOptions = this.#options;
      startWatch(reply.ex, state, namespace, reply.headers, { options, timers: this.#timers });
      reply.record.status = 200;
    } else if (verb === "list") {
      const context = {
        store: this.#store,
        timers: this.#timers,
        tooLargeWaitMs: this.#options.tooLargeWaitMs ?? 3000,
        closed: () => this.#closed,
      };
      this.#send(reply, 200, await listObjects(context, state, namespace, reply.ex.request.url.searchParams));
    } else if (verb === "get") {
      const o = this.#store.current(type.name, namespace, name);
      if (!o || !scoped) throw notFound(type, name!);
      this.#send(reply, 200, withKind(type, o));
    } else {
      const { status, body } = writeObject(this.#store, verb, reply.ex, { ...target, scoped }, manager);
      this.#send(reply, status, body);
    }
  }

  #send(reply: Reply, status: number, body: JsonValue | string, extra: Record<string, string> = {}): void {
    reply.record.status = status;
    const text = typeof body === "string" ? body : encodeJson(body, reply.pretty) + "\n";
    reply.ex.respond(status, { ...reply.headers, ...extra }, text);
  }

  #sendError(reply: Reply, error: StatusError): void {
    this.#send(reply, error.code, error.toStatus(), error.extraHeaders);
  }
}

/**
 * Starts a fake Kubernetes API server on 127.0.0.1 with a free port.
 *
 * @example
 * ```ts
 * await using server = await startKubeServer({ objects: { endpoints: [ep] } });
 * const res = await fetch(`${server.url}/api/v1/endpoints`);
 * ```
 */
export async function startKubeServer(options: KubeServerOptions = {}): Promise<KubeServer> {
  const server = new KubeServer(options);
  await server.listen();
  return server;
}
