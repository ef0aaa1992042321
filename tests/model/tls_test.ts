import assert from "node:assert/strict";
import { KeyMaterial, loadCertificateParser, parseCertificate } from "../../lib/model/certificate.ts";
import type { SecretView } from "../../lib/model/secret_view.ts";
import {
  certFileName,
  crtList,
  defaultTls,
  type HostTls,
  hostTls,
  type TlsLookup,
  tlsOf,
} from "../../lib/model/tls.ts";
import { endpointSet } from "../support/fixtures.ts";
import { tlsCerts } from "../support/tls_certs.ts";

await loadCertificateParser();

function view(
  namespace: string,
  name: string,
  cert: string,
  key: string,
  type = "kubernetes.io/tls",
): SecretView {
  return {
    namespace,
    name,
    type,
    cert,
    key: new KeyMaterial(key),
    digest: `${namespace}/${name}/${cert.length}`,
  };
}

function lookup(secrets: SecretView[], now = Date.now()): TlsLookup {
  return {
    secrets: new Map(secrets.map((s) => [`${s.namespace}/${s.name}`, s])),
    parse: (s) => parseCertificate(s.cert, s.key.reveal()),
    now,
  };
}

Deno.test("hostTls() terminates with a Secret of the object's own namespace, else refuses with the reason", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const d = await certs.leaf("d", ["d.example.test"]);
  const secrets = [
    view("shop", "tls-a", a.cert, a.key),
    view("other", "tls-o", a.cert, a.key),
    view("shop", "tls-m", a.cert, d.key),
    view("shop", "odd", a.cert, a.key, "Opaque"),
  ];
  const ok = hostTls({ secret: "tls-a", redirect: true }, "shop", "a.example.test", lookup(secrets));
  assert.equal(ok.mode, "terminate");
  assert.equal(ok.file, certFileName("shop", "tls-a"));
  assert.equal(ok.file, "shop__tls-a.pem");
  assert.equal(ok.redirect, true);
  assert.equal(ok.certificate?.serial, a.serial);
  const table: Array<[string, string, string, RegExp]> = [
    [
      "tls-o",
      "shop",
      "a.example.test",
      /"shop\/tls-o" of type kubernetes\.io\/tls not found \(a Secret only serves its own namespace\)/,
    ],
    ["tls-m", "shop", "a.example.test", /tls\.key does not match/],
    ["tls-a", "shop", "u.example.test", /does not cover "u\.example\.test"/],
    ["odd", "shop", "a.example.test", /is of type "Opaque"/],
  ];
  for (const [secret, namespace, domain, reason] of table) {
    const refused = hostTls({ secret, redirect: true }, namespace, domain, lookup(secrets));
    assert.equal(refused.mode, "refused", secret);
    assert.match(refused.reason ?? "", reason, secret);
    assert.equal(refused.file, null);
    assert.equal(refused.redirect, false, "no redirect to a host that is not terminated");
  }
  const later = hostTls(
    { secret: "tls-a", redirect: false },
    "shop",
    "a.example.test",
    lookup(secrets, Date.parse(ok.certificate!.notAfter)),
  );
  assert.match(later.reason ?? "", /expired at/);
});

Deno.test("crtList() lists terminated domains in order with their file, and tlsOf() refuses when TLS is off", () => {
  const base: HostTls = {
    secret: "s/a",
    redirect: false,
    mode: "terminate",
    reason: null,
    warning: null,
    file: "s__a.pem",
    certificate: null,
  };
  const text = crtList([
    ["z.example.test", base],
    ["a.example.test", base],
    ["r.example.test", { ...base, mode: "refused", file: null }],
    ["n.example.test", null],
  ], "/etc/haproxy/certs");
  assert.equal(
    text,
    "/etc/haproxy/certs/s__a.pem a.example.test\n/etc/haproxy/certs/s__a.pem z.example.test\n",
  );
  const off = tlsOf(endpointSet("a", {}, [], { namespace: "s" }), { secret: "a", redirect: true }, "s");
  assert.equal(off.mode, "refused");
  assert.match(off.reason ?? "", /--tls/);
});

Deno.test("defaultTls() serves a valid Secret for any name, else refuses with the reason", async () => {
  const certs = await tlsCerts();
  const [d, expired, soon] = await Promise.all([
    certs.leaf("d", ["default.example.test"]),
    certs.leaf("expired", ["default.example.test"], { days: -1 }),
    certs.leaf("soon", ["default.example.test"], { days: 3 }),
  ]);
  const secrets = [
    view("ingress", "default", d.cert, d.key),
    view("ingress", "expired", expired.cert, expired.key),
    view("ingress", "soon", soon.cert, soon.key),
    view("ingress", "mismatch", d.cert, soon.key),
    view("ingress", "opaque", d.cert, d.key, "Opaque"),
  ];
  const ok = defaultTls("ingress/default", lookup(secrets));
  assert.equal(ok.mode, "terminate");
  assert.equal(ok.reason, null);
  assert.equal(ok.certificate?.serial, d.serial);
  assert.match(defaultTls("ingress/soon", lookup(secrets)).warning ?? "", /expires at/);
  const table: Array<[string, RegExp]> = [
    ["ingress/missing", /"ingress\/missing" of type kubernetes\.io\/tls not found/],
    ["ingress/expired", /expired at/],
    ["ingress/mismatch", /tls\.key does not match/],
    ["ingress/opaque", /is of type "Opaque"/],
  ];
  for (const [secret, reason] of table) {
    const refused = defaultTls(secret, lookup(secrets));
    assert.equal(refused.mode, "refused", secret);
    assert.match(refused.reason ?? "", reason, secret);
    assert.ok(!JSON.stringify(refused).includes("PRIVATE KEY"));
  }
});
