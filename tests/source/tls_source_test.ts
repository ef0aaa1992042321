import assert from "node:assert/strict";
import { KeyMaterial, loadCertificateParser } from "../../lib/model/certificate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import type { SecretView } from "../../lib/model/secret_view.ts";
import type { HostTls } from "../../lib/model/tls.ts";
import { initialStatus } from "../../lib/source/source.ts";
import { type SecretSource, TlsSource } from "../../lib/source/tls_source.ts";
import { memoryLogger } from "../../lib/log.ts";
import { endpointSet } from "../support/fixtures.ts";
import { tlsCerts } from "../support/tls_certs.ts";

await loadCertificateParser();

const DAY = 24 * 3600 * 1000;

/** A source holding `sets` and `secrets`, with a journal the test fills. */
function fakeSource(sets: EndpointSet[], secrets: SecretView[]) {
  const journal = new Map<string, EndpointSet | null>();
  const source: SecretSource = {
    run: () => Promise.resolve(),
    snapshot: () => sets,
    takeChanges: () => {
      const out = new Map(journal);
      journal.clear();
      return out;
    },
    onChange: () => {},
    status: () => initialStatus("kube", "test", "endpoints"),
    secrets: () => secrets,
  };
  return { source, journal, secrets };
}

function secret(name: string, cert: string, key: string): SecretView {
  return {
    namespace: "shop",
    name,
    type: "kubernetes.io/tls",
    cert,
    key: new KeyMaterial(key),
    digest: cert,
  };
}

function tlsOfSet(set: EndpointSet | null | undefined): HostTls | undefined {
  return (set as (EndpointSet & { tls?: HostTls }) | null | undefined)?.tls;
}

Deno.test("TlsSource() joins each set's termination, reports renewals and expiry as changes, and logs refusals", async () => {
  const certs = await tlsCerts();
  const a = await certs.leaf("a", ["a.example.test"]);
  const a2 = await certs.leaf("a2", ["a.example.test"]);
  const asking = endpointSet("a", {
    domain: "a.example.test",
    proto: "http",
    "haconfd.io/tls-secret": "tls-a",
  }, [
    "10.0.0.1",
  ], { namespace: "shop" });
  const plain = endpointSet("p", { domain: "p.example.test", proto: "http" }, ["10.0.0.2"], {
    namespace: "shop",
  });
  const fake = fakeSource([asking, plain], [secret("tls-a", a.cert, a.key)]);
  let now = Date.now();
  const log = memoryLogger();
  const tls = new TlsSource(fake.source, { now: () => now, log });

  const first = tls.snapshot();
  assert.equal(tlsOfSet(first[0])?.mode, "terminate");
  assert.equal(tlsOfSet(first[1]), undefined, "a set that asks for nothing is handed over as it is");
  assert.deepEqual([...tls.certificates().keys()], ["shop__tls-a.pem"]);
  assert.equal(tls.takeChanges()?.size, 0, "nothing changed");

  fake.secrets[0] = secret("tls-a", a2.cert, a2.key);
  const renewed = tls.takeChanges()!;
  assert.deepEqual([...renewed.keys()], ["shop/a"], "the renewal changes the set that names the Secret");
  assert.equal(tlsOfSet(renewed.get("shop/a"))?.certificate?.serial, a2.serial);
  assert.ok(!JSON.stringify([...renewed.values()]).includes("PRIVATE KEY"));

  now = Date.parse(tlsOfSet(renewed.get("shop/a"))!.certificate!.notAfter) - DAY;
  assert.match(tlsOfSet(tls.takeChanges()!.get("shop/a"))?.warning ?? "", /expires at .* \(in 1 days\)/);
  now += 2 * DAY;
  const expired = tls.takeChanges()!.get("shop/a");
  assert.equal(tlsOfSet(expired)?.mode, "refused");
  assert.deepEqual([...tls.certificates().keys()], [], "an expired certificate is no longer written");
  assert.ok(
    log.lines.some((l) => l.msg === "TLS termination refused" && /expired at/.test(String(l.reason))),
  );

  fake.journal.set("shop/a", null);
  assert.deepEqual([...tls.takeChanges()!], [["shop/a", null]]);
  assert.deepEqual(tls.hosts(), []);
});

Deno.test("TlsSource.defaultCertificate() judges the default certificate Secret now, logging each change once", async () => {
  const certs = await tlsCerts();
  const [d, d2] = await Promise.all([
    certs.leaf("d", ["default.example.test"]),
    certs.leaf("d2", ["default.example.test"], { days: 3 }),
  ]);
  const { source, secrets } = fakeSource([], [secret("default-tls", d.cert, d.key)]);
  const log = memoryLogger();
  assert.equal(new TlsSource(source).defaultCertificate(), null, "none without --default-certificate");
  const tls = new TlsSource(source, { log, defaultSecret: "shop/default-tls" });
  const served = tls.defaultCertificate()!;
  assert.equal(served.tls.mode, "terminate");
  assert.equal(served.tls.certificate?.serial, d.serial);
  assert.match(served.bundle!.reveal(), /PRIVATE KEY/);
  tls.defaultCertificate();
  assert.deepEqual(
    log.lines.map((l) => l.msg),
    ["default certificate served"],
    "an unchanged judgement is not logged again",
  );

  secrets[0] = secret("default-tls", d2.cert, d2.key);
  assert.match(tls.defaultCertificate()!.tls.warning ?? "", /expires at/);
  secrets.pop();
  const gone = tls.defaultCertificate()!;
  assert.equal(gone.tls.mode, "refused");
  assert.equal(gone.bundle, null);
  assert.match(gone.tls.reason ?? "", /"shop\/default-tls" of type kubernetes\.io\/tls not found/);
  assert.deepEqual(log.lines.map((l) => l.msg), [
    "default certificate served",
    "certificate expires soon",
    "default certificate refused: clients without a known SNI are refused",
  ]);
  assert.ok(!JSON.stringify(log.lines).includes("PRIVATE KEY"));
});
