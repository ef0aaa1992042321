import assert from "node:assert/strict";
import {
  ANONYMOUS,
  authenticate,
  decodeContinue,
  encodeContinue,
  forbidden,
  isAuthorized,
  type KubeUser,
  parseBool,
  parseRV,
  type RbacTable,
  type RequestAttributes,
  route,
} from "../../lib/demo/kube_api.ts";
import { RESOURCES, StatusError } from "../../lib/demo/kube_objects.ts";
import type { PeerCertificate } from "../../lib/demo/kube_http.ts";

Deno.test("parseBool() and parseRV() read query values as the real server does", () => {
  const bools: [string | null, boolean][] = [
    ["1", true],
    ["true", true],
    ["True", true],
    ["TRUE", true],
    ["t", true],
    ["T", true],
    [null, false],
    ["", false],
    ["yes", false],
    ["tRuE", false],
    ["0", false],
  ];
  for (const [value, parsed] of bools) assert.equal(parseBool(value), parsed, String(value));
  const rvs: [string, number | undefined][] = [
    ["0", 0],
    ["12345", 12345],
    ["", undefined],
    ["-1", undefined],
    [
      "1e3",
      undefined,
    ],
    [" 1", undefined],
  ];
  for (const [value, parsed] of rvs) assert.equal(parseRV(value), parsed, value);
});

Deno.test("decodeContinue() reads back encodeContinue()'s base64url token, non-ASCII keys included", () => {
  for (const [rv, start] of [[1, ""], [42, "shop/web\u0000"], [9_000_000, "ns/ünïcode?>"]] as const) {
    const token = encodeContinue(rv, start);
    assert.match(token, /^[A-Za-z0-9_-]+$/, "base64url without padding");
    assert.deepEqual(decodeContinue(token), { rv, start });
  }
});

Deno.test("decodeContinue() answers 400 naming a token that is not one", () => {
  const b64 = (text: string) => btoa(text).replace(/=+$/, "");
  const cases = [
    "",
    "not base64!",
    b64("not json"),
    b64(JSON.stringify({ v: "meta.k8s.io/v2", rv: 1, start: "" })),
    b64(JSON.stringify({ v: "meta.k8s.io/v1", rv: "1", start: "" })),
    b64(JSON.stringify({ v: "meta.k8s.io/v1", rv: 1 })),
  ];
  for (const token of cases) {
    assert.throws(
      () => decodeContinue(token),
      (error: unknown) =>
        error instanceof StatusError && error.code === 400 &&
        error.message === `invalid continue token: continue key is not valid: "${token}"`,
      token,
    );
  }
});

Deno.test("route() tells discovery, served resources with namespace and name, and unknown paths", () => {
  const cases: [string, ReturnType<typeof route>][] = [
    ["/version", { kind: "path", path: "/version" }],
    ["/apis/discovery.k8s.io/v1/", { kind: "path", path: "/apis/discovery.k8s.io/v1/" }],
    ["/api/v1/endpoints", {
      kind: "resource",
      type: RESOURCES.endpoints,
      namespace: undefined,
      name: undefined,
    }],
    ["/api/v1/namespaces/shop/endpoints/web", {
      kind: "resource",
      type: RESOURCES.endpoints,
      namespace: "shop",
      name: "web",
    }],
    ["/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", {
      kind: "resource",
      type: RESOURCES.endpointslices,
      namespace: "shop",
      name: undefined,
    }],
    ["/api/v1/services", {
      kind: "resource",
      type: RESOURCES.services,
      namespace: undefined,
      name: undefined,
    }],
    // A resource under the wrong group, an unserved resource, a sub-resource: served API, unknown path.
    ["/api/v1/endpointslices", { kind: "unknown", status: true }],
    ["/apis/discovery.k8s.io/v1/endpoints", { kind: "unknown", status: true }],
    ["/api/v1/pods", { kind: "unknown", status: true }],
    ["/api/v1/namespaces/shop/endpoints/web/status", { kind: "unknown", status: true }],
    ["/apis/apps/v1/deployments", { kind: "unknown", status: false }],
    ["/metrics", { kind: "unknown", status: false }],
  ];
  for (const [path, expected] of cases) assert.deepEqual(route(path), expected, path);
});

Deno.test("authenticate() takes a verified certificate, else a known bearer token, else anonymous", () => {
  const tokens = { t0k: "alice", "t1k": { name: "bob", groups: ["ops"] } };
  const peer = (authorized: boolean): PeerCertificate => ({
    commonName: "carol",
    organizations: ["dev"],
    authorized,
  });
  const request = (peerCert: PeerCertificate | undefined, authorization?: string) => ({
    peer: peerCert,
    headers: new Headers(authorization === undefined ? {} : { authorization }),
  });
  const cases: [string, ReturnType<typeof request>, boolean, KubeUser | undefined][] = [
    ["certificate", request(peer(true), "Bearer t0k"), true, {
      name: "carol",
      groups: ["dev", "system:authenticated"],
    }],
    ["token", request(undefined, "Bearer t0k"), false, { name: "alice", groups: ["system:authenticated"] }],
    ["token, any case", request(undefined, "bearer  t1k "), false, {
      name: "bob",
      groups: ["ops", "system:authenticated"],
    }],
    ["unverified certificate and token", request(peer(false), "Bearer t0k"), true, {
      name: "alice",
      groups: ["system:authenticated"],
    }],
    ["unknown token", request(undefined, "Bearer nope"), true, undefined],
    ["not a bearer", request(undefined, "Basic YTpi"), true, undefined],
    ["unverified certificate alone", request(peer(false)), true, undefined],
    ["nothing, anonymous allowed", request(undefined), true, {
      name: ANONYMOUS,
      groups: ["system:unauthenticated"],
    }],
    ["nothing, anonymous refused", request(undefined), false, undefined],
  ];
  for (const [label, req, anonymous, user] of cases) {
    assert.deepEqual(authenticate(req, tokens, anonymous), user, label);
  }
});

Deno.test("isAuthorized() opens public paths, other paths to users, resources by the RBAC table", () => {
  const alice: KubeUser = { name: "alice", groups: ["system:authenticated"] };
  const ops: KubeUser = { name: "bob", groups: ["ops", "system:authenticated"] };
  const anonymous: KubeUser = { name: ANONYMOUS, groups: ["system:unauthenticated"] };
  const table: RbacTable = {
    alice: [{ verbs: ["get", "list", "watch"], resources: ["endpoints"], namespaces: ["shop"] }],
    "group:ops": [{ verbs: "*", resources: "*" }],
  };
  const list = (namespace?: string, resource = "endpoints"): RequestAttributes => ({
    verb: "list",
    resourceRequest: true,
    resource,
    path: "/api/v1/endpoints",
    ...(namespace === undefined ? {} : { namespace }),
  });
  const path = (p: string): RequestAttributes => ({ verb: "get", resourceRequest: false, path: p });
  const cases: [string, KubeUser, RequestAttributes, RbacTable | undefined, boolean][] = [
    ["public path, anonymous", anonymous, path("/healthz"), table, true],
    ["other path, anonymous", anonymous, path("/api"), table, false],
    ["other path, user", alice, path("/api"), table, true],
    ["no table: any user", alice, list(), undefined, true],
    ["no table: not anonymous", anonymous, list(), undefined, false],
    ["rule in its namespace", alice, list("shop"), table, true],
    ["rule in another namespace", alice, list("blog"), table, false],
    ["namespaced rule at cluster scope", alice, list(), table, false],
    ["rule for another resource", alice, list("shop", "services"), table, false],
    ["group wildcard", ops, list(undefined, "endpointslices"), table, true],
    ["no rule", anonymous, list("shop"), table, false],
  ];
  for (const [label, user, attrs, authorize, allowed] of cases) {
    assert.equal(isAuthorized(authorize, user, attrs), allowed, label);
  }
  const onlyWatch = (_: KubeUser, attrs: RequestAttributes) => attrs.verb === "watch";
  assert.equal(isAuthorized(onlyWatch, alice, list("shop")), false);
  assert.equal(isAuthorized(onlyWatch, alice, { ...list("shop"), verb: "watch" }), true);
  assert.equal(isAuthorized(onlyWatch, alice, path("/api")), true);
});

Deno.test("forbidden() words the 403 like the real server, by scope and group", () => {
  const user: KubeUser = { name: "system:serviceaccount:lb:haconfd", groups: [] };
  const cases: [RequestAttributes, string, Record<string, unknown>][] = [
    [
      {
        verb: "list",
        resourceRequest: true,
        resource: "endpointslices",
        group: "discovery.k8s.io",
        path: "/x",
      },
      'endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:lb:haconfd" cannot list resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope',
      { group: "discovery.k8s.io", kind: "endpointslices" },
    ],
    [
      {
        verb: "get",
        resourceRequest: true,
        resource: "endpoints",
        namespace: "shop",
        name: "web",
        path: "/x",
      },
      'endpoints "web" is forbidden: User "system:serviceaccount:lb:haconfd" cannot get resource "endpoints" in API group "" in the namespace "shop"',
      { name: "web", kind: "endpoints" },
    ],
    [
      { verb: "get", resourceRequest: false, path: "/metrics" },
      'forbidden: User "system:serviceaccount:lb:haconfd" cannot get path "/metrics"',
      {},
    ],
  ];
  for (const [attrs, message, details] of cases) {
    const error = forbidden(user, attrs);
    assert.equal(error.code, 403);
    assert.equal(error.message, message);
    assert.deepEqual(error.details, details);
    assert.equal(error.extraHeaders["X-Content-Type-Options"], "nosniff");
  }
});
