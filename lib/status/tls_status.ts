/**
 * A domain's TLS termination for people and machines: the /status summary (mode, Secret, certificate
 * subject, issuer, serial, expiry, the refusal or warning), the line under the proto on the page, and the
 * expiry time for `haconfd_certificate_expiry_seconds{domain}`. Only what lib/model/tls.ts records: never
 * key material.
 *
 * @module
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { HostTls } from "../model/tls.ts";

/** The /status summary of a domain's TLS termination. */
export function tlsSummary(tls: HostTls): Record<string, unknown> {
  const c = tls.certificate;
  return {
    mode: tls.mode,
    secret: tls.secret,
    redirect: tls.redirect,
    reason: tls.reason,
    warning: tls.warning,
    certificate: c === null
      ? null
      : { subject: c.subject, issuer: c.issuer, serial: c.serial, notAfter: c.notAfter, names: c.names },
  };
}

/** The page's line about a domain's TLS termination (empty without one). */
export function tlsNote(tls: HostTls | undefined): HtmlEscapedString | Promise<HtmlEscapedString> | string {
  if (tls === undefined) return "";
  if (tls.mode === "refused") {
    return html`<div class="sub bad-text" title="${tls.reason ?? ""}">TLS refused: ${tls.reason}</div>`;
  }
  const c = tls.certificate;
  const expiry = c === null ? "" : ` · ${c.subject} · by ${c.issuer} · until ${c.notAfter}`;
  const warning = tls.warning === null ? "" : html`<div class="sub warn-text">${tls.warning}</div>`;
  return html`<div class="sub">TLS terminated${tls.redirect ? " · redirect" : ""}${expiry}</div>${warning}`;
}

/** The certificate expiry of every terminated domain, seconds since the epoch, by domain. */
export function certificateExpiries(
  domains: Readonly<Record<string, { tls?: HostTls | undefined }>>,
): [string, number][] {
  const out: [string, number][] = [];
  for (const [domain, d] of Object.entries(domains)) {
    const notAfter = d.tls?.mode === "terminate" ? d.tls.certificate?.notAfter : undefined;
    if (notAfter !== undefined) out.push([domain, Date.parse(notAfter) / 1000]);
  }
  return out;
}
