/**
 * Incremental render of templates that follow the partials convention (README, "Templates"): each
 * top-level template's only use of `it.domains` is loops that include one per-domain partial (`_*.eta`)
 * per domain. The renderer probes each template once to cut it into static text and per-domain slots,
 * renders a domain's partials with Eta when its model entry changes and keeps the output, and assembles
 * the config in the order a full render gives (the model's key order), with the same tidying. Sections
 * keep their fragments in chunks whose UTF-8 bytes are cached, so a change re-encodes one chunk, not the
 * whole file; the text is a rope over the fragments (no copy of them). Templates that do not follow the
 * convention are rendered in full (lib/render/render.ts).
 *
 * @module
 */
import type { Domain } from "../model/model.ts";
import { DEFAULT_SETTINGS } from "../model/settings.ts";
import { type Frame, oneNewline, type Renderer, stripTrailingBlanks, type TemplateData } from "./render.ts";

/** Renders a template set incrementally from the domains that changed since the last call. */
export interface FragmentRenderer {
  /**
   * The config text and its UTF-8 bytes in parts (cached per chunk), `trailer` last, after re-rendering the fragments of `changed`
   * domains; `lookup` gives a domain's current entry (undefined once it is gone). Throws
   * {@linkcode NotIncremental} when a partial breaks the convention (then render in full instead).
   */
  render(
    changed: Iterable<string>,
    lookup: (name: string) => Domain | undefined,
    trailer: string,
  ): { text: string; parts: Uint8Array[] };
  /**
   * Re-renders the fragments of `changed` domains now, without assembling the text: a later
   * {@linkcode FragmentRenderer.render} need not name them again. Throws as `render` does.
   */
  prepare(changed: Iterable<string>, lookup: (name: string) => Domain | undefined): void;
}

/** The templates do not follow the partials convention after all: render them in full. */
export class NotIncremental extends Error {
  /** Creates the error. */
  constructor(detail: string) {
    super(`Templates cannot be rendered incrementally: ${detail}`);
    this.name = "NotIncremental";
  }
}

const INDEX = /^(?:0|[1-9]\d{0,9})$/;

function isIndex(key: string): boolean {
  return INDEX.test(key) && Number(key) < 4294967295;
}

/** The order of an object's string keys: array indices first, numerically, then the rest (sorted). */
export function keyOrder(a: string, b: string): number {
  const ia = isIndex(a), ib = isIndex(b);
  if (ia !== ib) return ia ? -1 : 1;
  if (ia) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

const CHUNK = 64;

interface Chunk {
  keys: string[];
  bytes: Uint8Array | null;
}

const encoder = new TextEncoder();

/** Text with its UTF-8 bytes, encoded once. */
class Piece {
  readonly text: string;
  readonly bytes: Uint8Array;
  constructor(text: string) {
    this.text = text;
    this.bytes = encoder.encode(text);
  }
}

/** Keyed texts in {@linkcode keyOrder}, joined in chunks; changing one re-encodes only its chunk. */
export class OrderedText {
  #chunks: Chunk[] = [];
  #texts = new Map<string, string>();

  /** Whether `key` has a text. */
  has(key: string): boolean {
    return this.#texts.has(key);
  }

  /** Number of texts. */
  get size(): number {
    return this.#texts.size;
  }

  /** Sets the text of `key` (inserted in order when new). */
  set(key: string, text: string): void {
    const known = this.#texts.has(key);
    this.#texts.set(key, text);
    const chunk = this.#chunkFor(key);
    chunk.bytes = null;
    if (known) return;
    const at = lowerBound(chunk.keys, key);
    chunk.keys.splice(at, 0, key);
    if (chunk.keys.length > 2 * CHUNK) {
      const index = this.#chunks.indexOf(chunk);
      this.#chunks.splice(index + 1, 0, { keys: chunk.keys.splice(CHUNK), bytes: null });
    }
  }

  /** Removes `key`'s text. */
  delete(key: string): void {
    if (!this.#texts.delete(key)) return;
    const chunk = this.#chunkFor(key);
    chunk.keys.splice(lowerBound(chunk.keys, key), 1);
    chunk.bytes = null;
    if (chunk.keys.length === 0) this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
  }

  /** All texts joined in key order. */
  text(): string {
    let out = "";
    for (const chunk of this.#chunks) out += this.#chunkText(chunk);
    return out;
  }

  /** The text of the first key, if any. */
  first(): string | undefined {
    const key = this.#chunks[0]?.keys[0];
    return key === undefined ? undefined : this.#texts.get(key);
  }

  /**
   * {@linkcode OrderedText.text} in parts, one per chunk: each a rope (a V8 cons string) over the keys' own
   * texts, so that the whole text costs no copy of them until something flattens it.
   */
  texts(): string[] {
    return this.#chunks.map((chunk) => this.#chunkText(chunk));
  }

  /**
   * The UTF-8 bytes of {@linkcode OrderedText.text}, one array per chunk (a changed chunk is encoded again,
   * from its rope, whose flat copy is dropped at once).
   */
  bytes(): Uint8Array[] {
    return this.#chunks.map((chunk) => chunk.bytes ??= encoder.encode(this.#chunkText(chunk)));
  }

  /** The texts of `chunk`'s keys, concatenated (a rope, not a copy). */
  #chunkText(chunk: Chunk): string {
    let out = "";
    for (const key of chunk.keys) out += this.#texts.get(key)!;
    return out;
  }

  /** The chunk that holds (or would hold) `key`: the first whose last key is not before it. */
  #chunkFor(key: string): Chunk {
    const chunks = this.#chunks;
    let lo = 0, hi = chunks.length - 1;
    if (hi < 0) {
      const chunk = { keys: [], bytes: null };
      chunks.push(chunk);
      return chunk;
    }
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keyOrder(chunks[mid]!.keys.at(-1)!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return chunks[lo]!;
  }
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keyOrder(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Static text of a template, cut into its leading newlines, its lines, and its trailing newlines. */
interface Text {
  /** The text without the newlines it starts with, ending with exactly one; empty when there is none. */
  bare: Piece;
  /** How many newlines it starts with (up to 2: blank lines are collapsed). */
  lead: number;
  /** How many newlines it ends with (1 or 2; any number for blank lines alone). */
  trail: number;
}

/** A template cut apart: static texts and the slots where a partial's output for every domain goes. */
type Plan = (Text | { partial: string })[];

/** Tidies a piece of a template's output on its own, as tidy() does to the whole: valid between line ends. */
function tidyPiece(text: string): string {
  const out = stripTrailingBlanks(text);
  return out.includes("\n\n\n") ? out.replace(/\n{3,}/g, "\n\n") : out;
}

/** How many newlines `text` starts with (`from` 0) or ends with (`from` -1). */
function newlines(text: string, from: 0 | -1): number {
  let n = 0;
  while (n < text.length && text.charCodeAt(from === 0 ? n : text.length - 1 - n) === 10) n++;
  return n;
}

/**
 * Whether a tidied partial output can sit beside others in a slot as it is: it has something to show,
 * starts with at most one newline and ends with exactly one, so that no run of three newlines spans two
 * outputs and every seam is at a line end.
 */
function seamless(text: string): boolean {
  return /\S/.test(text) && !text.startsWith("\n\n") && text.endsWith("\n") && !text.endsWith("\n\n");
}

/**
 * A static text of a template, or null when it does not end at a line end (`last` may). Blank lines alone
 * have no `bare` text: they only count towards the blank line between what comes before and after.
 */
function staticText(text: string, last: boolean): Text | null {
  if (/^\n*$/.test(text)) return { bare: new Piece(""), lead: text.length, trail: text.length };
  if (!/\S/.test(text) || (!last && !text.endsWith("\n"))) return null;
  const lead = newlines(text, 0);
  return { bare: new Piece(oneNewline(text.slice(lead))), lead, trail: last ? 1 : newlines(text, -1) };
}

const PROBE_KEYS = ["9", "10", "a.test"] as const;

function probeDomain(i: number): Domain {
  return {
    ips: [],
    proto: "probe",
    port: 0,
    id: `probe_${i}`,
    namespace: "probe",
    name: `probe-${i}`,
    ports: {},
    notReadyIps: [],
    servers: [],
    listenPort: null,
    host: `probe-${i}.test`,
    settings: DEFAULT_SETTINGS,
  };
}

const MARK = /\uE000([^\uE000\uE001]*)\uE001([^\uE000]*)\uE000/g;

/**
 * Renders an Eta template with a few probe domains and marker partials, and cuts the output into static
 * texts and slots; null when the output is not one slot per loop listing every domain in key order, with
 * static text that does not change with the domains.
 */
function probeFrame(
  renderer: Renderer,
  frame: Frame,
  loops: readonly string[],
  data: TemplateData,
): string[] | null {
  const domains: Record<string, Domain> = {};
  PROBE_KEYS.forEach((key, i) => domains[key] = probeDomain(i));
  const probing = { ...data, domains };
  const stand = Object.fromEntries(loops.map((name) => [name, (d: Record<string, unknown>) => {
    const keys = Object.keys(d);
    const passesIt = keys.length === Object.keys(probing).length + 2 &&
      Object.entries(probing).every(([k, v]) => d[k] === v);
    const domain = d.domain;
    if (!passesIt || typeof domain !== "string" || d.d !== domains[domain]) throw new NotIncremental(name);
    return `\uE000${name}\uE001${domain}\uE000`;
  }]));
  let empty: string, full: string;
  try {
    empty = renderer.probe(frame, { ...data, domains: {} }, stand);
    full = renderer.probe(frame, probing, stand);
  } catch {
    return null; // A full render reports what is wrong, if anything.
  }
  // texts[0], slot, texts[1], slot, …: consecutive markers of one partial form one slot.
  const cut: string[] = [];
  const slots: { partial: string; keys: string[] }[] = [];
  let at = 0;
  for (const m of full.matchAll(MARK)) {
    const between = full.slice(at, m.index);
    at = m.index + m[0].length;
    const slot = slots.at(-1);
    if (between === "" && slot !== undefined && slot.partial === m[1]) slot.keys.push(m[2]!);
    else {
      cut.push(between);
      slots.push({ partial: m[1]!, keys: [m[2]!] });
    }
  }
  cut.push(full.slice(at));
  const ok = cut.join("") === empty && !empty.includes("\uE000") && slots.length === loops.length &&
    slots.every((s, i) => s.partial === loops[i] && s.keys.join("\0") === PROBE_KEYS.join("\0"));
  return ok ? cut : null;
}

/** The plan of one template, or null when it cannot be rendered incrementally. */
function planFrame(renderer: Renderer, frame: Frame, data: TemplateData): Plan | null {
  if (frame.text !== null) return [{ bare: new Piece(frame.text), lead: 0, trail: 1 }];
  if (frame.loops === null) return null;
  const cut = probeFrame(renderer, frame, frame.loops, data);
  if (cut === null) return null;
  const plan: Plan = [];
  for (let i = 0; i < cut.length; i++) {
    const last = i === cut.length - 1;
    const text = staticText(tidyPiece(cut[i]!), last);
    if (text === null) return null;
    plan.push(text);
    if (!last) plan.push({ partial: frame.loops[i]! });
  }
  return plan;
}

/** An `it.domains` for partials rendered on their own: a partial that reads it breaks the convention. */
function domainsGuard(partial: string): Record<string, Domain> {
  const refuse = (): never => {
    throw new NotIncremental(`partial "${partial}" reads it.domains, not only its own domain`);
  };
  return new Proxy({}, { get: refuse, has: refuse, ownKeys: refuse, getOwnPropertyDescriptor: refuse });
}

/** `error` or the {@linkcode NotIncremental} it wraps (Eta wraps what a template throws). */
function unwrap(error: unknown): unknown {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof NotIncremental) return e;
  return error;
}

const NEWLINE = new Piece("\n");

/**
 * Joins the templates' texts and the partial outputs kept in their slots, as compileTemplates() joins
 * template outputs: one blank line between them, an empty one left out. Within one, as tidy() does: no
 * newline at its start, runs of blank lines across seams collapsed to one, and a single newline at its
 * end (a blank line a text ends with is only written when more follows).
 */
function assemble(
  plans: readonly (Text | OrderedText)[][],
  trailer: Piece,
): { text: string; parts: Uint8Array[] } {
  let text = "";
  const parts: Uint8Array[] = [];
  const emit = (t: string, b: Uint8Array) => {
    text += t;
    parts.push(b);
  };
  for (const plan of plans) {
    let tail = -1; // newlines at the end of what this template wrote so far; -1: nothing yet
    for (const item of plan) {
      const slot = item instanceof OrderedText ? item : null;
      if (slot === null ? (item as Text).bare.text === "" : slot.size === 0) {
        if (slot === null && tail >= 0) tail += (item as Text).trail;
        continue;
      }
      const lead = slot === null ? (item as Text).lead : newlines(slot.first()!, 0);
      if (tail < 0 ? parts.length > 0 : tail + lead >= 2) emit(NEWLINE.text, NEWLINE.bytes);
      if (slot === null) {
        emit((item as Text).bare.text, (item as Text).bare.bytes);
        tail = (item as Text).trail;
        continue;
      }
      const ts = slot.texts(), bs = slot.bytes();
      ts[0] = ts[0]!.slice(lead);
      bs[0] = bs[0]!.subarray(lead);
      ts.forEach((t, i) => emit(t, bs[i]!));
      tail = 1;
    }
  }
  emit(trailer.text, trailer.bytes);
  return { text, parts };
}

/**
 * Creates the incremental renderer of `renderer`'s templates for fixed `data` (bind addresses, HAProxy
 * user, meta; its domains are not read), or null when they do not follow the partials convention.
 *
 * @example
 * ```ts
 * const fragments = createFragmentRenderer(renderer, templateData(model, listen));
 * const text = fragments?.render(update.domains, store.domain, trailer);
 * ```
 */
export function createFragmentRenderer(renderer: Renderer, data: TemplateData): FragmentRenderer | null {
  const plans: Plan[] = [];
  for (const frame of renderer.frames) {
    const plan = planFrame(renderer, frame, data);
    if (plan === null) return null;
    plans.push(plan);
  }
  const partials = new Map<string, { texts: OrderedText; guard: Record<string, Domain> }>();
  const resolved = plans.map((plan) =>
    plan.map((item) => {
      if (!("partial" in item)) return item;
      let slot = partials.get(item.partial);
      if (slot === undefined) {
        partials.set(item.partial, slot = { texts: new OrderedText(), guard: domainsGuard(item.partial) });
      }
      return slot.texts;
    })
  );
  const renderDomain = (domain: string, d: Domain | undefined) => {
    for (const [name, { texts, guard }] of partials) {
      // A fresh data object per call, as Eta's include gives in a full render: a partial may write to `it`.
      const text = d === undefined
        ? ""
        : tidyPiece(renderer.partial(name, { ...data, domains: guard, domain, d }));
      if (text === "") texts.delete(domain);
      else if (seamless(text)) texts.set(domain, text);
      else {
        const end = JSON.stringify(text.slice(-40));
        throw new NotIncremental(`partial "${name}" gives text that is not whole lines: …${end}`);
      }
    }
  };
  const trailers = new Map<string, Piece>();

  const prepare = (changed: Iterable<string>, lookup: (name: string) => Domain | undefined) => {
    try {
      for (const name of changed) renderDomain(name, lookup(name));
    } catch (error) {
      throw unwrap(error);
    }
  };

  return {
    prepare,
    render(changed, lookup, trailerText) {
      prepare(changed, lookup);
      let trailer = trailers.get(trailerText);
      if (trailer === undefined) {
        trailers.clear();
        trailers.set(trailerText, trailer = new Piece(trailerText));
      }
      return assemble(resolved, trailer);
    },
  };
}
