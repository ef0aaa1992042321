/**
 * The status page served at `/`: one server-rendered HTML document (Hono's `html` tagged template, every
 * value escaped, inline CSS, no script, no build step) showing readiness, the source, the installed
 * config, HAProxy, the domains with their servers, the last applies and the skipped objects.
 *
 * @module
 */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { DEFAULT_LIMIT, type DomainQuery, pageLink, pageOfDomains } from "./domain_query.ts";
import { tlsNote } from "./tls_status.ts";
import type { Domain } from "../model/model.ts";
import { nodePortDetail } from "./page_nodes.ts";
import { settingsDetail } from "./domain_settings.ts";
import type { ApplyRecord, DaemonState, HaproxyView } from "../record/state.ts";
import type { BackendRow, BackendServers, ServerRow } from "../haproxy/view.ts";
import { backendOf, backendTotals } from "./haproxy_rows.ts";
// The stylesheet is a module-graph text import, like the templates, so the compiled binary embeds it.
import STYLE from "./page.css" with { type: "text" };

/** A check result shown on the page: ok or not, and why. */
export interface Verdict {
  /** Whether it holds. */
  ok: boolean;
  /** Why (or "ok"). */
  reason: string;
}

/** What {@linkcode renderStatusPage} shows. */
export interface StatusPageInput {
  /** The daemon's record. */
  state: DaemonState;
  /** HAProxy's view, or null when not configured or not read. */
  haproxy: HaproxyView | null;
  /** Liveness as /healthz reports it. */
  health: Verdict;
  /** Readiness as /readyz reports it. */
  ready: Verdict;
  /** The time the page is rendered at (ms since epoch). */
  now: number;
  /** Whether /config is served (to link it). */
  configExposed: boolean;
  /** Name of this node (host name), shown in the header; omitted when empty. */
  node?: string;
  /** Reload the page every so many seconds (a `<meta http-equiv="refresh">`); off when absent. */
  refreshSeconds?: number;
  /** Which domains to list: search, offset, limit. @default {the first page, no search} */
  query?: DomainQuery;
  /** Show this domain's detail instead of the list. */
  domain?: string;
  /** The detail's domain's servers as HAProxy lists them (read for that one backend). */
  servers?: BackendServers | null;
}

/** How a server looks on the page: a label and a tone. */
export interface ServerLook {
  /** Shown text: HAProxy's status (UP, DOWN, MAINT, …) or the model's readiness. */
  label: string;
  /** Colour class. */
  tone: Tone;
}

/** Colour classes of the page. */
export type Tone = "good" | "warn" | "bad" | "muted";

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const TITLE = "haconfd status";
const APPLIES_SHOWN = 10;
const SKIPPED_SHOWN = 200;
const HASH_SHOWN = 12;
const FOOTER_LINKS: readonly (readonly [string, string])[] = [
  ["status?pretty", "status JSON"],
  ["metrics", "metrics"],
  ["healthz", "healthz"],
  ["readyz", "readyz"],
];
const CONFIG_LINK = ["config", "config"] as const;

function tone(ok: boolean): Tone {
  return ok ? "good" : "bad";
}

function pill(label: string, t: Tone): Html {
  return html`<span class="pill ${t}">${label}</span>`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in …" for the future). */
export function ago(at: number, now: number): string {
  const delta = Math.round((now - at) / 1000);
  const s = Math.abs(delta);
  const text = s < 90
    ? `${s} s`
    : s < 90 * 60
    ? `${Math.round(s / 60)} min`
    : s < 36 * 3600
    ? `${Math.round(s / 3600)} h`
    : `${Math.round(s / 86400)} d`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

function utc(at: number): string {
  return new Date(at).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function when(at: number | null, now: number): Html {
  return at === null
    ? html`<span class="sub">never</span>`
    : html`<span title="${utc(at)}">${ago(at, now)}</span>`;
}

function ms(value: number | null): string {
  if (value === null) return "–";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

function hashCell(hash: string | null): Html {
  return hash === null
    ? html`<span class="sub">none</span>`
    : html`<code title="${hash}">${hash.slice(0, HASH_SHOWN)}</code>`;
}

/** The tone of a loop outcome. */
export function outcomeTone(outcome: ApplyRecord["outcome"]): Tone {
  switch (outcome) {
    case "applied":
      return "good";
    case "unchanged":
    case "dry-run":
      return "muted";
    case "held":
      return "warn";
    default:
      return "bad";
  }
}

function haproxyTone(status: string): Tone {
  const upper = status.toUpperCase();
  if (upper.startsWith("UP")) return "good";
  if (upper.startsWith("DOWN") || upper === "NOLB") return "bad";
  if (upper.startsWith("MAINT") || upper.startsWith("DRAIN")) return "warn";
  return "muted";
}

/** How a server of a domain looks: HAProxy's status when known (the detail view), else the model's readiness. */
export function serverLook(
  server: Domain["servers"][number],
  backend: ServerRow[] | undefined,
): ServerLook {
  if (!server.ready) return { label: "not ready", tone: "warn" };
  const address = server.ip.includes(":") ? `[${server.ip}]:${server.port}` : `${server.ip}:${server.port}`;
  const seen = backend?.find((s) => s.server === server.name) ?? backend?.find((s) => s.address === address);
  if (seen) return { label: seen.status, tone: haproxyTone(seen.status) };
  return { label: backend ? "not in HAProxy" : "ready", tone: backend ? "muted" : "good" };
}

function frontendOf(domain: Domain): string {
  if (domain.listenPort !== null) return `:${domain.listenPort}`;
  return domain.proto === "https" ? "SNI" : "Host";
}

function serverChip(server: Domain["servers"][number], look: ServerLook): Html {
  const name = server.name === server.ip ? "" : html`<span class="sub">${server.name}</span>`;
  const label = look.tone === "good" ? "" : html`<b class="${look.tone}-text">${look.label}</b>`;
  const address = `${server.ip}:${server.port}`;
  return html`
    <span class="srv" title="${server.name}: ${look.label}">
      <span class="dot ${look.tone}"></span><span class="mono">${address}</span>${name}${label}
    </span>
  `;
}

/**
 * A domain's row. Its state comes from HAProxy's backend row when there is one (servers that can take
 * traffic), else from the servers' looks; per-server states only where `servers` were read (the detail).
 */
function domainRow(name: string, domain: Domain, row: BackendRow | undefined, servers?: ServerRow[]): Html {
  const looks = domain.servers.map((server) => ({ server, look: serverLook(server, servers) }));
  const up = servers === undefined && row !== undefined
    ? row.usable
    : looks.filter((l) => l.look.tone === "good").length;
  const rowTone: Tone = up === 0 ? "bad" : up < looks.length ? "warn" : "good";
  const rowLabel = looks.length === 0 ? "no servers" : `${up}/${looks.length} up`;
  const chips = looks.length === 0
    ? html`<span class="sub">none</span>`
    : looks.map(({ server, look }) => serverChip(server, look));
  return html`
    <tr>
      <td>
        <a href="?domain=${encodeURIComponent(name)}"><span class="domain">${name}</span></a>
        <div class="sub">${domain.namespace}/${domain.name}</div>
      </td>
      <td><span class="proto">${domain.proto}</span>${tlsNote(domain.tls)}</td>
      <td class="mono num">${frontendOf(domain)}</td>
      <td class="mono num">${domain.port}</td>
      <td>${pill(rowLabel, rowTone)}</td>
      <td>
        <div class="servers">${chips}</div>
      </td>
    </tr>
  `;
}

function searchForm(query: DomainQuery, matched: number, total: number): Html {
  const end = Math.min(query.offset + query.limit, matched);
  const shown = matched === 0 ? "none" : `${query.offset + 1}–${end} of ${matched}`;
  const previous = query.offset > 0
    ? html`<a href="${pageLink(query, Math.max(0, query.offset - query.limit))}">previous</a>`
    : "";
  const next = end < matched ? html`<a href="${pageLink(query, end)}">next</a>` : "";
  const of = query.q === "" ? "" : html`
    <span class="sub">(${total} in all)</span>
  `;
  return html`
    <form class="search" method="get" action="">
      <input type="search" name="q" value="${query.q}" placeholder="domain or namespace/name">
      ${query.limit === DEFAULT_LIMIT ? "" : html`<input type="hidden" name="limit" value="${query.limit}">`}
      <button type="submit">Search</button>
      <span class="sub">showing ${shown}</span>${of} ${previous} ${next}
    </form>
  `;
}

function domainDetail(input: StatusPageInput, name: string): Html {
  const { state, haproxy, servers } = input;
  const domain = Object.hasOwn(state.domains, name) ? state.domains[name] : undefined;
  const read = servers && servers.error === null && servers.backend !== null ? servers.servers : undefined;
  const body = domain === undefined
    ? html`<div class="empty">No domain "${name}" in the last model.</div>`
    : html`
      <table>
        <tbody>${domainRow(name, domain, backendOf(domain, haproxy), read)}</tbody>
      </table>
      <dl class="detail">
        <dt>backend id</dt>
        <dd class="mono">${domain.id}${servers?.backend
          ? html`
            <span class="sub">(${servers.backend})</span>
          `
          : ""}</dd>
        <dt>ports</dt>
        <dd class="mono">${Object.entries(domain.ports).map(([k, v]) => `${k}=${v}`).join(", ") ||
          "none"}</dd>
        <dt>ready</dt>
        <dd class="mono">${domain.ips.join(", ") || "none"}</dd>
        <dt>not ready</dt>
        <dd class="mono">${domain.notReadyIps.join(", ") || "none"}</dd>
      </dl>
      ${settingsDetail(domain)} ${nodePortDetail(domain)}
    `;
  return html`
    <section id="domains">
      <h2>Domain <span class="count">${name}</span> <a class="sub" href="?">all domains</a></h2>
      ${body}
    </section>
  `;
}

function domainsSection(state: DaemonState, haproxy: HaproxyView | null, query: DomainQuery): Html {
  const page = pageOfDomains(state.domains, query);
  const entries = page.entries;
  const rows = entries.map(([name, d]) => domainRow(name, d, backendOf(d, haproxy)));
  const body = entries.length === 0
    ? html`<div class="empty">${
      page.total === 0 ? "No domains in the last model." : "No domain matches the search."
    }</div>`
    : html`
      <table>
        <thead>
          <tr>
            <th>Domain</th>
            <th>Proto</th>
            <th title="How HAProxy picks the backend: Host header, TLS SNI, or a port of its own">Route</th>
            <th title="Port on the servers">Port</th>
            <th>State</th>
            <th>Servers</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    `;
  return html`
    <section id="domains">
      <h2>Domains <span class="count">${page.total}</span></h2>
      ${page.total > query.limit || query.q !== "" ? searchForm(query, page.matched, page.total) : ""} ${body}
    </section>
  `;
}

function applyRow(a: ApplyRecord, now: number): Html {
  const errors = a.errors.length === 0 ? "" : html`<pre class="errors">${a.errors.join("\n")}</pre>`;
  return html`
    <tr>
      <td class="num">${when(a.at, now)}</td>
      <td>${pill(a.outcome, outcomeTone(a.outcome))}</td>
      <td class="mono num">${ms(a.durationMs)}</td>
      <td class="mono num">${ms(a.renderMs)} / ${ms(a.checkMs)} / ${ms(a.reloadMs)}</td>
      <td>${hashCell(a.hash)}</td>
      <td>${a.path === undefined ? "" : html`
        <b>${a.path}</b>
      `}${a.detail}${errors}</td>
    </tr>
  `;
}

function appliesSection(state: DaemonState, now: number): Html {
  const shown = state.applies.slice(0, APPLIES_SHOWN);
  const count = `last ${shown.length} of ${state.applies.length}`;
  const body = shown.length === 0 ? html`<div class="empty">Nothing applied yet.</div>` : html`
    <table>
      <thead>
        <tr>
          <th>When</th>
          <th>Result</th>
          <th>Total</th>
          <th>Render / check / reload</th>
          <th>Config</th>
          <th>Detail</th>
        </tr>
      </thead>
      <tbody>${shown.map((a) => applyRow(a, now))}</tbody>
    </table>
  `;
  return html`
    <section id="applies">
      <h2>Recent applies <span class="count">${count}</span></h2>
      ${body}
    </section>
  `;
}

function skippedSection(state: DaemonState): Html {
  const items = [
    ...state.skipped.map((s) => ({ object: s.object, reason: s.reason, kind: "skipped" })),
    ...state.source.problems.map((p) => ({ object: p.object, reason: p.reason, kind: "unreadable" })),
  ];
  if (items.length === 0) return raw("");
  // Thousands of skipped objects would make the page megabytes: the first ones, and /status has the rest.
  const rows = items.slice(0, SKIPPED_SHOWN).map((i) =>
    html`
      <tr>
        <td class="mono">${i.object}</td>
        <td>${i.reason}</td>
        <td>${pill(i.kind, "warn")}</td>
      </tr>
    `
  );
  return html`
    <section id="skipped">
      <h2>Skipped objects <span class="count">${items.length}</span>${items.length > SKIPPED_SHOWN
        ? html`
          <span class="sub">first ${SKIPPED_SHOWN} shown</span>
        `
        : ""}</h2>
      <table>
        <thead>
          <tr>
            <th>Object</th>
            <th>Why</th>
            <th></th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </section>
  `;
}

function lastRun(label: string, record: ApplyRecord | null, duration: number | null, now: number): Html {
  if (record === null) {
    return html`
      <dt>${label}</dt>
      <dd><span class="sub">never</span></dd>
    `;
  }
  const t = outcomeTone(record.outcome);
  const result =
    html`<span class="nowrap"><span class="dot ${t}"></span> <b class="${t}-text">${record.outcome}</b></span>`;
  const time = html`<span class="nowrap">${when(record.at, now)} <span class="sub">· ${
    ms(duration)
  }</span></span>`;
  return html`
    <dt>${label}</dt>
    <dd>${result} ${time}</dd>
  `;
}

function readinessCard(input: StatusPageInput): Html {
  const { state, ready, now } = input;
  const all = Object.values(state.domains);
  const servers = all.reduce((n, d) => n + d.servers.length, 0);
  const readyServers = all.reduce((n, d) => n + d.servers.filter((s) => s.ready).length, 0);
  const notReady = servers === readyServers
    ? ""
    : html`, <span class="warn-text">${servers - readyServers} not ready</span>`;
  return html`
    <div class="card">
      <h2>Readiness</h2>
      <div class="big">${pill(ready.ok ? "ready" : "not ready", tone(ready.ok))}</div>
      <dl>
        <dt>reason</dt>
        <dd>${ready.reason}</dd>
        <dt>domains</dt>
        <dd>${all.length}</dd>
        <dt>servers</dt>
        <dd>${readyServers} ready${notReady}</dd>
        <dt>started</dt>
        <dd>${when(state.startedAt, now)}</dd>
      </dl>
    </div>
  `;
}

/** The source card's row about watches started since the first sync that are still listing (none: empty). */
function listingRow(source: DaemonState["source"]): Html | "" {
  const listing = source.listing ?? [];
  if (listing.length === 0) return "";
  return html`
    <dt>waiting</dt>
    <dd>${listing.join(", ")} <span class="sub">· changes wait, readiness does not</span></dd>
  `;
}

function sourceCard(source: DaemonState["source"], now: number): Html {
  const namespaces = source.namespaces.length === 0 ? "all" : source.namespaces.join(", ");
  const error = source.lastError === null ? "" : pill("error", "bad");
  return html`
    <div class="card">
      <h2>Source</h2>
      <div class="big">${pill(source.synced ? "synced" : "not synced", tone(source.synced))} ${error}</div>
      <dl>
        <dt>${source.kind}</dt>
        <dd>${source.endpoint}</dd>
        <dt>resource</dt>
        <dd>${source.resource}</dd>
        <dt>namespaces</dt>
        <dd>${namespaces}</dd>
        <dt>objects</dt>
        <dd>${source.objects}</dd>
        <dt>last event</dt>
        <dd>${when(source.lastEventAt, now)}</dd>
        <dt>full sync</dt>
        <dd>${when(source.lastFullSyncAt, now)} <span class="sub">· ${source.fullSyncs} so far</span></dd>
        ${listingRow(source)}
      </dl>
    </div>
  `;
}

/** Rows of the config card about the runtime path: target, servers draining, commands. */
function runtimeRows(state: DaemonState): Html {
  const runtime = state.runtime;
  if (runtime === undefined) {
    return html`
      <dt>servers changed by</dt>
      <dd>reloads only (no Runtime API)</dd>
    `;
  }
  const draining = runtime.draining.length === 0
    ? "none"
    : runtime.draining.map((d) => `${d.server} (${Math.round(d.sinceMs / 1000)} s)`).join(", ");
  return html`
    <dt>servers changed by</dt>
    <dd>Runtime API, ${runtime.target}</dd>
    <dt>draining</dt>
    <dd>${draining}</dd>
    <dt>runtime commands</dt>
    <dd>${runtime.commands.ok} ok, ${runtime.commands.failed} failed</dd>
  `;
}

function configCard(state: DaemonState, now: number): Html {
  const { path, installedHash, renderedHash } = state.config;
  const current = installedHash !== null && installedHash === renderedHash;
  const check = lastRun("check", state.lastCheck, state.lastCheck?.checkMs ?? null, now);
  const reload = lastRun("reload", state.lastReload, state.lastReload?.reloadMs ?? null, now);
  return html`
    <div class="card">
      <h2>Config</h2>
      <div class="big">${pill(current ? "current" : "not current", current ? "good" : "warn")}</div>
      <dl>
        <dt>path</dt>
        <dd>${path}</dd>
        <dt>installed</dt>
        <dd>${hashCell(installedHash)}</dd>
        <dt>rendered</dt>
        <dd>${hashCell(renderedHash)}</dd>
        ${check} ${reload}
        <dt>reloads by</dt>
        <dd>${state.reloadMode}</dd>
        ${runtimeRows(state)}
      </dl>
    </div>
  `;
}

function haproxyCard(haproxy: HaproxyView | null, now: number): Html {
  if (haproxy === null) return haproxyNotRead(pill("not read", "muted"), "No master socket configured.");
  if (haproxy.error !== null) return haproxyNotRead(pill("unreachable", "bad"), haproxy.error);
  const workers = haproxy.processes.filter((p) => p.role !== "master");
  const master = haproxy.processes.find((p) => p.role === "master");
  const label = `${workers.length} worker${workers.length === 1 ? "" : "s"}`;
  const masterRow = master
    ? html`
      <dt>master</dt>
      <dd>pid ${master.pid} <span class="sub">· ${master.reloads} reloads</span></dd>
    `
    : "";
  const workerRows = workers.map((p) =>
    html`
      <dt>worker</dt>
      <dd>pid ${p.pid} <span class="sub">· up ${p.uptime}</span></dd>
    `
  );
  return html`
    <div class="card">
      <h2>HAProxy</h2>
      <div class="big">${pill(label, workers.length > 0 ? "good" : "bad")}</div>
      <dl>
        ${masterRow}${workerRows}
        <dt>version</dt>
        <dd>${haproxy.processes[0]?.version ?? "unknown"}</dd>
        <dt>backends</dt>
        <dd>${backendStatuses(haproxy)}</dd>
        <dt>read</dt>
        <dd>${when(haproxy.readAt, now)}</dd>
      </dl>
    </div>
  `;
}

function haproxyNotRead(state: Html, why: string): Html {
  return html`
    <div class="card">
      <h2>HAProxy</h2>
      <div class="big">${state}</div>
      <div class="sub">${why}</div>
    </div>
  `;
}

/** How many of HAProxy's backends are in each status, good ones first, and the servers taking traffic. */
function backendStatuses(haproxy: HaproxyView): Html[] {
  const totals = backendTotals(haproxy);
  const order = (status: string): string =>
    `${["good", "warn", "bad", "muted"].indexOf(haproxyTone(status))}${status}`;
  const counts = Object.entries(totals.backends).sort(([a], [b]) => order(a).localeCompare(order(b)));
  return [
    ...counts.map(([status, n]) =>
      html`
        <span class="nowrap"><span class="dot ${haproxyTone(status)}"></span> ${n} ${status}</span>
      `
    ),
    html`<span class="nowrap sub">${totals.usableServers} servers taking traffic</span>`,
  ];
}

function banners(input: StatusPageInput): Html {
  const { state, health } = input;
  const last = state.applies[0];
  const loop = health.ok ? "" : html`<div class="banner bad"><b>Loop not alive:</b> ${health.reason}</div>`;
  const source = state.source.lastError === null
    ? ""
    : html`<div class="banner bad"><b>Source error:</b> ${state.source.lastError}</div>`;
  const apply = last && outcomeTone(last.outcome) === "bad"
    ? html`<div class="banner warn"><b>Last apply ${last.outcome}:</b> ${last.detail}</div>`
    : "";
  return html`${loop}${source}${apply}`;
}

/**
 * Renders the status page.
 *
 * @example
 * ```ts
 * const page = await renderStatusPage({ state, haproxy: null, health, ready, now: Date.now(), configExposed: false });
 * ```
 */
export async function renderStatusPage(input: StatusPageInput): Promise<string> {
  const { state, ready, now, node = "" } = input;
  const refresh = input.refreshSeconds === undefined
    ? ""
    : html`<meta http-equiv="refresh" content="${input.refreshSeconds}">`;
  const title = `${ready.ok ? "" : "⚠ "}${node === "" ? "" : `${node} · `}${TITLE}`;
  const nodeBadge = node === "" ? "" : html`<span class="node" title="node">${node}</span>`;
  const links = input.configExposed ? [...FOOTER_LINKS, CONFIG_LINK] : FOOTER_LINKS;
  const footer = links.map(([href, text]) => html`<a href="${href}">${text}</a>`);
  const cards = [
    readinessCard(input),
    sourceCard(state.source, now),
    configCard(state, now),
    haproxyCard(input.haproxy, now),
  ];
  const page = html`
    <!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        ${refresh}
        <title>${title}</title>
        <style>${raw(STYLE)}</style>
      </head>
      <body>
        <header>
          <h1>haconfd</h1>
          <span class="version">${state.version}</span>
          ${nodeBadge}
          <span class="spacer"></span>
          <span class="when">${utc(now)}</span>
          ${pill(ready.ok ? "Ready" : "Not ready", tone(ready.ok))}
        </header>
        <main>
          ${banners(input)}
          <div class="cards">
            ${cards}
          </div>
          ${input.domain === undefined
            ? domainsSection(state, input.haproxy, input.query ?? { q: "", offset: 0, limit: DEFAULT_LIMIT })
            : domainDetail(input, input.domain)} ${appliesSection(
              state,
              now,
            )} ${skippedSection(state)}
          <footer>${footer}</footer>
        </main>
      </body>
    </html>
  `;
  return (await page).toString().trimStart();
}
