/**
 * Shipping artifacts: the systemd unit (systemd-analyze verify and security), /etc/default/haconfd, the
 * polkit rule, the Kubernetes manifests (RBAC exactly read-only), compose.yaml (docker-compose config)
 * and the release workflow.
 */
import assert from "node:assert/strict";
import { haproxyEnv } from "../lib/haproxy/malloc_env.ts";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { OPTIONS } from "../lib/settings/options.ts";
import { installed, ROOT, run, whichOrNote } from "./support/process.ts";

const UNIT = join(ROOT, "deploy", "haconfd.service");

/** Every environment variable haconfd reads (lib/settings/options.ts). */
function knownVariables(): Set<string> {
  return new Set<string>(
    Object.values(OPTIONS).flatMap((o) => ("env" in o && o.env ? [o.env] : [])),
  );
}

/** A systemd unit as section → key → values (keys may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1] as string, current);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(
      current !== undefined && eq > 0,
      `unit line outside a section or without "=": ${line}`,
    );
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

/** A copy of the unit whose ExecStart points at a stub, since verify needs an existing executable. */
async function unitWithStub(dir: string, text: string): Promise<string> {
  const stub = join(dir, "haconfd");
  await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  const unit = join(dir, "haconfd.service");
  await Deno.writeTextFile(
    unit,
    text.replace("ExecStart=/usr/local/bin/haconfd ", `ExecStart=${stub} `),
  );
  return unit;
}

const SYSTEMD_ANALYZE = whichOrNote(
  "systemd-analyze",
  "deploy_test: systemd-analyze not installed: unit verification skipped",
);

Deno.test("haconfd.service declares ordering, restart, environment file and least privilege", async () => {
  const unit = parseUnit(await Deno.readTextFile(UNIT));
  const u = unit.get("Unit");
  const s = unit.get("Service");
  assert.ok(u && s && unit.get("Install"), "sections Unit, Service, Install");
  const after = (u.get("After") ?? []).join(" ").split(/\s+/);
  assert.ok(
    after.includes("network-online.target") &&
      after.includes("haproxy.service"),
  );
  assert.deepEqual(u.get("Wants"), ["network-online.target"]);
  const one = (key: string) => {
    const values = s.get(key);
    assert.equal(values?.length, 1, `exactly one ${key}=`);
    return values[0];
  };
  assert.equal(one("ExecStart"), "/usr/local/bin/haconfd run");
  assert.equal(one("ExecReload"), '/bin/sh -c "kill -HUP $MAINPID"');
  assert.equal(one("Restart"), "on-failure");
  assert.equal(one("EnvironmentFile"), "-/etc/default/haconfd");
  assert.equal(one("User"), "haconfd");
  assert.equal(one("Group"), "haproxy");
  assert.equal(one("ProtectSystem"), "strict");
  assert.equal(one("ReadWritePaths"), "/etc/haproxy");
  for (
    const key of [
      "NoNewPrivileges",
      "PrivateTmp",
      "ProtectHome",
      "PrivateDevices",
      "RestrictSUIDSGID",
    ]
  ) {
    assert.equal(one(key), "yes", key);
  }
  assert.equal(one("CapabilityBoundingSet"), "", "no capabilities at all");
  assert.equal(
    s.has("MemoryDenyWriteExecute"),
    false,
    "V8's JIT needs W+X memory",
  );
  assert.deepEqual(unit.get("Install")?.get("WantedBy"), ["multi-user.target"]);
});

Deno.test({
  name: "haconfd.service passes systemd-analyze verify and rates OK in the offline security review",
  ignore: SYSTEMD_ANALYZE === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-unit-" });
    try {
      const text = await Deno.readTextFile(UNIT);
      const unit = await unitWithStub(dir, text);
      const verify = await run(SYSTEMD_ANALYZE as string, ["verify", unit]);
      assert.equal(verify.code, 0, verify.stderr);
      // verify exits 0 on unknown keys too; they show up as warnings on stderr.
      assert.equal(verify.stderr.trim(), "", "no warnings");

      // The check notices a bad key (so an empty stderr above means something).
      const bad = await unitWithStub(
        dir,
        text.replace("[Service]\n", "[Service]\nProtectSystm=strict\n"),
      );
      const badVerify = await run(SYSTEMD_ANALYZE as string, ["verify", bad]);
      assert.match(badVerify.stderr, /Unknown key .?ProtectSystm/);

      const security = await run(SYSTEMD_ANALYZE as string, [
        "security",
        "--offline=yes",
        unit,
      ]);
      const level = /Overall exposure level for haconfd\.service: ([\d.]+)/
        .exec(security.stdout);
      assert.ok(level, security.stdout + security.stderr);
      assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]} is at most 2.0`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("haconfd.default sets only variables haconfd reads, in EnvironmentFile syntax", async () => {
  const known = knownVariables();
  const text = await Deno.readTextFile(join(ROOT, "deploy", "haconfd.default"));
  const keys: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const commented = /^#([A-Z_]+)=/.exec(line);
    if (line.startsWith("#")) {
      if (commented) keys.push(commented[1] as string);
      continue;
    }
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `not KEY=value: ${line}`);
    assert.equal(
      /^["']/.test(m[2] as string),
      false,
      `unquoted value: ${line}`,
    );
    keys.push(m[1] as string);
  }
  assert.ok(keys.length >= 15);
  for (const key of keys) {
    assert.ok(known.has(key), `"${key}" is a haconfd setting`);
  }
  assert.ok(
    keys.includes("STATUS_LISTEN") && keys.includes("HAPROXY_MASTER_SOCKET"),
  );
});

Deno.test("50-haconfd-reload-haproxy.rules allows haconfd to reload haproxy.service and nothing else", async () => {
  const source = await Deno.readTextFile(
    join(ROOT, "deploy", "50-haconfd-reload-haproxy.rules"),
  );
  type Rule = (
    action: { id: string; lookup(key: string): string },
    subject: { user: string },
  ) => string;
  const rules: Rule[] = [];
  const polkit = {
    Result: { YES: "yes", NO: "no", NOT_HANDLED: "not-handled" },
    addRule: (r: Rule) => rules.push(r),
  };
  new Function("polkit", source)(polkit);
  assert.equal(rules.length, 1);
  const rule = rules[0] as Rule;
  const ask = (
    unit: string,
    verb: string,
    user: string,
    id = "org.freedesktop.systemd1.manage-units",
  ) => rule({ id, lookup: (key) => ({ unit, verb })[key] ?? "" }, { user });
  assert.equal(ask("haproxy.service", "reload", "haconfd"), "yes");
  assert.equal(ask("haproxy.service", "restart", "haconfd"), "not-handled");
  assert.equal(ask("haproxy.service", "stop", "haconfd"), "not-handled");
  assert.equal(ask("ssh.service", "reload", "haconfd"), "not-handled");
  assert.equal(ask("haproxy.service", "reload", "nobody"), "not-handled");
  assert.equal(
    ask(
      "haproxy.service",
      "reload",
      "haconfd",
      "org.freedesktop.login1.reboot",
    ),
    "not-handled",
  );
});

Deno.test("haproxy-master-socket.conf gives the master socket to group haproxy, and haconfd's malloc tunables", async () => {
  const unit = parseUnit(
    await Deno.readTextFile(join(ROOT, "deploy", "haproxy-master-socket.conf")),
  );
  const env = unit.get("Service")?.get("Environment");
  // The same values haconfd gives the HAProxy it starts itself, when the operator set none.
  const { GLIBC_TUNABLES, MALLOC_TOP_PAD_ } = haproxyEnv({ get: () => undefined });
  assert.deepEqual(env, [
    '"EXTRAOPTS=-S /run/haproxy-master.sock,mode,660,group,haproxy"',
    `"GLIBC_TUNABLES=${GLIBC_TUNABLES}" "MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_}"`,
  ]);
});

// ---------------------------------------------------------------------------------------------------
// Kubernetes

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

async function manifests(): Promise<K8sObject[]> {
  const dir = join(ROOT, "deploy", "kubernetes");
  const objects: K8sObject[] = [];
  const names = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".yaml")) names.push(entry.name);
  }
  assert.ok(names.length > 0, "deploy/kubernetes/*.yaml exist");
  for (const name of names.toSorted()) {
    for (
      const doc of parseAllDocuments(await Deno.readTextFile(join(dir, name)))
    ) {
      assert.deepEqual(doc.errors, [], `${name} parses`);
      const obj = doc.toJS() as K8sObject | null;
      if (obj === null) continue;
      assert.ok(
        obj.apiVersion && obj.kind && obj.metadata?.name,
        `${name}: apiVersion, kind, metadata.name`,
      );
      objects.push(obj);
    }
  }
  return objects;
}

function find<T = K8sObject>(objects: K8sObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as T;
}

Deno.test("deploy/kubernetes: ClusterRole grants exactly get/list/watch on endpoints, endpointslices, nodes, services", async () => {
  const objects = await manifests();
  const role = find<
    {
      metadata: { name: string };
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    }
  >(
    objects,
    "ClusterRole",
  );
  const grants = new Set<string>();
  for (const rule of role.rules) {
    assert.deepEqual(rule.verbs.toSorted(), ["get", "list", "watch"]);
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) grants.add(`${group}/${resource}`);
    }
  }
  assert.deepEqual([...grants].toSorted(), [
    "/endpoints",
    "/nodes",
    "/services",
    "discovery.k8s.io/endpointslices",
  ]);

  const account = find(objects, "ServiceAccount");
  const binding = find<
    {
      roleRef: { kind: string; name: string; apiGroup: string };
      subjects: { kind: string; name: string; namespace: string }[];
    }
  >(
    objects,
    "ClusterRoleBinding",
  );
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: role.metadata.name,
  });
  assert.deepEqual(binding.subjects, [
    {
      kind: "ServiceAccount",
      name: account.metadata.name,
      namespace: account.metadata.namespace,
    },
  ]);
  const namespace = find(objects, "Namespace");
  assert.equal(account.metadata.namespace, namespace.metadata.name);
});

Deno.test("deploy/kubernetes/tls/secrets-role.yaml: a namespaced Role grants exactly get/list/watch on secrets to haconfd's ServiceAccount", async () => {
  const docs = parseAllDocuments(
    await Deno.readTextFile(join(ROOT, "deploy", "kubernetes", "tls", "secrets-role.yaml")),
  );
  for (const doc of docs) assert.deepEqual(doc.errors, [], "secrets-role.yaml parses");
  const tls = docs.map((doc) => doc.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
  assert.deepEqual(
    tls.map((o) => o.kind).toSorted(),
    ["Role", "RoleBinding"],
    "no ClusterRole, nothing else",
  );
  const role = find<
    {
      metadata: { name: string; namespace?: string };
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    }
  >(tls, "Role");
  assert.ok(role.metadata.namespace, "the Role is namespaced");
  assert.deepEqual(role.rules, [{
    apiGroups: [""],
    resources: ["secrets"],
    verbs: ["get", "list", "watch"],
  }]);

  const binding = find<
    {
      metadata: { namespace?: string };
      roleRef: { kind: string; name: string; apiGroup: string };
      subjects: { kind: string; name: string; namespace: string }[];
    }
  >(tls, "RoleBinding");
  assert.equal(binding.metadata.namespace, role.metadata.namespace, "bound in the Role's namespace");
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "Role",
    name: role.metadata.name,
  });
  const account = find(await manifests(), "ServiceAccount");
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: account.metadata.name, namespace: account.metadata.namespace },
  ]);
});

Deno.test("deploy/kubernetes: 00-namespace.yaml holds the Namespace and sorts first, as kubectl apply -f DIR needs", async () => {
  const dir = join(ROOT, "deploy", "kubernetes");
  const names = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".yaml")) names.push(entry.name);
  }
  assert.equal(names.toSorted()[0], "00-namespace.yaml");
  const kinds = parseAllDocuments(
    await Deno.readTextFile(join(dir, "00-namespace.yaml")),
  ).map((doc) => (doc.toJS() as K8sObject).kind);
  assert.deepEqual(kinds, ["Namespace"]);
});

Deno.test("deploy/kubernetes: the DaemonSet runs on HAProxy nodes with the host network and the ServiceAccount", async () => {
  const objects = await manifests();
  const ds = find<
    K8sObject & { spec: { template: { spec: Record<string, unknown> } } }
  >(
    objects,
    "DaemonSet",
  );
  const pod = ds.spec.template.spec as {
    hostNetwork: boolean;
    dnsPolicy: string;
    nodeSelector: Record<string, string>;
    serviceAccountName: string;
    containers: {
      args: string[];
      env: { name: string; value: string }[];
      readinessProbe: { httpGet: { path: string; port: number; host: string } };
    }[];
  };
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
  assert.deepEqual(pod.nodeSelector, { "haconfd/haproxy": "true" });
  assert.equal(
    pod.serviceAccountName,
    find(objects, "ServiceAccount").metadata.name,
  );
  assert.equal(
    ds.metadata.namespace,
    find(objects, "ServiceAccount").metadata.namespace,
  );
  const [container] = pod.containers;
  assert.ok(container);
  assert.ok(container.args.includes("--haproxy-run"));
  const known = knownVariables();
  for (const { name } of container.env) {
    assert.ok(known.has(name), `"${name}" is a haconfd setting`);
  }
  const status = container.env.find((e) => e.name === "STATUS_LISTEN")?.value;
  const probe = container.readinessProbe.httpGet;
  assert.equal(
    `${probe.host}:${probe.port}`,
    status,
    "the probe reaches the status listener",
  );
  assert.equal(probe.path, "/readyz");
});

// ---------------------------------------------------------------------------------------------------
// Compose

const DOCKER_COMPOSE = whichOrNote(
  "docker-compose",
  "deploy_test: docker-compose not installed: compose validation skipped",
);

Deno.test({
  name: "compose.yaml passes docker-compose config",
  ignore: DOCKER_COMPOSE === undefined,
  async fn() {
    const res = await run(DOCKER_COMPOSE as string, [
      "-f",
      "compose.yaml",
      "config",
      "--quiet",
    ]);
    assert.equal(res.code, 0, res.stderr);
    const broken = await Deno.makeTempDir({ prefix: "haconfd-compose-" });
    try {
      // Control: a wrong key is rejected, so the pass above means something.
      const text = (await Deno.readTextFile(join(ROOT, "compose.yaml")))
        .replace("restart:", "restrat:");
      await Deno.writeTextFile(join(broken, "compose.yaml"), text);
      const bad = await run(DOCKER_COMPOSE as string, [
        "-f",
        join(broken, "compose.yaml"),
        "config",
        "--quiet",
      ]);
      assert.notEqual(bad.code, 0);
    } finally {
      await Deno.remove(broken, { recursive: true });
    }
  },
});

Deno.test("compose.yaml shares the config and master socket volumes; its files exist and parse", async () => {
  const compose = parse(
    await Deno.readTextFile(join(ROOT, "compose.yaml")),
  ) as {
    services: Record<
      string,
      {
        image?: string;
        build?: { dockerfile: string };
        volumes: string[];
        environment?: Record<string, string>;
      }
    >;
  };
  const { haproxy, haconfd } = compose.services;
  assert.ok(haproxy && haconfd);
  assert.equal(haproxy.image, "haproxy:2.6");
  assert.equal(haconfd.build?.dockerfile, "examples/compose/Dockerfile");
  await Deno.stat(join(ROOT, "examples/compose/Dockerfile"));
  for (
    const volume of [
      "haproxy-etc:/usr/local/etc/haproxy",
      "haproxy-run:/var/run/haproxy",
    ]
  ) {
    assert.ok(
      haproxy.volumes.includes(volume) && haconfd.volumes.includes(volume),
      volume,
    );
  }
  assert.equal(
    haconfd.environment?.HAPROXY_MASTER_SOCKET,
    "/var/run/haproxy/master.sock",
  );
  assert.equal(
    haconfd.environment?.HAPROXY_CONF,
    "/usr/local/etc/haproxy/haproxy.cfg",
  );
  const kind = parse(
    await Deno.readTextFile(join(ROOT, "examples/compose/kind.yaml")),
  ) as { kind: string };
  assert.equal(kind.kind, "Cluster");
  const workload = parseAllDocuments(
    await Deno.readTextFile(join(ROOT, "examples/compose/workload.yaml")),
  )
    .map((d) =>
      d.toJS() as K8sObject & {
        metadata: { annotations?: Record<string, string> };
      }
    );
  const service = workload.find((o) => o.kind === "Service");
  assert.deepEqual(service?.metadata.annotations, {
    domain: "echo.haconfd.test",
    proto: "http",
  });
  const drive = await run("bash", ["-n", "tests/compose_drive.sh"]);
  assert.equal(drive.code, 0, drive.stderr);
});

Deno.test({
  name: "examples/compose/haproxy.cfg is a valid starting configuration",
  ignore: !installed("haproxy"),
  async fn() {
    const res = await run("haproxy", [
      "-c",
      "-f",
      "examples/compose/haproxy.cfg",
    ]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
  },
});

// ---------------------------------------------------------------------------------------------------
// Release workflow

Deno.test("release workflow runs on v* tags: tests, compiles every target, uploads binaries and SHA256SUMS", async () => {
  const workflow = parse(
    await Deno.readTextFile(join(ROOT, ".github/workflows/release.yml")),
  ) as {
    on: { push: { tags: string[] } };
    permissions: Record<string, string>;
    jobs: Record<string, { steps: { run?: string; uses?: string }[] }>;
  };
  assert.deepEqual(workflow.on.push.tags, ["v*"]);
  assert.equal(workflow.permissions.contents, "write");
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
  const runs = steps.flatMap((s) => (s.run === undefined ? [] : [s.run])).join(
    "\n",
  );
  assert.ok(steps.some((s) => s.uses?.startsWith("actions/checkout@")));
  assert.ok(steps.some((s) => s.uses?.startsWith("actions/setup-node@")));
  // The same commands as .ci/run and the README.
  assert.match(runs, /tools\/test\.sh/);
  assert.match(runs, /tools\/deno task compile --all/);
  assert.match(
    runs,
    /tests\/compile_test\.ts --filter "builds a binary"/,
    "the compiled binary is smoke-tested",
  );
  assert.match(runs, /SHA256SUMS/);
  assert.match(runs, /dist\/haconfd-linux-\*/);
  const ci = await Deno.readTextFile(join(ROOT, ".ci/run")).catch(() => undefined);
  if (ci !== undefined) {
    assert.match(ci, /tools\/test\.sh/, ".ci/run runs the same test script");
  }
});
