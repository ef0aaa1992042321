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
import { initialStatus, type Source, type SourceStatus } from "./source.ts";

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
  return new FileSource(path, options);
}

/** The file source's state: the last text read, the sets parsed from it, its status, its listeners. */
class FileSource implements Source {
  readonly #path: string;
  readonly #log: Logger;
  readonly #resyncMs: number;
  readonly #settleMs: number;
  readonly #status: SourceStatus;
  readonly #listeners: (() => void)[] = [];
  #sets: EndpointSet[] = [];
  #lastText: string | null = null;
  // Reads never overlap: a resync and a change event could otherwise finish out of order.
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, options: FileSourceOptions) {
    this.#path = path;
    this.#log = options.log;
    this.#resyncMs = options.resyncMs ?? 30_000;
    this.#settleMs = options.settleMs ?? 50;
    this.#status = initialStatus("file", path, "file");
  }

  async run(signal: AbortSignal): Promise<void> {
    await this.#read("initial");
    if (this.#path === "-" || signal.aborted) return;
    // Watch the whole directory and re-read on any event in it: editors replace the file by rename and
    // a Kubernetes ConfigMap volume swaps a `..data` symlink; #read() ignores unchanged text.
    const watcher = Deno.watchFs(dirname(resolve(this.#path)), { recursive: false });
    const onAbort = () => watcher.close();
    signal.addEventListener("abort", onAbort, { once: true });
    let settle: ReturnType<typeof setTimeout> | undefined;
    const resync = setInterval(() => void this.#read("resync"), this.#resyncMs);
    try {
      for await (const _event of watcher) {
        clearTimeout(settle);
        settle = setTimeout(() => void this.#read("changed"), this.#settleMs);
      }
    } finally {
      clearTimeout(settle);
      clearInterval(resync);
      signal.removeEventListener("abort", onAbort);
      await this.#reading;
    }
  }

  snapshot(): EndpointSet[] {
    return this.#sets;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  status(): SourceStatus {
    const status = this.#status;
    return { ...status, events: { ...status.events }, restarts: { ...status.restarts } };
  }

  #read(reason: string): Promise<void> {
    this.#reading = this.#reading.then(() => this.#readNow(reason));
    return this.#reading;
  }

  async #readNow(reason: string): Promise<void> {
    const path = this.#path;
    const status = this.#status;
    try {
      let text: string;
      try {
        text = path === "-" ? await readStdin() : await Deno.readTextFile(path);
      } catch (error) {
        throw new Error(`Cannot read "${path}": ${(error as Error).message}`, { cause: error });
      }
      const parsed = parseDump(text, path);
      const changed = text !== this.#lastText;
      this.#lastText = text;
      this.#sets = parsed.sets;
      status.problems = parsed.problems;
      status.objects = this.#sets.length;
      status.synced = true;
      status.fullSyncs++;
      status.lastFullSyncAt = Date.now();
      status.lastError = null;
      if (changed) {
        status.lastEventAt = status.lastFullSyncAt;
        status.events[reason] = (status.events[reason] ?? 0) + 1;
        for (const problem of parsed.problems) this.#log.warn("object skipped", { ...problem });
        this.#log.info("file read", { path, objects: this.#sets.length, reason });
      }
      // Listeners hear of changes and of the periodic full syncs, not of every event in the directory:
      // haconfd's own writes there (a config beside the dump) must not start a pass.
      if (changed || reason !== "changed") { for (const listener of this.#listeners) listener(); }
    } catch (error) {
      status.lastError = errorText(error);
      this.#log.error("cannot read source file, keeping the last good state", {
        path,
        error: status.lastError,
      });
    }
  }
}
