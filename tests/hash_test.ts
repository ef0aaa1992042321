import assert from "node:assert/strict";
import { fnv1aHex, sha256, sha256Hex } from "../lib/hash.ts";

const ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Deno.test("sha256Hex() gives the standard digest of text, bytes and parts alike", () => {
  const bytes = new TextEncoder().encode("abc");
  const cases: [string | Uint8Array | Uint8Array[], string][] = [
    ["", EMPTY],
    ["abc", ABC],
    [bytes, ABC],
    [[bytes.subarray(0, 1), bytes.subarray(1)], ABC],
    [[new Uint8Array(0), bytes, new Uint8Array(0)], ABC],
    [[], EMPTY],
    // UTF-8, not UTF-16: "é" is the two bytes c3 a9.
    ["é", sha256Hex(new Uint8Array([0xc3, 0xa9]))],
  ];
  for (const [input, hex] of cases) assert.equal(sha256Hex(input), hex, String(input));
});

Deno.test("sha256() returns the 32 raw bytes of the same digest", () => {
  const raw = sha256("abc");
  assert.equal(raw.length, 32);
  assert.equal(Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join(""), ABC);
});

Deno.test("fnv1aHex() gives FNV-1a 32-bit as 8 hex digits", () => {
  const cases: [string, string][] = [
    ["", "811c9dc5"],
    ["a", "e40c292c"],
    ["foobar", "bf9cf968"],
  ];
  for (const [input, hex] of cases) assert.equal(fnv1aHex(input), hex, input);
  // Leading zeros are kept, so every identifier suffix has the same length.
  for (let i = 0; i < 2000; i++) assert.match(fnv1aHex(`name-${i}`), /^[0-9a-f]{8}$/);
  assert.notEqual(fnv1aHex("ab"), fnv1aHex("ba"));
});
