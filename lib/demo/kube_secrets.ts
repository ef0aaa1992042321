/**
 * Secrets in the test API server as kube-apiserver v1.26 stores and filters them (recordings 22, 23, 30 in
 * shared/kube-recorded/): `stringData` merged into `data` as padded base64 and never returned, `data`
 * keys sorted, a missing type becomes `Opaque`, a `kubernetes.io/tls` Secret needs both `tls.crt` and
 * `tls.key` (their content is not checked), key order metadata, data, type; field selectors over
 * `metadata.name`, `metadata.namespace` and `type`.
 *
 * @module
 */
import { isObject, type JsonObject, ordered, type ResourceType, StatusError } from "./kube_objects.ts";

/** The Secret type of TLS certificates. */
export const TLS_SECRET_TYPE = "kubernetes.io/tls";

/** Field labels a Secret field selector accepts (others: 400 "field label not supported"). */
export const SECRET_FIELD_LABELS: readonly string[] = ["metadata.name", "metadata.namespace", "type"];

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64OfText(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function checkedData(o: JsonObject): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(isObject(o.data) ? o.data : {})) {
    const text = typeof value === "string" ? value : "";
    if (!BASE64.test(text)) {
      const bad = text.search(/[^A-Za-z0-9+/=]/);
      throw new StatusError(
        400,
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte ' +
          String(bad === -1 ? text.length : bad),
        "BadRequest",
      );
    }
    data[key] = text;
  }
  for (const [key, value] of Object.entries(isObject(o.stringData) ? o.stringData : {})) {
    data[key] = base64OfText(typeof value === "string" ? value : "");
  }
  return data;
}

/** A Secret as the server stores it (kind/apiVersion already removed, metadata normalised). */
export function normalizeSecret(o: JsonObject): JsonObject {
  const data = checkedData(o);
  const type = typeof o.type === "string" && o.type !== "" ? o.type : "Opaque";
  if (type === TLS_SECRET_TYPE) {
    for (const key of ["tls.crt", "tls.key"]) {
      if (!(key in data)) {
        const name = String((o.metadata as JsonObject).name ?? "");
        throw new StatusError(422, `Secret "${name}" is invalid: data[${key}]: Required value`, "Invalid");
      }
    }
  }
  const rest: JsonObject = { ...o, type };
  delete rest.stringData;
  const keys = Object.keys(data).sort();
  if (keys.length > 0) rest.data = Object.fromEntries(keys.map((k) => [k, data[k]!]));
  else delete rest.data;
  return ordered(rest, ["metadata", "data", "type"]);
}

/** The field labels a resource's field selector accepts: Secrets add `type` (undefined: the default pair). */
export function fieldLabels(type: ResourceType): readonly string[] | undefined {
  return type.name === "secrets" ? SECRET_FIELD_LABELS : undefined;
}
