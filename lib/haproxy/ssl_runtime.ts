/**
 * A certificate HAProxy already serves, replaced in the running worker through the Runtime API: `set ssl
 * cert <file> <<` with the new PEM bundle as payload, `commit ssl cert <file>`, then `show ssl cert <file>`
 * read back for the new serial. The payload carries the private key: no message made here quotes the
 * command text or the answer to it (HAProxy may echo what it could not parse).
 *
 * @module
 */
import { masterCommand } from "./master_cli.ts";
import type { RuntimeTarget } from "./runtime.ts";

/** Options of {@linkcode replaceCertificate}. */
export interface ReplaceOptions {
  /** Time for each command. @default {10000} */
  timeoutMs?: number;
  /** Aborts the commands. */
  signal?: AbortSignal;
}

/**
 * Sends one SSL command (to the current worker through the master CLI); an error names only `what`, never
 * the command text (it may carry a payload with a key).
 */
export async function sendSsl(
  target: RuntimeTarget,
  command: string,
  what: string,
  options: ReplaceOptions,
): Promise<string> {
  const text = target.viaMaster ? `@1 ${command}` : command;
  try {
    return await masterCommand(target.address, text, { timeoutMs: options.timeoutMs ?? 10_000, ...options });
  } catch {
    // The error names the command, payload and all: only what was attempted is kept.
    throw new Error(`Cannot send "${what}" to the Runtime API`);
  }
}

/** The serial `show ssl cert <file>` reports, lower-case hex without leading zero octets, or undefined. */
export function shownSerial(answer: string): string | undefined {
  const match = /^Serial:\s*([0-9A-Fa-f]+)\s*$/m.exec(answer);
  return match?.[1]?.toLowerCase().replace(/^(00)+(?=.)/, "");
}

/**
 * Replaces the certificate HAProxy loaded from `file` with `pem` (chain and key) and checks that it now
 * serves `serial`; throws with what failed (never the PEM).
 */
export async function replaceCertificate(
  target: RuntimeTarget,
  file: string,
  pem: string,
  serial: string,
  options: ReplaceOptions = {},
): Promise<void> {
  const set = await sendSsl(
    target,
    `set ssl cert ${file} <<\n${pem.trimEnd()}\n`,
    `set ssl cert ${file}`,
    options,
  );
  if (!/Transaction (created|updated) for certificate/.test(set)) {
    await sendSsl(target, `abort ssl cert ${file}`, `abort ssl cert ${file}`, options).catch(() => "");
    throw new Error(
      `HAProxy refused "set ssl cert ${file}" (${set.includes("Unknown") ? "unknown file" : "not accepted"})`,
    );
  }
  const commit = await sendSsl(target, `commit ssl cert ${file}`, `commit ssl cert ${file}`, options);
  if (!/Success!/.test(commit)) {
    throw new Error(
      `HAProxy did not commit "${file}": ${
        commit.split("\n").filter((l) => !/KEY|^[A-Za-z0-9+/=]{40,}$/.test(l)).join(" ").trim().slice(0, 200)
      }`,
    );
  }
  const shown = shownSerial(await sendSsl(target, `show ssl cert ${file}`, `show ssl cert ${file}`, options));
  if (shown !== serial) {
    throw new Error(
      `HAProxy serves serial ${shown ?? "(none)"} from "${file}" after the commit, not ${serial}`,
    );
  }
}
