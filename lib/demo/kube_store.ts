/**
 * The test API server's objects and their history: one global resourceVersion, every version of every key
 * since the last compaction ("etcd"), the watch cache per resource, and the writes (create, update, delete)
 * that change them, each committed as an event handed to the watches.
 *
 * @module
 */
import { freeNodePort, nodePortsOf, splitNodeWrite } from "./kube_nodes.ts";
import { notFound, nowTimestamp, resourceLabel } from "./kube_api.ts";
import type { HttpStream } from "./kube_http.ts";
import {
  encodeJson,
  type FieldRequirement,
  type JsonObject,
  type JsonValue,
  type LabelRequirement,
  managedFieldsAfter,
  meta,
  normalizeMetadata,
  normalizeObject,
  type ResourceName,
  RESOURCES,
  type ResourceType,
  StatusError,
} from "./kube_objects.ts";

/** One change as the watch cache keeps it. */
export interface CacheEvent {
  /** The event type. */
  type: "ADDED" | "MODIFIED" | "DELETED";
  /** Its resourceVersion. */
  rv: number;
  /** The object after the change (for DELETED: the last content with the new RV). */
  obj: JsonObject;
  /** The object before the change. */
  prev: JsonObject | null;
}

/** One open watch stream. */
export interface Watch {
  /** The watched resource. */
  type: ResourceType;
  /** The watched namespace; undefined: all. */
  namespace: string | undefined;
  /** The label selector. */
  labels: LabelRequirement[];
  /** The field selector. */
  fields: FieldRequirement[];
  /** The requested RV: live events at or below it are not sent (a too-large RV stays silent). */
  fromRV: number;
  /** Bookmarks need an event of the type newer than this (v1.26). */
  startRV: number;
  /** Whether the client allowed bookmarks. */
  bookmarks: boolean;
  /** The response stream. */
  stream: HttpStream;
  /** Whether the watch sends nothing any more (fault injection). */
  stalled: boolean;
}

/** Everything the server keeps about one resource. */
export class ResourceState {
  /** MVCC history ("etcd"): every version of every key since the last compaction. */
  readonly versions = new Map<string, Array<{ rv: number; obj: JsonObject | null }>>();
  /** Current objects in watch-cache order (changed objects move to the end). */
  readonly current = new Map<string, JsonObject>();
  /** The watch cache's events, oldest first. */
  history: CacheEvent[] = [];
  /** The oldest RV a watch may start from. */
  windowStart = 0;
  /** RV of the watch cache (lists served from the cache). */
  cacheRV = 0;
  /** RV of the last event since start; 0 = none, then no bookmarks. */
  lastEventRV = 0;
  /** The open watches. */
  readonly watches = new Set<Watch>();
  /** Lists waiting for the cache to reach an RV. */
  readonly rvWaiters = new Set<() => void>();
  /** State of `type`. */
  constructor(readonly type: ResourceType) {}
}

/** What {@linkcode KubeStore} reads of the server's options. */
export interface StoreOptions {
  /** Objects existing before the server "started" (no watch events for them). */
  objects?: Partial<Record<ResourceName, JsonObject[]>>;
  /** The global resourceVersion before the first object. @default {100} */
  startResourceVersion?: number;
  /** Watch-cache events kept per resource. @default {1000} */
  historyLimit?: number;
  /** Whether objects carry (approximate) managedFields. @default {true} */
  managedFields?: boolean;
  /** Called with every object before it is stored; throwing refuses the write. */
  admit?: (resource: ResourceName, object: JsonObject) => void;
}

/** The objects of every resource, their versions, and the writes that change them. */
export class KubeStore {
  readonly #options: StoreOptions;
  readonly #publish: (state: ResourceState, event: CacheEvent) => void;
  readonly #states: Record<ResourceName, ResourceState>;
  #rv: number;
  #compactedRV = 0;
  #nextIp = 10;
  #seeding = false;

  /** Seeds `options.objects` without events; `publish` receives every later change. */
  constructor(options: StoreOptions, publish: (state: ResourceState, event: CacheEvent) => void) {
    this.#options = options;
    this.#publish = publish;
    this.#rv = options.startResourceVersion ?? 100;
    this.#states = {
      endpoints: new ResourceState(RESOURCES.endpoints),
      services: new ResourceState(RESOURCES.services),
      endpointslices: new ResourceState(RESOURCES.endpointslices),
      secrets: new ResourceState(RESOURCES.secrets),
      nodes: new ResourceState(RESOURCES.nodes),
    };
    this.#seeding = true;
    for (const [name, objects] of Object.entries(options.objects ?? {})) {
      for (const o of objects ?? []) this.upsert(name as ResourceName, o, "kube-server-test");
    }
    this.#seeding = false;
    for (const state of Object.values(this.#states)) {
      state.windowStart = this.#rv;
      state.cacheRV = this.#rv;
    }
  }

  /** The current global resourceVersion (the "etcd revision"). */
  get rv(): number {
    return this.#rv;
  }

  /** The RV of the last compaction: older list RVs and continue tokens are gone. */
  get compactedRV(): number {
    return this.#compactedRV;
  }

  /** The state of one resource, or of all. */
  states(resource?: ResourceName): ResourceState[] {
    return resource ? [this.#states[resource]] : Object.values(this.#states);
  }

  /** The state of one resource. */
  state(resource: ResourceName): ResourceState {
    return this.#states[resource];
  }

  /** The current object at `namespace/name`, not copied. */
  current(
    resource: ResourceName,
    namespace: string | undefined,
    name: string | undefined,
  ): JsonObject | undefined {
    return this.#states[resource].current.get(`${namespace ?? ""}/${name}`);
  }

  /** Creates or replaces an object (namespace defaults to "default"); returns the stored object. */
  upsert(resource: ResourceName, object: JsonObject, manager: string): JsonObject {
    const type = RESOURCES[resource];
    const m = meta(object);
    const namespace = type.clusterScoped
      ? ""
      : typeof m.namespace === "string" && m.namespace !== ""
      ? m.namespace
      : "default";
    const o = { ...object, metadata: { ...m, namespace } };
    const existing = this.#states[resource].current.has(`${namespace}/${m.name}`);
    return existing ? this.update(type, o, manager, false).obj : this.create(type, o, manager);
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

  /** Compacts history at the current RV (see `KubeServer.compact`). */
  compact(keepWatchHistory: boolean): void {
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
      if (!keepWatchHistory) {
        // The type's own cache RV (not the global one), so an informer's list with RV=0 can still watch.
        state.history = [];
        state.windowStart = state.cacheRV;
      }
    }
  }

  /** Reads the "etcd" snapshot at `rv`: objects sorted by key. */
  readAt(state: ResourceState, rv: number): Array<[string, JsonObject]> {
    const out: Array<[string, JsonObject]> = [];
    for (const [key, versions] of state.versions) {
      let found: JsonObject | null = null;
      for (const v of versions) if (v.rv <= rv) found = v.obj;
      if (found) out.push([key, found]);
    }
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Creates an object; 409 when it exists, 422 without a name or generateName. */
  create(type: ResourceType, input: JsonObject, manager: string): JsonObject {
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
      throw new StatusError(409, `${resourceLabel(type)} "${m.name}" already exists`, "AlreadyExists", {
        ...conflictDetails(type, m.name as string),
      });
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
  update(
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
      if (type.createOnUpdate) return { obj: this.create(type, written, manager), created: true };
      throw notFound(type, String(meta(written).name));
    }
    const input = type.name === "nodes" ? splitNodeWrite(prev, written, through) : written;
    const m = { ...meta(input) };
    const pm = meta(prev);
    if (
      checkRV && typeof m.resourceVersion === "string" && m.resourceVersion !== "" &&
      m.resourceVersion !== pm.resourceVersion
    ) {
      throw new StatusError(
        409,
        `Operation cannot be fulfilled on ${
          resourceLabel(type)
        } "${m.name}": the object has been modified; ` +
          "please apply your changes to the latest version and try again",
        "Conflict",
        conflictDetails(type, String(m.name)),
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
    if (comparable(next) === comparable(prev)) return { obj: prev, created: false };
    if (type.generation && specOf(next) !== specOf(prev)) {
      meta(next).generation = Number(pm.generation ?? 1) + 1;
    }
    this.#withManagedFields(type, next, pm.managedFields, manager);
    this.#commit(state, key, next, prev);
    return { obj: next, created: false };
  }

  /** Stores a change under a new global RV, records the event and publishes it to watches. */
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
    this.#publish(state, event);
    for (const wake of state.rvWaiters) wake();
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
}

function conflictDetails(type: ResourceType, name: string): JsonObject {
  const details: JsonObject = { name };
  if (type.group) details.group = type.group;
  details.kind = type.name;
  return details;
}

function comparable(o: JsonObject): string {
  const copy = { ...o, metadata: { ...meta(o) } };
  delete (copy.metadata as JsonObject).managedFields;
  return encodeJson(copy);
}

function specOf(o: JsonObject): string {
  const { metadata: _, ...rest } = o;
  return encodeJson([rest, meta(o).labels ?? null]);
}
