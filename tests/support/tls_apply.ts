/**
 * A {@linkcode TlsApplier} for unit tests: its config never changes (the hosts' backends exist already),
 * its Runtime API socket has nothing listening (every command fails, as HAProxy refusing it would), and
 * its reloads are counted.
 *
 * @module
 */
import { join } from "node:path";
import type { Applier, ApplyResult } from "../../lib/apply/apply.ts";
import { TlsApplier, type TlsFiles } from "../../lib/apply/tls_apply.ts";
import type { Logger } from "../../lib/log.ts";

const UNCHANGED: ApplyResult = {
  status: "unchanged",
  hash: "h",
  installedHash: "h",
  durations: { checkMs: 0, reloadMs: 0, waitMs: 0, totalMs: 0 },
};

/** An inner applier whose config never changes. */
export function unchangedConfig(): Applier {
  return { apply: () => Promise.resolve(UNCHANGED), installed: () => "", reloadPending: () => false };
}

/** A TlsApplier writing to `dir` whose Runtime API always fails; `reloads.count` counts its reloads. */
export function failingRuntimeApplier(
  dir: string,
  files: () => TlsFiles,
  log: Logger,
): { applier: TlsApplier; reloads: { count: number } } {
  const reloads = { count: 0 };
  const applier = new TlsApplier(unchangedConfig(), {
    dir,
    files,
    reloader: {
      reload: () => (reloads.count++, Promise.resolve({ ok: true, durationMs: 1, detail: "reloaded" })),
    },
    runtime: { address: { transport: "unix", path: join(dir, "no.sock") }, viaMaster: true },
    log,
  });
  return { applier, reloads };
}
