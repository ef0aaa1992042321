/**
 * A client of the HAProxy master CLI (`haproxy -W -S <socket>`): one command per connection, the answer
 * read after half-closing the write side, plus parsers of `show proc` and of the `reload` answer.
 *
 * @module
 */
import type { MasterAddress } from "../settings/values.ts";

/** Default time one master CLI command may take. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

/** The address as a human would write it. */
export function formatMasterAddress(address: MasterAddress): string {
  return address.transport === "unix" ? address.path : `${address.hostname}:${address.port}`;
}

/** Options of {@linkcode masterCommand}. */
export interface MasterCommandOptions {
  /** Time for connect + answer. @default {5000} */
  timeoutMs?: number;
  /** Aborting closes the connection. */
  signal?: AbortSignal | undefined;
}

/**
 * Sends one command to the master CLI and returns its whole answer. The master answers only after the
 * client half-closes its write side, so the command is written, the write side shut down, and the
 * answer read until the master closes.
 *
 * @example
 * ```ts
 * const text = await masterCommand(parseMasterAddress("/run/haproxy-master.sock"), "show proc");
 * ```
 *
 * @throws {Error} When the socket cannot be reached or the answer does not come in time.
 */
export async function masterCommand(
  address: MasterAddress,
  command: string,
  options: MasterCommandOptions = {},
): Promise<string> {
  const { timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS, signal } = options;
  const where = formatMasterAddress(address);
  signal?.throwIfAborted();
  let conn: Deno.Conn | undefined;
  let timedOut = false;
  let closed = false;
  function close(): void {
    if (closed || conn === undefined) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
  const timer = setTimeout(() => {
    timedOut = true;
    close();
  }, timeoutMs);
  signal?.addEventListener("abort", close, { once: true });
  try {
    conn = address.transport === "unix"
      ? await Deno.connect({ transport: "unix", path: address.path })
      : await Deno.connect({ transport: "tcp", hostname: address.hostname, port: address.port });
    if (timedOut || signal?.aborted) {
      close();
      throw new Error("timed out");
    }
    const bytes = new TextEncoder().encode(command + "\n");
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    await conn.closeWrite();
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    close();
    const decoder = new TextDecoder();
    return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
  } catch (error) {
    close();
    const reason = timedOut ? `no answer within ${timeoutMs} ms` : signal?.aborted ? "aborted" : "failed";
    throw new Error(`Cannot send "${command}" to master socket "${where}": ${reason}`, { cause: error });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", close);
  }
}

/** One process line of `show proc`. */
export interface ProcEntry {
  /** Process id. */
  pid: number;
  /** Reloads this process has seen (for the master: all reloads). */
  reloads: number;
  /** HAProxy version string of the process. */
  version: string;
}

/** The parsed `show proc` answer. */
export interface ProcTable {
  /** The master line; `failed` is the failed-reload counter HAProxy 2.5+ prints (`[failed: N]`). */
  master: ProcEntry & { failed: number | undefined };
  /** Current workers. */
  workers: ProcEntry[];
  /** Workers of earlier configs still finishing their connections. */
  oldWorkers: ProcEntry[];
}

const MASTER_LINE = /^(\d+)\s+master\s+(?:\d+\s+)?(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+\S+\s+(\S+)/;
const WORKER_LINE = /^(\d+)\s+worker\s+(?:\[was:\s*\d+\]\s+|\d+\s+(?=\d))?(\d+)\s+\S+\s+(\S+)/;

/**
 * Parses `show proc` of the master CLI (2.0 to 3.x layouts).
 *
 * @example
 * ```ts
 * const table = parseShowProc(await masterCommand(address, "show proc"));
 * table.master.reloads; // 3
 * ```
 *
 * @throws {SyntaxError} When there is no master line.
 */
export function parseShowProc(text: string): ProcTable {
  let master: ProcTable["master"] | undefined;
  const workers: ProcEntry[] = [];
  const oldWorkers: ProcEntry[] = [];
  let section: "workers" | "old" | "other" = "other";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#")) {
      section = /^#\s*workers/.test(line) ? "workers" : /^#\s*old workers/.test(line) ? "old" : "other";
      continue;
    }
    const m = MASTER_LINE.exec(line);
    if (m !== null) {
      master = {
        pid: Number(m[1]),
        reloads: Number(m[2]),
        failed: m[3] === undefined ? undefined : Number(m[3]),
        version: m[4] ?? "",
      };
      continue;
    }
    const w = WORKER_LINE.exec(line);
    if (w !== null && section !== "other") {
      const entry = { pid: Number(w[1]), reloads: Number(w[2]), version: w[3] ?? "" };
      (section === "workers" ? workers : oldWorkers).push(entry);
    }
  }
  if (master === undefined) {
    throw new SyntaxError(
      `Cannot parse "show proc": no master line in ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  return { master, workers, oldWorkers };
}

/** The answer of `reload` on HAProxy 2.7+ (`Success=1` / `Success=0`, `--`, the startup logs). */
export interface ReloadAnswer {
  /** Whether the master reports the reload succeeded. */
  success: boolean;
  /** The startup logs printed after the status (may be empty). */
  logs: string;
}

/**
 * Parses the answer of `reload`: `undefined` when there is no status line (HAProxy up to 2.6 answers
 * nothing and reloads in the background).
 */
export function parseReloadAnswer(text: string): ReloadAnswer | undefined {
  const m = /^Success=([01])\s*$/m.exec(text);
  if (m === null) return undefined;
  const rest = text.slice((m.index ?? 0) + m[0].length).replace(/^\s*\n?--\s*\n?/, "");
  return { success: m[1] === "1", logs: rest.trim() };
}
