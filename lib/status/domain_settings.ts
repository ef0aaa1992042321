/**
 * A domain's effective per-service settings (lib/model/settings.ts) for people and machines: those its
 * `haconfd.io/*` annotations set, named as the annotations are, plus its backend mode and TLS mode always.
 * The /status domain entries carry them, the page's detail view lists them.
 *
 * @module
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Domain } from "../model/model.ts";
import { DEFAULT_SETTINGS } from "../model/settings.ts";

/** One effective setting's value: as the model keeps it (a list for `allow`). */
export type SettingValue = string | number | string[];

/** Where a domain's servers come from and who terminates its TLS: shown whether set or not. */
function modes(domain: Domain): [string, SettingValue][] {
  const tls = domain.tls?.mode ?? (domain.proto === "https" ? "passthrough" : "none");
  return [["backend-mode", domain.backendMode ?? "pods"], ["tls", tls]];
}

/**
 * The settings of `domain` that differ from a service without annotations, by annotation name
 * (`timeout-server`, `check-path`, …), then `backend-mode` and `tls` (`terminate`, `refused`,
 * `passthrough` or `none`). An HTTP check shows its path even when it is the default `/`.
 */
export function effectiveSettings(domain: Domain): Record<string, SettingValue> {
  const s = domain.settings;
  const all: [string, SettingValue | null][] = [
    ["balance", s.balance],
    ["timeout-connect", s.timeouts.connect],
    ["timeout-server", s.timeouts.server],
    ["timeout-tunnel", s.timeouts.tunnel],
    ["timeout-client", s.timeouts.client],
    ["maxconn", s.maxconn],
    ["check", s.check === DEFAULT_SETTINGS.check ? null : s.check],
    ["check-path", s.check === "http" || s.checkPath !== DEFAULT_SETTINGS.checkPath ? s.checkPath : null],
    ["check-status", s.checkStatus],
    ["check-interval", s.checkInterval],
    ["send-proxy", s.sendProxy],
    ["allow", s.allow],
    ["sticky", s.sticky],
    ["path", s.path === DEFAULT_SETTINGS.path ? null : s.path],
  ];
  const set = all.filter((entry): entry is [string, SettingValue] => entry[1] !== null);
  return Object.fromEntries([...set, ...modes(domain)]);
}

/** The detail view's list of a domain's effective settings. */
export function settingsDetail(domain: Domain): HtmlEscapedString | Promise<HtmlEscapedString> {
  const entries = Object.entries(effectiveSettings(domain));
  return html`
    <dl class="detail">
      ${entries.map(([name, value]) =>
        html`
          <dt>${name}</dt>
          <dd class="mono">${Array.isArray(value) ? value.join(", ") : String(value)}</dd>
        `
      )}
    </dl>
  `;
}
