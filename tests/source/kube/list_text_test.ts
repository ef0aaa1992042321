import assert from "node:assert/strict";
import { ListItem, parseItem, parseListBytes, releaseItems } from "../../../lib/source/kube/list_text.ts";

const encoder = new TextEncoder();

/** `text` parsed as a list answer's bytes. */
function parseListText(text: string): unknown {
  return parseListBytes(encoder.encode(text));
}

/** The list with its items parsed back, as JSON.parse would give it. */
function parsedBack(text: string): unknown {
  const list = parseListText(text) as { items?: unknown };
  return Array.isArray(list.items) ? { ...list, items: list.items.map(parseItem) } : list;
}

Deno.test("parseListBytes() leaves each item as its own JSON text and parses the rest", () => {
  const text = JSON.stringify({
    kind: "EndpointsList",
    apiVersion: "v1",
    metadata: { resourceVersion: "7", continue: "x" },
    items: [
      { metadata: { name: "a", annotations: { note: 'a "quoted" ] } , [ text\\' } }, subsets: [] },
      { metadata: { name: "b" }, items: [1, [2, { items: "]" }]] },
    ],
  });
  const list = parseListText(text) as { items: unknown[]; metadata: unknown };
  assert.ok(list.items.every((item) => item instanceof ListItem));
  assert.deepEqual(list.metadata, { resourceVersion: "7", continue: "x" });
  assert.deepEqual(parsedBack(text), JSON.parse(text));
});

Deno.test("parseListBytes() gives what JSON.parse gives for spacing, empty lists and answers without items", () => {
  const texts = [
    '{ "kind" : "L" , "items" : [ ] }',
    '{"items":[ {"a":1} ,\n {"b":"\\\\"} ],"kind":"L"}',
    '{"kind":"Status","code":410,"message":"\\"items\\": gone"}',
    '{"kind":"L","items":null}',
    '{"metadata":{"items":[1]},"items":[{"x":{"items":[]}}]}',
    "[1,2]",
  ];
  for (const text of texts) assert.deepEqual(parsedBack(text), JSON.parse(text), text);
});

Deno.test("parseListBytes() throws SyntaxError for text that is not JSON, as JSON.parse does", () => {
  for (const text of ['{"items":[1,,2]}', '{"items":[1,]}', '{"items":[{"a":1}', '{"items":["x]}', "nope"]) {
    assert.throws(() => parsedBack(text), SyntaxError, text);
  }
  // An item that is not JSON by itself fails when it is parsed.
  const list = parseListText('{"items":[{"a":tru}]}') as { items: unknown[] };
  assert.throws(() => parseItem(list.items[0]), SyntaxError);
});

Deno.test("parseListBytes() reads UTF-8 and a leading BOM as the whole answer's decoding does", () => {
  const text = JSON.stringify({
    kind: "L",
    items: [{ name: "café ☕" }, { note: "日本" }],
    metadata: { x: "é" },
  });
  assert.deepEqual(parsedBack(text), JSON.parse(text));
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(text)]);
  const list = parseListBytes(bom) as { items: unknown[] };
  assert.deepEqual({ ...list, items: list.items.map(parseItem) }, JSON.parse(text));
});

Deno.test("releaseItems() frees the answer's bytes: its items cannot be parsed after", () => {
  const body = encoder.encode('{"items":[{"a":1},{"b":2}]}');
  const list = parseListBytes(body) as { items: unknown[] };
  assert.deepEqual(parseItem(list.items[0]), { a: 1 });
  releaseItems(list.items);
  assert.equal(body.buffer.detached, true);
  assert.throws(() => parseItem(list.items[1]), RangeError);
  releaseItems(list.items);
  releaseItems([1, 2]);
});
