/**
 * A list answer read item by item: the list's JSON text is parsed without its `items`, which stay JSON
 * texts (slices of the answer) until each is parsed on its own and projected at once. A whole parsed page
 * (hundreds of objects with their managedFields) outlives V8's small young generation and becomes old
 * garbage; one parsed item at a time dies young.
 *
 * Why not a streaming JSON parser from npm: it tokenizes in JavaScript. `tools/deno task bench list-parse`
 * (bench/list_parse.ts), one page of 500 Endpoints (696 KiB): `JSON.parse` of the whole page 2.0 ms, this
 * reader 2.8 ms (the cutting is char codes and `indexOf`; the parsing stays `JSON.parse`), @streamparser/json
 * 0.0.26 29 ms.
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

/** The index just past the string that opens at `start` (a quote), or -1 when it does not end. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote === -1) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** The first index at or after `at` that is not JSON whitespace. */
function skipSpace(text: string, at: number): number {
  while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  return at;
}

/** Where the top-level `"items"` array of a list opens (its `[`), or -1. */
function itemsStart(text: string): number {
  let depth = 0;
  for (let at = 0; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      const end = stringEnd(text, at);
      if (end === -1) return -1;
      if (depth === 1 && text.slice(at, end) === '"items"') {
        const colon = skipSpace(text, end);
        const open = skipSpace(text, colon + 1);
        if (text.charCodeAt(colon) === COLON && text.charCodeAt(open) === OPEN_BRACKET) return open;
      }
      at = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return -1;
}

/** The items of the array opening at `open` as JSON texts, and the index of its `]`; null if it does not end. */
function splitItems(text: string, open: number): { items: ItemText[]; close: number } | null {
  const items: ItemText[] = [];
  let depth = 0;
  let start = open + 1;
  for (let at = open + 1; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      const end = stringEnd(text, at);
      if (end === -1) return null;
      at = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && depth > 0) depth--;
    else if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      const item = text.slice(start, at).trim();
      if (item !== "") items.push(new ItemText(item));
      else if (c === COMMA || items.length > 0) return null;
      if (c === CLOSE_BRACKET) return { items, close: at };
      start = at + 1;
    }
  }
  return null;
}

/** An item of a list still as its JSON text. */
export class ItemText {
  /** The item's JSON text (a slice of the answer). */
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }
}

/**
 * Parses a list answer's JSON text, leaving each of its `items` as an {@linkcode ItemText} for
 * {@linkcode parseItem}; anything but a JSON object with an `items` array is parsed as it is. Throws
 * `SyntaxError` for text that is not JSON.
 *
 * @example
 * ```ts
 * const list = parseListText('{"kind":"EndpointsList","items":[{"metadata":{}}]}');
 * // list.items: [ItemText { text: '{"metadata":{}}' }]
 * ```
 */
export function parseListText(text: string): unknown {
  const open = itemsStart(text);
  const split = open === -1 ? null : splitItems(text, open);
  if (split === null) return JSON.parse(text);
  const list = JSON.parse(`${text.slice(0, open)}null${text.slice(split.close + 1)}`) as Record<
    string,
    unknown
  >;
  list.items = split.items;
  return list;
}

/** An item of a {@linkcode parseListText} list: its JSON text parsed (throws `SyntaxError`), or the item itself. */
export function parseItem(item: unknown): unknown {
  return item instanceof ItemText ? JSON.parse(item.text) : item;
}
