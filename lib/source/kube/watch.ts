/**
 * List + watch of one resource, keeping a store of projections (never whole API objects): a paginated
 * list, then a watch from the list's resourceVersion with bookmarks; a dropped, stalled or garbled
 * stream resumes from the last seen resourceVersion; 410 Gone / an ERROR event with reason Expired
 * relists and diffs against the store; reconnects back off exponentially with jitter, capped; a full
 * resync runs every `resyncMs` as a safety net. Changes are computed against the store, so a replayed
 * event or a relist emits only what really changed.
 *
 * Every answer is checked for the kind and apiVersion asked for (a list of the wrong kind is an API error,
 * never an empty list), a list body and a watch line are capped in size, and the stall timer counts whole
 * events, not bytes: a server that sends garbage slowly or endlessly cannot hold memory or the watch.
 *
 * @module
 */
import { backoffDelay } from "../../backoff.ts";
import { delay } from "../../delay.ts";
import { errorText, type Logger, silentLogger } from "../../log.ts";
import type { SourceStatus } from "../source.ts";
import type { ObjectProblem } from "./objects.ts";
import { parseItem, parseListBytes, releaseItems } from "./list_text.ts";
import {
  Expired,
  Forbidden,
  type KubeClient,
  KubeError,
  type RequestAction,
  ResponseTooLarge,
  retryAfterMs,
  ServerError,
  Unauthorized,
  UnexpectedAnswer,
} from "./client.ts";

/** A resource haconfd watches and how one of its objects is validated and projected. */
export interface ResourceKind<T> {
  /** Plural name, e.g. `endpoints`. */
  resource: string;
  /** Object kind, e.g. `Endpoints` (a list is `EndpointsList`). */
  kind: string;
  /** API group, `""` for the core group. */
  group: string;
  /** API version, e.g. `v1`. */
  version: string;
  /** Validates and projects one API object; a string says why it cannot be used. */
  project(object: unknown): T | string;
  /** A field selector every list and watch of this kind sends (Secrets: `type=kubernetes.io/tls`). */
  fieldSelector?: string;
}

/** One change to the store. */
export interface Change<T> {
  /** What happened to the key (from the store's view, not the event's type). */
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** `namespace/name`. */
  key: string;
  /** The new projection (absent for DELETED). */
  value?: T;
  /** The previous projection (absent for ADDED). */
  previous?: T;
}

/**
 * Counters and state of one watcher, for status: the fields a source reports (a source sums or combines
 * its watchers'), plus the watcher's own problems by key and the resourceVersion it resumes from.
 */
export type WatchStats =
  & Pick<
    SourceStatus,
    "synced" | "fullSyncs" | "lastEventAt" | "lastFullSyncAt" | "events" | "restarts" | "lastError"
  >
  & {
    /** Objects that could not be used, by key. */
    problems: Map<string, ObjectProblem>;
    /** resourceVersion the next watch starts from. */
    resourceVersion: string;
  };

/** Options of {@linkcode createWatcher}. */
export interface WatcherOptions<T> {
  /** Namespace to watch; undefined: all. */
  namespace?: string;
  /** Label selector passed to the API. */
  labelSelector?: string;
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** Items per list page. @default {500} */
  pageSize?: number;
  /**
   * Longest `timeoutSeconds` of a watch request (the server ends it after this); each watch picks between
   * 75% and 100% of it, so that many watchers do not all reconnect at the same moment. @default {60}
   */
  watchTimeoutSeconds?: number;
  /** A stream silent this long is stalled and is reopened. @default {watchTimeoutSeconds * 1000 + 15000} */
  readTimeoutMs?: number;
  /** First reconnect delay after consecutive failures. @default {250} */
  backoffBaseMs?: number;
  /** Longest reconnect delay. @default {30000} */
  backoffCapMs?: number;
  /** Full resync (relist and diff) interval. @default {300000} */
  resyncMs?: number;
  /** Longest watch line (one event, in bytes); a longer one ends the stream with an error. @default {8 MiB} */
  maxEventBytes?: number;
  /** Random source for jitter, in [0, 1). @default {Math.random} */
  random?: () => number;
  /** Clock (ms since epoch). @default {Date.now} */
  now?: () => number;
  /**
   * Waits `ms` between attempts (backoff, Retry-After), resolving early when `signal` aborts; tests
   * record the waits instead of sleeping. @default {an abortable timer}
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called after the store changed, once per event or per list, with the changes. */
  onChange?: (changes: readonly Change<T>[]) => void;
  /** Called after every completed list (first list, relist, resync). */
  onSync?: () => void;
  /**
   * Called during the first list (until a list completes) with each page's projections as the page
   * arrives, while the next page is in flight: a consumer may get ahead with them. They are not a change:
   * the list's {@linkcode WatcherOptions.onChange} follows as it would without them.
   */
  onListPage?: (items: readonly T[]) => void;
}

/** A watcher of one resource (in one namespace or all). */
export interface Watcher<T> {
  /** The projections by `namespace/name`; do not modify. */
  readonly store: ReadonlyMap<string, T>;
  /** Counters and state. */
  readonly stats: WatchStats;
  /** Lists and watches until `signal` aborts; never throws for API or stream failures. */
  run(signal: AbortSignal): Promise<void>;
}

/** The API path of a resource's collection: `/api/v1/namespaces/x/endpoints`, `/apis/g/v1/…`. */
export function collectionPath(kind: ResourceKind<unknown>, namespace?: string): string {
  const root = kind.group === "" ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  return `${root}${
    namespace === undefined ? "" : `/namespaces/${encodeURIComponent(namespace)}`
  }/${kind.resource}`;
}

/** `v1` or `discovery.k8s.io/v1`: the apiVersion of a kind's objects. */
export function apiVersionOf(kind: ResourceKind<unknown>): string {
  return kind.group === "" ? kind.version : `${kind.group}/${kind.version}`;
}

/**
 * Splits text arriving in chunks into complete lines (`\n`-terminated; a trailing `\r` is dropped). The
 * pieces of an unterminated line are kept apart and joined once its newline comes, so a long line costs
 * linear time, not quadratic.
 */
export class LineSplitter {
  #pieces: string[] = [];
  /** Feeds one chunk and returns the lines it completed. */
  push(chunk: string): string[] {
    const end = chunk.lastIndexOf("\n");
    if (end < 0) {
      if (chunk !== "") this.#pieces.push(chunk);
      return [];
    }
    const parts = (this.#pieces.join("") + chunk.slice(0, end)).split("\n");
    const tail = chunk.slice(end + 1);
    this.#pieces = tail === "" ? [] : [tail];
    return parts.map((line) => line.endsWith("\r") ? line.slice(0, -1) : line);
  }
  /** What is left after the last newline (an unterminated line). */
  rest(): string {
    return this.#pieces.join("");
  }
}

/** Bytes of an unterminated line after `chunk`, given `pending` bytes before it (0x0A is never inside UTF-8). */
export function pendingLineBytes(pending: number, chunk: Uint8Array): number {
  const end = chunk.lastIndexOf(0x0a);
  return end < 0 ? pending + chunk.length : chunk.length - end - 1;
}

interface Meta {
  key?: string;
  resourceVersion?: string;
}

function metaOf(object: unknown): Meta {
  const meta = (object as { metadata?: Record<string, unknown> } | null)?.metadata;
  if (meta === null || typeof meta !== "object") return {};
  const result: Meta = {};
  if (typeof meta.name === "string" && meta.name !== "") {
    result.key = `${typeof meta.namespace === "string" ? meta.namespace : ""}/${meta.name}`;
  }
  if (typeof meta.resourceVersion === "string") result.resourceVersion = meta.resourceVersion;
  return result;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

type Outcome =
  | "closed"
  | "dropped"
  | "stalled"
  | "garbage"
  | "invalid"
  | "oversize"
  | "expired"
  | "error"
  | "resync"
  | "stopped";

/** The outcome of handling one line of a watch stream. */
type LineResult = "ok" | "event" | "garbage" | "invalid" | "expired" | "error";

/** The default of {@linkcode WatcherOptions.maxEventBytes}. */
export const DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024;

/**
 * Creates a watcher of one resource. Nothing happens until `run()`.
 *
 * @example
 * ```ts
 * const watcher = createWatcher(client, endpointsKind, { onChange: (c) => log.info("changed", { n: c.length }) });
 * await watcher.run(signal);
 * ```
 */
export function createWatcher<T>(
  client: KubeClient,
  kind: ResourceKind<T>,
  options: WatcherOptions<T> = {},
): Watcher<T> {
  return new Reflector(client, kind, options);
}

/** {@linkcode WatcherOptions} with every default filled in. */
type Tuning<T> =
  & Required<Omit<WatcherOptions<T>, "namespace" | "labelSelector" | "onChange" | "onSync" | "onListPage">>
  & Pick<WatcherOptions<T>, "namespace" | "labelSelector" | "onChange" | "onSync" | "onListPage">;

function tuning<T>(options: WatcherOptions<T>): Tuning<T> {
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 60;
  return {
    ...options,
    log: options.log ?? silentLogger,
    pageSize: options.pageSize ?? 500,
    watchTimeoutSeconds,
    readTimeoutMs: options.readTimeoutMs ?? watchTimeoutSeconds * 1000 + 15_000,
    backoffBaseMs: options.backoffBaseMs ?? 250,
    backoffCapMs: options.backoffCapMs ?? 30_000,
    resyncMs: options.resyncMs ?? 300_000,
    maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    sleep: options.sleep ??
      ((ms: number, signal: AbortSignal) => delay(ms, { signal, resolveOnAbort: true })),
  };
}

/** One page of a list, checked: its items, the continue token, the list's resourceVersion. */
interface ListPage {
  items: unknown[];
  continue: string | undefined;
  resourceVersion: string;
}

/**
 * The list+watch loop of one resource (client-go's reflector): list into the store, watch from the list's
 * resourceVersion, relist on expiry or resync, back off on failures. All its state is in these fields.
 */
class Reflector<T> implements Watcher<T> {
  /** The projections by `namespace/name`. */
  readonly store: Map<string, T> = new Map();
  /** Counters and state. */
  readonly stats: WatchStats = {
    synced: false,
    fullSyncs: 0,
    lastEventAt: null,
    lastFullSyncAt: null,
    events: {},
    restarts: {},
    lastError: null,
    problems: new Map(),
    resourceVersion: "",
  };
  readonly #client: KubeClient;
  readonly #kind: ResourceKind<T>;
  readonly #o: Tuning<T>;
  readonly #path: string;
  readonly #apiVersion: string;
  readonly #where: string;
  readonly #log: Logger;
  #nextResyncAt = Number.POSITIVE_INFINITY;
  // Whether the next completed list counts as a full sync that confirms the last one (the loop's shrink
  // guard waits for one): the first list, a scheduled resync, or a relist after the watch delivered
  // something. A relist forced by a watch that failed before delivering anything repeats the list that
  // just fed it, so it confirms nothing.
  #independent = true;
  #needList = true;
  #listReason = "initial";
  /** Consecutive failures (the backoff's attempt). */
  #failures = 0;

  constructor(client: KubeClient, kind: ResourceKind<T>, options: WatcherOptions<T>) {
    this.#client = client;
    this.#kind = kind;
    this.#o = tuning(options);
    const { namespace } = options;
    this.#path = collectionPath(kind as ResourceKind<unknown>, namespace);
    this.#apiVersion = apiVersionOf(kind as ResourceKind<unknown>);
    this.#where = namespace === undefined ? "all namespaces" : `namespace "${namespace}"`;
    this.#log = this.#o.log.child("kube.watch", {
      resource: kind.resource,
      ...(namespace === undefined ? {} : { namespace }),
    });
  }

  /** Lists and watches until `signal` aborts; never throws for API or stream failures. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (await this.#listAndWatch(signal) === "stopped") break;
      } catch (error) {
        if (signal.aborted) break;
        await this.#failed(error, signal);
      }
    }
  }

  /** One round: (re)list when needed, watch once, then wait as the outcome asks. */
  async #listAndWatch(signal: AbortSignal): Promise<Outcome> {
    if (!this.#needList && this.#o.now() >= this.#nextResyncAt) {
      this.#relist("resync");
      this.#count(this.stats.restarts, "resync");
    }
    if (this.#needList) {
      if (this.#listReason !== "initial") this.#log.debug("listing", { reason: this.#listReason });
      await this.list(signal);
      this.#needList = false;
    }
    let healthy = false;
    const openedAt = this.#o.now();
    const outcome = await this.#watchOnce(signal, () => {
      healthy = true;
      this.#independent = true;
      this.#failures = 0;
    });
    if (outcome !== "stopped") await this.#watchEnded(outcome, healthy, openedAt, signal);
    return outcome;
  }

  /** Schedules a list before the next watch. */
  #relist(reason: "resync" | "expired"): void {
    this.#needList = true;
    this.#listReason = reason;
    if (reason === "resync") this.#independent = true;
  }

  /** After a watch ended (not stopped): relist and/or back off as its outcome asks. */
  async #watchEnded(
    outcome: Outcome,
    healthy: boolean,
    openedAt: number,
    signal: AbortSignal,
  ): Promise<void> {
    this.#count(this.stats.restarts, outcome);
    if (outcome === "resync") return this.#relist("resync");
    if (outcome === "expired") {
      this.#log.info("the watch expired (410), relisting", { resourceVersion: this.stats.resourceVersion });
      this.#relist("expired");
      if (!healthy) this.#failures++;
      return await this.#o.sleep(this.#backoff(), signal);
    }
    if (outcome === "stalled") {
      this.#log.warn(`the watch stream was silent for ${this.#o.readTimeoutMs}ms, reconnecting`, {
        resourceVersion: this.stats.resourceVersion,
      });
    }
    // A stream the server ends normally is reopened at once, unless it ended at once and empty.
    if (outcome === "closed" && (healthy || this.#o.now() - openedAt >= 1000)) this.#failures = 0;
    else this.#failures++;
    await this.#o.sleep(this.#backoff(), signal);
  }

  /** A list or watch request failed: count it, log it, wait (backoff or Retry-After). */
  async #failed(error: unknown, signal: AbortSignal): Promise<void> {
    this.#failures++;
    if (error instanceof Expired) {
      this.#count(this.stats.restarts, "expired");
      this.#log.info("the resourceVersion expired (410), relisting", {
        resourceVersion: this.stats.resourceVersion,
      });
      this.#relist("expired");
      return await this.#o.sleep(this.#backoff(), signal);
    }
    if (!(error instanceof KubeError)) throw error;
    const unusable = error instanceof UnexpectedAnswer || error instanceof ResponseTooLarge;
    this.#count(
      this.stats.restarts,
      error instanceof UnexpectedAnswer
        ? "invalid"
        : error instanceof ResponseTooLarge
        ? "oversize"
        : "error",
    );
    this.stats.lastError = error.message;
    const waitMs = Math.max(this.#backoff(), retryAfterMs(error));
    const fields = { error: error.message, retryInMs: waitMs, attempt: this.#failures };
    if (error instanceof Unauthorized || error instanceof Forbidden) {
      this.#log.error("API access denied", fields);
    } else if (unusable) this.#log.error("the API server sent an answer that cannot be used", fields);
    else this.#log.warn("API request failed", fields);
    await this.#o.sleep(waitMs, signal);
  }

  #backoff(): number {
    return backoffDelay(this.#failures, this.#o.backoffBaseMs, this.#o.backoffCapMs, this.#o.random);
  }

  #count(record: Record<string, number>, key: string): void {
    record[key] = (record[key] ?? 0) + 1;
  }

  #problem(key: string, reason: string, from: string): void {
    const known = this.stats.problems.get(key);
    this.stats.problems.set(key, { object: key, reason });
    if (known?.reason !== reason) {
      this.#log.warn(`skipped a malformed ${this.#kind.resource} object`, { object: key, reason, from });
    }
  }

  #action(verb: RequestAction["verb"]): RequestAction {
    const { resource, group } = this.#kind;
    const { namespace } = this.#o;
    return namespace === undefined ? { verb, resource, group } : { verb, resource, group, namespace };
  }

  #baseQuery(): Record<string, string> {
    const query: Record<string, string> = this.#o.labelSelector === undefined
      ? {}
      : { labelSelector: this.#o.labelSelector };
    if (this.#kind.fieldSelector !== undefined) query.fieldSelector = this.#kind.fieldSelector;
    return query;
  }

  /**
   * Lists every page into a fresh map, then commits the difference to the store. The next page is asked
   * for before this one is projected, so the API server serves it while haconfd validates.
   */
  async list(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    const malformed = new Map<string, ObjectProblem>();
    let cont: string | undefined;
    let restartedPaging = false;
    let pending = this.#listPage(undefined, signal);
    for (;;) {
      let page: ListPage;
      try {
        page = await pending;
      } catch (error) {
        if (!(error instanceof Expired && cont !== undefined && !restartedPaging)) throw error;
        // The continue token expired mid-list: start the list over, once.
        this.#log.info("list continue token expired, listing again from the start");
        restartedPaging = true;
        cont = undefined;
        fresh.clear();
        malformed.clear();
        pending = this.#listPage(undefined, signal);
        continue;
      }
      cont = page.continue;
      if (cont !== undefined) {
        pending = this.#listPage(cont, signal);
        pending.catch(() => {}); // awaited on the next round; handled here in case projecting throws
        // The request only leaves once the event loop turns (I/O is polled there, not during this page's
        // CPU work; a timer turns it, microtasks and setImmediate do not): turn it once, so the API serves the
        // next page into the socket while this one is used.
        await delay(0);
      }
      const projections = this.#project(page.items, fresh, malformed);
      releaseItems(page.items);
      if (!this.stats.synced) this.#o.onListPage?.(projections);
      if (cont === undefined) return this.#listed(fresh, malformed, page.resourceVersion);
    }
  }

  /** Projects a page's items into `fresh` (the malformed into `malformed`); the page's projections. */
  #project(items: unknown[], fresh: Map<string, T>, malformed: Map<string, ObjectProblem>): T[] {
    const projections: T[] = [];
    items.forEach((item: unknown, index: number) => {
      const object = this.#parseItem(item);
      const { key } = metaOf(object);
      const name = key ?? `items[${index}]`;
      const projected = this.#kind.project(object);
      if (typeof projected === "string") malformed.set(name, { object: name, reason: projected });
      else if (key !== undefined) {
        fresh.set(key, projected);
        projections.push(projected);
      }
    });
    return projections;
  }

  /** A list item, parsed from its text: text that is not JSON is the server's fault, as a whole body's is. */
  #parseItem(item: unknown): unknown {
    try {
      return parseItem(item);
    } catch {
      const server = this.#client.server();
      throw new ServerError(
        `API server "${server}" sent a ${this.#kind.resource} list item that is not JSON in ${this.#where}`,
        server,
        200,
      );
    }
  }

  /** Fetches and checks one page of the list. */
  async #listPage(cont: string | undefined, signal: AbortSignal): Promise<ListPage> {
    const query: Record<string, string> = { ...this.#baseQuery(), limit: String(this.#o.pageSize) };
    if (cont !== undefined) query.continue = cont;
    const body = await this.#client.getJson(this.#path, query, this.#action("list"), signal, parseListBytes);
    const shape = body as {
      kind?: unknown;
      apiVersion?: unknown;
      metadata?: { resourceVersion?: unknown; continue?: unknown };
      items?: unknown;
    };
    const server = this.#client.server();
    const kind = this.#kind;
    if (shape === null || typeof shape !== "object" || !Array.isArray(shape.items)) {
      throw new KubeError(
        `API server "${server}" sent a ${kind.resource} list without items in ${this.#where}`,
        server,
      );
    }
    if (shape.kind !== `${kind.kind}List` || shape.apiVersion !== this.#apiVersion) {
      throw new UnexpectedAnswer(
        `API server "${server}" answered the list of ${kind.resource} in ${this.#where} with ${
          describeKind(shape)
        }, not a ${kind.kind}List of ${this.#apiVersion}: ignored`,
        server,
      );
    }
    const next = shape.metadata?.continue;
    const rv = shape.metadata?.resourceVersion;
    return {
      items: shape.items,
      continue: typeof next === "string" && next !== "" ? next : undefined,
      resourceVersion: typeof rv === "string" ? rv : "",
    };
  }

  /** Commits a complete list: only real changes are emitted; a malformed item keeps its last good version. */
  #listed(fresh: Map<string, T>, malformed: Map<string, ObjectProblem>, listRv: string): void {
    const { store, stats } = this;
    const changes: Change<T>[] = [];
    for (const [key, value] of fresh) {
      const previous = store.get(key);
      if (previous === undefined && !store.has(key)) changes.push({ type: "ADDED", key, value });
      else if (!same(previous, value)) {
        changes.push({ type: "MODIFIED", key, value, previous: previous as T });
      }
    }
    for (const [key, previous] of store) {
      if (!fresh.has(key) && !malformed.has(key)) changes.push({ type: "DELETED", key, previous });
    }
    for (const change of changes) {
      if (change.type === "DELETED") store.delete(change.key);
      else store.set(change.key, change.value as T);
    }
    for (const [key, p] of malformed) this.#problem(key, p.reason, "list");
    for (const key of [...stats.problems.keys()]) if (!malformed.has(key)) stats.problems.delete(key);
    stats.resourceVersion = listRv;
    if (this.#independent) stats.fullSyncs++;
    this.#independent = false;
    stats.lastFullSyncAt = this.#o.now();
    stats.synced = true;
    stats.lastError = null;
    this.#nextResyncAt = this.#o.now() + this.#o.resyncMs;
    this.#log.debug("listed", { objects: store.size, changes: changes.length, resourceVersion: listRv });
    if (changes.length > 0) this.#o.onChange?.(changes);
    this.#o.onSync?.();
  }

  /** Handles one line of the watch stream. */
  #handleLine(line: string): LineResult {
    if (line.trim() === "") return "ok";
    const event = this.#parseEvent(line);
    if (typeof event === "string") return event;
    const { type, object } = event;
    this.#count(this.stats.events, type);
    if (type === "ERROR") return this.#errorEvent(object);
    const meta = metaOf(object);
    if (type === "BOOKMARK") {
      if (meta.resourceVersion !== undefined) this.stats.resourceVersion = meta.resourceVersion;
      return "event";
    }
    if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") {
      this.#log.warn("ignored a watch event of unknown type", { type });
      return "ok";
    }
    if (meta.resourceVersion !== undefined) this.stats.resourceVersion = meta.resourceVersion;
    this.stats.lastEventAt = this.#o.now();
    if (meta.key === undefined) this.#problem(`(${type} event)`, "no metadata.name", "watch");
    else this.#applyEvent(type, meta.key, object);
    return "event";
  }

  /** A line as a typed event of the right kind, or why it is not one. */
  #parseEvent(line: string): { type: string; object: unknown } | LineResult {
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      this.#count(this.stats.events, "GARBAGE");
      this.#log.warn("the watch stream sent a line that is not JSON, resuming", {
        line: line.slice(0, 80),
        resourceVersion: this.stats.resourceVersion,
      });
      return "garbage";
    }
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      this.#count(this.stats.events, "GARBAGE");
      this.#log.warn("the watch stream sent an event without a type, resuming", { line: line.slice(0, 80) });
      return "garbage";
    }
    const type = event.type;
    const expected = type === "ERROR"
      ? { kind: "Status", apiVersion: "v1" }
      : { kind: this.#kind.kind, apiVersion: this.#apiVersion };
    const got = (event.object ?? {}) as { kind?: unknown; apiVersion?: unknown };
    if (got.kind !== expected.kind || got.apiVersion !== expected.apiVersion) {
      this.#count(this.stats.events, "INVALID");
      this.stats.lastError =
        `API server "${this.#client.server()}" sent a ${type} event on the watch of ${this.#kind.resource} ` +
        `in ${this.#where} with ${
          describeKind(got)
        }, not a ${expected.kind} of ${expected.apiVersion}: ignored`;
      this.#log.error("the watch stream sent an event of the wrong kind, resuming", {
        error: this.stats.lastError,
        resourceVersion: this.stats.resourceVersion,
      });
      return "invalid";
    }
    return { type, object: event.object };
  }

  /** An ERROR event: 410 means relist, anything else ends this watch. */
  #errorEvent(object: unknown): LineResult {
    const status = (object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
    if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") return "expired";
    this.stats.lastError = `The watch of ${this.#kind.resource} in ${this.#where} ended with an error: ${
      typeof status.message === "string" ? status.message : JSON.stringify(object)
    }`;
    this.#log.warn("watch error event", { error: this.stats.lastError });
    return "error";
  }

  /** Applies an ADDED, MODIFIED or DELETED event to the store; emits only real changes. */
  #applyEvent(type: "ADDED" | "MODIFIED" | "DELETED", key: string, object: unknown): void {
    const { store, stats } = this;
    const onChange = this.#o.onChange;
    if (type === "DELETED") {
      stats.problems.delete(key);
      if (!store.has(key)) return;
      const previous = store.get(key) as T;
      store.delete(key);
      return onChange?.([{ type: "DELETED", key, previous }]);
    }
    const projected = this.#kind.project(object);
    if (typeof projected === "string") return this.#problem(key, projected, "watch");
    stats.problems.delete(key);
    if (!store.has(key)) {
      store.set(key, projected);
      return onChange?.([{ type: "ADDED", key, value: projected }]);
    }
    const previous = store.get(key) as T;
    if (same(previous, projected)) return;
    store.set(key, projected);
    onChange?.([{ type: "MODIFIED", key, value: projected, previous }]);
  }

  /** Opens one watch and reads it until it ends; returns why it ended. Throws what opening threw. */
  async #watchOnce(signal: AbortSignal, onHealthy: () => void): Promise<Outcome> {
    const o = this.#o;
    const query: Record<string, string> = {
      ...this.#baseQuery(),
      watch: "1",
      allowWatchBookmarks: "true",
      timeoutSeconds: String(Math.max(1, Math.round(o.watchTimeoutSeconds * (0.75 + 0.25 * o.random())))),
    };
    if (this.stats.resourceVersion !== "") query.resourceVersion = this.stats.resourceVersion;
    const stream = await this.#client.openStream(this.#path, query, this.#action("watch"), signal);
    this.stats.lastError = null;
    const reader = stream.body.getReader();
    let interrupt: Outcome | undefined;
    const stop = (why: Outcome) => {
      interrupt ??= why;
      reader.cancel().catch(() => {});
    };
    const onAbort = () => stop("stopped");
    signal.addEventListener("abort", onAbort, { once: true });
    const resyncTimer = setTimeout(
      () => stop("resync"),
      Math.min(2 ** 31 - 1, Math.max(0, this.#nextResyncAt - o.now())),
    );
    let readTimer: ReturnType<typeof setTimeout> | undefined;
    // Progress is a whole line: a server dripping bytes of a line that never ends is stalled all the same.
    const armReadTimer = () => {
      if (readTimer !== undefined) clearTimeout(readTimer);
      readTimer = setTimeout(() => stop("stalled"), o.readTimeoutMs);
    };
    armReadTimer();
    try {
      return await this.#readStream(reader, () => interrupt, armReadTimer, onHealthy);
    } finally {
      clearTimeout(resyncTimer);
      if (readTimer !== undefined) clearTimeout(readTimer);
      signal.removeEventListener("abort", onAbort);
      await reader.cancel().catch(() => {});
      reader.releaseLock();
      await stream.close();
    }
  }

  /** Reads the stream line by line until it ends, breaks, is interrupted or sends a line that ends it. */
  async #readStream(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    interrupted: () => Outcome | undefined,
    onProgress: () => void,
    onHealthy: () => void,
  ): Promise<Outcome> {
    const decoder = new TextDecoder();
    const splitter = new LineSplitter();
    let pending = 0;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const why = interrupted();
        if (why !== undefined) return why;
        this.#log.info("the watch stream broke, resuming", {
          error: errorText(error),
          resourceVersion: this.stats.resourceVersion,
        });
        return "dropped";
      }
      const why = interrupted();
      if (why !== undefined) return why;
      // An unterminated last line: the connection was cut mid-event.
      if (chunk.done) return (splitter.rest() + decoder.decode()).trim() !== "" ? "dropped" : "closed";
      pending = pendingLineBytes(pending, chunk.value);
      if (pending > this.#o.maxEventBytes) return this.#oversize();
      const lines = splitter.push(decoder.decode(chunk.value, { stream: true }));
      if (lines.length > 0) onProgress();
      for (const line of lines) {
        const result = this.#handleLine(line);
        if (result === "event") onHealthy();
        else if (result !== "ok") return result;
      }
    }
  }

  #oversize(): Outcome {
    this.stats.lastError =
      `API server "${this.#client.server()}" sent a watch line of ${this.#kind.resource} ` +
      `in ${this.#where} longer than ${this.#o.maxEventBytes} bytes (--max-event-bytes): the stream was abandoned`;
    this.#log.error("the watch stream sent an oversized line, resuming", {
      error: this.stats.lastError,
      resourceVersion: this.stats.resourceVersion,
    });
    return "oversize";
  }
}

/** `a "PodList" of v1`, `an answer without kind`: what an answer said it is, for messages. */
function describeKind(answer: { kind?: unknown; apiVersion?: unknown }): string {
  const k = typeof answer.kind === "string" && answer.kind !== ""
    ? `a "${answer.kind.slice(0, 60)}"`
    : "an answer without kind";
  const v = typeof answer.apiVersion === "string" && answer.apiVersion !== ""
    ? ` of "${answer.apiVersion.slice(0, 60)}"`
    : " without apiVersion";
  return k + v;
}
