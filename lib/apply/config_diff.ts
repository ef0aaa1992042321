/**
 * Decides from two rendered configs whether the change can go through HAProxy's Runtime API: only when
 * every difference is a `server` line inside a `backend`/`listen` section present in both, and everything
 * else is byte-identical. Pure: text in, a plan of server changes (or the reason for a reload) out.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { type BackendChange, type ServerLine, startsDisabled, weightOf } from "../haproxy/plan.ts";

export type { BackendChange, ServerAdd, ServerLine } from "../haproxy/plan.ts";

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

function isComment(line: string): boolean {
  return /^[ \t]*#/.test(line);
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

/** Without their `weight N` pairs and `enabled`/`disabled`: what a runtime `weight` or `state` leaves alone. */
function withoutAdminKeywords(keywords: readonly string[]): string {
  return keywords.filter((k, i) =>
    k !== "weight" && keywords[i - 1] !== "weight" && k !== "enabled" && k !== "disabled"
  ).join(" ");
}

/**
 * The new weight and maintenance state when only those of a server changed (address, port and other
 * keywords alike; each undefined when unchanged), else undefined.
 */
function adminChange(was: ServerLine, now: ServerLine): { weight?: number; maint?: boolean } | undefined {
  if (was.address !== now.address || was.port !== now.port) return undefined;
  if (withoutAdminKeywords(was.keywords) !== withoutAdminKeywords(now.keywords)) return undefined;
  const change: { weight?: number; maint?: boolean } = {};
  const weight = weightOf(now.keywords);
  if (weight !== weightOf(was.keywords)) {
    if (!Number.isInteger(weight) || weight < 0 || weight > 256) return undefined;
    change.weight = weight;
  }
  const maint = startsDisabled(now.keywords);
  if (maint !== startsDisabled(was.keywords)) change.maint = maint;
  return change.weight === undefined && change.maint === undefined ? undefined : change;
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
 * With `parts`, only the sections around the parts that differ are decoded and read (the same verdict, in
 * time proportional to the change; the texts themselves are not read at all); without them, or when the
 * parts cannot say (a different number of them, a part that is not whole UTF-8, a `from` defaults section),
 * the whole texts are compared.
 *
 * @example
 * ```ts
 * const verdict = runtimeDiff(installed, rendered);
 * if (verdict.path === "reload") log.info("reload needed", { reason: verdict.reason });
 * ```
 */
export function runtimeDiff(installed: string, next: string, parts?: TextParts): RuntimeDiff {
  const local = parts === undefined ? null : partsDiff(parts);
  return local ?? wholeDiff(installed, next);
}

/** {@linkcode runtimeDiff} over the whole texts. */
function wholeDiff(installed: string, next: string): RuntimeDiff {
  if (installed === next) return { path: "unchanged" };
  const before = parseSections(installed);
  const after = parseSections(next);
  const found = compareSections(before, after, (index) => defaultsFor(after, index, false));
  return found === null ? { path: "reload", reason: "internal: defaults not found" } : verdictOf([found]);
}

function verdictOf(found: (BackendChange[] | RuntimeDiff)[]): RuntimeDiff {
  const changes: BackendChange[] = [];
  for (const f of found) {
    if (!Array.isArray(f)) return f;
    changes.push(...f);
  }
  if (changes.length === 0) return { path: "reload", reason: "server lines reordered" };
  return { path: "runtime", changes };
}

/**
 * The section-by-section comparison: the server changes, or the reload verdict; null when `defaults`
 * cannot tell a backend's defaults section (null) from the text at hand.
 */
function compareSections(
  before: Section[],
  after: Section[],
  defaults: (index: number) => Section | undefined | null,
): BackendChange[] | RuntimeDiff | null {
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
    // Comments change nothing HAProxy does (the trailer's domain count changes with a map-only change).
    const significant = (s: Section) => s.lines.filter((l) => !isComment(l));
    if (!isProxyWithServers(b)) {
      if (significant(a).join("\n") === significant(b).join("\n")) continue;
      return { path: "reload", reason: `${where} changed` };
    }
    const rest = (s: Section) => significant(s).filter((l) => !isServerLine(l)).join("\n");
    if (rest(a) !== rest(b)) return { path: "reload", reason: `${where} changed beyond its server lines` };
    const found = defaults(i);
    if (found === null) return null;
    const change = backendChange(found?.lines ?? [], a, b);
    if (typeof change === "string") return { path: "reload", reason: `${where}: ${change}` };
    if (change !== undefined) changes.push(change);
  }
  return changes;
}

/** Inclusive indices of parts that differ, next to each other. */
interface Run {
  first: number;
  last: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parts `from`…`to` (inclusive) decoded; throws when one is not whole UTF-8. */
function decode(parts: readonly Uint8Array[], from: number, to: number): string {
  let text = "";
  for (let k = from; k <= to; k++) text += decoder.decode(parts[k]);
  return text;
}

/** A stretch of both texts around a run of changed parts: whole sections, and where it starts. */
interface Local {
  /** The installed text's sections there. */
  before: string;
  /** The new text's. */
  after: string;
  /** First part decoded (its text starts `oldLocal`). */
  from: number;
  /** The installed text from part `from` on, decoded as far as needed. */
  oldLocal: string;
  /** Where `before` starts in `oldLocal`. */
  lo: number;
}

/** The verdict from the parts, or null when they cannot give it. */
function partsDiff(parts: TextParts): RuntimeDiff | null {
  const { installed: pa, next: pb } = parts;
  if (pa.length !== pb.length) return null;
  const runs: Run[] = [];
  for (let k = 0; k < pa.length; k++) {
    if (sameBytes(pa[k]!, pb[k]!)) continue;
    const last = runs.at(-1);
    if (last !== undefined && last.last === k - 1) last.last = k;
    else runs.push({ first: k, last: k });
  }
  if (runs.length === 0) return { path: "unchanged" };
  try {
    const found: (BackendChange[] | RuntimeDiff)[] = [];
    for (let r = 0; r < runs.length;) {
      const group = locate(pa, pb, runs, r);
      if (group === null) return null;
      const after = splitSections(group.local.after);
      const result = compareSections(splitSections(group.local.before), after, (index) => {
        const inside = defaultsFor(after, index, true);
        if (inside !== undefined) return inside;
        // A named one may be anywhere: only the whole text can tell (the default templates have none).
        if (after[index]?.from !== undefined) return null;
        return defaultsBefore(pa, group.local);
      });
      if (result === null) return null;
      found.push(result);
      if (!Array.isArray(result)) break;
      r = group.next;
    }
    return verdictOf(found);
  } catch (error) {
    if (error instanceof TypeError) return null; // a part that is not whole UTF-8
    throw error;
  }
}

/**
 * Widens runs `r`, `r + 1`, … to whole sections: decodes the parts around them, one more at a time, until
 * a section header starts in the identical text before the first and after the last (runs whose
 * surroundings meet are taken together). Null when no boundary is found where one must be.
 */
function locate(
  pa: readonly Uint8Array[],
  pb: readonly Uint8Array[],
  runs: Run[],
  r: number,
): { local: Local; next: number } | null {
  const floor = r === 0 ? 0 : runs[r - 1]!.last + 1;
  let last = r;
  let from = Math.max(floor, runs[r]!.first - 1);
  let to = Math.min(pa.length - 1, runs[last]!.last + 1);
  for (;;) {
    const nextRun = runs[last + 1];
    if (nextRun !== undefined && to >= nextRun.first) {
      last++;
      to = Math.min(pa.length - 1, runs[last]!.last + 1);
      continue;
    }
    const first = runs[r]!.first;
    const end = runs[last]!.last;
    const pre = decode(pa, from, first - 1);
    const post = decode(pa, end + 1, to);
    const oldLocal = pre + decode(pa, first, end) + post;
    const newLocal = pre + decode(pb, first, end) + post;
    const lo = headerBefore(oldLocal, pre.length, 0, from === 0);
    if (lo === undefined) {
      if (from > floor) {
        from--;
        continue;
      }
      return null;
    }
    let hi = headerAfter(oldLocal, oldLocal.length - post.length, oldLocal.length);
    if (hi === undefined) {
      if (to < pa.length - 1) {
        to++; // into the next run, if it is there: the runs are taken together
        continue;
      }
      hi = oldLocal.length;
    }
    const shift = newLocal.length - oldLocal.length;
    const local = {
      before: oldLocal.slice(lo, hi),
      after: newLocal.slice(lo, hi + shift),
      from,
      oldLocal,
      lo,
    };
    return { local, next: last + 1 };
  }
}

/** Whether `bytes` holds "defaults", or the junction of `bytes` and `after` does. */
const DEFAULTS = "defaults";
// A part no change touched is the same array from one generation to the next: searched once, not per pass
// (the search walks back over every part before the change, megabytes at 50,000 servers).
const mentionsMemo = new WeakMap<Uint8Array, boolean>();

function mentionsDefaults(bytes: Uint8Array, after: Uint8Array | undefined): boolean {
  let mentions = mentionsMemo.get(bytes);
  if (mentions === undefined) {
    mentions = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).includes(DEFAULTS);
    mentionsMemo.set(bytes, mentions);
  }
  if (mentions) return true;
  if (after === undefined) return false;
  const n = DEFAULTS.length - 1;
  const junction = new Uint8Array(Math.min(n, bytes.length) + Math.min(n, after.length));
  junction.set(bytes.subarray(Math.max(0, bytes.length - n)));
  junction.set(after.subarray(0, n), Math.min(n, bytes.length));
  return Buffer.from(junction.buffer).includes(DEFAULTS);
}

/**
 * The last `defaults` section of the installed text before `local.lo` (the same in the new text: the text
 * before a changed stretch is identical), found in `local.oldLocal` or, part by part backwards, in the
 * parts before it that mention "defaults"; null when it cannot be told from the text decoded around it.
 */
function defaultsBefore(pa: readonly Uint8Array[], local: Local): Section | undefined | null {
  const here = lastDefaults(local.oldLocal, local.lo, local.from === 0);
  if (here !== undefined) return here;
  for (let k = local.from - 1; k >= 0; k--) {
    if (!mentionsDefaults(pa[k]!, pa[k + 1])) continue;
    const from = Math.max(0, k - 1);
    // The section ends at the next header, which may lie parts further on (a part can be a lone
    // separator line): read on until it is whole in the text, at most up to the local window.
    for (let end = k + 1;; end++) {
      const context = end < local.from
        ? decode(pa, from, end)
        : decode(pa, from, local.from - 1) + local.oldLocal.slice(0, local.lo);
      const found = lastDefaults(context, context.length, from === 0);
      if (found !== null || end >= local.from) {
        if (found !== undefined) return found;
        break;
      }
    }
  }
  return undefined;
}

/**
 * The last `defaults` section starting before `before` in `text` (a stretch of a config that starts the
 * config when `atStart`); null when the text cannot tell (a line start or the section's end outside it).
 */
function lastDefaults(text: string, before: number, atStart: boolean): Section | undefined | null {
  // lastIndexOf reads a negative position as 0: the search ends after looking at 0.
  const previous = (at: number) => at <= 0 ? -1 : text.lastIndexOf("defaults", at - 1);
  for (let at = previous(before); at >= 0; at = previous(at)) {
    let start = at;
    while (start > 0 && (text[start - 1] === " " || text[start - 1] === "\t")) start--;
    if (start === 0 && !atStart) return null;
    if (start > 0 && !"\n\r\u2028\u2029".includes(text[start - 1]!)) continue;
    if (!isHeaderAt(text, start)) continue;
    const after = new RegExp(HEADER.source, "gm");
    after.lastIndex = start + 1;
    const header = after.exec(text);
    // The next header must be whole in the text (its keyword not cut by the text's end).
    if (header === null || !/[\n\r\u2028\u2029]/.test(text.slice(header.index))) return null;
    const found = section(text.slice(start, header.index - 1));
    if (found.kind === "defaults") return found;
  }
  return undefined;
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
  let nl = before <= 0 ? -1 : text.lastIndexOf("\n", before - 1);
  while (nl >= floor) {
    // (lastIndexOf reads a negative position as 0.)
    const start = nl === 0 ? 0 : text.lastIndexOf("\n", nl - 1) + 1;
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
    weights: [],
    states: [],
    dynamicCookies: b.lines.some((l) => words(l)[0] === "cookie" && words(l).includes("dynamic")),
    expected: [...now.values()],
  };
  for (const [name, server] of now) {
    const was = old.get(name);
    if (was === undefined) {
      change.adds.push({ ...server, effectiveKeywords: [...inherited, ...server.keywords] });
    } else if (!sameKeywords(was, server)) {
      const admin = adminChange(was, server);
      if (admin === undefined) return `server ${name} changed beyond its address`;
      if (admin.weight !== undefined) change.weights.push({ name, weight: admin.weight });
      if (admin.maint !== undefined) change.states.push({ name, maint: admin.maint });
    } else if (was.address !== server.address || was.port !== server.port) {
      change.updates.push(server);
    }
  }
  for (const [name, server] of old) {
    if (now.has(name)) continue;
    change.removes.push(name);
    change.removedKeywords[name] = [...inherited, ...server.keywords].join(" ");
  }
  const empty = change.adds.length + change.removes.length + change.updates.length + change.weights.length +
      change.states.length === 0;
  return empty ? undefined : change;
}
