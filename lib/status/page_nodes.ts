/**
 * The status page's part for a domain in backend mode nodeport: its node port, traffic policy and health
 * check, and every node with whether it receives traffic and why (lib/model/nodeport.ts's choices).
 *
 * @module
 */
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Domain } from "../model/model.ts";

/** The nodes table of a nodeport domain; empty for a pods-mode one. */
export function nodePortDetail(domain: Domain): HtmlEscapedString | Promise<HtmlEscapedString> | "" {
  const data = domain.nodePort;
  if (data === undefined) return "";
  const check = data.healthCheckPort === null
    ? "a check of the node port"
    : `GET /healthz on port ${data.healthCheckPort}`;
  return html`
    <dl class="detail">
      <dt>backend mode</dt>
      <dd class="mono">nodeport ${data.nodePort}, externalTrafficPolicy ${data.externalTrafficPolicy}</dd>
      <dt>health check</dt>
      <dd class="mono">${check}</dd>
    </dl>
    <table>
      <thead>
        <tr>
          <th>Node</th>
          <th>Address</th>
          <th>Traffic</th>
          <th>Why</th>
        </tr>
      </thead>
      <tbody>${data.nodes.map((n) =>
        html`
          <tr>
            <td class="mono">${n.node}</td>
            <td class="mono">${n.address ?? "none"}</td>
            <td>${n.used ? "yes" : "no"}</td>
            <td>${n.reason}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}
