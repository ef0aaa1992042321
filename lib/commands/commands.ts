/**
 * The bodies of the `render`, `check` and `run` commands. `main.ts` parses the command line, owns the
 * signals and the exit codes, and hands these the console ({@linkcode Console}) and the stop request
 * ({@linkcode StopSignals}): nothing here prints or exits by itself.
 *
 * @module
 */
import type { Settings } from "../settings/options.ts";
import {
  checkCommand,
  createSource,
  haproxyProcessOf,
  listenOf,
  loadRenderer,
  reservedPortsOf,
} from "../daemon/daemon.ts";
import { startService } from "./service.ts";
import { readDump } from "../source/file.ts";
import { generate, type MapFile } from "../render/generate.ts";
import { stageSet } from "../apply/file_set.ts";
import { checkConfig } from "../haproxy/check.ts";
import { RENDERED_PLACEHOLDER } from "../apply/apply.ts";
import type { EndpointSet } from "../model/endpoints.ts";
import { skipMessage, skippedObjectCount } from "../model/model.ts";
import { errorText, type Logger } from "../log.ts";
import { passSucceeded } from "../daemon/loop.ts";
import { waitForSync } from "../source/source.ts";
import { VERSION } from "../version.ts";

/** Where a command's output for the user goes (the console, from `main`). */
export interface Console {
  /** A line for standard output. */
  out(line: string): void;
  /** A line for standard error. */
  err(line: string): void;
}

/** The stop and reload requests `main` turns signals into. */
export interface StopSignals {
  /** Resolves on the first SIGTERM or SIGINT. */
  stopRequested: Promise<void>;
  /** Sets what a SIGHUP does. */
  onHup(handler: () => void): void;
}

/** Reads the current endpoint sets once: from `--from`, else one complete sync with the API. */
export async function readOnce(settings: Settings, log: Logger): Promise<EndpointSet[]> {
  if (settings.from !== undefined) {
    const { sets, problems } = await readDump(settings.from);
    for (const problem of problems) log.warn("object skipped", { ...problem });
    return sets;
  }
  const source = await createSource(settings, log);
  const controller = new AbortController();
  const running = source.run(controller.signal);
  await waitForSync(source, running, settings.syncTimeout).finally(() => controller.abort());
  await running.catch(() => {});
  return source.snapshot();
}

/** `haconfd render`: the config rendered from one read of the endpoint sets. */
export async function renderOnce(settings: Settings, log: Logger): Promise<string> {
  return (await renderFilesOnce(settings, log)).text;
}

/** The config and the map files it names, rendered from one read of the endpoint sets. */
async function renderFilesOnce(
  settings: Settings,
  log: Logger,
): Promise<{ text: string; maps: readonly MapFile[] }> {
  const renderer = await loadRenderer(settings);
  const sets = await readOnce(settings, log);
  const { model, text, maps } = generate(
    sets,
    renderer,
    listenOf(settings),
    haproxyProcessOf(settings),
    reservedPortsOf(settings),
  );
  for (const skipped of model.skipped) log.warn(skipMessage(skipped), { ...skipped });
  log.info("rendered", {
    domains: Object.keys(model.domains).length,
    skipped: skippedObjectCount(model.skipped),
  });
  return { text, maps: maps ?? [] };
}

/** `haconfd check`: renders once and checks the text with the check command; whether it is valid. */
export async function checkOnce(settings: Settings, log: Logger, io: Console): Promise<boolean> {
  const { text, maps } = await renderFilesOnce(settings, log);
  const dir = await Deno.makeTempDir({ prefix: "haconfd-check-" });
  try {
    const staged = await stageSet(`${dir}/haproxy.cfg`, text, maps);
    const path = staged.checkPath;
    const result = await checkConfig(path, {
      command: checkCommand(settings),
      timeoutMs: settings.checkTimeout,
    });
    for (const line of result.errors) io.err(line.replaceAll(path, RENDERED_PLACEHOLDER));
    io.out(result.ok ? "Configuration is valid" : "Configuration is invalid");
    return result.ok;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `haconfd run`: the daemon until a stop is requested (or, with `--once`, one pass); whether it ended
 * well. A source that ends by itself with an error fails it.
 */
export async function runDaemon(
  settings: Settings,
  log: Logger,
  signals: StopSignals,
  io: Console,
): Promise<boolean> {
  const service = await startService(settings, log, { onDiff: (diff) => io.out(diff) });
  const { daemon } = service;
  if (settings.once) {
    let record;
    try {
      record = await Promise.race([daemon.once(), signals.stopRequested.then(() => null)]);
    } finally {
      await service.stop();
    }
    if (record === null) return false;
    if (passSucceeded(record)) {
      log.info("done", { outcome: record.outcome, detail: record.detail });
      return true;
    }
    const hint = record.outcome === "held" && /second full sync/.test(record.detail)
      ? "a one-shot run sees one sync only: rerun with --max-shrink 100% to accept the drop"
      : undefined;
    log.error("apply failed", {
      outcome: record.outcome,
      detail: record.detail,
      errors: record.errors,
      hint,
    });
    return false;
  }
  signals.onHup(() => void daemon.reloadTemplates());
  log.info("started", { version: VERSION, status: service.status?.url ?? "off" });
  // The source only ends by itself on a fatal error (e.g. its file's directory is gone): exit, so that
  // systemd restarts haconfd rather than leaving a daemon that can never sync.
  const outcome = await Promise.race([
    signals.stopRequested.then(() => "stop" as const),
    daemon.finished.then(() => "stop-wait" as const, (error) => ({ error })),
  ]);
  const failed = typeof outcome === "object";
  if (failed) log.error("the source failed, stopping", { error: errorText(outcome.error) });
  else if (outcome === "stop-wait") await signals.stopRequested; // e.g. --from - read once: keep serving
  log.info("stopping");
  await service.stop();
  return !failed;
}
