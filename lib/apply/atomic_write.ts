/**
 * Atomic file replacement: a temp file in the target's own directory, written, fsynced, closed,
 * given the old file's mode, then renamed over the target. Readers see the old file or the new one,
 * never a half-written one.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Mode given to a target that did not exist before. */
export const DEFAULT_MODE = 0o640;

/** A file written beside its target, not yet renamed over it. */
export interface StagedFile {
  /** Path of the temp file (same directory as the target). */
  readonly path: string;
  /** The final path the temp file is renamed to by {@linkcode StagedFile.commit}. */
  readonly target: string;
  /** Renames the temp file over the target. */
  commit(): Promise<void>;
  /** Removes the temp file; does nothing once committed or already discarded. */
  discard(): Promise<void>;
}

/** The mode bits of `path`, or `undefined` when it does not exist. */
async function existingMode(path: string): Promise<number | undefined> {
  try {
    const info = await Deno.stat(path);
    return info.mode === null ? undefined : info.mode & 0o7777;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

function tempPathFor(target: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2)).join("");
  return join(dirname(target), `.${basename(target)}.${random}.tmp`);
}

/**
 * Writes `data` (text, bytes, or bytes in parts written one after the other) to a temp file beside `target` (fsynced, closed, mode copied from the existing target
 * or {@linkcode DEFAULT_MODE}) and returns it without renaming, so a check can run on the staged file
 * first. The caller must `commit()` or `discard()` it.
 *
 * @example
 * ```ts
 * const staged = await stageFile("/etc/haproxy/haproxy.cfg", text);
 * try {
 *   if ((await checkConfig(staged.path)).ok) await staged.commit();
 * } finally {
 *   await staged.discard();
 * }
 * ```
 */
export async function stageFile(
  target: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<StagedFile> {
  const chunks = typeof data === "string"
    ? [new TextEncoder().encode(data)]
    : data instanceof Uint8Array
    ? [data]
    : data;
  const mode = (await existingMode(target)) ?? DEFAULT_MODE;
  const path = tempPathFor(target);
  let done = false;
  try {
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      // Synchronous writes: a config comes in hundreds of parts, and an awaited write per part costs several
      // times the CPU of the copy itself (the fsync below, which waits for the disk, stays asynchronous).
      for (const bytes of chunks) {
        let written = 0;
        while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(path, mode);
  } catch (error) {
    await removeQuietly(path);
    throw new Error(`Cannot write temp file "${path}"`, { cause: error });
  }
  return {
    path,
    target,
    async commit() {
      if (done) throw new Error(`Cannot commit "${path}": already committed or discarded`);
      try {
        await Deno.rename(path, target);
      } catch (error) {
        throw new Error(`Cannot rename "${path}" to "${target}"`, { cause: error });
      }
      done = true;
    },
    async discard() {
      if (done) return;
      done = true;
      await removeQuietly(path);
    },
  };
}

/**
 * Replaces `target` atomically with `data`; the temp file is removed when anything fails.
 *
 * @example
 * ```ts
 * await atomicWrite("/etc/haproxy/haproxy.cfg", "global\n");
 * ```
 */
export async function atomicWrite(
  target: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const staged = await stageFile(target, data);
  try {
    await staged.commit();
  } finally {
    await staged.discard();
  }
}
