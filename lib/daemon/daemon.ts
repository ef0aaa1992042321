/**
 * `haconfd run`: wires settings to the pipeline — source, generator, applier (check + reloader, runtime
 * path) and loop — and tears it all down again. Status and metrics read it from outside
 * (lib/commands/service.ts): the daemon imports neither.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { type Applier, type ApplyResult, createApplier } from "../apply/apply.ts";
import { ConfigError, type Settings } from "../settings/options.ts";
import { createFileSource } from "../source/file.ts";
import { bindPort, createGenerator, type Generator, type ReservedPort } from "../render/generate.ts";
import { checkConfig, DEFAULT_CHECK_COMMAND } from "../haproxy/check.ts";
import { ListenPortProbe } from "./culprits.ts";
import { type ManagedHaproxy, startManagedHaproxy } from "../haproxy/managed.ts";
import { backendDomain } from "../haproxy/line_level.ts";
import { type MasterAddress, parseMasterAddress, splitCommand } from "../settings/values.ts";
import { createCommandReloader, createMasterSocketReloader, type Reloader } from "../haproxy/reload.ts";
import { type HaproxyViewReader, masterViewReader } from "../haproxy/view.ts";
import {
  createRuntimeClient,
  createRuntimePath,
  type RuntimePath,
  type RuntimeTarget,
} from "../haproxy/runtime.ts";
import { formatMasterAddress } from "../haproxy/master_cli.ts";
import { createKubeSource } from "../source/kube/source.ts";
import { errorText, type Logger } from "../log.ts";
import { createLoop, type Loop } from "./loop.ts";
import {
  compileTemplates,
  defaultTemplates,
  type HaproxyProcess,
  type Listen,
  loadTemplateDir,
  type Renderer,
} from "../render/render.ts";
import { type Source, waitForSync } from "../source/source.ts";
import { tlsSetup, type TlsWiring } from "./tls.ts";
import type { ApplyRecord, DaemonState } from "../record/state.ts";

/** Loads the templates the settings name (or the embedded defaults) and compiles them. */
export async function loadRenderer(
  settings: Pick<Settings, "templateDir" | "haproxyConf">,
): Promise<Renderer> {
  // Map files are installed beside the config, which names them by absolute path.
  const mapDir = dirname(settings.haproxyConf);
  if (settings.templateDir === undefined) return compileTemplates(defaultTemplates(), { mapDir });
  try {
    return compileTemplates(await loadTemplateDir(settings.templateDir), { mapDir });
  } catch (error) {
    // An unusable directory is a bad option like any other: exit 2, naming it (main.ts).
    throw new ConfigError(`Invalid --template-dir: ${errorText(error)}`);
  }
}

/** The bind addresses templates see, from the settings. */
export function listenOf(
  settings:
    & Pick<Settings, "httpBind" | "httpsBind" | "tcpBindAddress">
    & Partial<Pick<Settings, "acceptProxy" | "haproxyMetricsBind">>,
): Listen {
  const listen: Listen = { http: settings.httpBind, https: settings.httpsBind, tcp: settings.tcpBindAddress };
  if (settings.acceptProxy === true) listen.acceptProxy = true;
  if (settings.haproxyMetricsBind !== undefined) listen.metrics = settings.haproxyMetricsBind;
  return listen;
}

/** Whom HAProxy's workers run as, from `--haproxy-user`. */
export function haproxyProcessOf(settings: Pick<Settings, "haproxyUser">): HaproxyProcess {
  return { user: settings.haproxyUser?.user ?? null, group: settings.haproxyUser?.group ?? null };
}

/**
 * The ports haconfd itself uses beside the frontends (status endpoint, a TCP master socket, HAProxy's
 * metrics frontend): a tenant's `haconfd.io/listen-port` on one of them would make every reload fail, so the
 * model refuses it.
 */
export function reservedPortsOf(
  settings:
    & Pick<Settings, "statusListen" | "haproxyMasterSocket">
    & Partial<Pick<Settings, "haproxyMetricsBind">>,
): ReservedPort[] {
  const reserved: ReservedPort[] = [];
  const metrics = settings.haproxyMetricsBind === undefined
    ? undefined
    : bindPort(settings.haproxyMetricsBind);
  if (metrics !== undefined) {
    reserved.push({ port: metrics, by: "HAProxy's metrics frontend (--haproxy-metrics-bind)" });
  }
  const status = settings.statusListen === "off" ? undefined : bindPort(settings.statusListen);
  if (status !== undefined) reserved.push({ port: status, by: "the status endpoint (--status-listen)" });
  const master = settings.haproxyMasterSocket === undefined
    ? undefined
    : parseMasterAddress(settings.haproxyMasterSocket);
  if (master?.transport === "tcp") {
    reserved.push({ port: master.port, by: "HAProxy's master socket (--haproxy-master-socket)" });
  }
  return reserved;
}

function generatorOf(renderer: Renderer, settings: Settings, tls: TlsWiring | null = null): Generator {
  const listen = listenOf(settings);
  if (tls === null) {
    return createGenerator(renderer, listen, haproxyProcessOf(settings), reservedPortsOf(settings));
  }
  return tls.generator((frontend) =>
    createGenerator(renderer, listen, haproxyProcessOf(settings), reservedPortsOf(settings), frontend)
  );
}

/** The source the settings ask for: a watched file (`--from`) or the Kubernetes API. */
export async function createSource(settings: Settings, log: Logger): Promise<Source> {
  if (settings.from !== undefined) return createFileSource(settings.from, { log: log.child("source") });
  // A default certificate Secret is read from the start, not once a service names a Secret.
  const watchSecrets = settings.tls && settings.defaultCertificate?.kind === "secret";
  return await createKubeSource(settings, { log: log.child("kube"), watchSecrets });
}

/** The check command: `--haproxy-chk-cmd`, or the default with `--haproxy-bin`'s binary. */
export function checkCommand(settings: Settings): string[] {
  const command = splitCommand(settings.haproxyCheckCmd);
  const isDefault = command.join(" ") === DEFAULT_CHECK_COMMAND.join(" ");
  return isDefault && settings.haproxyBin !== "haproxy"
    ? [settings.haproxyBin, ...command.slice(1)]
    : command;
}

/** Where the managed HAProxy's master socket lives. */
export function managedSocketPath(settings: Settings): string {
  return settings.haproxyMasterSocket ?? join(dirname(settings.haproxyConf), "haproxy-master.sock");
}

interface ReloadSetup {
  reloader: Reloader;
  master: MasterAddress | null;
}

/**
 * The managed HAProxy starts on the first reload, once a checked config is installed: before that there
 * is nothing it could load.
 */
function lazyManaged(
  settings: Settings,
  log: Logger,
  extras: ManagedExtras,
): Reloader & { managed(): ManagedHaproxy | null } {
  let managed: ManagedHaproxy | null = null;
  let starting: Promise<ManagedHaproxy> | null = null;
  return {
    kind: "managed",
    managed: () => managed,
    async reload(signal) {
      if (managed !== null) return await managed.reload(signal);
      const started = Date.now();
      try {
        starting ??= startManagedHaproxy({
          configPath: settings.haproxyConf,
          masterSocket: managedSocketPath(settings),
          binary: settings.haproxyBin,
          log: log.child("haproxy"),
          reloadTimeoutMs: settings.reloadTimeout,
          stdout: extras.trafficLog === undefined ? "inherit" : { file: extras.trafficLog },
          domainOf: extras.domainOf,
        });
        managed = await starting;
        return { ok: true, durationMs: Date.now() - started, detail: `started HAProxy (pid ${managed.pid})` };
      } catch (error) {
        starting = null;
        const message = `Cannot start HAProxy: ${errorText(error)}`;
        return { ok: false, durationMs: Date.now() - started, detail: message, error: message };
      }
    },
    async close() {
      const current = managed ?? (starting ? await starting.catch(() => null) : null);
      await current?.close();
    },
  };
}

/** What a managed HAProxy gets beyond the settings. */
interface ManagedExtras {
  /** A file for its stdout (the traffic log); undefined: haconfd's stdout. */
  trafficLog: string | undefined;
  /** The domain a backend of the current config serves. */
  domainOf: (backend: string) => string | undefined;
}

function reloadSetup(settings: Settings, log: Logger, extras: ManagedExtras): ReloadSetup {
  if (settings.haproxyRun) {
    return {
      reloader: lazyManaged(settings, log, extras),
      master: parseMasterAddress(managedSocketPath(settings)),
    };
  }
  if (settings.haproxyMasterSocket !== undefined) {
    const master = parseMasterAddress(settings.haproxyMasterSocket);
    return {
      reloader: createMasterSocketReloader({ address: master, timeoutMs: settings.reloadTimeout, log }),
      master,
    };
  }
  return {
    reloader: createCommandReloader({
      command: splitCommand(settings.haproxyReloadCmd),
      timeoutMs: settings.reloadTimeout,
    }),
    master: null,
  };
}

/**
 * Where runtime commands go: `--haproxy-runtime-socket`, else the master CLI the daemon reloads through;
 * `null` (every change reloads) with neither, with `--no-runtime-api`, or in a dry run.
 */
export function runtimeTargetOf(settings: Settings, master: MasterAddress | null): RuntimeTarget | null {
  if (settings.noRuntimeApi || settings.dryRun) return null;
  if (settings.haproxyRuntimeSocket !== undefined) {
    return { address: parseMasterAddress(settings.haproxyRuntimeSocket), viaMaster: false };
  }
  return master === null ? null : { address: master, viaMaster: true };
}

/** Callbacks through which the daemon reports outward (the console, metrics): it imports neither. */
export interface DaemonHooks {
  /** A dry run produced a diff. */
  onDiff?: (diff: string) => void;
  /** A pass of the loop ended. */
  onPass?: (record: ApplyRecord) => void;
  /** Runtime commands were sent, `count` of them with this result. */
  onRuntimeCommands?: (result: "ok" | "failed", count: number) => void;
  /**
   * Not a callback: the file a managed HAProxy's stdout (the default templates' traffic log) is appended
   * to; without it, haconfd's own stdout.
   */
  trafficLog?: string;
}

/** A running daemon. */
export interface Daemon {
  /** The loop (state, runNow). */
  readonly loop: Loop;
  /** The record status shows: the loop's state with the runtime path's view added. */
  state(): DaemonState;
  /** HAProxy's own view through its master CLI, when haconfd reloads through one. */
  readonly haproxy: HaproxyViewReader | null;
  /** Re-reads the templates (SIGHUP) and re-applies; a bad template keeps the old ones. */
  reloadTemplates(): Promise<void>;
  /** One sync, one apply: resolves with the pass record (for `--once`). */
  once(): Promise<ApplyRecord>;
  /** Stops everything it started (the managed HAProxy too). */
  stop(): Promise<void>;
  /** Resolves when the source stops (after `stop()`), rejects if it fails fatally. */
  readonly finished: Promise<void>;
}

/**
 * Starts the daemon. Start-up errors (bad templates, an unusable API configuration, a status address
 * off loopback without a token) throw; everything after start is recorded and retried.
 */
export async function startDaemon(settings: Settings, log: Logger, hooks: DaemonHooks = {}): Promise<Daemon> {
  const renderer = await loadRenderer(settings);
  const untouched = await createSource(settings, log);
  const tls = await tlsSetup(settings, untouched, log.child("tls"));
  // HAProxy logs alerts only after the first reload, when the daemon (and its loop) exists.
  const late: { daemon?: RunningDaemon } = {};
  const { reloader, master } = settings.dryRun ? dryRunSetup() : reloadSetup(settings, log.child("reload"), {
    trafficLog: hooks.trafficLog,
    domainOf: (backend) =>
      late.daemon === undefined ? undefined : backendDomain(late.daemon.loop.state().domains, backend),
  });
  const runtimeTarget = runtimeTargetOf(settings, master);
  const commands = { ok: 0, failed: 0 };
  const checkArgv = checkCommand(settings);
  const runtime = runtimeTarget === null ? null : createRuntimePath({
    client: createRuntimeClient(runtimeTarget),
    drainTimeoutMs: settings.drainTimeout,
    onCommands(result, count) {
      commands[result] += count;
      hooks.onRuntimeCommands?.(result, count);
    },
    log: log.child("runtime"),
  });
  const installer: Applier = await createApplier({
    target: settings.haproxyConf,
    check: (path, signal) =>
      checkConfig(path, { command: checkArgv, timeoutMs: settings.checkTimeout, signal }),
    reloader,
    minReloadIntervalMs: settings.minReloadInterval,
    log: log.child("apply"),
    ...(runtime === null ? {} : { runtime }),
  });
  const applier = tls === null ? installer : tls.applier(installer, reloader, runtimeTarget);
  const source = tls?.source ?? untouched;
  const parts = { settings, log, hooks, renderer, source, tls, applier, reloader, master };
  late.daemon = new RunningDaemon({ ...parts, runtime, runtimeTarget, commands });
  return late.daemon;
}

function dryRunSetup(): ReloadSetup {
  return {
    reloader: { kind: "none", reload: () => Promise.reject(new Error("dry run")), close: async () => {} },
    master: null,
  };
}

/** What {@linkcode RunningDaemon} runs, built by {@linkcode startDaemon}. */
interface DaemonParts {
  settings: Settings;
  log: Logger;
  hooks: DaemonHooks;
  renderer: Renderer;
  source: Source;
  tls: TlsWiring | null;
  applier: Applier;
  reloader: Reloader;
  master: MasterAddress | null;
  runtime: RuntimePath | null;
  runtimeTarget: RuntimeTarget | null;
  /** Runtime commands sent so far, by result (counted by the runtime path's `onCommands`). */
  commands: { ok: number; failed: number };
}

/** The loop running over the parts, the source watching, until {@linkcode RunningDaemon.stop}. */
class RunningDaemon implements Daemon {
  readonly loop: Loop;
  readonly haproxy: HaproxyViewReader | null;
  readonly finished: Promise<void>;
  readonly #parts: DaemonParts;
  readonly #controller = new AbortController();
  #lastDiff = "";
  #generate: Generator;

  constructor(parts: DaemonParts) {
    this.#parts = parts;
    const { settings, log, source, tls, applier, reloader, master } = parts;
    const portProbe = new ListenPortProbe(settings.tcpBindAddress);
    this.#generate = generatorOf(parts.renderer, settings, tls);
    // The first list's pages go to the generator as they arrive: the model and the fragments are built
    // while the API serves the next page, and the first pass finds them done.
    source.onListing?.((sets) => this.#generate.prime?.(sets));
    this.loop = createLoop({
      source,
      generate: this.#generate,
      applier,
      configPath: settings.haproxyConf,
      reloadMode: settings.dryRun ? "none" : reloader.kind,
      wait: settings.wait,
      maxShrink: settings.maxShrink,
      dryRun: settings.dryRun,
      probe: (generated, installed) => portProbe.culprits(generated, installed),
      log: log.child("loop"),
      onPass: (record, result) => this.#onPass(record, result),
    });
    this.haproxy = master === null ? null : masterViewReader(master);
    // With --once, the caller drives the one pass through once().
    if (!settings.once) this.loop.start();
    this.finished = source.run(this.#controller.signal);
    this.finished.catch((error) => log.error("source stopped", { error: errorText(error) }));
  }

  state(): DaemonState {
    const state = this.loop.state();
    const { runtime, runtimeTarget: target, commands } = this.#parts;
    if (runtime === null || target === null) return state;
    const now = Date.now();
    const via = target.viaMaster ? "master CLI" : "stats socket";
    return {
      ...state,
      runtime: {
        target: `${via} ${formatMasterAddress(target.address)}`,
        draining: runtime.draining().map((d) => ({ server: d.id, sinceMs: now - d.since })),
        commands: { ...commands },
      },
    };
  }

  async reloadTemplates(): Promise<void> {
    const { settings, log, tls } = this.#parts;
    try {
      const next = await loadRenderer(settings);
      this.#generate = generatorOf(next, settings, tls);
      this.loop.setGenerator(this.#generate);
      log.info("templates re-read", { files: next.files.length });
    } catch (error) {
      log.error("cannot re-read templates, keeping the current ones", { error: errorText(error) });
    }
  }

  async once(): Promise<ApplyRecord> {
    await waitForSync(this.#parts.source, this.finished, this.#parts.settings.syncTimeout);
    return await this.loop.runNow();
  }

  async stop(): Promise<void> {
    await this.loop.close();
    this.#parts.runtime?.close();
    this.#controller.abort();
    await this.finished.catch(() => {});
    await this.#parts.reloader.close();
  }

  #onPass(record: ApplyRecord, result: ApplyResult | undefined): void {
    this.#parts.hooks.onPass?.(record);
    // A dry-run daemon shows each new diff once, not again on every resync.
    if (result?.status === "dry-run" && result.diff !== "" && result.diff !== this.#lastDiff) {
      this.#lastDiff = result.diff;
      this.#parts.hooks.onDiff?.(result.diff);
    }
  }
}
