import assert from "node:assert/strict";
import {
  jsonPatch,
  type JsonValue,
  matchesFields,
  matchesLabels,
  mergePatch,
  parseFieldSelector,
  parseLabelSelector,
  StatusError,
  strategicMergePatch,
} from "../../lib/demo/kube_objects.ts";

/** Asserts that `fn` throws a StatusError with this code and a message matching `message`. */
function assertStatus(fn: () => unknown, code: number, message: RegExp, label: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof StatusError, label);
    assert.equal(error.code, code, label);
    assert.match(error.message, message, label);
    return true;
  });
}

Deno.test("parseLabelSelector() reads every operator, comma-joined, with parentheses kept together", () => {
  const cases: [string, ReturnType<typeof parseLabelSelector>][] = [
    ["", []],
    ["  ", []],
    ["app=web", [{ key: "app", op: "=", values: ["web"] }]],
    ["app==web", [{ key: "app", op: "=", values: ["web"] }]],
    ["app != web", [{ key: "app", op: "!=", values: ["web"] }]],
    ["app=", [{ key: "app", op: "=", values: [""] }]],
    ["tier", [{ key: "tier", op: "exists", values: [] }]],
    ["!tier", [{ key: "tier", op: "!exists", values: [] }]],
    ["env in (prod, staging)", [{ key: "env", op: "in", values: ["prod", "staging"] }]],
    ["env notin (dev),app", [{ key: "env", op: "notin", values: ["dev"] }, {
      key: "app",
      op: "exists",
      values: [],
    }]],
    ["example.com/team=a_b.c-d", [{ key: "example.com/team", op: "=", values: ["a_b.c-d"] }]],
  ];
  for (const [selector, requirements] of cases) {
    assert.deepEqual(parseLabelSelector(selector), requirements, selector);
  }
});

Deno.test("parseLabelSelector() answers a bad term with a 400 naming it", () => {
  const cases: [string, RegExp][] = [
    ["app=web=x", /found 'app=web=x', expected: identifier/],
    ["=web", /found '=web'/],
    ["a,,b", /found '', expected: identifier/],
    ["env in (pr od)", /values\[0\]: Invalid value: "pr od"/],
    ["env in (-x)", /Invalid value: "-x"/],
    ["app=we b", /found 'app=we b'/],
  ];
  for (const [selector, message] of cases) {
    assertStatus(() => parseLabelSelector(selector), 400, message, selector);
  }
});

Deno.test("matchesLabels() applies each operator, absent labels included", () => {
  const labels = { app: "web", env: "prod" };
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app=api", false],
    ["app!=api", true],
    ["missing!=x", true],
    ["app", true],
    ["missing", false],
    ["!missing", true],
    ["!app", false],
    ["env in (prod,staging)", true],
    ["env in (dev)", false],
    ["missing in (x)", false],
    ["env notin (dev)", true],
    ["env notin (prod)", false],
    ["missing notin (x)", true],
    ["app=web,env=dev", false],
    ["app=web,env=prod", true],
    // Inherited properties are not labels.
    ["toString", false],
  ];
  for (const [selector, matches] of cases) {
    assert.equal(matchesLabels(parseLabelSelector(selector), labels), matches, selector);
  }
});

Deno.test("parseFieldSelector() and matchesFields() select by name and namespace only", () => {
  const object = { metadata: { name: "web", namespace: "shop" } };
  const cases: [string, boolean][] = [
    ["", true],
    ["metadata.name=web", true],
    ["metadata.name==web", true],
    ["metadata.name!=web", false],
    ["metadata.namespace=shop,metadata.name=web", true],
    ["metadata.namespace=shop,metadata.name=api", false],
    [" metadata.namespace != blog ", true],
  ];
  for (const [selector, matches] of cases) {
    assert.equal(matchesFields(parseFieldSelector(selector), object), matches, selector);
  }
  assertStatus(
    () => parseFieldSelector("spec.nodeName=a"),
    400,
    /^field label not supported: spec\.nodeName$/,
    "field",
  );
  assertStatus(
    () => parseFieldSelector("metadata.name"),
    400,
    /can't understand 'metadata\.name'/,
    "no operator",
  );
});

Deno.test("mergePatch() follows RFC 7386 and leaves its target alone", () => {
  const cases: [JsonValue, JsonValue, JsonValue][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases) {
    const before = JSON.stringify(target);
    assert.deepEqual(mergePatch(target, patch), result, `${before} + ${JSON.stringify(patch)}`);
    assert.equal(JSON.stringify(target), before);
  }
});

Deno.test("strategicMergePatch() drops $-directives at any depth and merges the rest", () => {
  const target = { metadata: { annotations: { a: "1", b: "2" } } };
  const patch = { $patch: "merge", metadata: { annotations: { b: null, c: "3", $retainKeys: ["x"] } } };
  assert.deepEqual(strategicMergePatch(target, patch), { metadata: { annotations: { a: "1", c: "3" } } });
  assert.deepEqual(strategicMergePatch({ list: [1] }, { list: [{ $setElementOrder: 1, x: 2 }] }), {
    list: [{ x: 2 }],
  });
});

Deno.test("jsonPatch() applies add, remove, replace, test, move and copy (RFC 6902)", () => {
  const cases: [JsonValue, JsonValue, JsonValue][] = [
    [{ foo: "bar" }, [{ op: "add", path: "/baz", value: "qux" }], { foo: "bar", baz: "qux" }],
    [{ foo: ["bar", "baz"] }, [{ op: "add", path: "/foo/1", value: "qux" }], { foo: ["bar", "qux", "baz"] }],
    [{ foo: [1] }, [{ op: "add", path: "/foo/-", value: 2 }], { foo: [1, 2] }],
    [{ baz: "qux", foo: "bar" }, [{ op: "remove", path: "/baz" }], { foo: "bar" }],
    [{ foo: ["bar", "qux", "baz"] }, [{ op: "remove", path: "/foo/1" }], { foo: ["bar", "baz"] }],
    [{ baz: "qux" }, [{ op: "replace", path: "/baz", value: "boo" }], { baz: "boo" }],
    [{ foo: { bar: "baz" } }, [{ op: "move", from: "/foo/bar", path: "/qux" }], { foo: {}, qux: "baz" }],
    [{ foo: [1, 2, 3] }, [{ op: "move", from: "/foo/1", path: "/foo/2" }], { foo: [1, 3, 2] }],
    [{ a: { b: 1 } }, [{ op: "copy", from: "/a", path: "/c" }], { a: { b: 1 }, c: { b: 1 } }],
    [{ baz: "qux" }, [{ op: "test", path: "/baz", value: "qux" }], { baz: "qux" }],
    [{ "a/b": 1, "m~n": 2 }, [{ op: "remove", path: "/a~1b" }, { op: "replace", path: "/m~0n", value: 3 }], {
      "m~n": 3,
    }],
    [{ a: 1 }, [{ op: "replace", path: "", value: [1] }], [1]],
    [{ metadata: {} }, [{ op: "add", path: "/metadata/annotations", value: { d: "x" } }], {
      metadata: { annotations: { d: "x" } },
    }],
  ];
  for (const [target, operations, result] of cases) {
    const before = JSON.stringify(target);
    assert.deepEqual(jsonPatch(target, operations), result, JSON.stringify(operations));
    assert.equal(JSON.stringify(target), before, "the target is not changed");
  }
});

Deno.test("jsonPatch() refuses what RFC 6902 refuses, with the Kubernetes status code and the culprit", () => {
  const cases: [JsonValue, JsonValue, number, RegExp][] = [
    [{}, { op: "add" }, 400, /^json patch must be an array$/],
    [{}, [{ path: "/a" }], 422, /^invalid json patch operation$/],
    [{}, [{ op: "add", path: "a", value: 1 }], 422, /^invalid JSON pointer: "a"$/],
    [{}, [{ op: "frobnicate", path: "/a" }], 422, /^unexpected kind: "frobnicate"$/],
    [{ a: 1 }, [{ op: "remove", path: "/b" }], 422, /^missing path: "\/b"$/],
    [{ a: 1 }, [{ op: "replace", path: "/b", value: 2 }], 422, /^missing path: "\/b"$/],
    [{ a: [1] }, [{ op: "add", path: "/a/5", value: 2 }], 422, /^index out of range: "5"$/],
    [{ a: [1] }, [{ op: "add", path: "/a/x", value: 2 }], 422, /^index out of range: "x"$/],
    [{ a: [1] }, [{ op: "remove", path: "/a/1" }], 422, /^index out of range: "1"$/],
    [{ a: [1] }, [{ op: "replace", path: "/a/-", value: 2 }], 422, /^index out of range: "-"$/],
    [{ a: 1 }, [{ op: "add", path: "/x/y", value: 2 }], 422, /^doc is missing path: "\/x\/y"$/],
    [{ a: 1 }, [{ op: "test", path: "/a", value: 2 }], 422, /^testing value \/a failed$/],
    [{ a: 1 }, [{ op: "copy", from: "/b", path: "/c" }], 422, /^missing path: "\/b"$/],
    [{ a: 1 }, [{ op: "remove", path: "" }], 422, /^cannot remove the root$/],
  ];
  for (const [target, operations, code, message] of cases) {
    assertStatus(() => jsonPatch(target, operations), code, message, JSON.stringify(operations));
  }
});

Deno.test("jsonPatch() applies all operations or none: a failing test leaves the target as it was", () => {
  const target = { a: 1 };
  assertStatus(
    () => jsonPatch(target, [{ op: "replace", path: "/a", value: 2 }, { op: "test", path: "/a", value: 1 }]),
    422,
    /testing value \/a failed/,
    "atomic",
  );
  assert.deepEqual(target, { a: 1 });
});
