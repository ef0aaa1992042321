/**
 * The certificate files of TLS termination in `--cert-dir`: each terminated Secret's bundle
 * (`namespace__name.pem`, chain then key) and the `crt-list` HAProxy's TLS frontend loads, written
 * atomically (temp file, fsync, rename; mode 0640 for a new file, an existing file's mode kept) and only
 * when their bytes differ; files of Secrets no longer served are removed once the config that no longer
 * names them is installed. Paths and names only in messages: never file contents.
 *
 * @module
 */
import { join } from "node:path";
import { atomicWrite } from "./atomic_write.ts";

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
 * Writes the bundles (file name → PEM) and the crt-list text into `dir` (created with mode 0750 if
 * missing) where they differ from what is there.
 */
export async function writeCertFiles(
  dir: string,
  bundles: ReadonlyMap<string, Sealed>,
  crtList: string,
): Promise<CertWrite> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const out: CertWrite = { added: [], renewed: [], crtListChanged: false };
  for (const [name, bundle] of [...bundles].sort(([a], [b]) => a < b ? -1 : 1)) {
    const path = join(dir, name);
    const text = bundle.reveal();
    const before = await readOrNull(path);
    if (before === text) continue;
    await atomicWrite(path, text);
    (before === null ? out.added : out.renewed).push(name);
  }
  const listPath = join(dir, CRT_LIST);
  if (await readOrNull(listPath) !== crtList) {
    await atomicWrite(listPath, crtList);
    out.crtListChanged = true;
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
