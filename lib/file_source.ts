/**
 * Objects from a file: a kubectl JSON dump (`kubectl get endpoints -A -o json`), or stdin with `-`.
 *
 * @module
 */
import { type EndpointSet, endpointSetsOf, type ObjectProblem, parseObjectList } from "./kube/objects.ts";

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

/** Parses the text of a dump; `name` is used in errors. Throws a `TypeError` naming the file. */
export function parseDump(text: string, name: string): FileObjects {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`Cannot parse "${name}": not JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    const parsed = parseObjectList(json);
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
