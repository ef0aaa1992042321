/**
 * A `kubernetes.io/tls` Secret's certificate chain and key, judged as a pure function of their bytes and
 * an injected time: the chain parses (X.509, leaf first, each certificate issued by the next), the key is
 * the leaf's, the leaf covers the host name (DNS subjectAltNames, RFC 6125 wildcards), it is valid now;
 * expiring within 14 days is a warning. The result is a record fit for status (subject, issuer, serial,
 * names, expiry) and the PEM bundle HAProxy loads, sealed so that it never serialises or prints.
 *
 * No message made here quotes the Secret's bytes: a key pasted into `tls.crt` must not reach a log line.
 *
 * ```ts
 * const checked = checkCertificate(crt, key, "a.example.test", { now: Date.now() });
 * if (!checked.ok) log.warn("certificate refused", { reason: checked.reason });
 * ```
 *
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import type * as X509 from "@peculiar/x509";
import { z } from "zod";

// A large module (~0.2 s to load): loaded by the daemons that terminate TLS only, not at every start.
let x509: typeof X509 | undefined;

/** Loads the X.509 parser that {@linkcode parseCertificate} and {@linkcode checkCertificate} need. */
export async function loadCertificateParser(): Promise<void> {
  x509 ??= await import("@peculiar/x509");
}

function parser(): typeof X509 {
  if (x509 === undefined) throw new Error("certificates parsed before loadCertificateParser()");
  return x509;
}

/** A certificate that expires within this many milliseconds is a warning (14 days). */
export const EXPIRY_WARNING_MS = 14 * 24 * 3600 * 1000;

/** What status shows of a certificate: never key material. */
export const CertificateRecord = z.object({
  /** Leaf subject DN, e.g. `CN=a.example.test`. */
  subject: z.string(),
  /** Leaf issuer DN. */
  issuer: z.string(),
  /** Leaf serial number, lower-case hex without separators (as `show ssl cert` prints it, upper-cased). */
  serial: z.string(),
  /** Start of validity, ISO 8601. */
  notBefore: z.string(),
  /** End of validity, ISO 8601. */
  notAfter: z.string(),
  /** DNS subjectAltNames of the leaf, lower-cased. */
  names: z.array(z.string()),
  /** SHA-256 of the leaf's DER, hex: tells a renewed certificate from the old one. */
  fingerprint: z.string(),
});
/** What status shows of a certificate. */
export type CertificateRecord = z.infer<typeof CertificateRecord>;

/**
 * A PEM bundle (certificate chain, then the key) that serialises, prints and stringifies as a
 * placeholder: only {@linkcode KeyMaterial.reveal} gives the text, for the file HAProxy reads.
 */
export class KeyMaterial {
  readonly #pem: string;
  /** Wraps `pem`. */
  constructor(pem: string) {
    this.#pem = pem;
  }
  /** The PEM text, for writing the file HAProxy loads (and its Runtime API payload). */
  reveal(): string {
    return this.#pem;
  }
  /** A placeholder: JSON never carries key material. */
  toJSON(): string {
    return "[key material]";
  }
  /** A placeholder for string conversion. */
  toString(): string {
    return "[key material]";
  }
  /** A placeholder for Deno.inspect / console. */
  [Symbol.for("Deno.customInspect")](): string {
    return "[key material]";
  }
}

/** A certificate and key that parse and belong together (not yet judged against a host or a time). */
export interface ParsedCertificate {
  /** What status shows. */
  record: CertificateRecord;
  /** Chain then key, PEM, re-encoded from the parsed DER (nothing else of the Secret's bytes). */
  bundle: KeyMaterial;
}

/** The outcome of {@linkcode checkCertificate}: usable (maybe with a warning) or refused with a reason. */
export type CertificateCheck =
  | { ok: true; record: CertificateRecord; bundle: KeyMaterial; warning?: string }
  | { ok: false; reason: string; record?: CertificateRecord };

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END \1-----/g;
const KEY_LABELS = new Set(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]);

interface PemBlock {
  label: string;
  body: string;
}

function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ label: m[1]!, body: m[2]!.replace(/\s+/g, "") }));
}

function pem(label: string, der: ArrayBuffer | Uint8Array): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function parseChain(certPem: string): X509.X509Certificate[] | string {
  const blocks = pemBlocks(certPem).filter((b) => b.label === "CERTIFICATE");
  if (blocks.length === 0) return "tls.crt holds no PEM certificate";
  const chain: X509.X509Certificate[] = [];
  const { X509Certificate } = parser();
  for (const [index, block] of blocks.entries()) {
    try {
      chain.push(new X509Certificate(block.body));
    } catch {
      return `tls.crt: certificate ${index + 1} of ${blocks.length} is not valid X.509`;
    }
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    if (chain[i]!.issuer !== chain[i + 1]!.subject) {
      return `tls.crt: certificate ${i + 1} was not issued by certificate ${
        i + 2
      } (the chain must be leaf first)`;
    }
  }
  return chain;
}

function parseKey(keyPem: string): KeyObject | string {
  const blocks = pemBlocks(keyPem).filter((b) => KEY_LABELS.has(b.label));
  if (blocks.length !== 1) return `tls.key holds ${blocks.length} PEM private keys, not one`;
  const block = blocks[0]!;
  try {
    return createPrivateKey(`-----BEGIN ${block.label}-----\n${block.body}\n-----END ${block.label}-----\n`);
  } catch {
    return "tls.key is not a valid unencrypted private key";
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function sha256Hex(data: ArrayBuffer): string {
  return createHash("sha256").update(new Uint8Array(data)).digest("hex");
}

function dnsNames(leaf: X509.X509Certificate): string[] {
  const san = leaf.getExtension(parser().SubjectAlternativeNameExtension);
  const names = san?.names.items.filter((n) => n.type === "dns").map((n) => n.value.toLowerCase()) ?? [];
  return [...new Set(names)].sort();
}

/**
 * Parses a Secret's `tls.crt` (PEM chain, leaf first) and `tls.key` (one unencrypted PEM key) and checks
 * that the key is the leaf's; a reason when they cannot serve.
 */
export function parseCertificate(certPem: string, keyPem: string): ParsedCertificate | string {
  const chain = parseChain(certPem);
  if (typeof chain === "string") return chain;
  const key = parseKey(keyPem);
  if (typeof key === "string") return key;
  const leaf = chain[0]!;
  const keyPublic = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  if (!sameBytes(keyPublic, new Uint8Array(leaf.publicKey.rawData))) {
    return "tls.key does not match the certificate's public key";
  }
  const record: CertificateRecord = {
    subject: leaf.subject,
    issuer: leaf.issuer,
    serial: leaf.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, ""),
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    names: dnsNames(leaf),
    fingerprint: sha256Hex(leaf.rawData),
  };
  const keyDer = key.export({ type: "pkcs8", format: "der" });
  const bundle = chain.map((c) => pem("CERTIFICATE", c.rawData)).join("") + pem("PRIVATE KEY", keyDer);
  return { record, bundle: new KeyMaterial(bundle) };
}

/**
 * Whether a DNS subjectAltName covers `host` (RFC 6125 §6.4): equal ignoring case and a trailing dot, or
 * a wildcard that is the whole left-most label (`*.w.example.test`) standing for exactly one label, with
 * at least two labels after it (`*.test` covers nothing). Partial wildcards (`f*.example.test`) and
 * wildcards elsewhere cover nothing.
 */
export function nameCovers(name: string, host: string): boolean {
  const pattern = name.toLowerCase().replace(/\.$/, "");
  const target = host.toLowerCase().replace(/\.$/, "");
  if (pattern === "" || target === "") return false;
  if (!pattern.includes("*")) return pattern === target;
  const labels = pattern.split(".");
  if (labels[0] !== "*" || labels.slice(1).some((l) => l.includes("*")) || labels.length < 3) return false;
  const dot = target.indexOf(".");
  return dot > 0 && target.slice(dot + 1) === labels.slice(1).join(".");
}

/** Whether any of `names` covers `host` ({@linkcode nameCovers}). */
export function coversHost(names: readonly string[], host: string): boolean {
  return names.some((name) => nameCovers(name, host));
}

/** Options of {@linkcode judgeCertificate} and {@linkcode checkCertificate}. */
export interface JudgeOptions {
  /** The time to judge validity at, ms since the epoch. */
  now: number;
  /** Expiring within this long is a warning. @default {EXPIRY_WARNING_MS} */
  warnWithinMs?: number;
}

/** A parsed certificate judged for `host` at `now`: a refusal reason, a warning, or neither. */
export function judgeCertificate(
  record: CertificateRecord,
  host: string,
  options: JudgeOptions,
): { refusal?: string; warning?: string } {
  if (!coversHost(record.names, host)) {
    const names = record.names.length === 0 ? "no DNS names" : record.names.map((n) => `"${n}"`).join(", ");
    return { refusal: `the certificate does not cover "${host}" (it names ${names})` };
  }
  return judgeValidity(record, options);
}

/** A parsed certificate judged at `now` for any name (a default certificate): valid, expiring, or not. */
export function judgeValidity(
  record: CertificateRecord,
  options: JudgeOptions,
): { refusal?: string; warning?: string } {
  const { now, warnWithinMs = EXPIRY_WARNING_MS } = options;
  const notAfter = Date.parse(record.notAfter);
  if (Date.parse(record.notBefore) > now) {
    return { refusal: `the certificate is valid only from ${record.notBefore}` };
  }
  if (notAfter <= now) return { refusal: `the certificate expired at ${record.notAfter}` };
  if (notAfter - now < warnWithinMs) {
    const days = Math.floor((notAfter - now) / (24 * 3600 * 1000));
    return { warning: `the certificate expires at ${record.notAfter} (in ${days} days)` };
  }
  return {};
}

/** {@linkcode parseCertificate} then {@linkcode judgeCertificate}: whether this pair can serve `host` now. */
export function checkCertificate(
  certPem: string,
  keyPem: string,
  host: string,
  options: JudgeOptions,
): CertificateCheck {
  const parsed = parseCertificate(certPem, keyPem);
  if (typeof parsed === "string") return { ok: false, reason: parsed };
  const { refusal, warning } = judgeCertificate(parsed.record, host, options);
  if (refusal !== undefined) return { ok: false, reason: refusal, record: parsed.record };
  return warning === undefined ? { ok: true, ...parsed } : { ok: true, ...parsed, warning };
}
