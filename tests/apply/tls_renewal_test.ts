import assert from "node:assert/strict";
import { join } from "node:path";
import type { TlsFiles } from "../../lib/apply/tls_apply.ts";
import { applyPathOf } from "../../lib/daemon/apply_path.ts";
import { KeyMaterial } from "../../lib/model/certificate.ts";
import { memoryLogger } from "../../lib/log.ts";
import { failingRuntimeApplier } from "../support/tls_apply.ts";

/** Host a's bundle, holding `key` (a stand-in for the key block) and a leaf of serial `serial`. */
function filesWith(dir: string, key: string, serial: string): TlsFiles {
  const bundle = new KeyMaterial(`-----BEGIN PRIVATE KEY-----\n${key}\n-----END PRIVATE KEY-----\n`);
  return {
    bundles: new Map([["ns__a.pem", { bundle, serial }]]),
    crtList: `${join(dir, "ns__a.pem")} a.example.test\n`,
  };
}

Deno.test("TlsApplier.apply() falls back to one reload when a renewal's set ssl cert fails, naming the step, no key in result or log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-tls-renewal-" });
  try {
    let files = filesWith(dir, "OLDKEYBYTES", "01");
    const log = memoryLogger();
    const { applier, reloads } = failingRuntimeApplier(dir, () => files, log);
    await applier.apply("config");
    reloads.count = 0;
    files = filesWith(dir, "NEWKEYBYTES", "02");
    const result = await applier.apply("config");

    assert.equal(result.status, "applied");
    assert.equal(reloads.count, 1, "exactly one reload instead");
    const record = applyPathOf(result);
    assert.equal(record.path, "reload");
    assert.match(record.reloadReason ?? "", /^the Runtime API failed \(replace ns__a\.pem\)/);
    assert.ok(
      log.lines.some((l) =>
        l.msg === "cannot change certificates at run time" && l.step === "replace ns__a.pem"
      ),
    );
    for (const text of [JSON.stringify(result), JSON.stringify(log.lines)]) {
      assert.doesNotMatch(text, /PRIVATE KEY|NEWKEYBYTES|OLDKEYBYTES/);
    }
    assert.match(
      await Deno.readTextFile(join(dir, "ns__a.pem")),
      /NEWKEYBYTES/,
      "the file holds the renewal",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
