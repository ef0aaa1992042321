/**
 * Decides from two rendered configs whether the change can go through HAProxy's Runtime API: only when
 * every difference is a `server` line inside a `backend`/`listen` section present in both, and everything
 * else is byte-identical. Pure: text in, a plan of server changes (or the reason for a reload) out.
 *
 * @module
 */
import { Buffer } from "node:buffer";
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

/**
 * The defaults section of section `index`: the named one (`from NAME`), else the last one before it. With
 * `partial` (sections of a stretch of the text), a named one found before `index` only: the first section
 * of that name in the whole text may come earlier, so the caller searches the whole text instead.
 */
function defaultsFor(sections: Section[], index: number, partial: boolean): Section | undefined {
  const section = sections[index];
  if (section?.from !== undefined) {
    if (partial) return undefined;
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
 * The UTF-8 parts two texts were assembled from (lib/render/generate.ts keeps them): a part that did not
 * change between two renders is the same array in both, so the differences are found without reading the
 * rest.
 */
export interface TextParts {
  /** The parts of the installed text. */
  installed: readonly Uint8Array[];
  /** The parts of the new text. */
  next: readonly Uint8Array[];
}

/**
 * Compares the installed config with a new one. `runtime` when only server lines of existing
 * backends differ (with IP:port addresses and a dynamic algorithm), `reload` with the reason otherwise.
 * With `parts`, only the sections around the parts that differ are read (the same verdict, in time
 * proportional to the change); without them, or when they cannot be lined up, the whole texts are.
 *
 * @example
 * ```ts
 * const verdict = runtimeDiff(installed, rendered);
 * if (verdict.path === "reload") log.info("reload needed", { reason: verdict.reason });
 * ```
 */
export function runtimeDiff(installed: string, next: string, parts?: TextParts): RuntimeDiff {
  const spans = parts === undefined ? null : changedSpans(installed, next, parts);
  if (spans === null) return wholeDiff(installed, next);
  if (spans.length === 0) return { path: "unchanged" };
  const changes: BackendChange[] = [];
  for (const span of spans) {
    const before = splitSections(installed.slice(span.oldStart, span.oldEnd));
    const after = splitSections(next.slice(span.newStart, span.newEnd));
    const found = compareSections(before, after, (index) => {
      const local = defaultsFor(after, index, true);
      if (local !== undefined) return local;
      const from = after[index]?.from;
      return from !== undefined
        ? namedDefaults(installed, from)
        : lastDefaultsBefore(installed, span.oldStart);
    });
    if (!Array.isArray(found)) return found;
    changes.push(...found);
  }
  if (changes.length === 0) return { path: "reload", reason: "server lines reordered" };
  return { path: "runtime", changes };
}

/** {@linkcode runtimeDiff} over the whole texts. */
function wholeDiff(installed: string, next: string): RuntimeDiff {
  if (installed === next) return { path: "unchanged" };
  const before = parseSections(installed);
  const after = parseSections(next);
  const found = compareSections(before, after, (index) => defaultsFor(after, index, false));
  if (!Array.isArray(found)) return found;
  if (found.length === 0) return { path: "reload", reason: "server lines reordered" };
  return { path: "runtime", changes: found };
}

/** The section-by-section comparison: the server changes, or the reload verdict. */
function compareSections(
  before: Section[],
  after: Section[],
  defaults: (index: number) => Section | undefined,
): BackendChange[] | RuntimeDiff {
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
    const change = backendChange(defaults(i)?.lines ?? [], a, b);
    if (typeof change === "string") return { path: "reload", reason: `${where}: ${change}` };
    if (change !== undefined) changes.push(change);
  }
  return changes;
}

/** A stretch that differs: `[oldStart, oldEnd)` of the installed text is `[newStart, newEnd)` of the new one. */
interface Span {
  oldStart: number;
  oldEnd: number;
  newStart: number;
  newEnd: number;
}

function byteLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const part of parts) n += part.length;
  return n;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/**
 * The stretches where the texts differ, each widened to whole sections (from a section header to the next
 * one, found in the identical text around it), or null when the parts cannot say: a different number of
 * parts, or a text that is not ASCII (then byte offsets are not string offsets).
 */
function changedSpans(installed: string, next: string, parts: TextParts): Span[] | null {
  const { installed: pa, next: pb } = parts;
  if (pa.length !== pb.length) return null;
  if (byteLength(pa) !== installed.length || byteLength(pb) !== next.length) return null;
  const raw: Span[] = [];
  let oldAt = 0;
  let newAt = 0;
  for (let i = 0; i < pa.length; i++) {
    const a = pa[i]!;
    const b = pb[i]!;
    if (!sameBytes(a, b)) {
      const last = raw.at(-1);
      if (last !== undefined && last.oldEnd === oldAt) {
        last.oldEnd += a.length;
        last.newEnd += b.length;
      } else {raw.push({
          oldStart: oldAt,
          oldEnd: oldAt + a.length,
          newStart: newAt,
          newEnd: newAt + b.length,
        });}
    }
    oldAt += a.length;
    newAt += b.length;
  }
  return widen(installed, raw);
}

/**
 * Widens each stretch to whole sections. The text between two stretches is the same in both texts (shifted);
 * a boundary is searched only there, else the stretch joins its neighbour.
 */
function widen(installed: string, raw: Span[]): Span[] {
  const spans: Span[] = [];
  let group: Span | null = null;
  for (let k = 0; k < raw.length; k++) {
    const w = raw[k]!;
    const floor = k === 0 ? 0 : raw[k - 1]!.oldEnd;
    const ceil = k === raw.length - 1 ? installed.length : raw[k + 1]!.oldStart;
    if (group === null) {
      const lo = headerBefore(installed, w.oldStart, floor, k === 0);
      if (lo === undefined) {
        // No boundary since the previous stretch: only possible for k > 0, where it joined that one.
        throw new Error("runtimeDiff: a stretch without a start boundary");
      }
      group = { oldStart: lo, oldEnd: 0, newStart: lo + (w.newStart - w.oldStart), newEnd: 0 };
    }
    const hi = k === raw.length - 1
      ? (headerAfter(installed, w.oldEnd, ceil) ?? installed.length)
      : headerAfter(installed, w.oldEnd, ceil);
    const nextStart = k === raw.length - 1
      ? undefined
      : headerBefore(installed, raw[k + 1]!.oldStart, w.oldEnd, false);
    if (hi === undefined || (k < raw.length - 1 && nextStart === undefined)) continue;
    group.oldEnd = hi;
    group.newEnd = hi + (w.newEnd - w.oldEnd);
    spans.push(group);
    group = null;
  }
  return spans;
}

/** A line starting at `at` opens a section (as {@linkcode parseSections} finds them). */
const HEADER_AT = new RegExp(
  `[ \\t]*(?:${[...SECTION_KEYWORDS].join("|")})(?=[ \\t\\n\\r\\u2028\\u2029]|$)`,
  "y",
);

function isHeaderAt(text: string, at: number): boolean {
  HEADER_AT.lastIndex = at;
  return HEADER_AT.test(text);
}

/**
 * The start of the last section header whose line lies in `[floor, before)` with the newline before it
 * there too (or at 0 when `atStart`), or undefined.
 */
function headerBefore(text: string, before: number, floor: number, atStart: boolean): number | undefined {
  let nl = text.lastIndexOf("\n", before - 1);
  while (nl >= floor) {
    const start = text.lastIndexOf("\n", nl - 1) + 1;
    // The text's start is a section boundary (of the nameless first section, or of a header there).
    if (start === 0) return atStart ? 0 : undefined;
    if (start - 1 < floor) return undefined;
    if (isHeaderAt(text, start)) return start;
    nl = start - 1;
  }
  return atStart && floor === 0 && nl < 0 ? 0 : undefined;
}

/** The start of the first section header after `from` whose line (and the newline before it) lies in `[from, ceil)`. */
function headerAfter(text: string, from: number, ceil: number): number | undefined {
  let nl = text.indexOf("\n", from);
  while (nl >= 0 && nl < ceil) {
    const end = text.indexOf("\n", nl + 1);
    if (end < 0 || end >= ceil) return undefined;
    if (isHeaderAt(text, nl + 1)) return nl + 1;
    nl = end;
  }
  return undefined;
}

/** The section that starts at `start` (a header), up to the next header as {@linkcode parseSections} cuts it. */
function sectionAt(text: string, start: number): Section {
  // Its own regex: HEADER's lastIndex must stay 0 for splitSections' matchAll.
  const after = new RegExp(HEADER.source, "gm");
  after.lastIndex = start + 1;
  const next = after.exec(text);
  return section(text.slice(start, next === null ? text.length : next.index - 1));
}

/** The header of a `defaults` section at `at`, if one starts there (at a line start). */
function defaultsAt(text: string, at: number): Section | undefined {
  let start = at;
  while (start > 0 && (text[start - 1] === " " || text[start - 1] === "\t")) start--;
  if (start > 0 && !"\n\r\u2028\u2029".includes(text[start - 1]!)) return undefined;
  if (!isHeaderAt(text, start)) return undefined;
  const found = sectionAt(text, start);
  return found.kind === "defaults" ? found : undefined;
}

/** The last `defaults` section starting before `before`. */
function lastDefaultsBefore(text: string, before: number): Section | undefined {
  for (
    let at = text.lastIndexOf("defaults", before - 1);
    at >= 0;
    at = text.lastIndexOf("defaults", at - 1)
  ) {
    const found = defaultsAt(text, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The first `defaults NAME` section. */
function namedDefaults(text: string, name: string): Section | undefined {
  for (let at = text.indexOf("defaults"); at >= 0; at = text.indexOf("defaults", at + 1)) {
    const found = defaultsAt(text, at);
    if (found?.name === name) return found;
  }
  return undefined;
}

function backendChange(defaults: string[], a: Section, b: Section): BackendChange | undefined | string {
  const old = serversOf(a);
  const now = serversOf(b);
  if (typeof old === "string") return old;
  if (typeof now === "string") return now;
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
