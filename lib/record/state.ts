/**
 * The record of what the daemon did: written by the loop, read (never driven) by the status endpoint.
 *
 * @module
 */
import type { Domain, Skipped } from "../model/model.ts";
import type { SourceStatus } from "../source/source.ts";

/** How one pass of the loop ended. */
export type ApplyOutcome =
  | "applied"
  | "unchanged"
  | "dry-run"
  | "held" // not applied on purpose: not synced yet, or the shrink guard waits for a second full sync
  | "render-failed"
  | "check-failed"
  | "write-failed"
  | "reload-failed"
  | "internal-error"; // an unexpected exception inside the pass (a bug): logged with its stack

/** One pass of the loop: render → check → swap → reload. */
export interface ApplyRecord {
  /** When it finished (ms since epoch). */
  at: number;
  /** How it ended. */
  outcome: ApplyOutcome;
  /** Why, in a sentence (error text for failures). */
  detail: string;
  /** Wall time of the whole pass. */
  durationMs: number;
  /** Render time. */
  renderMs: number | null;
  /** Check command time, when it ran. */
  checkMs: number | null;
  /** Reload time, when it ran. */
  reloadMs: number | null;
  /** sha256 of the rendered config. */
  hash: string | null;
  /** Check errors (HAProxy's ALERT lines), when the check failed. */
  errors: string[];
  /** How HAProxy got the change: through the Runtime API, by a reload, or not at all (unchanged). */
  path?: "runtime" | "reload" | "unchanged";
  /** Why the runtime path was not taken ("frontend f changed", "runtime command failed: …"). */
  reloadReason?: string;
}

/** Servers changed through the Runtime API (present when the runtime path is in use). */
export interface RuntimeView {
  /** Where commands go (`master CLI …` or the stats socket). */
  target: string;
  /** Removed servers still finishing their connections. */
  draining: { server: string; sinceMs: number }[];
  /** Runtime commands sent, by result. */
  commands: { ok: number; failed: number };
}

// HAProxy's view belongs to its adapter; re-exported because the state document carries it.
export type { HaproxyView } from "../haproxy/view.ts";

/** Everything the status endpoint shows: an immutable snapshot handed out by the loop. */
export interface DaemonState {
  /** haconfd's version. */
  version: string;
  /** When the daemon started (ms since epoch). */
  startedAt: number;
  /** Last time the loop was known alive (ms since epoch). */
  heartbeatAt: number;
  /** The source's own report. */
  source: SourceStatus;
  /** The installed config. */
  config: {
    /** Where it is installed. */
    path: string;
    /** sha256 of the installed file, or null when none is installed yet. */
    installedHash: string | null;
    /** sha256 of the last rendered text, or null before the first render. */
    renderedHash: string | null;
  };
  /** Readiness: synced once and the installed config is the last one rendered. */
  ready: { ok: boolean; reason: string };
  /** Domains of the last model. */
  domains: Record<string, Domain>;
  /** Objects the last model skipped. */
  skipped: Skipped[];
  /** Last passes of the loop, newest first (bounded). */
  applies: ApplyRecord[];
  /** The last pass that ran the check command. */
  lastCheck: ApplyRecord | null;
  /** The last pass that reloaded (or tried to). */
  lastReload: ApplyRecord | null;
  /** The last successful apply (ms since epoch), or null. */
  lastSuccessAt: number | null;
  /** How reloads are done: `command`, `master-socket`, `managed`, or `none` (dry run). */
  reloadMode: string;
  /** The runtime path, when in use. */
  runtime?: RuntimeView;
}
