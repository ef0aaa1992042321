// deno-lint-ignore-file no-console -- a tool prints its output
/**
 * Prints the configuration table of README.md from the option table in lib/settings/options.ts, so that the two
 * cannot drift: `tools/deno run tools/options_table.ts --write` rewrites the README in place.
 *
 * @module
 */
import { OPTIONS } from "../lib/settings/options.ts";

/** The Markdown table of every option. */
export function optionsTable(): string {
  const rows = Object.values(OPTIONS).map((o) => {
    const def = o as { flag: string; env?: string; default?: string; help: string; arg?: string };
    const flag = `\`--${def.flag}${def.arg ? ` ${def.arg}` : ""}\``;
    const env = def.env ? `\`${def.env}\`` : "—";
    const dflt = def.default !== undefined && def.default !== "" ? `\`${def.default}\`` : "—";
    return `| ${flag} | ${env} | ${dflt} | ${def.help.replaceAll("|", "\\|")} |`;
  });
  return ["| flag | environment | default | meaning |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

if (import.meta.main) {
  const table = optionsTable();
  if (Deno.args.includes("--write")) {
    const url = new URL("../README.md", import.meta.url);
    const readme = await Deno.readTextFile(url);
    const start = readme.search(/^\| flag +\| environment +\| default +\| meaning +\|$/m);
    const end = readme.indexOf("\n\n", start);
    if (start < 0 || end < 0) throw new Error("README.md has no options table to replace");
    await Deno.writeTextFile(url, readme.slice(0, start) + table + readme.slice(end));
  } else {
    console.log(table);
  }
}
