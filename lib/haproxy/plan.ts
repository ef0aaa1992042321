/**
 * What the Runtime API is asked to do: the changes lib/apply/ decided can go through it (lib/apply/
 * config_diff.ts), in the form lib/haproxy/runtime.ts turns into commands. Types only.
 *
 * @module
 */

/** One `server` line, split. */
export interface ServerLine {
  /** Server name (unique per backend). */
  name: string;
  /** IP literal (IPv6 without brackets). */
  address: string;
  /** Port. */
  port: number;
  /** The keywords after the address, as written. */
  keywords: string[];
}

/** A server to add: its line plus the effective `default-server` keywords placed before its own. */
export interface ServerAdd extends ServerLine {
  /** `default-server` keywords in effect for the backend, then the line's own keywords. */
  effectiveKeywords: string[];
}

/** The server changes of one backend. */
export interface BackendChange {
  /** Backend (or listen) name. */
  backend: string;
  /** Servers new in the file. */
  adds: ServerAdd[];
  /** Names of servers gone from the file. */
  removes: string[];
  /** Effective keywords (as for an add) of each removed server, by name: to re-enable one that comes back. */
  removedKeywords: Record<string, string>;
  /** Servers whose address or port changed (keywords unchanged). */
  updates: ServerLine[];
  /** Servers whose `weight` changed (address, port and other keywords alike). */
  weights: { name: string; weight: number }[];
  /**
   * Servers whose `disabled` (maintenance) changed (address, port and other keywords alike): a terminating
   * pod goes to maintenance, which takes no new request, sticky ones included, and lets the ones in flight end.
   */
  states: { name: string; maint: boolean }[];
  /** Whether the backend's cookies are `dynamic` (added servers get theirs from the Runtime API). */
  dynamicCookies: boolean;
  /** Every server of the backend in the new file, for the read-back. */
  expected: ServerLine[];
}

/** The entry changes of one map file (keys and values are single words HAProxy's CLI can carry). */
export interface MapChange {
  /** The map's file name as the config names it (its absolute path): the Runtime API's map identifier. */
  map: string;
  /** Keys new in the file, with their values. */
  adds: [key: string, value: string][];
  /** Keys whose value changed, with the new value. */
  sets: [key: string, value: string][];
  /** Keys gone from the file. */
  dels: string[];
  /** Every entry of the new file, for the read-back (`show map`). */
  expected: [key: string, value: string][];
}

/** A server's `weight` as its keywords set it (HAProxy's default is 1). */
export function weightOf(keywords: readonly string[]): number {
  const at = keywords.lastIndexOf("weight");
  return at < 0 ? 1 : Number(keywords[at + 1]);
}

/** Whether a server starts in maintenance: the last of `enabled`/`disabled` wins, as in the file. */
export function startsDisabled(keywords: readonly string[]): boolean {
  return keywords.lastIndexOf("disabled") > keywords.lastIndexOf("enabled");
}
