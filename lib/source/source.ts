/**
 * The source interface: where endpoint sets come from (the Kubernetes API or a file), seen by the loop
 * as a current snapshot plus change notifications.
 *
 * @module
 */
import type { ObjectProblem } from "./kube/objects.ts";
import type { EndpointSet } from "../model/endpoints.ts";

/** What a source reports about itself, for status and metrics. */
export interface SourceStatus {
  /** `kube` or `file`. */
  kind: "kube" | "file";
  /** API server in use (URL without credentials) or file path. */
  endpoint: string;
  /** `endpoints` or `endpointslices` (kube), `file` otherwise. */
  resource: string;
  /** Watched namespaces; empty = all. */
  namespaces: string[];
  /** Whether a first complete sync has happened (it stays true while a watch started later lists). */
  synced: boolean;
  /**
   * After the first complete sync: the first lists of watches started since (`listing TLS Secrets`), which
   * passes wait for; readiness does not. Absent or empty when none is running.
   */
  listing?: string[];
  /** Completed full syncs (lists, relists, resyncs, file reads). */
  fullSyncs: number;
  /** Time (ms since epoch) of the last change event, or null. */
  lastEventAt: number | null;
  /** Time (ms since epoch) of the last completed full sync, or null. */
  lastFullSyncAt: number | null;
  /** Events received, by type (ADDED, MODIFIED, DELETED, BOOKMARK, …). */
  events: Record<string, number>;
  /** Watch restarts, by reason (expired, dropped, stalled, error, resync, …). */
  restarts: Record<string, number>;
  /** Objects currently held. */
  objects: number;
  /** The last error (connection, auth, parse) or null once healthy again. */
  lastError: string | null;
  /** Objects that could not be read, with the reason. */
  problems: ObjectProblem[];
}

/** A running source. */
export interface Source {
  /**
   * Starts watching; resolves once the source is stopped (by the signal). Errors that the source
   * recovers from are reported through {@linkcode SourceStatus.lastError}, not thrown.
   */
  run(signal: AbortSignal): Promise<void>;
  /** The current endpoint sets (valid once `status().synced`). */
  snapshot(): EndpointSet[];
  /**
   * Optional journal: the endpoint sets changed since the last call, by `namespace/name` (null: gone or
   * no longer routed), or null when the source cannot say (the caller then reads `snapshot()`).
   */
  takeChanges?(): Map<string, EndpointSet | null> | null;
  /** Registers a listener called after every change to the snapshot and after every full sync. */
  onChange(listener: () => void): void;
  /**
   * Optional: registers a listener called before the first complete sync with the endpoint sets of each
   * list page as it arrives, so that the consumer can get ahead (build its model while the next page is
   * in flight). They are no snapshot: what counts is `snapshot()` once synced, where a set the listener
   * saw is the same object while unchanged.
   */
  onListing?(listener: (sets: readonly EndpointSet[]) => void): void;
  /** Current status. */
  status(): SourceStatus;
}

/** A fresh status record. */
export function initialStatus(kind: SourceStatus["kind"], endpoint: string, resource: string): SourceStatus {
  return {
    kind,
    endpoint,
    resource,
    namespaces: [],
    synced: false,
    fullSyncs: 0,
    lastEventAt: null,
    lastFullSyncAt: null,
    events: {},
    restarts: {},
    objects: 0,
    lastError: null,
    problems: [],
  };
}

/**
 * Resolves once `source` has completed its first sync; rejects after `timeoutMs`, naming the source's last
 * error, or when `running` (its `run()`) fails or ends before that sync.
 */
export function waitForSync(source: Source, running: Promise<void>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error === undefined) resolve();
      else reject(error);
    };
    const timer = setTimeout(() => {
      const why = source.status().lastError;
      finish(new Error(`No complete sync with the source within ${timeoutMs}ms${why ? `: ${why}` : ""}`));
    }, timeoutMs);
    const check = () => source.status().synced && finish();
    source.onChange(check);
    running.then(
      () => check() || finish(new Error("The source stopped before its first complete sync")),
      (error) => finish(error),
    );
    check();
  });
}
