/**
 * A host's certificate added to or removed from the running HAProxy through the Runtime API (HAProxy 2.6
 * management guide, "new ssl cert", "add ssl crt-list", "del ssl crt-list", "del ssl cert"): a new file is
 * `new ssl cert`, then `set ssl cert` + `commit ssl cert` (lib/haproxy/ssl_runtime.ts), then one `add ssl
 * crt-list <crtlist> <<` line carrying its SNI filter; a removed line is `del ssl crt-list <crtlist>
 * <file>:<line>` (the line number read from `show ssl crt-list -n`, as one file may serve several names),
 * and a file no line names any more is `del ssl cert`. `show ssl crt-list` reads the result back. Messages
 * name files and lines, never a payload.
 *
 * @module
 */
import type { RuntimeTarget } from "./runtime.ts";
import { replaceCertificate, type ReplaceOptions, sendSsl } from "./ssl_runtime.ts";

/** One crt-list line: the certificate file and its SNI filter (`<file> <sni>`). */
export interface CrtListEntry {
  /** The certificate file's path, as HAProxy knows it. */
  file: string;
  /** The SNI filter (the domain). */
  sni: string;
}

/** The entries of a crt-list text (`<file> <sni>` per line; blank lines and comments skipped). */
export function crtListEntries(text: string): CrtListEntry[] {
  const entries: CrtListEntry[] = [];
  for (const line of text.split("\n")) {
    const [file, sni] = line.trim().split(/\s+/);
    if (file === undefined || file === "" || file.startsWith("#")) continue;
    entries.push({ file, sni: sni ?? "" });
  }
  return entries;
}

/** The entries `show ssl crt-list [-n] <crtlist>` printed, with their line numbers when `-n` was given. */
export function shownCrtList(answer: string): (CrtListEntry & { line: number | null })[] {
  return crtListEntries(answer).map(({ file, sni }) => {
    const numbered = /^(.*):(\d+)$/.exec(file);
    return numbered === null
      ? { file, sni, line: null }
      : { file: numbered[1]!, sni, line: Number(numbered[2]) };
  });
}

function expect(answer: string, pattern: RegExp, what: string): void {
  if (!pattern.test(answer)) {
    throw new Error(`HAProxy refused "${what}": ${answer.replace(/\s+/g, " ").trim().slice(0, 200)}`);
  }
}

/** A certificate file to load: its path, PEM text (chain and key) and the serial its leaf has. */
export interface NewCertificate {
  /** The path HAProxy knows it by (the crt-list names it). */
  file: string;
  /** Chain and key, PEM. */
  pem: string;
  /** The leaf's serial, lower-case hex. */
  serial: string;
}

/** Loads a certificate file HAProxy does not have yet and checks that it holds the expected serial. */
export async function newCertificate(
  target: RuntimeTarget,
  cert: NewCertificate,
  options: ReplaceOptions = {},
): Promise<void> {
  const what = `new ssl cert ${cert.file}`;
  expect(await sendSsl(target, what, what, options), /^New empty certificate store/m, what);
  await replaceCertificate(target, cert.file, cert.pem, cert.serial, options);
}

/** Adds `entry` to the crt-list `crtList` of the running HAProxy. */
export async function addCrtListEntry(
  target: RuntimeTarget,
  crtList: string,
  entry: CrtListEntry,
  options: ReplaceOptions = {},
): Promise<void> {
  const what = `add ssl crt-list ${crtList} ${entry.file} ${entry.sni}`;
  const command = `add ssl crt-list ${crtList} <<\n${entry.file} ${entry.sni}\n`;
  expect(await sendSsl(target, command, what, options), /^Success!/m, what);
}

/** The crt-list `crtList` as the running HAProxy has it, with line numbers. */
export async function readCrtList(
  target: RuntimeTarget,
  crtList: string,
  options: ReplaceOptions = {},
): Promise<(CrtListEntry & { line: number | null })[]> {
  const what = `show ssl crt-list -n ${crtList}`;
  return shownCrtList(await sendSsl(target, what, what, options));
}

/** Removes `entry` from the crt-list `crtList` of the running HAProxy (by its line number). */
export async function removeCrtListEntry(
  target: RuntimeTarget,
  crtList: string,
  entry: CrtListEntry,
  options: ReplaceOptions = {},
): Promise<void> {
  const shown = await readCrtList(target, crtList, options);
  const found = shown.find((e) => e.file === entry.file && e.sni === entry.sni);
  if (found?.line === undefined || found.line === null) {
    throw new Error(`HAProxy's crt-list "${crtList}" has no line "${entry.file} ${entry.sni}"`);
  }
  const what = `del ssl crt-list ${crtList} ${entry.file}:${found.line}`;
  expect(await sendSsl(target, what, what, options), /^Entry '.*' deleted in crtlist/m, what);
}

/** Removes a certificate file no crt-list line names any more from the running HAProxy. */
export async function deleteCertificate(
  target: RuntimeTarget,
  file: string,
  options: ReplaceOptions = {},
): Promise<void> {
  const what = `del ssl cert ${file}`;
  expect(await sendSsl(target, what, what, options), /^Certificate '.*' deleted!/m, what);
}
