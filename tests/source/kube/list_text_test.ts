import assert from "node:assert/strict";
import { ItemText, parseItem, parseListText } from "../../../lib/source/kube/list_text.ts";

/** The list with its items parsed back, as JSON.parse would give it. */
function parsedBack(text: string): unknown {
  const list = parseListText(text) as { items?: unknown };
  return Array.isArray(list.items) ? { ...list, items: list.items.map(parseItem) } : list;
}

Deno.test("parseListText() leaves each item as its own JSON text and parses the rest", () => {
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
  assert.ok(list.items.every((item) => item instanceof ItemText));
  assert.deepEqual(list.metadata, { resourceVersion: "7", continue: "x" });
  assert.deepEqual(parsedBack(text), JSON.parse(text));
});

Deno.test("parseListText() gives what JSON.parse gives for spacing, empty lists and answers without items", () => {
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

Deno.test("parseListText() throws SyntaxError for text that is not JSON, as JSON.parse does", () => {
  for (const text of ['{"items":[1,,2]}', '{"items":[1,]}', '{"items":[{"a":1}', '{"items":["x]}', "nope"]) {
    assert.throws(() => parsedBack(text), SyntaxError, text);
  }
  // An item that is not JSON by itself fails when it is parsed.
  const list = parseListText('{"items":[{"a":tru}]}') as { items: unknown[] };
  assert.throws(() => parseItem(list.items[0]), SyntaxError);
});
