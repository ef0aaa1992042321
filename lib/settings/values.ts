/**
 * Parsers and checks of single setting values that need more than a zod primitive: command lines, the
 * master socket address, the status listen address (HAProxy's adapter and the daemon use the parsed
 * forms), and the value schemas the option table (options.ts) is built from: durations, booleans, lists,
 * listen addresses, label selectors, sizes.
 *
 * @module
 */
import { z } from "zod";
import { type ListenAddress, parseListen } from "../listen.ts";

/** A bad flag or variable; `main` prints it and exits 2. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Where the master CLI listens. */
export type MasterAddress =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number };

/**
 * Parses `--haproxy-master-socket`: a unix socket path (`/run/haproxy-master.sock`, `unix@/path`) or
 * `host:port` (`127.0.0.1:9999`, `[::1]:9999`).
 *
 * @throws {TypeError} On an empty value or a bad port.
 */
export function parseMasterAddress(value: string): MasterAddress {
  const text = value.trim();
  if (text === "") throw new TypeError('Invalid master socket address "": empty');
  if (text.startsWith("unix@")) return { transport: "unix", path: text.slice("unix@".length) };
  const tcp = /^(?:\[([^\]]+)\]|([^/:\s]+)):(\d+)$/.exec(text.replace(/^(ipv4|ipv6|tcp)@/, ""));
  if (tcp === null || text.startsWith("/") || text.startsWith(".")) return { transport: "unix", path: text };
  const port = Number(tcp[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`Invalid master socket address "${value}": port out of range`);
  }
  return { transport: "tcp", hostname: tcp[1] ?? tcp[2] ?? "", port };
}

/**
 * Splits a command line into argv the way a POSIX shell would for plain words: whitespace separates,
 * single quotes keep everything literally, double quotes keep whitespace and honour `\"` and `\\`,
 * a backslash outside quotes escapes the next character. No expansion of any kind.
 *
 * @example
 * ```ts
 * splitCommand(`/usr/sbin/haproxy -c -q -f`); // ["/usr/sbin/haproxy", "-c", "-q", "-f"]
 * splitCommand(`sh -c 'kill -USR2 "$(cat /run/haproxy.pid)"'`); // ["sh", "-c", `kill -USR2 "$(cat /run/haproxy.pid)"`]
 * ```
 *
 * @throws {SyntaxError} On an unterminated quote or a trailing backslash.
 */
export function splitCommand(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) current += line[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\") {
      if (i + 1 >= line.length) throw new SyntaxError(`Cannot parse command "${line}": trailing backslash`);
      current += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) args.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote !== undefined) {
    throw new SyntaxError(`Cannot parse command "${line}": unterminated ${quote} quote`);
  }
  if (inWord) args.push(current);
  return args;
}

/**
 * The loopback-or-token rule: the status endpoint may listen off loopback only with a token. Returns the
 * parsed address; throws a {@linkcode ConfigError} naming the flags otherwise.
 */
export function checkStatusListen(listen: string, tokenSet: boolean): ListenAddress {
  let address: ListenAddress;
  try {
    address = parseListen(listen);
  } catch (error) {
    throw new ConfigError(`Invalid --status-listen: ${(error as Error).message}`);
  }
  if (!address.loopback && !tokenSet) {
    throw new ConfigError(
      `Invalid --status-listen "${listen}": listening off loopback requires --status-token or ` +
        `--status-token-file (/healthz and /readyz stay open); listen on 127.0.0.1 or set a token`,
    );
  }
  return address;
}

/** Parses a duration: `250ms`, `2s`, `1.5m`, `1h`, or a bare number of `unit`s. */
export function parseDuration(text: string, unit: "ms" | "s" = "s"): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) return undefined;
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? unit] ?? 1;
  return Math.round(Number(match[1]) * factor);
}

/**
 * The longest delay a timer can take (2^31−1 ms, about 24.8 days): a longer one fires after 1 ms, so a
 * longer duration is refused rather than silently turned into "at once".
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Why a parsed duration is out of range, or undefined when it is fine. */
function durationProblem(text: string, ms: number, min: number): string | undefined {
  if (ms < min) return `"${text}" is shorter than the minimum ${min}ms`;
  if (ms > MAX_DURATION_MS) {
    return `"${text}" is longer than the maximum ${MAX_DURATION_MS}ms (596h, the longest timer)`;
  }
  return undefined;
}

/** A duration setting in ms (`unit` for a bare number), at least `min` ms. */
export function duration(unit: "ms" | "s", min = 0): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> {
  return z.string().transform((text, ctx) => {
    const ms = parseDuration(text, unit);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a duration (e.g. 500ms, 2s, 1m)` });
      return z.NEVER;
    }
    const problem = durationProblem(text, ms, min);
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return ms;
  });
}

/** A boolean setting: true/false, 1/0, yes/no, on/off (empty is false). */
export const boolean = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === "boolean") return value;
  const lower = value.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(lower)) return true;
  if (["0", "false", "no", "off", ""].includes(lower)) return false;
  ctx.addIssue({ code: "custom", message: `"${value}" is not a boolean (true/false, 1/0, yes/no)` });
  return z.NEVER;
});

/** A comma-separated list setting, items trimmed, empty items dropped. */
export const list = z.string().transform((value) =>
  value.split(",").map((s) => s.trim()).filter((s) => s !== "")
);

/** `--api-servers`: http(s) URLs of API servers, tried in order. */
export const apiServers = list.pipe(z.array(
  z.string().superRefine((s, ctx) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      url = new URL("invalid:");
    }
    if (
      !((url.protocol === "https:" || url.protocol === "http:") && url.pathname === "/" && url.search === "")
    ) {
      ctx.addIssue({ code: "custom", message: `"${s}" is not an API server URL like https://10.0.0.1:6443` });
    } else if (url.username !== "" || url.password !== "") {
      // Credentials in a URL end up in logs and process listings.
      ctx.addIssue({
        code: "custom",
        message:
          "credentials in the URL are not accepted; use --token-file, client certificates or a kubeconfig",
      });
    }
  }),
));

/** A command line run without a shell: it must split into words (quotes closed). */
export const command = z.string().trim().min(1, "the command is empty").superRefine((text, ctx) => {
  try {
    splitCommand(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `"${text}": ${(error as Error).message}` });
  }
});

/** A file path setting (not empty). */
export const path = z.string().trim().min(1, "the path is empty");

/** HAProxy's master CLI: a unix socket path or host:port. */
export const masterSocket = path.superRefine((text, ctx) => {
  try {
    parseMasterAddress(text);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: (error as Error).message });
  }
});

/** pyconfd's LOGLEVEL took Python's names; WARNING and CRITICAL map onto ours. */
export const PYTHON_LEVELS: Readonly<Record<string, string>> = {
  warning: "warn",
  critical: "error",
  fatal: "error",
};

/**
 * Whether `host` is a bind host HAProxy and Deno accept: `*`, an IPv4 address (each part 0..255), a
 * bracketed IPv6 address, or a DNS name. Anything of digits and dots is taken as IPv4 and checked as one.
 */
export function isBindHost(host: string): boolean {
  if (host === "*") return true;
  if (/^[0-9.]+$/.test(host)) return z.ipv4().safeParse(host).success;
  if (host.startsWith("[")) return host.endsWith("]") && z.ipv6().safeParse(host.slice(1, -1)).success;
  return /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
    .test(host);
}

/**
 * A `host:port` listen address; `*`, empty host or `::` means every address. Port 0 (any free port)
 * only where `zeroPort` allows it: a frontend on a random port is unreachable.
 */
export function hostPort(zeroPort = false, off = false): z.ZodString {
  return z.string().trim().superRefine((text, ctx) => {
    if (off && text === "off") return;
    const match = /^(.*):(\d{1,5})$/.exec(text);
    const host = match?.[1] ?? "";
    const port = Number(match?.[2]);
    const hostOk = host === "" || host === "::" || isBindHost(host);
    if (match === null || !hostOk) {
      ctx.addIssue({
        code: "custom",
        message: `"${text}" is not an address:port like *:80 or 127.0.0.1:8080`,
      });
    } else if (port > 65535 || (port === 0 && !zeroPort)) {
      ctx.addIssue({
        code: "custom",
        message: `"${text}": port ${port} is not in ${zeroPort ? 0 : 1}..65535`,
      });
    }
  });
}

/** `--wait MIN:MAX`: the quiet period and the longest hold, in ms. */
export const wait = z.string().transform((text, ctx) => {
  const parts = text.split(":");
  if (parts.length > 2) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not MIN or MIN:MAX durations like 200ms:2s` });
    return z.NEVER;
  }
  const [minText = "", maxText] = parts;
  const min = parseDuration(minText, "ms");
  const max = maxText === undefined
    ? (min === undefined ? undefined : min * 4)
    : parseDuration(maxText, "ms");
  if (min === undefined || max === undefined) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not MIN:MAX durations like 200ms:2s` });
    return z.NEVER;
  }
  if (max < min) {
    ctx.addIssue({ code: "custom", message: `"${text}": MAX is shorter than MIN` });
    return z.NEVER;
  }
  const problem = durationProblem(text, max, 0);
  if (problem !== undefined) {
    ctx.addIssue({ code: "custom", message: problem });
    return z.NEVER;
  }
  return { minMs: min, maxMs: max };
});

/**
 * A share written as a percentage, 0% to 100%. The `%` is required: a bare number is ambiguous (is `1`
 * 100 % as a fraction or 1 %?), so it is refused with the two readings spelled out.
 */
export const percent = z.string().transform((text, ctx) => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (match !== null && match[2] === "") {
    const n = Number(match[1]);
    ctx.addIssue({
      code: "custom",
      message: `"${text}" has no %: write ${n}% for ${n} percent` +
        (n <= 1 ? ` or ${n * 100}% for the fraction ${n}` : ""),
    });
    return z.NEVER;
  }
  const value = match ? Number(match[1]) / 100 : NaN;
  if (!(value >= 0 && value <= 1)) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a percentage from 0% to 100%` });
    return z.NEVER;
  }
  return value;
});

/** One requirement of a label selector: `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`. */
const LABEL_KEY =
  "([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
const LABEL_VALUE = "([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?";
const REQUIREMENT = new RegExp(
  `^\\s*(!?\\s*${LABEL_KEY}|${LABEL_KEY}\\s*(==?|!=)\\s*${LABEL_VALUE}|` +
    `${LABEL_KEY}\\s+(in|notin)\\s*\\(\\s*${LABEL_VALUE}(\\s*,\\s*${LABEL_VALUE})*\\s*\\))\\s*$`,
);

/** A label selector in the API's syntax, checked here so that the API does not refuse every list later. */
export const labelSelector = z.string().trim().min(1).superRefine((text, ctx) => {
  // Commas separate requirements, except inside the parentheses of `in (a,b)`.
  const requirements = text.split(/,(?![^(]*\))/);
  const bad = requirements.find((r) => !REQUIREMENT.test(r));
  if (bad !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `"${text}": "${bad.trim()}" is not a label requirement like app=web, tier!=db or env in (a,b)`,
    });
  }
});

/** A size in bytes: `8MiB`, `512KiB`, `1GiB` or a plain number of bytes (at least 1 KiB). */
export const byteSize = z.string().transform((text, ctx) => {
  const match = /^\s*(\d+)\s*(|B|KiB|MiB|GiB)\s*$/.exec(text);
  const unit = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[match?.[2] ?? ""] ?? 1;
  const value = match ? Number(match[1]) * unit : NaN;
  if (!(Number.isSafeInteger(value) && value >= 1024)) {
    ctx.addIssue({ code: "custom", message: `"${text}" is not a size of at least 1KiB like 8MiB or 65536` });
    return z.NEVER;
  }
  return value;
});

const DNS_LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
const SECRET_REF = new RegExp(`^(${DNS_LABEL})/(${DNS_LABEL}(\\.${DNS_LABEL})*)$`);

/** Where the default certificate comes from: a PEM file, or a `kubernetes.io/tls` Secret. */
export type CertificateSource =
  | { kind: "file"; path: string }
  | { kind: "secret"; namespace: string; name: string };

/**
 * `--default-certificate`: a PEM file path (absolute, or relative starting with `./` or `../`) or a
 * Secret's `namespace/name` (DNS-1123 names, so `certs/default.pem` would be a Secret: hence the `./`).
 */
export const certificateSource = z.string().trim().min(1, "the value is empty").transform(
  (text, ctx): CertificateSource => {
    if (/^(\/|\.\.?\/)/.test(text)) return { kind: "file", path: text };
    const match = SECRET_REF.exec(text);
    if (match !== null && match[3]!.length <= 253) {
      return { kind: "secret", namespace: match[1]!, name: match[3]! };
    }
    ctx.addIssue({
      code: "custom",
      message: `"${text}" is neither a PEM file (an absolute path, or one starting with ./ or ../) ` +
        "nor a kubernetes.io/tls Secret as namespace/name (lower-case DNS names, e.g. ingress/default-tls)",
    });
    return z.NEVER;
  },
);
