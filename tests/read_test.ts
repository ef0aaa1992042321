import assert from "node:assert/strict";
import { readTextIfExists } from "../lib/read.ts";

Deno.test("readTextIfExists() reads a file, gives undefined for a missing one, throws other errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-read-" });
  try {
    await Deno.writeTextFile(`${dir}/there`, "text");
    assert.equal(await readTextIfExists(`${dir}/there`), "text");
    assert.equal(await readTextIfExists(`${dir}/missing`), undefined);
    // A directory is not "missing": reading it must fail loudly, not look like an absent file.
    await assert.rejects(readTextIfExists(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
