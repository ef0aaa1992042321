/**
 * Model + templates → HAProxy config text. `*.eta` files are rendered with Eta, `*.conf` files copied as
 * they are, all in file-name order; `_*.eta` files are partials, which templates `include`. The defaults
 * are embedded in the program.
 *
 * @module
 */
import { Eta, type EtaConfig } from "eta/core";
import { basename, join } from "node:path";
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
  /** Every bind accepts the PROXY protocol (`--accept-proxy`: HAProxy behind another L4 balancer). */
  acceptProxy?: boolean;
  /** Bind of the frontend serving HAProxy's Prometheus exporter (`--haproxy-metrics-bind`); none when absent. */
  metrics?: string;
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
  /** TLS termination (`--tls`); absent when off. */
  tls?: TlsFrontend;
  /**
   * Map file name → its absolute path, for every map template (`*.map.eta`): what a config names in
   * `map_str(<path>)`. The files are written beside the config, staged, checked and swapped with it.
   */
  maps?: Readonly<Record<string, string>>;
}

/** The TLS-terminating frontend's fixed parts (lib/daemon/tls.ts). */
export interface TlsFrontend {
  /** Whether it is rendered. */
  enabled: boolean;
  /** The local socket between the SNI frontend and it, e.g. `unix@/etc/haproxy/certs/tls.sock`. */
  socket: string;
  /** The crt-list path. */
  crtList: string;
  /** The default certificate's path, or null: clients without a known SNI are refused (strict-sni). */
  defaultCertificate: string | null;
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
  if (files.every((f) => isPartial(f.name))) {
    throw new Error(
      `Cannot use template directory "${dir}": it has no *.eta or *.conf file${
        files.length === 0 ? "" : " besides partials (_*.eta, only included by other templates)"
      }`,
    );
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** A top-level template, compiled: what {@linkcode Renderer.render} joins, and what fragments.ts probes. */
export interface Frame {
  /** The file. */
  readonly file: TemplateFile;
  /** The text a `*.conf` file gives, as {@linkcode Renderer.render} uses it; null for an Eta template. */
  readonly text: string | null;
  /**
   * The partials its per-domain loops include, in source order, when its only use of `it.domains` is
   * such loops (README, "Templates"); null when it reads the domains some other way.
   */
  readonly loops: readonly string[] | null;
}

/** A compiled set of templates, ready to render many times. */
export interface Renderer {
  /** Renders the data into config text ending with one newline. */
  render(data: TemplateData): string;
  /** The files it was compiled from. */
  readonly files: readonly TemplateFile[];
  /** The top-level templates (every file but the partials, `_*.eta`), in file-name order. */
  readonly frames: readonly Frame[];
  /**
   * Renders Eta frame `frame` as it is, before {@linkcode tidy}, with `partials` standing in for the
   * partials of the same names (for probing its structure); other partials that mention `domains` fail.
   */
  probe(frame: Frame, data: TemplateData, partials: Readonly<Record<string, PartialFunction>>): string;
  /** Renders partial `name` (untidied); a failure is a {@linkcode TemplateError} naming the partial. */
  partial(name: string, data: object): string;
  /** The map templates (`*.map.eta`), each compiled with the partials into a renderer of its own. */
  readonly maps: readonly MapTemplate[];
}

/** A map template: one map file, rendered from the same data as the config. */
export interface MapTemplate {
  /** The file's name: the template's without `.eta`, e.g. `haconfd-hosts.map`. */
  readonly name: string;
  /** Where it is installed: in the map directory (the config's). */
  readonly path: string;
  /** Renders the file's text (`frames` holds the one template). */
  readonly renderer: Renderer;
}

/** Where map files go when {@linkcode compileTemplates} is not told: the default config's directory. */
export const DEFAULT_MAP_DIR = "/etc/haproxy";

/** Options of {@linkcode compileTemplates}. */
export interface CompileOptions {
  /** The directory map files are installed in (the config's). @default {DEFAULT_MAP_DIR} */
  mapDir?: string;
}

/** Map file name → path of every map template, as templates see it in `it.maps`. */
export function mapPaths(renderer: Pick<Renderer, "maps">): Record<string, string> {
  return Object.fromEntries(renderer.maps.map((m) => [m.name, m.path]));
}

/** A stand-in for a partial while probing: gets the data the template passes, returns its text. */
export type PartialFunction = (data: Record<string, unknown>) => string;

type EtaFunction = ReturnType<Eta["compile"]>;

const ETA_CONFIG: Partial<EtaConfig> = { autoEscape: false, autoTrim: false, debug: true, useWith: false };

/** Compiles and parses; each renderer renders with its own instance, which holds its partials by name. */
const eta = new Eta(ETA_CONFIG);

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

/** Whether a file is a partial: `_*.eta`, included by other templates, never rendered on its own. */
function isPartial(name: string): boolean {
  return name.startsWith("_") && name.endsWith(".eta");
}

/** Whether a file is a map template: `*.map.eta` renders a map file of its own, not part of the config. */
function isMapTemplate(name: string): boolean {
  return !isPartial(name) && name.endsWith(".map.eta");
}

function compileEta(file: TemplateFile): EtaFunction {
  try {
    return eta.compile(file.source);
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
}

/** A render failure as a {@linkcode TemplateError}: the one a partial raised, or one naming `file`. */
function renderError(file: TemplateFile, error: unknown): TemplateError {
  for (let e: unknown = error; e instanceof Error; e = e.cause) if (e instanceof TemplateError) return e;
  const message = (error as Error).message;
  const at = /:(\d+)\n/.exec(message) ?? /line (\d+)/.exec(message);
  const detail = (error as Error).cause instanceof Error
    ? ((error as Error).cause as Error).message
    : message.split("\n").at(-1) ?? message;
  return new TemplateError(file.origin, at ? Number(at[1]) : undefined, detail, { cause: error });
}

/**
 * A per-domain loop as fragments.ts can take it apart: the loop of README's "Templates" whose body is
 * only the include of one partial with `{ domain, d }`. Group 2 is the partial.
 */
const DOMAIN_LOOP = new RegExp(
  [
    String
      .raw`<%[-_]?\s*for\s*\(\s*const\s*\[\s*domain\s*,\s*d\s*\]\s*of\s+Object\.entries\(\s*it\.domains\s*\)\s*\)\s*\{`,
    String
      .raw`\s*[-_]?%>\s*<%[-_]?~\s*include\(\s*(["'])(_[^"'\\]+\.eta)\1\s*,\s*\{\s*domain\s*,\s*d\s*\}\s*\)`,
    String.raw`\s*[-_]?%>\s*<%[-_]?\s*\}\s*[-_]?%>`,
  ].join(""),
  "g",
);

/** The partials of `source`'s per-domain loops, or null when it uses `domains` outside such loops. */
function domainLoops(source: string): string[] | null {
  const loops = [...source.matchAll(DOMAIN_LOOP)].map((m) => m[2]!);
  return /domains/.test(source.replace(DOMAIN_LOOP, "")) ? null : loops;
}

function confText(source: string): string {
  const text = source.endsWith("\n") || source === "" ? source : `${source}\n`;
  return text.trim() === "" ? "" : oneNewline(text);
}

/** Strips blanks at the ends of lines; text without any is returned as it is (no copy). */
export function stripTrailingBlanks(text: string): string {
  return /[ \t]$|[ \t]\n/.test(text) ? text.replace(/[ \t]+$/gm, "") : text;
}

/** `text` ending with exactly one newline (none when empty): checked from the end, not by a regex scan. */
export function oneNewline(text: string): string {
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
 * Partials (`_*.eta`) are registered by file name for `include`, and not rendered on their own; map
 * templates (`*.map.eta`) are compiled with the partials into renderers of their own (`maps`).
 *
 * @example
 * ```ts
 * const renderer = compileTemplates(defaultTemplates());
 * const text = renderer.render({ domains: model.domains, listen, meta });
 * ```
 */
export function compileTemplates(files: readonly TemplateFile[], options: CompileOptions = {}): Renderer {
  const { mapDir = DEFAULT_MAP_DIR } = options;
  const partialFiles = files.filter((f) => isPartial(f.name));
  const maps = files.filter((f) => isMapTemplate(f.name)).map((file) => {
    const name = basename(file.name).slice(0, -".eta".length);
    return { name, path: join(mapDir, name), renderer: compileSet([file, ...partialFiles], []) };
  });
  return compileSet(files.filter((f) => !isMapTemplate(f.name)), maps);
}

/** {@linkcode compileTemplates} of one output: its top-level templates and the partials. */
function compileSet(files: readonly TemplateFile[], maps: readonly MapTemplate[]): Renderer {
  const partials = files.filter((f) => isPartial(f.name)).map((file) => ({ file, fn: compileEta(file) }));
  const instance = etaWithPartials(partials);
  const frames = files.filter((f) => !isPartial(f.name)).map((file) => compileFrame(file, partials));
  return {
    files,
    frames,
    maps,
    render(data) {
      // Each *.eta output is tidied and *.conf text stays as written; parts are separated by one blank
      // line and the whole ends with exactly one newline.
      const parts = frames.map((f) => f.text ?? tidy(renderFrame(f, instance, data)));
      return parts.filter((p) => p.trim() !== "").map(oneNewline).join("\n");
    },
    probe(frame, data, stand) {
      // Partials the template includes outside its loops render as they are, unless they could read the
      // domains: then the text around the loops could change with them, and the probe fails.
      const probing = etaWithPartials(partials, (file) => {
        if (/domains/.test(file.source)) throw new Error(`partial "${file.name}" could read it.domains`);
      });
      for (const [name, fn] of Object.entries(stand)) {
        probing.loadTemplate(name, (d?: object) => fn({ ...d }));
      }
      return renderFrame(frames.find((f) => f.file === frame.file)!, probing, data);
    },
    partial(name, data) {
      return instance.render(name, data);
    },
  };
}

/** A partial compiled once. */
interface CompiledPartial {
  file: TemplateFile;
  fn: EtaFunction;
}

/** A frame with its compiled function (null for `*.conf` text). */
interface CompiledFrame extends Frame {
  readonly fn: EtaFunction | null;
}

/** An Eta instance holding the partials, each checked by `guard` (when given) before it renders. */
function etaWithPartials(partials: readonly CompiledPartial[], guard?: (file: TemplateFile) => void): Eta {
  const on = new Eta(ETA_CONFIG);
  for (const { file, fn } of partials) {
    on.loadTemplate(file.name, function (this: Eta, data, options) {
      guard?.(file);
      try {
        return fn.call(this, data, options);
      } catch (error) {
        throw renderError(file, error);
      }
    });
  }
  return on;
}

function compileFrame(file: TemplateFile, partials: readonly CompiledPartial[]): CompiledFrame {
  if (!file.name.endsWith(".eta")) return { file, text: confText(file.source), loops: null, fn: null };
  const fn = compileEta(file);
  const loops = domainLoops(file.source);
  const missing = loops?.find((name) => !partials.some((p) => p.file.name === name));
  if (missing !== undefined) {
    throw new TemplateError(file.origin, undefined, `it includes partial "${missing}", which is not there`);
  }
  return { file, text: null, loops, fn };
}

function renderFrame(frame: CompiledFrame, on: Eta, data: TemplateData): string {
  try {
    return on.render(frame.fn!, data);
  } catch (error) {
    throw renderError(frame.file, error);
  }
}
