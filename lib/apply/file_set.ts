/**
 * A config staged with the map files it names: the config beside its target (as atomic_write.ts stages
 * it), the maps in a private directory beside it, and a copy of the config naming the staged maps, which
 * `haproxy -c` checks with them. Commit renames the maps over theirs, then the config over its target.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { atomicWrite, type StagedFile, stageFile } from "./atomic_write.ts";

const encoder = new TextEncoder();

/** A file installed with the config (a map file): where it goes and what it holds. */
export interface SideFile {
  /** Its absolute path, as the config names it. */
  path: string;
  /** Its text. */
  text: string;
}

/** A config staged with its side files. */
export interface StagedSet extends StagedFile {
  /** The file to check: the staged config, or its copy naming the staged side files. */
  readonly checkPath: string;
  /** Staged path → final path of every file the check may name, to put right in its messages. */
  readonly renames: readonly (readonly [string, string])[];
}

/** A byte position in a list of parts: the part's index and the offset in it. */
type At = readonly [part: number, offset: number];

/** The position just past `pattern` if the bytes at `at` (and in the parts after it) are `pattern`, else null. */
function matchEnd(parts: readonly Uint8Array[], [part, offset]: At, pattern: Uint8Array): At | null {
  for (let k = 0; k < pattern.length;) {
    const bytes = parts[part];
    if (bytes === undefined) return null;
    if (offset >= bytes.length) {
      part++;
      offset = 0;
    } else if (bytes[offset++] !== pattern[k++]) return null;
  }
  return [part, offset];
}

/** Appends to `out` the bytes of `parts` from `from` to `to` (views, not copies). */
function pushRange(out: Uint8Array[], parts: readonly Uint8Array[], from: At, to: At): void {
  for (let part = from[0]; part <= to[0]; part++) {
    const bytes = parts[part]!.subarray(part === from[0] ? from[1] : 0, part === to[0] ? to[1] : undefined);
    if (bytes.length > 0) out.push(bytes);
  }
}

/** The first offset at or after `offset` in `bytes` holding one of the bytes `starts`, or -1. */
function nextCandidate(bytes: Uint8Array, offset: number, starts: readonly number[]): number {
  let best = -1;
  for (const byte of starts) {
    const at = bytes.indexOf(byte, offset);
    if (at !== -1 && (best === -1 || at < best)) best = at;
  }
  return best;
}

/** The first pair whose `from` is at `at`, with the position just past it; null when none is. */
function firstMatch(
  parts: readonly Uint8Array[],
  at: At,
  pairs: readonly (readonly [Uint8Array, Uint8Array])[],
): { to: Uint8Array; end: At } | null {
  for (const [from, to] of pairs) {
    const end = matchEnd(parts, at, from);
    if (end !== null) return { to, end };
  }
  return null;
}

/**
 * `parts` with every occurrence of each `[from, to]` pair's `from` replaced by its `to` (at each position the
 * longest `from` that matches, so a path that begins another is not replaced inside it; an occurrence may
 * span parts), as views of `parts` and of the `to` arrays:
 * the bytes are not copied, so a large config's copy costs no memory of its size. Candidates are found by
 * the first bytes of the `from`s (one byte, `/`, for absolute paths).
 */
export function replacedParts(
  parts: readonly Uint8Array[],
  pairs: readonly (readonly [from: Uint8Array, to: Uint8Array])[],
): Uint8Array[] {
  const used = pairs.filter(([from]) => from.length > 0).sort(([a], [b]) => b.length - a.length);
  const starts = [...new Set(used.map(([from]) => from[0]!))];
  const out: Uint8Array[] = [];
  let written: At = [0, 0];
  let part = 0;
  let offset = 0;
  while (part < parts.length) {
    const candidate = nextCandidate(parts[part]!, offset, starts);
    if (candidate === -1) {
      [part, offset] = [part + 1, 0];
      continue;
    }
    const match = firstMatch(parts, [part, candidate], used);
    if (match === null) {
      offset = candidate + 1;
      continue;
    }
    pushRange(out, parts, written, [part, candidate]);
    out.push(match.to);
    [part, offset] = written = match.end;
  }
  pushRange(out, parts, written, [parts.length - 1, parts.at(-1)?.length ?? 0]);
  return out;
}

/**
 * Stages `data` (the config, as text or UTF-8 parts) for `target` with `files`. Without files it is
 * {@linkcode stageFile}. The check's copy is written from the config's bytes with the map paths replaced
 * on the way ({@linkcode replacedParts}): no copy of the whole text is made. The caller must `commit()`
 * or `discard()` it.
 */
export async function stageSet(
  target: string,
  data: string | readonly Uint8Array[],
  files: readonly SideFile[],
): Promise<StagedSet> {
  const parts = typeof data === "string" ? [encoder.encode(data)] : data;
  const config = await stageFile(target, parts);
  if (files.length === 0) return { ...config, checkPath: config.path, renames: [[config.path, target]] };
  let dir: string | undefined;
  try {
    dir = await Deno.makeTempDir({ dir: dirname(target), prefix: `.${basename(target)}.files-` });
    const staged = files.map((f) => ({ ...f, at: join(dir!, basename(f.path)) }));
    for (const f of staged) await atomicWrite(f.at, f.text);
    const checkPath = join(dir, basename(target));
    const renamed = staged.map((f) => [encoder.encode(f.path), encoder.encode(f.at)] as const);
    await atomicWrite(checkPath, replacedParts(parts, renamed));
    const where = dir;
    const discard = async () => {
      await config.discard();
      await Deno.remove(where, { recursive: true }).catch(() => {});
    };
    return {
      path: config.path,
      target,
      checkPath,
      renames: [[checkPath, target], [config.path, target], ...staged.map((f) => [f.at, f.path] as const)],
      async commit() {
        for (const f of staged) {
          try {
            await Deno.rename(f.at, f.path);
          } catch (error) {
            throw new Error(`Cannot rename "${f.at}" to "${f.path}"`, { cause: error });
          }
        }
        await config.commit();
      },
      discard,
    };
  } catch (error) {
    await config.discard();
    if (dir !== undefined) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Writes each side file over its path, atomically one by one (the runtime path, a restore). */
export async function writeSideFiles(files: readonly SideFile[]): Promise<void> {
  for (const f of files) await atomicWrite(f.path, f.text);
}

/** Whether two sets of side files hold the same paths with the same texts. */
export function sameSideFiles(a: readonly SideFile[], b: readonly SideFile[]): boolean {
  return a.length === b.length && a.every((f, i) => f.path === b[i]?.path && f.text === b[i]?.text);
}

/** The side files on disk at the paths of `files` (a missing one reads as `undefined` text). */
export async function readSideFiles(files: readonly SideFile[]): Promise<(SideFile | undefined)[]> {
  return await Promise.all(files.map(async (f) => {
    try {
      return { path: f.path, text: await Deno.readTextFile(f.path) };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }));
}
