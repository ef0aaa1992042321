// deno-lint-ignore-file no-console -- the entry point is the one place that prints to the console
/**
 * haconfd: keeps an HAProxy in front of a Kubernetes cluster in step with the cluster.
 *
 * The entry point: parses the command line, loads settings, dispatches to a subcommand. Only this file
 * exits the process and prints to the console.
 *
 * @module
 */
import { parseCommandLine } from "./lib/cli.ts";
import { ConfigError, loadSettings, optionsHelp, optionSpecs, type Settings } from "./lib/config.ts";
import { readDump } from "./lib/file_source.ts";
import { generate } from "./lib/generate.ts";
import { createLogger, errorText, type Logger } from "./lib/log.ts";
import { compileTemplates, defaultTemplates, loadTemplateDir, type Renderer } from "./lib/render.ts";
import { versionLine } from "./lib/version.ts";

const COMMANDS = {
  run: "watch the cluster (or --from FILE) and keep HAProxy's config in step (the default)",
  render: "render the config once and print it (--from FILE, - for stdin)",
  check: "render the config once and check it with the check command",
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

async function loadRenderer(settings: Settings): Promise<Renderer> {
  const files = settings.templateDir === undefined
    ? defaultTemplates()
    : await loadTemplateDir(settings.templateDir);
  return compileTemplates(files);
}

function listenOf(settings: Settings) {
  return { http: settings.httpBind, https: settings.httpsBind, tcp: settings.tcpBindAddress };
}

async function renderOnce(settings: Settings, log: Logger): Promise<string> {
  if (settings.from === undefined) {
    throw new ConfigError(
      "Missing --from: render and check read a kubectl JSON dump (--from FILE, - for stdin)",
    );
  }
  const renderer = await loadRenderer(settings);
  const { sets, problems } = await readDump(settings.from);
  for (const problem of problems) log.warn("object skipped", { ...problem });
  const { model, text } = generate(sets, renderer, listenOf(settings));
  for (const skipped of model.skipped) log.warn("object skipped", { ...skipped });
  log.info("rendered", {
    domains: Object.keys(model.domains).length,
    skipped: model.skipped.length + problems.length,
  });
  return text;
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
  try {
    const line = parseCommandLine(args, optionSpecs());
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
      case "run":
        throw new Error(`Command "${command}" is not available yet`);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`haconfd: ${error.message}`);
      return EXIT.usage;
    }
    log.error(`${command} failed`, { error: errorText(error) });
    return EXIT.failure;
  }
}

if (import.meta.main) Deno.exit(await main());
