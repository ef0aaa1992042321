/**
 * Random clusters and event sequences for the property tests of the incremental model and render:
 * few domains and listen ports shared by many objects (so claims conflict), equal and missing creation
 * times, invalid annotations, refused addresses (multicast, link-local…), integer-like domains (which sort first as object keys), and a pair of
 * domains whose identifiers collide (same safe name, same hash: the `_2` suffix path). Seeded, so a
 * failure names a reproducible seed.
 *
 * @module
 */
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { domainId } from "../../lib/model/model.ts";

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Two DNS names with the same {@linkcode domainId} base (same safe name, same 32-bit FNV-1a hash), found
 * by searching the 2^18 ways of joining labels a…s with "." or "-"; checked on every call.
 */
export function collidingDomains(): [string, string] {
  const pair: [string, string] = [
    "a.b.c-d.e-f.g.h.i-j-k.l-m.n.o-p-q.r.s",
    "a.b-c.d.e-f-g-h-i.j.k.l-m-n-o.p.q-r.s",
  ];
  if (domainId(pair[0]) !== domainId(pair[1])) throw new Error("the colliding domains no longer collide");
  return pair;
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

/** A random object `name` (namespace from a small set). */
export function randomSet(random: () => number, name: string): EndpointSet {
  const domains = [
    "a.example.test",
    "b.example.test",
    "c.example.test",
    "d.example.test",
    "123",
    "7",
    "10.0.0.9",
    "fd00::9",
    ...collidingDomains(),
  ];
  const annotations: Record<string, string> = {};
  const roll = random();
  if (roll < 0.05) annotations.domain = "not a domain!";
  else if (roll < 0.1) {
    // no routing annotation at all
  } else annotations.domain = pick(random, domains);
  if (roll >= 0.05 && roll < 0.1) annotations.app = "x";
  else annotations.proto = pick(random, ["http", "http", "https", "redis", "mysql", "custom", "HTTP/2"]);
  if (annotations.proto === "custom" || random() < 0.2) {
    annotations["haconfd.io/listen-port"] = pick(random, ["80", "443", "6379", "7000", "7001", "0"]);
  }
  if (random() < 0.15) annotations["haconfd.io/port"] = pick(random, ["http", "metrics", "8080", "9999"]);
  // Settings: path routes sharing a host, sticky and allow (valid or not), so that claims per host and path
  // and the settings partials are exercised too.
  if (random() < 0.2) annotations["haconfd.io/path"] = pick(random, ["/api", "/api/v2", "/x", "api"]);
  // TLS requests that routes of one host agree on or not (the later claim is skipped).
  if (random() < 0.2) annotations["haconfd.io/tls-secret"] = pick(random, ["tls-a", "tls-b"]);
  if (random() < 0.1) annotations["haconfd.io/redirect-https"] = pick(random, ["true", "false"]);
  if (random() < 0.1) annotations["haconfd.io/sticky"] = pick(random, ["true", "s", "no way"]);
  if (random() < 0.1) annotations["haconfd.io/allow"] = pick(random, ["10.0.0.0/8", "10.0.0.0/8,::1", "any"]);
  const ips = Array.from(
    { length: Math.floor(random() * 4) },
    () => {
      const roll = random();
      if (roll < 0.1) return `fd00::${1 + Math.floor(random() * 5)}`;
      // Addresses that are never a server: skip entries of an otherwise usable object.
      if (roll < 0.15) return pick(random, ["0.0.0.0", "224.0.0.1", "169.254.1.1", "fe80::1"]);
      return `10.0.${Math.floor(random() * 3)}.${1 + Math.floor(random() * 20)}`;
    },
  );
  const ready = ips.filter(() => random() < 0.7);
  return {
    namespace: pick(random, ["default", "prod", "x"]),
    name,
    created: pick(random, ["", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    annotations,
    groups: random() < 0.1 ? [] : [{
      ports: random() < 0.3
        ? [{ name: "http", port: 8080 }, { name: "metrics", port: 9090 }]
        : [{ name: "http", port: 8080 }],
      addresses: ips.map((ip, i) => ({
        ip,
        ready: ready.includes(ip),
        ...(i % 2 ? { target: `pod-${i}` } : {}),
        ...(!ready.includes(ip) && i % 3 === 0 ? { draining: true } : {}),
      })),
    }],
  };
}

/** One event: an object (by `namespace/name`) set to a new version or deleted (null). */
export type RandomEvent = [key: string, set: EndpointSet | null];

/** A random event on a pool of `pool` object names. */
export function randomEvent(random: () => number, pool: number): RandomEvent {
  const set = randomSet(random, `svc-${Math.floor(random() * pool)}`);
  return [`${set.namespace}/${set.name}`, random() < 0.2 ? null : set];
}
