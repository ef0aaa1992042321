/**
 * Command-line parsing. The only module that touches the argument parser (`node:util` parseArgs, as JSR's
 * @std/cli is out of reach here): switching parsers is a change to this file alone.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** How one option is spelled on the command line. */
export interface OptionSpec {
  /** Long flag name without dashes, e.g. `api-servers`. */
  flag: string;
  /** `string` takes a value; `boolean` does not. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** May be repeated; the values are comma-joined. */
  list?: boolean;
}

/** Flags and positionals of one command line; values are raw strings (or `true`) as given. */
export interface CommandLine {
  /** Flag name → value; a repeated list flag keeps every value, comma-joined; otherwise the last wins. */
  values: Record<string, string | boolean>;
  /** Words that are not flags (the subcommand first). */
  positionals: string[];
}

/**
 * Parses `args` against the option specs; an unknown flag or a missing value throws a `TypeError` that
 * names the flag.
 */
export function parseCommandLine(args: readonly string[], specs: readonly OptionSpec[]): CommandLine {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const spec of specs) {
    const multiple = spec.list === true;
    options[spec.flag] = spec.short === undefined
      ? { type: spec.type, multiple }
      : { type: spec.type, short: spec.short, multiple };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, "");
    throw new TypeError(message, { cause: error });
  }
  const values: Record<string, string | boolean> = {};
  for (const [key, value] of Object.entries(parsed.values)) {
    if (value === undefined) continue;
    values[key] = Array.isArray(value) ? value.map(String).join(",") : value;
  }
  return { values, positionals: parsed.positionals };
}
