/**
 * A list answer read item by item: the list's JSON bytes are parsed without its `items`, which stay JSON
 * bytes (ranges of the answer) until each is decoded, parsed on its own and projected at once. A whole
 * parsed page (hundreds of objects with their managedFields) outlives V8's small young generation and
 * becomes old garbage; one parsed item at a time dies young. The answer's bytes are released as soon as its
 * items are read ({@linkcode releaseItems}) instead of waiting, as a 1.3 MB text of a page would, for the
 * next full garbage collection.
 *
 * Why not a streaming JSON parser from npm: it tokenizes in JavaScript. `tools/deno task bench list-parse`
 * (bench/list_parse.ts), one page of 500 Endpoints (696 KiB): `JSON.parse` of the whole text 2.5 ms, this
 * reader 4.4 ms (the cutting is byte codes and `indexOf`; the parsing stays `JSON.parse`), @streamparser/json
 * 0.0.26 26 ms.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** JSON's whitespace: space, tab, line feed, carriage return. */
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const ITEMS_KEY = new TextEncoder().encode('"items"');
const decoder = new TextDecoder();

/** The index just past the string that opens at `start` (a quote), or -1 when it does not end. */
function stringEnd(bytes: Uint8Array, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, at);
    if (quote === -1) return -1;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The first index at or after `at` that is not JSON whitespace. */
function skipSpace(bytes: Uint8Array, at: number): number {
  while (at < bytes.length && SPACE.has(bytes[at]!)) at++;
  return at;
}

/** Whether the bytes from `at` to `end` are `"items"`. */
function isItemsKey(bytes: Uint8Array, at: number, end: number): boolean {
  return end - at === ITEMS_KEY.length && ITEMS_KEY.every((byte, i) => bytes[at + i] === byte);
}

/** Where the top-level `"items"` array of a list opens (its `[`), or -1. */
function itemsStart(bytes: Uint8Array): number {
  let depth = 0;
  for (let at = 0; at < bytes.length; at++) {
    const c = bytes[at];
    if (c === QUOTE) {
      const end = stringEnd(bytes, at);
      if (end === -1) return -1;
      if (depth === 1 && isItemsKey(bytes, at, end)) {
        const colon = skipSpace(bytes, end);
        const open = skipSpace(bytes, colon + 1);
        if (bytes[colon] === COLON && bytes[open] === OPEN_BRACKET) return open;
      }
      at = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return -1;
}

/** The range from `start` to `end` without the JSON whitespace around it. */
function trimmed(bytes: Uint8Array, start: number, end: number): [number, number] {
  start = skipSpace(bytes, start);
  while (end > start && SPACE.has(bytes[end - 1]!)) end--;
  return [start, end];
}

/** The items of the array opening at `open` as JSON ranges, and the index of its `]`; null if it does not end. */
function splitItems(body: ListBody, open: number): { items: ListItem[]; close: number } | null {
  const { bytes } = body;
  const items: ListItem[] = [];
  let depth = 0;
  let start = open + 1;
  for (let at = open + 1; at < bytes.length; at++) {
    const c = bytes[at];
    if (c === QUOTE) {
      const end = stringEnd(bytes, at);
      if (end === -1) return null;
      at = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) depth--;
    else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      const [from, to] = trimmed(bytes, start, at);
      if (to > from) items.push(new ListItem(body, from, to));
      else if (c === COMMA || items.length > 0) return null;
      if (c === CLOSE_BRACKET) return { items, close: at };
      start = at + 1;
    }
  }
  return null;
}

/** A list answer's bytes, shared by its items until released. */
class ListBody {
  #bytes: Uint8Array<ArrayBuffer>;

  constructor(bytes: Uint8Array<ArrayBuffer>) {
    this.#bytes = bytes;
  }

  /** The answer's bytes (empty once released). */
  get bytes(): Uint8Array<ArrayBuffer> {
    return this.#bytes;
  }

  /** Frees the bytes now (their buffer is detached), not at the next full garbage collection. */
  release(): void {
    if (this.#bytes.length === 0) return;
    const { buffer } = this.#bytes;
    this.#bytes = new Uint8Array(0);
    if (!buffer.detached) buffer.transfer(0);
  }
}

/** An item of a list still as its JSON bytes: a range of the answer. */
export class ListItem {
  readonly #body: ListBody;
  readonly #start: number;
  readonly #end: number;

  constructor(body: ListBody, start: number, end: number) {
    this.#body = body;
    this.#start = start;
    this.#end = end;
  }

  /** The item's JSON text. Throws `RangeError` once the answer was released ({@linkcode releaseItems}). */
  text(): string {
    const { bytes } = this.#body;
    if (bytes.length < this.#end) throw new RangeError("the list answer was released");
    return decoder.decode(bytes.subarray(this.#start, this.#end));
  }

  /** Releases the answer the item is part of. */
  release(): void {
    this.#body.release();
  }
}

/**
 * Parses a list answer's JSON bytes (UTF-8), leaving each of its `items` as a {@linkcode ListItem} for
 * {@linkcode parseItem}; anything but a JSON object with an `items` array is parsed as it is. `body` is
 * kept by the items: the caller hands over an array of its own. Throws `SyntaxError` for bytes that are not JSON.
 *
 * @example
 * ```ts
 * const list = parseListBytes(new TextEncoder().encode('{"kind":"EndpointsList","items":[{"metadata":{}}]}'));
 * // list.items: [ListItem { }], parseItem(list.items[0]): { metadata: {} }
 * ```
 */
export function parseListBytes(body: Uint8Array<ArrayBuffer>): unknown {
  const open = itemsStart(body);
  const split = open === -1 ? null : splitItems(new ListBody(body), open);
  if (split === null) return JSON.parse(decoder.decode(body));
  const head = decoder.decode(body.subarray(0, open));
  const list = JSON.parse(`${head}null${decoder.decode(body.subarray(split.close + 1))}`) as Record<
    string,
    unknown
  >;
  list.items = split.items;
  return list;
}

/**
 * An item of a {@linkcode parseListBytes} list: its JSON text parsed (throws `SyntaxError`, or `RangeError`
 * once released), or the item itself.
 */
export function parseItem(item: unknown): unknown {
  return item instanceof ListItem ? JSON.parse(item.text()) : item;
}

/** Releases the answer of a {@linkcode parseListBytes} list's items once they are all parsed (frees its bytes now). */
export function releaseItems(items: readonly unknown[]): void {
  const item = items.find((i) => i instanceof ListItem);
  if (item instanceof ListItem) item.release();
}
