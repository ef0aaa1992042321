/**
 * A `kubernetes.io/tls` Secret as the model sees it, source-neutral: who it is, its type, the PEM
 * certificate chain and the key (sealed in {@linkcode KeyMaterial}, so a store, a log line or a status
 * document that serialises the view shows no key), and a digest of both so that a store comparing
 * projections by JSON sees a renewal.
 *
 * @module
 */
import type { KeyMaterial } from "./certificate.ts";

/** A TLS Secret, projected. */
export interface SecretView {
  namespace: string;
  name: string;
  /** The Secret's type (the source asks for `kubernetes.io/tls` only; the model checks again). */
  type: string;
  /** `tls.crt`, PEM text (public). */
  cert: string;
  /** `tls.key`, PEM text, sealed. */
  key: KeyMaterial;
  /** SHA-256 over both, hex: changes whenever either does. */
  digest: string;
}
