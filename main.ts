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
import { createSource, listenOf, loadRenderer, passSucceeded, startDaemon } from "./lib/daemon.ts";
import { readDump } from "./lib/file_source.ts";
import { generate } from "./lib/generate.ts";
import { checkConfig, splitCommand } from "./lib/haproxy/check.ts";
import type { EndpointSet } from "./lib/kube/objects.ts";
import { createLogger, errorText, type Logger } from "./lib/log.ts";
import { VERSION, versionLine } from "./lib/version.ts";

const COMMANDS = {
  run: "watch the cluster (or --from FILE) and keep HAProxy's config in step (the default)",
  render: "render the config once and print it (from --from FILE, - for stdin, or one sync with the API)",
  check: "render the config once and check it with the check command (--haproxy-chk-cmd)",
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
  const synced = new Promise<void>((resolve) => source.onChange(() => source.status().synced && resolve()));
  const running = source.run(controller.signal);
  const timeout = AbortSignal.timeout(60_000);
  await Promise.race([
    synced,
    running.then(() => Promise.reject(new Error("the source stopped before its first sync"))),
    new Promise((_, reject) =>
      timeout.addEventListener(
        "abort",
        () => reject(new Error(`no complete sync in 60s: ${source.status().lastError}`)),
      )
    ),
  ]).finally(() => controller.abort());
  await running.catch(() => {});
  return source.snapshot();
}

async function renderOnce(settings: Settings, log: Logger): Promise<string> {
  const renderer = await loadRenderer(settings);
  const sets = await readOnce(settings, log);
  const { model, text } = generate(sets, renderer, listenOf(settings));
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
      command: splitCommand(settings.haproxyCheckCmd),
      timeoutMs: settings.checkTimeout,
    });
    for (const line of result.errors) console.error(line.replaceAll(path, "<rendered>"));
    console.log(result.ok ? "Configuration is valid" : "Configuration is invalid");
    return result.ok;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runDaemon(settings: Settings, log: Logger): Promise<number> {
  const daemon = await startDaemon(settings, log, { onDiff: (diff) => console.log(diff) });
  if (settings.once) {
    const record = await daemon.once();
    await daemon.stop();
    if (passSucceeded(record)) {
      log.info("done", { outcome: record.outcome, detail: record.detail });
      return EXIT.ok;
    }
    log.error("apply failed", { outcome: record.outcome, detail: record.detail, errors: record.errors });
    return EXIT.failure;
  }
  const stopped = new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGTERM", stop);
    Deno.addSignalListener("SIGINT", stop);
  });
  const hup = () => void daemon.reloadTemplates();
  Deno.addSignalListener("SIGHUP", hup);
  log.info("started", { version: VERSION, status: daemon.status?.url ?? "off" });
  await stopped;
  log.info("stopping");
  Deno.removeSignalListener("SIGHUP", hup);
  await daemon.stop();
  return EXIT.ok;
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
        return (await checkOnce(settings, log)) ? EXIT.ok : EXIT.failure;
      case "run":
        return await runDaemon(settings, log);
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
