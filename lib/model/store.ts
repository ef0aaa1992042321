/**
 * The model, kept up to date change by change: an event re-validates the objects it touches (through
 * lib/model/model.ts's {@linkcode candidate}) and re-resolves only the claims they conflict with, instead of
 * rebuilding the whole model. The result is the model {@linkcode buildModel} gives for the same objects,
 * entry for entry (tests/model/store_test.ts compares them on random event sequences).
 *
 * Why it can be local: claims are resolved greedily in claim order (older first), a claim losing to an
 * earlier winner of its domain or of its listen port. So a claim's fate depends only on the claims
 * connected to it through shared domains and listen ports: a change re-resolves that connected group.
 * Identifier suffixes (`_2`, … for colliding domain hashes) depend only on the winners with the same
 * base id, and are redone for the base ids whose winners changed.
 *
 * @module
 */
import type { EndpointSet } from "./endpoints.ts";
import {
  type Candidate,
  candidate,
  claimOrder,
  type Domain,
  domainTaken,
  type Model,
  type ModelOptions,
  portHolder,
  portTaken,
  RESERVED_HOLDER,
  resolveModelOptions,
  type Skipped,
  skippedOrder,
} from "./model.ts";

/** Changed objects by `namespace/name`: the new endpoint set, or null when gone or not routed. */
export type SetChanges = ReadonlyMap<string, EndpointSet | null>;

/** What one update changed. */
export interface StoreUpdate {
  /** Domains whose entry was added, replaced or removed. */
  domains: ReadonlySet<string>;
  /** Whether the skipped list changed. */
  skipped: boolean;
}

/**
 * The model's TCP services by listen port, kept up to date by the store: what lib/daemon/culprits.ts
 * probes, without walking every domain.
 */
export interface ListenPorts {
  /** Listen port → the domain whose entry listens on it (live: it follows the store's changes). */
  readonly ports: ReadonlyMap<number, string>;
  /** Changes whenever `ports` does, and only then: a reader that saw this version has seen them all. */
  readonly version: number;
  /** A domain's current entry. */
  domain(name: string): Domain | undefined;
}

/** The model of the objects seen so far, updated change by change. */
export interface ModelStore {
  /** Applies changed objects; unchanged references cost nothing. */
  apply(changes: SetChanges): StoreUpdate;
  /** Makes `sets` the whole object set (objects not in it are removed), comparing by reference. */
  replaceAll(sets: Iterable<EndpointSet>): StoreUpdate;
  /** A domain's current entry (the same object as long as it does not change). */
  domain(name: string): Domain | undefined;
  /** How many domains the model has. */
  domainCount(): number;
  /** The model's listen ports, at the current version. */
  listenPorts(): ListenPorts;
  /**
   * The model as {@linkcode buildModel} returns it. Its `domains` and `skipped` are built on first
   * read and kept until the next change, so a pass that never reads them does not pay for them.
   */
  model(): Model;
}

interface Entry {
  set: EndpointSet;
  claim: Candidate | null;
  /** Its addresses that are not servers (only for a usable claim, as buildModel lists them). */
  refusals: Skipped[];
}

function objectKey(set: EndpointSet): string {
  return `${set.namespace}/${set.name}`;
}

/**
 * Keys to sets of values, a lone value kept without a Set: nearly every domain and port has one
 * claimant, and a Set each would be tens of thousands of allocations at scale.
 */
class MultiMap<K, V> {
  #map = new Map<K, V | Set<V>>();

  add(key: K, value: V): void {
    const held = this.#map.get(key);
    if (held === undefined) this.#map.set(key, value);
    else if (held instanceof Set) held.add(value);
    else if (held !== value) this.#map.set(key, new Set([held, value]));
  }

  remove(key: K, value: V): void {
    const held = this.#map.get(key);
    if (held === value) this.#map.delete(key);
    else if (held instanceof Set) {
      held.delete(value);
      if (held.size === 1) this.#map.set(key, held.values().next().value as V);
    }
  }

  get(key: K): V[] {
    const held = this.#map.get(key);
    return held === undefined ? [] : held instanceof Set ? [...held] : [held];
  }
}

/**
 * Creates an empty store.
 *
 * @example
 * ```ts
 * const store = createModelStore({ reservedPorts: [80, 443] });
 * store.replaceAll(source.snapshot());
 * const { domains } = store.apply(new Map([["ns/app", changedSet]]));
 * ```
 */
export function createModelStore(options: ModelOptions = {}): ModelStore {
  const resolved = resolveModelOptions(options);
  const reserved = new Map<number, string>(); // port → who holds it
  for (const r of resolved.reservedPorts) {
    if (typeof r === "number") reserved.set(r, RESERVED_HOLDER);
    else reserved.set(r.port, r.by);
  }
  const objects = new Map<string, Entry>();
  const byDomain = new MultiMap<string, string>(); // domain → keys of the objects claiming it
  const byPort = new MultiMap<number, string>(); // listen port → keys of the objects claiming it
  const byBaseId = new MultiMap<string, string>(); // base id → domains (with a winner) having it
  const winners = new Map<string, Candidate>(); // domain → winning claim
  const domains = new VersionedMap<string, Domain>();
  const madeFrom = new Map<string, Candidate>(); // domain → the claim its entry was made from
  // object key → its skip entries: why it takes no part (if so), then its refused addresses
  const skipped = new VersionedMap<string, Skipped[]>();
  const reasons = new Map<string, string>(); // object key → why it takes no part
  const listenPorts = new Map<number, string>(); // listen port → the domain whose entry has it
  let listenPortsVersion = 0;
  let built: Model | null = null;

  /** Keeps `listenPorts` in step with a domain's entry going from `before` to `after`. */
  function indexListenPort(name: string, before: Domain | undefined, after: Domain | undefined): void {
    const was = before?.listenPort ?? null;
    const now = after?.listenPort ?? null;
    // Another domain may have taken the port already in this update (claims re-resolve in any order).
    if (was !== null && was !== now && listenPorts.get(was) === name) {
      listenPorts.delete(was);
      listenPortsVersion++;
    }
    if (now !== null && listenPorts.get(now) !== name) {
      listenPorts.set(now, name);
      listenPortsVersion++;
    }
  }

  /** Removes a domain's entry (and its listen port); whether it had one. */
  function removeDomain(name: string): boolean {
    const entry = domains.get(name);
    if (entry === undefined) return false;
    indexListenPort(name, entry, undefined);
    madeFrom.delete(name);
    return domains.delete(name);
  }

  /** Records why an object takes no part (null: it does), and republishes its skip entries. */
  function skip(key: string, reason: string | null, changed: { skipped: boolean }): void {
    if (reason === null) reasons.delete(key);
    else reasons.set(key, reason);
    publish(key, changed);
  }

  function publish(key: string, changed: { skipped: boolean }): void {
    const reason = reasons.get(key);
    const refusals = objects.get(key)?.refusals ?? [];
    const next = reason === undefined ? refusals : [{ object: key, reason }, ...refusals];
    const previous = skipped.get(key) ?? [];
    if (sameSkips(previous, next)) return;
    if (next.length === 0) skipped.delete(key);
    else skipped.set(key, next);
    changed.skipped = true;
  }

  /** Removes an object's claim from the indexes; returns what it claimed (the seeds of re-resolution). */
  function unindex(key: string, claim: Candidate | null, seeds: Seeds): void {
    if (claim === null) return;
    byDomain.remove(claim.domain, key);
    seeds.domains.add(claim.domain);
    if (claim.data.listenPort !== null) {
      byPort.remove(claim.data.listenPort, key);
      seeds.ports.add(claim.data.listenPort);
    }
  }

  function index(key: string, claim: Candidate | null, seeds: Seeds): void {
    if (claim === null) return;
    byDomain.add(claim.domain, key);
    seeds.domains.add(claim.domain);
    if (claim.data.listenPort !== null) {
      byPort.add(claim.data.listenPort, key);
      seeds.ports.add(claim.data.listenPort);
    }
  }

  /** Every claim connected to the seeds through shared domains and listen ports. */
  function connected(seeds: Seeds): { claims: Candidate[]; domains: Set<string> } {
    const keys = new Set<string>();
    const seenDomains = new Set<string>();
    const seenPorts = new Set<number>();
    const domainQueue = [...seeds.domains];
    const portQueue = [...seeds.ports];
    while (domainQueue.length > 0 || portQueue.length > 0) {
      const next: string[] = [];
      for (const domain of domainQueue.splice(0)) {
        if (seenDomains.has(domain)) continue;
        seenDomains.add(domain);
        next.push(...byDomain.get(domain));
      }
      for (const port of portQueue.splice(0)) {
        if (seenPorts.has(port)) continue;
        seenPorts.add(port);
        next.push(...byPort.get(port));
      }
      for (const key of next) {
        if (keys.has(key)) continue;
        keys.add(key);
        const claim = objects.get(key)!.claim!;
        domainQueue.push(claim.domain);
        if (claim.data.listenPort !== null) portQueue.push(claim.data.listenPort);
      }
    }
    const claims = [...keys].map((key) => objects.get(key)!.claim!).sort(claimOrder);
    return { claims, domains: seenDomains };
  }

  /** Re-resolves a connected group of claims in claim order, as buildModel does for all of them. */
  function resolve(seeds: Seeds, changed: Changed): Set<string> {
    const group = connected(seeds);
    const won = new Map<string, Candidate>();
    const ports = new Map<number, string>();
    for (const c of group.claims) {
      const key = objectKey(c.set);
      const owner = won.get(c.domain);
      if (owner !== undefined) {
        skip(key, domainTaken(c.domain, owner.set), changed);
        continue;
      }
      const port = c.data.listenPort;
      if (port !== null) {
        const holder = reserved.get(port) ?? ports.get(port);
        if (holder !== undefined) {
          skip(key, portTaken(port, holder), changed);
          continue;
        }
        ports.set(port, portHolder(c));
      }
      skip(key, null, changed);
      won.set(c.domain, c);
    }
    // Domains whose winner changed: their base ids need their suffixes redone.
    const baseIds = new Set<string>();
    for (const domain of group.domains) {
      const before = winners.get(domain);
      const after = won.get(domain);
      if (before === after) continue;
      if (before !== undefined) {
        winners.delete(domain);
        byBaseId.remove(before.data.id, domain);
        baseIds.add(before.data.id);
      }
      if (after !== undefined) {
        winners.set(domain, after);
        byBaseId.add(after.data.id, domain);
        baseIds.add(after.data.id);
      } else if (removeDomain(domain)) {
        changed.domains.add(domain);
      }
    }
    return baseIds;
  }

  /** Gives the winners of each base id their ids in claim order (`id`, `id_2`, …), as buildModel does. */
  function assignIds(baseIds: Set<string>, changed: Changed): void {
    for (const base of baseIds) {
      const names = byBaseId.get(base);
      const claims = names.map((domain) => winners.get(domain)!).sort(claimOrder);
      claims.forEach((c, n) => {
        const id = n === 0 ? base : `${base}_${n + 1}`;
        const current = domains.get(c.domain);
        if (current !== undefined && current.id === id && madeFrom.get(c.domain) === c) return;
        const entry = id === c.data.id ? c.data : { ...c.data, id };
        indexListenPort(c.domain, current, entry);
        domains.set(c.domain, entry);
        madeFrom.set(c.domain, c);
        changed.domains.add(c.domain);
      });
    }
  }

  function apply(changes: SetChanges): StoreUpdate {
    const changed: Changed = { domains: new Set(), skipped: false };
    const seeds: Seeds = { domains: new Set(), ports: new Set() };
    for (const [key, set] of changes) {
      const previous = objects.get(key);
      if (previous?.set === set) continue;
      if (previous === undefined && set === null) continue;
      unindex(key, previous?.claim ?? null, seeds);
      if (set === null) {
        objects.delete(key);
        skip(key, null, changed);
        continue;
      }
      const refusals: Skipped[] = [];
      const result = candidate(set, resolved, (reason) => refusals.push({ object: key, reason }));
      const claim = result === null || typeof result === "string" ? null : result;
      objects.set(key, { set, claim, refusals: claim === null ? [] : refusals });
      skip(key, typeof result === "string" ? result : null, changed);
      index(key, claim, seeds);
    }
    if (seeds.domains.size > 0 || seeds.ports.size > 0) assignIds(resolve(seeds, changed), changed);
    if (changed.domains.size > 0 || changed.skipped) built = null;
    return changed;
  }

  function model(): Model {
    if (built !== null) return built;
    const domainsAt = domains.version();
    const skippedAt = skipped.version();
    let domainsRecord: Record<string, Domain> | undefined;
    let skippedList: Skipped[] | undefined;
    const value = {} as Model;
    Object.defineProperties(value, {
      domains: {
        enumerable: true,
        get: () => {
          if (domainsRecord !== undefined) return domainsRecord;
          const at = domainsAt.read();
          return domainsRecord = Object.fromEntries(
            [...at.keys()].sort().map((name) => [name, at.get(name)!]),
          );
        },
      },
      skipped: {
        enumerable: true,
        get: () => skippedList ??= [...skippedAt.read().values()].flat().sort(skippedOrder),
      },
    });
    built = value;
    return value;
  }

  return {
    apply,
    replaceAll(sets) {
      const changes = new Map<string, EndpointSet | null>();
      const seen = new Set<string>();
      for (const set of sets) {
        const key = objectKey(set);
        seen.add(key);
        if (objects.get(key)?.set !== set) changes.set(key, set);
      }
      for (const key of objects.keys()) if (!seen.has(key)) changes.set(key, null);
      return apply(changes);
    },
    domain: (name) => domains.get(name),
    domainCount: () => domains.size,
    listenPorts: () => ({
      ports: listenPorts,
      version: listenPortsVersion,
      domain: (name) => domains.get(name),
    }),
    model,
  };
}

function sameSkips(a: readonly Skipped[], b: readonly Skipped[]): boolean {
  return a.length === b.length && a.every((s, i) => s.object === b[i]?.object && s.reason === b[i]?.reason);
}

interface Seeds {
  domains: Set<string>;
  ports: Set<number>;
}

interface Changed {
  domains: Set<string>;
  skipped: boolean;
}

/** A step between two versions: the entries it changed, with their values before it. */
interface Step<K, V> {
  before: Map<K, V | undefined>;
  next: Step<K, V> | null;
}

/** A version of a {@linkcode VersionedMap}, readable after the map has moved on. */
export interface MapVersion<K, V> {
  /** The map's entries as they were at this version (built on each call: O(size)). */
  read(): Map<K, V>;
}

/**
 * A Map whose past versions stay readable at the cost of what changed since: every change logs the
 * value it replaces in the current step; a version reads the live map and undoes the steps after it.
 * Versions nobody holds are collected with their steps.
 */
export class VersionedMap<K, V> {
  #live = new Map<K, V>();
  #step: Step<K, V> = { before: new Map(), next: null };

  /** The value of `key`. */
  get(key: K): V | undefined {
    return this.#live.get(key);
  }

  /** Number of entries. */
  get size(): number {
    return this.#live.size;
  }

  /** Sets `key`, logging the value it replaces. */
  set(key: K, value: V): void {
    this.#log(key);
    this.#live.set(key, value);
  }

  /** Deletes `key`; true if it was there. */
  delete(key: K): boolean {
    if (!this.#live.has(key)) return false;
    this.#log(key);
    return this.#live.delete(key);
  }

  /** The current version; later changes do not show in it. */
  version(): MapVersion<K, V> {
    if (this.#step.before.size > 0) {
      // Changes from now on go to a new step: the ones before this version are not to be undone.
      const next: Step<K, V> = { before: new Map(), next: null };
      this.#step.next = next;
      this.#step = next;
    }
    const step = this.#step;
    const live = this.#live;
    return {
      read() {
        const undo = new Map<K, V | undefined>();
        for (let s: Step<K, V> | null = step; s !== null; s = s.next) {
          for (const [key, before] of s.before) if (!undo.has(key)) undo.set(key, before);
        }
        const out = new Map(live);
        for (const [key, before] of undo) {
          if (before === undefined) out.delete(key);
          else out.set(key, before);
        }
        return out;
      },
    };
  }

  #log(key: K): void {
    if (!this.#step.before.has(key)) this.#step.before.set(key, this.#live.get(key));
  }
}
