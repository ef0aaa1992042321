import assert from "node:assert/strict";
import { OPTIONS } from "../lib/settings/options.ts";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));

Deno.test("README documents every flag and environment variable", () => {
  for (const def of Object.values(OPTIONS) as { flag: string; env?: string }[]) {
    assert.ok(readme.includes(`\`--${def.flag}`), `--${def.flag} is missing from README.md`);
    if (def.env !== undefined) {
      assert.ok(readme.includes(`\`${def.env}\``), `${def.env} is missing from README.md`);
    }
  }
});

Deno.test("README's configuration table is the one generated from lib/settings/options.ts", async () => {
  const { optionsTable } = await import("../tools/options_table.ts");
  const normalize = (text: string) => text.replace(/ +/g, " ").replace(/-{3,}/g, "---");
  assert.ok(
    normalize(readme).includes(normalize(optionsTable())),
    "run: tools/deno run -A tools/options_table.ts --write",
  );
});

Deno.test(".ci/run calls the README's test command", async () => {
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  assert.ok(readme.includes("bash tools/test.sh"), "README names bash tools/test.sh");
  assert.match(ci, /^exec bash tools\/test\.sh$/m);
  assert.ok(readme.includes("bash tools/example.sh"), "README names bash tools/example.sh");
});

Deno.test("README names only repository paths that exist", async () => {
  const named = new Set(
    [...readme.matchAll(
      /(?<![\w/.-])((?:lib|tests|bench|tools|deploy|keepalived|templates|docs|examples)\/[\w./-]*\w)/g,
    )]
      .map((m) => m[1] ?? ""),
  );
  assert.ok(named.size > 30, `the pattern finds the paths README names (${named.size})`);
  const missing: string[] = [];
  for (const path of named) {
    if (path.includes("*")) continue;
    try {
      await Deno.stat(new URL(path, root));
    } catch {
      missing.push(path);
    }
  }
  assert.deepEqual(missing, [], `README names paths that do not exist: ${missing.join(", ")}`);
});
