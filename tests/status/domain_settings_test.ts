import assert from "node:assert/strict";
import { buildModel } from "../../lib/model/model.ts";
import type { DaemonState } from "../../lib/record/state.ts";
import { initialStatus } from "../../lib/source/source.ts";
import { effectiveSettings, settingsDetail } from "../../lib/status/domain_settings.ts";
import { statusDocument } from "../../lib/status/document.ts";
import { renderStatusPage } from "../../lib/status/page.ts";
import { daemonState, endpointSet, EVERY_SETTING } from "../support/fixtures.ts";

const NOW = Date.UTC(2026, 0, 1);

/** The domains of one model: a plain http one, one using every setting, a TCP and a passthrough one. */
function domains() {
  const model = buildModel([
    endpointSet("plain", { domain: "plain.test", proto: "http" }),
    endpointSet("every", { domain: "every.test", proto: "http", ...EVERY_SETTING }),
    endpointSet("cache", {
      domain: "cache.test",
      proto: "redis",
      "haconfd.io/timeout-client": "1h",
      "haconfd.io/send-proxy": "v2",
      "haconfd.io/check": "none",
    }),
    endpointSet("pass", { domain: "pass.test", proto: "https", "haconfd.io/backend-mode": "pods" }),
  ]);
  assert.deepEqual(model.skipped, []);
  return model.domains;
}

/** A ready daemon state serving `domains`. */
function state(served: DaemonState["domains"]): DaemonState {
  return daemonState(NOW, {
    source: { ...initialStatus("kube", "https://k", "endpoints"), synced: true },
    ready: { ok: true, reason: "the installed config is the last one rendered" },
    domains: served,
  });
}

Deno.test("effectiveSettings() gives only the settings a domain's annotations set, plus backend mode and TLS mode", () => {
  const d = domains();
  assert.deepEqual(effectiveSettings(d["plain.test"]!), { "backend-mode": "pods", tls: "none" });
  assert.deepEqual(effectiveSettings(d["pass.test"]!), { "backend-mode": "pods", tls: "passthrough" });
  assert.deepEqual(effectiveSettings(d["cache.test"]!), {
    "timeout-client": "1h",
    check: "none",
    "send-proxy": "v2",
    "backend-mode": "pods",
    tls: "none",
  });
  assert.deepEqual(effectiveSettings(d["every.test"]!), {
    balance: "hdr(X-User)",
    "timeout-connect": "2s",
    "timeout-server": "30s",
    "timeout-tunnel": "1h",
    maxconn: 100,
    check: "http",
    "check-path": "/healthz",
    "check-status": "200-399",
    "check-interval": "500ms",
    allow: ["127.0.0.0/8"],
    sticky: "HACONFD_SERVER",
    "send-proxy": "v2",
    "backend-mode": "pods",
    tls: "none",
  });
});

Deno.test("settingsDetail() lists each effective setting by annotation name", async () => {
  const page = String(await settingsDetail(domains()["every.test"]!)).replace(/>\s+</g, "><");
  assert.match(page, /<dt>timeout-server<\/dt><dd class="mono">30s<\/dd>/);
  assert.match(page, /<dt>allow<\/dt><dd class="mono">127\.0\.0\.0\/8<\/dd>/);
  assert.match(page, /<dt>backend-mode<\/dt><dd class="mono">pods<\/dd>/);
  assert.doesNotMatch(page, /timeout-client/);
});

Deno.test("statusDocument() and the page's detail view show each domain's effective settings", async () => {
  const served = domains();
  const doc = statusDocument(state(served), null, NOW) as { domains: Record<string, { settings: unknown }> };
  assert.deepEqual(doc.domains["every.test"]!.settings, effectiveSettings(served["every.test"]!));
  assert.deepEqual(doc.domains["plain.test"]!.settings, { "backend-mode": "pods", tls: "none" });
  const ok = { ok: true, reason: "ok" };
  const page = await renderStatusPage({
    state: state(served),
    haproxy: null,
    health: ok,
    ready: ok,
    now: NOW,
    configExposed: false,
    domain: "every.test",
  });
  assert.match(page.replace(/>\s+</g, "><"), /<dt>check-path<\/dt><dd class="mono">\/healthz<\/dd>/);
});
