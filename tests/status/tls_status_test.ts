/**
 * lib/status/tls_status.ts: what /status, the page and /metrics say about a domain's TLS termination
 * (terminated, refused with its reason, passthrough), and that no key material is among it.
 */
import assert from "node:assert/strict";
import { buildModel } from "../../lib/model/model.ts";
import type { HostTls } from "../../lib/model/tls.ts";
import type { DaemonState } from "../../lib/record/state.ts";
import { statusDocument } from "../../lib/status/document.ts";
import { renderStatusPage } from "../../lib/status/page.ts";
import { certificateExpiries, tlsNote, tlsSummary } from "../../lib/status/tls_status.ts";
import { daemonState, endpointSet } from "../support/fixtures.ts";

const NOW = Date.UTC(2026, 0, 1);

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

Deno.test("statusDocument() and renderStatusPage() show terminated, refused and passthrough hosts per domain", async () => {
  const model = buildModel([
    endpointSet("a", { domain: "a.example.test", proto: "http" }),
    endpointSet("gone", { domain: "gone.example.test", proto: "http" }),
    endpointSet("pass", { domain: "pass.example.test", proto: "https", "haconfd.io/backend-mode": "pods" }),
  ]);
  const served: DaemonState["domains"] = {
    ...model.domains,
    "a.example.test": { ...model.domains["a.example.test"]!, tls: TERMINATED },
    "gone.example.test": { ...model.domains["gone.example.test"]!, tls: REFUSED },
  };
  const state = daemonState(NOW, { domains: served });
  const doc = statusDocument(state, null, NOW) as { domains: Record<string, { tls?: unknown }> };
  assert.deepEqual(doc.domains["a.example.test"]!.tls, tlsSummary(TERMINATED));
  assert.deepEqual(doc.domains["gone.example.test"]!.tls, tlsSummary(REFUSED));
  assert.equal(doc.domains["pass.example.test"]!.tls, undefined, "passthrough: no termination to show");

  const ok = { ok: true, reason: "ok" };
  const page = await renderStatusPage({
    state,
    haproxy: null,
    health: ok,
    ready: ok,
    now: NOW,
    configExposed: false,
  });
  assert.match(
    page,
    /TLS terminated · redirect · CN=a\.example\.test · by CN=haconfd-tls-test-ca · until 2026-04-01/,
  );
  assert.match(page, /TLS refused: Secret &quot;shop\/gone&quot; not found/);
  const passRow = /<tr>(?:(?!<\/tr>)[\s\S])*pass\.example\.test(?:(?!<\/tr>)[\s\S])*<\/tr>/.exec(page)?.[0] ??
    "";
  assert.match(passRow, /https/);
  assert.doesNotMatch(passRow, /TLS (terminated|refused)/);
});
