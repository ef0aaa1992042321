/**
 * The demo's last lines: what its run amounted to, computed from what it recorded — each change's time to
 * traffic and the path each of haconfd's passes took (Runtime API or reload).
 *
 * @module
 */
import type { ApplyRecord } from "../record/state.ts";

/** What the demo recorded while its script ran. */
export interface DemoEvents {
  /** One per change made: ms until it served, or null when it did not within the deadline. */
  changes: readonly { inTrafficMs: number | null }[];
  /** haconfd's passes meanwhile. */
  passes: readonly Pick<ApplyRecord, "outcome" | "path">[];
}

/** The figures of a run. */
export interface DemoSummary {
  /** Changes made. */
  changes: number;
  /** Changes seen serving. */
  reached: number;
  /** Median time to traffic of those (ms), null when none. */
  medianMs: number | null;
  /** Worst time to traffic (ms), null when none. */
  worstMs: number | null;
  /** Passes applied through the Runtime API, without a reload. */
  runtimeApplies: number;
  /** Passes that reloaded HAProxy. */
  reloads: number;
}

function median(sorted: readonly number[]): number | null {
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** The figures of `events`. */
export function summarizeDemo(events: DemoEvents): DemoSummary {
  const times = events.changes.flatMap((c) => c.inTrafficMs === null ? [] : [c.inTrafficMs])
    .sort((a, b) => a - b);
  const applied = events.passes.filter((p) => p.outcome === "applied");
  return {
    changes: events.changes.length,
    reached: times.length,
    medianMs: median(times),
    worstMs: times.at(-1) ?? null,
    runtimeApplies: applied.filter((p) => p.path === "runtime").length,
    reloads: applied.filter((p) => p.path === "reload").length,
  };
}

/** The summary as the demo prints it. */
export function summaryLines(summary: DemoSummary): string[] {
  const { changes, reached, medianMs, worstMs, runtimeApplies, reloads } = summary;
  const missed = changes - reached;
  const applies = runtimeApplies + reloads;
  return [
    `Summary: ${changes} change${changes === 1 ? "" : "s"} made${
      missed === 0 ? "" : `, ${missed} not seen in traffic within the deadline`
    }`,
    medianMs === null
      ? "  time to traffic: none measured"
      : `  time to traffic: median ${medianMs} ms, worst ${worstMs} ms`,
    `  reloads avoided: ${runtimeApplies} of ${applies} applies went through the Runtime API, ${reloads} reloaded HAProxy`,
  ];
}
