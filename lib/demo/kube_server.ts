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
import { type HttpExchange, HttpServer, type HttpStream } from "./kube_http.ts";
import { freeNodePort, nodePortsOf, splitNodeWrite } from "./kube_nodes.ts";
import {
  authenticate,
  type Authorizer,
  decodeContinue,
  defaultReason,
  discoveryDocument,
  encodeContinue,
  FLOW_HEADERS,
  forbidden,
  invalidRV,
  isAuthorized,
  notFound,
  nowTimestamp,
  parseBool,
  parseRV,
  type RbacTable,
  type RequestAttributes,
  resourceLabel,
  route,
  tooLarge,
} from "./kube_api.ts";
import {
  bookmarkObject,
  clone,
  encodeJson,
  type FieldRequirement,
  isObject,
  type JsonObject,
  jsonPatch,
  type JsonValue,
  type LabelRequirement,
  managedFieldsAfter,
  matchesFields,
  matchesLabels,
  mergePatch,
  meta,
  normalizeMetadata,
  normalizeObject,
  parseFieldSelector,
  parseLabelSelector,
  type ResourceName,
  RESOURCES,
  type ResourceType,
  StatusError,
  statusObject,
  strategicMergePatch,
  stringMap,
  withKind,
} from "./kube_objects.ts";
import { fieldLabels } from "./kube_secrets.ts";

export type { JsonObject, JsonValue, ResourceName } from "./kube_objects.ts";
export type { Authorizer, KubeUser, RbacRule, RbacTable, RequestAttributes } from "./kube_api.ts";
export { RESOURCES } from "./kube_objects.ts";

/** Options of {@linkcode startKubeServer}. */
export interface KubeServerOptions {
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

/** One request as the server received it. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  /** URL path. */
  path: string;
  /** Query parameters. */
  query: URLSearchParams;
  /** Request headers (lower-case names). */
  headers: Record<string, string>;
  /** Request body as text. */
  body: string;
  /** The authenticated user, when authentication succeeded. */
  user?: string;
  /** Response status (a watch: 200 once started). */
  status?: number;
  /** True for watch requests. */
  watch: boolean;
}

/** An injected failure for {@linkcode KubeServer.failNext}. */
export interface FailureSpec {
  /** HTTP status. @default {500} */
  status?: number;
  /** Only requests whose path starts with this string, or whose full URL matches this RegExp. */
  path?: string | RegExp;
  /** Only this method. */
  method?: string;
  /** Only watch (true) or only non-watch (false) requests. */
  watch?: boolean;
  /** Status message. @default {"Internal error occurred: injected failure"} */
  message?: string;
  /** Status reason. @default {chosen from the status code} */
  reason?: string;
  /** Adds Retry-After and details.retryAfterSeconds. */
  retryAfterSeconds?: number;
  /** Cut the connection instead of answering. */
  abort?: boolean;
  /**
   * Answer with this body instead of a Status (JSON values are encoded, strings sent as they are), with
   * `status` (then @default {200}): a wrong answer rather than an error, e.g. a list of another kind.
   */
  body?: JsonValue | string;
}

/** Which requests a {@linkcode FailureSpec} or {@linkcode KubeServer.holdNext} applies to. */
export type RequestMatch = Pick<FailureSpec, "path" | "method" | "watch">;

/** A request held back by {@linkcode KubeServer.holdNext}. */
export interface HeldRequest {
  /** Resolves once a matching request has arrived (and is being held). */
  readonly reached: Promise<void>;
  /** Lets it go on, answered as usual (close() does too). */
  release(): void;
}

function requestMatches(spec: RequestMatch, request: HttpExchange["request"], isWatch: boolean): boolean {
  return (spec.method === undefined || spec.method.toUpperCase() === request.method) &&
    (spec.watch === undefined || spec.watch === isWatch) &&
    (spec.path === undefined ||
      (typeof spec.path === "string"
        ? request.url.pathname.startsWith(spec.path)
        : spec.path.test(request.target)));
}

interface CacheEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  rv: number;
  obj: JsonObject;
  prev: JsonObject | null;
}

interface Watch {
  type: ResourceType;
  namespace: string | undefined;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  /** The requested RV: live events at or below it are not sent (a too-large RV stays silent). */
  fromRV: number;
  /** Bookmarks need an event of the type newer than this (v1.26). */
  startRV: number;
  bookmarks: boolean;
  stream: HttpStream;
  stalled: boolean;
}

class ResourceState {
  /** MVCC history ("etcd"): every version of every key since the last compaction. */
  readonly versions = new Map<string, Array<{ rv: number; obj: JsonObject | null }>>();
  /** Current objects in watch-cache order (changed objects move to the end). */
  readonly current = new Map<string, JsonObject>();
  history: CacheEvent[] = [];
  /** The oldest RV a watch may start from. */
  windowStart = 0;
  /** RV of the watch cache (lists served from the cache). */
  cacheRV = 0;
  /** RV of the last event since start; 0 = none, then no bookmarks. */
  lastEventRV = 0;
  readonly watches = new Set<Watch>();
  readonly rvWaiters = new Set<() => void>();
  constructor(readonly type: ResourceType) {}
}

type Timer = ReturnType<typeof setTimeout>;

const REPLAY_CHUNK = 2048;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The running fake API server; see the module documentation. */
export class KubeServer {
  readonly #options: KubeServerOptions;
  readonly #http: HttpServer;
  readonly #states: Record<ResourceName, ResourceState>;
  readonly #timers = new Set<Timer>();
  readonly #failures: Array<{ remaining: number; spec: FailureSpec }> = [];
  readonly #holds: Array<{ spec: RequestMatch; reach: () => void; released: Promise<void> }> = [];
  readonly #releases = new Set<() => void>();
  readonly #requests: RecordedRequest[] = [];
  readonly #authConfigured: boolean;
  #rv: number;
  #compactedRV = 0;
  #nextIp = 10;
  #seeding = false;
  #closed = false;

  /** Use {@linkcode startKubeServer}. */
  constructor(options: KubeServerOptions) {
    this.#options = options;
    this.#rv = options.startResourceVersion ?? 100;
    this.#authConfigured = options.tokens !== undefined || options.tls?.clientCa !== undefined ||
      options.authorize !== undefined;
    this.#states = {
      endpoints: new ResourceState(RESOURCES.endpoints),
      services: new ResourceState(RESOURCES.services),
      endpointslices: new ResourceState(RESOURCES.endpointslices),
      secrets: new ResourceState(RESOURCES.secrets),
      nodes: new ResourceState(RESOURCES.nodes),
    };
    this.#seeding = true;
    for (const [name, objects] of Object.entries(options.objects ?? {})) {
      for (const o of objects ?? []) this.upsert(name as ResourceName, o);
    }
    this.#seeding = false;
    for (const state of Object.values(this.#states)) {
      state.windowStart = this.#rv;
      state.cacheRV = this.#rv;
    }
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
    return this.#rv;
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
    const type = RESOURCES[resource];
    const m = meta(object);
    const namespace = type.clusterScoped
      ? ""
      : typeof m.namespace === "string" && m.namespace !== ""
      ? m.namespace
      : "default";
    const o = { ...object, metadata: { ...m, namespace } };
    const existing = this.#states[resource].current.has(`${namespace}/${m.name}`);
    const manager = options.manager ?? "kube-server-test";
    const stored = existing ? this.#update(type, o, manager, false).obj : this.#create(type, o, manager);
    return clone(withKind(type, stored));
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
    const current = this.#states[resource].current.get(`${namespace}/${name}`);
    if (!current) throw notFound(type, name);
    const next = mergePatch(current, patch) as JsonObject;
    const manager = options.manager ?? "kube-server-test";
    return clone(withKind(type, this.#update(type, next, manager, true, options.subresource).obj));
  }

  /** Deletes an object (DELETED); returns false when it did not exist. */
  remove(resource: ResourceName, namespace: string, name: string): boolean {
    const state = this.#states[resource];
    const key = `${namespace}/${name}`;
    const prev = state.current.get(key);
    if (!prev) return false;
    this.#commit(state, key, null, prev);
    return true;
  }

  /** The stored object with kind/apiVersion, or undefined. */
  get(resource: ResourceName, namespace: string, name: string): JsonObject | undefined {
    const o = this.#states[resource].current.get(`${namespace}/${name}`);
    return o ? clone(withKind(RESOURCES[resource], o)) : undefined;
  }

  /** All current objects of a resource, sorted by namespace/name, shaped like list items (no kind). */
  objects(resource: ResourceName): JsonObject[] {
    return [...this.#states[resource].current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  /**
   * Compacts history at the current RV: older list RVs (Exact / pagination) and continue tokens give 410,
   * and, unless `keepWatchHistory`, a watch from an RV older than the type's last event gets the 410 ERROR
   * event (the watch cache keeps serving RVs at or above it, as after a real apiserver's cache refill).
   */
  compact(options: { keepWatchHistory?: boolean } = {}): void {
    this.#compactedRV = this.#rv;
    for (const state of Object.values(this.#states)) {
      for (const [key, versions] of state.versions) {
        const older = versions.filter((v) => v.rv <= this.#compactedRV);
        const kept = versions.filter((v) => v.rv > this.#compactedRV);
        const base = older[older.length - 1];
        if (base && base.obj) kept.unshift(base);
        if (kept.length === 0) state.versions.delete(key);
        else state.versions.set(key, kept);
      }
      if (!options.keepWatchHistory) {
        // The type's own cache RV (not the global one), so an informer's list with RV=0 can still watch.
        state.history = [];
        state.windowStart = state.cacheRV;
      }
    }
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
      const state = this.#states[watch.type.name];
      this.#writeEvent(
        watch,
        "BOOKMARK",
        bookmarkObject(watch.type, Math.max(state.lastEventRV, watch.startRV)),
      );
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
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const state of Object.values(this.#states)) {
      for (const wake of state.rvWaiters) wake();
      state.rvWaiters.clear();
    }
  }

  /** Same as {@linkcode close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------- storage

  #watches(resource?: ResourceName): Watch[] {
    const states = resource ? [this.#states[resource]] : Object.values(this.#states);
    return states.flatMap((s) => [...s.watches]);
  }

  #timer(fn: () => void, ms: number): Timer {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, ms);
    this.#timers.add(id);
    return id;
  }

  #clearTimer(id: Timer): void {
    clearTimeout(id);
    this.#timers.delete(id);
  }

  #allocateIp = (): string => `10.0.0.${this.#nextIp++ % 250 + 2}`;

  #prepare(type: ResourceType, o: JsonObject): JsonObject {
    return normalizeObject(type, o, this.#allocateIp, this.#nodePortAllocator());
  }

  /**
   * Hands out node ports free across all Services (and across the ports of the object being written); the
   * Services are read only when a port is needed.
   */
  #nodePortAllocator(): () => number {
    let used: Set<number> | undefined;
    return () => {
      used ??= new Set([...this.#states.services.current.values()].flatMap(nodePortsOf));
      const port = freeNodePort(used);
      used.add(port);
      return port;
    };
  }

  #withManagedFields(
    type: ResourceType,
    o: JsonObject,
    previous: JsonValue | undefined,
    manager: string,
  ): void {
    if (this.#options.managedFields === false) return;
    const m = meta(o);
    m.managedFields = managedFieldsAfter(type, previous, manager, o, nowTimestamp());
  }

  #create(type: ResourceType, input: JsonObject, manager: string): JsonObject {
    const state = this.#states[type.name];
    const m = { ...meta(input) };
    if (typeof m.name !== "string" || m.name === "") {
      if (typeof m.generateName === "string" && m.generateName !== "") {
        m.name = m.generateName + crypto.randomUUID().slice(0, 5);
      } else {
        throw new StatusError(
          422,
          `${type.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
          "Invalid",
          { group: type.group, kind: type.kind },
        );
      }
    }
    const key = `${m.namespace ?? ""}/${m.name}`;
    if (state.current.has(key)) {
      const details: JsonObject = { name: m.name as string };
      if (type.group) details.group = type.group;
      details.kind = type.name;
      throw new StatusError(
        409,
        `${resourceLabel(type)} "${m.name}" already exists`,
        "AlreadyExists",
        details,
      );
    }
    delete m.resourceVersion;
    m.uid = crypto.randomUUID();
    m.creationTimestamp = nowTimestamp();
    if (type.generation) m.generation = 1;
    else delete m.generation;
    delete m.managedFields;
    const o = this.#prepare(type, { ...input, metadata: m });
    this.#withManagedFields(type, o, undefined, manager);
    this.#commit(state, key, o, null);
    return o;
  }

  /** Replaces an existing object; `checkRV`: a metadata.resourceVersion in the input must be current. */
  #update(
    type: ResourceType,
    written: JsonObject,
    manager: string,
    checkRV: boolean,
    through?: "main" | "status",
  ): { obj: JsonObject; created: boolean } {
    const state = this.#states[type.name];
    const key = `${meta(written).namespace ?? ""}/${meta(written).name}`;
    const prev = state.current.get(key);
    if (!prev) {
      if (type.createOnUpdate) return { obj: this.#create(type, written, manager), created: true };
      throw notFound(type, String(meta(written).name));
    }
    const input = type.name === "nodes" ? splitNodeWrite(prev, written, through) : written;
    const m = { ...meta(input) };
    const pm = meta(prev);
    if (
      checkRV && typeof m.resourceVersion === "string" && m.resourceVersion !== "" &&
      m.resourceVersion !== pm.resourceVersion
    ) {
      const details: JsonObject = { name: String(m.name) };
      if (type.group) details.group = type.group;
      details.kind = type.name;
      throw new StatusError(
        409,
        `Operation cannot be fulfilled on ${
          resourceLabel(type)
        } "${m.name}": the object has been modified; ` +
          "please apply your changes to the latest version and try again",
        "Conflict",
        details,
      );
    }
    m.uid = pm.uid ?? null;
    m.creationTimestamp = pm.creationTimestamp ?? null;
    m.resourceVersion = pm.resourceVersion ?? null;
    if (pm.managedFields !== undefined) m.managedFields = pm.managedFields;
    else delete m.managedFields;
    if (type.generation) m.generation = pm.generation ?? 1;
    else delete m.generation;
    const next = this.#prepare(type, { ...input, metadata: m });
    const comparable = (o: JsonObject): string => {
      const copy = { ...o, metadata: { ...meta(o) } };
      delete (copy.metadata as JsonObject).managedFields;
      return encodeJson(copy);
    };
    if (comparable(next) === comparable(prev)) return { obj: prev, created: false };
    if (type.generation) {
      const spec = (o: JsonObject): string => {
        const { metadata: _, ...rest } = o;
        return encodeJson([rest, meta(o).labels ?? null]);
      };
      if (spec(next) !== spec(prev)) meta(next).generation = Number(pm.generation ?? 1) + 1;
    }
    this.#withManagedFields(type, next, pm.managedFields, manager);
    this.#commit(state, key, next, prev);
    return { obj: next, created: false };
  }

  /** Stores a change under a new global RV, records the event and dispatches it to watches. */
  #commit(state: ResourceState, key: string, next: JsonObject | null, prev: JsonObject | null): void {
    if (next) this.#options.admit?.(state.type.name, next);
    const rv = ++this.#rv;
    if (next) next.metadata = normalizeMetadata({ ...meta(next), resourceVersion: String(rv) });
    const versions = state.versions.get(key) ?? [];
    versions.push({ rv, obj: next });
    state.versions.set(key, versions);
    state.current.delete(key);
    if (next) state.current.set(key, next);
    state.cacheRV = rv;
    if (this.#seeding) return;
    const event: CacheEvent = next ? { type: prev ? "MODIFIED" : "ADDED", rv, obj: next, prev } : {
      type: "DELETED",
      rv,
      obj: { ...prev!, metadata: { ...meta(prev!), resourceVersion: String(rv) } },
      prev,
    };
    state.history.push(event);
    const limit = this.#options.historyLimit ?? 1000;
    while (state.history.length > limit) {
      state.history.shift();
      state.windowStart = Math.max(state.windowStart, state.history[0]!.rv - 1);
    }
    state.lastEventRV = rv;
    for (const watch of state.watches) {
      if (watch.stalled || rv <= watch.fromRV) continue;
      const out = this.#eventFor(watch, event);
      if (out) this.#writeEvent(watch, out[0], withKind(watch.type, out[1]));
    }
    for (const wake of state.rvWaiters) wake();
  }

  /** Reads the "etcd" snapshot at `rv`: objects sorted by key. */
  #readAt(state: ResourceState, rv: number): Array<[string, JsonObject]> {
    const out: Array<[string, JsonObject]> = [];
    for (const [key, versions] of state.versions) {
      let found: JsonObject | null = null;
      for (const v of versions) if (v.rv <= rv) found = v.obj;
      if (found) out.push([key, found]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ---------------------------------------------------------------------------------------- watches

  #matches(watch: Watch, o: JsonObject | null): boolean {
    if (!o) return false;
    const m = meta(o);
    return (watch.namespace === undefined || m.namespace === watch.namespace) &&
      matchesLabels(watch.labels, stringMap(m.labels)) && matchesFields(watch.fields, o);
  }

  #eventFor(watch: Watch, event: CacheEvent): [string, JsonObject] | undefined {
    const now = this.#matches(watch, event.obj);
    if (event.type === "ADDED") return now ? ["ADDED", event.obj] : undefined;
    if (event.type === "DELETED") return now ? ["DELETED", event.obj] : undefined;
    const before = this.#matches(watch, event.prev);
    if (before && now) return ["MODIFIED", event.obj];
    if (now) return ["ADDED", event.obj];
    if (before) {
      const prev = event.prev!;
      return ["DELETED", { ...prev, metadata: { ...meta(prev), resourceVersion: String(event.rv) } }];
    }
    return undefined;
  }

  #writeEvent(watch: Watch, type: string, object: JsonObject): void {
    watch.stream.write(encodeJson({ type, object }) + "\n");
  }

  #maybeBookmark(watch: Watch): void {
    const state = this.#states[watch.type.name];
    if (watch.stalled || watch.stream.closed) return;
    if (state.lastEventRV > 0 && state.lastEventRV > watch.startRV) {
      this.#writeEvent(watch, "BOOKMARK", bookmarkObject(watch.type, state.lastEventRV));
    }
  }

  #startWatch(
    ex: HttpExchange,
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
    headers: Record<string, string>,
  ): void {
    const state = this.#states[type.name];
    const rvParam = query.get("resourceVersion") ?? "";
    const rv = rvParam === "" ? 0 : parseRV(rvParam);
    if (rv === undefined) throw new StatusError(500, invalidRV(rvParam), undefined);
    const labels = parseLabelSelector(query.get("labelSelector") ?? "");
    const fields = parseFieldSelector(query.get("fieldSelector") ?? "", fieldLabels(type));
    const timeoutParam = query.get("timeoutSeconds");
    const timeoutSeconds = timeoutParam === null || timeoutParam === "0"
      ? this.#options.defaultWatchTimeoutSeconds ?? 1800
      : Number(timeoutParam);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
      throw new StatusError(400, `timeoutSeconds: Invalid value: "${timeoutParam}"`, "BadRequest");
    }
    const stream = ex.stream(200, headers);
    if (rv > 0 && rv < state.windowStart) {
      stream.write(
        encodeJson({
          type: "ERROR",
          object: statusObject(410, `too old resource version: ${rv} (${state.windowStart})`, "Expired"),
        }) + "\n",
      );
      stream.end();
      return;
    }
    const watch: Watch = {
      type,
      namespace,
      labels,
      fields,
      fromRV: rv,
      startRV: rv,
      bookmarks: parseBool(query.get("allowWatchBookmarks")),
      stream,
      stalled: false,
    };
    const initial: Array<[string, JsonObject]> = [];
    if (rv === 0) {
      for (const o of state.current.values()) if (this.#matches(watch, o)) initial.push(["ADDED", o]);
      if (initial.length > 0) watch.startRV = state.cacheRV;
    } else {
      for (const event of state.history) {
        if (event.rv <= rv) continue;
        const out = this.#eventFor(watch, event);
        if (out) initial.push(out);
        watch.startRV = event.rv;
      }
    }
    if (initial.length > 0) {
      const bytes = encoder.encode(
        initial.map(([t, o]) => encodeJson({ type: t, object: withKind(type, o) }) + "\n").join(""),
      );
      for (let i = 0; i < bytes.length; i += REPLAY_CHUNK) stream.write(bytes.subarray(i, i + REPLAY_CHUNK));
    }
    state.watches.add(watch);
    const timers: Timer[] = [];
    const timeoutMs = timeoutSeconds * 1000;
    timers.push(this.#timer(() => {
      if (!watch.stalled) stream.end();
    }, timeoutMs));
    if (watch.bookmarks) {
      const due = timeoutMs - (this.#options.bookmarkBeforeTimeoutMs ?? 2000);
      if (due > 0) timers.push(this.#timer(() => this.#maybeBookmark(watch), due));
      const interval = this.#options.bookmarkIntervalMs ?? 60_000;
      const periodic = (): void => {
        this.#maybeBookmark(watch);
        timers.push(this.#timer(periodic, interval));
      };
      if (interval < timeoutMs) timers.push(this.#timer(periodic, interval));
    }
    stream.onClose(() => {
      state.watches.delete(watch);
      for (const t of timers) this.#clearTimer(t);
    });
  }

  // ---------------------------------------------------------------------------------------- lists

  async #waitForCacheRV(state: ResourceState, rv: number): Promise<boolean> {
    if (state.cacheRV >= rv) return true;
    const wait = this.#options.tooLargeWaitMs ?? 3000;
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        if (state.cacheRV >= rv || this.#closed) done();
      };
      const timer = this.#timer(() => done(), wait);
      const done = (): void => {
        this.#clearTimer(timer);
        state.rvWaiters.delete(wake);
        resolve();
      };
      state.rvWaiters.add(wake);
    });
    return state.cacheRV >= rv;
  }

  async #list(
    type: ResourceType,
    namespace: string | undefined,
    query: URLSearchParams,
  ): Promise<JsonObject> {
    const state = this.#states[type.name];
    const rvParam = query.get("resourceVersion") ?? "";
    const match = query.get("resourceVersionMatch") ?? "";
    const cont = query.get("continue") ?? "";
    const limit = Math.max(0, Number(query.get("limit") ?? "0") || 0);
    if (match !== "" && rvParam === "") {
      throw new StatusError(
        422,
        'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is ' +
          "forbidden unless resourceVersion is provided",
        "Invalid",
        {
          group: "meta.k8s.io",
          kind: "ListOptions",
          causes: [{
            reason: "FieldValueForbidden",
            message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            field: "resourceVersionMatch",
          }],
        },
      );
    }
    const labels = parseLabelSelector(query.get("labelSelector") ?? "");
    const fields = parseFieldSelector(query.get("fieldSelector") ?? "", fieldLabels(type));
    const selected = (o: JsonObject): boolean => {
      const m = meta(o);
      return (namespace === undefined || m.namespace === namespace) &&
        matchesLabels(labels, stringMap(m.labels)) && matchesFields(fields, o);
    };
    const listOf = (metadata: JsonObject, items: JsonObject[]): JsonObject => ({
      kind: type.listKind,
      apiVersion: type.apiVersion,
      metadata,
      items,
    });

    const fromCache = rvParam !== "" && cont === "" && (limit === 0 || rvParam === "0") && match !== "Exact";
    if (fromCache) {
      const rv = parseRV(rvParam);
      if (rv === undefined) throw new StatusError(500, invalidRV(rvParam), undefined);
      if (!(await this.#waitForCacheRV(state, rv))) throw tooLarge(rv, state.cacheRV);
      return listOf({ resourceVersion: String(state.cacheRV) }, [...state.current.values()].filter(selected));
    }

    let snapshot = this.#rv;
    let start = "";
    if (cont !== "") {
      if (rvParam !== "") {
        throw new StatusError(
          400,
          "specifying resource version is not allowed when using continue",
          "BadRequest",
        );
      }
      const token = decodeContinue(cont);
      start = token.start;
      if (token.rv !== -1) {
        if (token.rv < this.#compactedRV) {
          throw new StatusError(
            410,
            "The provided continue parameter is too old to display a consistent list result. You can start a " +
              "new list without the continue parameter, or use the continue token in this response to retrieve " +
              "the remainder of the results. Continuing with the provided token results in an inconsistent list " +
              "- objects that were created, modified, or deleted between the time the first chunk was returned " +
              "and now may show up in the list.",
            "Expired",
            undefined,
            {},
          ).withContinue(encodeContinue(-1, start));
        }
        snapshot = token.rv;
      }
    } else if (rvParam !== "") {
      const rv = parseRV(rvParam);
      if (rv === undefined) {
        throw new StatusError(400, `invalid resource version: ${invalidRV(rvParam)}`, "BadRequest");
      }
      if (rv > this.#rv) throw tooLarge(rv, this.#rv);
      const exact = match === "Exact" || (match === "" && limit > 0);
      if (exact && rv > 0) {
        if (rv < this.#compactedRV) {
          throw new StatusError(410, "The resourceVersion for the provided list is too old.", "Expired");
        }
        snapshot = rv;
      }
    }

    const relative = (
      key: string,
    ): string => (namespace === undefined ? key : key.slice(key.indexOf("/") + 1));
    const items = this.#readAt(state, snapshot).filter(([key, o]) => selected(o) && relative(key) >= start);
    const metadata: JsonObject = { resourceVersion: String(snapshot) };
    if (limit > 0 && items.length > limit) {
      const page = items.slice(0, limit);
      metadata.continue = encodeContinue(snapshot, relative(page[page.length - 1]![0]) + "\u0000");
      if (labels.length === 0 && fields.length === 0) metadata.remainingItemCount = items.length - limit;
      return listOf(metadata, page.map(([, o]) => o));
    }
    return listOf(metadata, items.map(([, o]) => o));
  }

  // ---------------------------------------------------------------------------------------- HTTP

  #readBody(ex: HttpExchange): JsonValue {
    try {
      return JSON.parse(decoder.decode(ex.request.body)) as JsonValue;
    } catch (error) {
      throw new StatusError(
        400,
        `the server could not read the request body: ${error instanceof Error ? error.message : error}`,
        "BadRequest",
      );
    }
  }

  async #handle(ex: HttpExchange): Promise<void> {
    const { request } = ex;
    const query = request.url.searchParams;
    const isWatch = parseBool(query.get("watch"));
    const record: RecordedRequest = {
      method: request.method,
      url: request.target,
      path: request.url.pathname,
      query,
      headers: Object.fromEntries(request.headers.entries()),
      body: decoder.decode(request.body),
      watch: isWatch,
    };
    this.#requests.push(record);
    const ua = request.headers.get("user-agent") ?? "";
    const pretty = /^(curl|Wget|Mozilla\/5\.0)/.test(ua) || parseBool(query.get("pretty"));
    const headers: Record<string, string> = {
      "Audit-Id": crypto.randomUUID(),
      "Cache-Control": "no-cache, private",
      "Content-Type": "application/json",
    };
    const send = (status: number, body: JsonValue | string, extra: Record<string, string> = {}): void => {
      record.status = status;
      const text = typeof body === "string" ? body : encodeJson(body, pretty) + "\n";
      ex.respond(status, { ...headers, ...extra }, text);
    };
    const sendError = (error: StatusError): void => {
      send(error.code, error.toStatus(), error.extraHeaders);
    };

    const hold = this.#holds.findIndex(({ spec }) => requestMatches(spec, request, isWatch));
    if (hold >= 0) {
      const [held] = this.#holds.splice(hold, 1);
      held!.reach();
      await held!.released;
    }
    try {
      const failure = this.#failures.find(({ remaining, spec }) =>
        remaining > 0 && requestMatches(spec, request, isWatch)
      );
      if (failure) {
        failure.remaining--;
        const spec = failure.spec;
        if (spec.abort) {
          record.status = 0;
          ex.abort();
          return;
        }
        if (spec.body !== undefined) {
          send(spec.status ?? 200, spec.body);
          return;
        }
        const status = spec.status ?? 500;
        const details: JsonObject | undefined = spec.retryAfterSeconds !== undefined
          ? { retryAfterSeconds: spec.retryAfterSeconds }
          : undefined;
        const extra: Record<string, string> = spec.retryAfterSeconds !== undefined
          ? { "Retry-After": String(spec.retryAfterSeconds) }
          : {};
        sendError(
          new StatusError(
            status,
            spec.message ?? "Internal error occurred: injected failure",
            spec.reason ?? defaultReason(status),
            details,
            extra,
          ),
        );
        return;
      }

      const user = authenticate(
        ex.request,
        this.#options.tokens,
        !this.#authConfigured || this.#options.anonymous !== false,
      );
      if (!user) {
        sendError(new StatusError(401, "Unauthorized", "Unauthorized"));
        return;
      }
      record.user = user.name;
      Object.assign(headers, FLOW_HEADERS);

      const r = route(request.url.pathname);
      if (r.kind === "unknown") {
        if (r.status) {
          sendError(new StatusError(404, "the server could not find the requested resource", "NotFound", {}));
        } else {
          record.status = 404;
          ex.respond(404, {
            "Cache-Control": "no-cache, private",
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
          }, "404 page not found\n");
        }
        return;
      }
      if (r.kind === "path") {
        const attrs: RequestAttributes = { verb: "get", resourceRequest: false, path: request.url.pathname };
        if ((this.#authConfigured && !isAuthorized(this.#options.authorize, user, attrs))) {
          throw forbidden(user, attrs);
        }
        if (request.method !== "GET") {
          throw new StatusError(
            405,
            `the server does not allow this method on the requested resource`,
            "MethodNotAllowed",
            {},
          );
        }
        const doc = discoveryDocument(request.url.pathname, this.port);
        send(200, typeof doc === "string" ? doc : doc);
        return;
      }

      const { type, namespace, name } = r;
      // Cluster-scoped resources (Node) are addressed without a namespace, namespaced ones with one.
      const scoped = type.clusterScoped === true ? namespace === undefined : namespace !== undefined;
      const verb = ((): string => {
        switch (request.method) {
          case "GET":
            return name === undefined ? (isWatch ? "watch" : "list") : "get";
          case "POST":
            return "create";
          case "PUT":
            return "update";
          case "PATCH":
            return "patch";
          case "DELETE":
            return name === undefined ? "deletecollection" : "delete";
          default:
            return request.method.toLowerCase();
        }
      })();
      const attrs: RequestAttributes = {
        verb,
        resourceRequest: true,
        resource: type.name,
        group: type.group,
        path: request.url.pathname,
      };
      if (namespace !== undefined) attrs.namespace = namespace;
      if (name !== undefined) attrs.name = name;
      if ((this.#authConfigured && !isAuthorized(this.#options.authorize, user, attrs))) {
        throw forbidden(user, attrs);
      }
      const manager = query.get("fieldManager") ?? (ua.split("/")[0] || "unknown");
      const notAllowed = (): StatusError =>
        new StatusError(
          405,
          "the server does not allow this method on the requested resource",
          "MethodNotAllowed",
          {},
        );

      switch (verb) {
        case "watch":
          this.#startWatch(ex, type, namespace, query, headers);
          record.status = 200;
          return;
        case "list":
          send(200, await this.#list(type, namespace, query));
          return;
        case "get": {
          const o = this.#states[type.name].current.get(`${namespace ?? ""}/${name}`);
          if (!o || !scoped) throw notFound(type, name!);
          send(200, withKind(type, o));
          return;
        }
        case "create": {
          if (!scoped || name !== undefined) throw notAllowed();
          const body = this.#bodyObject(ex, type, namespace ?? "", undefined);
          send(201, withKind(type, this.#create(type, body, manager)));
          return;
        }
        case "update": {
          if (!scoped) throw notAllowed();
          const body = this.#bodyObject(ex, type, namespace ?? "", name);
          const result = this.#update(
            type,
            body,
            manager,
            true,
            r.subresource === "status" ? "status" : "main",
          );
          send(result.created ? 201 : 200, withKind(type, result.obj));
          return;
        }
        case "patch": {
          if (!scoped) throw notAllowed();
          const current = this.#states[type.name].current.get(`${namespace ?? ""}/${name}`);
          if (!current) throw notFound(type, name!);
          const patched = this.#applyPatch(ex, withKind(type, current));
          if (!isObject(patched)) {
            throw new StatusError(422, "the patch did not produce an object", "Invalid");
          }
          const pm = { ...meta(patched), name: name!, namespace: namespace ?? "" };
          const through = r.subresource === "status" ? "status" : "main";
          const result = this.#update(type, { ...patched, metadata: pm }, manager, true, through);
          send(200, withKind(type, result.obj));
          return;
        }
        case "delete": {
          if (!scoped) throw notAllowed();
          const current = this.#states[type.name].current.get(`${namespace ?? ""}/${name}`);
          if (!current) throw notFound(type, name!);
          this.remove(type.name, namespace ?? "", name!);
          const details: JsonObject = { name: name! };
          if (type.group) details.group = type.group;
          details.kind = type.name;
          details.uid = meta(current).uid ?? "";
          send(200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details });
          return;
        }
        default:
          throw notAllowed();
      }
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      sendError(error);
    }
  }

  #bodyObject(ex: HttpExchange, type: ResourceType, namespace: string, name: string | undefined): JsonObject {
    const body = this.#readBody(ex);
    if (!isObject(body)) {
      throw new StatusError(400, "the body of the request was not an object", "BadRequest");
    }
    if (body.kind !== undefined && body.kind !== type.kind) {
      throw new StatusError(
        400,
        `the API version in the data (${body.apiVersion}) does not match the expected API version (${type.apiVersion})`,
        "BadRequest",
      );
    }
    const m = meta(body);
    if (m.namespace !== undefined && m.namespace !== "" && m.namespace !== namespace) {
      throw new StatusError(
        400,
        "the namespace of the provided object does not match the namespace sent on the request",
        "BadRequest",
      );
    }
    if (name !== undefined && m.name !== undefined && m.name !== name) {
      throw new StatusError(
        400,
        `the name of the object (${m.name}) does not match the name on the URL (${name})`,
        "BadRequest",
      );
    }
    return { ...body, metadata: { ...m, namespace, ...(name !== undefined ? { name } : {}) } };
  }

  #applyPatch(ex: HttpExchange, current: JsonObject): JsonValue {
    const contentType = (ex.request.headers.get("content-type") ?? "").split(";")[0]!.trim();
    const patch = this.#readBody(ex);
    switch (contentType) {
      case "application/merge-patch+json":
        return mergePatch(current, patch);
      case "application/strategic-merge-patch+json":
        return strategicMergePatch(current, patch);
      case "application/json-patch+json":
        return jsonPatch(current, patch);
      default:
        throw new StatusError(
          415,
          `the body of the request was in an unknown format - accepted media types include: ` +
            "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
          "UnsupportedMediaType",
        );
    }
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
