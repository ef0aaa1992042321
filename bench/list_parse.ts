// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * How to read a list page (`tools/deno task bench list-parse [--rounds 30]`): the three ways of turning
 * one page of 500 Endpoints from the API stand-in (bench/cluster.ts, managedFields included) into its
 * items, medians over the rounds — `JSON.parse` of the whole page's text (the floor), haconfd's reader
 * (lib/source/kube/list_text.ts: the items cut out of the answer's bytes, each decoded and parsed alone),
 * and a streaming JSON
 * parser from npm (@streamparser/json, the `$.items.*` values as it meets them).
 *
 * @module
 */
import { JSONParser } from "npm:@streamparser/json@0.0.26";
import { parseItem, parseListBytes } from "../lib/source/kube/list_text.ts";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { cluster } from "./cluster.ts";
import { median } from "./measure.ts";

/** Milliseconds `read` takes on `text`, and how many items it found. */
function timed(read: () => unknown[]): { ms: number; items: number } {
  const start = performance.now();
  const items = read();
  return { ms: performance.now() - start, items: items.length };
}

function streamed(bytes: Uint8Array): unknown[] {
  const items: unknown[] = [];
  const parser = new JSONParser({ paths: ["$.items.*"], keepStack: false });
  parser.onValue = ({ value }) => void items.push(value);
  parser.write(bytes);
  return items;
}

/** Runs the list-parse benchmark with the command-line arguments after `list-parse`. */
export async function listParseBenchmark(args: string[]): Promise<void> {
  const at = args.indexOf("--rounds");
  const rounds = at === -1 ? 30 : Number(args[at + 1]);
  const kube = await startKubeServer({ objects: { endpoints: cluster(500) } });
  let text: string;
  try {
    text = await (await fetch(`${kube.url}/api/v1/endpoints?limit=500`)).text();
  } finally {
    await kube.close();
  }
  const bytes = new TextEncoder().encode(text);
  let copy = bytes.slice(); // the item reader releases (detaches) the bytes it read: a fresh copy each round
  const ways = {
    "`JSON.parse` of the whole page": () => (JSON.parse(text) as { items: unknown[] }).items,
    "list_text.ts: items cut out of the bytes, each decoded and `JSON.parse`d": () =>
      (parseListBytes(copy) as { items: unknown[] }).items.map(parseItem),
    "@streamparser/json 0.0.26, `$.items.*`": () => streamed(bytes),
  };
  const ms = new Map(Object.keys(ways).map((name) => [name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    copy = bytes.slice();
    for (const [name, read] of Object.entries(ways)) {
      const { ms: taken, items } = timed(read);
      if (items !== 500) throw new Error(`${name} found ${items} items, not 500`);
      ms.get(name)!.push(taken);
    }
  }
  console.log(
    `One page: 500 Endpoints, ${(bytes.length / 1024).toFixed(0)} KiB; median of ${rounds} rounds\n`,
  );
  console.log("| reader | ms per page | × the floor |\n|---|---:|---:|");
  const floor = median(ms.get("`JSON.parse` of the whole page")!);
  for (const [name, list] of ms) {
    console.log(`| ${name} | ${median(list).toFixed(1)} | ${(median(list) / floor).toFixed(1)} |`);
  }
}
