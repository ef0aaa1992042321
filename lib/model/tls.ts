/**
 * Which domains HAProxy terminates TLS for, and with what: a domain whose object asks for a Secret
 * (`haconfd.io/tls-secret`, lib/model/tls_annotations.ts) terminates when that `kubernetes.io/tls` Secret
 * exists in the object's own namespace, its chain and key parse and belong together, and its certificate
 * covers the domain and is valid now (lib/model/certificate.ts); else the domain is refused with the reason
 * and keeps serving plain HTTP. Pure functions; the certificate files they name are written by
 * lib/apply/cert_files.ts.
 *
 * @module
 */
import { z } from "zod";
import { CertificateRecord, judgeCertificate, judgeValidity, type ParsedCertificate } from "./certificate.ts";
import type { EndpointSet } from "./endpoints.ts";
import type { SecretView } from "./secret_view.ts";
import type { TlsAnnotations } from "./tls_annotations.ts";

/** The Secret type that holds certificates. */
export const TLS_TYPE = "kubernetes.io/tls";

/** A domain's TLS termination, as templates and status see it (no key material). */
export const HostTls = z.object({
  /** The Secret asked for, `namespace/name` (always the object's own namespace). */
  secret: z.string(),
  /** Whether plain HTTP answers 308 to https (only while terminating). */
  redirect: z.boolean(),
  /** `terminate`: HAProxy serves the certificate; `refused`: it could not (see `reason`). */
  mode: z.enum(["terminate", "refused"]),
  /** Why the domain is not terminated, or null. */
  reason: z.string().nullable(),
  /** A warning while terminating (expires within 14 days), or null. */
  warning: z.string().nullable(),
  /** The certificate file's name in the cert dir (`namespace__name.pem`), null when refused. */
  file: z.string().nullable(),
  /** The certificate (subject, issuer, serial, expiry, names), when it parsed. */
  certificate: CertificateRecord.nullable(),
});
/** A domain's TLS termination. */
export type HostTls = z.infer<typeof HostTls>;

/** The file name of a Secret's certificate bundle: both names are DNS-1123, so `__` cannot be in either. */
export function certFileName(namespace: string, name: string): string {
  return `${namespace}__${name}.pem`;
}

/** What {@linkcode hostTls} reads: the Secrets by `namespace/name` and their parse (cached by the caller). */
export interface TlsLookup {
  /** The TLS Secrets held, by `namespace/name`. */
  secrets: ReadonlyMap<string, SecretView>;
  /** Parses a Secret (the caller caches by digest). */
  parse(secret: SecretView): ParsedCertificate | string;
  /** Now, ms since the epoch. */
  now: number;
}

/** The Secret `secret` (`namespace/name`) parsed, or why it cannot serve. */
function secretCertificate(
  secret: string,
  lookup: TlsLookup,
): { view: SecretView; parsed: ParsedCertificate } | { reason: string; record?: CertificateRecord } {
  const view = lookup.secrets.get(secret);
  if (view === undefined) {
    return {
      reason: `Secret "${secret}" of type ${TLS_TYPE} not found (a Secret only serves its own namespace)`,
    };
  }
  if (view.type !== TLS_TYPE) {
    return { reason: `Secret "${secret}" is of type "${view.type}", not ${TLS_TYPE}` };
  }
  const parsed = lookup.parse(view);
  return typeof parsed === "string" ? { reason: `Secret "${secret}": ${parsed}` } : { view, parsed };
}

/** The TLS termination of `domain`, served by an object in `namespace` that asked for `request`. */
export function hostTls(
  request: TlsAnnotations,
  namespace: string,
  domain: string,
  lookup: TlsLookup,
): HostTls {
  const secret = `${namespace}/${request.secret}`;
  const base = { secret, redirect: false, warning: null, file: null, certificate: null };
  const found = secretCertificate(secret, lookup);
  if ("reason" in found) return { ...base, mode: "refused", reason: found.reason };
  const { view, parsed } = found;
  const judged = judgeCertificate(parsed.record, domain, { now: lookup.now });
  if (judged.refusal !== undefined) {
    return {
      ...base,
      certificate: parsed.record,
      mode: "refused",
      reason: `Secret "${secret}": ${judged.refusal}`,
    };
  }
  return {
    ...base,
    redirect: request.redirect,
    mode: "terminate",
    reason: null,
    warning: judged.warning === undefined ? null : `Secret "${secret}": ${judged.warning}`,
    file: certFileName(view.namespace, view.name),
    certificate: parsed.record,
  };
}

/** The default certificate from a Secret (`--default-certificate namespace/name`), as status sees it. */
export const DefaultTls = z.object({
  /** The Secret, `namespace/name`. */
  secret: z.string(),
  /** `terminate`: clients without a known SNI get it; `refused`: they are refused (see `reason`). */
  mode: z.enum(["terminate", "refused"]),
  /** Why it is not served, or null. */
  reason: z.string().nullable(),
  /** A warning while served (expires within 14 days), or null. */
  warning: z.string().nullable(),
  /** The certificate, when it parsed. */
  certificate: CertificateRecord.nullable(),
});
/** The default certificate from a Secret. */
export type DefaultTls = z.infer<typeof DefaultTls>;

/**
 * The default certificate Secret `secret` (`namespace/name`) judged: it must exist, be of type
 * kubernetes.io/tls, parse with its key, and be valid now; it may name any host.
 */
export function defaultTls(secret: string, lookup: TlsLookup): DefaultTls {
  const base = { secret, warning: null, certificate: null };
  const found = secretCertificate(secret, lookup);
  if ("reason" in found) return { ...base, mode: "refused", reason: found.reason };
  const judged = judgeValidity(found.parsed.record, { now: lookup.now });
  const certificate = found.parsed.record;
  if (judged.refusal !== undefined) {
    return { ...base, certificate, mode: "refused", reason: `Secret "${secret}": ${judged.refusal}` };
  }
  const warning = judged.warning === undefined ? null : `Secret "${secret}": ${judged.warning}`;
  return { ...base, certificate, mode: "terminate", reason: null, warning };
}

/**
 * The crt-list HAProxy's TLS frontend loads: one line per terminated domain, `<dir>/<file> <domain>`, in
 * domain order (the SNI filter is the domain itself, so a wildcard certificate serves only the domains
 * that name its Secret).
 */
export function crtList(hosts: Iterable<[string, HostTls | null]>, dir: string): string {
  const lines: string[] = [];
  for (const [domain, tls] of [...hosts].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    if (tls?.mode === "terminate" && tls.file !== null) lines.push(`${dir}/${tls.file} ${domain}\n`);
  }
  return lines.join("");
}

/** An endpoint set with the TLS termination lib/source/tls_source.ts joined to it (never from a source). */
export type TlsRequested = EndpointSet & { tls?: HostTls };

/** The termination joined to `set`, or a refusal when nothing joined one (haconfd runs without --tls). */
export function tlsOf(set: TlsRequested, request: TlsAnnotations, namespace: string): HostTls {
  return set.tls ?? {
    secret: `${namespace}/${request.secret}`,
    redirect: false,
    mode: "refused",
    reason: "TLS termination is off (haconfd runs without --tls)",
    warning: null,
    file: null,
    certificate: null,
  };
}
