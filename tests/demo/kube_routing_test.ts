/** Unit tests of the test API server's request routing (lib/demo/kube_routing.ts). */
import assert from "node:assert/strict";
import {
  type PendingFailure,
  type RecordedRequest,
  takeFailure,
  verbOf,
} from "../../lib/demo/kube_routing.ts";

function request(method: string, url: string, watch = false): RecordedRequest {
  const parsed = new URL(url, "http://127.0.0.1");
  return {
    method,
    url,
    path: parsed.pathname,
    query: parsed.searchParams,
    headers: {},
    body: "",
    watch,
  };
}

Deno.test("verbOf() names the Kubernetes verb of a resource request", () => {
  assert.equal(verbOf("GET", undefined, false), "list");
  assert.equal(verbOf("GET", undefined, true), "watch");
  assert.equal(verbOf("GET", "web", false), "get");
  assert.equal(verbOf("POST", undefined, false), "create");
  assert.equal(verbOf("PUT", "web", false), "update");
  assert.equal(verbOf("PATCH", "web", false), "patch");
  assert.equal(verbOf("DELETE", "web", false), "delete");
  assert.equal(verbOf("DELETE", undefined, false), "deletecollection");
  assert.equal(verbOf("OPTIONS", undefined, false), "options");
});

Deno.test("takeFailure() answers only matching requests, as many times as asked", () => {
  const failures: PendingFailure[] = [
    { remaining: 1, spec: { status: 503, path: "/api/v1/endpoints", watch: false, retryAfterSeconds: 2 } },
    { remaining: 1, spec: { path: /watch=true/, abort: true } },
  ];
  assert.equal(takeFailure(failures, request("GET", "/api/v1/services")), undefined);
  assert.equal(takeFailure(failures, request("GET", "/api/v1/endpoints?watch=true", true))?.kind, "abort");
  const answer = takeFailure(failures, request("GET", "/api/v1/endpoints"));
  assert.ok(answer?.kind === "error");
  assert.equal(answer.error.code, 503);
  assert.equal(answer.error.reason, "ServiceUnavailable");
  assert.deepEqual(answer.error.extraHeaders, { "Retry-After": "2" });
  assert.equal(takeFailure(failures, request("GET", "/api/v1/endpoints")), undefined);
});
