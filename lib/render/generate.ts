/**
 * The pure middle of the pipeline: endpoint sets → model → config text.
 *
 * @module
 */
import type { EndpointSet } from "../model/endpoints.ts";
import { buildModel, type Model } from "../model/model.ts";
import type { HaproxyProcess, Listen, Renderer, TemplateData } from "./render.ts";
import { VERSION } from "../version.ts";

/** What one generation produced. */
export interface Generated {
  /** The model (domains and skipped objects). */
  model: Model;
  /** The config text. */
  text: string;
}

/** The port of a `host:port` bind, if it has one. */
export function bindPort(bind: string): number | undefined {
  const match = /:(\d{1,5})$/.exec(bind);
  return match ? Number(match[1]) : undefined;
}

/** A port haconfd itself listens on (beside the frontends), and who uses it: no TCP service may take it. */
export interface ReservedPort {
  /** The port. */
  port: number;
  /** Its user, for the skip reason, e.g. `the status endpoint (--status-listen)`. */
  by: string;
}

/** Template data for a model: the domains, the bind addresses and a timestamp-free `meta`. */
export function templateData(
  model: Model,
  listen: Listen,
  haproxy: HaproxyProcess = { user: null, group: null },
): TemplateData {
  return { domains: model.domains, listen, haproxy, meta: { generatedBy: "haconfd", version: VERSION } };
}

/** The trailer line that records how many domains a config serves (read back by the shrink guard). */
export function domainsTrailer(count: number): string {
  return `# haconfd: ${count} domains\n`;
}

/** The domain count recorded in a config's trailer, if it has one. */
export function trailerDomains(text: string): number | undefined {
  const match = /^# haconfd: (\d+) domains$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Builds the model and renders it, adding a trailer comment with the domain count (so that a restarted
 * daemon's shrink guard knows what the installed config serves). Throws the renderer's `TemplateError` when a template fails.
 *
 * @example
 * ```ts
 * const { model, text } = generate(sets, compileTemplates(defaultTemplates()), listen);
 * ```
 */
export function generate(
  sets: Iterable<EndpointSet>,
  renderer: Renderer,
  listen: Listen,
  haproxy?: HaproxyProcess,
  reserved: readonly ReservedPort[] = [],
): Generated {
  const reservedPorts = [
    ...[bindPort(listen.http), bindPort(listen.https)].filter((p): p is number => p !== undefined),
    ...reserved,
  ];
  const model = buildModel(sets, { reservedPorts });
  const text = renderer.render(templateData(model, listen, haproxy));
  return { model, text: text + domainsTrailer(Object.keys(model.domains).length) };
}
