/**
 * Model + templates → HAProxy config text. `*.eta` files are rendered with Eta, `*.conf` files copied as
 * they are, all in file-name order; the defaults are embedded in the program.
 *
 * @module
 */
import { Eta } from "eta/core";
import { join } from "node:path";
import { DEFAULT_TEMPLATES } from "../../templates/mod.ts";
import type { Model } from "../model/model.ts";

/** Where the frontends bind: from settings, so tests and odd hosts can move them without editing templates. */
export interface Listen {
  /** HTTP frontend bind, e.g. `*:80`. */
  http: string;
  /** HTTPS (TLS passthrough) frontend bind, e.g. `*:443`. */
  https: string;
  /** Address TCP services bind to; the port comes from the domain's `listenPort`, e.g. `*`. */
  tcp: string;
}

/** Whom HAProxy's workers run as: `user`/`group` in the global section when set. */
export interface HaproxyProcess {
  /** User name, or null to leave HAProxy as started. */
  user: string | null;
  /** Group name, or null. */
  group: string | null;
}

/** The data a template sees as `it`. */
export interface TemplateData {
  /** pyconfd's dictionary: domain → { ips, proto, port, … }. */
  domains: Model["domains"];
  /** Bind addresses of the frontends. */
  listen: Listen;
  /** The user and group HAProxy's workers run as (`--haproxy-user`), null when not set. */
  haproxy: HaproxyProcess;
  /** Who generated the file; never a timestamp, so the same cluster gives the same bytes. */
  meta: { generatedBy: string; version: string };
}

/** One template file. */
export interface TemplateFile {
  /** File name, e.g. `10-http.eta`; decides order and kind. */
  name: string;
  /** Where it came from (a path, or `embedded:` for the defaults), named in errors. */
  origin: string;
  /** Its text. */
  source: string;
}

/** A template that does not parse or fails while rendering. */
export class TemplateError extends Error {
  /** The template's origin (path). */
  readonly file: string;
  /** The line of the error where known. */
  readonly line: number | undefined;
  /** Creates the error. */
  constructor(file: string, line: number | undefined, detail: string, options?: ErrorOptions) {
    super(`Cannot render template "${file}"${line === undefined ? "" : ` line ${line}`}: ${detail}`, options);
    this.name = "TemplateError";
    this.file = file;
    this.line = line;
  }
}

/** The embedded default templates. */
export function defaultTemplates(): TemplateFile[] {
  return Object.entries(DEFAULT_TEMPLATES)
    .map(([name, source]) => ({ name, origin: `embedded:templates/${name}`, source }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Reads `*.eta` and `*.conf` files of a directory, in file-name order. */
export async function loadTemplateDir(dir: string): Promise<TemplateFile[]> {
  const files: TemplateFile[] = [];
  const jinja: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile && !entry.isSymlink) continue;
      if (entry.name.endsWith(".tmpl")) jinja.push(entry.name);
      if (!entry.name.endsWith(".eta") && !entry.name.endsWith(".conf")) continue;
      const origin = join(dir, entry.name);
      files.push({ name: entry.name, origin, source: await Deno.readTextFile(origin) });
    }
  } catch (error) {
    throw new Error(`Cannot read template directory "${dir}": ${(error as Error).message}`, { cause: error });
  }
  if (jinja.length > 0) {
    // A pyconfd template directory would otherwise render without its templates, silently.
    throw new Error(
      `Cannot use template directory "${dir}": it has pyconfd's Jinja templates (${
        jinja.sort().join(", ")
      }), which haconfd does not read: port them to *.eta (see README, "Templates") and remove them`,
    );
  }
  if (files.length === 0) {
    throw new Error(`Cannot use template directory "${dir}": it has no *.eta or *.conf file`);
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** A compiled set of templates, ready to render many times. */
export interface Renderer {
  /** Renders the data into config text ending with one newline. */
  render(data: TemplateData): string;
  /** The files it was compiled from. */
  readonly files: readonly TemplateFile[];
  /** Whether the files are the embedded defaults, which lib/render/fragments.ts can render incrementally. */
  readonly builtin?: boolean;
}

type Compiled = (data: TemplateData) => string;

const eta = new Eta({ autoEscape: false, autoTrim: false, debug: true, useWith: false });

/**
 * Finds the line of a JavaScript syntax error: compiles the template's first k tags for growing k; the
 * first prefix that fails with the whole template's error ends with the tag that holds it.
 */
function syntaxErrorLine(source: string): number | undefined {
  const errorOf = (body: string) => {
    try {
      new Function(body);
      return null;
    } catch (error) {
      return error instanceof SyntaxError ? error.message : null;
    }
  };
  try {
    const ast = eta.parse(source);
    const full = errorOf(eta.compileBody(ast));
    if (full === null) return undefined;
    for (let k = 1; k <= ast.length; k++) {
      const node = ast[k - 1];
      if (typeof node === "object" && errorOf(eta.compileBody(ast.slice(0, k))) === full) return node.lineNo;
    }
  } catch {
    // Parse errors carry their own line.
  }
  return undefined;
}

function compileOne(file: TemplateFile): Compiled {
  if (file.name.endsWith(".conf")) {
    const text = file.source.endsWith("\n") || file.source === "" ? file.source : `${file.source}\n`;
    return () => text;
  }
  let fn: ReturnType<Eta["compile"]>;
  try {
    fn = eta.compile(file.source);
  } catch (error) {
    const message = (error as Error).message;
    const at = /at line (\d+)/.exec(message);
    const line = at
      ? Number(at[1])
      : (error as Error).name === "EtaParser Error"
      ? syntaxErrorLine(file.source)
      : undefined;
    const detail = message.split("\n").find((l) => l.trim() !== "" && !/^Bad template syntax$/.test(l)) ??
      message;
    throw new TemplateError(file.origin, line, detail.replace(/ at line \d+ col \d+:?$/, "").trim(), {
      cause: error,
    });
  }
  return (data) => {
    try {
      return tidy(eta.render(fn, data));
    } catch (error) {
      const message = (error as Error).message;
      const at = /:(\d+)\n/.exec(message) ?? /line (\d+)/.exec(message);
      const detail = (error as Error).cause instanceof Error
        ? ((error as Error).cause as Error).message
        : message.split("\n").at(-1) ?? message;
      throw new TemplateError(file.origin, at ? Number(at[1]) : undefined, detail, { cause: error });
    }
  };
}

/** Strips blanks at the ends of lines; text without any is returned as it is (no copy). */
export function stripTrailingBlanks(text: string): string {
  return /[ \t]$|[ \t]\n/.test(text) ? text.replace(/[ \t]+$/gm, "") : text;
}

/** `text` ending with exactly one newline (none when empty): checked from the end, not by a regex scan. */
function oneNewline(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  return end === 0 ? "" : end === text.length - 1 ? text : `${text.slice(0, end)}\n`;
}

/**
 * Strips trailing blanks and collapses runs of blank lines in rendered output. Each replacement runs
 * only when a cheap search finds something to replace: most output has nothing, and a whole-text regex
 * costs time and garbage at scale.
 */
function tidy(text: string): string {
  let out = stripTrailingBlanks(text);
  if (out.includes("\n\n\n")) out = out.replace(/\n{3,}/g, "\n\n");
  if (out.charCodeAt(0) === 10) out = out.replace(/^\n+/, "");
  return oneNewline(out);
}

/**
 * Compiles templates once; syntax errors surface here as {@linkcode TemplateError}s naming the file.
 *
 * @example
 * ```ts
 * const renderer = compileTemplates(defaultTemplates());
 * const text = renderer.render({ domains: model.domains, listen, meta });
 * ```
 */
export function compileTemplates(files: readonly TemplateFile[]): Renderer {
  const compiled = files.map((file) => compileOne(file));
  const defaults = defaultTemplates();
  const builtin = files.length === defaults.length &&
    files.every((f, i) => f.name === defaults[i]!.name && f.source === defaults[i]!.source);
  return {
    files,
    builtin,
    render(data) {
      // Each *.eta output is already tidied and *.conf text stays as written; parts are separated by one
      // blank line and the whole ends with exactly one newline.
      const parts = compiled.map((fn) => fn(data)).filter((part) => part.trim() !== "");
      return parts.map(oneNewline).join("\n");
    },
  };
}
