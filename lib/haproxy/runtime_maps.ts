/**
 * Map entry changes through HAProxy's Runtime API (2.6): the commands for a plan of {@linkcode MapChange}s
 * (`add map`, `set map`, `del map` on the map's file name) and the read-back of `show map` against the file.
 *
 * @module
 */
import type { MapChange } from "./plan.ts";
import type { PlannedCommand } from "./runtime.ts";

/** `add map`, `set map` and `del map` answer nothing when they worked. */
const DONE = /^$/;

/** The commands for `changes`: additions and new values first, removals last. */
export function planMapCommands(changes: readonly MapChange[]): PlannedCommand[] {
  const plan: PlannedCommand[] = [];
  for (const { map, adds, sets, dels } of changes) {
    for (const [key, value] of adds) plan.push({ command: `add map ${map} ${key} ${value}`, expect: DONE });
    for (const [key, value] of sets) plan.push({ command: `set map ${map} ${key} ${value}`, expect: DONE });
    for (const key of dels) plan.push({ command: `del map ${map} ${key}`, expect: DONE });
  }
  return plan;
}

/** The entries of a `show map <file>` answer (`<ref> <key> <value>` per line), in order. */
export function parseShowMap(text: string): [string, string][] {
  return text.split("\n").map((line) => line.trim().split(/\s+/)).filter((w) => w.length === 3)
    .map(([, key, value]) => [key!, value!]);
}

/** Where HAProxy's entries differ from the file's (empty when they are the same set of entries). */
export function mapReadBackProblems(change: MapChange, shown: readonly [string, string][]): string[] {
  const key = ([k, v]: readonly [string, string]) => `${k} ${v}`;
  const live = shown.map(key).sort();
  const want = change.expected.map(key).sort();
  if (live.join("\n") === want.join("\n")) return [];
  const liveSet = new Set(live), wantSet = new Set(want);
  const missing = want.filter((e) => !liveSet.has(e));
  const extra = live.filter((e) => !wantSet.has(e));
  return [
    `map ${change.map}: missing [${missing.slice(0, 5).join(", ")}], extra [${extra.slice(0, 5).join(", ")}]`,
  ];
}
