// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * The main thread's work of a start-up list, without the network (`tools/deno task bench list-cpu
 * [--objects 16700] [--rounds 7]`): the cluster's list pages are fetched once from the API stand-in
 * (bench/cluster.ts, 500 a page) into files; then each round is a fresh process with haconfd's V8 flags
 * (a cold JIT and a fresh heap, as at start-up) that reads the files and times what haconfd
 * does with each page — its items read (lib/source/kube/list_text.ts), projected (`ENDPOINTS_KIND`), handed
 * to the default templates' generator (`prime`: model store and partials) — and the first generate; the
 * templates' compilation is timed apart, the total is from the start of it. Garbage collection is in the
 * stage that triggers it. Prints median and min over the rounds.
 *
 * @module
 */
import { join } from "node:path";
import { startKubeServer } from "../lib/demo/kube_server.ts";
import { parseItem, parseListBytes, releaseItems } from "../lib/source/kube/list_text.ts";
import { ENDPOINTS_KIND } from "../lib/source/kube/source.ts";
import { createGenerator } from "../lib/render/generate.ts";
import { compileTemplates, defaultTemplates } from "../lib/render/render.ts";
import type { EndpointSet } from "../lib/model/endpoints.ts";
import { V8_FLAGS } from "../tools/compile.ts";
import { cluster } from "./cluster.ts";
import { median } from "./measure.ts";

const STAGES = ["compile", "read", "project", "prime", "first generate", "total"] as const;
type Stage = (typeof STAGES)[number];

/** Fetches every page of the stand-in's list into `dir` (page-0.json, …); how many. */
async function savePages(objects: number, dir: string): Promise<number> {
  const kube = await startKubeServer({ objects: { endpoints: cluster(objects) } });
  try {
    let cont: string | undefined;
    let n = 0;
    do {
      const query = new URLSearchParams({ limit: "500", ...(cont ? { continue: cont } : {}) });
      const bytes = new Uint8Array(
        await (await fetch(`${kube.url}/api/v1/endpoints?${query}`)).arrayBuffer(),
      );
      await Deno.writeFile(join(dir, `page-${n++}.json`), bytes);
      cont = (JSON.parse(new TextDecoder().decode(bytes)) as { metadata: { continue?: string } }).metadata
        .continue || undefined;
    } while (cont !== undefined);
    return n;
  } finally {
    await kube.close();
  }
}

/** One round (in its own process): the pages in `dir` through haconfd's list path; ms per stage. */
async function round(dir: string, pages: number): Promise<Record<Stage, number>> {
  const files: Uint8Array<ArrayBuffer>[] = [];
  for (let n = 0; n < pages; n++) files.push(await Deno.readFile(join(dir, `page-${n}.json`)));
  const ms: Record<Stage, number> = {
    "compile": 0,
    "read": 0,
    "project": 0,
    "prime": 0,
    "first generate": 0,
    "total": 0,
  };
  const timed = <T>(stage: Stage, work: () => T): T => {
    const start = performance.now();
    const result = work();
    ms[stage] += performance.now() - start;
    return result;
  };
  const start = performance.now();
  const generator = timed("compile", () =>
    createGenerator(compileTemplates(defaultTemplates()), {
      http: "*:80",
      https: "*:443",
      tcp: "*",
    }));
  const sets: EndpointSet[] = [];
  for (const bytes of files) {
    const items = timed("read", () => (parseListBytes(bytes) as { items: unknown[] }).items);
    const page = timed("project", () => {
      // As the source hands them on: objects without routing annotations (null) and malformed ones left out.
      const projected = items.map((item) => ENDPOINTS_KIND.project(parseItem(item)));
      releaseItems(items);
      return projected.filter((set): set is EndpointSet => set !== null && typeof set !== "string");
    });
    sets.push(...page);
    timed("prime", () => generator.prime?.(page));
  }
  const text = timed("first generate", () => generator({ snapshot: () => sets }).text);
  ms.total = performance.now() - start;
  if (text.length === 0) throw new Error("the first generate gave no config");
  return ms;
}

/** Runs the list-cpu benchmark with the command-line arguments after `list-cpu`. */
export async function listCpuBenchmark(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) => {
    const at = args.indexOf(name);
    return at === -1 ? fallback : Number(args[at + 1]);
  };
  const child = args.indexOf("--child");
  if (child !== -1) {
    console.log(JSON.stringify(await round(args[child + 1]!, Number(args[child + 2]))));
    return;
  }
  const objects = option("--objects", 16_700);
  const rounds = option("--rounds", 7);
  const dir = await Deno.makeTempDir({ prefix: "haconfd-list-cpu-" });
  try {
    const pages = await savePages(objects, dir);
    const runs: Record<Stage, number>[] = [];
    for (let r = 0; r < rounds; r++) {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          `--v8-flags=${V8_FLAGS.join(",")}`,
          import.meta.filename!.replace(/list_cpu\.ts$/, "run.ts"),
          "list-cpu",
          "--child",
          dir,
          String(pages),
        ],
      }).output();
      if (code !== 0) throw new Error(`round ${r} failed: ${new TextDecoder().decode(stderr)}`);
      runs.push(JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!));
    }
    console.log(`${objects} Endpoints in ${pages} pages of 500; ${rounds} rounds, each a fresh process\n`);
    console.log("| stage | median ms | min ms |\n|---|---:|---:|");
    for (const stage of STAGES) {
      const list = runs.map((r) => r[stage]);
      console.log(`| ${stage} | ${median(list).toFixed(0)} | ${Math.min(...list).toFixed(0)} |`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
