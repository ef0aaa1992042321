/**
 * The certificate files of TLS termination in `--cert-dir`: each terminated Secret's bundle
 * (`namespace__name.pem`, chain then key) and the `crt-list` HAProxy's TLS frontend loads, written
 * atomically (temp file, fsync, chmod/chown, rename) and only when their bytes differ: mode 0640 and group
 * `group` when one is given (the group HAProxy runs as, lib/daemon/tls.ts), else mode 0600 and the
 * writer's ownership; files of Secrets no longer served are removed once the config that no longer
 * names them is installed. Paths and names only in messages: never file contents.
 *
 * @module
 */
import { join } from "node:path";
import { stageFile } from "./atomic_write.ts";

/** Sealed PEM text (lib/model/certificate.ts's KeyMaterial): only `reveal()` gives it. */
export interface Sealed {
  /** The PEM text. */
  reveal(): string;
}

/** The crt-list's file name in the cert dir. */
export const CRT_LIST = "crt-list";

/** What {@linkcode writeCertFiles} did. */
export interface CertWrite {
  /** Bundles written that did not exist before. */
  added: string[];
  /** Bundles that existed with other bytes (renewed certificates): what the Runtime API must update. */
  renewed: string[];
  /** Whether the crt-list changed. */
  crtListChanged: boolean;
  /** crt-list lines added (without the newline). */
  crtListAdded: string[];
  /** crt-list lines removed (without the newline). */
  crtListRemoved: string[];
}

/** Options of {@linkcode writeCertFiles}. */
export interface CertWriteOptions {
  /** Group id the files (and the dir) belong to, readable by it (0640); null: 0600, ownership unchanged. */
  group?: number | null;
}

/** The mode of the key files for `group`: readable by that group, else by the owner only. */
export function certFileMode(group: number | null | undefined): number {
  return group === null || group === undefined ? 0o600 : 0o640;
}

/** Writes one key file atomically with the mode and group of {@linkcode certFileMode}. */
export async function writeKeyFile(
  path: string,
  text: string,
  group: number | null | undefined,
): Promise<void> {
  const staged = await stageFile(path, text);
  try {
    await Deno.chmod(staged.path, certFileMode(group));
    if (group !== null && group !== undefined) await Deno.chown(staged.path, null, group);
    await staged.commit();
  } finally {
    await staged.discard();
  }
}

function lines(text: string | null): Set<string> {
  return new Set((text ?? "").split("\n").filter((l) => l.trim() !== ""));
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Writes the bundles (file name → PEM) and the crt-list text into `dir` (created with mode 0750, and given
 * `group`, if missing) where they differ from what is there.
 */
export async function writeCertFiles(
  dir: string,
  bundles: ReadonlyMap<string, Sealed>,
  crtList: string,
  options: CertWriteOptions = {},
): Promise<CertWrite> {
  const { group } = options;
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  if (group !== null && group !== undefined) await Deno.chown(dir, null, group);
  const out: CertWrite = {
    added: [],
    renewed: [],
    crtListChanged: false,
    crtListAdded: [],
    crtListRemoved: [],
  };
  for (const [name, bundle] of [...bundles].sort(([a], [b]) => a < b ? -1 : 1)) {
    const path = join(dir, name);
    const text = bundle.reveal();
    const before = await readOrNull(path);
    if (before === text) continue;
    await writeKeyFile(path, text, group);
    (before === null ? out.added : out.renewed).push(name);
  }
  const listPath = join(dir, CRT_LIST);
  const before = await readOrNull(listPath);
  if (before !== crtList) {
    await writeKeyFile(listPath, crtList, group);
    out.crtListChanged = true;
    const [old, now] = [lines(before), lines(crtList)];
    out.crtListAdded = [...now].filter((l) => !old.has(l));
    out.crtListRemoved = [...old].filter((l) => !now.has(l));
  }
  return out;
}

/** Removes the `*.pem` bundles in `dir` that are not in `keep`; the names removed. */
export async function removeStaleCertFiles(dir: string, keep: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".pem") || keep.has(entry.name)) continue;
      await Deno.remove(join(dir, entry.name));
      removed.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed.sort();
}
