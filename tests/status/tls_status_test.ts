/**
 * lib/status/tls_status.ts: what /status, the page and /metrics say about a domain's TLS termination
 * (terminated, refused with its reason, passthrough), and that no key material is among it.
 */
import assert from "node:assert/strict";
import type { HostTls } from "../../lib/model/tls.ts";
import { certificateExpiries, tlsNote, tlsSummary } from "../../lib/status/tls_status.ts";

const CERTIFICATE = {
  subject: "CN=a.example.test",
  issuer: "CN=haconfd-tls-test-ca",
  serial: "1f2e3d",
  notBefore: "2026-01-01T00:00:00.000Z",
  notAfter: "2026-04-01T00:00:00.000Z",
  names: ["a.example.test"],
  fingerprint: "ab".repeat(32),
};

const TERMINATED: HostTls = {
  secret: "shop/a-tls",
  redirect: true,
  mode: "terminate",
  reason: null,
  warning: null,
  file: "shop__a-tls.pem",
  certificate: CERTIFICATE,
};

const REFUSED: HostTls = {
  secret: "shop/gone",
  redirect: false,
  mode: "refused",
  reason: 'Secret "shop/gone" not found',
  warning: null,
  file: null,
  certificate: null,
};

const EXPIRING: HostTls = {
  ...TERMINATED,
  secret: "shop/soon",
  warning: 'certificate of Secret "shop/soon" expires in 10 days',
};

async function text(note: ReturnType<typeof tlsNote>): Promise<string> {
  return String(await note);
}

Deno.test("tlsSummary() gives a terminated host's mode, Secret, subject, issuer, serial and expiry", () => {
  assert.deepEqual(tlsSummary(TERMINATED), {
    mode: "terminate",
    secret: "shop/a-tls",
    redirect: true,
    reason: null,
    warning: null,
    certificate: {
      subject: "CN=a.example.test",
      issuer: "CN=haconfd-tls-test-ca",
      serial: "1f2e3d",
      notAfter: "2026-04-01T00:00:00.000Z",
      names: ["a.example.test"],
    },
  });
});

Deno.test("tlsSummary() gives a refused host's reason and no certificate", () => {
  const summary = tlsSummary(REFUSED);
  assert.equal(summary.mode, "refused");
  assert.equal(summary.reason, 'Secret "shop/gone" not found');
  assert.equal(summary.certificate, null);
  assert.equal(tlsSummary(EXPIRING).warning, EXPIRING.warning);
});

Deno.test("tlsNote() shows terminated hosts with subject, issuer and expiry, refused ones with the reason", async () => {
  const terminated = await text(tlsNote(TERMINATED));
  assert.match(terminated, /TLS terminated · redirect/);
  assert.match(
    terminated,
    /CN=a\.example\.test · by CN=haconfd-tls-test-ca · until 2026-04-01T00:00:00\.000Z/,
  );
  assert.doesNotMatch(terminated, /warn-text/);

  const refused = await text(tlsNote(REFUSED));
  assert.match(refused, /TLS refused: Secret &quot;shop\/gone&quot; not found/);
  assert.match(refused, /bad-text/);

  const expiring = await text(tlsNote(EXPIRING));
  assert.match(expiring, /warn-text">certificate of Secret &quot;shop\/soon&quot; expires in 10 days/);
});

Deno.test("tlsNote() says nothing of a passthrough host", async () => {
  assert.equal(await text(tlsNote(undefined)), "");
});

Deno.test("certificateExpiries() lists terminated domains only, in seconds since the epoch", () => {
  const expiries = certificateExpiries({
    "a.example.test": { tls: TERMINATED },
    "gone.example.test": { tls: REFUSED },
    "b.example.test": {},
  });
  assert.deepEqual(expiries, [["a.example.test", Date.UTC(2026, 3, 1) / 1000]]);
});

Deno.test("tlsSummary() and tlsNote() carry no file name and no key material", async () => {
  for (const tls of [TERMINATED, REFUSED, EXPIRING]) {
    const out = JSON.stringify(tlsSummary(tls)) + (await text(tlsNote(tls)));
    assert.doesNotMatch(out, /PRIVATE KEY|fingerprint|shop__/);
  }
});
