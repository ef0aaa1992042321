import assert from "node:assert/strict";
import { join } from "node:path";
import * as crtlist from "../../lib/haproxy/ssl_crtlist_runtime.ts";
import type { RuntimeTarget } from "../../lib/haproxy/runtime.ts";
import { BASE_CONFIG, freePort, haproxyAvailable, startHaproxy } from "../support/haproxy.ts";
import { servedSerial, tlsCerts } from "../support/tls_certs.ts";

Deno.test("crtlist.shownCrtList() reads `show ssl crt-list [-n]` as HAProxy 2.6 prints it", () => {
  const answer = "# /etc/haproxy/certs/crt-list\n/etc/haproxy/certs/a.pem:1 a.example.test\n" +
    "/etc/haproxy/certs/b.pem:2 b.example.test\n";
  assert.deepEqual(crtlist.shownCrtList(answer), [
    { file: "/etc/haproxy/certs/a.pem", sni: "a.example.test", line: 1 },
    { file: "/etc/haproxy/certs/b.pem", sni: "b.example.test", line: 2 },
  ]);
  assert.deepEqual(crtlist.shownCrtList("# x\n/c/a.pem a.example.test\n"), [
    { file: "/c/a.pem", sni: "a.example.test", line: null },
  ]);
  assert.deepEqual(crtlist.crtListEntries("\n/c/a.pem a.example.test\n  \n"), [{
    file: "/c/a.pem",
    sni: "a.example.test",
  }]);
});

Deno.test({
  name:
    "newCertificate(), crtlist.addCrtListEntry(), crtlist.removeCrtListEntry() and crtlist.deleteCertificate() change what a running HAProxy 2.6 serves",
  ignore: !haproxyAvailable(),
  async fn() {
    const certs = await tlsCerts();
    const [a, b] = await Promise.all([
      certs.leaf("a", ["a.example.test"]),
      certs.leaf("b", ["b.example.test", "x.example.test"]),
    ]);
    const dir = await Deno.makeTempDir({ prefix: "haconfd-crtlist-" });
    try {
      const crtList = join(dir, "crt-list");
      const port = freePort();
      const files = [
        { path: join(dir, "a.pem"), text: a.cert + a.key },
        { path: crtList, text: `${join(dir, "a.pem")} a.example.test\n` },
      ];
      await using haproxy = await startHaproxy(
        `${BASE_CONFIG}\nfrontend f\n  mode http\n  bind 127.0.0.1:${port} ssl strict-sni crt-list ${crtList}\n` +
          "  http-request return status 200\n",
        { waitFor: [port], files },
      );
      const target: RuntimeTarget = {
        address: { transport: "unix", path: haproxy.masterSocket },
        viaMaster: true,
      };
      const bFile = join(dir, "b.pem");
      assert.equal(await servedSerial(port, "b.example.test"), null);
      await crtlist.newCertificate(target, { file: bFile, pem: b.cert + b.key, serial: b.serial });
      await crtlist.addCrtListEntry(target, crtList, { file: bFile, sni: "b.example.test" });
      await crtlist.addCrtListEntry(target, crtList, { file: bFile, sni: "x.example.test" });
      assert.equal(await servedSerial(port, "b.example.test"), b.serial);
      assert.equal(await servedSerial(port, "x.example.test"), b.serial);
      assert.deepEqual((await crtlist.readCrtList(target, crtList)).map((e) => e.sni), [
        "a.example.test",
        "b.example.test",
        "x.example.test",
      ]);

      // One file on two lines: the line is found by number; the file goes once no line names it.
      await crtlist.removeCrtListEntry(target, crtList, { file: bFile, sni: "x.example.test" });
      assert.equal(await servedSerial(port, "x.example.test"), null);
      assert.equal(await servedSerial(port, "b.example.test"), b.serial);
      await assert.rejects(crtlist.deleteCertificate(target, bFile), /HAProxy refused "del ssl cert/);
      await crtlist.removeCrtListEntry(target, crtList, { file: bFile, sni: "b.example.test" });
      await crtlist.deleteCertificate(target, bFile);
      assert.equal(await servedSerial(port, "b.example.test"), null);
      assert.equal(await servedSerial(port, "a.example.test"), a.serial);
      await assert.rejects(
        crtlist.removeCrtListEntry(target, crtList, { file: bFile, sni: "b.example.test" }),
        /has no line/,
      );
      await assert.rejects(
        crtlist.addCrtListEntry(target, crtList, { file: join(dir, "missing.pem"), sni: "m.example.test" }),
        (error: Error) => !error.message.includes("PRIVATE KEY"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
