/**
 * Object shapes, selectors, patches and JSON encoding of the test Kubernetes API server
 * (`kube_server.ts`), matching what kube-apiserver v1.26 puts on the wire: key order of metadata and of
 * Endpoints / EndpointSlice / Service fields, server defaults, omitted empty fields, Go's HTML escaping.
 *
 * @module
 */
import { normalizeSecret } from "./kube_secrets.ts";

import { freeNodePort, nodeBookmarkFields, normalizeNode, serviceNodePorts } from "./kube_nodes.ts";

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The resources the test server serves. */
export type ResourceName = "endpoints" | "services" | "endpointslices" | "secrets" | "nodes";

/** Static facts of one served resource. */
export interface ResourceType {
  /** Plural resource name, as in URLs and RBAC. */
  name: ResourceName;
  /** Kind of one object. */
  kind: string;
  /** Kind of a list. */
  listKind: string;
  /** API group ("" for core). */
  group: string;
  /** API version. */
  version: string;
  /** `apiVersion` field value. */
  apiVersion: string;
  /** kubectl short names. */
  shortNames: string[];
  /** Whether PUT creates a missing object (true for Endpoints in the real server). */
  createOnUpdate: boolean;
  /** Whether metadata.generation is kept (EndpointSlice). */
  generation: boolean;
  /** Cluster-scoped (Node): no namespace; stored under the key `/name`. */
  clusterScoped?: boolean;
}

/** The served resources. */
export const RESOURCES: Record<ResourceName, ResourceType> = {
  endpoints: {
    name: "endpoints",
    kind: "Endpoints",
    listKind: "EndpointsList",
    group: "",
    version: "v1",
    apiVersion: "v1",
    shortNames: ["ep"],
    createOnUpdate: true,
    generation: false,
  },
  services: {
    name: "services",
    kind: "Service",
    listKind: "ServiceList",
    group: "",
    version: "v1",
    apiVersion: "v1",
    shortNames: ["svc"],
    createOnUpdate: false,
    generation: false,
  },
  endpointslices: {
    name: "endpointslices",
    kind: "EndpointSlice",
    listKind: "EndpointSliceList",
    group: "discovery.k8s.io",
    version: "v1",
    apiVersion: "discovery.k8s.io/v1",
    shortNames: [],
    createOnUpdate: false,
    generation: true,
  },
  secrets: {
    name: "secrets",
    kind: "Secret",
    listKind: "SecretList",
    group: "",
    version: "v1",
    apiVersion: "v1",
    shortNames: [],
    createOnUpdate: false,
    generation: false,
  },
  nodes: {
    name: "nodes",
    kind: "Node",
    listKind: "NodeList",
    group: "",
    version: "v1",
    apiVersion: "v1",
    shortNames: ["no"],
    createOnUpdate: false,
    generation: false,
    clusterScoped: true,
  },
};

/** A Kubernetes API error, turned into a Status response by the server. */
export class StatusError extends Error {
  /** Creates an error answered with HTTP `code`. */
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string | undefined,
    readonly details: JsonObject | undefined = undefined,
    readonly extraHeaders: Record<string, string> = {},
  ) {
    super(message);
    this.name = "StatusError";
  }

  #metadata: JsonObject = {};

  /** Sets metadata.continue of the Status (the 410 answer to an outdated continue token). */
  withContinue(token: string): this {
    this.#metadata = { continue: token };
    return this;
  }

  /** The Status object sent as the response body. */
  toStatus(): JsonObject {
    return statusObject(this.code, this.message, this.reason, this.details, this.#metadata);
  }
}

/** A `kind: Status` failure object with the field order of the real server. */
export function statusObject(
  code: number,
  message: string,
  reason?: string,
  details?: JsonObject,
  metadata: JsonObject = {},
): JsonObject {
  const out: JsonObject = { kind: "Status", apiVersion: "v1", metadata, status: "Failure", message };
  if (reason !== undefined) out.reason = reason;
  if (details !== undefined) out.details = details;
  out.code = code;
  return out;
}

/** Encodes like Go's encoding/json: `<`, `>`, `&`, U+2028, U+2029 escaped; optional 2-space indent. */
export function encodeJson(value: unknown, pretty = false): string {
  const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A deep copy of a JSON value. */
export function clone<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}

/** `obj` with `keys` first (in that order, when present), then the rest in their original order. */
export function ordered(obj: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) {
    const value = obj[key];
    if (value !== undefined) out[key] = value;
  }
  for (const [key, value] of Object.entries(obj)) {
    if (!(key in out) && value !== undefined) out[key] = value;
  }
  return out;
}

function isEmpty(value: JsonValue | undefined): boolean {
  return value === undefined || value === null || value === "" ||
    (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
}

function omitEmpty(obj: JsonObject, keys: readonly string[]): JsonObject {
  const out = { ...obj };
  for (const key of keys) if (isEmpty(out[key])) delete out[key];
  return out;
}

const METADATA_ORDER = [
  "name",
  "generateName",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
];

/** Metadata in the server's key order, without selfLink and without empty labels/annotations/lists. */
export function normalizeMetadata(metadata: JsonObject): JsonObject {
  const out = omitEmpty(metadata, ["labels", "annotations", "ownerReferences", "finalizers", "generateName"]);
  delete out.selfLink;
  return ordered(out, METADATA_ORDER);
}

function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

function obj(value: JsonValue | undefined): JsonObject {
  return isObject(value) ? value : {};
}

function normalizeEndpoints(o: JsonObject): JsonObject {
  const subsets = list(o.subsets).map((s) => {
    const subset = obj(s);
    const address = (a: JsonValue) => ordered(obj(a), ["ip", "hostname", "nodeName", "targetRef"]);
    return omitEmpty(
      ordered({
        ...subset,
        addresses: list(subset.addresses).map(address),
        notReadyAddresses: list(subset.notReadyAddresses).map(address),
        ports: list(subset.ports).map((p) =>
          ordered({ protocol: "TCP", ...obj(p) }, ["name", "port", "protocol", "appProtocol"])
        ),
      }, ["addresses", "notReadyAddresses", "ports"]),
      ["addresses", "notReadyAddresses", "ports"],
    );
  });
  return omitEmpty(ordered({ ...o, subsets }, ["metadata", "subsets"]), ["subsets"]);
}

function normalizeEndpointSlice(o: JsonObject): JsonObject {
  const endpoints = o.endpoints === undefined || o.endpoints === null ? null : list(o.endpoints).map((e) => {
    const endpoint = obj(e);
    const out = { ...endpoint };
    if (isObject(endpoint.conditions)) {
      out.conditions = ordered(omitNull(endpoint.conditions), ["ready", "serving", "terminating"]);
    } else {
      out.conditions = {};
    }
    return ordered(out, ["addresses", "conditions", "hostname", "targetRef", "nodeName", "zone", "hints"]);
  });
  const ports = o.ports === undefined || o.ports === null
    ? null
    : list(o.ports).map((p) =>
      ordered({ protocol: "TCP", ...obj(p) }, ["name", "protocol", "port", "appProtocol"])
    );
  return ordered({ ...o, addressType: o.addressType ?? "", endpoints, ports }, [
    "metadata",
    "addressType",
    "endpoints",
    "ports",
  ]);
}

function omitNull(o: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

const SERVICE_SPEC_ORDER = [
  "ports",
  "selector",
  "clusterIP",
  "clusterIPs",
  "type",
  "externalIPs",
  "sessionAffinity",
  "loadBalancerIP",
  "loadBalancerSourceRanges",
  "externalName",
  "externalTrafficPolicy",
  "healthCheckNodePort",
  "publishNotReadyAddresses",
  "sessionAffinityConfig",
  "ipFamilies",
  "ipFamilyPolicy",
  "allocateLoadBalancerNodePorts",
  "loadBalancerClass",
  "internalTrafficPolicy",
];

function normalizeService(o: JsonObject, allocateIp: () => string, allocatePort: () => number): JsonObject {
  const spec = obj(o.spec);
  const type = typeof spec.type === "string" ? spec.type : "ClusterIP";
  const out: JsonObject = { ...spec, type };
  out.ports = list(spec.ports).map((p) => {
    const port = obj(p);
    return ordered({ protocol: "TCP", targetPort: port.port ?? null, ...port }, [
      "name",
      "protocol",
      "appProtocol",
      "port",
      "targetPort",
      "nodePort",
    ]);
  });
  if (type !== "ExternalName") {
    if (typeof out.clusterIP !== "string" || out.clusterIP === "") out.clusterIP = allocateIp();
    if (!Array.isArray(out.clusterIPs)) out.clusterIPs = [out.clusterIP];
    out.ipFamilies ??= ["IPv4"];
    out.ipFamilyPolicy ??= "SingleStack";
    out.internalTrafficPolicy ??= "Cluster";
  }
  out.sessionAffinity ??= "None";
  return ordered(
    {
      ...o,
      spec: ordered(
        omitEmpty(serviceNodePorts(out, allocatePort), ["ports", "selector"]),
        SERVICE_SPEC_ORDER,
      ),
      status: o.status ?? { loadBalancer: {} },
    },
    ["metadata", "spec", "status"],
  );
}

/**
 * An object as the server stores it: no kind/apiVersion, metadata in order, defaults applied.
 * `allocateIp` hands out Service cluster IPs, `allocatePort` node ports.
 */
export function normalizeObject(
  type: ResourceType,
  o: JsonObject,
  allocateIp: () => string,
  allocatePort: () => number = () => freeNodePort(new Set()),
): JsonObject {
  const metadata = { ...obj(o.metadata) };
  if (type.clusterScoped) delete metadata.namespace;
  const rest: JsonObject = { ...o, metadata: normalizeMetadata(metadata) };
  delete rest.kind;
  delete rest.apiVersion;
  switch (type.name) {
    case "endpoints":
      return normalizeEndpoints(rest);
    case "endpointslices":
      return normalizeEndpointSlice(rest);
    case "services":
      return normalizeService(rest, allocateIp, allocatePort);
    case "secrets":
      return normalizeSecret(rest);
    case "nodes":
      return normalizeNode(rest);
  }
}

/** `o` with kind and apiVersion first, as in watch events and single-object responses. */
export function withKind(type: ResourceType, o: JsonObject): JsonObject {
  return { kind: type.kind, apiVersion: type.apiVersion, ...o };
}

/** The BOOKMARK object of a type at `rv`, with the type's non-omitempty fields like Go encodes them. */
export function bookmarkObject(type: ResourceType, rv: number): JsonObject {
  const out: JsonObject = {
    kind: type.kind,
    apiVersion: type.apiVersion,
    metadata: { resourceVersion: String(rv), creationTimestamp: null },
  };
  if (type.name === "endpointslices") Object.assign(out, { addressType: "", endpoints: null, ports: null });
  if (type.name === "services") Object.assign(out, { spec: {}, status: { loadBalancer: {} } });
  if (type.name === "nodes") Object.assign(out, nodeBookmarkFields());
  return out;
}

/** Metadata of a stored object (always present after normalisation). */
export function meta(o: JsonObject): JsonObject {
  return obj(o.metadata);
}

/** A string-valued map field (labels, annotations) of metadata. */
export function stringMap(value: JsonValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(value))) if (typeof v === "string") out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Selectors

/** One requirement of a label selector. */
export interface LabelRequirement {
  /** Label key. */
  key: string;
  /** Operator. */
  op: "=" | "!=" | "exists" | "!exists" | "in" | "notin";
  /** Values for =, !=, in, notin. */
  values: string[];
}

const KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;

function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of selector) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  terms.push(current);
  return terms.map((t) => t.trim());
}

/** Parses a label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`, comma-joined). */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === "") return [];
  return splitTerms(selector).map((term) => {
    let m = new RegExp(`^!\\s*(${KEY})$`).exec(term);
    if (m) return { key: m[1]!, op: "!exists", values: [] };
    m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\((.*)\\)$`).exec(term);
    if (m) {
      const values = m[3]!.split(",").map((v) => v.trim());
      if (values.some((v) => !new RegExp(`^${VALUE}$`).test(v))) {
        throw new StatusError(
          400,
          `unable to parse requirement: values[0]: Invalid value: "${m[3]}"`,
          "BadRequest",
        );
      }
      return { key: m[1]!, op: m[2] as "in" | "notin", values };
    }
    m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`).exec(term);
    if (m) return { key: m[1]!, op: m[2] === "!=" ? "!=" : "=", values: [m[3]!] };
    m = new RegExp(`^(${KEY})$`).exec(term);
    if (m) return { key: m[1]!, op: "exists", values: [] };
    throw new StatusError(
      400,
      `unable to parse requirement: found '${term}', expected: identifier`,
      "BadRequest",
    );
  });
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabels(requirements: LabelRequirement[], labels: Record<string, string>): boolean {
  return requirements.every(({ key, op, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (op) {
      case "=":
        return has && value === values[0];
      case "!=":
        return !has || value !== values[0];
      case "exists":
        return has;
      case "!exists":
        return !has;
      case "in":
        return has && values.includes(value!);
      case "notin":
        return !has || !values.includes(value!);
    }
  });
}

/** One requirement of a field selector. */
export interface FieldRequirement {
  /** `metadata.name`, `metadata.namespace`, or a field the resource adds (Secrets: `type`). */
  field: string;
  /** Whether the value must differ. */
  negate: boolean;
  /** The value. */
  value: string;
}

/** Parses a field selector over `labels` (default metadata.name / metadata.namespace) with =, ==, !=. */
export function parseFieldSelector(
  selector: string,
  labels: readonly string[] = ["metadata.name", "metadata.namespace"],
): FieldRequirement[] {
  if (selector.trim() === "") return [];
  return selector.split(",").map((term) => {
    const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term);
    if (!m) {
      throw new StatusError(400, `invalid selector: '${selector}'; can't understand '${term}'`, "BadRequest");
    }
    const field = m[1]!;
    if (!labels.includes(field)) {
      throw new StatusError(400, `field label not supported: ${field}`, "BadRequest");
    }
    return { field, negate: m[2] === "!=", value: m[3]! };
  });
}

/** Whether the object's name/namespace satisfy every requirement. */
export function matchesFields(requirements: FieldRequirement[], o: JsonObject): boolean {
  const m = meta(o);
  return requirements.every(({ field, negate, value }) => {
    const actual = field === "metadata.name" ? m.name : field === "metadata.namespace" ? m.namespace : o.type;
    return (actual === value) !== negate;
  });
}

// ---------------------------------------------------------------------------------------------------
// Patches

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key] ?? null, value);
  }
  return out;
}

/**
 * Strategic merge patch, simplified: a merge patch whose `$`-directives are dropped (lists are replaced;
 * enough for annotations and labels, which is what kubectl sends).
 */
export function strategicMergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  const strip = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return value.map(strip);
    if (!isObject(value)) return value;
    return Object.fromEntries(
      Object.entries(value).filter(([k]) => !k.startsWith("$")).map(([k, v]) => [k, strip(v)]),
    );
  };
  return mergePatch(target, strip(patch));
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new StatusError(422, `invalid JSON pointer: "${path}"`, "Invalid");
  return path.slice(1).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** RFC 6902 JSON patch (add, remove, replace, test, move, copy). */
export function jsonPatch(target: JsonValue, operations: JsonValue): JsonValue {
  if (!Array.isArray(operations)) throw new StatusError(400, "json patch must be an array", "BadRequest");
  let doc = clone(target);
  for (const op of operations) {
    if (!isObject(op) || typeof op.op !== "string" || typeof op.path !== "string") {
      patchFail("invalid json patch operation");
    }
    doc = applyOperation(doc, op as JsonObject & { op: string; path: string });
  }
  return doc;
}

function applyOperation(doc: JsonValue, o: JsonObject & { op: string; path: string }): JsonValue {
  const path = pointer(o.path);
  switch (o.op) {
    case "add":
    case "replace":
      return pointerPut(doc, path, clone(o.value ?? null), o.op);
    case "remove":
      return pointerPut(doc, path, undefined, "remove");
    case "test":
      if (JSON.stringify(pointerGet(doc, path)) !== JSON.stringify(o.value)) {
        patchFail(`testing value /${path.join("/")} failed`);
      }
      return doc;
    case "move":
    case "copy": {
      const from = pointer(String(o.from ?? ""));
      const value = pointerGet(doc, from);
      if (value === undefined) patchFail(`missing path: "${o.from}"`);
      const rest = o.op === "move" ? pointerPut(doc, from, undefined, "remove") : doc;
      return pointerPut(rest, path, clone(value!), "add");
    }
    default:
      return patchFail(`unexpected kind: "${o.op}"`);
  }
}

function patchFail(message: string): never {
  throw new StatusError(422, message, "Invalid");
}

function pointerGet(doc: JsonValue, path: string[]): JsonValue | undefined {
  let cur: JsonValue | undefined = doc;
  for (const part of path) {
    if (Array.isArray(cur)) cur = cur[Number(part)];
    else if (isObject(cur)) cur = cur[part];
    else return undefined;
  }
  return cur;
}

/** Adds, replaces or removes at `path` in `doc` (changed in place); the document, new when `path` is the root. */
function pointerPut(
  doc: JsonValue,
  path: string[],
  value: JsonValue | undefined,
  mode: "add" | "replace" | "remove",
): JsonValue {
  if (path.length === 0) {
    if (value === undefined) patchFail("cannot remove the root");
    return value!;
  }
  const parent = pointerGet(doc, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const index = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) {
      patchFail(`index out of range: "${last}"`);
    }
    if (mode === "add") parent.splice(index, 0, value!);
    else if (index >= parent.length) patchFail(`index out of range: "${last}"`);
    else if (mode === "replace") parent[index] = value!;
    else parent.splice(index, 1);
  } else if (isObject(parent)) {
    if (mode !== "add" && !(last in parent)) patchFail(`missing path: "/${path.join("/")}"`);
    if (mode === "remove") delete parent[last];
    else parent[last] = value!;
  } else {
    patchFail(`doc is missing path: "/${path.join("/")}"`);
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------------
// managedFields

function fieldsOf(o: JsonObject): JsonObject {
  const fields: JsonObject = {};
  const m = meta(o);
  const metaFields: JsonObject = {};
  for (const key of ["labels", "annotations"]) {
    const map = stringMap(m[key]);
    if (Object.keys(map).length > 0) {
      metaFields[`f:${key}`] = Object.fromEntries([
        [".", {}],
        ...Object.keys(map).map((k) => [`f:${k}`, {}]),
      ]);
    }
  }
  for (const key of Object.keys(o).sort()) {
    if (key === "metadata") {
      if (Object.keys(metaFields).length > 0) fields["f:metadata"] = metaFields;
    } else if (key !== "status" && key !== "kind" && key !== "apiVersion") {
      fields[`f:${key}`] = {};
    }
  }
  return fields;
}

/** managedFields after `manager` wrote `o`: its entry replaced (fields approximated), others kept. */
export function managedFieldsAfter(
  type: ResourceType,
  previous: JsonValue | undefined,
  manager: string,
  o: JsonObject,
  time: string,
): JsonObject[] {
  const others = list(previous).filter((e) => isObject(e) && e.manager !== manager) as JsonObject[];
  return [...others, {
    manager,
    operation: "Update",
    apiVersion: type.apiVersion,
    time,
    fieldsType: "FieldsV1",
    fieldsV1: fieldsOf(o),
  }];
}
