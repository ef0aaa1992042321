/**
 * Objects left out of the config because HAProxy could not load their part (a failed reload traced to
 * them, or a probe that found their listen port held): the loop renders without them until they change.
 *
 * @module
 */
import type { Generated, Generator, GeneratorInput } from "../render/generate.ts";
import type { Culprit } from "./culprits.ts";
import type { EndpointSet } from "../model/endpoints.ts";
import type { Logger } from "../log.ts";
import { type Model, type Skipped, skippedOrder } from "../model/model.ts";

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
 * quarantine.add(reloadCulprits(output, model), () => source.snapshot());
 * const generated = quarantine.generateWithout(source, generate);
 * ```
 */
export class Quarantine {
  readonly #held = new Map<string, { annotations: string; reason: string }>();
  readonly #log: Logger;
  /** Whether objects were taken in or released since the generator last read the whole snapshot. */
  #changed = false;

  /** A quarantine that logs every object it takes in to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Quarantines `found` (those not yet held); whether any was new. `sets` gives the source's objects
   * (read only when there is a new one, for the annotations it has now).
   */
  add(found: Culprit[], sets: () => readonly EndpointSet[]): boolean {
    const culprits = found.filter((c) => !this.#held.has(c.object));
    if (culprits.length === 0) return false;
    const current = sets();
    for (const culprit of culprits) {
      const set = current.find((s) => objectOf(s) === culprit.object);
      this.#held.set(culprit.object, {
        annotations: JSON.stringify(set?.annotations ?? {}),
        reason: culprit.reason,
      });
      this.#log.error("object skipped: HAProxy could not load its part of the config", { ...culprit });
    }
    this.#changed = true;
    return true;
  }

  /** Releases every object (new templates may bind differently). */
  clear(): void {
    this.#held.clear();
    this.#changed = true;
  }

  /**
   * `generate` of the source without the quarantined objects, which are listed as skipped. The generator
   * sees the source's snapshot without them, and the source's changes (where it keeps a journal) with a
   * held object's change as its removal; after objects were taken in or released it sees no changes
   * (null), so an incremental generator compares the whole snapshot.
   */
  generateWithout(source: GeneratorInput, generate: Generator): Generated {
    const generated = generate(this.#view(source));
    if (this.#held.size === 0) return generated;
    const left: Skipped[] = [...this.#held].map(([object, { reason }]) => ({ object, reason }));
    const skipped = [...generated.model.skipped, ...left].sort(skippedOrder);
    const base = generated.model;
    // An incremental generator's model builds its domains on first read (lib/model/store.ts): a pass
    // that never reads them must not pay for them here either.
    const model: Model = {
      get domains() {
        return base.domains;
      },
      skipped,
    };
    // Copied by descriptors: a spread would call the `bytes` getter and join the whole config (6 MB at
    // 50,000 addresses) in every pass while something is held.
    const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(generated)) as Generated;
    return Object.defineProperty(copy, "model", { value: model, enumerable: true });
  }

  /** Whether `set` (the object `key` now, null when gone) stays held; a changed or gone object is released. */
  #holds(key: string, set: EndpointSet | null): boolean {
    const held = this.#held.get(key);
    if (held === undefined) return false;
    if (set !== null && held.annotations === JSON.stringify(set.annotations)) return true;
    this.#held.delete(key);
    return false;
  }

  #view(source: GeneratorInput): GeneratorInput {
    return {
      snapshot: () => {
        const present = new Set<string>();
        const kept = source.snapshot().filter((set) => {
          const key = objectOf(set);
          if (!this.#holds(key, set)) return true;
          present.add(key);
          return false;
        });
        for (const key of [...this.#held.keys()]) if (!present.has(key)) this.#held.delete(key);
        this.#changed = false;
        return kept;
      },
      takeChanges: () => {
        const changes = source.takeChanges?.() ?? null;
        if (changes === null || this.#changed) return null;
        if (this.#held.size === 0) return changes;
        const out = new Map(changes);
        for (const [key, set] of changes) if (this.#holds(key, set)) out.set(key, null);
        return out;
      },
    };
  }
}
