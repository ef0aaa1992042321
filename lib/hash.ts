/**
 * The project's hashes: sha256 of configs and tokens (one implementation, node:crypto, synchronous), and
 * a short non-cryptographic hash for identifiers.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** sha256 of `text` (UTF-8), raw bytes. */
export function sha256(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/** sha256 of `text` (UTF-8, or bytes already encoded, whole or in parts), lower-case hex. */
export function sha256Hex(text: string | Uint8Array | readonly Uint8Array[]): string {
  const hash = createHash("sha256");
  if (typeof text === "string" || text instanceof Uint8Array) return hash.update(text).digest("hex");
  for (const part of text) hash.update(part);
  return hash.digest("hex");
}

/** FNV-1a, 32 bits, as 8 hex digits: a stable short hash for identifiers (not for secrets). */
export function fnv1aHex(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
