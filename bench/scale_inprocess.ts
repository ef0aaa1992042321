/**
 * In-process cost of one change at scale: model + render after one object changed, done the way the
 * daemon does it (lib/generate.ts's createGenerator fed by a source journal). Median over 100 changes.
 *
 * @module
 */
import { createGenerator, type GeneratorInput } from "../lib/generate.ts";
import { Endpoints, type EndpointSet, projectEndpoints } from "../lib/kube/objects.ts";
import { compileTemplates, defaultTemplates } from "../lib/render.ts";
import type { JsonObject } from "../tests/support/kube_server.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };

/** Median ms of model + render per change, `changed(i, version)` giving object i's new version. */
export function inProcessChangeCost(
  sets: EndpointSet[],
  changed: (i: number, version: number) => JsonObject,
): number {
  const next = createGenerator(compileTemplates(defaultTemplates()), listen);
  let journal = new Map<string, EndpointSet | null>();
  const input: GeneratorInput = {
    snapshot: () => sets,
    takeChanges() {
      const taken = journal;
      journal = new Map();
      return taken;
    },
  };
  next(input);
  const times: number[] = [];
  for (let k = 1; k <= 100; k++) {
    const i = (k * 7919) % sets.length;
    const set = projectEndpoints(Endpoints.parse(changed(i, k)));
    journal.set(`${set.namespace}/${set.name}`, set);
    const start = performance.now();
    next(input);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[50]!;
}
