import assert from "node:assert/strict";
import {
  checkCertificate,
  coversHost,
  judgeCertificate,
  KeyMaterial,
  loadCertificateParser,
  nameCovers,
  parseCertificate,
} from "../../lib/model/certificate.ts";
import { tlsCerts } from "../support/tls_certs.ts";

await loadCertificateParser();

const DAY = 24 * 3600 * 1000;

Deno.test("nameCovers() matches exact names and RFC 6125 left-most wildcards one label deep", () => {
  const table: Array<[string, string, boolean]> = [
    ["a.example.test", "a.example.test", true],
    ["A.Example.Test", "a.example.test", true],
    ["a.example.test.", "a.example.test", true],
    ["a.example.test", "b.example.test", false],
    ["*.w.example.test", "x.w.example.test", true],
    ["*.w.example.test", "X.W.example.test", true],
    ["*.w.example.test", "w.example.test", false],
    ["*.w.example.test", "a.x.w.example.test", false],
    ["*.w.example.test", ".w.example.test", false],
    ["*.test", "example.test", false],
    ["f*.example.test", "foo.example.test", false],
    ["*oo.example.test", "foo.example.test", false],
    ["a.*.example.test", "a.b.example.test", false],
    ["*.*.example.test", "a.b.example.test", false],
    ["", "a.example.test", false],
  ];
  for (const [name, host, expected] of table) {
    assert.equal(nameCovers(name, host), expected, `${name} covers ${host}`);
  }
  assert.equal(coversHost(["a.example.test", "*.w.example.test"], "y.w.example.test"), true);
  assert.equal(coversHost([], "a.example.test"), false);
});

Deno.test("parseCertificate() records subject, issuer, serial, expiry and names, and re-encodes the bundle", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const parsed = parseCertificate(a.cert + certs.caCert, a.key);
  assert.ok(typeof parsed !== "string", String(parsed));
  assert.equal(parsed.record.subject, "CN=a.example.test");
  assert.equal(parsed.record.issuer, "CN=haconfd-tls-test-ca");
  assert.equal(parsed.record.serial, a.serial);
  assert.deepEqual(parsed.record.names, ["a.example.test"]);
  assert.ok(Date.parse(parsed.record.notAfter) - Date.parse(parsed.record.notBefore) >= 89 * DAY);
  assert.match(parsed.record.fingerprint, /^[0-9a-f]{64}$/);
  const bundle = parsed.bundle.reveal();
  assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, 2, "leaf and CA");
  assert.match(bundle, /-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
  assert.ok(!JSON.stringify(parsed).includes("PRIVATE KEY"), "the record serialises without the key");
});

Deno.test("parseCertificate() refuses what cannot serve, and no reason quotes the Secret's bytes", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const d = await certs.leaf("d", ["d.example.test"]);
  const keyBody = a.key.split("\n")[1]!;
  const table: Array<[string, string, string, RegExp]> = [
    ["key of another certificate", a.cert, d.key, /tls\.key does not match/],
    ["no certificate", "", a.key, /holds no PEM certificate/],
    ["the key as the certificate", a.key, a.key, /holds no PEM certificate/],
    [
      "garbage certificate",
      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      a.key,
      /not valid X\.509/,
    ],
    ["chain out of order", certs.caCert + a.cert, a.key, /not issued by certificate 2/],
    ["no key", a.cert, "", /0 PEM private keys/],
    ["two keys", a.cert, a.key + d.key, /2 PEM private keys/],
    [
      "broken key",
      a.cert,
      a.key.replace(keyBody, keyBody.slice(0, 20)),
      /not a valid unencrypted private key/,
    ],
  ];
  for (const [what, cert, key, reason] of table) {
    const parsed = parseCertificate(cert, key);
    assert.equal(typeof parsed, "string", what);
    assert.match(String(parsed), reason, what);
    assert.ok(!String(parsed).includes("PRIVATE KEY") && !String(parsed).includes(keyBody), what);
  }
});

Deno.test("judgeCertificate() refuses a host not covered, not yet valid or expired, and warns within 14 days", async () => {
  const certs = await tlsCerts();
  const w = await certs.leaf("w", ["*.w.example.test"]);
  const parsed = parseCertificate(w.cert, w.key);
  assert.ok(typeof parsed !== "string");
  const { record } = parsed;
  const from = Date.parse(record.notBefore), until = Date.parse(record.notAfter);
  const table: Array<[string, string, number, { refusal?: RegExp; warning?: RegExp }]> = [
    ["valid", "x.w.example.test", from + DAY, {}],
    ["not covered", "a.example.test", from + DAY, {
      refusal: /does not cover "a\.example\.test".*"\*\.w\.example\.test"/,
    }],
    ["two labels deep", "a.x.w.example.test", from + DAY, { refusal: /does not cover/ }],
    ["not yet valid", "x.w.example.test", from - 1000, { refusal: /valid only from/ }],
    ["expired", "x.w.example.test", until, { refusal: /expired at/ }],
    ["expires in 13 days", "x.w.example.test", until - 13 * DAY - 1000, { warning: /in 13 days/ }],
    ["expires in 15 days", "x.w.example.test", until - 15 * DAY, {}],
  ];
  for (const [what, host, now, expected] of table) {
    const judged = judgeCertificate(record, host, { now });
    if (expected.refusal) assert.match(judged.refusal ?? "", expected.refusal, what);
    else assert.equal(judged.refusal, undefined, what);
    if (expected.warning) assert.match(judged.warning ?? "", expected.warning, what);
    else assert.equal(judged.warning, undefined, what);
  }
});

Deno.test("checkCertificate() gives the record and bundle, a warning, or the reason with the record", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const short = await certs.leaf("short", ["s.example.test"], { days: 3 });
  // After both were made: openssl starts their validity at the second it signed them.
  const now = Date.now();
  const ok = checkCertificate(a.cert, a.key, "a.example.test", { now });
  assert.ok(ok.ok);
  assert.equal(ok.warning, undefined);
  assert.equal(ok.record.serial, a.serial);
  const warned = checkCertificate(short.cert, short.key, "s.example.test", { now });
  assert.ok(warned.ok);
  assert.match(warned.warning ?? "", /expires at/);
  const refused = checkCertificate(a.cert, a.key, "b.example.test", { now });
  assert.ok(!refused.ok);
  assert.match(refused.reason, /does not cover "b\.example\.test"/);
  assert.equal(refused.record?.subject, "CN=a.example.test");
});

Deno.test("KeyMaterial() never prints or serialises its text", () => {
  const material = new KeyMaterial("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n");
  for (
    const shown of [JSON.stringify({ material }), String(material), `${material}`, Deno.inspect({ material })]
  ) {
    assert.ok(!shown.includes("secret") && !shown.includes("PRIVATE"), shown);
  }
  assert.match(material.reveal(), /secret/);
});
