/**
 * The test API server's write requests: create (POST), update (PUT), patch (merge, strategic merge and JSON
 * patch) and delete, their bodies checked against the URL like kube-apiserver does, applied to the store.
 *
 * @module
 */
import { notFound } from "./kube_api.ts";
import type { HttpExchange } from "./kube_http.ts";
import {
  isObject,
  type JsonObject,
  jsonPatch,
  type JsonValue,
  mergePatch,
  meta,
  type ResourceType,
  StatusError,
  strategicMergePatch,
  withKind,
} from "./kube_objects.ts";
import type { KubeStore } from "./kube_store.ts";

/** The object a write addresses. */
export interface WriteTarget {
  /** The resource. */
  type: ResourceType;
  /** The namespace from the URL. */
  namespace: string | undefined;
  /** The name from the URL (none for create). */
  name: string | undefined;
  /** `status` for a Node's status subresource. */
  subresource?: string;
  /** Whether the URL addresses the resource in its scope (cluster-scoped without, namespaced with a namespace). */
  scoped: boolean;
}

const decoder = new TextDecoder();

/** 405, as kube-apiserver answers a verb the path does not serve. */
export function notAllowed(): StatusError {
  return new StatusError(
    405,
    "the server does not allow this method on the requested resource",
    "MethodNotAllowed",
    {},
  );
}

/** Performs a create, update, patch or delete request; the status and body to answer with. */
export function writeObject(
  store: KubeStore,
  verb: string,
  ex: HttpExchange,
  target: WriteTarget,
  manager: string,
): { status: number; body: JsonValue } {
  const { type, namespace, name, scoped } = target;
  if (!scoped || (verb === "create" && name !== undefined)) throw notAllowed();
  const through = target.subresource === "status" ? "status" : "main";
  switch (verb) {
    case "create": {
      const body = bodyObject(ex, type, namespace ?? "", undefined);
      return { status: 201, body: withKind(type, store.create(type, body, manager)) };
    }
    case "update": {
      const body = bodyObject(ex, type, namespace ?? "", name);
      const result = store.update(type, body, manager, true, through);
      return { status: result.created ? 201 : 200, body: withKind(type, result.obj) };
    }
    case "patch": {
      const current = store.current(type.name, namespace, name);
      if (!current) throw notFound(type, name!);
      const patched = applyPatch(ex, withKind(type, current));
      if (!isObject(patched)) throw new StatusError(422, "the patch did not produce an object", "Invalid");
      const pm = { ...meta(patched), name: name!, namespace: namespace ?? "" };
      const result = store.update(type, { ...patched, metadata: pm }, manager, true, through);
      return { status: 200, body: withKind(type, result.obj) };
    }
    case "delete":
      return { status: 200, body: deleteObject(store, target) };
    default:
      throw notAllowed();
  }
}

function deleteObject(store: KubeStore, { type, namespace, name }: WriteTarget): JsonObject {
  const current = store.current(type.name, namespace, name);
  if (!current) throw notFound(type, name!);
  store.remove(type.name, namespace ?? "", name!);
  const details: JsonObject = { name: name! };
  if (type.group) details.group = type.group;
  details.kind = type.name;
  details.uid = meta(current).uid ?? "";
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details };
}

function readBody(ex: HttpExchange): JsonValue {
  try {
    return JSON.parse(decoder.decode(ex.request.body)) as JsonValue;
  } catch (error) {
    throw new StatusError(
      400,
      `the server could not read the request body: ${error instanceof Error ? error.message : error}`,
      "BadRequest",
    );
  }
}

function bodyObject(
  ex: HttpExchange,
  type: ResourceType,
  namespace: string,
  name: string | undefined,
): JsonObject {
  const body = readBody(ex);
  if (!isObject(body)) {
    throw new StatusError(400, "the body of the request was not an object", "BadRequest");
  }
  if (body.kind !== undefined && body.kind !== type.kind) {
    throw new StatusError(
      400,
      `the API version in the data (${body.apiVersion}) does not match the expected API version (${type.apiVersion})`,
      "BadRequest",
    );
  }
  const m = meta(body);
  if (m.namespace !== undefined && m.namespace !== "" && m.namespace !== namespace) {
    throw new StatusError(
      400,
      "the namespace of the provided object does not match the namespace sent on the request",
      "BadRequest",
    );
  }
  if (name !== undefined && m.name !== undefined && m.name !== name) {
    throw new StatusError(
      400,
      `the name of the object (${m.name}) does not match the name on the URL (${name})`,
      "BadRequest",
    );
  }
  return { ...body, metadata: { ...m, namespace, ...(name !== undefined ? { name } : {}) } };
}

function applyPatch(ex: HttpExchange, current: JsonObject): JsonValue {
  const contentType = (ex.request.headers.get("content-type") ?? "").split(";")[0]!.trim();
  const patch = readBody(ex);
  switch (contentType) {
    case "application/merge-patch+json":
      return mergePatch(current, patch);
    case "application/strategic-merge-patch+json":
      return strategicMergePatch(current, patch);
    case "application/json-patch+json":
      return jsonPatch(current, patch);
    default:
      throw new StatusError(
        415,
        `the body of the request was in an unknown format - accepted media types include: ` +
          "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
        "UnsupportedMediaType",
      );
  }
}
