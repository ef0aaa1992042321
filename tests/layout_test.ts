/**
 * The layout's one rule, checked on the real import graph (`deno info --json`): data flows down the
 * pipeline (settings → source → model → render → apply/haproxy → daemon → status) and never back.
 * README's "Layout" section states the same table.
 *
 * @module
 */
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * What each part of the tree may import (besides itself, npm: and node: modules). An entry is a part
 * name, or one file `part/file.ts` when only that file (a type module) is allowed.
 */
export const LAYOUT_RULES: Readonly<Record<string, readonly string[] | "anything">> = {
  basics: ["root"], // lib/*.ts: log, delay, backoff, bytes, hash, listen, read, version (version reads deno.json)
  settings: ["basics"],
  model: ["basics"],
  source: ["model", "settings", "basics"],
  render: ["model", "basics", "templates"],
  haproxy: ["settings", "basics"],
  apply: ["haproxy", "render", "basics"],
  record: ["model", "source", "haproxy/view.ts", "basics"], // the state record: written by daemon, read by status
  daemon: ["settings", "source", "model", "render", "apply", "haproxy", "record", "basics"],
  status: ["record", "model", "haproxy/view.ts", "basics"],
  commands: [
    "settings",
    "source",
    "model",
    "render",
    "apply",
    "haproxy",
    "daemon",
    "status",
    "record",
    "basics",
  ],
  templates: [],
  demo: "anything",
  main: "anything",
};

/** The part of the tree a repository-relative path belongs to. */
export function partOf(path: string): string {
  if (path === "main.ts") return "main";
  if (path.startsWith("templates/")) return "templates";
  const lib = /^lib\/(?:([^/]+)\/)?[^/]+$/.exec(path) ?? /^lib\/([^/]+)\//.exec(path);
  if (lib !== null) return lib[1] ?? "basics";
  return "root";
}

/** Whether an import from `from` to `to` (repository-relative paths) follows {@linkcode LAYOUT_RULES}. */
export function allowed(from: string, to: string): boolean {
  const source = partOf(from);
  const target = partOf(to);
  if (source === target) return true;
  const rule = LAYOUT_RULES[source];
  if (rule === undefined) return false;
  if (rule === "anything") return true;
  return rule.includes(target) || rule.includes(to.slice("lib/".length));
}

const Span = z.object({ start: z.object({ line: z.number() }) });
const Resolved = z.object({ specifier: z.string(), span: Span.optional() }).optional();
const Info = z.object({
  modules: z.array(z.object({
    specifier: z.string(),
    dependencies: z.array(z.object({ code: Resolved, type: Resolved })).optional(),
  })),
});

/** Every import edge between the project's own files, as `[from, to, line]` (repository-relative). */
async function importEdges(entries: readonly string[]): Promise<[string, string, number][]> {
  // One synthetic root importing every entry, so one `deno info` walks the whole graph.
  const dir = await Deno.makeTempDir({ prefix: "haconfd-layout-" });
  try {
    const root = `${dir}/all.ts`;
    await Deno.writeTextFile(
      root,
      entries.map((e) => `import ${JSON.stringify(new URL(e, `file://${ROOT}`).href)};\n`).join(""),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT}deno.json`, root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, `deno info failed: ${new TextDecoder().decode(out.stderr)}`);
    const info = Info.parse(JSON.parse(new TextDecoder().decode(out.stdout)));
    const own = (specifier: string): string | undefined =>
      specifier.startsWith(`file://${ROOT}`) ? relative(ROOT, fileURLToPath(specifier)) : undefined;
    const edges: [string, string, number][] = [];
    for (const module of info.modules) {
      const from = own(module.specifier);
      if (from === undefined) continue;
      for (const dep of module.dependencies ?? []) {
        for (const resolved of [dep.code, dep.type]) {
          const to = resolved === undefined ? undefined : own(resolved.specifier);
          if (to !== undefined) edges.push([from, to, (resolved?.span?.start.line ?? 0) + 1]);
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** main.ts, the demo, and every file under lib/ (so a file nothing imports yet is checked too). */
async function entries(): Promise<string[]> {
  const files = ["main.ts", "lib/demo/demo.ts"];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  }
  await walk("lib");
  return files;
}

Deno.test("partOf() and allowed() read the layout rules", () => {
  assert.equal(partOf("lib/log.ts"), "basics");
  assert.equal(partOf("lib/source/kube/watch.ts"), "source");
  assert.equal(partOf("lib/status/page.css"), "status");
  assert.equal(partOf("templates/mod.ts"), "templates");
  assert.equal(partOf("deno.json"), "root");
  assert.equal(allowed("lib/model/model.ts", "lib/source/kube/objects.ts"), false);
  assert.equal(allowed("lib/source/file.ts", "lib/model/endpoints.ts"), true);
  assert.equal(allowed("lib/status/app.ts", "lib/record/state.ts"), true);
  assert.equal(allowed("lib/daemon/loop.ts", "lib/record/state.ts"), true);
  assert.equal(allowed("lib/status/app.ts", "lib/daemon/daemon.ts"), false);
  assert.equal(allowed("lib/daemon/daemon.ts", "lib/status/app.ts"), false);
  assert.equal(allowed("lib/daemon/daemon.ts", "lib/status/metrics.ts"), false);
  assert.equal(allowed("lib/commands/service.ts", "lib/status/app.ts"), true);
  assert.equal(allowed("lib/commands/service.ts", "lib/daemon/daemon.ts"), true);
  assert.equal(allowed("lib/status/app.ts", "lib/daemon/loop.ts"), false);
  assert.equal(allowed("lib/status/app.ts", "lib/settings/options.ts"), false);
  assert.equal(allowed("lib/log.ts", "lib/model/model.ts"), false);
  assert.equal(allowed("lib/daemon/daemon.ts", "lib/demo/demo.ts"), false);
  assert.equal(allowed("lib/demo/demo.ts", "lib/daemon/daemon.ts"), true);
});

Deno.test("the import graph follows the layout: no edge runs backwards", async () => {
  const files = await entries();
  const edges = await importEdges(files);
  // The walk must have seen the pipeline, or the test proves nothing.
  const seen = new Set(edges.map(([from]) => from));
  for (const file of ["main.ts", "lib/daemon/daemon.ts", "lib/source/kube/watch.ts", "lib/status/app.ts"]) {
    assert.ok(seen.has(file), `the import graph has no edges from ${file}`);
  }
  const backwards = edges
    .filter(([from, to]) => !allowed(from, to))
    .map(([from, to, line]) => `${from}:${line} imports ${to} (${partOf(from)} → ${partOf(to)})`);
  assert.deepEqual(backwards, [], `imports against the layout (README "Layout"):\n${backwards.join("\n")}`);
});

Deno.test("README's Layout section names every folder and basic of lib/", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("\n## Layout\n");
  assert.ok(start >= 0, "README has no Layout section");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const basics: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}lib`)) {
    if (entry.isDirectory) {
      // An empty directory (left behind by a checkout of the old layout) is not part of the tree.
      const first = await Deno.readDir(`${ROOT}lib/${entry.name}`)[Symbol.asyncIterator]().next();
      if (!first.done) assert.ok(section.includes(`lib/${entry.name}/`), `Layout misses lib/${entry.name}/`);
    } else if (entry.name.endsWith(".ts")) basics.push(entry.name.replace(/\.ts$/, ""));
  }
  for (const part of Object.keys(LAYOUT_RULES)) {
    if (part !== "basics" && part !== "main" && part !== "templates") {
      assert.ok(section.includes(`lib/${part}/`), `Layout misses the rule for lib/${part}/`);
    }
  }
  const line = section.split("\n").find((l) => l.startsWith("lib/*.ts")) ?? "";
  for (const basic of basics) assert.ok(line.includes(basic), `Layout's basics line misses ${basic}`);
});

/** Every file under lib/ (repository-relative), walked recursively. */
async function libFiles(dir = "lib"): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await libFiles(path));
    else files.push(path);
  }
  return files;
}

Deno.test("README's Layout section names every lib file, and every file it names exists", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf("\n## Layout\n");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const files = (await libFiles()).filter((f) => /\.(ts|css)$/.test(f));
  const names = new Set(files.map((f) => f.slice(f.lastIndexOf("/") + 1)));
  const basics = files.filter((f) => /^lib\/[^/]+\.ts$/.test(f));
  for (const file of files) {
    if (basics.includes(file)) continue; // the basics line names them without ".ts" (checked above)
    const name = file.slice(file.lastIndexOf("/") + 1);
    assert.ok(section.includes(name), `Layout does not name ${file}`);
  }
  const named = [...section.matchAll(/\b([a-z_]+\.(?:ts|css))\b/g)].map((m) => m[1] ?? "");
  const elsewhere = new Set(["main.ts", "mod.ts"]);
  for (const name of named.filter((n) => !n.endsWith("_test.ts"))) {
    assert.ok(names.has(name) || elsewhere.has(name), `Layout names ${name}, which is not in lib/`);
  }
});
