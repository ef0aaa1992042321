/**
 * Parsers and checks of single setting values that need more than a zod primitive: command lines, the
 * master socket address, the status listen address. HAProxy's adapter and the daemon use the parsed forms.
 *
 * @module
 */
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
