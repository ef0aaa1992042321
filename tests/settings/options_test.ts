import assert from "node:assert/strict";
import { parseCommandLine } from "../../lib/settings/cli.ts";
import {
  ConfigError,
  loadSettings,
  OPTIONS,
  optionsHelp,
  optionSpecs,
  parseDuration,
} from "../../lib/settings/options.ts";

function settingsOf(args: string[], env: Record<string, string> = {}) {
  return loadSettings(parseCommandLine(args, optionSpecs()).values, env);
}

Deno.test("loadSettings() applies defaults", () => {
  const s = settingsOf([]);
  assert.deepEqual(s.apiServers, []);
  assert.equal(s.haproxyConf, "/etc/haproxy/haproxy.cfg");
  assert.equal(s.haproxyCheckCmd, "haproxy -c -f");
  assert.equal(s.haproxyReloadCmd, "systemctl reload haproxy");
  assert.equal(s.interval, 300_000);
  assert.deepEqual(s.wait, { minMs: 200, maxMs: 2000 });
  assert.equal(s.minReloadInterval, 1000);
  assert.equal(s.maxShrink, 0.5);
  assert.equal(s.logLevel, "info");
  assert.equal(s.resource, "endpoints");
  assert.equal(s.statusListen, "127.0.0.1:9180");
  assert.equal(s.haproxyRun, false);
  assert.equal(s.sslKey, undefined);
});

Deno.test("loadSettings() reads pyconfd's environment variables", () => {
  const s = settingsOf([], {
    APISERVERS: "https://10.0.0.1:6443,https://10.0.0.2:6443",
    LOGLEVEL: "DEBUG",
    SSL_KEY_FILE: "/k.pem",
    SSL_CERT_FILE: "/c.pem",
    SSL_CA_FILE: "/ca.pem",
    REFRESH_INTERVAL: "30",
    TEMPLATE_DIR: "/etc/pyconfd",
    HAPROXY_CONF: "/tmp/h.cfg",
    HAPROXY_CHECK_CMD: "/usr/sbin/haproxy -c -q -f",
    HAPROXY_RELOAD_CMD: "/bin/systemctl reload-or-restart haproxy",
  });
  assert.deepEqual(s.apiServers, ["https://10.0.0.1:6443", "https://10.0.0.2:6443"]);
  assert.equal(s.logLevel, "debug");
  assert.equal(s.sslKey, "/k.pem");
  assert.equal(s.sslCert, "/c.pem");
  assert.equal(s.sslCa, "/ca.pem");
  assert.equal(s.interval, 30_000);
  assert.equal(s.templateDir, "/etc/pyconfd");
  assert.equal(s.haproxyConf, "/tmp/h.cfg");
  assert.equal(s.haproxyCheckCmd, "/usr/sbin/haproxy -c -q -f");
  assert.equal(s.haproxyReloadCmd, "/bin/systemctl reload-or-restart haproxy");
});

Deno.test("loadSettings() merges flags over environment, flag by flag (pyconfd dropped the environment)", () => {
  const s = settingsOf(["--interval", "10", "--log-level", "warn"], {
    REFRESH_INTERVAL: "30",
    HAPROXY_CONF: "/x.cfg",
  });
  assert.equal(s.interval, 10_000);
  assert.equal(s.logLevel, "warn");
  assert.equal(s.haproxyConf, "/x.cfg");
});

Deno.test("loadSettings() takes repeated and comma-separated list flags", () => {
  const s = settingsOf(["--namespace", "a,b", "--namespace", "c", "--api-servers", "https://h:6443"]);
  assert.deepEqual(s.namespace, ["a", "b", "c"]);
  assert.deepEqual(s.apiServers, ["https://h:6443"]);
});

Deno.test("loadSettings() parses durations, wait windows, shares and booleans", () => {
  assert.deepEqual(settingsOf(["--wait", "50ms:1s"]).wait, { minMs: 50, maxMs: 1000 });
  assert.deepEqual(settingsOf(["--wait", "1s"]).wait, { minMs: 1000, maxMs: 4000 });
  assert.equal(settingsOf(["--max-shrink", "25%"]).maxShrink, 0.25);
  assert.equal(settingsOf(["--max-shrink", "100%"]).maxShrink, 1);
  assert.equal(settingsOf([], { MAX_SHRINK: "0%" }).maxShrink, 0);
  assert.equal(settingsOf([], { HAPROXY_RUN: "yes" }).haproxyRun, true);
  assert.equal(settingsOf(["--haproxy-run"]).haproxyRun, true);
  assert.equal(settingsOf(["--min-reload-interval", "500ms"]).minReloadInterval, 500);
  assert.equal(parseDuration("1.5m"), 90_000);
  assert.equal(parseDuration("7"), 7000);
  assert.equal(parseDuration("7", "ms"), 7);
  assert.equal(parseDuration("soon"), undefined);
});

Deno.test("loadSettings() names the flag or variable and the problem of a bad value", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--interval", "abc"], {}, /^Invalid --interval: "abc" is not a duration/],
    [[], { REFRESH_INTERVAL: "0.1" }, /^Invalid REFRESH_INTERVAL: "0.1" is shorter than the minimum/],
    [[], { LOGLEVEL: "loud" }, /^Invalid LOGLEVEL: "loud" is not one of debug, info, warn, error/],
    [
      ["--api-servers", "10.0.0.1:6443"],
      {},
      /^Invalid --api-servers: "10\.0\.0\.1:6443" is not an API server URL/,
    ],
    [[], { APISERVERS: "ftp://x" }, /^Invalid APISERVERS: "ftp:\/\/x" is not an API server URL/],
    [["--wait", "2s:1s"], {}, /^Invalid --wait: "2s:1s": MAX is shorter than MIN/],
    [["--max-shrink", "150%"], {}, /^Invalid --max-shrink: "150%" is not a percentage from 0% to 100%/],
    [["--resource", "pods"], {}, /^Invalid --resource: "pods" is not endpoints or endpointslices/],
    [[], { HAPROXY_RUN: "maybe" }, /^Invalid HAPROXY_RUN: "maybe" is not a boolean/],
    [["--http-bind", "80"], {}, /^Invalid --http-bind: "80" is not an address:port/],
    [["--namespace", "Bad_NS"], {}, /^Invalid --namespace: "Bad_NS" is not a namespace name/],
    [["--status-token", "short"], {}, /^Invalid --status-token: the token must have at least 16/],
    [
      ["--api-servers", "https://admin:hunter2@10.0.0.1:6443"],
      {},
      /^Invalid --api-servers: "https:\/\/\[redacted\]@10\.0\.0\.1:6443": credentials in the URL are not accepted/,
    ],
    [["--haproxy-chk-cmd", "haproxy -c -f '"], {}, /^Invalid --haproxy-chk-cmd: .*unterminated ' quote/],
    [
      ["--haproxy-master-socket", "127.0.0.1:99999"],
      {},
      /^Invalid --haproxy-master-socket: .*port out of range/,
    ],
    [["--ssl-key", "/k.pem"], {}, /^Invalid --ssl-key: .*give both or neither/],
    [
      ["--default-certificate", "default.pem"],
      {},
      /^Invalid --default-certificate: "default\.pem" is neither a PEM file \(an absolute path, or one starting with \.\/ or \.\.\/\) nor a kubernetes\.io\/tls Secret as namespace\/name/,
    ],
    [
      [],
      { DEFAULT_CERTIFICATE: "Ingress/Default" },
      /^Invalid DEFAULT_CERTIFICATE: "Ingress\/Default" is neither/,
    ],
    [["--default-certificate", "a/b/c"], {}, /^Invalid --default-certificate: "a\/b\/c" is neither/],
    [
      ["--default-certificate", "ingress/default-tls", "--from", "/x.json"],
      {},
      /^Invalid --default-certificate: "ingress\/default-tls" is a Secret, read from the API; --from has none/,
    ],
    [
      ["--default-certificate", "ingress/default-tls", "--namespace", "web"],
      {},
      /^Invalid --default-certificate: Secret "ingress\/default-tls" is outside the watched namespaces \(--namespace web\)/,
    ],
  ];
  for (const [args, env, message] of cases) {
    assert.throws(() => settingsOf(args, env), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("loadSettings() takes --default-certificate as a PEM file path or a Secret's namespace/name", () => {
  assert.deepEqual(settingsOf(["--default-certificate", "/etc/haproxy/default.pem"]).defaultCertificate, {
    kind: "file",
    path: "/etc/haproxy/default.pem",
  });
  assert.deepEqual(settingsOf(["--default-certificate", "./default.pem"]).defaultCertificate, {
    kind: "file",
    path: "./default.pem",
  });
  assert.deepEqual(
    settingsOf([], { DEFAULT_CERTIFICATE: "ingress/wildcard.example.com" }).defaultCertificate,
    {
      kind: "secret",
      namespace: "ingress",
      name: "wildcard.example.com",
    },
  );
  assert.deepEqual(
    settingsOf(["--default-certificate", "ingress/default-tls", "--namespace", "web,ingress"])
      .defaultCertificate,
    { kind: "secret", namespace: "ingress", name: "default-tls" },
  );
});

Deno.test("loadSettings() refuses values that would pass and then fail at run time, naming the flag", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    // setTimeout fires at once for delays above 2^31-1 ms: every check would "time out".
    [
      ["--check-timeout", "600h"],
      {},
      /^Invalid --check-timeout: "600h" is longer than the maximum 2147483647ms/,
    ],
    [[], { REFRESH_INTERVAL: "2147484" }, /^Invalid REFRESH_INTERVAL: "2147484" is longer than the maximum/],
    [["--wait", "1s:600h"], {}, /^Invalid --wait: "1s:600h" is longer than the maximum/],
    [["--wait", "1:2:3"], {}, /^Invalid --wait: "1:2:3" is not MIN or MIN:MAX/],
    [["--http-bind", "*:99999"], {}, /^Invalid --http-bind: "\*:99999": port 99999 is not in 1\.\.65535/],
    [[], { HTTPS_BIND: "*:0" }, /^Invalid HTTPS_BIND: "\*:0": port 0 is not in 1\.\.65535/],
    [["--http-bind", "999.1.1.1:80"], {}, /^Invalid --http-bind: "999\.1\.1\.1:80" is not an address:port/],
    [["--http-bind", "[zz::1]:80"], {}, /^Invalid --http-bind: "\[zz::1\]:80" is not an address:port/],
    [
      ["--tcp-bind-address", "999.999.999.999"],
      {},
      /^Invalid --tcp-bind-address: "999\.999\.999\.999" is not an address/,
    ],
    [
      ["--status-listen", "127.0.0.1:70000"],
      {},
      /^Invalid --status-listen: "127\.0\.0\.1:70000": port 70000 is not in 0\.\.65535/,
    ],
    [
      ["--label-selector", "app web"],
      {},
      /^Invalid --label-selector: "app web": "app web" is not a label requirement/,
    ],
    [
      [],
      { LABEL_SELECTOR: "app=web,=x" },
      /^Invalid LABEL_SELECTOR: "app=web,=x": "=x" is not a label requirement/,
    ],
  ];
  for (const [args, env, message] of cases) {
    assert.throws(() => settingsOf(args, env), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      return true;
    }, `${args.join(" ")} ${JSON.stringify(env)}`);
  }
  // What stays accepted.
  assert.equal(settingsOf(["--check-timeout", "596h"]).checkTimeout, 596 * 3_600_000);
  assert.equal(settingsOf(["--http-bind", ":::8080"]).httpBind, ":::8080");
  assert.equal(settingsOf(["--http-bind", "[::1]:8080"]).httpBind, "[::1]:8080");
  assert.equal(settingsOf(["--http-bind", "lb.example.test:80"]).httpBind, "lb.example.test:80");
  assert.equal(settingsOf(["--status-listen", "127.0.0.1:0"]).statusListen, "127.0.0.1:0");
  assert.equal(settingsOf(["--tcp-bind-address", "[2001:db8::1]"]).tcpBindAddress, "[2001:db8::1]");
  assert.equal(
    settingsOf(["--label-selector", "haconfd=yes,tier!=db,env in (a, b),!legacy,example.com/x"])
      .labelSelector,
    "haconfd=yes,tier!=db,env in (a, b),!legacy,example.com/x",
  );
});

Deno.test("loadSettings() takes --max-shrink as a percentage only: a bare number is ambiguous and refused", () => {
  // 1 could be the fraction 1 (100 %) or 1 %; 2 can only be 2 %: one spelling, no guessing.
  for (
    const [value, message] of [
      ["1", /"1" has no %: write 1% for 1 percent or 100% for the fraction 1/],
      ["2", /"2" has no %: write 2% for 2 percent$/],
      ["0.5", /"0\.5" has no %: write 0\.5% for 0\.5 percent or 50% for the fraction 0\.5/],
    ] as const
  ) {
    assert.throws(() => settingsOf(["--max-shrink", value]), message);
  }
  assert.equal(settingsOf(["--max-shrink", "2%"]).maxShrink, 0.02);
  assert.equal(settingsOf(["--max-shrink", "12.5%"]).maxShrink, 0.125);
});

Deno.test("loadSettings() accepts pyconfd's Python log level names", () => {
  assert.equal(settingsOf([], { LOGLEVEL: "WARNING" }).logLevel, "warn");
  assert.equal(settingsOf([], { LOGLEVEL: "CRITICAL" }).logLevel, "error");
  assert.equal(settingsOf(["--log-level", "Debug"]).logLevel, "debug");
});

Deno.test("loadSettings() never echoes a secret in its errors", () => {
  for (
    const [args, secret] of [[["--api-servers", "https://u:hunter2@h:6443"], "hunter2"], [[
      "--status-token",
      "tooshort-secret",
    ], "tooshort-secret"]] as const
  ) {
    assert.throws(() => settingsOf([...args]), (error: unknown) => !String(error).includes(secret));
  }
});

Deno.test("loadSettings() does not take OpenSSL's SSL_CERT_FILE as a client certificate without SSL_KEY_FILE", () => {
  assert.equal(settingsOf([], { SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt" }).sslCert, undefined);
  assert.equal(settingsOf([], { SSL_CERT_FILE: "/c.pem", SSL_KEY_FILE: "/k.pem" }).sslCert, "/c.pem");
});

Deno.test("parseCommandLine() rejects unknown flags and missing values, naming them", () => {
  assert.throws(() => parseCommandLine(["--bogus"], optionSpecs()), /Unknown option '--bogus'/);
  assert.throws(
    () => parseCommandLine(["--interval"], optionSpecs()),
    /--interval <value>' argument missing/,
  );
  assert.deepEqual(parseCommandLine(["render", "--from", "x"], optionSpecs()).positionals, ["render"]);
});

Deno.test("optionsHelp() lists every flag with its environment variable", () => {
  const help = optionsHelp();
  for (const def of Object.values(OPTIONS)) {
    assert.ok(help.includes(`--${def.flag}`), def.flag);
    if ("env" in def) assert.ok(help.includes(`env ${def.env}`), def.env);
  }
});

Deno.test("loadSettings() reads the nodeport options: defaults, flags, environment, and refuses them with --from", () => {
  const defaults = settingsOf([]);
  assert.equal(defaults.backendMode, "pods");
  assert.equal(defaults.nodeAddressType, "InternalIP");
  assert.equal(defaults.nodeIncludeUnschedulable, true);
  assert.equal(defaults.nodeSelector, undefined);
  const given = settingsOf(
    [
      "--backend-mode",
      "nodeport",
      "--node-selector",
      "pool in (edge,lb)",
      "--node-include-unschedulable=false",
    ],
    { NODE_ADDRESS_TYPE: "ExternalIP" },
  );
  assert.equal(given.backendMode, "nodeport");
  assert.equal(given.nodeSelector, "pool in (edge,lb)");
  assert.equal(given.nodeIncludeUnschedulable, false);
  assert.equal(given.nodeAddressType, "ExternalIP");
  assert.equal(settingsOf([], { BACKEND_MODE: "nodeport" }).backendMode, "nodeport");
  assert.throws(
    () => settingsOf(["--node-address-type", "Hostname"]),
    /"Hostname" is not InternalIP or ExternalIP/,
  );
  assert.throws(
    () => settingsOf(["--backend-mode", "nodeport", "--from", "x.json"]),
    (e: Error) =>
      e instanceof ConfigError && /--backend-mode: backend mode nodeport reads Nodes/.test(e.message),
  );
});
