/**
 * Which path an apply took (runtime, reload, unchanged) and why it reloaded, for the pass record.
 *
 * @module
 */
import type { ApplyResult } from "../apply/apply.ts";
import type { ApplyRecord } from "../record/state.ts";

/** The `path` and `reloadReason` of a pass record for an apply result (empty for dry runs and failures before HAProxy). */
export function applyPathOf(result: ApplyResult): Pick<ApplyRecord, "path" | "reloadReason"> {
  switch (result.status) {
    case "runtime":
      return { path: "runtime" };
    case "unchanged":
      return { path: "unchanged" };
    case "applied":
    case "reload-failed":
      return result.reloadReason === undefined
        ? { path: "reload" }
        : { path: "reload", reloadReason: result.reloadReason };
    default:
      return {};
  }
}
