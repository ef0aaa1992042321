/**
 * A source whose endpoint sets carry their TLS termination: each set that asks for a Secret
 * (`haconfd.io/tls-secret`) gets the {@linkcode HostTls} judged from the Secrets the inner source holds and
 * the time now (lib/model/tls.ts), and a set whose termination changed (a Secret renewed, deleted, expired)
 * is reported as changed even when the object itself did not, so the model and its templates follow.
 * Certificates are parsed once per Secret digest.
 *
 * ```ts
 * const source = new TlsSource(kubeSource, { certDir });
 * const files = source.certificates();   // file name → bundle, for lib/apply/cert_files.ts
 * ```
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import type { EndpointSet } from "../model/endpoints.ts";
import { DomainName, Proto } from "../model/model.ts";
import { type KeyMaterial, parseCertificate, type ParsedCertificate } from "../model/certificate.ts";
import type { SecretView } from "../model/secret_view.ts";
import {
  type DefaultTls,
  defaultTls,
  type HostTls,
  hostTls,
  type TlsLookup,
  type TlsRequested,
} from "../model/tls.ts";
import { type TlsAnnotations, tlsAnnotations } from "../model/tls_annotations.ts";
import type { Source, SourceStatus } from "./source.ts";
import { type Logger, silentLogger } from "../log.ts";

/** A source that may hold TLS Secrets (the Kubernetes source does). */
export type SecretSource = Source & { secrets?(): SecretView[] };

/** Options of {@linkcode TlsSource}. */
export interface TlsSourceOptions {
  /** Now, ms since the epoch. @default {Date.now} */
  now?: () => number;
  /** Where refusals and expiry warnings go (once per change). @default {silentLogger} */
  log?: Logger;
  /** The default certificate's Secret, `namespace/name` (`--default-certificate`), if it is one. */
  defaultSecret?: string;
}

/** The default certificate Secret as judged now, with its bundle while it serves. */
export interface DefaultCertificate {
  /** What status shows. */
  tls: DefaultTls;
  /** Chain and key, while `tls.mode` is `terminate`. */
  bundle: KeyMaterial | null;
}

interface Request {
  set: EndpointSet;
  domain: string;
  request: TlsAnnotations;
}

function keyOf(set: EndpointSet): string {
  return `${set.namespace}/${set.name}`;
}

/** The set's valid TLS request with its domain, or null (invalid ones are refused by the model). */
function requestOf(set: EndpointSet): Request | null {
  const domain = DomainName.safeParse(set.annotations["haconfd.io/domain"] ?? set.annotations["domain"]);
  const proto = Proto.safeParse(set.annotations["haconfd.io/proto"] ?? set.annotations["proto"]);
  if (!domain.success || !proto.success) return null;
  const request = tlsAnnotations(set.annotations, proto.data, ipaddr.isValid(domain.data));
  return request === null || typeof request === "string" ? null : { set, domain: domain.data, request };
}

/** See the module documentation. */
export class TlsSource implements Source {
  readonly #inner: SecretSource;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #o: TlsSourceOptions;
  readonly #parsed = new Map<string, ParsedCertificate | string>();
  readonly #requests = new Map<string, Request>();
  readonly #judged = new Map<string, { tls: HostTls; json: string }>();
  #bundles = new Map<string, KeyMaterial>();
  #defaultJson: string | null = null;

  /** Wraps `inner`. */
  constructor(inner: SecretSource, options: TlsSourceOptions = {}) {
    this.#inner = inner;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? silentLogger;
    this.#o = options;
  }

  /** See {@linkcode Source.run}. */
  run(signal: AbortSignal): Promise<void> {
    return this.#inner.run(signal);
  }

  /** See {@linkcode Source.onChange}. */
  onChange(listener: () => void): void {
    this.#inner.onChange(listener);
  }

  /** See {@linkcode Source.status}. */
  status(): SourceStatus {
    return this.#inner.status();
  }

  /** The inner snapshot, each set that asks for TLS carrying its termination. */
  snapshot(): EndpointSet[] {
    const sets = this.#inner.snapshot();
    this.#requests.clear();
    for (const set of sets) this.#track(keyOf(set), set);
    this.#judgeAll();
    return sets.map((set) => this.#joined(set));
  }

  /** The inner changes, plus the sets whose termination changed; null when the inner source cannot say. */
  takeChanges(): Map<string, EndpointSet | null> | null {
    const changes = this.#inner.takeChanges?.() ?? null;
    if (changes === null) return null;
    for (const [key, set] of changes) this.#track(key, set);
    const changed = this.#judgeAll();
    const out = new Map<string, EndpointSet | null>();
    for (const [key, set] of changes) out.set(key, set === null ? null : this.#joined(set));
    for (const key of changed) if (!out.has(key)) out.set(key, this.#joined(this.#requests.get(key)!.set));
    return out;
  }

  /** The certificate bundles of the terminated domains, by file name (as of the last snapshot or changes). */
  certificates(): ReadonlyMap<string, KeyMaterial> {
    return this.#bundles;
  }

  /**
   * The default certificate Secret judged now from the Secrets held (null without one); a change of its
   * judgement is logged once (a warning when it cannot serve or expires soon).
   */
  defaultCertificate(): DefaultCertificate | null {
    const secret = this.#o.defaultSecret;
    if (secret === undefined) return null;
    const view = (this.#inner.secrets?.() ?? []).find((s) => `${s.namespace}/${s.name}` === secret);
    const lookup: TlsLookup = {
      secrets: new Map(view === undefined ? [] : [[secret, view]]),
      parse: (s) => this.#parse(s),
      now: this.#now(),
    };
    const tls = defaultTls(secret, lookup);
    const json = JSON.stringify(tls);
    if (json !== this.#defaultJson) {
      this.#defaultJson = json;
      if (tls.reason !== null) {
        this.#log.warn("default certificate refused: clients without a known SNI are refused", {
          object: secret,
          reason: tls.reason,
        });
      } else if (tls.warning !== null) {
        this.#log.warn("certificate expires soon", { object: secret, warning: tls.warning });
      } else {this.#log.info("default certificate served", {
          object: secret,
          serial: tls.certificate?.serial,
        });}
    }
    const parsed = tls.mode === "terminate" && view !== undefined ? this.#parse(view) : null;
    return { tls, bundle: parsed === null || typeof parsed === "string" ? null : parsed.bundle };
  }

  /** Every domain that asks for TLS, with its termination (as of the last snapshot or changes). */
  hosts(): [string, HostTls][] {
    return [...this.#requests].map(([key, r]) => [r.domain, this.#judged.get(key)!.tls]);
  }

  #track(key: string, set: EndpointSet | null): void {
    const request = set === null ? null : requestOf(set);
    if (request === null) {
      this.#requests.delete(key);
      this.#judged.delete(key);
    } else this.#requests.set(key, request);
  }

  #parse(secret: SecretView): ParsedCertificate | string {
    let parsed = this.#parsed.get(secret.digest);
    if (parsed === undefined) {
      this.#parsed.set(secret.digest, parsed = parseCertificate(secret.cert, secret.key.reveal()));
    }
    return parsed;
  }

  /** Judges every request again (Secrets or the time may have changed); the keys whose result changed. */
  #judgeAll(): string[] {
    const held = this.#inner.secrets?.() ?? [];
    const secrets = new Map(held.map((s) => [`${s.namespace}/${s.name}`, s]));
    const lookup: TlsLookup = { secrets, parse: (s) => this.#parse(s), now: this.#now() };
    const changed: string[] = [];
    const bundles = new Map<string, KeyMaterial>();
    for (const [key, { set, domain, request }] of this.#requests) {
      const tls = hostTls(request, set.namespace, domain, lookup);
      const json = JSON.stringify(tls);
      if (this.#judged.get(key)?.json !== json) {
        changed.push(key);
        this.#report(key, domain, tls);
      }
      this.#judged.set(key, { tls, json });
      const parsed = tls.file === null ? undefined : this.#parse(secrets.get(tls.secret)!);
      if (parsed !== undefined && typeof parsed !== "string") bundles.set(tls.file!, parsed.bundle);
    }
    const live = new Set(held.map((s) => s.digest));
    for (const digest of this.#parsed.keys()) if (!live.has(digest)) this.#parsed.delete(digest);
    this.#bundles = bundles;
    return changed;
  }

  #report(object: string, domain: string, tls: HostTls): void {
    if (tls.reason !== null) {
      this.#log.warn("TLS termination refused", { object, domain, reason: tls.reason });
    } else if (tls.warning !== null) {
      this.#log.warn("certificate expires soon", { object, domain, warning: tls.warning });
    }
  }

  #joined(set: EndpointSet): EndpointSet {
    const judged = this.#judged.get(keyOf(set));
    return judged === undefined ? set : { ...set, tls: judged.tls } as TlsRequested;
  }
}
