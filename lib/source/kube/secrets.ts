/**
 * v1 Secrets of type `kubernetes.io/tls`, listed and watched with that field selector (the API server
 * filters; an Opaque Secret never reaches haconfd) and projected at the edge to the PEM data and the
 * name: labels, annotations (kubectl's last-applied-configuration holds the data again) and every other
 * key are dropped. No problem text made here quotes the data.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { KeyMaterial } from "../../model/certificate.ts";
import type { SecretView } from "../../model/secret_view.ts";
import { describeIssues, ObjectMeta } from "./objects.ts";
import type { ResourceKind } from "./watch.ts";

/** The Secret type haconfd reads. */
export const TLS_SECRET_TYPE = "kubernetes.io/tls";

/** A v1 Secret (the fields haconfd uses). */
export const Secret = z.object({
  kind: z.literal("Secret").optional(),
  metadata: ObjectMeta,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).nullish(),
});
/** A v1 Secret (the fields haconfd uses). */
export type Secret = z.infer<typeof Secret>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decode(data: Record<string, string>, key: string): string | undefined {
  const value = data[key];
  if (value === undefined || !BASE64.test(value)) return undefined;
  const binary = atob(value);
  return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

/** Projects a validated Secret; a reason (naming the key, never its value) when its data is unusable. */
export function projectSecret(object: Secret): SecretView | string {
  const data = object.data ?? {};
  const cert = decode(data, "tls.crt");
  const key = decode(data, "tls.key");
  if (cert === undefined) return 'data "tls.crt" is missing or not base64';
  if (key === undefined) return 'data "tls.key" is missing or not base64';
  return {
    namespace: object.metadata.namespace,
    name: object.metadata.name,
    type: object.type ?? "Opaque",
    cert,
    key: new KeyMaterial(key),
    digest: createHash("sha256").update(cert).update("\0").update(key).digest("hex"),
  };
}

/** v1 Secrets of type kubernetes.io/tls, projected; `null` for any other type. */
export const SECRETS_KIND: ResourceKind<SecretView | null> = {
  resource: "secrets",
  kind: "Secret",
  group: "",
  version: "v1",
  fieldSelector: `type=${TLS_SECRET_TYPE}`,
  project(object) {
    const parsed = Secret.safeParse(object);
    if (!parsed.success) return `invalid Secret: ${describeIssues(parsed.error)}`;
    if (parsed.data.type !== TLS_SECRET_TYPE) return null;
    return projectSecret(parsed.data);
  },
};
