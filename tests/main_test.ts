import assert from "node:assert/strict";
import { installed, run as runCommand, type RunResult } from "./support/process.ts";

const root = new URL("../", import.meta.url);

/** Runs `deno run main.ts ARGS` as a user would. */
function haconfd(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", "--allow-all", "main.ts", ...args], {
    cwd: root,
    env: { NO_COLOR: "1", ...options.env },
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  });
}

Deno.test({
  name: "haconfd render --from examples/endpoints.json: haproxy -c accepts it, routes as annotated",
  ignore: !installed("haproxy"),
  async fn() {
    const run = await haconfd(["render", "--from", "examples/endpoints.json"]);
    assert.equal(run.code, 0, run.stderr);
    const text = run.stdout;
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/haproxy.cfg`, text);
      const check = await runCommand("haproxy", ["-c", "-f", `${dir}/haproxy.cfg`]);
      assert.equal(check.code, 0, check.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    // Host ACL → backend → servers, for each annotated object.
    const backend = (domain: string) =>
      new RegExp(`if \\{ req\\.hdr\\(host\\),host_only -i ${domain.replaceAll(".", "\\.")} \\}`);
    assert.match(text, backend("grafana.example.test"));
    const grafanaId = /use_backend (be_grafana_example_test_\w+) if/.exec(text)?.[1];
    assert.ok(grafanaId);
    const grafana = text.slice(text.indexOf(`backend ${grafanaId}\n`)).split("\n\n")[0]!;
    assert.match(grafana, /server grafana-7b9f6d8c5-2lq8m 10\.244\.0\.77:3000 check/);
    assert.match(grafana, /server grafana-7b9f6d8c5-h4x9t 10\.244\.1\.78:3000 check/);
    assert.doesNotMatch(grafana, /10\.244\.2\.79/, "a not-ready address does not serve");
    assert.match(
      text,
      /use_backend be_dashboard_example_test_\w+ if \{ req\.ssl_sni -i dashboard\.example\.test \}/,
    );
    assert.match(text, /server kubernetes-dashboard-6c7ccbcf87-vwxzk 10\.244\.5\.164:8443 check/);
    assert.match(
      text,
      /listen tcp_redis_example_test_\w+\n {4}bind \*:6379\n[^]*?server redis-0 10\.244\.3\.20:6379 check/,
    );
    assert.match(text, /listen tcp_pg_example_test_\w+\n {4}bind \*:15432\n/);
    // Unannotated, invalid and losing objects are absent; the problems are reported on stderr.
    assert.doesNotMatch(
      text,
      /kube-dns|coredns|10\.244\.4\.10|legacy|grafana-copy|10\.244\.4\.30|192\.168\.10\.11/,
    );
    assert.match(run.stderr, /level=warn .*object=shop\/legacy reason=.*is not a DNS name or IP address/);
    assert.match(run.stderr, /object=shop\/grafana-copy reason=.*already claimed by monitoring\/grafana/);
  },
});

Deno.test("haconfd render is byte-identical across runs, and reads stdin with --from -", async () => {
  const a = await haconfd(["render", "--from", "examples/endpoints.json"]);
  const b = await haconfd(["render", "--from", "-"], {
    stdin: await Deno.readTextFile(new URL("examples/endpoints.json", root)),
  });
  assert.equal(a.code, 0);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.ok(a.stdout.length > 1000);
});

Deno.test("haconfd: bad flags and variables exit 2 naming the culprit", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["render", "--from", "x", "--interval", "soon"], {}, /Invalid --interval: "soon" is not a duration/],
    [["render", "--from", "x"], { LOGLEVEL: "chatty" }, /Invalid LOGLEVEL: "chatty"/],
    [["render", "--nope"], {}, /Unknown option '--nope'/],
    [["frobnicate"], {}, /Unknown command "frobnicate"/],
  ];
  for (const [args, env, message] of cases) {
    const run = await haconfd(args, { env });
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
    assert.equal(run.stdout, "");
  }
});

Deno.test("haconfd render: input that is not an EndpointsList fails naming the input", async () => {
  const notJson = await haconfd(["render", "--from", "-"], { stdin: "kind: List\n" });
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /Cannot parse \\"stdin\\": not JSON/);
  const notList = await haconfd(["render", "--from", "-"], {
    stdin: JSON.stringify({ kind: "Pod", metadata: {} }),
  });
  assert.equal(notList.code, 1);
  assert.match(notList.stderr, /Input is not a Kubernetes list/);
  const missing = await haconfd(["render", "--from", "/nonexistent/dump.json"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read \\"\/nonexistent\/dump\.json\\"/);
});

Deno.test("haconfd render without --from and without any API configuration says what to give", async () => {
  const run = await haconfd(["render"], { env: { HOME: "/nonexistent" } });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /No API server configured: give --api-servers, --kubeconfig/);
});

Deno.test("haconfd render: a template syntax error names the file and line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/10-broken.eta`,
      "frontend x\n<% if (true) { %>\n {4}bind <%= it.listen.http \n<% } %>\n",
    );
    const run = await haconfd(["render", "--from", "examples/endpoints.json", "--template-dir", dir]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      new RegExp(`Cannot render template \\\\"${dir}/10-broken\\.eta\\\\" line 3: \\S`),
    );
    assert.equal(run.stdout, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("haconfd version and --help", async () => {
  const version = await haconfd(["version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^haconfd \d+\.\d+\.\d+ \(commit \S+, deno \d+\.\d+\.\d+, \S+\)\n$/);
  const help = await haconfd(["render", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: haconfd render/);
  assert.match(help.stdout, /--haproxy-chk-cmd CMD .*env HAPROXY_CHECK_CMD/);
});

Deno.test("haconfd run --once gives up after --sync-timeout when the source never syncs, saying why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/dump.json`, "{ not json");
    const run = await haconfd([
      "run",
      "--once",
      "--from",
      `${dir}/dump.json`,
      "--sync-timeout",
      "500ms",
      "--haproxy-conf",
      `${dir}/haproxy.cfg`,
      "--status-listen",
      "off",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /No complete sync with the source within 500ms: Cannot parse .*dump\.json.*not JSON/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["dump.json"], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("haconfd run stops with exit 1 when its source fails for good", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await haconfd([
      "run",
      "--from",
      "/nonexistent-dir/dump.json",
      "--haproxy-conf",
      `${dir}/haproxy.cfg`,
      "--status-listen",
      "off",
      "--dry-run",
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /the source failed, stopping/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "haconfd run --once --dry-run fails when the rendered config does not pass the check",
  ignore: !installed("haproxy"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/00-bad.conf`, "global\n    bogus-keyword\n");
      const run = await haconfd([
        "run",
        "--once",
        "--dry-run",
        "--from",
        "examples/endpoints.json",
        "--template-dir",
        dir,
        "--haproxy-conf",
        `${dir}/haproxy.cfg`,
        "--status-listen",
        "off",
      ]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        /outcome=check-failed detail="dry run: the check rejects the rendered config"/,
      );
      assert.match(run.stderr, /bogus-keyword/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "examples/templates (pyconfd's examples, ported) render the example cluster into a config haproxy -c accepts",
  ignore: !installed("haproxy"),
  async fn() {
    const run = await haconfd([
      "check",
      "--from",
      "examples/endpoints.json",
      "--template-dir",
      "examples/templates",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Configuration is valid/);
  },
});
