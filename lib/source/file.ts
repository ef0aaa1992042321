/**
 * Objects from a file: a kubectl dump in JSON or YAML (`kubectl get endpoints -A -o json` or `-o yaml`),
 * or stdin with `-`; read once (`render`) or watched as the daemon's source (`run --from`).
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { endpointSetsOf, type ObjectProblem, parseObjectList } from "./kube/objects.ts";
import { type EndpointSet } from "../model/endpoints.ts";
import { errorText, type Logger } from "../log.ts";
import { initialStatus, type Source } from "./source.ts";

/** What a dump file yields. */
export interface FileObjects {
  /** The endpoint sets it describes. */
  sets: EndpointSet[];
  /** Items that were skipped, with the reason. */
  problems: ObjectProblem[];
}

/** Reads all of stdin as text. */
async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

/**
 * The data of a dump: JSON, else YAML (`kubectl -o yaml`). JSON is tried first as it is what the API and
 * `-o json` give, and faster for big dumps; YAML 1.2's core schema keeps timestamps and `"123"` strings as
 * kubectl wrote them.
 */
function parseText(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // YAML is a superset of JSON, so its parser's complaint is the one to report.
    try {
      return parseYaml(text);
    } catch (error) {
      // The first line only: the parser appends an excerpt of the input.
      const reason = (error as Error).message.split("\n")[0]?.replace(/:$/, "");
      throw new TypeError(`Cannot parse "${name}": not JSON or YAML: ${reason}`, { cause: error });
    }
  }
}

/** Parses the text of a dump (JSON or YAML); `name` is used in errors. Throws a `TypeError` naming the file. */
export function parseDump(text: string, name: string): FileObjects {
  const data = parseText(text, name);
  try {
    const parsed = parseObjectList(data);
    return { sets: endpointSetsOf(parsed), problems: parsed.problems };
  } catch (error) {
    throw new TypeError(`Cannot use "${name}": ${(error as Error).message}`, { cause: error });
  }
}

/** Reads and parses a dump file (`-` for stdin). */
export async function readDump(path: string): Promise<FileObjects> {
  const name = path === "-" ? "stdin" : path;
  let text: string;
  try {
    text = path === "-" ? await readStdin() : await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read "${name}": ${(error as Error).message}`, { cause: error });
  }
  return parseDump(text, name);
}

/** Options of {@linkcode createFileSource}. */
export interface FileSourceOptions {
  /** Logger. */
  log: Logger;
  /** Re-read at least this often even without a file-system event (a safety net; full sync). @default {30000} */
  resyncMs?: number;
  /** Wait after a file-system event before reading, so a writer can finish. @default {50} */
  settleMs?: number;
}

/**
 * A {@linkcode Source} that reads a dump file and re-reads it when it changes (watching its directory,
 * so editors that replace the file are seen). A file that becomes unreadable or invalid keeps the last
 * good snapshot and reports the error.
 */
export function createFileSource(path: string, options: FileSourceOptions): Source {
  const { log, resyncMs = 30_000, settleMs = 50 } = options;
  const status = initialStatus("file", path, "file");
  let sets: EndpointSet[] = [];
  let lastText: string | null = null;
  const listeners: (() => void)[] = [];

  // Reads never overlap: a resync and a change event could otherwise finish out of order.
  let reading: Promise<void> = Promise.resolve();
  function read(reason: string): Promise<void> {
    reading = reading.then(() => readNow(reason));
    return reading;
  }

  async function readNow(reason: string): Promise<void> {
    try {
      let text: string;
      try {
        text = path === "-" ? await readStdin() : await Deno.readTextFile(path);
      } catch (error) {
        throw new Error(`Cannot read "${path}": ${(error as Error).message}`, { cause: error });
      }
      const parsed = parseDump(text, path);
      const changed = text !== lastText;
      lastText = text;
      sets = parsed.sets;
      status.problems = parsed.problems;
      status.objects = sets.length;
      status.synced = true;
      status.fullSyncs++;
      status.lastFullSyncAt = Date.now();
      status.lastError = null;
      if (changed) {
        status.lastEventAt = status.lastFullSyncAt;
        status.events[reason] = (status.events[reason] ?? 0) + 1;
        for (const problem of parsed.problems) log.warn("object skipped", { ...problem });
        log.info("file read", { path, objects: sets.length, reason });
      }
      // Listeners hear of changes and of the periodic full syncs, not of every event in the directory:
      // haconfd's own writes there (a config beside the dump) must not start a pass.
      if (changed || reason !== "changed") { for (const listener of listeners) listener(); }
    } catch (error) {
      status.lastError = errorText(error);
      log.error("cannot read source file, keeping the last good state", { path, error: status.lastError });
    }
  }

  return {
    async run(signal) {
      await read("initial");
      if (path === "-" || signal.aborted) return;
      // Watch the whole directory and re-read on any event in it: editors replace the file by rename and
      // a Kubernetes ConfigMap volume swaps a `..data` symlink; read() ignores unchanged text.
      const dir = dirname(resolve(path));
      const watcher = Deno.watchFs(dir, { recursive: false });
      const onAbort = () => watcher.close();
      signal.addEventListener("abort", onAbort, { once: true });
      let settle: ReturnType<typeof setTimeout> | undefined;
      const resync = setInterval(() => void read("resync"), resyncMs);
      try {
        for await (const _event of watcher) {
          clearTimeout(settle);
          settle = setTimeout(() => void read("changed"), settleMs);
        }
      } finally {
        clearTimeout(settle);
        clearInterval(resync);
        signal.removeEventListener("abort", onAbort);
        await reading;
      }
    },
    snapshot: () => sets,
    onChange(listener) {
      listeners.push(listener);
    },
    status: () => ({ ...status, events: { ...status.events }, restarts: { ...status.restarts } }),
  };
}
