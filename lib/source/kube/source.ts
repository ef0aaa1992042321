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
import { BACKEND_MODE_ANNOTATION } from "../../model/nodeport.ts";
import { nodePolicyOf, NODES_KIND, SERVICE_FACTS_KIND, withNodePort } from "./nodeport.ts";
import type { NodeView, ServiceFacts } from "../../model/nodeport_input.ts";
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
  const { log = silentLogger, requestTimeoutMs, connection: given, watchSecrets = false, ...rest } = options;
  const resolveOptions: ResolveOptions = {};
  if (rest.env !== undefined) resolveOptions.env = rest.env;
  if (rest.serviceAccountDir !== undefined) resolveOptions.serviceAccountDir = rest.serviceAccountDir;
  const connection = given ?? await resolveConnection(settings, resolveOptions);
  const klog = log.child("kube", { resource: settings.resource });
  const note = insecureNote(connection);
  if (note !== undefined) klog.warn(note, { origin: connection.origin });

  const tuning: WatcherOptions<unknown> = { resyncMs: settings.interval, log };
  if (settings.maxEventBytes !== undefined) tuning.maxEventBytes = settings.maxEventBytes;
  for (
    const key of [
      "pageSize",
      "watchTimeoutSeconds",
      "readTimeoutMs",
      "backoffBaseMs",
      "backoffCapMs",
    ] as const
  ) {
    const value = rest[key];
    if (value !== undefined) tuning[key] = value;
  }
  if (rest.random !== undefined) tuning.random = rest.random;
  if (rest.now !== undefined) tuning.now = rest.now;
  if (rest.sleep !== undefined) tuning.sleep = rest.sleep;
  if (settings.labelSelector !== undefined) tuning.labelSelector = settings.labelSelector;

  const listeners: (() => void)[] = [];
  let cache: EndpointSet[] | undefined;
  // Keys (`namespace/name`) of the endpoint sets changed since takeChanges() last ran; null: unknown
  // (new watchers), the consumer reads the whole snapshot. sliceIndex: service key → its slices' keys.
  let journal: Set<string> | null = null;
  const sliceIndex = new Map<string, Set<string>>();
  let client: KubeClient | undefined;
  const namespaces: (string | undefined)[] = settings.namespace.length > 0
    ? [...new Set(settings.namespace)]
    : [undefined];

  function notify(): void {
    cache = undefined;
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        klog.error("a change listener failed", { error: errorText(error) });
      }
    }
  }

  // Watchers are created on run() (they need the client); these hold them for snapshot and status.
  let endpointWatchers: Watcher<EndpointSet | null>[] = [];
  let sliceWatchers: Watcher<SliceView | null>[] = [];
  let serviceWatchers: Watcher<ServiceView | null>[] = [];
  let secretWatchers: Watcher<SecretView | null>[] = [];
  // Backend mode nodeport (lib/source/kube/nodeport.ts): Nodes and every Service's node ports.
  const nodePolicy = nodePolicyOf(settings);
  let nodeWatchers: Watcher<NodeView>[] = [];
  let factsWatchers: Watcher<ServiceFacts>[] = [];
  let nodes: NodeView[] | undefined;
  const all = (): Watcher<unknown>[] => [
    ...endpointWatchers,
    ...sliceWatchers,
    ...serviceWatchers,
    ...secretWatchers,
    ...factsWatchers,
    ...nodeWatchers,
  ];
  // Set while running: starts the Secrets watch (once) when the first object names a TLS Secret.
  let startSecrets: (() => void) | undefined;

  function routed(changes: readonly Change<{ annotations: Record<string, string> } | null>[]): void {
    track(changes);
    // Without --tls nothing reads Secrets: no watch (and no 403s where RBAC does not grant them).
    if (settings.tls && changes.some((c) => c.value?.annotations[TLS_SECRET_ANNOTATION] !== undefined)) {
      startSecrets?.();
    }
    notify();
  }

  function secrets(): SecretView[] {
    const held: SecretView[] = [];
    for (const w of secretWatchers) for (const secret of w.store.values()) if (secret) held.push(secret);
    return held.sort(byName);
  }

  // The set handed on last for a stored set: the same object while its facts and the nodes are unchanged,
  // so that the model store (which compares by reference) redoes nothing for it.
  const attached = new WeakMap<EndpointSet, EndpointSet>();

  /** `set` with its Service's node ports and the nodes attached, in nodeport mode. */
  function attach(set: EndpointSet): EndpointSet {
    if (nodePolicy === undefined) return set;
    nodes ??= nodeWatchers.flatMap((w) => [...w.store.values()]);
    const key = `${set.namespace}/${set.name}`;
    const facts = factsWatchers.map((w) => w.store.get(key)).find((f) => f) ?? null;
    const last = attached.get(set)?.nodePort;
    if (last?.nodes === nodes && last.service === facts) return attached.get(set)!;
    const result = withNodePort(set, facts, nodes, nodePolicy);
    attached.set(set, result);
    return result;
  }

  /** A node changed: the routed sets in nodeport mode are affected (pods-mode ones ignore the nodes). */
  function onNodeChange(): void {
    nodes = undefined;
    if (journal !== null) {
      const watchers = settings.resource === "endpoints" ? endpointWatchers : serviceWatchers;
      for (const w of watchers as Watcher<{ annotations: Record<string, string> } | null>[]) {
        for (const [key, value] of w.store) {
          if (value && value.annotations[BACKEND_MODE_ANNOTATION] !== "pods") journal.add(key);
        }
      }
    }
    notify();
  }

  function annotatedService(key: string): boolean {
    return serviceWatchers.some((w) => w.store.get(key));
  }

  function track(changes: readonly Change<unknown>[]): void {
    for (const change of changes) journal?.add(change.key);
  }

  function indexSlices(changes: readonly Change<SliceView | null>[]): void {
    for (const { key, previous, value } of changes) {
      if (previous) {
        const service = `${previous.namespace}/${previous.service}`;
        sliceIndex.get(service)?.delete(key);
        journal?.add(service);
      }
      if (value) {
        const service = `${value.namespace}/${value.service}`;
        const keys = sliceIndex.get(service) ?? new Set<string>();
        sliceIndex.set(service, keys.add(key));
        journal?.add(service);
      }
    }
  }

  function onSliceChange(changes: readonly Change<SliceView | null>[]): void {
    indexSlices(changes);
    // Slices of a Service without routing annotations change nothing the model sees.
    const relevant = changes.some((c) =>
      [c.value, c.previous].some((slice) =>
        slice !== null && slice !== undefined && annotatedService(`${slice.namespace}/${slice.service}`)
      )
    );
    if (relevant) notify();
  }

  function watcherOptions<T>(
    namespace: string | undefined,
    onChange: (changes: readonly Change<T>[]) => void,
  ) {
    const o = { ...(tuning as WatcherOptions<T>), onChange, onSync: notify };
    if (namespace !== undefined) o.namespace = namespace;
    return o;
  }

  function snapshot(): EndpointSet[] {
    if (cache !== undefined) return cache;
    if (settings.resource === "endpoints") {
      const sets: EndpointSet[] = [];
      for (const w of endpointWatchers) for (const set of w.store.values()) if (set) sets.push(set);
      cache = sets.sort(byName).map(attach);
    } else {
      const services: ServiceView[] = [];
      for (const w of serviceWatchers) for (const s of w.store.values()) if (s) services.push(s);
      const slices: SliceView[] = [];
      for (const w of sliceWatchers) for (const s of w.store.values()) if (s) slices.push(s);
      cache = joinSlices(services.sort(byName), slices).map(attach);
    }
    return cache;
  }

  /** The current set of one key, as snapshot() would have it (null when it has none). */
  function current(key: string): EndpointSet | null {
    if (settings.resource === "endpoints") {
      for (const w of endpointWatchers) {
        const set = w.store.get(key);
        if (set) return attach(set);
      }
      return null;
    }
    const service = serviceWatchers.map((w) => w.store.get(key)).find((s) => s);
    if (!service) return null;
    const slices: SliceView[] = [];
    for (const sliceKey of sliceIndex.get(key) ?? []) {
      const slice = sliceWatchers.map((w) => w.store.get(sliceKey)).find((s) => s);
      if (slice) slices.push(slice);
    }
    const set = joinSlices([service], slices)[0];
    return set === undefined ? null : attach(set);
  }

  function takeChanges(): Map<string, EndpointSet | null> | null {
    const keys = journal;
    journal = new Set();
    if (keys === null) return null;
    return new Map([...keys].map((key) => [key, current(key)]));
  }

  function status(): SourceStatus {
    const watchers = all();
    const stats = watchers.map((w) => w.stats);
    const problems: ObjectProblem[] = stats.flatMap((s) => [...s.problems.values()])
      .sort((a, b) => a.object.localeCompare(b.object));
    const lastFull = stats.map((s) => s.lastFullSyncAt);
    const lastEvents = stats.map((s) => s.lastEventAt).filter((t): t is number => t !== null);
    return {
      kind: "kube",
      endpoint: client?.server() ?? connection.servers[0] ?? "",
      resource: settings.resource,
      namespaces: [...settings.namespace],
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

  async function run(signal: AbortSignal): Promise<void> {
    if (client !== undefined) throw new Error("Cannot run the Kubernetes source twice at once");
    const clientOptions: KubeClientOptions = { log: klog };
    if (requestTimeoutMs !== undefined) clientOptions.requestTimeoutMs = requestTimeoutMs;
    if (settings.maxResponseBytes !== undefined) clientOptions.maxResponseBytes = settings.maxResponseBytes;
    client = createKubeClient(connection, clientOptions);
    const c = client;
    klog.info("watching the Kubernetes API", {
      servers: connection.servers,
      origin: connection.origin,
      identity: c.identity,
      namespaces: settings.namespace.length > 0 ? settings.namespace : "all",
      ...(settings.labelSelector === undefined ? {} : { labelSelector: settings.labelSelector }),
    });
    const runs: Promise<void>[] = [];
    secretWatchers = [];
    startSecrets = () => {
      if (secretWatchers.length > 0) return;
      secretWatchers = namespaces.map((ns) => {
        const o = watcherOptions<SecretView | null>(ns, notify);
        delete o.labelSelector;
        if (settings.secretLabelSelector !== undefined) o.labelSelector = settings.secretLabelSelector;
        return createWatcher(c, SECRETS_KIND, o);
      });
      klog.info("watching TLS Secrets", { labelSelector: settings.secretLabelSelector ?? "" });
      runs.push(...secretWatchers.map((w) => w.run(signal)));
    };
    if (settings.resource === "endpoints") {
      endpointWatchers = namespaces.map((ns) => createWatcher(c, ENDPOINTS_KIND, watcherOptions(ns, routed)));
    } else {
      serviceWatchers = namespaces.map((ns) => createWatcher(c, SERVICES_KIND, watcherOptions(ns, routed)));
      sliceWatchers = namespaces.map((ns) =>
        createWatcher(c, ENDPOINTSLICES_KIND, watcherOptions(ns, onSliceChange))
      );
    }
    if (nodePolicy !== undefined) {
      const { labelSelector: _, ...unselected } = tuning;
      factsWatchers = namespaces.map((ns) =>
        createWatcher(c, SERVICE_FACTS_KIND, {
          ...(unselected as WatcherOptions<ServiceFacts>),
          ...(ns === undefined ? {} : { namespace: ns }),
          onChange: (changes) => (track(changes), notify()),
          onSync: notify,
        })
      );
      const nodeOptions: WatcherOptions<NodeView> = {
        ...(unselected as WatcherOptions<NodeView>),
        onChange: onNodeChange,
        onSync: onNodeChange,
      };
      if (nodePolicy.selector !== undefined) nodeOptions.labelSelector = nodePolicy.selector;
      nodeWatchers = [createWatcher(c, NODES_KIND, nodeOptions)];
    }
    cache = undefined;
    nodes = undefined;
    journal = null;
    sliceIndex.clear();
    runs.push(...all().map((w) => w.run(signal)));
    if (watchSecrets) startSecrets();
    try {
      // The Secrets watch may join later: wait until no run was added while waiting.
      for (let count = 0; count !== runs.length;) {
        count = runs.length;
        await Promise.all(runs);
      }
    } finally {
      startSecrets = undefined;
      c.close();
      client = undefined;
    }
  }

  return {
    run,
    snapshot,
    takeChanges,
    onChange(listener) {
      listeners.push(listener);
    },
    status,
    secrets,
    identity: () => client?.identity ?? "",
  };
}
