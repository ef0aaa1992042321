import assert from "node:assert/strict";
import { join } from "node:path";
import { TlsApplier, type TlsFiles } from "../../lib/apply/tls_apply.ts";
import { KeyMaterial } from "../../lib/model/certificate.ts";
import { memoryLogger } from "../../lib/log.ts";
import { failingRuntimeApplier, unchangedConfig } from "../support/tls_apply.ts";

function filesFor(dir: string, hosts: string[]): TlsFiles {
  const bundles = new Map(
    hosts.map((h) => [`ns__${h}.pem`, { bundle: new KeyMaterial(`PEM ${h}\n`), serial: "01" }]),
  );
  return { bundles, crtList: hosts.map((h) => `${join(dir, `ns__${h}.pem`)} ${h}.example.test\n`).join("") };
}

Deno.test("TlsApplier.apply() reloads once when a new host's certificate cannot be added at run time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-tls-apply-" });
  try {
    let files = filesFor(dir, ["a"]);
    const log = memoryLogger();
    const { applier, reloads } = failingRuntimeApplier(dir, () => files, log);
    await applier.apply("config");
    reloads.count = 0;
    files = filesFor(dir, ["a", "n"]);
    const result = await applier.apply("config");
    assert.equal(result.status, "applied");
    assert.equal(reloads.count, 1, "one reload instead");
    assert.match(
      result.status === "applied" ? result.reloadReason ?? "" : "",
      /the Runtime API failed \(load ns__n\.pem\)/,
    );
    assert.ok(log.lines.some((l) => l.msg === "cannot change certificates at run time"));
    assert.ok(!JSON.stringify(log.lines).includes("PEM n"), "no key material in the log");
    assert.ok(!JSON.stringify(result).includes("PEM n"), "no key material in the result");
    assert.match(
      await Deno.readTextFile(join(dir, "crt-list")),
      /ns__n\.pem n\.example\.test/,
      "files written",
    );

    // No Runtime API at all: the same change reloads, saying why.
    const off = new TlsApplier(unchangedConfig(), {
      dir,
      files: () => filesFor(dir, ["a"]),
      reloader: { reload: () => Promise.resolve({ ok: true, durationMs: 1, detail: "reloaded" }) },
      runtime: null,
    });
    const removed = await off.apply("config");
    assert.equal(removed.status === "applied" ? removed.reloadReason : "", "the Runtime API is off");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
