/**
 * Per-service settings from `haconfd.io/*` annotations (balance, timeouts, maxconn, health checks, PROXY
 * protocol, allow-lists, sticky sessions, path prefixes): one zod schema per annotation, a table-driven
 * parser that returns the typed settings or every refusal (naming the annotation and the problem), and the
 * rules that depend on the service's proto. A pure function of the annotations: nothing reaches the config
 * unless it passed here, so no value can carry a space, quote or newline into a directive.
 *
 * @module
 */
import ipaddr from "ipaddr.js";
import { z } from "zod";

/** Balance algorithms a service may choose; `hdr(NAME)` besides. */
export const BALANCE_ALGORITHMS: readonly string[] = [
  "roundrobin",
  "leastconn",
  "first",
  "random",
  "source",
  "uri",
];
/** Algorithms that hash (rendered with `hash-type consistent`, which keeps `add server` possible). */
const HASHED = /^(source|uri|hdr\(.*\))$/;
/** Algorithms that read the HTTP request: http services only. */
const HTTP_ONLY_BALANCE = /^(uri|hdr\(.*\))$/;
/** The cookie name of `haconfd.io/sticky: "true"`. */
export const DEFAULT_STICKY_COOKIE = "HACONFD_SERVER";
/** At most this many CIDRs in one `haconfd.io/allow` (one config line). */
export const MAX_ALLOW_ENTRIES = 64;

const DURATION = /^(\d{1,8})(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A HAProxy duration with a unit (`250ms`, `30s`, `5m`, `1h`) between `min` and `max` ms, kept as written. */
function duration(min: number, max: number, range: string) {
  return z.string().superRefine((text, ctx) => {
    const m = DURATION.exec(text);
    if (m === null) {
      ctx.addIssue({
        code: "custom",
        message: `"${text}" is not a duration (a number and ms, s, m or h: 30s)`,
      });
      return;
    }
    const ms = Number(m[1]) * (UNIT_MS[m[2] ?? ""] ?? 1);
    if (ms < min || ms > max) ctx.addIssue({ code: "custom", message: `"${text}" is not in ${range}` });
  });
}

const Balance = z.string().refine(
  (v) => BALANCE_ALGORITHMS.includes(v) || /^hdr\([A-Za-z0-9-]{1,64}\)$/.test(v),
  { error: (i) => `"${i.input}" is not one of ${BALANCE_ALGORITHMS.join(", ")}, hdr(NAME)` },
);
const Maxconn = z.string().regex(/^\d{1,7}$/, { error: (i) => `"${i.input}" is not a number` })
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1_000_000, { error: (i) => `"${i.input}" is not in 1..1000000` });
const Check = z.enum(["tcp", "http", "none"], { error: (i) => `"${i.input}" is not tcp, http or none` });
const CheckPath = z.string().regex(/^\/[A-Za-z0-9._~!$&()*+,;=:@%/?-]{0,255}$/, {
  error: (i) => `"${i.input}" is not an absolute path (/healthz; no spaces or quotes)`,
});
const CheckStatus = z.string().regex(/^[1-5]\d\d(-[1-5]\d\d)?$/, {
  error: (i) => `"${i.input}" is not a status (200) or a range (200-399)`,
}).refine((v) => {
  const [lo = "", hi = lo] = v.split("-");
  return Number(lo) <= Number(hi);
}, { error: (i) => `"${i.input}" is a range that ends before it starts` });
const SendProxy = z.enum(["v1", "v2"], { error: (i) => `"${i.input}" is not v1 or v2` });
const Sticky = z.string().regex(/^(true|[A-Za-z0-9_-]{1,64})$/, {
  error: (i) => `"${i.input}" is not true or a cookie name ([A-Za-z0-9_-], at most 64)`,
}).refine((v) => v !== "false", {
  error: () => `"false" is not a cookie name: remove the annotation instead`,
})
  .transform((v) => v === "true" ? DEFAULT_STICKY_COOKIE : v);
const PathPrefix = z.string().regex(/^\/([A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*)?$/, {
  error: (i) =>
    `"${i.input}" is not a path prefix (/api: [A-Za-z0-9._~-] segments, no trailing or double slash)`,
}).refine((v) => !v.split("/").some((s) => s === "." || s === ".."), {
  error: (i) => `"${i.input}" has a . or .. segment`,
});
const Allow = z.string().transform((text, ctx) => {
  const entries = text.split(",").map((e) => e.trim());
  if (entries.length > MAX_ALLOW_ENTRIES) {
    ctx.addIssue({ code: "custom", message: `more than ${MAX_ALLOW_ENTRIES} entries` });
    return z.NEVER;
  }
  const cidrs: string[] = [];
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) {
      ctx.addIssue({ code: "custom", message: `"${entry}" is not an IPv4 or IPv6 CIDR (10.0.0.0/8)` });
      return z.NEVER;
    }
    cidrs.push(cidr);
  }
  return cidrs;
});

/** `entry` as a normalised CIDR (a bare address is a /32 or /128), or undefined when it is not one. */
function parseCidr(entry: string): string | undefined {
  if (!/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(entry)) return undefined;
  try {
    const [address, bits] = entry.includes("/")
      ? ipaddr.parseCIDR(entry)
      : [ipaddr.parse(entry), ipaddr.parse(entry).kind() === "ipv4" ? 32 : 128];
    if (!ipaddr.isValid(entry.split("/")[0] ?? "")) return undefined;
    return `${address.toString()}/${bits}`;
  } catch {
    return undefined;
  }
}

/** The typed settings of one service, as templates see them (`d.settings`). */
export const ServiceSettings = z.object({
  /** `balance` algorithm, or null for the template's default (roundrobin for web, leastconn for TCP). */
  balance: z.string().nullable(),
  /** Whether `balance` hashes (then `hash-type consistent`). */
  hashed: z.boolean(),
  /** Per-backend timeouts as written (HAProxy durations), null when not set. */
  timeouts: z.object({
    connect: z.string().nullable(),
    server: z.string().nullable(),
    tunnel: z.string().nullable(),
    /** TCP services only (their own listener). */
    client: z.string().nullable(),
  }),
  /** Per-server `maxconn`, null when not set. */
  maxconn: z.number().nullable(),
  /** The kind of health check. */
  check: z.enum(["tcp", "http", "none"]),
  /** HTTP check: path, Host header (the service's host name) and passing status (`200` or `200-399`). */
  checkPath: z.string(),
  /** Passing status of an HTTP check, `200` or a range `200-399`; null for HAProxy's default (2xx/3xx). */
  checkStatus: z.string().nullable(),
  /** Check `inter`, null for the default. */
  checkInterval: z.string().nullable(),
  /** PROXY protocol version sent to the servers, null for none. */
  sendProxy: z.enum(["v1", "v2"]).nullable(),
  /** Allowed client CIDRs (normalised), null for everyone. */
  allow: z.array(z.string()).nullable(),
  /** Sticky-session cookie name, null when not sticky. */
  sticky: z.string().nullable(),
  /** Path prefix of the route (`/` when not set). */
  path: z.string(),
});
/** The typed settings of one service. */
export type ServiceSettings = z.infer<typeof ServiceSettings>;

/** Settings of a service without annotations. */
export const DEFAULT_SETTINGS: ServiceSettings = Object.freeze({
  balance: null,
  hashed: false,
  timeouts: Object.freeze({ connect: null, server: null, tunnel: null, client: null }),
  maxconn: null,
  check: "tcp",
  checkPath: "/",
  checkStatus: null,
  checkInterval: null,
  sendProxy: null,
  allow: null,
  sticky: null,
  path: "/",
}) as ServiceSettings;

type Parsed = Partial<Record<string, unknown>>;

/** One annotation: its schema, the protos it is refused for (with the reason) and where its value goes. */
interface Rule {
  key: string;
  schema: z.ZodType<unknown, string>;
  /** Why the value makes no sense for `proto` (web: http or https), or undefined. */
  refuse?: (value: unknown, proto: string, web: boolean) => string | undefined;
}

const httpOnly = (what: string) => (_: unknown, proto: string) =>
  proto === "http" ? undefined : `${what} needs proto http (this service is ${proto})`;

/** Every setting annotation (without the `haconfd.io/` prefix), in the order refusals are listed. */
const RULES: readonly Rule[] = [
  {
    key: "balance",
    schema: Balance,
    refuse: (v, proto) =>
      HTTP_ONLY_BALANCE.test(String(v)) && proto !== "http"
        ? `"${v}" reads the HTTP request and needs proto http (this service is ${proto})`
        : undefined,
  },
  { key: "timeout-connect", schema: duration(1, 86_400_000, "1ms..24h") },
  { key: "timeout-server", schema: duration(1, 86_400_000, "1ms..24h") },
  { key: "timeout-tunnel", schema: duration(1, 86_400_000, "1ms..24h") },
  {
    key: "timeout-client",
    schema: duration(1, 86_400_000, "1ms..24h"),
    refuse: (_, proto, web) =>
      web
        ? `a client timeout applies to TCP services only (their own listener), not proto ${proto}`
        : undefined,
  },
  { key: "maxconn", schema: Maxconn },
  { key: "check", schema: Check },
  { key: "check-path", schema: CheckPath, refuse: (_, proto) => webCheck(proto, "an HTTP check path") },
  { key: "check-status", schema: CheckStatus, refuse: (_, proto) => webCheck(proto, "an HTTP check status") },
  { key: "check-interval", schema: duration(100, 3_600_000, "100ms..1h") },
  { key: "send-proxy", schema: SendProxy },
  { key: "allow", schema: Allow },
  { key: "sticky", schema: Sticky, refuse: httpOnly("a sticky cookie") },
  { key: "path", schema: PathPrefix, refuse: httpOnly("a path prefix") },
];

/** The setting annotations' full names (`haconfd.io/balance`, …): what sources keep of an object. */
export const SETTING_ANNOTATIONS: readonly string[] = RULES.map((r) => `haconfd.io/${r.key}`);

function webCheck(proto: string, what: string): string | undefined {
  return proto === "https" ? `${what} needs a plain-HTTP service (https is passed through)` : undefined;
}

/** Refusals that come from two annotations together. */
function combinationProblems(p: Parsed): string[] {
  const problems: string[] = [];
  const httpOnlyKeys = ["check-path", "check-status"].filter((k) => p[k] !== undefined);
  if (httpOnlyKeys.length > 0 && p.check !== undefined && p.check !== "http") {
    problems.push(
      `annotation "haconfd.io/check": "${p.check}" contradicts ${
        httpOnlyKeys.map((k) => `"haconfd.io/${k}"`).join(" and ")
      } (an HTTP check)`,
    );
  }
  if (p["check-interval"] !== undefined && p.check === "none") {
    problems.push(`annotation "haconfd.io/check-interval": there is no check to time (check is "none")`);
  }
  return problems;
}

/**
 * The settings of a service with `proto` from its annotations (`haconfd.io/<key>`), or every reason it
 * cannot have them (each naming the annotation and the problem). Values are checked exactly as written.
 *
 * @example
 * ```ts
 * const settings = parseSettings({ "haconfd.io/timeout-server": "5m" }, "http");
 * if (Array.isArray(settings)) skip(settings.join("; "));
 * ```
 */
export function parseSettings(
  annotations: Readonly<Record<string, string>>,
  proto: string,
): ServiceSettings | string[] {
  const web = proto === "http" || proto === "https";
  const parsed: Parsed = {};
  const problems: string[] = [];
  let any = false;
  for (let i = 0; i < RULES.length; i++) {
    const rule = RULES[i]!;
    const raw = annotations[SETTING_ANNOTATIONS[i]!];
    if (raw === undefined) continue;
    any = true;
    const result = rule.schema.safeParse(raw);
    const problem = result.success
      ? rule.refuse?.(result.data, proto, web)
      : result.error.issues[0]?.message ?? "invalid";
    if (problem !== undefined) problems.push(`annotation "haconfd.io/${rule.key}": ${problem}`);
    else parsed[rule.key] = result.data;
  }
  if (!any) return DEFAULT_SETTINGS;
  problems.push(...combinationProblems(parsed));
  return problems.length > 0 ? problems : settingsOf(parsed);
}

function settingsOf(p: Parsed): ServiceSettings {
  const text = (key: string) => (p[key] as string | undefined) ?? null;
  const httpCheck = p["check-path"] !== undefined || p["check-status"] !== undefined;
  const balance = text("balance");
  return {
    balance,
    hashed: balance !== null && HASHED.test(balance),
    timeouts: {
      connect: text("timeout-connect"),
      server: text("timeout-server"),
      tunnel: text("timeout-tunnel"),
      client: text("timeout-client"),
    },
    maxconn: (p.maxconn as number | undefined) ?? null,
    check: httpCheck ? "http" : (p.check as ServiceSettings["check"] | undefined) ?? "tcp",
    checkPath: text("check-path") ?? "/",
    checkStatus: text("check-status"),
    checkInterval: text("check-interval"),
    sendProxy: (p["send-proxy"] as ServiceSettings["sendProxy"] | undefined) ?? null,
    allow: (p.allow as string[] | undefined) ?? null,
    sticky: text("sticky"),
    path: text("path") ?? "/",
  };
}
