/**
 * The test API server's watches: a watch request opened (replay from an RV or synthetic ADDED events, 410
 * for an RV older than the window), live events sent to the watches whose selectors they match (objects
 * leaving a selector become DELETED, returning ones ADDED), bookmarks and the timeout end.
 *
 * @module
 */
import { invalidRV, parseBool, parseRV } from "./kube_api.ts";
import type { HttpExchange, HttpStream } from "./kube_http.ts";
import {
  bookmarkObject,
  encodeJson,
  type JsonObject,
  matchesFields,
  matchesLabels,
  meta,
  parseFieldSelector,
  parseLabelSelector,
  type ResourceType,
  StatusError,
  statusObject,
  stringMap,
  withKind,
} from "./kube_objects.ts";
import { fieldLabels } from "./kube_secrets.ts";
import type { CacheEvent, ResourceState, Watch } from "./kube_store.ts";
import type { Timer, Timers } from "./kube_timers.ts";

/** What {@linkcode startWatch} reads of the server's options. */
export interface WatchOptions {
  /** A bookmark is due this long before a watch's timeout. @default {2000} */
  bookmarkBeforeTimeoutMs?: number;
  /** Period of bookmarks on long watches. @default {60000} */
  bookmarkIntervalMs?: number;
  /** Server-side timeout of a watch without timeoutSeconds. @default {1800} */
  defaultWatchTimeoutSeconds?: number;
}

const REPLAY_CHUNK = 2048;
const encoder = new TextEncoder();

/** Sends a committed event to every open, not stalled watch of its resource that wants it. */
export function publishEvent(state: ResourceState, event: CacheEvent): void {
  for (const watch of state.watches) {
    if (watch.stalled || event.rv <= watch.fromRV) continue;
    const out = eventFor(watch, event);
    if (out) writeEvent(watch, out[0], withKind(watch.type, out[1]));
  }
}

/** Writes one event line on a watch stream. */
export function writeEvent(watch: Watch, type: string, object: JsonObject): void {
  watch.stream.write(encodeJson({ type, object }) + "\n");
}

/**
 * Answers a watch request: 200 with the replayed or synthetic events, then live events until the timeout
 * (or 200 with one 410 ERROR event when the RV is older than the window). Throws a StatusError on a bad
 * resourceVersion or timeoutSeconds.
 */
export function startWatch(
  ex: HttpExchange,
  state: ResourceState,
  namespace: string | undefined,
  headers: Record<string, string>,
  context: { options: WatchOptions; timers: Timers },
): void {
  const type = state.type;
  const query = ex.request.url.searchParams;
  const { rv, labels, fields, timeoutSeconds } = watchParams(type, query, context.options);
  const stream = ex.stream(200, headers);
  if (rv > 0 && rv < state.windowStart) {
    const expired = statusObject(410, `too old resource version: ${rv} (${state.windowStart})`, "Expired");
    stream.write(encodeJson({ type: "ERROR", object: expired }) + "\n");
    stream.end();
    return;
  }
  const bookmarks = parseBool(query.get("allowWatchBookmarks"));
  const watch: Watch = {
    type,
    namespace,
    labels,
    fields,
    fromRV: rv,
    startRV: rv,
    bookmarks,
    stream,
    stalled: false,
  };
  replay(watch, state, stream);
  state.watches.add(watch);
  const timers = scheduleWatchEnd(watch, state, timeoutSeconds * 1000, context);
  stream.onClose(() => {
    state.watches.delete(watch);
    for (const t of timers) context.timers.clear(t);
  });
}

function watchParams(
  type: ResourceType,
  query: URLSearchParams,
  options: WatchOptions,
): Pick<Watch, "labels" | "fields"> & { rv: number; timeoutSeconds: number } {
  const rvParam = query.get("resourceVersion") ?? "";
  const rv = rvParam === "" ? 0 : parseRV(rvParam);
  if (rv === undefined) throw new StatusError(500, invalidRV(rvParam), undefined);
  const labels = parseLabelSelector(query.get("labelSelector") ?? "");
  const fields = parseFieldSelector(query.get("fieldSelector") ?? "", fieldLabels(type));
  const timeoutParam = query.get("timeoutSeconds");
  const timeoutSeconds = timeoutParam === null || timeoutParam === "0"
    ? options.defaultWatchTimeoutSeconds ?? 1800
    : Number(timeoutParam);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
    throw new StatusError(400, `timeoutSeconds: Invalid value: "${timeoutParam}"`, "BadRequest");
  }
  return { rv, labels, fields, timeoutSeconds };
}

// Replayed events go out coalesced into 2048-byte chunks, as a real apiserver's do (boundaries mid-event).
function replay(watch: Watch, state: ResourceState, stream: HttpStream): void {
  const initial: Array<[string, JsonObject]> = [];
  if (watch.fromRV === 0) {
    for (const o of state.current.values()) if (matches(watch, o)) initial.push(["ADDED", o]);
    if (initial.length > 0) watch.startRV = state.cacheRV;
  } else {
    for (const event of state.history) {
      if (event.rv <= watch.fromRV) continue;
      const out = eventFor(watch, event);
      if (out) initial.push(out);
      watch.startRV = event.rv;
    }
  }
  if (initial.length === 0) return;
  const bytes = encoder.encode(
    initial.map(([t, o]) => encodeJson({ type: t, object: withKind(watch.type, o) }) + "\n").join(""),
  );
  for (let i = 0; i < bytes.length; i += REPLAY_CHUNK) stream.write(bytes.subarray(i, i + REPLAY_CHUNK));
}

function scheduleWatchEnd(
  watch: Watch,
  state: ResourceState,
  timeoutMs: number,
  { options, timers }: { options: WatchOptions; timers: Timers },
): Timer[] {
  const pending: Timer[] = [];
  pending.push(timers.set(() => {
    if (!watch.stalled) watch.stream.end();
  }, timeoutMs));
  if (watch.bookmarks) {
    const due = timeoutMs - (options.bookmarkBeforeTimeoutMs ?? 2000);
    if (due > 0) pending.push(timers.set(() => maybeBookmark(watch, state), due));
    const interval = options.bookmarkIntervalMs ?? 60_000;
    const periodic = (): void => {
      maybeBookmark(watch, state);
      pending.push(timers.set(periodic, interval));
    };
    if (interval < timeoutMs) pending.push(timers.set(periodic, interval));
  }
  return pending;
}

function maybeBookmark(watch: Watch, state: ResourceState): void {
  if (watch.stalled || watch.stream.closed) return;
  if (state.lastEventRV > 0 && state.lastEventRV > watch.startRV) {
    writeEvent(watch, "BOOKMARK", bookmarkObject(watch.type, state.lastEventRV));
  }
}

function matches(watch: Watch, o: JsonObject | null): boolean {
  if (!o) return false;
  const m = meta(o);
  return (watch.namespace === undefined || m.namespace === watch.namespace) &&
    matchesLabels(watch.labels, stringMap(m.labels)) && matchesFields(watch.fields, o);
}

function eventFor(watch: Watch, event: CacheEvent): [string, JsonObject] | undefined {
  const now = matches(watch, event.obj);
  if (event.type === "ADDED") return now ? ["ADDED", event.obj] : undefined;
  if (event.type === "DELETED") return now ? ["DELETED", event.obj] : undefined;
  const before = matches(watch, event.prev);
  if (before && now) return ["MODIFIED", event.obj];
  if (now) return ["ADDED", event.obj];
  if (before) {
    const prev = event.prev!;
    return ["DELETED", { ...prev, metadata: { ...meta(prev), resourceVersion: String(event.rv) } }];
  }
  return undefined;
}
