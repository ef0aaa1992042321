/**
 * The pure middle of the pipeline: endpoint sets → model → config text.
 *
 * @module
 */
import type { EndpointSet } from "./kube/objects.ts";
import { buildModel, type Model } from "./model.ts";
import type { Listen, Renderer, TemplateData } from "./render.ts";
import { VERSION } from "./version.ts";

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

/** Template data for a model: the domains, the bind addresses and a timestamp-free `meta`. */
export function templateData(model: Model, listen: Listen): TemplateData {
  return { domains: model.domains, listen, meta: { generatedBy: "haconfd", version: VERSION } };
}

/**
 * Builds the model and renders it. Throws the renderer's `TemplateError` when a template fails.
 *
 * @example
 * ```ts
 * const { model, text } = generate(sets, compileTemplates(defaultTemplates()), listen);
 * ```
 */
export function generate(sets: Iterable<EndpointSet>, renderer: Renderer, listen: Listen): Generated {
  const reservedPorts = [bindPort(listen.http), bindPort(listen.https)].filter((p): p is number =>
    p !== undefined
  );
  const model = buildModel(sets, { reservedPorts });
  return { model, text: renderer.render(templateData(model, listen)) };
}
