import assert from "node:assert/strict";
import { concatBytes } from "../lib/bytes.ts";

Deno.test("concatBytes() copies the parts in order into a buffer of its own", () => {
  const a = new Uint8Array([1, 2, 3, 4]);
  const parts = [a.subarray(1, 3), new Uint8Array(0), new Uint8Array([9])];
  const out = concatBytes(parts);
  assert.deepEqual([...out], [2, 3, 9]);
  assert.notEqual(out.buffer, a.buffer, "not a view of a part");
  out.buffer.transfer(0); // its holder may release it: the parts stay whole
  assert.deepEqual([...a], [1, 2, 3, 4]);
  assert.equal(concatBytes([]).length, 0);
});
