/**
 * Objects left out of the config because HAProxy could not load their part (a failed reload traced to
 * them, or a probe that found their listen port held): the loop renders without them until they change.
 *
 * @module
 */
import type { Generated } from "../render/generate.ts";
import type { Culprit } from "./culprits.ts";
import type { EndpointSet } from "../model/endpoints.ts";
import type { Logger } from "../log.ts";
import type { Skipped } from "../model/model.ts";

/** `namespace/name` of an endpoint set, as culprits and skipped objects name it. */
function objectOf(set: EndpointSet): string {
  return `${set.namespace}/${set.name}`;
}

/**
 * The quarantined objects, by `namespace/name`, with the annotations they had when quarantined: a
 * changed object is tried again, and one gone from the source is forgotten.
 *
 * @example
 * ```ts
 * const quarantine = new Quarantine(log);
 * quarantine.add(reloadCulprits(output, model), sets);
 * const generated = quarantine.generateWithout(sets, generate);
 * ```
 */
export class Quarantine {
  readonly #held = new Map<string, { annotations: string; reason: string }>();
  readonly #log: Logger;

  /** A quarantine that logs every object it takes in to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Quarantines `found` (those not yet held); whether any was new. */
  add(found: Culprit[], sets: EndpointSet[]): boolean {
    const culprits = found.filter((c) => !this.#held.has(c.object));
    for (const culprit of culprits) {
      const set = sets.find((s) => objectOf(s) === culprit.object);
      this.#held.set(culprit.object, {
        annotations: JSON.stringify(set?.annotations ?? {}),
        reason: culprit.reason,
      });
      this.#log.error("object skipped: HAProxy could not load its part of the config", { ...culprit });
    }
    return culprits.length > 0;
  }

  /** Releases every object (new templates may bind differently). */
  clear(): void {
    this.#held.clear();
  }

  /** `generate` of `sets` without the quarantined objects, which are listed as skipped. */
  generateWithout(sets: EndpointSet[], generate: (sets: EndpointSet[]) => Generated): Generated {
    const kept: EndpointSet[] = [];
    const left: Skipped[] = [];
    const present = new Set<string>();
    for (const set of sets) {
      const object = objectOf(set);
      const held = this.#held.get(object);
      if (held !== undefined && held.annotations === JSON.stringify(set.annotations)) {
        present.add(object);
        left.push({ object, reason: held.reason });
      } else kept.push(set);
    }
    for (const object of [...this.#held.keys()]) if (!present.has(object)) this.#held.delete(object);
    const generated = generate(kept);
    if (left.length === 0) return generated;
    const skipped = [...generated.model.skipped, ...left]
      .sort((a, b) => a.object.localeCompare(b.object) || a.reason.localeCompare(b.reason));
    return { ...generated, model: { ...generated.model, skipped } };
  }
}
