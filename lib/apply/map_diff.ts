/**
 * Decides whether the map files' changes can go through HAProxy's Runtime API (`add map`, `set map`,
 * `del map`): only entries whose key and value are single words the CLI carries as written, in files that
 * hold each key once, with the same files before and after. Pure: texts in, a plan (or a reason) out.
 *
 * @module
 */
import type { MapChange } from "../haproxy/plan.ts";
import type { SideFile } from "./file_set.ts";

/** A key or value the CLI passes through unchanged: no blank, `;` (command separator), quote, backslash or `#`. */
const WORD = /^[^\s;#"'\\]+$/;

/**
 * The entries of a map file as HAProxy reads it (a key, blanks, the rest of the line as the value; blank
 * and `#` lines skipped), or why the Runtime API could not reproduce it.
 */
export function parseMap(text: string): Map<string, string> | string {
  const entries = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [key = "", ...rest] = line.split(/[ \t]+/);
    const value = rest.join(" ");
    if (rest.length !== 1 || !WORD.test(key) || !WORD.test(value)) {
      return `map entry "${line}" is not "key value"`;
    }
    if (entries.has(key)) return `map key "${key}" appears twice`;
    entries.set(key, value);
  }
  return entries;
}

/** The entry changes of one map, or why they cannot go through the Runtime API. */
function entryChange(map: string, before: string, after: string): MapChange | string {
  const old = parseMap(before);
  const now = parseMap(after);
  if (typeof old === "string") return `${map}: ${old}`;
  if (typeof now === "string") return `${map}: ${now}`;
  const change: MapChange = { map, adds: [], sets: [], dels: [], expected: [...now] };
  for (const [key, value] of now) {
    const was = old.get(key);
    if (was === undefined) change.adds.push([key, value]);
    else if (was !== value) change.sets.push([key, value]);
  }
  for (const key of old.keys()) if (!now.has(key)) change.dels.push(key);
  return change;
}

/**
 * The map changes from the installed side files to the new ones (none when equal), or the reason to
 * reload: a file added, removed or renamed, or an entry the Runtime API cannot carry.
 *
 * @example
 * ```ts
 * const maps = mapDiff(installed, rendered);
 * if (typeof maps === "string") log.info("reload needed", { reason: maps });
 * ```
 */
export function mapDiff(before: readonly SideFile[], after: readonly SideFile[]): MapChange[] | string {
  if (before.length !== after.length || before.some((f, i) => f.path !== after[i]?.path)) {
    return "map files added or removed";
  }
  const changes: MapChange[] = [];
  for (let i = 0; i < after.length; i++) {
    const a = before[i]!, b = after[i]!;
    if (a.text === b.text) continue;
    const change = entryChange(b.path, a.text, b.text);
    if (typeof change === "string") return change;
    if (change.adds.length + change.sets.length + change.dels.length > 0) changes.push(change);
  }
  return changes;
}
