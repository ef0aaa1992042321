/**
 * In-process cost of one change at scale: model + render of a cluster after one object changed, as the
 * daemon's generator does it. Median over 100 changes.
 *
 * @module
 */
import { generate } from "../lib/generate.ts";
import { Endpoints, type EndpointSet, projectEndpoints } from "../lib/kube/objects.ts";
import { compileTemplates, defaultTemplates } from "../lib/render.ts";
import type { JsonObject } from "../tests/support/kube_server.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };

/** Median ms of model + render per change, `changed(i, version)` giving object i's new version. */
export function inProcessChangeCost(
  sets: EndpointSet[],
  changed: (i: number, version: number) => JsonObject,
): number {
  const renderer = compileTemplates(defaultTemplates());
  const current = [...sets];
  generate(current, renderer, listen);
  const times: number[] = [];
  for (let k = 1; k <= 100; k++) {
    const i = (k * 7919) % current.length;
    current[i] = projectEndpoints(Endpoints.parse(changed(i, k)));
    const start = performance.now();
    generate(current, renderer, listen);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[50]!;
}
