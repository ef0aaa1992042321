// deno-lint-ignore-file no-console -- the entry point is the one place that prints to the console
/**
 * haconfd: keeps an HAProxy in front of a Kubernetes cluster in step with the cluster.
 *
 * The entry point: parses the command line, loads settings, dispatches to a subcommand. Only this file
 * exits the process and prints to the console.
 *
 * @module
 */
import { parseCommandLine } from "./lib/settings/cli.ts";
import {
  ConfigError,
  loadSettings,
  optionsHelp,
  optionSpecs,
  type Settings,
} from "./lib/settings/options.ts";
import {
  checkCommand,
  createSource,
  haproxyProcessOf,
  listenOf,
  loadRenderer,
  reservedPortsOf,
  startDaemon,
} from "./lib/daemon/daemon.ts";
import { runDemo } from "./lib/demo/demo.ts";
import { readDump } from "./lib/source/file.ts";
import { generate } from "./lib/render/generate.ts";
import { checkConfig } from "./lib/haproxy/check.ts";
import { AuthConfigError } from "./lib/source/kube/auth.ts";
import type { EndpointSet } from "./lib/model/endpoints.ts";
import { createLogger, errorText, type Logger } from "./lib/log.ts";
import { passSucceeded } from "./lib/daemon/loop.ts";
import { preflight } from "./lib/daemon/preflight.ts";
import { waitForSync } from "./lib/source/source.ts";
import { VERSION, versionLine } from "./lib/version.ts";

const COMMANDS = {
  run: "watch the cluster (or --from FILE) and keep HAProxy's config in step (the default)",
  render: "render the config once and print it (from --from FILE, - for stdin, or one sync with the API)",
  check: "render the config once and check it with the check command (--haproxy-chk-cmd)",
  demo: "a live demo on this machine: HAProxy routing to demo pods of a simulated cluster (tools/example.sh)",
  version: "print the version",
} as const;
type Command = keyof typeof COMMANDS;

function usage(command?: Command): string {
  const head = command === undefined
    ? `Usage: haconfd [COMMAND] [OPTIONS]\n\nCommands:\n${
      Object.entries(COMMANDS).map(([name, text]) => `  ${name.padEnd(10)}${text}`).join("\n")
    }\n\nWithout a command, haconfd runs the daemon (as pyconfd did).`
    : `Usage: haconfd ${command} [OPTIONS]\n\n${COMMANDS[command]}`;
  const tail = "Flags win over environment variables, which win over defaults; both may be mixed.";
  return `${head}\n\n${optionsHelp()}\n\n${tail}\n`;
}

/** Exit codes: success, a runtime failure, a usage or settings error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Reads the current endpoint sets once: from `--from`, else one complete sync with the API. */
async function readOnce(settings: Settings, log: Logger): Promise<EndpointSet[]> {
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

async function renderOnce(settings: Settings, log: Logger): Promise<string> {
  const renderer = await loadRenderer(settings);
  const sets = await readOnce(settings, log);
  const { model, text } = generate(
    sets,
    renderer,
    listenOf(settings),
    haproxyProcessOf(settings),
    reservedPortsOf(settings),
  );
  for (const skipped of model.skipped) log.warn("object skipped", { ...skipped });
  log.info("rendered", { domains: Object.keys(model.domains).length, skipped: model.skipped.length });
  return text;
}

async function checkOnce(settings: Settings, log: Logger): Promise<boolean> {
  const text = await renderOnce(settings, log);
  const dir = await Deno.makeTempDir({ prefix: "haconfd-check-" });
  try {
    const path = `${dir}/haproxy.cfg`;
    await Deno.writeTextFile(path, text);
    const result = await checkConfig(path, {
      command: checkCommand(settings),
      timeoutMs: settings.checkTimeout,
    });
    for (const line of result.errors) console.error(line.replaceAll(path, "<rendered>"));
    console.log(result.ok ? "Configuration is valid" : "Configuration is invalid");
    return result.ok;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Signals for the daemon, listened to from the start so that an early SIGHUP or SIGTERM is not fatal. */
function daemonSignals(log: Logger) {
  let onHup: () => void = () =>
    log.info("SIGHUP before start-up finished: templates are read at start anyway");
  let requested = 0;
  const stop = Promise.withResolvers<void>();
  const onStop = () => {
    requested++;
    if (requested === 1) stop.resolve();
    else {
      log.error("second stop signal: exiting at once");
      Deno.exit(EXIT.failure);
    }
  };
  const hup = () => onHup();
  Deno.addSignalListener("SIGTERM", onStop);
  Deno.addSignalListener("SIGINT", onStop);
  Deno.addSignalListener("SIGHUP", hup);
  return {
    stopRequested: stop.promise,
    onHup(handler: () => void) {
      onHup = handler;
    },
    remove() {
      Deno.removeSignalListener("SIGTERM", onStop);
      Deno.removeSignalListener("SIGINT", onStop);
      Deno.removeSignalListener("SIGHUP", hup);
    },
  };
}

async function runDaemon(settings: Settings, log: Logger): Promise<number> {
  const signals = daemonSignals(log);
  try {
    const daemon = await startDaemon(settings, log, { onDiff: (diff) => console.log(diff) });
    if (settings.once) {
      let record;
      try {
        record = await Promise.race([daemon.once(), signals.stopRequested.then(() => null)]);
      } finally {
        await daemon.stop();
      }
      if (record === null) return EXIT.failure;
      if (passSucceeded(record)) {
        log.info("done", { outcome: record.outcome, detail: record.detail });
        return EXIT.ok;
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
      return EXIT.failure;
    }
    signals.onHup(() => void daemon.reloadTemplates());
    log.info("started", { version: VERSION, status: daemon.status?.url ?? "off" });
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
    await daemon.stop();
    return failed ? EXIT.failure : EXIT.ok;
  } finally {
    signals.remove();
  }
}

async function demoCommand(
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
  log: Logger,
): Promise<number> {
  const signals = daemonSignals(log);
  const controller = new AbortController();
  signals.stopRequested.then(() => controller.abort());
  try {
    await runDemo({ flags, env, print: (line) => console.log(line), signal: controller.signal });
    return EXIT.ok;
  } finally {
    signals.remove();
  }
}

/**
 * Runs haconfd with the given arguments and environment; resolves to the exit code.
 *
 * @example
 * ```ts
 * Deno.exit(await main(["render", "--from", "examples/endpoints.json"]));
 * ```
 */
export async function main(
  args: readonly string[] = Deno.args,
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
): Promise<number> {
  let command: Command = "run";
  let settings: Settings;
  let flags: Record<string, string | boolean> = {};
  try {
    const line = parseCommandLine(args, optionSpecs());
    flags = line.values;
    const [first, ...rest] = line.positionals;
    if (first !== undefined) {
      if (!(first in COMMANDS)) {
        throw new ConfigError(`Unknown command "${first}": use one of ${Object.keys(COMMANDS).join(", ")}`);
      }
      command = first as Command;
    }
    if (rest.length > 0) throw new ConfigError(`Unexpected argument "${rest[0]}" after "${command}"`);
    if (line.values.help === true) {
      console.log(usage(first === undefined ? undefined : command));
      return EXIT.ok;
    }
    if (command === "version") {
      console.log(versionLine());
      return EXIT.ok;
    }
    settings = loadSettings(line.values, env);
    // Files, programs and the API connection the settings name are checked now, so that a typo is a
    // usage error (exit 2) naming the flag, not a failure later. The demo makes its own files and API.
    if (command !== "demo") await preflight(settings, command, { flags: line.values, env });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`haconfd: ${error.message}\nRun "haconfd --help" for usage.`);
      return EXIT.usage;
    }
    throw error;
  }

  const log = createLogger({ level: settings.logLevel, format: settings.logFormat, component: command });
  try {
    switch (command) {
      case "render": {
        const text = await renderOnce(settings, log);
        await Deno.stdout.write(new TextEncoder().encode(text));
        return EXIT.ok;
      }
      case "check":
        return (await checkOnce(settings, log)) ? EXIT.ok : EXIT.failure;
      case "run":
        return await runDaemon(settings, log);
      case "demo":
        return await demoCommand(flags, env, log);
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AuthConfigError) {
      console.error(`haconfd: ${error.message}`);
      return EXIT.usage;
    }
    log.error(`${command} failed`, { error: errorText(error) });
    return EXIT.failure;
  }
}

if (import.meta.main) Deno.exit(await main());
