/**
 * Structured logging: one line per event, JSON or logfmt, filtered by level, secrets redacted.
 *
 * @module
 */

/** Log levels, least to most severe. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type Level = typeof LEVELS[number];
/** Output format of a log line. */
export type LogFormat = "logfmt" | "json";
/** Extra key/value pairs of a log event. */
export type Fields = Record<string, unknown>;

/** The logger handed to every component. */
export interface Logger {
  /** Logs at level debug. */
  debug(msg: string, fields?: Fields): void;
  /** Logs at level info. */
  info(msg: string, fields?: Fields): void;
  /** Logs at level warn. */
  warn(msg: string, fields?: Fields): void;
  /** Logs at level error. */
  error(msg: string, fields?: Fields): void;
  /** A logger whose lines carry `component` (and the given fields). */
  child(component: string, fields?: Fields): Logger;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. @default {"info"} */
  level?: Level;
  /** Line format. @default {"logfmt"} */
  format?: LogFormat;
  /** Where a finished line goes. @default {writes to stderr} */
  write?: (line: string) => void;
  /** Component name put on every line. @default {"haconfd"} */
  component?: string;
  /** Clock for the `time` field. @default {() => new Date()} */
  now?: () => Date;
}

const SECRET_KEY = /(token|password|passwd|secret|authorization|credential|key-?data|bearer)$/i;
const REDACTED = "[redacted]";
const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** Replaces the values of secret-looking keys, recursively, so no log line carries a credential. */
export function redact(value: unknown, key = ""): unknown {
  if (key !== "" && SECRET_KEY.test(key) && value !== undefined && value !== null && value !== "") {
    return REDACTED;
  }
  if (value instanceof Error) return errorText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}

/** An error's message followed by what its `cause` chain adds: `a: b: c`. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (current instanceof Error) {
      // Causes add their first line only, and nothing that an outer message already says.
      const line = (depth === 0 ? current.message : current.message.split("\n")[0] ?? "").trim();
      if (line !== "" && !parts.some((part) => part.includes(line))) parts.push(line);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

function logfmtValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? "null";
  return text === "" || /[\s"=\\]/.test(text) || /[^\x20-\x7e]/.test(text) ? JSON.stringify(text) : text;
}

/** Formats one event as a single line. */
export function formatLine(format: LogFormat, record: Fields): string {
  if (format === "json") return JSON.stringify(record);
  return Object.entries(record)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${logfmtValue(v)}`)
    .join(" ");
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: "debug", format: "json" });
 * log.child("kube").info("watch started", { resource: "endpoints" });
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const {
    level = "info",
    format = "logfmt",
    write = writeStderr,
    component = "haconfd",
    now = () => new Date(),
  } = options;
  const min = LEVELS.indexOf(level);
  function make(component: string, base: Fields): Logger {
    function emit(at: Level, msg: string, fields: Fields = {}): void {
      if (LEVELS.indexOf(at) < min) return;
      const merged = redact({ ...base, ...fields }) as Fields;
      write(formatLine(format, { time: now().toISOString(), level: at, component, msg, ...merged }));
    }
    return {
      debug: (msg, fields) => emit("debug", msg, fields),
      info: (msg, fields) => emit("info", msg, fields),
      warn: (msg, fields) => emit("warn", msg, fields),
      error: (msg, fields) => emit("error", msg, fields),
      child: (name, fields = {}) => make(name, { ...base, ...fields }),
    };
  }
  return make(component, {});
}

/** A logger that writes nothing (tests, library defaults). */
export const silentLogger: Logger = createLogger({ write: () => {} });

/** A logger that keeps its lines in memory, for tests. */
export function memoryLogger(level: Level = "debug"): Logger & { lines: Fields[] } {
  const lines: Fields[] = [];
  const logger = createLogger({ level, format: "json", write: (line) => lines.push(JSON.parse(line)) });
  return Object.assign(logger, { lines });
}
