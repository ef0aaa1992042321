import assert from "node:assert/strict";
import { parseCommandLine } from "../lib/cli.ts";
import {
  ConfigError,
  loadSettings,
  OPTIONS,
  optionsHelp,
  optionSpecs,
  parseDuration,
} from "../lib/config.ts";

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
  assert.equal(settingsOf(["--max-shrink", "0.3"]).maxShrink, 0.3);
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
    [["--max-shrink", "150%"], {}, /^Invalid --max-shrink: "150%" is not a share/],
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
    [["--ssl-key", "/k.pem"], {}, /give both or neither/],
  ];
  for (const [args, env, message] of cases) {
    assert.throws(() => settingsOf(args, env), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, message);
      return true;
    });
  }
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
