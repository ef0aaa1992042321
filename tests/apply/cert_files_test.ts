import assert from "node:assert/strict";
import { certFileMode, CRT_LIST, removeStaleCertFiles, writeCertFiles } from "../../lib/apply/cert_files.ts";
import { groupId } from "../support/groups.ts";
import { note } from "../support/process.ts";
import { KeyMaterial } from "../../lib/model/certificate.ts";

Deno.test("writeCertFiles() writes changed bundles atomically with mode 0600, and removeStaleCertFiles() the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-certs-" });
  try {
    const bundles = new Map([["a__x.pem", new KeyMaterial("A1\n")], ["b__y.pem", new KeyMaterial("B1\n")]]);
    const first = await writeCertFiles(`${dir}/certs`, bundles, "list1\n");
    assert.deepEqual(first, {
      added: ["a__x.pem", "b__y.pem"],
      renewed: [],
      crtListChanged: true,
      crtListAdded: ["list1"],
      crtListRemoved: [],
    });
    assert.equal((await Deno.stat(`${dir}/certs/a__x.pem`)).mode! & 0o777, 0o600, "no group: owner only");
    assert.equal((await Deno.stat(`${dir}/certs`)).mode! & 0o777, 0o750);
    assert.deepEqual(await writeCertFiles(`${dir}/certs`, bundles, "list1\n"), {
      added: [],
      renewed: [],
      crtListChanged: false,
      crtListAdded: [],
      crtListRemoved: [],
    });
    await Deno.chmod(`${dir}/certs/a__x.pem`, 0o644);
    bundles.set("a__x.pem", new KeyMaterial("A2\n"));
    const renewed = await writeCertFiles(`${dir}/certs`, bundles, "list2\nlist1\n");
    assert.deepEqual(renewed, {
      added: [],
      renewed: ["a__x.pem"],
      crtListChanged: true,
      crtListAdded: ["list2"],
      crtListRemoved: [],
    });
    assert.equal(await Deno.readTextFile(`${dir}/certs/a__x.pem`), "A2\n");
    assert.equal((await Deno.stat(`${dir}/certs/a__x.pem`)).mode! & 0o777, 0o600, "the mode is the rule's");
    const shrunk = await writeCertFiles(`${dir}/certs`, bundles, "list2\n");
    assert.deepEqual([shrunk.crtListAdded, shrunk.crtListRemoved], [[], ["list1"]]);
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

Deno.test("writeCertFiles() gives the key files mode 0640 and HAProxy's group when one is given", async (t) => {
  const group = await groupId("haproxy");
  if (group === null || Deno.uid() !== 0) {
    note(`skipped: ${group === null ? "no group haproxy on this machine" : "not root (chown needs it)"}`);
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "haconfd-certs-" });
  try {
    await writeCertFiles(`${dir}/certs`, new Map([["a__x.pem", new KeyMaterial("A\n")]]), "l\n", { group });
    for (const name of ["a__x.pem", CRT_LIST]) {
      const info = await Deno.stat(`${dir}/certs/${name}`);
      assert.equal(info.mode! & 0o777, 0o640, name);
      assert.equal(info.gid, group, name);
    }
    assert.equal((await Deno.stat(`${dir}/certs`)).gid, group);
    await t.step("certFileMode() is 0640 with a group, 0600 without", () => {
      assert.equal(certFileMode(group), 0o640);
      assert.equal(certFileMode(null), 0o600);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
