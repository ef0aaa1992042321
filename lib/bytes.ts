/**
 * Byte arrays: what the source (API answers), the renderer (the config's parts) and the demo (raw HTTP
 * answers) each need.
 *
 * @module
 */

/**
 * One new array holding `parts` one after the other, in a buffer of its own (which its holder may release).
 *
 * @example
 * ```ts
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
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
