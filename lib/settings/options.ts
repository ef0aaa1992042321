/**
 * Settings: one table of options (flag, environment variable, default, help) and one zod schema.
 * Precedence: flag > environment > default. pyconfd's flag and variable names are kept; unlike pyconfd,
 * a single flag does not switch the environment off — the two are merged, flag by flag.
 *
 * @module
 */
import { z } from "zod";
import type { OptionSpec } from "./cli.ts";
import {
  apiServers,
  boolean,
  byteSize,
  certificateSource,
  command,
  ConfigError,
  duration,
  hostPort,
  isBindHost,
  labelSelector,
  list,
  masterSocket,
  path,
  percent,
  PYTHON_LEVELS,
  wait,
} from "./values.ts";
import { LEVELS } from "../log.ts";
export { isBindHost, MAX_DURATION_MS, parseDuration } from "./values.ts";

interface OptionDef<S extends z.ZodType> {
  /** Long flag without dashes. */
  flag: string;
  /** Environment variable, if the option has one. */
  env?: string;
  /** Default as the user would type it. */
  default?: string;
  /** The value's schema (input: the raw string, or `true` for booleans). */
  schema: S;
  /** Help text. */
  help: string;
  /** Help group. */
  group: "kubernetes" | "haproxy" | "loop" | "status" | "templates" | "general";
  /** Repeatable flag, comma-joined. */
  list?: boolean;
  /** Placeholder in help. */
  arg?: string;
}

function option<const D extends OptionDef<z.ZodType>>(def: D): D {
  return def;
}

/** Every setting: how it is spelled, its default, its schema. The single source for flags, env and help. */
export const OPTIONS = {
  apiServers: option({
    flag: "api-servers",
    env: "APISERVERS",
    default: "",
    schema: apiServers,
    list: true,
    arg: "URLS",
    group: "kubernetes",
    help: "API server URLs, comma-separated, tried in order (failover); empty: kubeconfig or in-cluster",
  }),
  sslKey: option({
    flag: "ssl-key",
    env: "SSL_KEY_FILE",
    schema: path,
    arg: "FILE",
    group: "kubernetes",
    help: "client key for the API (mTLS)",
  }),
  sslCert: option({
    flag: "ssl-cert",
    env: "SSL_CERT_FILE",
    schema: path,
    arg: "FILE",
    group: "kubernetes",
    help: "client certificate for the API (mTLS)",
  }),
  sslCa: option({
    flag: "ssl-ca",
    env: "SSL_CA_FILE",
    schema: path,
    arg: "FILE",
    group: "kubernetes",
    help: "CA that signed the API server's certificate",
  }),
  tokenFile: option({
    flag: "token-file",
    env: "TOKEN_FILE",
    schema: path,
    arg: "FILE",
    group: "kubernetes",
    help: "bearer token file, re-read when it changes (projected tokens rotate)",
  }),
  kubeconfig: option({
    flag: "kubeconfig",
    env: "KUBECONFIG",
    schema: path,
    arg: "FILE",
    group: "kubernetes",
    help: "kubeconfig file (used when --api-servers is empty)",
  }),
  context: option({
    flag: "context",
    env: "KUBE_CONTEXT",
    schema: z.string().trim().min(1),
    arg: "NAME",
    group: "kubernetes",
    help: "kubeconfig context (default: its current-context)",
  }),
  resource: option({
    flag: "resource",
    env: "RESOURCE",
    default: "endpoints",
    schema: z.enum(["endpoints", "endpointslices"], {
      error: (i) => `"${i.input}" is not endpoints or endpointslices`,
    }),
    arg: "KIND",
    group: "kubernetes",
    help: "endpoints (annotations on Endpoints) or endpointslices (annotations on the Service)",
  }),
  namespace: option({
    flag: "namespace",
    env: "NAMESPACE",
    default: "",
    schema: list.pipe(z.array(
      z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
        error: (i) => `"${i.input}" is not a namespace name`,
      }),
    )),
    list: true,
    arg: "NS",
    group: "kubernetes",
    help: "namespaces to watch, comma-separated or repeated (default: all)",
  }),
  labelSelector: option({
    flag: "label-selector",
    env: "LABEL_SELECTOR",
    schema: labelSelector,
    arg: "SELECTOR",
    group: "kubernetes",
    help: "label selector passed to the API, e.g. haconfd=yes",
  }),
  secretLabelSelector: option({
    flag: "secret-label-selector",
    env: "SECRET_LABEL_SELECTOR",
    schema: labelSelector,
    arg: "SEL",
    group: "kubernetes",
    help: "label selector for the TLS Secrets haconfd may read (haconfd.io/tls-secret), e.g. haconfd-tls=yes",
  }),
  backendMode: option({
    flag: "backend-mode",
    env: "BACKEND_MODE",
    default: "pods",
    schema: z.enum(["pods", "nodeport"], { error: (i) => `"${i.input}" is not pods or nodeport` }),
    arg: "MODE",
    group: "kubernetes",
    help: "servers are the pods (pods) or the nodes at the Service's nodePort (nodeport: also watches " +
      "Services and Nodes); annotation haconfd.io/backend-mode overrides it per service",
  }),
  nodeAddressType: option({
    flag: "node-address-type",
    env: "NODE_ADDRESS_TYPE",
    default: "InternalIP",
    // IP types only: a Hostname or InternalDNS value would need DNS at HAProxy start and cannot be a
    // dynamic server's address.
    schema: z.enum(["InternalIP", "ExternalIP"], {
      error: (i) => `"${i.input}" is not InternalIP or ExternalIP`,
    }),
    arg: "TYPE",
    group: "kubernetes",
    help: "nodeport mode: which node address servers use, InternalIP or ExternalIP",
  }),
  nodeSelector: option({
    flag: "node-selector",
    env: "NODE_SELECTOR",
    schema: labelSelector,
    arg: "SELECTOR",
    group: "kubernetes",
    help: "nodeport mode: only nodes matching this label selector receive traffic",
  }),
  nodeIncludeUnschedulable: option({
    flag: "node-include-unschedulable",
    env: "NODE_INCLUDE_UNSCHEDULABLE",
    default: "true",
    // Takes a value (--node-include-unschedulable=false): a bare flag could not turn a true default off.
    schema: z.string().transform((text) => text as string | boolean).pipe(boolean),
    arg: "BOOL",
    group: "kubernetes",
    help: "nodeport mode: cordoned nodes keep receiving traffic (cordoning does not stop kube-proxy)",
  }),
  interval: option({
    flag: "interval",
    env: "REFRESH_INTERVAL",
    default: "300",
    schema: duration("s", 1000),
    arg: "SECONDS",
    group: "kubernetes",
    help: "full resync every this many seconds, a safety net under the watch (pyconfd: the poll interval)",
  }),
  maxResponseBytes: option({
    flag: "max-response-bytes",
    env: "MAX_RESPONSE_BYTES",
    default: "64MiB",
    schema: byteSize,
    arg: "SIZE",
    group: "kubernetes",
    help:
      "largest API answer to one list request (a page of 500 objects); a bigger one is an error, not data",
  }),
  maxEventBytes: option({
    flag: "max-event-bytes",
    env: "MAX_EVENT_BYTES",
    default: "8MiB",
    schema: byteSize,
    arg: "SIZE",
    group: "kubernetes",
    help: "longest watch event (one object; etcd stores at most 1.5 MiB); a longer line ends the watch",
  }),
  syncTimeout: option({
    flag: "sync-timeout",
    env: "SYNC_TIMEOUT",
    default: "60s",
    schema: duration("s", 100),
    arg: "DURATION",
    group: "kubernetes",
    help: "render, check and --once give up when the source has not completely synced within this time",
  }),
  from: option({
    flag: "from",
    env: "FROM_FILE",
    schema: path,
    arg: "FILE",
    group: "general",
    help:
      "read objects from a kubectl dump, JSON or YAML, instead of the API (- for stdin); watched for changes by run",
  }),
  templateDir: option({
    flag: "template-dir",
    env: "TEMPLATE_DIR",
    schema: path,
    arg: "DIR",
    group: "templates",
    help: "directory of *.eta and *.conf templates replacing the embedded defaults",
  }),
  httpBind: option({
    flag: "http-bind",
    env: "HTTP_BIND",
    default: "*:80",
    schema: hostPort(),
    arg: "ADDR",
    group: "templates",
    help: "bind address of the HTTP frontend (it.listen.http)",
  }),
  httpsBind: option({
    flag: "https-bind",
    env: "HTTPS_BIND",
    default: "*:443",
    schema: hostPort(),
    arg: "ADDR",
    group: "templates",
    help: "bind address of the HTTPS passthrough frontend (it.listen.https)",
  }),
  haproxyMetricsBind: option({
    flag: "haproxy-metrics-bind",
    env: "HAPROXY_METRICS_BIND",
    schema: hostPort(),
    arg: "ADDR",
    group: "templates",
    help:
      "bind address of a frontend serving HAProxy's own Prometheus exporter at /metrics, every server's figures (it.listen.metrics); off unless set",
  }),
  tcpBindAddress: option({
    flag: "tcp-bind-address",
    env: "TCP_BIND_ADDRESS",
    default: "*",
    schema: z.string().trim().refine(isBindHost, {
      error: (i) => `"${i.input}" is not an address (*, an IPv4 address, [IPv6] or a host name)`,
    }),
    arg: "ADDR",
    group: "templates",
    help: "address TCP services bind to, with their listen port (it.listen.tcp)",
  }),
  acceptProxy: option({
    flag: "accept-proxy",
    env: "ACCEPT_PROXY",
    default: "false",
    schema: boolean,
    group: "templates",
    help: "every bind accepts the PROXY protocol (behind an L4 balancer; it.listen.acceptProxy)",
  }),
  haproxyConf: option({
    flag: "haproxy-conf",
    env: "HAPROXY_CONF",
    default: "/etc/haproxy/haproxy.cfg",
    schema: path,
    arg: "FILE",
    group: "haproxy",
    help: "where the generated config is installed",
  }),
  haproxyCheckCmd: option({
    flag: "haproxy-chk-cmd",
    env: "HAPROXY_CHECK_CMD",
    default: "haproxy -c -f",
    schema: command,
    arg: "CMD",
    group: "haproxy",
    help: "command that checks a config; the file is appended (run without a shell)",
  }),
  haproxyReloadCmd: option({
    flag: "haproxy-reload-cmd",
    env: "HAPROXY_RELOAD_CMD",
    default: "systemctl reload haproxy",
    schema: command,
    arg: "CMD",
    group: "haproxy",
    help: "command that reloads HAProxy (run without a shell)",
  }),
  haproxyMasterSocket: option({
    flag: "haproxy-master-socket",
    env: "HAPROXY_MASTER_SOCKET",
    schema: masterSocket,
    arg: "PATH",
    group: "haproxy",
    help: "reload through HAProxy's master CLI socket instead of the reload command",
  }),
  haproxyRun: option({
    flag: "haproxy-run",
    env: "HAPROXY_RUN",
    default: "false",
    schema: boolean,
    group: "haproxy",
    help: "start and supervise HAProxy (master-worker mode) instead of reloading a system one",
  }),
  haproxyUser: option({
    flag: "haproxy-user",
    env: "HAPROXY_USER",
    schema: z.string().trim().regex(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/, {
      error: (i) => `"${i.input}" is not USER or USER:GROUP (e.g. haproxy:haproxy)`,
    }).transform((text) => {
      const [user = "", group] = text.split(":");
      return { user, group: group ?? user };
    }),
    arg: "USER[:GROUP]",
    group: "haproxy",
    help: "user (and group) HAProxy's workers drop to, written into the global section (it.haproxy)",
  }),
  haproxyBin: option({
    flag: "haproxy-bin",
    env: "HAPROXY_BIN",
    default: "haproxy",
    schema: path,
    arg: "PATH",
    group: "haproxy",
    help: "HAProxy binary for --haproxy-run",
  }),
  checkTimeout: option({
    flag: "check-timeout",
    env: "CHECK_TIMEOUT",
    default: "30s",
    schema: duration("s", 100),
    arg: "DURATION",
    group: "haproxy",
    help: "time limit of the check command",
  }),
  reloadTimeout: option({
    flag: "reload-timeout",
    env: "RELOAD_TIMEOUT",
    default: "30s",
    schema: duration("s", 100),
    arg: "DURATION",
    group: "haproxy",
    help: "time limit of a reload (command or master socket)",
  }),
  haproxyRuntimeSocket: option({
    flag: "haproxy-runtime-socket",
    env: "HAPROXY_RUNTIME_SOCKET",
    schema: masterSocket,
    arg: "PATH",
    group: "haproxy",
    help:
      "admin stats socket for server changes without reloads (default: the master CLI, when there is one)",
  }),
  tls: option({
    flag: "tls",
    env: "TLS",
    default: "false",
    schema: boolean,
    group: "haproxy",
    help: "terminate TLS for services with haconfd.io/tls-secret (reads kubernetes.io/tls Secrets)",
  }),
  certDir: option({
    flag: "cert-dir",
    env: "CERT_DIR",
    schema: path,
    arg: "DIR",
    group: "haproxy",
    help: "where --tls writes certificates and the crt-list (default: haconfd-certs beside --haproxy-conf)",
  }),
  certGroup: option({
    flag: "cert-group",
    env: "CERT_GROUP",
    schema: z.string().trim().regex(/^([a-z_][a-z0-9_-]*|\d+)$/, {
      error: (i) => `"${i.input}" is not a group name or id (e.g. haproxy)`,
    }),
    arg: "GROUP",
    group: "haproxy",
    help:
      "group of the key files in --cert-dir, which get mode 0640 (default: the group of --haproxy-user; without either: mode 0600, owner only)",
  }),
  defaultCertificate: option({
    flag: "default-certificate",
    env: "DEFAULT_CERTIFICATE",
    schema: certificateSource,
    arg: "CERT",
    group: "haproxy",
    help:
      "certificate for TLS clients without a known SNI: a PEM file (certificate and key; /path or ./path) or a kubernetes.io/tls Secret as namespace/name; without it they are refused",
  }),
  noRuntimeApi: option({
    flag: "no-runtime-api",
    env: "NO_RUNTIME_API",
    default: "false",
    schema: boolean,
    group: "haproxy",
    help: "never change servers through the Runtime API: every change reloads",
  }),
  drainTimeout: option({
    flag: "drain-timeout",
    env: "DRAIN_TIMEOUT",
    default: "30s",
    schema: duration("s"),
    arg: "DURATION",
    group: "haproxy",
    help: "a server removed at runtime keeps its connections this long, then they are shut down",
  }),
  wait: option({
    flag: "wait",
    env: "WAIT",
    default: "200ms:2s",
    schema: wait,
    arg: "MIN:MAX",
    group: "loop",
    help: "quiescence: apply once changes pause for MIN, never later than MAX after the first",
  }),
  minReloadInterval: option({
    flag: "min-reload-interval",
    env: "MIN_RELOAD_INTERVAL",
    default: "1s",
    schema: duration("s"),
    arg: "DURATION",
    group: "loop",
    help: "reloads never come closer together than this",
  }),
  maxShrink: option({
    flag: "max-shrink",
    env: "MAX_SHRINK",
    default: "50%",
    schema: percent,
    arg: "PERCENT",
    group: "loop",
    help: "an apply dropping more than this percentage of domains waits for a second full sync (e.g. 50%)",
  }),
  once: option({
    flag: "once",
    schema: boolean,
    default: "false",
    group: "loop",
    help: "sync once, apply once, exit (0 on success)",
  }),
  dryRun: option({
    flag: "dry-run",
    schema: boolean,
    default: "false",
    group: "loop",
    help: "render and check, print the diff, write and reload nothing",
  }),
  trafficLog: option({
    flag: "traffic-log",
    schema: boolean,
    default: "false",
    group: "general",
    help:
      "demo only: show HAProxy's traffic log on the screen (else it goes to a file in the demo's temp dir)",
  }),
  statusListen: option({
    flag: "status-listen",
    env: "STATUS_LISTEN",
    default: "127.0.0.1:9180",
    schema: hostPort(true, true),
    arg: "ADDR",
    group: "status",
    help: "address of the status endpoint (off to disable)",
  }),
  statusToken: option({
    flag: "status-token",
    env: "STATUS_TOKEN",
    schema: z.string().min(16, "the token must have at least 16 characters"),
    arg: "TOKEN",
    group: "status",
    help: "bearer token for the status endpoint (required off loopback; /healthz and /readyz stay open)",
  }),
  statusTokenFile: option({
    flag: "status-token-file",
    env: "STATUS_TOKEN_FILE",
    schema: path,
    arg: "FILE",
    group: "status",
    help: "file holding the status bearer token",
  }),
  statusExposeConfig: option({
    flag: "status-expose-config",
    env: "STATUS_EXPOSE_CONFIG",
    default: "false",
    schema: boolean,
    group: "status",
    help: "serve the installed config at /config",
  }),
  logLevel: option({
    flag: "log-level",
    env: "LOGLEVEL",
    default: "info",
    schema: z.string().trim().toLowerCase().transform((level) => PYTHON_LEVELS[level] ?? level).pipe(
      z.enum(LEVELS, { error: (i) => `"${i.input}" is not one of ${LEVELS.join(", ")}` }),
    ),
    arg: "LEVEL",
    group: "general",
    help: "debug, info, warn or error (pyconfd's WARNING and CRITICAL are accepted)",
  }),
  logFormat: option({
    flag: "log-format",
    env: "LOG_FORMAT",
    default: "logfmt",
    schema: z.enum(["logfmt", "json"], { error: (i) => `"${i.input}" is not logfmt or json` }),
    arg: "FORMAT",
    group: "general",
    help: "logfmt or json",
  }),
} as const;

/** Name of a setting. */
export type OptionKey = keyof typeof OPTIONS;

type Output<K extends OptionKey> = z.output<(typeof OPTIONS)[K]["schema"]>;

/** The settings after parsing: defaults applied, values typed. */
export type Settings =
  & { [K in OptionKey as (typeof OPTIONS)[K] extends { default: string } ? K : never]: Output<K> }
  & { [K in OptionKey as (typeof OPTIONS)[K] extends { default: string } ? never : K]?: Output<K> };

/** Options whose value is never echoed in an error. */
const SECRET_OPTIONS = new Set(["statusToken"]);
/** `user:password@` in a URL. */
const URL_CREDENTIALS = /\/\/[^/@\s]*@/g;

export { ConfigError };

/** The option specs handed to the command-line parser. */
export function optionSpecs(): OptionSpec[] {
  const specs: OptionSpec[] = Object.values(OPTIONS).map((o) => {
    const type = (o.schema as z.ZodType) === boolean ? "boolean" : "string";
    return "list" in o && o.list ? { flag: o.flag, type, list: true } : { flag: o.flag, type };
  });
  specs.push({ flag: "help", type: "boolean", short: "h" });
  return specs;
}

/** Where one setting's raw value comes from, and the value; `undefined` when it is not set at all. */
function rawOf(
  key: OptionKey,
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
): { value: string | boolean; origin: string } | undefined {
  const def: OptionDef<z.ZodType> = OPTIONS[key];
  const flagValue = flags[def.flag];
  const envValue = def.env === undefined ? undefined : env[def.env];
  if (flagValue !== undefined) return { value: flagValue, origin: `--${def.flag}` };
  if (envValue !== undefined && envValue !== "") return { value: envValue, origin: `${def.env}` };
  if (def.default !== undefined) return { value: def.default, origin: `default of --${def.flag}` };
  return undefined;
}

/**
 * How a setting was given, for error messages: `--flag`, `VARIABLE`, or `default of --flag` (the flag
 * when it was not given at all).
 */
export function originOf(
  key: OptionKey,
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
): string {
  return rawOf(key, flags, env)?.origin ?? `--${OPTIONS[key].flag}`;
}

/**
 * Merges flags (raw values by flag name), environment and defaults, and validates them with one schema.
 * Throws a {@linkcode ConfigError} naming the flag or variable and the value's problem.
 */
export function loadSettings(
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
): Settings {
  const raw: Record<string, string | boolean> = {};
  const origin: Record<string, string> = {};
  for (const key of Object.keys(OPTIONS) as OptionKey[]) {
    const given = rawOf(key, flags, env);
    if (given === undefined) continue;
    raw[key] = given.value;
    origin[key] = given.origin;
  }
  const shape = Object.fromEntries(
    Object.entries(OPTIONS).map(([key, def]) => [key, "default" in def ? def.schema : def.schema.optional()]),
  );
  const result = z.object(shape).safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      const where = origin[key] ?? key;
      const value = raw[key];
      const message =
        issue.message.includes(String(value)) || typeof value !== "string" || SECRET_OPTIONS.has(key)
          ? issue.message
          : `"${value.replace(URL_CREDENTIALS, "//[redacted]@")}": ${issue.message}`;
      return `Invalid ${where}: ${message}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  // SSL_CERT_FILE is also OpenSSL's CA-bundle variable, set system-wide on many hosts: without
  // SSL_KEY_FILE it cannot be a client certificate, so it is not taken as one. (With a key, the
  // start-up check verifies that the key belongs to the certificate: see lib/daemon/preflight.ts.)
  if (origin.sslCert === "SSL_CERT_FILE" && raw.sslKey === undefined) delete raw.sslCert;
  const settings = result.data as Settings;
  if (raw.sslCert === undefined) delete settings.sslCert;
  crossCheck(settings, origin);
  return settings;
}

/** A default certificate Secret must be readable: from the API, in a namespace haconfd watches. */
function checkDefaultSecret(settings: Settings, origin: Readonly<Record<string, string>>): void {
  const given = settings.defaultCertificate;
  if (given?.kind !== "secret") return;
  if (settings.from !== undefined) {
    throw new ConfigError(
      `Invalid ${origin.defaultCertificate}: "${given.namespace}/${given.name}" is a Secret, read from the API; --from has none (give a PEM file)`,
    );
  }
  if (settings.namespace.length > 0 && !settings.namespace.includes(given.namespace)) {
    throw new ConfigError(
      `Invalid ${origin.defaultCertificate}: Secret "${given.namespace}/${given.name}" is outside the watched namespaces (--namespace ${
        settings.namespace.join(",")
      }): haconfd reads Secrets only there`,
    );
  }
}

function crossCheck(settings: Settings, origin: Readonly<Record<string, string>>): void {
  checkDefaultSecret(settings, origin);
  if ((settings.sslKey === undefined) !== (settings.sslCert === undefined)) {
    const given = settings.sslKey === undefined ? origin.sslCert : origin.sslKey;
    throw new ConfigError(
      `Invalid ${given}: --ssl-key/--ssl-cert (SSL_KEY_FILE/SSL_CERT_FILE): give both or neither`,
    );
  }
  if (settings.backendMode === "nodeport" && settings.from !== undefined) {
    throw new ConfigError(
      `Invalid ${origin.backendMode}: backend mode nodeport reads Nodes and Services from the API; --from has neither`,
    );
  }
  if (settings.statusToken !== undefined && settings.statusTokenFile !== undefined) {
    throw new ConfigError(
      `Invalid ${origin.statusToken} and ${origin.statusTokenFile}: give a status token or a token file, not both`,
    );
  }
}

/** Help text for the options, grouped. */
export function optionsHelp(): string {
  const groups = new Map<string, string[]>();
  for (const def of Object.values(OPTIONS) as OptionDef<z.ZodType>[]) {
    const name = `--${def.flag}${def.arg ? ` ${def.arg}` : ""}`;
    const tail = [
      def.env ? `env ${def.env}` : "",
      def.default !== undefined && def.default !== "" ? `default ${def.default}` : "",
    ]
      .filter((s) => s !== "").join(", ");
    const lines = groups.get(def.group) ?? [];
    lines.push(`  ${name.padEnd(34)}${def.help}${tail ? ` (${tail})` : ""}`);
    groups.set(def.group, lines);
  }
  return [...groups].map(([group, lines]) =>
    `${group[0]!.toUpperCase()}${group.slice(1)}:\n${lines.join("\n")}`
  )
    .join("\n\n");
}
