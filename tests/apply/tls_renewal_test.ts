import assert from "node:assert/strict";
import { join } from "node:path";
import type { Applier, ApplyResult } from "../../lib/apply/apply.ts";
import { TlsApplier, type TlsFiles } from "../../lib/apply/tls_apply.ts";
import { applyPathOf } from "../../lib/daemon/apply_path.ts";
import { KeyMaterial } from "../../lib/model/certificate.ts";
import { memoryLogger } from "../../lib/log.ts";

const UNCHANGED: ApplyResult = {
  status: "unchanged",
  hash: "h",
  installedHash: "h",
  durations: { checkMs: 0, reloadMs: 0, waitMs: 0, totalMs: 0 },
};

/** An inner applier whose config never changes (a renewal touches only the certificate file). */
function unchangedConfig(): Applier {
  return { apply: () => Promise.resolve(UNCHANGED), installed: () => "", reloadPending: () => false };
}

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
    let reloads = 0;
    const log = memoryLogger();
    const applier = new TlsApplier(unchangedConfig(), {
      dir,
      files: () => files,
      reloader: {
        reload: () => (reloads++, Promise.resolve({ ok: true, durationMs: 1, detail: "reloaded" })),
      },
      // Nothing listens there: set ssl cert fails as HAProxy refusing it would.
      runtime: { address: { transport: "unix", path: join(dir, "no.sock") }, viaMaster: true },
      log,
    });
    await applier.apply("config");
    reloads = 0;
    files = filesWith(dir, "NEWKEYBYTES", "02");
    const result = await applier.apply("config");

    assert.equal(result.status, "applied");
    assert.equal(reloads, 1, "exactly one reload instead");
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
