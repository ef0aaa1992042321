/**
 * The pure middle of the pipeline: endpoint sets → model → config text.
 *
 * @module
 */
import type { EndpointSet } from "../model/endpoints.ts";
import { buildModel, type Model } from "../model/model.ts";
import {
  createModelStore,
  type ListenPorts,
  type ModelStore,
  objectKey,
  type SetChanges,
} from "../model/store.ts";
import { concatBytes } from "../bytes.ts";
import { createFragmentRenderer, type FragmentRenderer, NotIncremental } from "./fragments.ts";
import {
  type HaproxyProcess,
  type Listen,
  mapPaths,
  type Renderer,
  type TemplateData,
  type TlsFrontend,
} from "./render.ts";
import { VERSION } from "../version.ts";

/** A map file rendered beside the config (from a `*.map.eta` template). */
export interface MapFile {
  /** Its name, e.g. `haconfd-hosts.map`. */
  name: string;
  /** Its absolute path, as the config names it. */
  path: string;
  /** Its text. */
  text: string;
}

/** What one generation produced. */
export interface Generated {
  /** The map files the config names, in template-name order (empty for templates without maps). */
  maps?: readonly MapFile[];
  /** The model (domains and skipped objects). */
  model: Model;
  /** The config text. */
  text: string;
  /** How many domains the model has (without building `model.domains`). */
  domainCount?: number;
  /** True when the text is the one the generator produced last time (nothing the config shows changed). */
  unchanged?: boolean;
  /** The text's UTF-8 bytes, when the generator keeps them (assembled from cached parts: no 5 MB encode). */
  bytes?: Uint8Array<ArrayBuffer>;
  /**
   * The model's TCP services by listen port, when the generator keeps them up to date (its model store's
   * index, valid until its next call): a reader need not walk `model.domains`.
   */
  listenPorts?: ListenPorts;
  /**
   * The UTF-8 parts `bytes` is joined from, when the generator keeps them: a part no change touched is
   * the same array from one generation to the next (what lib/apply/config_diff.ts reads the change from).
   */
  parts?: readonly Uint8Array[];
  /**
   * Whether the templates render incrementally (they follow the partials convention: only the changed
   * domains' partials are rendered) rather than in full on every change.
   */
  incremental?: boolean;
}

/** What a generator reads from a source: its snapshot, and its changes where it keeps a journal. */
export interface GeneratorInput {
  /** The current endpoint sets. */
  snapshot(): EndpointSet[];
  /**
   * The sets changed since the last call (by `namespace/name`, null when gone), or null when the source
   * cannot say (then the generator compares the whole snapshot).
   */
  takeChanges?(): SetChanges | null;
}

/** Brings the model and config text up to date with a source. Throws the renderer's `TemplateError`. */
export interface Generator {
  (input: GeneratorInput): Generated;
  /**
   * Optional: gets ahead with sets of a first list still arriving (lib/source/source.ts `onListing`) —
   * the model store takes them and their domains' fragments are rendered — before the first call, which
   * still reads the whole snapshot and so finds only what changed since. Ignored after the first call;
   * never throws (what fails here is done again, and reported, by the call).
   */
  prime?(sets: readonly EndpointSet[]): void;
}

/** The port of a `host:port` bind, if it has one. */
export function bindPort(bind: string): number | undefined {
  const match = /:(\d{1,5})$/.exec(bind);
  return match ? Number(match[1]) : undefined;
}

/** A port haconfd itself listens on (beside the frontends), and who uses it: no TCP service may take it. */
export interface ReservedPort {
  /** The port. */
  port: number;
  /** Its user, for the skip reason, e.g. `the status endpoint (--status-listen)`. */
  by: string;
}

/** Template data for a model: the domains, the bind addresses, a timestamp-free `meta`, TLS when on. */
export function templateData(
  model: Model,
  listen: Listen,
  haproxy: HaproxyProcess = { user: null, group: null },
  tls?: TlsFrontend,
): TemplateData {
  const meta = { generatedBy: "haconfd", version: VERSION };
  const data = { domains: model.domains, listen, haproxy, meta, maps: {} };
  return tls === undefined ? data : { ...data, tls };
}

/** The trailer line that records how many domains a config serves (read back by the shrink guard). */
export function domainsTrailer(count: number): string {
  return `# haconfd: ${count} domains\n`;
}

/** The domain count recorded in a config's trailer, if it has one. */
export function trailerDomains(text: string): number | undefined {
  const match = /^# haconfd: (\d+) domains$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** A generator's last text, with its UTF-8 parts where it keeps them, joined on first use. */
interface Rendered {
  text: string;
  parts: Uint8Array[] | null;
  bytes: Uint8Array<ArrayBuffer> | null;
}

function generated(
  model: Model,
  rendered: Rendered,
  kept: Pick<Generated, "domainCount" | "listenPorts" | "incremental" | "maps">,
  unchanged: boolean,
): Generated {
  const out: Generated = { model, text: rendered.text, ...kept, unchanged };
  const parts = rendered.parts;
  if (parts === null) return out;
  out.parts = parts;
  // Joining the parts copies the whole config: only the pass that hashes and writes it pays for that.
  Object.defineProperty(out, "bytes", { enumerable: true, get: () => rendered.bytes ??= concatBytes(parts) });
  return out;
}

/** The ports a TCP service may not claim: the HTTP/HTTPS frontends' (bare numbers) and `reserved`. */
function reservedPortsOf(listen: Listen, reserved: readonly ReservedPort[]): (number | ReservedPort)[] {
  return [
    ...[bindPort(listen.http), bindPort(listen.https)].filter((p): p is number => p !== undefined),
    ...reserved,
  ];
}

/**
 * A generator that does the work a change needs: the model store (lib/model/store.ts) re-resolves the
 * objects that changed; templates that follow the partials convention (the defaults do) re-render the
 * partials of the domains that changed (lib/render/fragments.ts), other templates render in full; when no domain changed, the last text is
 * returned as it is, marked `unchanged`. Its output equals {@linkcode generate}'s for the same objects.
 *
 * @example
 * ```ts
 * const next = createGenerator(compileTemplates(defaultTemplates()), listen);
 * const { text, unchanged } = next(source);
 * ```
 */
export function createGenerator(
  renderer: Renderer,
  listen: Listen,
  haproxy?: HaproxyProcess,
  reserved: readonly ReservedPort[] = [],
  tls?: TlsFrontend,
): Generator {
  const store = createModelStore({ reservedPorts: reservedPortsOf(listen, reserved) });
  const data = {
    ...templateData({ domains: {}, skipped: [] }, listen, haproxy, tls),
    maps: mapPaths(renderer),
  };
  const config = new Output(renderer, data);
  const maps = renderer.maps.map((m) => ({ ...m, output: new Output(m.renderer, data) }));
  let started = false;
  let last: { config: Rendered; maps: MapFile[] } | null = null;
  // Domains changed since the last successful render (a failed render leaves them to the next call).
  const pending = new Set<string>();
  const generator: Generator = (input) => {
    const changes = input.takeChanges?.() ?? null;
    const update = started && changes !== null ? store.apply(changes) : store.replaceAll(input.snapshot());
    started = true;
    for (const name of update.domains) pending.add(name);
    const model = store.model();
    const domainCount = store.domainCount();
    const kept = { domainCount, listenPorts: store.listenPorts(), incremental: config.incremental };
    if (last !== null && pending.size === 0) {
      return generated(model, last.config, { ...kept, maps: last.maps }, true);
    }
    const mapFiles = maps.map(({ name, path, output }) => ({
      name,
      path,
      text: output.render(pending, store, model, "").text,
    }));
    last = { config: config.render(pending, store, model, domainsTrailer(domainCount)), maps: mapFiles };
    pending.clear();
    return generated(model, last.config, { ...kept, incremental: config.incremental, maps: mapFiles }, false);
  };
  generator.prime = (sets) => {
    if (started) return;
    const update = store.apply(new Map(sets.map((set) => [objectKey(set), set])));
    for (const name of update.domains) pending.add(name);
    const outputs = [config, ...maps.map((m) => m.output)];
    if (outputs.every((output) => output.prepare(pending, store))) pending.clear();
  };
  return generator;
}

/**
 * One output file of a generator: rendered incrementally while its templates follow the partials
 * convention (lib/render/fragments.ts), in full otherwise.
 */
class Output {
  readonly #renderer: Renderer;
  readonly #data: TemplateData;
  /** Null for templates that do not follow the partials convention, or once a partial is found breaking it. */
  #fragments: FragmentRenderer | null;

  constructor(renderer: Renderer, data: TemplateData) {
    this.#renderer = renderer;
    this.#data = data;
    this.#fragments = createFragmentRenderer(renderer, data);
  }

  /** Whether it renders incrementally. */
  get incremental(): boolean {
    return this.#fragments !== null;
  }

  /**
   * Renders the `changed` domains' fragments ahead of {@linkcode Output.render}; false when it cannot
   * (templates rendered in full, or a partial failed: render() does them again and reports the failure).
   */
  prepare(changed: Iterable<string>, store: Pick<ModelStore, "domain">): boolean {
    if (this.#fragments === null) return false;
    try {
      this.#fragments.prepare(changed, store.domain);
      return true;
    } catch {
      return false;
    }
  }

  /** The text after the `changed` domains changed; `trailer` last. */
  render(
    changed: Iterable<string>,
    store: Pick<ModelStore, "domain">,
    model: Model,
    trailer: string,
  ): Rendered {
    try {
      if (this.#fragments) return { ...this.#fragments.render(changed, store.domain, trailer), bytes: null };
    } catch (error) {
      if (!(error instanceof NotIncremental)) throw error;
      this.#fragments = null;
    }
    const text = this.#renderer.render({ ...this.#data, domains: model.domains }) + trailer;
    return { text, parts: null, bytes: null };
  }
}

/**
 * Builds the model and renders it, adding a trailer comment with the domain count (so that a restarted
 * daemon's shrink guard knows what the installed config serves). Throws the renderer's `TemplateError` when a template fails.
 *
 * @example
 * ```ts
 * const { model, text } = generate(sets, compileTemplates(defaultTemplates()), listen);
 * ```
 */
export function generate(
  sets: Iterable<EndpointSet>,
  renderer: Renderer,
  listen: Listen,
  haproxy?: HaproxyProcess,
  reserved: readonly ReservedPort[] = [],
  tls?: TlsFrontend,
): Generated {
  const model = buildModel(sets, { reservedPorts: reservedPortsOf(listen, reserved) });
  const data = { ...templateData(model, listen, haproxy, tls), maps: mapPaths(renderer) };
  const text = renderer.render(data);
  const maps = renderer.maps.map(({ name, path, renderer }) => ({ name, path, text: renderer.render(data) }));
  const domainCount = Object.keys(model.domains).length;
  return { model, text: text + domainsTrailer(domainCount), domainCount, maps };
}
