// deno-lint-ignore-file no-console -- main() prints through the console; one test captures it
import assert from "node:assert/strict";
import { installed, run as runCommand, type RunResult } from "./support/process.ts";
import { domainId } from "../lib/model/model.ts";

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
    // `check` runs haproxy -c on the same config with the map files it names.
    const check = await haconfd(["check", "--from", "examples/endpoints.json"]);
    assert.equal(check.code, 0, check.stderr);
    // Backend → servers for each annotated object (the Host/SNI → backend maps are files of their own).
    const grafanaId = `be_${domainId("grafana.example.test")}`;
    assert.match(text, new RegExp(`^backend ${grafanaId}\n {4}mode http$`, "m"));
    const grafana = text.slice(text.indexOf(`backend ${grafanaId}\n`)).split("\n\n")[0]!;
    assert.match(grafana, /server grafana-7b9f6d8c5-2lq8m 10\.244\.0\.77:3000 check/);
    assert.match(grafana, /server grafana-7b9f6d8c5-h4x9t 10\.244\.1\.78:3000 check/);
    assert.doesNotMatch(grafana, /10\.244\.2\.79/, "a not-ready address does not serve");
    assert.match(text, new RegExp(`^backend be_${domainId("dashboard.example.test")}\n {4}mode tcp$`, "m"));
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

Deno.test("haconfd render --from - takes kubectl -o yaml output: the same config as from its JSON", async () => {
  const { stringify } = await import("yaml");
  const json = await Deno.readTextFile(new URL("examples/endpoints.json", root));
  const fromJson = await haconfd(["render", "--from", "-"], { stdin: json });
  const fromYaml = await haconfd(["render", "--from", "-"], { stdin: stringify(JSON.parse(json)) });
  assert.equal(fromYaml.code, 0, fromYaml.stderr);
  assert.equal(fromYaml.stdout, fromJson.stdout);
  assert.match(fromYaml.stdout, /server grafana-7b9f6d8c5-2lq8m 10\.244\.0\.77:3000 check/);
});

Deno.test("haconfd render: input that is not an EndpointsList fails naming the input", async () => {
  const notJson = await haconfd(["render", "--from", "-"], { stdin: "{ not json\n" });
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /Cannot parse \\"stdin\\": not JSON or YAML/);
  const notList = await haconfd(["render", "--from", "-"], {
    stdin: JSON.stringify({ kind: "Pod", metadata: {} }),
  });
  assert.equal(notList.code, 1);
  assert.match(notList.stderr, /Input is not a Kubernetes list/);
  const missing = await haconfd(["render", "--from", "/nonexistent/dump.json"]);
  assert.equal(missing.code, 2, "a --from file that does not exist is a settings error");
  assert.match(missing.stderr, /Invalid --from: "\/nonexistent\/dump\.json" does not exist/);
});

Deno.test("haconfd render without --from and without any API configuration says what to give", async () => {
  const run = await haconfd(["render"], { env: { HOME: "/nonexistent" } });
  assert.equal(run.code, 2, run.stderr);
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
    assert.equal(run.code, 2, "a template that does not compile is a bad --template-dir");
    assert.match(
      run.stderr,
      new RegExp(`Invalid --template-dir: Cannot render template "${dir}/10-broken\\.eta" line 3: \\S`),
    );
    assert.equal(run.stdout, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("haconfd run: each unusable --template-dir exits 2 naming the option", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/empty`);
    await Deno.mkdir(`${root}/jinja`);
    await Deno.writeTextFile(`${root}/jinja/haproxy.cfg.j2`, "{% for d in domains %}{{ d }}{% endfor %}\n");
    for (const dir of [`${root}/missing`, `${root}/empty`, `${root}/jinja`]) {
      const run = await haconfd([
        "run",
        "--once",
        "--dry-run",
        "--from",
        "examples/endpoints.json",
        "--haproxy-conf",
        `${root}/haproxy.cfg`,
        "--template-dir",
        dir,
      ]);
      assert.equal(run.code, 2, `${dir}: ${run.stderr}`);
      assert.match(run.stderr, /--template-dir/, dir);
      assert.doesNotMatch(run.stderr, /level=error/, `${dir}: a bad option is not a run failure`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
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
      "--haproxy-chk-cmd",
      "true",
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
  const sourceDir = `${dir}/source`;
  await Deno.mkdir(sourceDir);
  await Deno.copyFile(new URL("examples/endpoints.json", root), `${sourceDir}/dump.json`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "main.ts",
      "run",
      "--from",
      `${sourceDir}/dump.json`,
      "--haproxy-conf",
      `${dir}/haproxy.cfg`,
      "--haproxy-chk-cmd",
      "true",
      "--status-listen",
      "off",
      "--dry-run",
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    let stderr = "";
    const decoder = new TextDecoder();
    let removed = false;
    for await (const chunk of child.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      // The directory goes once the daemon has read the file: its watch then ends for good.
      if (!removed && /msg="file read"/.test(stderr)) {
        removed = true;
        await Deno.remove(sourceDir, { recursive: true });
      }
    }
    const status = await child.status;
    assert.ok(removed, `the daemon never read its file (killed after 30 s?):\n${stderr}`);
    assert.equal(status.code, 1, stderr);
    assert.match(stderr, /the source failed, stopping/);
  } finally {
    clearTimeout(deadline);
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

/** One bad value per option, with what the command line around it needs so that only that value is wrong. */
interface BadValue {
  /** The bad value (as a flag value and, where the option has one, as its variable). */
  bad: string;
  /** Base flags to leave out (e.g. `from`, to reach the API connection). */
  drop?: string[];
  /** Flags to add (e.g. the certificate beside a bad key). */
  add?: Record<string, string | true>;
}

/** Runs `main()` in this process with the console captured: exit code and everything printed. */
async function mainCaptured(args: string[], env: Record<string, string>) {
  const { main } = await import("../main.ts");
  const printed: string[] = [];
  const { error, log } = console;
  console.error = (...parts: unknown[]) => printed.push(parts.join(" "));
  console.log = (...parts: unknown[]) => printed.push(parts.join(" "));
  try {
    return {
      code: await main(args, { PATH: Deno.env.get("PATH") ?? "", HOME: "/nonexistent", ...env }),
      printed,
    };
  } finally {
    console.error = error;
    console.log = log;
  }
}

Deno.test("main() exits 2 naming the flag or variable for a bad value of every option", async () => {
  const { OPTIONS } = await import("../lib/settings/options.ts");
  const { testCerts } = await import("./support/certs.ts");
  type Key = keyof typeof OPTIONS;
  const certs = await testCerts();
  const dir = await Deno.makeTempDir();
  try {
    const pair = await certs.client("haconfd");
    const missing = `${dir}/missing`;
    await Deno.writeTextFile(
      `${dir}/kubeconfig`,
      "apiVersion: v1\nkind: Config\ncurrent-context: a\nclusters: [{name: c, cluster: {server: https://127.0.0.1:1}}]\n" +
        "contexts: [{name: a, context: {cluster: c}}]\nusers: []\n",
    );
    const base: Record<string, string | true> = {
      once: true,
      "dry-run": true,
      from: fileUrlPath("examples/endpoints.json"),
      "haproxy-conf": `${dir}/haproxy.cfg`,
      "haproxy-chk-cmd": "true",
      "status-listen": "off",
      "sync-timeout": "1s",
    };
    // A Record over every option: a new option does not type-check until it has a case here.
    const cases: Record<Key, BadValue> = {
      apiServers: { bad: "ftp://x" },
      sslKey: { bad: `${missing}.key`, add: { "ssl-cert": pair.certPath } },
      sslCert: { bad: `${missing}.crt`, add: { "ssl-key": pair.keyPath } },
      sslCa: { bad: `${missing}.ca` },
      tokenFile: { bad: `${missing}.token` },
      kubeconfig: { bad: `${missing}.kubeconfig` },
      context: { bad: "no-such-context", drop: ["from"], add: { kubeconfig: `${dir}/kubeconfig` } },
      resource: { bad: "pods" },
      namespace: { bad: "Bad_NS" },
      labelSelector: { bad: "app web" },
      secretLabelSelector: { bad: "app web" },
      backendMode: { bad: "nodes" },
      nodeAddressType: { bad: "Internal IP" },
      nodeSelector: { bad: "zone in a" },
      nodeIncludeUnschedulable: { bad: "maybe" },
      interval: { bad: "soon" },
      syncTimeout: { bad: "600h" },
      from: { bad: `${missing}.json` },
      templateDir: { bad: `${missing}-templates` },
      httpBind: { bad: "*:99999" },
      httpsBind: { bad: "*:0" },
      haproxyMetricsBind: { bad: "127.0.0.1:99999" },
      tcpBindAddress: { bad: "999.999.999.999" },
      haproxyConf: { bad: `${missing}-dir/haproxy.cfg` },
      haproxyCheckCmd: { bad: `${missing}-haproxy -c -f` },
      haproxyReloadCmd: { bad: `${missing}-reload`, drop: ["dry-run"] },
      haproxyMasterSocket: { bad: "127.0.0.1:99999" },
      haproxyRun: { bad: "maybe" },
      acceptProxy: { bad: "maybe" },
      haproxyUser: { bad: "Root!" },
      haproxyBin: { bad: `${missing}-haproxy`, drop: ["haproxy-chk-cmd"] },
      checkTimeout: { bad: "600h" },
      reloadTimeout: { bad: "1ms" },
      wait: { bad: "1:2:3" },
      minReloadInterval: { bad: "999h" },
      maxShrink: { bad: "2" },
      once: { bad: "maybe" },
      dryRun: { bad: "maybe" },
      trafficLog: { bad: "maybe" },
      statusListen: { bad: "127.0.0.1:99999" },
      statusToken: { bad: "short" },
      statusTokenFile: { bad: `${missing}.status-token` },
      statusExposeConfig: { bad: "maybe" },
      logLevel: { bad: "loud" },
      logFormat: { bad: "xml" },
      maxResponseBytes: { bad: "12 parsecs" },
      maxEventBytes: { bad: "10" },
      haproxyRuntimeSocket: { bad: "127.0.0.1:99999" },
      noRuntimeApi: { bad: "maybe" },
      tls: { bad: "maybe" },
      certDir: { bad: " " },
      // Neither a PEM file path nor a Secret's namespace/name.
      defaultCertificate: { bad: "default.pem" },
      // A group the system does not know, found when --tls sets up the cert dir.
      certGroup: { bad: "no-such-group-haconfd", add: { tls: true } },
      drainTimeout: { bad: "600h" },
    };
    const failures: string[] = [];
    for (const [key, c] of Object.entries(cases) as [Key, BadValue][]) {
      const def: { flag: string; env?: string } = OPTIONS[key];
      const flags = { ...base, ...c.add };
      for (const dropped of [...c.drop ?? [], def.flag]) delete flags[dropped];
      const args = ["run", ...Object.entries(flags).map(([f, v]) => v === true ? `--${f}` : `--${f}=${v}`)];
      const forms: [string, string[], Record<string, string>][] = [
        [`--${def.flag}`, [...args, `--${def.flag}=${c.bad}`], {}],
      ];
      if (def.env !== undefined) forms.push([def.env, args, { [def.env]: c.bad }]);
      for (const [culprit, argv, env] of forms) {
        const { code, printed } = await mainCaptured(argv, env);
        const text = printed.join("\n");
        if (code !== 2 || !text.includes(culprit)) {
          failures.push(`${key} via ${culprit}=${c.bad}: exit ${code}, printed:\n  ${text.slice(0, 400)}`);
        }
      }
    }
    assert.deepEqual(failures, [], `options not refused with exit 2 naming them:\n${failures.join("\n")}`);
  } finally {
    await certs.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() refuses a client key that does not belong to SSL_CERT_FILE (OpenSSL's CA bundle), exit 2", async () => {
  const { testCerts } = await import("./support/certs.ts");
  const certs = await testCerts();
  try {
    const pair = await certs.client("haconfd");
    const { code, printed } = await mainCaptured(
      ["render", "--from", fileUrlPath("examples/endpoints.json"), "--ssl-key", pair.keyPath],
      { SSL_CERT_FILE: certs.caCertPath },
    );
    assert.equal(code, 2, printed.join("\n"));
    assert.match(
      printed.join("\n"),
      /Invalid SSL_CERT_FILE and --ssl-key: the key ".*" does not belong to the certificate ".*" \(SSL_CERT_FILE is also OpenSSL's CA-bundle variable/,
    );
  } finally {
    await certs.dispose();
  }
});

function fileUrlPath(relative: string): string {
  return new URL(relative, root).pathname;
}
