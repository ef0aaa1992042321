import assert from "node:assert/strict";
import { CRT_LIST, removeStaleCertFiles, writeCertFiles } from "../../lib/apply/cert_files.ts";
import { KeyMaterial } from "../../lib/model/certificate.ts";

Deno.test("writeCertFiles() writes changed bundles atomically with mode 0640, and removeStaleCertFiles() the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-certs-" });
  try {
    const bundles = new Map([["a__x.pem", new KeyMaterial("A1\n")], ["b__y.pem", new KeyMaterial("B1\n")]]);
    const first = await writeCertFiles(`${dir}/certs`, bundles, "list1\n");
    assert.deepEqual(first, { added: ["a__x.pem", "b__y.pem"], renewed: [], crtListChanged: true });
    assert.equal((await Deno.stat(`${dir}/certs/a__x.pem`)).mode! & 0o777, 0o640);
    assert.equal((await Deno.stat(`${dir}/certs`)).mode! & 0o777, 0o750);
    assert.deepEqual(await writeCertFiles(`${dir}/certs`, bundles, "list1\n"), {
      added: [],
      renewed: [],
      crtListChanged: false,
    });
    await Deno.chmod(`${dir}/certs/a__x.pem`, 0o600);
    bundles.set("a__x.pem", new KeyMaterial("A2\n"));
    const renewed = await writeCertFiles(`${dir}/certs`, bundles, "list1\n");
    assert.deepEqual(renewed, { added: [], renewed: ["a__x.pem"], crtListChanged: false });
    assert.equal(await Deno.readTextFile(`${dir}/certs/a__x.pem`), "A2\n");
    assert.equal(
      (await Deno.stat(`${dir}/certs/a__x.pem`)).mode! & 0o777,
      0o600,
      "an existing file's mode is kept",
    );
    await Deno.writeTextFile(`${dir}/certs/default.pem`, "D\n");
    const removed = await removeStaleCertFiles(`${dir}/certs`, new Set(["a__x.pem", "default.pem"]));
    assert.deepEqual(removed, ["b__y.pem"]);
    const left = [];
    for await (const e of Deno.readDir(`${dir}/certs`)) left.push(e.name);
    assert.deepEqual(left.sort(), ["a__x.pem", CRT_LIST, "default.pem"].sort(), "no temp files left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
