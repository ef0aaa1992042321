/**
 * The TLS annotations of a routed object, validated strictly (fail closed): `haconfd.io/tls-secret`
 * names a `kubernetes.io/tls` Secret in the object's own namespace whose certificate HAProxy serves for
 * the domain (proto `http` only: `https` means passthrough, the pod terminates), and
 * `haconfd.io/redirect-https: "true"` answers plain HTTP with a 308 to https (ACME HTTP-01 challenges
 * excepted), only for a terminated domain.
 *
 * @module
 */
import { z } from "zod";

/** Names the TLS Secret of a domain. */
export const TLS_SECRET_ANNOTATION = "haconfd.io/tls-secret";
/** `"true"`: redirect plain HTTP to https. */
export const REDIRECT_HTTPS_ANNOTATION = "haconfd.io/redirect-https";

/** A Secret name as the API allows it (DNS-1123 subdomain), exactly as written: no trimming. */
export const SecretName = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, {
  error: (i) => `${JSON.stringify(i.input)} is not a Secret name`,
});

const Flag = z.enum(["true", "false"], {
  error: (i) => `${JSON.stringify(i.input)} is not "true" or "false"`,
});

/** A domain's TLS settings: the Secret (in the object's namespace) and whether :80 redirects. */
export interface TlsAnnotations {
  /** The Secret's name. */
  secret: string;
  /** Whether plain HTTP gets a 308 to https. */
  redirect: boolean;
}

function message(error: z.ZodError): string {
  return error.issues[0]?.message ?? "invalid";
}

/**
 * The TLS settings of an object with these `annotations`, routed as `proto` for `domain`: null when it
 * sets neither annotation, a reason (naming the annotation) when they cannot be used.
 */
export function tlsAnnotations(
  annotations: Readonly<Record<string, string>>,
  proto: string,
  domainIsIp: boolean,
): TlsAnnotations | string | null {
  const rawSecret = annotations[TLS_SECRET_ANNOTATION];
  const rawRedirect = annotations[REDIRECT_HTTPS_ANNOTATION];
  if (rawSecret === undefined && rawRedirect === undefined) return null;
  let redirect = false;
  if (rawRedirect !== undefined) {
    const flag = Flag.safeParse(rawRedirect);
    if (!flag.success) return `annotation "${REDIRECT_HTTPS_ANNOTATION}": ${message(flag.error)}`;
    redirect = flag.data === "true";
  }
  if (rawSecret === undefined) {
    return redirect ? `annotation "${REDIRECT_HTTPS_ANNOTATION}" needs "${TLS_SECRET_ANNOTATION}"` : null;
  }
  const secret = SecretName.safeParse(rawSecret);
  if (!secret.success) return `annotation "${TLS_SECRET_ANNOTATION}": ${message(secret.error)}`;
  if (proto !== "http") {
    return `annotation "${TLS_SECRET_ANNOTATION}" needs proto "http" (proto "${proto}" ` +
      (proto === "https" ? "is passthrough: the pod terminates TLS)" : "is not terminated by HAProxy)");
  }
  if (domainIsIp) {
    return `annotation "${TLS_SECRET_ANNOTATION}": the domain is an IP address, but TLS is chosen by SNI, which carries host names only`;
  }
  return { secret: secret.data, redirect };
}
