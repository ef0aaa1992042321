/**
 * Decides from two rendered configs whether the change can go through HAProxy's Runtime API: only when
 * every difference is a `server` line inside a `backend`/`listen` section present in both, and everything
 * else is byte-identical. Pure: text in, a plan of server changes (or the reason for a reload) out.
 *
 * @module
 */
import { isIP } from "node:net";

/** Section keywords of the HAProxy 2.6 configuration (a line starting with one opens a section). */
const SECTION_KEYWORDS = new Set([
  "global",
  "defaults",
  "frontend",
  "backend",
  "listen",
  "resolvers",
  "peers",
  "userlist",
  "mailers",
  "program",
  "http-errors",
  "ring",
  "cache",
  "fcgi-app",
]);

/**
 * Load-balancing algorithms that accept `add server` (HAProxy 2.6 answers "Backend must use a dynamic
 * load balancing to support dynamic servers." otherwise). Hash-based ones qualify only with
 * `hash-type consistent`; `static-rr` never does.
 */
const DYNAMIC_ALGORITHMS = new Set(["roundrobin", "leastconn", "first", "random"]);
const HASH_ALGORITHMS = new Set(["source", "uri", "url_param", "hdr", "rdp-cookie", "hash"]);

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
  /** Every server of the backend in the new file, for the read-back. */
  expected: ServerLine[];
}

/** The verdict of {@linkcode runtimeDiff}. */
export type RuntimeDiff =
  | { path: "unchanged" }
  | { path: "reload"; reason: string }
  | { path: "runtime"; changes: BackendChange[] };

interface Section {
  kind: string;
  name: string;
  /** `from NAME` of a proxy section (named defaults), if any. */
  from: string | undefined;
  /** The section's text, header line included. */
  text: string;
  /** Its lines (split on demand: a 1 MB config has few changed sections). */
  readonly lines: string[];
}

const HEADER = new RegExp(`^[ \\t]*(?:${[...SECTION_KEYWORDS].join("|")})(?=[ \\t]|$).*$`, "gm");

function section(text: string): Section {
  const header = text.slice(0, text.indexOf("\n") < 0 ? text.length : text.indexOf("\n"));
  const w = words(header);
  const kind = w[0] !== undefined && SECTION_KEYWORDS.has(w[0]) ? w[0] : "";
  const fromAt = w.indexOf("from");
  let lines: string[] | undefined;
  return {
    kind,
    name: kind !== "" && w[1] !== undefined && w[1] !== "from" ? w[1] : "",
    from: kind !== "" && fromAt > 0 ? w[fromAt + 1] : undefined,
    text,
    get lines() {
      return (lines ??= text === "" ? [] : text.split("\n"));
    },
  };
}

function words(line: string): string[] {
  return line.trim().split(/\s+/).filter((w) => w !== "");
}

/** Splits a config into sections (lines before the first section go into a nameless one). */
export function parseSections(text: string): Section[] {
  // The text rendered by one pass is the installed one of the next: keep the last two parses.
  const hit = recent.find((r) => r.text === text);
  if (hit !== undefined) return hit.sections;
  const sections = splitSections(text);
  recent.unshift({ text, sections });
  recent.length = Math.min(recent.length, 2);
  return sections;
}

const recent: { text: string; sections: Section[] }[] = [];

function splitSections(text: string): Section[] {
  const starts = [0, ...[...text.matchAll(HEADER)].map((m) => m.index ?? 0)];
  const sections: Section[] = [];
  for (let i = 0; i < starts.length; i++) {
    const from = starts[i] ?? 0;
    const to = starts[i + 1] ?? text.length;
    // Section texts exclude the newline before the next header: the first one may be empty.
    if (i === 0 && to === 0) {
      sections.push(section(""));
      continue;
    }
    sections.push(section(text.slice(from, i + 1 < starts.length ? to - 1 : to)));
  }
  return sections;
}

function isProxyWithServers(section: Section): boolean {
  return section.kind === "backend" || section.kind === "listen";
}

function isServerLine(line: string): boolean {
  return words(line)[0] === "server";
}

/** The text with every `server` line of `backend`/`listen` sections removed. */
export function skeleton(text: string): string {
  return parseSections(text)
    .flatMap((s) => (isProxyWithServers(s) ? s.lines.filter((l) => !isServerLine(l)) : s.lines))
    .join("\n");
}

/**
 * Parses a `server` line; a string explains why it cannot go through the Runtime API (quoting, a host
 * name — dynamic servers never resolve names —, no port).
 */
export function parseServerLine(line: string): ServerLine | string {
  if (/["'\\]/.test(line)) return `server line with quoting: ${line.trim()}`;
  const [, name, where, ...keywords] = words(line);
  if (name === undefined || where === undefined) return `incomplete server line: ${line.trim()}`;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(where);
  if (m === null) return `server ${name}: address "${where}" is not IP:port`;
  const address = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (isIP(address) === 0) return `server ${name}: "${address}" is not an IP address`;
  if (port < 1 || port > 65535) return `server ${name}: port ${port} out of range`;
  return { name, address, port, keywords };
}

/** The words after `kw` on every line that starts with it, in order. */
function allKeywords(lines: string[], kw: string): string[] {
  return lines.map(words).filter((w) => w[0] === kw).flatMap((w) => w.slice(1));
}

function keyword(lines: string[], kw: string): string[] | undefined {
  let found: string[] | undefined;
  for (const line of lines) {
    const w = words(line);
    if (w[0] === kw) found = w.slice(1);
  }
  return found;
}

function defaultsFor(sections: Section[], index: number): Section | undefined {
  const section = sections[index];
  if (section?.from !== undefined) {
    return sections.find((s) => s.kind === "defaults" && s.name === section.from);
  }
  for (let i = index - 1; i >= 0; i--) if (sections[i]?.kind === "defaults") return sections[i];
  return undefined;
}

/** Why the backend's algorithm does not allow dynamic servers, or undefined when it does. */
export function dynamicAlgorithmProblem(backend: string[], defaults: string[]): string | undefined {
  const balance = keyword(backend, "balance") ?? keyword(defaults, "balance") ?? ["roundrobin"];
  const algorithm = (balance[0] ?? "roundrobin").replace(/\(.*$/, "");
  if (DYNAMIC_ALGORITHMS.has(algorithm)) return undefined;
  if (HASH_ALGORITHMS.has(algorithm)) {
    const hashType = keyword(backend, "hash-type") ?? keyword(defaults, "hash-type") ?? ["map-based"];
    if (hashType[0] === "consistent") return undefined;
    return `balance ${algorithm} with hash-type ${hashType[0]} does not allow dynamic servers`;
  }
  return `balance ${algorithm} does not allow dynamic servers`;
}

function serversOf(section: Section): Map<string, ServerLine> | string {
  const servers = new Map<string, ServerLine>();
  for (const line of section.lines) {
    if (!isServerLine(line)) continue;
    const parsed = parseServerLine(line);
    if (typeof parsed === "string") return parsed;
    if (servers.has(parsed.name)) return `server name ${parsed.name} used twice`;
    servers.set(parsed.name, parsed);
  }
  return servers;
}

function sameKeywords(a: ServerLine, b: ServerLine): boolean {
  return a.keywords.join(" ") === b.keywords.join(" ");
}

/**
 * Compares the installed config with a new one. `runtime` when only server lines of existing
 * backends differ (with IP:port addresses and a dynamic algorithm), `reload` with the reason otherwise.
 *
 * @example
 * ```ts
 * const verdict = runtimeDiff(installed, rendered);
 * if (verdict.path === "reload") log.info("reload needed", { reason: verdict.reason });
 * ```
 */
export function runtimeDiff(installed: string, next: string): RuntimeDiff {
  if (installed === next) return { path: "unchanged" };
  const before = parseSections(installed);
  const after = parseSections(next);
  if (before.length !== after.length) return { path: "reload", reason: "sections added or removed" };
  const changes: BackendChange[] = [];
  for (let i = 0; i < after.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a === undefined || b === undefined) return { path: "reload", reason: "sections added or removed" };
    const where = `${b.kind || "top"}${b.name ? ` ${b.name}` : ""}`;
    if (a.kind !== b.kind || a.name !== b.name) {
      return { path: "reload", reason: `sections changed (${a.kind} ${a.name} → ${where})` };
    }
    if (a.text === b.text) continue;
    if (!isProxyWithServers(b)) return { path: "reload", reason: `${where} changed` };
    const rest = (s: Section) => s.lines.filter((l) => !isServerLine(l)).join("\n");
    if (rest(a) !== rest(b)) return { path: "reload", reason: `${where} changed beyond its server lines` };
    const change = backendChange(after, i, a, b);
    if (typeof change === "string") return { path: "reload", reason: `${where}: ${change}` };
    if (change !== undefined) changes.push(change);
  }
  if (changes.length === 0) return { path: "reload", reason: "server lines reordered" };
  return { path: "runtime", changes };
}

function backendChange(
  sections: Section[],
  index: number,
  a: Section,
  b: Section,
): BackendChange | undefined | string {
  const old = serversOf(a);
  const now = serversOf(b);
  if (typeof old === "string") return old;
  if (typeof now === "string") return now;
  const defaults = defaultsFor(sections, index)?.lines ?? [];
  const problem = dynamicAlgorithmProblem(b.lines, defaults);
  if (problem !== undefined) return problem;
  // HAProxy applies no default-server to dynamic servers: pass the effective ones along, before the
  // line's own keywords so that those win as they do in the file.
  const inherited = [...allKeywords(defaults, "default-server"), ...allKeywords(b.lines, "default-server")];
  const change: BackendChange = {
    backend: b.name,
    adds: [],
    removes: [],
    removedKeywords: {},
    updates: [],
    expected: [...now.values()],
  };
  for (const [name, server] of now) {
    const was = old.get(name);
    if (was === undefined) {
      change.adds.push({ ...server, effectiveKeywords: [...inherited, ...server.keywords] });
    } else if (!sameKeywords(was, server)) {
      return `server ${name} changed beyond its address`;
    } else if (was.address !== server.address || was.port !== server.port) {
      change.updates.push(server);
    }
  }
  for (const [name, server] of old) {
    if (now.has(name)) continue;
    change.removes.push(name);
    change.removedKeywords[name] = [...inherited, ...server.keywords].join(" ");
  }
  const empty = change.adds.length + change.removes.length + change.updates.length === 0;
  return empty ? undefined : change;
}
