/**
 * Settings for benchmarks, parsed the way `main.ts` does.
 *
 * @module
 */
import { parseCommandLine } from "../lib/settings/cli.ts";
import { loadSettings, optionSpecs, type Settings } from "../lib/settings/options.ts";

/** Settings from a command line, with no environment. */
export function parseSettings(args: string[]): Settings {
  return loadSettings(parseCommandLine(args, optionSpecs()).values, {});
}
