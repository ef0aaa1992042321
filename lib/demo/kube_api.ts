/**
 * The stateless parts of the test Kubernetes API server (`kube_server.ts`): URL routing, discovery
 * documents, authentication and authorization decisions, and the Status errors and tokens whose exact
 * text comes from the recordings of a real kube-apiserver v1.26.
 *
 * @module
 */
import type { HttpRequest } from "./kube_http.ts";
import {
  isObject,
  type JsonObject,
  type JsonValue,
  type ResourceName,
  RESOURCES,
  type ResourceType,
  StatusError,
} from "./kube_objects.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An authenticated (or anonymous) user. */
export interface KubeUser {
  /** User name (cert CN, token user, or `system:anonymous`). */
  name: string;
  /** Groups (cert O values or token groups, plus `system:authenticated` / `system:unauthenticated`). */
  groups: string[];
}

/** What a request asks to do, as handed to an {@linkcode Authorizer}. */
export interface RequestAttributes {
  /** get, list, watch, create, update, patch, delete (resources) or get (paths). */
  verb: string;
  /** True for resource requests, false for paths like /api. */
  resourceRequest: boolean;
  /** Resource name (plural). */
  resource?: string;
  /** API group ("" for core). */
  group?: string;
  /** Namespace, absent for cluster-scope requests. */
  namespace?: string;
  /** Object name for single-object requests. */
  name?: string;
  /** URL path. */
  path: string;
}

/** Decides whether `user` may do `attributes`. */
export type Authorizer = (user: KubeUser, attributes: RequestAttributes) => boolean;

/** One allow rule of an {@linkcode RbacTable}. */
export interface RbacRule {
  /** Allowed verbs, or "*". */
  verbs: string[] | "*";
  /** Allowed resources, or "*". */
  resources: string[] | "*";
  /** Namespaces the rule applies to (a cluster-scope request needs a rule without this). */
  namespaces?: string[];
}

/** Rules by user name, or by `group:NAME` for every member of a group. Anything not allowed is denied. */
export type RbacTable = Record<string, RbacRule[]>;

/** The authentication settings {@linkcode authenticate} needs. */
export interface AuthOptions {
  /** Bearer tokens: token -> user name or user. */
  tokens?: Record<string, string | { name: string; groups?: string[] }>;
}

/** The user of requests without credentials. */
export const ANONYMOUS = "system:anonymous";
/** Paths every user, anonymous included, may get. */
export const PUBLIC_PATHS = new Set(["/version", "/version/", "/healthz", "/livez", "/readyz"]);
/** The API Priority and Fairness headers the real server adds after authentication. */
export const FLOW_HEADERS = {
  "X-Kubernetes-Pf-Flowschema-Uid": "e2bea934-e98a-4006-b332-085cf4b12bfc",
  "X-Kubernetes-Pf-Prioritylevel-Uid": "078bb8d6-6ae4-4b00-9d03-2bda39b42f78",
};
/** The /version document. */
export const VERSION_INFO = {
  major: "1",
  minor: "26",
  gitVersion: "v1.26.5",
  gitCommit: "haconfd-test-kube-server",
  gitTreeState: "clean",
  buildDate: "2026-11-25T00:10:07Z",
  goVersion: "go1.19.8",
  compiler: "gc",
  platform: "linux/amd64",
};
/** storageVersionHash values of the served resources (from a real v1.26 server). */
export const STORAGE_HASHES: Record<ResourceName, string> = {
  endpoints: "fWeeMqaN/OA=",
  services: "0/CO1lhkEBI=",
  endpointslices: "Nx3SIv6I0mE=",
  secrets: "S6u1pOWzb84=",
  nodes: "XwShjMxG9Fs=",
};
/** Verbs listed in discovery for every served resource. */
export const ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** Now as a Kubernetes timestamp (RFC 3339, whole seconds). */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Go's strconv.ParseBool for query flags (false on anything unparsable). */
export function parseBool(value: string | null): boolean {
  return value !== null && ["1", "t", "T", "true", "TRUE", "True"].includes(value);
}

/** A resourceVersion as a number; undefined when not unsigned digits. */
export function parseRV(value: string): number | undefined {
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The server's message for an unparsable resourceVersion. */
export function invalidRV(value: string): string {
  return `resourceVersion: Invalid value: "${value}": strconv.ParseUint: parsing "${value}": invalid syntax`;
}

/** A continue token exactly like the real server's: base64url of {"v","rv","start"}. */
export function encodeContinue(rv: number, start: string): string {
  const json = JSON.stringify({ v: "meta.k8s.io/v1", rv, start });
  const binary = Array.from(encoder.encode(json), (b) => String.fromCharCode(b)).join("");
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes a continue token; 400 BadRequest when it is not one. */
export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const b64 = token.replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const parsed: unknown = JSON.parse(decoder.decode(bytes));
    if (
      isObject(parsed as JsonValue) && (parsed as JsonObject).v === "meta.k8s.io/v1" &&
      typeof (parsed as JsonObject).rv === "number" && typeof (parsed as JsonObject).start === "string"
    ) {
      return { rv: (parsed as { rv: number }).rv, start: (parsed as { start: string }).start };
    }
  } catch {
    // fall through to the error below
  }
  throw new StatusError(400, `invalid continue token: continue key is not valid: "${token}"`, "BadRequest");
}

/** The 504 for a resourceVersion the server has not reached (recording 20). */
export function tooLarge(rv: number, current: number): StatusError {
  return new StatusError(
    504,
    `Timeout: Too large resource version: ${rv}, current: ${current}`,
    "Timeout",
    {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    },
    { "Retry-After": "1" },
  );
}

/** The 404 for a missing object. */
export function notFound(type: ResourceType, name: string): StatusError {
  const details: JsonObject = { name };
  if (type.group) details.group = type.group;
  details.kind = type.name;
  return new StatusError(404, `${resourceLabel(type)} "${name}" not found`, "NotFound", details);
}

/** `resource` or `resource.group`, as in error messages. */
export function resourceLabel(type: ResourceType): string {
  return type.group ? `${type.name}.${type.group}` : type.name;
}

/** The usual Status reason of an HTTP status code. */
export function defaultReason(status: number): string | undefined {
  return ({
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
  } as Record<number, string>)[status];
}

/** What a URL path addresses. */
export type Route =
  | { kind: "path"; path: string }
  | {
    kind: "resource";
    type: ResourceType;
    namespace: string | undefined;
    name: string | undefined;
    /** `status` for a Node's status subresource (`/api/v1/nodes/NAME/status`). */
    subresource?: string;
  }
  | { kind: "unknown"; status: boolean };

/** Parses a URL path into discovery, a served resource (with namespace/name) or unknown. */
export function route(path: string): Route {
  const parts = path.split("/").filter((p) => p !== "");
  const discovery = ["version", "api", "api/v1", "apis", "apis/discovery.k8s.io", "apis/discovery.k8s.io/v1"];
  if (discovery.includes(parts.join("/"))) return { kind: "path", path };
  let rest: string[];
  let group: string;
  if (parts[0] === "api" && parts[1] === "v1") {
    rest = parts.slice(2);
    group = "";
  } else if (parts[0] === "apis" && parts[1] === "discovery.k8s.io" && parts[2] === "v1") {
    rest = parts.slice(3);
    group = "discovery.k8s.io";
  } else {
    return { kind: "unknown", status: false };
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const type = (RESOURCES as Record<string, ResourceType | undefined>)[rest[0] ?? ""];
  if (type?.clusterScoped && rest.length === 3 && rest[2] === "status" && namespace === undefined) {
    return { kind: "resource", type, namespace, name: rest[1], subresource: "status" };
  }
  if (!type || type.group !== group || rest.length > 2) return { kind: "unknown", status: true };
  if (type.clusterScoped && namespace !== undefined) return { kind: "unknown", status: true };
  return { kind: "resource", type, namespace, name: rest[1] };
}

/**
 * Authenticates like kube-apiserver's union authenticator: a verified client certificate (CN, O), else a
 * known bearer token, else anonymous; undefined (401) for an unknown token or an unverified certificate
 * without a valid token, and for no credentials when `anonymous` is false.
 */
export function authenticate(
  request: Pick<HttpRequest, "peer" | "headers">,
  tokens: AuthOptions["tokens"],
  anonymous: boolean,
): KubeUser | undefined {
  const { peer, headers } = request;
  let failed = false;
  if (peer) {
    if (peer.authorized) {
      return { name: peer.commonName, groups: [...peer.organizations, "system:authenticated"] };
    }
    failed = true;
  }
  const auth = headers.get("authorization");
  if (auth !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    const entry = m ? tokens?.[m[1]!] : undefined;
    if (entry === undefined) return undefined;
    const user = typeof entry === "string" ? { name: entry, groups: [] } : entry;
    return { name: user.name, groups: [...(user.groups ?? []), "system:authenticated"] };
  }
  if (failed || !anonymous) return undefined;
  return { name: ANONYMOUS, groups: ["system:unauthenticated"] };
}

/**
 * Authorizes like RBAC with the default discovery roles: public paths for all, other paths for any
 * authenticated user, resources per `authorize` (default: any authenticated user).
 */
export function isAuthorized(
  authorize: Authorizer | RbacTable | undefined,
  user: KubeUser,
  attrs: RequestAttributes,
): boolean {
  if (!attrs.resourceRequest && PUBLIC_PATHS.has(attrs.path)) return true;
  if (typeof authorize === "function") {
    return authorize(user, attrs) || (!attrs.resourceRequest && user.name !== ANONYMOUS);
  }
  if (!attrs.resourceRequest || authorize === undefined) return user.name !== ANONYMOUS;
  const rules = [
    ...(authorize[user.name] ?? []),
    ...user.groups.flatMap((g) => authorize[`group:${g}`] ?? []),
  ];
  return rules.some((rule) =>
    (rule.verbs === "*" || rule.verbs.includes(attrs.verb)) &&
    (rule.resources === "*" || rule.resources.includes(attrs.resource ?? "")) &&
    (rule.namespaces === undefined ||
      (attrs.namespace !== undefined && rule.namespaces.includes(attrs.namespace)))
  );
}

/** The 403 of the real server: message by scope and group, details, nosniff header (recordings 11a, 12). */
export function forbidden(user: KubeUser, attrs: RequestAttributes): StatusError {
  const nosniff = { "X-Content-Type-Options": "nosniff" };
  if (!attrs.resourceRequest) {
    return new StatusError(
      403,
      `forbidden: User "${user.name}" cannot ${attrs.verb} path "${attrs.path}"`,
      "Forbidden",
      {},
      nosniff,
    );
  }
  const group = attrs.group ?? "";
  const label = group ? `${attrs.resource}.${group}` : attrs.resource;
  const subject = attrs.name !== undefined ? `${label} "${attrs.name}"` : label;
  const scope = attrs.namespace !== undefined
    ? `in the namespace "${attrs.namespace}"`
    : "at the cluster scope";
  const details: JsonObject = {};
  if (attrs.name !== undefined) details.name = attrs.name;
  if (group) details.group = group;
  details.kind = attrs.resource ?? "";
  return new StatusError(
    403,
    `${subject} is forbidden: User "${user.name}" cannot ${attrs.verb} resource "${attrs.resource}" in API ` +
      `group "${group}" ${scope}`,
    "Forbidden",
    details,
    nosniff,
  );
}

/** The discovery document of a path (/version as indented text, the others as objects). */
export function discoveryDocument(path: string, port: number): JsonObject | string {
  const gv = (group: string) => ({ groupVersion: `${group}/v1`, version: "v1" });
  const resources = (group: string): JsonObject[] =>
    Object.values(RESOURCES).filter((t) => t.group === group).map((t) => {
      const r: JsonObject = {
        name: t.name,
        singularName: "",
        namespaced: !t.clusterScoped,
        kind: t.kind,
        verbs: ALL_VERBS,
      };
      if (t.shortNames.length > 0) r.shortNames = t.shortNames;
      r.storageVersionHash = STORAGE_HASHES[t.name];
      return r;
    }).sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const group = {
    name: "discovery.k8s.io",
    versions: [gv("discovery.k8s.io")],
    preferredVersion: gv("discovery.k8s.io"),
  };
  switch (path.replace(/\/+$/, "")) {
    case "/version":
      return JSON.stringify(VERSION_INFO, null, 2);
    case "/api":
      return {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${port}` }],
      };
    case "/api/v1":
      return { kind: "APIResourceList", groupVersion: "v1", resources: resources("") };
    case "/apis":
      return { kind: "APIGroupList", apiVersion: "v1", groups: [group] };
    case "/apis/discovery.k8s.io":
      return { kind: "APIGroup", apiVersion: "v1", ...group };
    default:
      return {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: "discovery.k8s.io/v1",
        resources: resources("discovery.k8s.io"),
      };
  }
}
