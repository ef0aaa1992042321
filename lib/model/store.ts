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
import { type EndpointSet, fitted } from "./endpoints.ts";
import {
  type Candidate,
  candidate,
  claimOrder,
  type Domain,
  domainTaken,
  hostLeads,
  hostTlsDiffers,
  type Model,
  type ModelOptions,
  portHolder,
  portTaken,
  RESERVED_HOLDER,
  resolveModelOptions,
  skipEntry,
  type Skipped,
  skippedOrder,
  withHostLead,
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
  refusals: readonly Skipped[];
}

// One empty list for the objects whose every address is a server (nearly all): 40 bytes less for each.
const NO_REFUSALS: readonly Skipped[] = Object.freeze([]);

/** The key (`namespace/name`) a set is kept under: the key of {@linkcode SetChanges}. */
export function objectKey(set: EndpointSet): string {
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

  /** Pushes the values of `key` onto `list` (no array of its own, as {@linkcode MultiMap.get} makes). */
  addTo(key: K, list: V[]): void {
    const held = this.#map.get(key);
    if (held instanceof Set) list.push(...held);
    else if (held !== undefined) list.push(held);
  }

  /** One value of `key` (the only one, nearly always), or undefined. */
  first(key: K): V | undefined {
    const held = this.#map.get(key);
    return held instanceof Set ? held.values().next().value : held;
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
  return new IncrementalModel(options);
}

/** The store's state: the objects, the indexes that connect their claims, and the entries made from them. */
class IncrementalModel implements ModelStore {
  readonly #options: ReturnType<typeof resolveModelOptions>;
  readonly #reserved = new Map<number, string>(); // port → who holds it
  readonly #objects = new Map<string, Entry>();
  readonly #byDomain = new MultiMap<string, string>(); // domain → keys of the objects claiming it
  readonly #byPort = new MultiMap<number, string>(); // listen port → keys of the objects claiming it
  readonly #byHost = new MultiMap<string, string>(); // host → keys of the objects claiming a route of it
  readonly #hostWinners = new MultiMap<string, string>(); // host → domains (with a winner) of it
  readonly #byBaseId = new MultiMap<string, string>(); // base id → domains (with a winner) having it
  readonly #winners = new Map<string, Candidate>(); // domain → winning claim
  readonly #domains = new VersionedMap<string, Domain>();
  readonly #madeFrom = new Map<string, Candidate>(); // domain → the claim its entry was made from
  // object key → its skip entries: why it takes no part (if so), then its refused addresses
  readonly #skipped = new VersionedMap<string, readonly Skipped[]>();
  readonly #reasons = new Map<string, string>(); // object key → why it takes no part
  readonly #listenPorts = new Map<number, string>(); // listen port → the domain whose entry has it
  #listenPortsVersion = 0;
  #built: Model | null = null;

  constructor(options: ModelOptions) {
    this.#options = resolveModelOptions(options);
    for (const r of this.#options.reservedPorts) {
      if (typeof r === "number") this.#reserved.set(r, RESERVED_HOLDER);
      else this.#reserved.set(r.port, r.by);
    }
  }

  apply(changes: SetChanges): StoreUpdate {
    const changed: Changed = { domains: new Set(), skipped: false };
    const seeds: Seeds = { domains: new Set(), ports: new Set() };
    for (const [key, set] of changes) {
      const previous = this.#objects.get(key);
      if (previous?.set === set) continue;
      if (previous === undefined && set === null) continue;
      this.#unindex(key, previous?.claim ?? null, seeds);
      if (set === null) {
        this.#objects.delete(key);
        this.#skip(key, null, changed);
        continue;
      }
      const refusals: Skipped[] = [];
      const result = candidate(
        set,
        this.#options,
        (reason, address) => refusals.push(skipEntry(key, reason, address)),
        key,
      );
      const claim = result === null || typeof result === "string" ? null : result;
      this.#objects.set(key, {
        set,
        claim,
        refusals: claim === null || refusals.length === 0 ? NO_REFUSALS : fitted(refusals),
      });
      this.#skip(key, typeof result === "string" ? result : null, changed);
      this.#index(key, claim, seeds);
    }
    if (seeds.domains.size > 0 || seeds.ports.size > 0) {
      const { baseIds, hosts } = this.#resolve(seeds, changed);
      this.#assignIds(baseIds, hosts, changed);
      this.#markLeads(hosts, changed);
    }
    if (changed.domains.size > 0 || changed.skipped) this.#built = null;
    return changed;
  }

  replaceAll(sets: Iterable<EndpointSet>): StoreUpdate {
    const changes = new Map<string, EndpointSet | null>();
    const seen = new Set<string>();
    for (const set of sets) {
      const key = objectKey(set);
      seen.add(key);
      if (this.#objects.get(key)?.set !== set) changes.set(key, set);
    }
    for (const key of this.#objects.keys()) if (!seen.has(key)) changes.set(key, null);
    return this.apply(changes);
  }

  // A property, not a method: callers hand it on as a function (the fragment renderer's lookup).
  readonly domain = (name: string): Domain | undefined => this.#domains.get(name);

  domainCount(): number {
    return this.#domains.size;
  }

  listenPorts(): ListenPorts {
    return {
      ports: this.#listenPorts,
      version: this.#listenPortsVersion,
      domain: (name) => this.#domains.get(name),
    };
  }

  model(): Model {
    this.#built ??= lazyModel(this.#domains.version(), this.#skipped.version());
    return this.#built;
  }

  /** Keeps the listen-port index in step with a domain's entry going from `before` to `after`. */
  #indexListenPort(name: string, before: Domain | undefined, after: Domain | undefined): void {
    const was = before?.listenPort ?? null;
    const now = after?.listenPort ?? null;
    // Another domain may have taken the port already in this update (claims re-resolve in any order).
    if (was !== null && was !== now && this.#listenPorts.get(was) === name) {
      this.#listenPorts.delete(was);
      this.#listenPortsVersion++;
    }
    if (now !== null && this.#listenPorts.get(now) !== name) {
      this.#listenPorts.set(now, name);
      this.#listenPortsVersion++;
    }
  }

  /** Removes a domain's entry (and its listen port); whether it had one. */
  #removeDomain(name: string): boolean {
    const entry = this.#domains.get(name);
    if (entry === undefined) return false;
    this.#indexListenPort(name, entry, undefined);
    this.#madeFrom.delete(name);
    return this.#domains.delete(name);
  }

  /** Records why an object takes no part (null: it does), and republishes its skip entries. */
  #skip(key: string, reason: string | null, changed: { skipped: boolean }): void {
    if (reason === null) this.#reasons.delete(key);
    else this.#reasons.set(key, reason);
    const why = this.#reasons.get(key);
    const refusals = this.#objects.get(key)?.refusals ?? [];
    const next = why === undefined ? refusals : [{ object: key, reason: why }, ...refusals];
    const previous = this.#skipped.get(key) ?? [];
    if (sameSkips(previous, next)) return;
    if (next.length === 0) this.#skipped.delete(key);
    else this.#skipped.set(key, next);
    changed.skipped = true;
  }

  /** Removes an object's claim from the indexes; what it claimed becomes a seed of re-resolution. */
  #unindex(key: string, claim: Candidate | null, seeds: Seeds): void {
    if (claim === null) return;
    this.#byDomain.remove(claim.domain, key);
    this.#byHost.remove(claim.data.host, key);
    seeds.domains.add(claim.domain);
    if (claim.data.listenPort !== null) {
      this.#byPort.remove(claim.data.listenPort, key);
      seeds.ports.add(claim.data.listenPort);
    }
  }

  #index(key: string, claim: Candidate | null, seeds: Seeds): void {
    if (claim === null) return;
    this.#byDomain.add(claim.domain, key);
    this.#byHost.add(claim.data.host, key);
    seeds.domains.add(claim.domain);
    if (claim.data.listenPort !== null) {
      this.#byPort.add(claim.data.listenPort, key);
      seeds.ports.add(claim.data.listenPort);
    }
  }

  /** Every claim connected to the seeds through shared domains, hosts and listen ports. */
  #connected(seeds: Seeds): { claims: Candidate[]; domains: Set<string>; hosts: Set<string> } {
    const keys = new Set<string>();
    const seenDomains = new Set<string>();
    const seenHosts = new Set<string>();
    const seenPorts = new Set<number>();
    const domainQueue = [...seeds.domains];
    const portQueue = [...seeds.ports];
    while (domainQueue.length > 0 || portQueue.length > 0) {
      const next: string[] = [];
      for (const domain of domainQueue.splice(0)) {
        if (seenDomains.has(domain)) continue;
        seenDomains.add(domain);
        this.#byDomain.addTo(domain, next);
        const host = this.#hostOf(domain);
        if (host === undefined || seenHosts.has(host)) continue;
        seenHosts.add(host);
        this.#byHost.addTo(host, next);
      }
      for (const port of portQueue.splice(0)) {
        if (seenPorts.has(port)) continue;
        seenPorts.add(port);
        this.#byPort.addTo(port, next);
      }
      for (const key of next) {
        if (keys.has(key)) continue;
        keys.add(key);
        const claim = this.#objects.get(key)!.claim!;
        domainQueue.push(claim.domain);
        if (claim.data.listenPort !== null) portQueue.push(claim.data.listenPort);
      }
    }
    const claims = [...keys].map((key) => this.#objects.get(key)!.claim!).sort(claimOrder);
    return { claims, domains: seenDomains, hosts: seenHosts };
  }

  /** The host of a domain key: its claims', or (once none is left) the winner's it had. */
  #hostOf(domain: string): string | undefined {
    const key = this.#byDomain.first(domain);
    return key === undefined
      ? this.#winners.get(domain)?.data.host
      : this.#objects.get(key)?.claim?.data.host;
  }

  /**
   * Re-resolves a connected group of claims in claim order, as buildModel does for all of them; the base
   * ids whose suffixes must be redone and the hosts whose leads may have changed.
   */
  #resolve(seeds: Seeds, changed: Changed): { baseIds: Set<string>; hosts: Set<string> } {
    const group = this.#connected(seeds);
    const won = new Map<string, Candidate>();
    const hosts = new Map<string, Candidate>();
    const ports = new Map<number, string>();
    for (const c of group.claims) {
      const owner = won.get(c.domain);
      if (owner !== undefined) {
        this.#skip(c.key, domainTaken(c.domain, owner.set), changed);
        continue;
      }
      const hostOwner = hosts.get(c.data.host);
      if (hostOwner !== undefined && hostOwner.tlsClaim !== c.tlsClaim) {
        this.#skip(c.key, hostTlsDiffers(c, hostOwner), changed);
        continue;
      }
      const port = c.data.listenPort;
      if (port !== null) {
        const holder = this.#reserved.get(port) ?? ports.get(port);
        if (holder !== undefined) {
          this.#skip(c.key, portTaken(port, holder), changed);
          continue;
        }
        ports.set(port, portHolder(c));
      }
      this.#skip(c.key, null, changed);
      won.set(c.domain, c);
      if (!hosts.has(c.data.host)) hosts.set(c.data.host, c);
    }
    for (const c of group.claims) group.hosts.add(c.data.host);
    return { baseIds: this.#newWinners(group.domains, won, changed), hosts: group.hosts };
  }

  /** Records the group's winners; the base ids whose suffixes must be redone. */
  #newWinners(domains: Set<string>, won: Map<string, Candidate>, changed: Changed): Set<string> {
    const baseIds = new Set<string>();
    for (const domain of domains) {
      const before = this.#winners.get(domain);
      const after = won.get(domain);
      if (before === after) continue;
      if (before !== undefined) {
        this.#winners.delete(domain);
        this.#byBaseId.remove(before.data.id, domain);
        this.#hostWinners.remove(before.data.host, domain);
        baseIds.add(before.data.id);
      }
      if (after !== undefined) {
        this.#winners.set(domain, after);
        this.#byBaseId.add(after.data.id, domain);
        this.#hostWinners.add(after.data.host, domain);
        baseIds.add(after.data.id);
      } else if (this.#removeDomain(domain)) {
        changed.domains.add(domain);
      }
    }
    return baseIds;
  }

  /**
   * Gives the winners of each base id their ids in claim order (`id`, `id_2`, …), as buildModel does;
   * the hosts of the entries made are added to `hosts` (their lead marks are redone).
   */
  #assignIds(baseIds: Set<string>, hosts: Set<string>, changed: Changed): void {
    for (const base of baseIds) {
      const names = this.#byBaseId.get(base);
      const claims = names.map((domain) => this.#winners.get(domain)!).sort(claimOrder);
      claims.forEach((c, n) => {
        const id = n === 0 ? base : `${base}_${n + 1}`;
        const current = this.#domains.get(c.domain);
        if (current !== undefined && current.id === id && this.#madeFrom.get(c.domain) === c) return;
        const entry = id === c.data.id ? c.data : { ...c.data, id };
        this.#indexListenPort(c.domain, current, entry);
        this.#domains.set(c.domain, entry);
        this.#madeFrom.set(c.domain, c);
        hosts.add(c.data.host);
        changed.domains.add(c.domain);
      });
    }
  }

  /** Marks each host's lead among its winners' entries (lib/model/model.ts's withHostLead). */
  #markLeads(hosts: Set<string>, changed: Changed): void {
    for (const host of hosts) {
      const names = this.#hostWinners.get(host);
      const lead = hostLeads(names.map((name) => [name, { host }])).get(host);
      for (const name of names) {
        const current = this.#domains.get(name);
        if (current === undefined || lead === undefined) continue;
        const entry = withHostLead(current, name, lead);
        if (entry === current) continue;
        this.#domains.set(name, entry);
        changed.domains.add(name);
      }
    }
  }
}

/**
 * The model at these versions, its `domains` and `skipped` built on first read, so that a pass that never
 * reads them does not pay for them.
 */
function lazyModel(
  domainsAt: MapVersion<string, Domain>,
  skippedAt: MapVersion<string, readonly Skipped[]>,
): Model {
  let domainsRecord: Record<string, Domain> | undefined;
  let skippedList: Skipped[] | undefined;
  const value = {} as Model;
  Object.defineProperties(value, {
    domains: {
      enumerable: true,
      get: () => {
        if (domainsRecord !== undefined) return domainsRecord;
        const at = domainsAt.read();
        return domainsRecord = Object.fromEntries([...at.keys()].sort().map((name) => [name, at.get(name)!]));
      },
    },
    skipped: {
      enumerable: true,
      get: () => skippedList ??= [...skippedAt.read().values()].flat().sort(skippedOrder),
    },
  });
  return value;
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
  /** Whether a version reads through this step: until one does, its changes need no log. */
  read: boolean;
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
  #step: Step<K, V> = { before: new Map(), next: null, read: false };

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
      const next: Step<K, V> = { before: new Map(), next: null, read: false };
      this.#step.next = next;
      this.#step = next;
    }
    const step = this.#step;
    step.read = true;
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
    // Before any version is taken (the first list fills the map), nothing can read the log.
    if (this.#step.read && !this.#step.before.has(key)) this.#step.before.set(key, this.#live.get(key));
  }
}
