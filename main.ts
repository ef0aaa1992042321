// deno-lint-ignore-file no-console -- the entry point is the one place that prints to the console
/**
 * haconfd: keeps an HAProxy in front of a Kubernetes cluster in step with the cluster.
 *
 * The entry point: parses the command line, loads settings, dispatches to a subcommand (their bodies
 * are in lib/commands/commands.ts and lib/demo/), turns signals into stop requests and outcomes into exit
 * codes. Only this file exits the process and prints to the console.
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
import { checkOnce, type Console, renderOnce, runDaemon } from "./lib/commands/commands.ts";
import { runDemo } from "./lib/demo/demo.ts";
import { AuthConfigError } from "./lib/source/kube/auth.ts";
import { createLogger, errorText, type Logger } from "./lib/log.ts";
import { preflight } from "./lib/daemon/preflight.ts";
import { versionLine } from "./lib/version.ts";

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

/** The console, handed to the commands (only this file prints). */
const CONSOLE: Console = { out: (line) => console.log(line), err: (line) => console.error(line) };

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

/** `run`: the daemon under the signal handlers. */
async function runCommand(settings: Settings, log: Logger): Promise<number> {
  const signals = daemonSignals(log);
  try {
    return (await runDaemon(settings, log, signals, CONSOLE)) ? EXIT.ok : EXIT.failure;
  } finally {
    signals.remove();
  }
}

/** `demo`: the demo until a stop signal. */
async function demoCommand(
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
  log: Logger,
): Promise<number> {
  const signals = daemonSignals(log);
  const controller = new AbortController();
  signals.stopRequested.then(() => controller.abort());
  try {
    await runDemo({ flags, env, print: CONSOLE.out, signal: controller.signal });
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
  const invocation = await parseInvocation(args, env);
  if ("exit" in invocation) return invocation.exit;
  const { command, settings, flags } = invocation;
  const log = createLogger({ level: settings.logLevel, format: settings.logFormat, component: command });
  try {
    switch (command) {
      case "render": {
        const text = await renderOnce(settings, log);
        await Deno.stdout.write(new TextEncoder().encode(text));
        return EXIT.ok;
      }
      case "check":
        return (await checkOnce(settings, log, CONSOLE)) ? EXIT.ok : EXIT.failure;
      case "run":
        return await runCommand(settings, log);
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

/** A command to run with its settings, or the exit code when there is nothing more to do (help, version, bad usage). */
type Invocation =
  | { command: Exclude<Command, "version">; settings: Settings; flags: Record<string, string | boolean> }
  | { exit: number };

async function parseInvocation(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<Invocation> {
  try {
    const line = parseCommandLine(args, optionSpecs());
    const [first, ...rest] = line.positionals;
    let command: Command = "run";
    if (first !== undefined) {
      if (!(first in COMMANDS)) {
        throw new ConfigError(`Unknown command "${first}": use one of ${Object.keys(COMMANDS).join(", ")}`);
      }
      command = first as Command;
    }
    if (rest.length > 0) throw new ConfigError(`Unexpected argument "${rest[0]}" after "${command}"`);
    if (line.values.help === true) {
      console.log(usage(first === undefined ? undefined : command));
      return { exit: EXIT.ok };
    }
    if (command === "version") {
      console.log(versionLine());
      return { exit: EXIT.ok };
    }
    const settings = loadSettings(line.values, env);
    // Files, programs and the API connection the settings name are checked now, so that a typo is a
    // usage error (exit 2) naming the flag, not a failure later. The demo makes its own files and API.
    if (command !== "demo") await preflight(settings, command, { flags: line.values, env });
    return { command, settings, flags: line.values };
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      console.error(`haconfd: ${error.message}\nRun "haconfd --help" for usage.`);
      return { exit: EXIT.usage };
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main());
