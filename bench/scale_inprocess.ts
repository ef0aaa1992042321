/**
 * In-process cost of one change at scale: model + render after one object changed, done the way the
 * daemon does it (lib/render/generate.ts's createGenerator fed by a source journal). Three rounds of 100 changes
 * after 20 for warm-up; the lowest round median, the one least disturbed by other work on the machine.
 *
 * @module
 */
import { createGenerator, type GeneratorInput } from "../lib/render/generate.ts";
import type { EndpointSet } from "../lib/model/endpoints.ts";
import { Endpoints, projectEndpoints } from "../lib/source/kube/objects.ts";
import { compileTemplates, defaultTemplates } from "../lib/render/render.ts";
import type { JsonObject } from "../lib/demo/kube_server.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };

/** Median ms of model + render per change, `changed(i, version)` giving object i's new version. */
export function inProcessChangeCost(
  sets: EndpointSet[],
  changed: (i: number, version: number) => JsonObject,
): number {
  const next = createGenerator(compileTemplates(defaultTemplates()), listen);
  const journal = new Map<string, EndpointSet | null>();
  const input: GeneratorInput = {
    snapshot: () => sets,
    takeChanges() {
      const taken = new Map(journal);
      journal.clear();
      return taken;
    },
  };
  next(input);
  const medians: number[] = [];
  for (let round = 0; round < 3; round++) medians.push(changes(next, input, sets, changed, journal, round));
  return Math.min(...medians);
}

function changes(
  next: ReturnType<typeof createGenerator>,
  input: GeneratorInput,
  sets: EndpointSet[],
  changed: (i: number, version: number) => JsonObject,
  journal: Map<string, EndpointSet | null>,
  round: number,
): number {
  const times: number[] = [];
  for (let k = round * 120 + 1; k <= round * 120 + 120; k++) {
    const i = (k * 7919) % sets.length;
    const set = projectEndpoints(Endpoints.parse(changed(i, k)));
    journal.set(`${set.namespace}/${set.name}`, set);
    const start = performance.now();
    next(input);
    if (k > round * 120 + 20) times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[50]!;
}
