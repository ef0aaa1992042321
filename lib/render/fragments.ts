/**
 * Incremental render of the default templates: each domain's fragments (routing line, backend, listen
 * section; lib/render/default_fragments.ts) are rendered when its model entry changes and kept, and the config is
 * assembled from them in the order a full render gives (the model's key order). Sections keep their
 * fragments in chunks whose joined text is cached, so a change re-joins one chunk, not the whole file.
 * User templates, which may read the whole model at once, are rendered in full (lib/render/render.ts).
 *
 * @module
 */
import {
  globalFrame,
  type Globals,
  HTTP_MIDDLE,
  httpBackend,
  httpHead,
  httpRoute,
  httpsBackend,
  httpsHead,
  httpsRoute,
  tcpListen,
} from "./default_fragments.ts";
import type { Domain } from "../model/model.ts";
import { stripTrailingBlanks } from "./render.ts";

/** Renders the default templates from the domains that changed since the last call. */
export interface FragmentRenderer {
  /**
   * The config text and its UTF-8 bytes in parts (cached per chunk), `trailer` last, after re-rendering the fragments of `changed`
   * domains; `lookup` gives a domain's current entry (undefined once it is gone).
   */
  render(
    changed: Iterable<string>,
    lookup: (name: string) => Domain | undefined,
    trailer: string,
  ): { text: string; parts: Uint8Array[] };
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
  text: string | null;
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

/** One array holding `parts` one after the other. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Keyed texts in {@linkcode keyOrder}, joined; changing one re-joins only its chunk. */
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
    chunk.text = null;
    chunk.bytes = null;
    if (known) return;
    const at = lowerBound(chunk.keys, key);
    chunk.keys.splice(at, 0, key);
    if (chunk.keys.length > 2 * CHUNK) {
      const index = this.#chunks.indexOf(chunk);
      this.#chunks.splice(index + 1, 0, { keys: chunk.keys.splice(CHUNK), text: null, bytes: null });
    }
  }

  /** Removes `key`'s text. */
  delete(key: string): void {
    if (!this.#texts.delete(key)) return;
    const chunk = this.#chunkFor(key);
    chunk.keys.splice(lowerBound(chunk.keys, key), 1);
    chunk.text = null;
    chunk.bytes = null;
    if (chunk.keys.length === 0) this.#chunks.splice(this.#chunks.indexOf(chunk), 1);
  }

  /** All texts joined in key order. */
  text(): string {
    let out = "";
    for (const chunk of this.#chunks) out += this.#chunkText(chunk);
    return out;
  }

  /** The UTF-8 bytes of {@linkcode OrderedText.text}, one array per chunk (a changed chunk is encoded again). */
  bytes(): Uint8Array[] {
    return this.#chunks.map((chunk) => chunk.bytes ??= encoder.encode(this.#chunkText(chunk)));
  }

  #chunkText(chunk: Chunk): string {
    return chunk.text ??= chunk.keys.map((k) => this.#texts.get(k)).join("");
  }

  /** The chunk that holds (or would hold) `key`: the first whose last key is not before it. */
  #chunkFor(key: string): Chunk {
    const chunks = this.#chunks;
    let lo = 0, hi = chunks.length - 1;
    if (hi < 0) {
      const chunk = { keys: [], text: null, bytes: null };
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

interface Section {
  member(d: Domain): boolean;
  fragment(domain: string, d: Domain): string;
  texts: OrderedText;
}

/**
 * Creates the incremental renderer of the default templates for fixed `globals` (bind addresses,
 * HAProxy user, meta).
 *
 * @example
 * ```ts
 * const fragments = createFragmentRenderer({ listen, haproxy, meta });
 * const text = fragments.render(update.domains, store.domain);
 * ```
 */
export function createFragmentRenderer(globals: Globals): FragmentRenderer {
  const section = (member: Section["member"], fragment: Section["fragment"]): Section => ({
    member,
    fragment: (domain, d) => stripTrailingBlanks(fragment(domain, d)),
    texts: new OrderedText(),
  });
  const web = (d: Domain) => d.proto === "http";
  const tls = (d: Domain) => d.proto === "https";
  const webRoutes = section(web, httpRoute);
  const webBackends = section(web, httpBackend);
  const tlsRoutes = section(tls, httpsRoute);
  const tlsBackends = section(tls, httpsBackend);
  const tcp = section((d) => d.listenPort !== null, (domain, d) => tcpListen(domain, d, globals));
  const sections = [webRoutes, webBackends, tlsRoutes, tlsBackends, tcp];
  const frames = {
    global: new Piece(`${stripTrailingBlanks(globalFrame(globals))}\n`),
    httpHead: new Piece(stripTrailingBlanks(httpHead(globals))),
    middle: new Piece(HTTP_MIDDLE),
    httpsHead: new Piece(`\n${stripTrailingBlanks(httpsHead(globals))}`),
  };
  const trailers = new Map<string, Piece>();

  return {
    render(changed, lookup, trailerText) {
      for (const name of changed) {
        const entry = lookup(name);
        for (const s of sections) {
          if (entry !== undefined && s.member(entry)) s.texts.set(name, s.fragment(name, entry));
          else s.texts.delete(name);
        }
      }
      let trailer = trailers.get(trailerText);
      if (trailer === undefined) {
        trailers.clear();
        trailers.set(trailerText, trailer = new Piece(trailerText));
      }
      // As compileTemplates() joins template outputs: one blank line between them, an empty one left out;
      // the tcp template's output loses its leading blank line to tidy().
      const order: (Piece | OrderedText)[] = [
        frames.global,
        frames.httpHead,
        webRoutes.texts,
        frames.middle,
        webBackends.texts,
        frames.httpsHead,
        tlsRoutes.texts,
        tlsBackends.texts,
        tcp.texts,
        trailer,
      ];
      let text = "";
      const bytes: Uint8Array[] = [];
      for (const part of order) {
        if (part instanceof Piece) {
          text += part.text;
          bytes.push(part.bytes);
        } else {
          text += part.text();
          bytes.push(...part.bytes());
        }
      }
      return { text, parts: bytes };
    },
  };
}
