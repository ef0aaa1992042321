/**
 * Where the process is assembled: the daemon (lib/daemon/) and, reading it from outside, the metrics and
 * the status server (lib/status/). Data flows one way: the daemon reports through hooks and its state
 * record, and knows nothing of status.
 *
 * @module
 */
import { ConfigError, type Settings } from "../settings/options.ts";
import { checkStatusListen } from "../settings/values.ts";
import { type Daemon, type DaemonHooks, startDaemon } from "../daemon/daemon.ts";
import { createMetrics } from "../status/metrics.ts";
import {
  createStatusApp,
  startStatusServer,
  type StatusAppOptions,
  type StatusServer,
} from "../status/app.ts";
import { errorText, type Logger } from "../log.ts";

/** The daemon with its status server. */
export interface Service {
  /** The daemon (loop, state, once, reloadTemplates). */
  readonly daemon: Daemon;
  /** The status server, when enabled. */
  readonly status: StatusServer | null;
  /** Stops the daemon, then the status server. */
  stop(): Promise<void>;
}

/** Reads `--status-token-file`; an unreadable, empty or short token is a start-up (settings) error. */
async function readTokenFile(path: string): Promise<string> {
  let token: string;
  try {
    token = (await Deno.readTextFile(path)).trim();
  } catch (error) {
    throw new ConfigError(`Invalid --status-token-file: cannot read "${path}": ${errorText(error)}`);
  }
  if (token.length < 16) {
    throw new ConfigError(
      `Invalid --status-token-file: "${path}" must hold a token of at least 16 characters`,
    );
  }
  return token;
}

/** Whether this run serves status: not when off, nor for a --once run (seconds long, maybe beside a daemon). */
/** The status app's readers of HAProxy's view, when the daemon has a master socket to read it through. */
function haproxyReaders(daemon: Daemon): Pick<StatusAppOptions, "readHaproxy" | "readServers"> {
  const reader = daemon.haproxy;
  if (reader === null) return {};
  return { readHaproxy: () => reader.view(), readServers: (names) => reader.servers(names) };
}

function servesStatus(settings: Settings): boolean {
  return settings.statusListen !== "off" && !settings.once;
}

/**
 * Starts the daemon and its status server. The status settings are checked before anything starts, so
 * that a bad token file or an exposed address without a token starts nothing.
 */
export async function startService(
  settings: Settings,
  log: Logger,
  hooks: Pick<DaemonHooks, "onDiff" | "onPass" | "trafficLog"> = {},
): Promise<Service> {
  let token: string | undefined;
  if (servesStatus(settings)) {
    token = settings.statusTokenFile !== undefined
      ? await readTokenFile(settings.statusTokenFile)
      : settings.statusToken;
    checkStatusListen(settings.statusListen, token !== undefined);
  }
  const metrics = createMetrics();
  const daemon = await startDaemon(settings, log, {
    ...hooks,
    onPass(record) {
      metrics.recordApply(record);
      hooks.onPass?.(record);
    },
    onRuntimeCommands: (result, count) => metrics.recordRuntimeCommands(result, count),
  });
  const controller = new AbortController();
  let status: StatusServer | null = null;
  try {
    if (servesStatus(settings)) {
      const app = createStatusApp(() => daemon.state(), {
        metrics,
        exposeConfig: settings.statusExposeConfig,
        ...(token === undefined ? {} : { token }),
        ...haproxyReaders(daemon),
        logger: log.child("status"),
      });
      status = startStatusServer(app, settings.statusListen, {
        signal: controller.signal,
        logger: log.child("status"),
      });
    }
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return {
    daemon,
    status,
    async stop() {
      await daemon.stop();
      controller.abort();
      await status?.close();
    },
  };
}
