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
import {
  Expired,
  Forbidden,
  type KubeClient,
  KubeError,
  type RequestAction,
  ResponseTooLarge,
  retryAfterMs,
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
  const {
    namespace,
    labelSelector,
    log = silentLogger,
    pageSize = 500,
    watchTimeoutSeconds = 60,
    readTimeoutMs = watchTimeoutSeconds * 1000 + 15_000,
    backoffBaseMs = 250,
    backoffCapMs = 30_000,
    resyncMs = 300_000,
    maxEventBytes = DEFAULT_MAX_EVENT_BYTES,
    random = Math.random,
    now = Date.now,
    sleep = (ms: number, signal: AbortSignal) => delay(ms, { signal, resolveOnAbort: true }),
    onChange,
    onSync,
  } = options;
  const path = collectionPath(kind as ResourceKind<unknown>, namespace);
  const store = new Map<string, T>();
  const stats: WatchStats = {
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
  const where = namespace === undefined ? "all namespaces" : `namespace "${namespace}"`;
  const wlog = log.child("kube.watch", {
    resource: kind.resource,
    ...(namespace === undefined ? {} : { namespace }),
  });
  const action = (verb: RequestAction["verb"]): RequestAction =>
    namespace === undefined
      ? { verb, resource: kind.resource, group: kind.group }
      : { verb, resource: kind.resource, group: kind.group, namespace };
  let nextResyncAt = Number.POSITIVE_INFINITY;
  const apiVersion = apiVersionOf(kind as ResourceKind<unknown>);
  // Whether the next completed list counts as a full sync that confirms the last one (the loop's shrink
  // guard waits for one): the first list, a scheduled resync, or a relist after the watch delivered
  // something. A relist forced by a watch that failed before delivering anything repeats the list that
  // just fed it, so it confirms nothing.
  let independent = true;

  function count(record: Record<string, number>, key: string): void {
    record[key] = (record[key] ?? 0) + 1;
  }

  function problem(key: string, reason: string, from: string): void {
    const known = stats.problems.get(key);
    stats.problems.set(key, { object: key, reason });
    if (known?.reason !== reason) {
      wlog.warn(`skipped a malformed ${kind.resource} object`, { object: key, reason, from });
    }
  }

  function baseQuery(): Record<string, string> {
    return labelSelector === undefined ? {} : { labelSelector };
  }

  async function list(signal: AbortSignal): Promise<void> {
    const fresh = new Map<string, T>();
    const malformed = new Map<string, ObjectProblem>();
    let cont: string | undefined;
    let listRv = "";
    let restartedPaging = false;
    for (;;) {
      const query: Record<string, string> = { ...baseQuery(), limit: String(pageSize) };
      if (cont !== undefined) query.continue = cont;
      let body: unknown;
      try {
        body = await client.getJson(path, query, action("list"), signal);
      } catch (error) {
        if (error instanceof Expired && cont !== undefined && !restartedPaging) {
          // The continue token expired mid-list: start the list over, once.
          wlog.info("list continue token expired, listing again from the start");
          restartedPaging = true;
          cont = undefined;
          fresh.clear();
          malformed.clear();
          continue;
        }
        throw error;
      }
      const shape = body as {
        kind?: unknown;
        apiVersion?: unknown;
        metadata?: { resourceVersion?: unknown; continue?: unknown };
        items?: unknown;
      };
      if (shape === null || typeof shape !== "object" || !Array.isArray(shape.items)) {
        throw new KubeError(
          `API server "${client.server()}" sent a ${kind.resource} list without items in ${where}`,
          client.server(),
        );
      }
      if (shape.kind !== `${kind.kind}List` || shape.apiVersion !== apiVersion) {
        throw new UnexpectedAnswer(
          `API server "${client.server()}" answered the list of ${kind.resource} in ${where} with ${
            describeKind(shape)
          }, not a ${kind.kind}List of ${apiVersion}: ignored`,
          client.server(),
        );
      }
      shape.items.forEach((item: unknown, index: number) => {
        const { key } = metaOf(item);
        const name = key ?? `items[${index}]`;
        const projected = kind.project(item);
        if (typeof projected === "string") malformed.set(name, { object: name, reason: projected });
        else if (key !== undefined) fresh.set(key, projected);
      });
      const next = shape.metadata?.continue;
      if (typeof next === "string" && next !== "") {
        cont = next;
        continue;
      }
      listRv = typeof shape.metadata?.resourceVersion === "string" ? shape.metadata.resourceVersion : "";
      break;
    }
    // Diff against the store: only real changes are emitted. A malformed item keeps its last good version.
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
    for (const [key, p] of malformed) problem(key, p.reason, "list");
    for (const key of [...stats.problems.keys()]) if (!malformed.has(key)) stats.problems.delete(key);
    stats.resourceVersion = listRv;
    if (independent) stats.fullSyncs++;
    independent = false;
    stats.lastFullSyncAt = now();
    stats.synced = true;
    stats.lastError = null;
    nextResyncAt = now() + resyncMs;
    wlog.debug("listed", { objects: store.size, changes: changes.length, resourceVersion: listRv });
    if (changes.length > 0) onChange?.(changes);
    onSync?.();
  }

  function handleLine(line: string): LineResult {
    if (line.trim() === "") return "ok";
    let event: { type?: unknown; object?: unknown };
    try {
      event = JSON.parse(line);
    } catch {
      count(stats.events, "GARBAGE");
      wlog.warn("the watch stream sent a line that is not JSON, resuming", {
        line: line.slice(0, 80),
        resourceVersion: stats.resourceVersion,
      });
      return "garbage";
    }
    if (event === null || typeof event !== "object" || typeof event.type !== "string") {
      count(stats.events, "GARBAGE");
      wlog.warn("the watch stream sent an event without a type, resuming", { line: line.slice(0, 80) });
      return "garbage";
    }
    const type = event.type;
    const object = event.object;
    const expected = type === "ERROR"
      ? { kind: "Status", apiVersion: "v1" }
      : { kind: kind.kind, apiVersion };
    const got = (object ?? {}) as { kind?: unknown; apiVersion?: unknown };
    if (got.kind !== expected.kind || got.apiVersion !== expected.apiVersion) {
      count(stats.events, "INVALID");
      stats.lastError =
        `API server "${client.server()}" sent a ${type} event on the watch of ${kind.resource} ` +
        `in ${where} with ${describeKind(got)}, not a ${expected.kind} of ${expected.apiVersion}: ignored`;
      wlog.error("the watch stream sent an event of the wrong kind, resuming", {
        error: stats.lastError,
        resourceVersion: stats.resourceVersion,
      });
      return "invalid";
    }
    count(stats.events, type);
    if (type === "ERROR") {
      const status = (object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
      if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone") return "expired";
      stats.lastError = `The watch of ${kind.resource} in ${where} ended with an error: ${
        typeof status.message === "string" ? status.message : JSON.stringify(object)
      }`;
      wlog.warn("watch error event", { error: stats.lastError });
      return "error";
    }
    const meta = metaOf(object);
    if (type === "BOOKMARK") {
      if (meta.resourceVersion !== undefined) stats.resourceVersion = meta.resourceVersion;
      return "event";
    }
    if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") {
      wlog.warn("ignored a watch event of unknown type", { type });
      return "ok";
    }
    if (meta.resourceVersion !== undefined) stats.resourceVersion = meta.resourceVersion;
    stats.lastEventAt = now();
    if (meta.key === undefined) {
      problem(`(${type} event)`, "no metadata.name", "watch");
      return "event";
    }
    const key = meta.key;
    if (type === "DELETED") {
      stats.problems.delete(key);
      if (store.has(key)) {
        const previous = store.get(key) as T;
        store.delete(key);
        onChange?.([{ type: "DELETED", key, previous }]);
      }
      return "event";
    }
    const projected = kind.project(object);
    if (typeof projected === "string") {
      problem(key, projected, "watch");
      return "event";
    }
    stats.problems.delete(key);
    if (!store.has(key)) {
      store.set(key, projected);
      onChange?.([{ type: "ADDED", key, value: projected }]);
    } else {
      const previous = store.get(key) as T;
      if (!same(previous, projected)) {
        store.set(key, projected);
        onChange?.([{ type: "MODIFIED", key, value: projected, previous }]);
      }
    }
    return "event";
  }

  /** Opens one watch and reads it until it ends; returns why it ended. Throws what opening threw. */
  async function watchOnce(signal: AbortSignal, onHealthy: () => void): Promise<Outcome> {
    const query: Record<string, string> = {
      ...baseQuery(),
      watch: "1",
      allowWatchBookmarks: "true",
      timeoutSeconds: String(Math.max(1, Math.round(watchTimeoutSeconds * (0.75 + 0.25 * random())))),
    };
    if (stats.resourceVersion !== "") query.resourceVersion = stats.resourceVersion;
    const stream = await client.openStream(path, query, action("watch"), signal);
    stats.lastError = null;
    const reader = stream.body.getReader();
    const decoder = new TextDecoder();
    const splitter = new LineSplitter();
    let interrupt: Outcome | undefined;
    const stop = (why: Outcome) => {
      interrupt ??= why;
      reader.cancel().catch(() => {});
    };
    const onAbort = () => stop("stopped");
    signal.addEventListener("abort", onAbort, { once: true });
    const resyncTimer = setTimeout(
      () => stop("resync"),
      Math.min(2 ** 31 - 1, Math.max(0, nextResyncAt - now())),
    );
    let readTimer: ReturnType<typeof setTimeout> | undefined;
    // Progress is a whole line: a server dripping bytes of a line that never ends is stalled all the same.
    const armReadTimer = () => {
      if (readTimer !== undefined) clearTimeout(readTimer);
      readTimer = setTimeout(() => stop("stalled"), readTimeoutMs);
    };
    let pending = 0;
    armReadTimer();
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (interrupt !== undefined) return interrupt;
          wlog.info("the watch stream broke, resuming", {
            error: errorText(error),
            resourceVersion: stats.resourceVersion,
          });
          return "dropped";
        }
        if (interrupt !== undefined) return interrupt;
        if (chunk.done) {
          const rest = splitter.rest() + decoder.decode();
          if (rest.trim() !== "") {
            // An unterminated last line: the connection was cut mid-event.
            return "dropped";
          }
          return "closed";
        }
        pending = pendingLineBytes(pending, chunk.value);
        if (pending > maxEventBytes) {
          stats.lastError =
            `API server "${client.server()}" sent a watch line of ${kind.resource} in ${where} ` +
            `longer than ${maxEventBytes} bytes (--max-event-bytes): the stream was abandoned`;
          wlog.error("the watch stream sent an oversized line, resuming", {
            error: stats.lastError,
            resourceVersion: stats.resourceVersion,
          });
          return "oversize";
        }
        const lines = splitter.push(decoder.decode(chunk.value, { stream: true }));
        if (lines.length > 0) armReadTimer();
        for (const line of lines) {
          const result = handleLine(line);
          if (result === "event") onHealthy();
          else if (result !== "ok") return result;
        }
      }
    } finally {
      clearTimeout(resyncTimer);
      if (readTimer !== undefined) clearTimeout(readTimer);
      signal.removeEventListener("abort", onAbort);
      await reader.cancel().catch(() => {});
      reader.releaseLock();
      await stream.close();
    }
  }

  async function run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    let listReason = "initial";
    while (!signal.aborted) {
      try {
        if (!needList && now() >= nextResyncAt) {
          needList = true;
          independent = true;
          listReason = "resync";
          count(stats.restarts, "resync");
        }
        if (needList) {
          if (listReason !== "initial") wlog.debug("listing", { reason: listReason });
          await list(signal);
          needList = false;
        }
        let healthy = false;
        const openedAt = now();
        const outcome = await watchOnce(signal, () => {
          healthy = true;
          independent = true;
          failures = 0;
        });
        if (outcome === "stopped") break;
        count(stats.restarts, outcome);
        if (outcome === "expired") {
          wlog.info("the watch expired (410), relisting", { resourceVersion: stats.resourceVersion });
          needList = true;
          listReason = "expired";
          if (!healthy) failures++;
          await sleep(backoffDelay(failures, backoffBaseMs, backoffCapMs, random), signal);
          continue;
        }
        if (outcome === "resync") {
          needList = true;
          independent = true;
          listReason = "resync";
          continue;
        }
        if (outcome === "stalled") {
          wlog.warn(`the watch stream was silent for ${readTimeoutMs}ms, reconnecting`, {
            resourceVersion: stats.resourceVersion,
          });
        }
        // A stream the server ends normally is reopened at once, unless it ended at once and empty.
        if (outcome === "closed" && (healthy || now() - openedAt >= 1000)) failures = 0;
        else failures++;
        await sleep(backoffDelay(failures, backoffBaseMs, backoffCapMs, random), signal);
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Expired) {
          count(stats.restarts, "expired");
          wlog.info("the resourceVersion expired (410), relisting", {
            resourceVersion: stats.resourceVersion,
          });
          needList = true;
          listReason = "expired";
          failures++;
          await sleep(backoffDelay(failures, backoffBaseMs, backoffCapMs, random), signal);
          continue;
        }
        if (!(error instanceof KubeError)) throw error;
        failures++;
        count(
          stats.restarts,
          error instanceof UnexpectedAnswer
            ? "invalid"
            : error instanceof ResponseTooLarge
            ? "oversize"
            : "error",
        );
        stats.lastError = error.message;
        const waitMs = Math.max(
          backoffDelay(failures, backoffBaseMs, backoffCapMs, random),
          retryAfterMs(error),
        );
        const fields = { error: error.message, retryInMs: waitMs, attempt: failures };
        if (error instanceof Unauthorized || error instanceof Forbidden) {
          wlog.error("API access denied", fields);
        } else if (error instanceof UnexpectedAnswer || error instanceof ResponseTooLarge) {
          wlog.error("the API server sent an answer that cannot be used", fields);
        } else wlog.warn("API request failed", fields);
        await sleep(waitMs, signal);
      }
    }
  }

  return { store, stats, run };
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
