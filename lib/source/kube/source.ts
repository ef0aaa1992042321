/**
 * The Kubernetes source: Endpoints (annotations on the Endpoints object), or EndpointSlices joined to
 * their Service by the `kubernetes.io/service-name` label (annotations on the Service), watched in every
 * namespace or in the given ones, seen by the loop as a snapshot of endpoint sets plus change events.
 *
 * Memory: the store keeps projections only, and an object without any routing annotation keeps just
 * its key (`null`): the model ignores it, so its churn (pods coming and going) notifies no one.
 *
 * @module
 */
import type { Settings } from "../../settings/options.ts";
import { errorText, type Logger, silentLogger } from "../../log.ts";
import type { Source, SourceStatus } from "../source.ts";
import {
  type AuthSettings,
  type Connection,
  insecureNote,
  resolveConnection,
  type ResolveOptions,
} from "./auth.ts";
import { createKubeClient, type KubeClient, type KubeClientOptions } from "./client.ts";
import {
  describeIssues,
  Endpoints,
  EndpointSlice,
  joinSlices,
  type ObjectProblem,
  projectEndpoints,
  projectService,
  projectSlice,
  Service,
  SERVICE_NAME_LABEL,
  type ServiceView,
  type SliceView,
} from "./objects.ts";
import { type EndpointSet } from "../../model/endpoints.ts";
import { nodePolicyOf, NODES_KIND, SERVICE_FACTS_KIND, wantsNodePort, withNodePort } from "./nodeport.ts";
import type { NodePolicy, NodeView, ServiceFacts } from "../../model/nodeport_input.ts";
import { type Change, createWatcher, type ResourceKind, type Watcher, type WatcherOptions } from "./watch.ts";
import { SECRETS_KIND } from "./secrets.ts";
import type { SecretView } from "../../model/secret_view.ts";
import { TLS_SECRET_ANNOTATION } from "../../model/tls_annotations.ts";

/** v1 Endpoints, projected; `null` for an object with no routing annotation. */
export const ENDPOINTS_KIND: ResourceKind<EndpointSet | null> = {
  resource: "endpoints",
  kind: "Endpoints",
  group: "",
  version: "v1",
  project(object) {
    const parsed = Endpoints.safeParse(object);
    if (!parsed.success) return `invalid Endpoints: ${describeIssues(parsed.error)}`;
    const set = projectEndpoints(parsed.data);
    return Object.keys(set.annotations).length > 0 ? set : null;
  },
};

/** discovery.k8s.io/v1 EndpointSlices, projected. */
export const ENDPOINTSLICES_KIND: ResourceKind<SliceView | null> = {
  resource: "endpointslices",
  kind: "EndpointSlice",
  group: "discovery.k8s.io",
  version: "v1",
  project(object) {
    const parsed = EndpointSlice.safeParse(object);
    if (!parsed.success) return `invalid EndpointSlice: ${describeIssues(parsed.error)}`;
    // No service-name label: a slice of no Service (not a malformed one to keep the last version of).
    if (!parsed.data.metadata.labels?.[SERVICE_NAME_LABEL]) return null;
    return projectSlice(parsed.data);
  },
};

/** v1 Services, projected; `null` for a Service with no routing annotation. */
export const SERVICES_KIND: ResourceKind<ServiceView | null> = {
  resource: "services",
  kind: "Service",
  group: "",
  version: "v1",
  project(object) {
    const parsed = Service.safeParse(object);
    if (!parsed.success) return `invalid Service: ${describeIssues(parsed.error)}`;
    const view = projectService(parsed.data);
    return Object.keys(view.annotations).length > 0 ? view : null;
  },
};

/** The settings the Kubernetes source reads. */
export type KubeSourceSettings =
  & AuthSettings
  & Pick<Settings, "resource" | "namespace" | "labelSelector" | "interval">
  & Partial<Pick<Settings, "maxResponseBytes" | "maxEventBytes" | "secretLabelSelector" | "tls">>
  & Partial<Pick<Settings, "backendMode" | "nodeAddressType" | "nodeSelector" | "nodeIncludeUnschedulable">>;

/** Timing and paging knobs of the watches (tests make them small). */
export type WatchTuning = Pick<
  WatcherOptions<unknown>,
  | "pageSize"
  | "watchTimeoutSeconds"
  | "readTimeoutMs"
  | "backoffBaseMs"
  | "backoffCapMs"
  | "random"
  | "now"
  | "sleep"
>;

/** Options of {@linkcode createKubeSource}. */
export interface KubeSourceOptions extends ResolveOptions, WatchTuning {
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** An already resolved connection (skips reading settings, kubeconfig and service account). */
  connection?: Connection;
  /** Time allowed for connect + headers of a request. @default {30000} */
  requestTimeoutMs?: KubeClientOptions["requestTimeoutMs"];
  /**
   * Watch TLS Secrets from the start (`--default-certificate` names one); else only once an object
   * carries `haconfd.io/tls-secret`. @default {false}
   */
  watchSecrets?: boolean;
}

/** What the routed objects (Endpoints, annotated Services) have in common: their annotations. */
type RoutedView = { annotations: Record<string, string> };

/** A Kubernetes {@linkcode Source}, with the resolved connection's description for logs and status. */
export interface KubeSource extends Source {
  /** Who the source is to the API (certificate / token subject), once running. */
  identity(): string;
  /** See {@linkcode Source.takeChanges}: the Kubernetes source keeps the journal. */
  takeChanges(): Map<string, EndpointSet | null> | null;
  /** The TLS Secrets held (none until a service names one or `watchSecrets`), by namespace/name. */
  secrets(): SecretView[];
}

function byName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}

function sum(records: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) total[key] = (total[key] ?? 0) + value;
  }
  return total;
}

/** The watch options shared by every watcher of the source: resync, paging, timing, the label selector. */
function watchTuning(settings: KubeSourceSettings, options: KubeSourceOptions): WatcherOptions<unknown> {
  const tuning: WatcherOptions<unknown> = { resyncMs: settings.interval };
  if (options.log !== undefined) tuning.log = options.log;
  if (settings.maxEventBytes !== undefined) tuning.maxEventBytes = settings.maxEventBytes;
  const keys = ["pageSize", "watchTimeoutSeconds", "readTimeoutMs", "backoffBaseMs", "backoffCapMs"] as const;
  for (const key of keys) {
    const value = options[key];
    if (value !== undefined) tuning[key] = value;
  }
  if (options.random !== undefined) tuning.random = options.random;
  if (options.now !== undefined) tuning.now = options.now;
  if (options.sleep !== undefined) tuning.sleep = options.sleep;
  if (settings.labelSelector !== undefined) tuning.labelSelector = settings.labelSelector;
  return tuning;
}

/** The part of a {@linkcode SourceStatus} the watchers' counters make (the rest is the source's settings). */
function watchersStatus(
  watchers: readonly Watcher<unknown>[],
): Omit<SourceStatus, "kind" | "endpoint" | "resource" | "namespaces"> {
  const stats = watchers.map((w) => w.stats);
  const problems: ObjectProblem[] = stats.flatMap((s) => [...s.problems.values()])
    .sort((a, b) => a.object.localeCompare(b.object));
  const lastFull = stats.map((s) => s.lastFullSyncAt);
  const lastEvents = stats.map((s) => s.lastEventAt).filter((t): t is number => t !== null);
  return {
    synced: watchers.length > 0 && stats.every((s) => s.synced),
    fullSyncs: stats.length > 0 ? Math.min(...stats.map((s) => s.fullSyncs)) : 0,
    lastEventAt: lastEvents.length > 0 ? Math.max(...lastEvents) : null,
    lastFullSyncAt: lastFull.length > 0 && lastFull.every((t) => t !== null)
      ? Math.min(...lastFull as number[])
      : null,
    events: sum(stats.map((s) => s.events)),
    restarts: sum(stats.map((s) => s.restarts)),
    objects: watchers.reduce((n, w) => n + w.store.size, 0),
    lastError: stats.map((s) => s.lastError).find((e) => e !== null) ?? null,
    problems,
  };
}

/** The watchers of the last run, by what they watch (created by run(): they need the client). */
interface Watchers {
  endpoints: Watcher<EndpointSet | null>[];
  slices: Watcher<SliceView | null>[];
  services: Watcher<ServiceView | null>[];
  secrets: Watcher<SecretView | null>[];
  /** Backend mode nodeport (lib/source/kube/nodeport.ts): every Service's node ports, and the Nodes. */
  facts: Watcher<ServiceFacts>[];
  nodes: Watcher<NodeView>[];
}

/** The watches started on demand that have not listed yet, as what the source is doing ("listing TLS Secrets"). */
function lateListing(w: Watchers): string[] {
  const late: [string, Watcher<unknown>[]][] = [
    ["TLS Secrets", w.secrets],
    ["Nodes and Services' node ports", [...w.nodes, ...w.facts]],
  ];
  const listing = late.filter(([, watchers]) => watchers.some((x) => !x.stats.synced));
  return listing.map(([what]) => `listing ${what}`);
}

function noWatchers(): Watchers {
  return { endpoints: [], slices: [], services: [], secrets: [], facts: [], nodes: [] };
}

/** What a run holds: its client, its signal, and every watcher's run (a watch started later joins them). */
interface Running {
  client: KubeClient;
  signal: AbortSignal;
  runs: Promise<void>[];
}

/** See {@linkcode createKubeSource}. */
class KubeWatchSource implements KubeSource {
  readonly #settings: KubeSourceSettings;
  readonly #connection: Connection;
  readonly #log: Logger;
  readonly #tuning: WatcherOptions<unknown>;
  readonly #clientOptions: KubeClientOptions;
  readonly #watchSecrets: boolean;
  readonly #namespaces: (string | undefined)[];
  readonly #nodePolicy: NodePolicy;
  readonly #listeners: (() => void)[] = [];
  readonly #listingListeners: ((sets: readonly EndpointSet[]) => void)[] = [];
  // service key → its slices' keys.
  readonly #sliceIndex = new Map<string, Set<string>>();
  // The set handed on last for a stored set: the same object while its facts and the nodes are unchanged,
  // so that the model store (which compares by reference) redoes nothing for it.
  readonly #attached = new WeakMap<EndpointSet, EndpointSet>();
  #w: Watchers = noWatchers();
  #cache: EndpointSet[] | undefined;
  // Keys (`namespace/name`) of the endpoint sets changed since takeChanges() last ran; null: unknown
  // (new watchers), the consumer reads the whole snapshot.
  #journal: Set<string> | null = null;
  #nodes: NodeView[] | undefined;
  #running: Running | undefined;
  // Whether every watch of this run has listed once: later watches' first lists no longer unsync it.
  #firstSync = false;

  constructor(settings: KubeSourceSettings, connection: Connection, options: KubeSourceOptions) {
    this.#settings = settings;
    this.#connection = connection;
    this.#log = (options.log ?? silentLogger).child("kube", { resource: settings.resource });
    this.#tuning = watchTuning(settings, options);
    this.#clientOptions = { log: this.#log };
    if (options.requestTimeoutMs !== undefined) {
      this.#clientOptions.requestTimeoutMs = options.requestTimeoutMs;
    }
    if (settings.maxResponseBytes !== undefined) {
      this.#clientOptions.maxResponseBytes = settings.maxResponseBytes;
    }
    this.#watchSecrets = options.watchSecrets ?? false;
    this.#namespaces = settings.namespace.length > 0 ? [...new Set(settings.namespace)] : [undefined];
    this.#nodePolicy = nodePolicyOf(settings);
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  onListing(listener: (sets: readonly EndpointSet[]) => void): void {
    this.#listingListeners.push(listener);
  }

  identity(): string {
    return this.#running?.client.identity ?? "";
  }

  secrets(): SecretView[] {
    const held: SecretView[] = [];
    for (const w of this.#w.secrets) for (const secret of w.store.values()) if (secret) held.push(secret);
    return held.sort(byName);
  }

  status(): SourceStatus {
    const watched = watchersStatus(this.#all());
    return {
      kind: "kube",
      endpoint: this.#running?.client.server() ?? this.#connection.servers[0] ?? "",
      resource: this.#settings.resource,
      namespaces: [...this.#settings.namespace],
      ...watched,
      synced: this.#firstSync || watched.synced,
      listing: this.#firstSync ? lateListing(this.#w) : [],
    };
  }

  snapshot(): EndpointSet[] {
    if (this.#cache !== undefined) return this.#cache;
    if (this.#settings.resource === "endpoints") {
      const sets: EndpointSet[] = [];
      for (const w of this.#w.endpoints) for (const set of w.store.values()) if (set) sets.push(set);
      this.#cache = sets.sort(byName).map((set) => this.#attach(set));
    } else {
      const services: ServiceView[] = [];
      for (const w of this.#w.services) for (const s of w.store.values()) if (s) services.push(s);
      const slices: SliceView[] = [];
      for (const w of this.#w.slices) for (const s of w.store.values()) if (s) slices.push(s);
      this.#cache = joinSlices(services.sort(byName), slices).map((set) => this.#attach(set));
    }
    return this.#cache;
  }

  takeChanges(): Map<string, EndpointSet | null> | null {
    const keys = this.#journal;
    this.#journal = new Set();
    if (keys === null) return null;
    return new Map([...keys].map((key) => [key, this.#current(key)]));
  }

  async run(signal: AbortSignal): Promise<void> {
    if (this.#running !== undefined) throw new Error("Cannot run the Kubernetes source twice at once");
    const running: Running = { client: this.#openClient(), signal, runs: [] };
    this.#running = running;
    this.#w = { ...this.#routedWatchers(running.client), secrets: [], facts: [], nodes: [] };
    this.#cache = undefined;
    this.#nodes = undefined;
    this.#journal = null;
    this.#firstSync = false;
    this.#sliceIndex.clear();
    running.runs.push(...this.#all().map((w) => w.run(signal)));
    if (this.#watchSecrets) this.#startSecrets();
    if (this.#nodePolicy.defaultMode === "nodeport") this.#startNodes();
    try {
      // The Secrets and Nodes watches may join later: wait until no run was added while waiting.
      for (let count = 0; count !== running.runs.length;) {
        count = running.runs.length;
        await Promise.all(running.runs);
      }
    } finally {
      this.#running = undefined;
      running.client.close();
    }
  }

  #openClient(): KubeClient {
    const [settings, connection] = [this.#settings, this.#connection];
    const client = createKubeClient(connection, this.#clientOptions);
    this.#log.info("watching the Kubernetes API", {
      servers: connection.servers,
      origin: connection.origin,
      identity: client.identity,
      namespaces: settings.namespace.length > 0 ? settings.namespace : "all",
      ...(settings.labelSelector === undefined ? {} : { labelSelector: settings.labelSelector }),
    });
    return client;
  }

  #all(): Watcher<unknown>[] {
    const w = this.#w;
    return [...w.endpoints, ...w.slices, ...w.services, ...w.secrets, ...w.facts, ...w.nodes];
  }

  #notify(): void {
    this.#cache = undefined;
    const all = this.#all();
    this.#firstSync ||= all.length > 0 && all.every((w) => w.stats.synced);
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#log.error("a change listener failed", { error: errorText(error) });
      }
    }
  }

  #watcherOptions<T>(namespace: string | undefined, onChange: (changes: readonly Change<T>[]) => void) {
    const o = { ...(this.#tuning as WatcherOptions<T>), onChange, onSync: () => this.#notify() };
    if (namespace !== undefined) o.namespace = namespace;
    return o;
  }

  /** The watchers of the routed objects: Endpoints, or annotated Services and their EndpointSlices. */
  #routedWatchers(client: KubeClient): Pick<Watchers, "endpoints" | "services" | "slices"> {
    const routed = (changes: readonly Change<RoutedView | null>[]) => this.#routed(changes);
    const each = <T>(kind: ResourceKind<T>, onChange: (changes: readonly Change<T>[]) => void) =>
      this.#namespaces.map((ns) => createWatcher(client, kind, this.#watcherOptions(ns, onChange)));
    if (this.#settings.resource === "endpoints") {
      const endpoints = this.#namespaces.map((ns) =>
        createWatcher(client, ENDPOINTS_KIND, {
          ...this.#watcherOptions(ns, routed),
          onListPage: (sets) => this.#listPage(sets),
        })
      );
      return { endpoints, services: [], slices: [] };
    }
    return {
      endpoints: [],
      services: each(SERVICES_KIND, routed),
      slices: each(ENDPOINTSLICES_KIND, (changes) => this.#onSliceChange(changes)),
    };
  }

  /**
   * Starts (once, while running) the watches of backend mode nodeport when the first object asks for it:
   * every Service's node-port facts (whatever its labels) and the selected Nodes.
   */
  #startNodes(): void {
    const running = this.#running;
    if (running === undefined || this.#w.nodes.length > 0) return;
    const { labelSelector: _, ...unselected } = this.#tuning;
    this.#w.facts = this.#namespaces.map((ns) =>
      createWatcher(running.client, SERVICE_FACTS_KIND, {
        ...(unselected as WatcherOptions<ServiceFacts>),
        ...(ns === undefined ? {} : { namespace: ns }),
        onChange: (changes) => (this.#track(changes), this.#notify()),
        onSync: () => this.#notify(),
      })
    );
    const nodeOptions: WatcherOptions<NodeView> = {
      ...(unselected as WatcherOptions<NodeView>),
      onChange: () => this.#onNodeChange(),
      onSync: () => this.#onNodeChange(),
    };
    const selector = this.#nodePolicy.selector;
    if (selector !== undefined) nodeOptions.labelSelector = selector;
    this.#w.nodes = [createWatcher(running.client, NODES_KIND, nodeOptions)];
    this.#log.info("watching Nodes and Services' node ports", { nodeSelector: selector ?? "" });
    running.runs.push(...[...this.#w.facts, ...this.#w.nodes].map((w) => w.run(running.signal)));
  }

  /** Starts the Secrets watch (once, while running) when the first object names a TLS Secret. */
  #startSecrets(): void {
    const running = this.#running;
    if (running === undefined || this.#w.secrets.length > 0) return;
    const selector = this.#settings.secretLabelSelector;
    this.#w.secrets = this.#namespaces.map((ns) => {
      const o = this.#watcherOptions<SecretView | null>(ns, () => this.#notify());
      delete o.labelSelector;
      if (selector !== undefined) o.labelSelector = selector;
      return createWatcher(running.client, SECRETS_KIND, o);
    });
    this.#log.info("watching TLS Secrets", { labelSelector: selector ?? "" });
    running.runs.push(...this.#w.secrets.map((w) => w.run(running.signal)));
  }

  #routed(changes: readonly Change<RoutedView | null>[]): void {
    this.#track(changes);
    // Without --tls nothing reads Secrets: no watch (and no 403s where RBAC does not grant them).
    if (
      this.#settings.tls && changes.some((c) => c.value?.annotations[TLS_SECRET_ANNOTATION] !== undefined)
    ) {
      this.#startSecrets();
    }
    if (changes.some((c) => c.value && wantsNodePort(c.value.annotations, this.#nodePolicy))) {
      this.#startNodes();
    }
    this.#notify();
  }

  /**
   * A page of the first Endpoints list: its routed sets to the listing listeners. Sets that ask for node
   * ports are left out: they are attached to the nodes, which are not known yet.
   */
  #listPage(page: readonly (EndpointSet | null)[]): void {
    if (this.#listingListeners.length === 0) return;
    const sets = page.filter((set): set is EndpointSet =>
      set !== null && !wantsNodePort(set.annotations, this.#nodePolicy)
    );
    for (const listener of this.#listingListeners) {
      try {
        listener(sets);
      } catch (error) {
        this.#log.error("a listing listener failed", { error: errorText(error) });
      }
    }
  }

  #track(changes: readonly Change<unknown>[]): void {
    for (const change of changes) this.#journal?.add(change.key);
  }

  /** `set` with its Service's node ports and the nodes attached, when it asks for nodeport. */
  #attach(set: EndpointSet): EndpointSet {
    const policy = this.#nodePolicy;
    if (!wantsNodePort(set.annotations, policy)) return set;
    this.#nodes ??= this.#w.nodes.flatMap((w) => [...w.store.values()]);
    const key = `${set.namespace}/${set.name}`;
    const facts = this.#w.facts.map((w) => w.store.get(key)).find((f) => f) ?? null;
    const last = this.#attached.get(set);
    if (last?.nodePort?.nodes === this.#nodes && last.nodePort.service === facts) return last;
    const result = withNodePort(set, facts, this.#nodes, policy);
    this.#attached.set(set, result);
    return result;
  }

  /** A node changed: the routed sets in nodeport mode are affected (pods-mode ones ignore the nodes). */
  #onNodeChange(): void {
    this.#nodes = undefined;
    const journal = this.#journal;
    if (journal !== null) {
      const watchers: Watcher<RoutedView | null>[] = this.#settings.resource === "endpoints"
        ? this.#w.endpoints
        : this.#w.services;
      for (const w of watchers) {
        for (const [key, value] of w.store) {
          if (value && wantsNodePort(value.annotations, this.#nodePolicy)) journal.add(key);
        }
      }
    }
    this.#notify();
  }

  #indexSlices(changes: readonly Change<SliceView | null>[]): void {
    for (const { key, previous, value } of changes) {
      if (previous) {
        const service = `${previous.namespace}/${previous.service}`;
        this.#sliceIndex.get(service)?.delete(key);
        this.#journal?.add(service);
      }
      if (value) {
        const service = `${value.namespace}/${value.service}`;
        const keys = this.#sliceIndex.get(service) ?? new Set<string>();
        this.#sliceIndex.set(service, keys.add(key));
        this.#journal?.add(service);
      }
    }
  }

  #onSliceChange(changes: readonly Change<SliceView | null>[]): void {
    this.#indexSlices(changes);
    // Slices of a Service without routing annotations change nothing the model sees.
    const annotated = (slice: SliceView | null | undefined) =>
      slice !== null && slice !== undefined &&
      this.#w.services.some((w) => w.store.get(`${slice.namespace}/${slice.service}`));
    if (changes.some((c) => annotated(c.value) || annotated(c.previous))) this.#notify();
  }

  /** The current set of one key, as snapshot() would have it (null when it has none). */
  #current(key: string): EndpointSet | null {
    if (this.#settings.resource === "endpoints") {
      for (const w of this.#w.endpoints) {
        const set = w.store.get(key);
        if (set) return this.#attach(set);
      }
      return null;
    }
    const service = this.#w.services.map((w) => w.store.get(key)).find((s) => s);
    if (!service) return null;
    const slices: SliceView[] = [];
    for (const sliceKey of this.#sliceIndex.get(key) ?? []) {
      const slice = this.#w.slices.map((w) => w.store.get(sliceKey)).find((s) => s);
      if (slice) slices.push(slice);
    }
    const set = joinSlices([service], slices)[0];
    return set === undefined ? null : this.#attach(set);
  }
}

/**
 * Creates the Kubernetes source for `settings`: resolves the connection (throwing an
 * `AuthConfigError` for a configuration that cannot work: a start-up error), and returns a source
 * that lists and watches once `run()` is called. Recoverable API errors go to `status().lastError`.
 *
 * @example
 * ```ts
 * const source = await createKubeSource(settings, { log });
 * source.onChange(() => loop.wake());
 * await source.run(signal);
 * ```
 */
export async function createKubeSource(
  settings: KubeSourceSettings,
  options: KubeSourceOptions = {},
): Promise<KubeSource> {
  const resolveOptions: ResolveOptions = {};
  if (options.env !== undefined) resolveOptions.env = options.env;
  if (options.serviceAccountDir !== undefined) resolveOptions.serviceAccountDir = options.serviceAccountDir;
  const connection = options.connection ?? await resolveConnection(settings, resolveOptions);
  const note = insecureNote(connection);
  if (note !== undefined) {
    (options.log ?? silentLogger).child("kube", { resource: settings.resource })
      .warn(note, { origin: connection.origin });
  }
  return new KubeWatchSource(settings, connection, options);
}
