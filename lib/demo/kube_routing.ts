/**
 * The test API server's request routing: the record of each request, injected failures, the verb of a
 * resource request and its authorization attributes, the answers to paths that are not resources.
 *
 * @module
 */
import { defaultReason, discoveryDocument, forbidden, isAuthorized, parseBool } from "./kube_api.ts";
import type { Authorizer, KubeUser, RbacTable, RequestAttributes } from "./kube_api.ts";
import type { HttpExchange, HttpRequest } from "./kube_http.ts";
import { type JsonValue, type ResourceType, StatusError } from "./kube_objects.ts";

/** One request as the server received it. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  /** URL path. */
  path: string;
  /** Query parameters. */
  query: URLSearchParams;
  /** Request headers (lower-case names). */
  headers: Record<string, string>;
  /** Request body as text. */
  body: string;
  /** The authenticated user, when authentication succeeded. */
  user?: string;
  /** Response status (a watch: 200 once started). */
  status?: number;
  /** True for watch requests. */
  watch: boolean;
}

/** An injected failure for `KubeServer.failNext`. */
export interface FailureSpec {
  /** HTTP status. @default {500} */
  status?: number;
  /** Only requests whose path starts with this string, or whose full URL matches this RegExp. */
  path?: string | RegExp;
  /** Only this method. */
  method?: string;
  /** Only watch (true) or only non-watch (false) requests. */
  watch?: boolean;
  /** Status message. @default {"Internal error occurred: injected failure"} */
  message?: string;
  /** Status reason. @default {chosen from the status code} */
  reason?: string;
  /** Adds Retry-After and details.retryAfterSeconds. */
  retryAfterSeconds?: number;
  /** Cut the connection instead of answering. */
  abort?: boolean;
  /**
   * Answer with this body instead of a Status (JSON values are encoded, strings sent as they are), with
   * `status` (then @default {200}): a wrong answer rather than an error, e.g. a list of another kind.
   */
  body?: JsonValue | string;
}

/** Which requests a {@linkcode FailureSpec} or `KubeServer.holdNext` applies to. */
export type RequestMatch = Pick<FailureSpec, "path" | "method" | "watch">;

/** Whether a request is one `spec` applies to. */
export function requestMatches(spec: RequestMatch, record: RecordedRequest): boolean {
  return (spec.method === undefined || spec.method.toUpperCase() === record.method) &&
    (spec.watch === undefined || spec.watch === record.watch) &&
    (spec.path === undefined ||
      (typeof spec.path === "string" ? record.path.startsWith(spec.path) : spec.path.test(record.url)));
}

/** A failure still to inject `remaining` times. */
export interface PendingFailure {
  /** How many more matching requests fail. */
  remaining: number;
  /** What they match and get. */
  spec: FailureSpec;
}

/** What an injected failure answers: a cut connection, a body, or a Status error. */
export type FailureAnswer =
  | { kind: "abort" }
  | { kind: "body"; status: number; body: JsonValue | string }
  | { kind: "error"; error: StatusError };

/** How the server authorizes requests. */
export interface AuthorizeContext {
  /** Whether any auth option is set (else every request is allowed). */
  configured: boolean;
  /** The authorizer or RBAC table. */
  authorize: Authorizer | RbacTable | undefined;
}

const decoder = new TextDecoder();

/** The record of a request before it is answered. */
export function recordOf(request: HttpRequest): RecordedRequest {
  return {
    method: request.method,
    url: request.target,
    path: request.url.pathname,
    query: request.url.searchParams,
    headers: Object.fromEntries(request.headers.entries()),
    body: decoder.decode(request.body),
    watch: parseBool(request.url.searchParams.get("watch")),
  };
}

/** Takes the first pending failure matching the request (counting it down); its answer, or undefined. */
export function takeFailure(failures: PendingFailure[], record: RecordedRequest): FailureAnswer | undefined {
  const failure = failures.find(({ remaining, spec }) => remaining > 0 && requestMatches(spec, record));
  if (!failure) return undefined;
  failure.remaining--;
  const spec = failure.spec;
  if (spec.abort) return { kind: "abort" };
  if (spec.body !== undefined) return { kind: "body", status: spec.status ?? 200, body: spec.body };
  const status = spec.status ?? 500;
  const retry = spec.retryAfterSeconds;
  const error = new StatusError(
    status,
    spec.message ?? "Internal error occurred: injected failure",
    spec.reason ?? defaultReason(status),
    retry !== undefined ? { retryAfterSeconds: retry } : undefined,
    retry !== undefined ? { "Retry-After": String(retry) } : {},
  );
  return { kind: "error", error };
}

/** Answers Go's plain-text 404 for a path outside the API. */
export function plainNotFound(ex: HttpExchange): void {
  ex.respond(404, {
    "Cache-Control": "no-cache, private",
    "Content-Type": "text/plain; charset=utf-8",
    "X-Content-Type-Options": "nosniff",
  }, "404 page not found\n");
}

/** The discovery document of a non-resource path (GET only, authorized like `get` on the path). */
export function discoveryAnswer(
  request: HttpRequest,
  user: KubeUser,
  auth: AuthorizeContext,
  port: number,
): JsonValue | string {
  const attrs: RequestAttributes = { verb: "get", resourceRequest: false, path: request.url.pathname };
  if (auth.configured && !isAuthorized(auth.authorize, user, attrs)) throw forbidden(user, attrs);
  if (request.method !== "GET") {
    throw new StatusError(
      405,
      `the server does not allow this method on the requested resource`,
      "MethodNotAllowed",
      {},
    );
  }
  return discoveryDocument(request.url.pathname, port);
}

/** The Kubernetes verb of a resource request. */
export function verbOf(method: string, name: string | undefined, watch: boolean): string {
  switch (method) {
    case "GET":
      return name === undefined ? (watch ? "watch" : "list") : "get";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return name === undefined ? "deletecollection" : "delete";
    default:
      return method.toLowerCase();
  }
}

/** Throws 403 unless `user` may do `verb` on the resource (always allowed without auth options). */
export function authorizeResource(
  auth: AuthorizeContext,
  user: KubeUser,
  request: {
    verb: string;
    type: ResourceType;
    namespace: string | undefined;
    name: string | undefined;
    path: string;
  },
): void {
  const { verb, type, namespace, name, path } = request;
  const attrs: RequestAttributes = {
    verb,
    resourceRequest: true,
    resource: type.name,
    group: type.group,
    path,
  };
  if (namespace !== undefined) attrs.namespace = namespace;
  if (name !== undefined) attrs.name = name;
  if (auth.configured && !isAuthorized(auth.authorize, user, attrs)) throw forbidden(user, attrs);
}
