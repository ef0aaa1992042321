/**
 * The test API server's lists: from the watch cache (resourceVersion=0, or any RV without a limit: insertion
 * order, the type's cache RV, a too-large RV waits then 504) or from the "etcd" snapshot (sorted, paginated
 * with continue tokens and remainingItemCount, 410 for compacted RVs and tokens), as kube-apiserver v1.26.
 *
 * @module
 */
import { decodeContinue, encodeContinue, invalidRV, parseRV, tooLarge } from "./kube_api.ts";
import {
  type FieldRequirement,
  type JsonObject,
  type LabelRequirement,
  matchesFields,
  matchesLabels,
  meta,
  parseFieldSelector,
  parseLabelSelector,
  StatusError,
  stringMap,
} from "./kube_objects.ts";
import { fieldLabels } from "./kube_secrets.ts";
import type { KubeStore, ResourceState } from "./kube_store.ts";
import type { Timers } from "./kube_timers.ts";

/** What {@linkcode listObjects} needs of the server. */
export interface ListContext {
  /** The objects. */
  store: KubeStore;
  /** The server's timers. */
  timers: Timers;
  /** How long a cache list with a too-large RV waits before 504. */
  tooLargeWaitMs: number;
  /** Whether the server is closed (a waiting list then gives up). */
  closed: () => boolean;
}

interface ListParams {
  rvParam: string;
  match: string;
  cont: string;
  limit: number;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

const CONTINUE_TOO_OLD =
  "The provided continue parameter is too old to display a consistent list result. You can start a " +
  "new list without the continue parameter, or use the continue token in this response to retrieve " +
  "the remainder of the results. Continuing with the provided token results in an inconsistent list " +
  "- objects that were created, modified, or deleted between the time the first chunk was returned " +
  "and now may show up in the list.";

/** Answers a list request of one resource (in `namespace`, or all); throws a StatusError the client gets. */
export async function listObjects(
  context: ListContext,
  state: ResourceState,
  namespace: string | undefined,
  query: URLSearchParams,
): Promise<JsonObject> {
  const params = listParams(state, query);
  const { rvParam, match, cont, limit, labels, fields } = params;
  const selected = (o: JsonObject): boolean => {
    const m = meta(o);
    return (namespace === undefined || m.namespace === namespace) &&
      matchesLabels(labels, stringMap(m.labels)) && matchesFields(fields, o);
  };
  const listOf = (metadata: JsonObject, items: JsonObject[]): JsonObject => ({
    kind: state.type.listKind,
    apiVersion: state.type.apiVersion,
    metadata,
    items,
  });
  const fromCache = rvParam !== "" && cont === "" && (limit === 0 || rvParam === "0") && match !== "Exact";
  if (fromCache) {
    const rv = parseRV(rvParam);
    if (rv === undefined) throw new StatusError(500, invalidRV(rvParam), undefined);
    if (!(await waitForCacheRV(context, state, rv))) throw tooLarge(rv, state.cacheRV);
    return listOf({ resourceVersion: String(state.cacheRV) }, [...state.current.values()].filter(selected));
  }
  const { snapshot, start } = snapshotOf(context.store, params);
  const relative = (key: string): string => (namespace === undefined ? key : key.slice(key.indexOf("/") + 1));
  const items = context.store.readAt(state, snapshot).filter(([key, o]) =>
    selected(o) && relative(key) >= start
  );
  const metadata: JsonObject = { resourceVersion: String(snapshot) };
  if (limit > 0 && items.length > limit) {
    const page = items.slice(0, limit);
    metadata.continue = encodeContinue(snapshot, relative(page[page.length - 1]![0]) + "\u0000");
    if (labels.length === 0 && fields.length === 0) metadata.remainingItemCount = items.length - limit;
    return listOf(metadata, page.map(([, o]) => o));
  }
  return listOf(metadata, items.map(([, o]) => o));
}

function listParams(state: ResourceState, query: URLSearchParams): ListParams {
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
  const fields = parseFieldSelector(query.get("fieldSelector") ?? "", fieldLabels(state.type));
  return { rvParam, match, cont, limit, labels, fields };
}

/** The snapshot RV a list reads and the key it starts after (from a continue token). */
function snapshotOf(store: KubeStore, { rvParam, match, cont, limit }: ListParams): {
  snapshot: number;
  start: string;
} {
  if (cont !== "") {
    if (rvParam !== "") {
      throw new StatusError(
        400,
        "specifying resource version is not allowed when using continue",
        "BadRequest",
      );
    }
    const token = decodeContinue(cont);
    if (token.rv === -1) return { snapshot: store.rv, start: token.start };
    if (token.rv < store.compactedRV) {
      throw new StatusError(410, CONTINUE_TOO_OLD, "Expired", undefined, {})
        .withContinue(encodeContinue(-1, token.start));
    }
    return { snapshot: token.rv, start: token.start };
  }
  if (rvParam === "") return { snapshot: store.rv, start: "" };
  const rv = parseRV(rvParam);
  if (rv === undefined) {
    throw new StatusError(400, `invalid resource version: ${invalidRV(rvParam)}`, "BadRequest");
  }
  if (rv > store.rv) throw tooLarge(rv, store.rv);
  const exact = match === "Exact" || (match === "" && limit > 0);
  if (!exact || rv <= 0) return { snapshot: store.rv, start: "" };
  if (rv < store.compactedRV) {
    throw new StatusError(410, "The resourceVersion for the provided list is too old.", "Expired");
  }
  return { snapshot: rv, start: "" };
}

async function waitForCacheRV(context: ListContext, state: ResourceState, rv: number): Promise<boolean> {
  if (state.cacheRV >= rv) return true;
  await new Promise<void>((resolve) => {
    const wake = (): void => {
      if (state.cacheRV >= rv || context.closed()) done();
    };
    const timer = context.timers.set(() => done(), context.tooLargeWaitMs);
    const done = (): void => {
      context.timers.clear(timer);
      state.rvWaiters.delete(wake);
      resolve();
    };
    state.rvWaiters.add(wake);
  });
  return state.cacheRV >= rv;
}
