/**
 * An {@linkcode Applier} that installs TLS termination's files with the config: before the config is
 * checked, the certificate bundles and the crt-list it names are written to the cert dir (only those
 * whose bytes differ; `haproxy -c` reads them); after it is installed, bundles no longer named are
 * removed. Certificate changes under a config that was not reloaded go through the Runtime API: a renewed
 * certificate is replaced (`set ssl cert` + `commit ssl cert`, read back with `show ssl cert`), a new
 * host's is loaded and added to the crt-list (`new ssl cert`, `set`/`commit`, `add ssl crt-list`), a
 * removed host's line deleted (`del ssl crt-list`, then `del ssl cert` for a file no line names), and the
 * crt-list read back (`show ssl crt-list`); any failure there, or a new file outside the crt-list (the
 * default certificate), falls back to one reload. The result says which path was taken (`runtime` or
 * `applied`, and its detail).
 *
 * @module
 */
import type { Applier, ApplyOptions, ApplyResult } from "./apply.ts";
import { type CertWrite, CRT_LIST, removeStaleCertFiles, type Sealed, writeCertFiles } from "./cert_files.ts";
import type { Reloader } from "../haproxy/reload.ts";
import type { RuntimeTarget } from "../haproxy/runtime.ts";
import { replaceCertificate } from "../haproxy/ssl_runtime.ts";
import {
  addCrtListEntry,
  crtListEntries,
  deleteCertificate,
  newCertificate,
  readCrtList,
  removeCrtListEntry,
} from "../haproxy/ssl_crtlist_runtime.ts";
import { errorText, type Logger, silentLogger } from "../log.ts";

/** The files the current model wants in the cert dir. */
export interface TlsFiles {
  /** Bundles by file name, with the serial each one's leaf has. */
  bundles: ReadonlyMap<string, { bundle: Sealed; serial: string }>;
  /** The crt-list text. */
  crtList: string;
}

/** Options of {@linkcode TlsApplier}. */
export interface TlsApplierOptions {
  /** The cert dir. */
  dir: string;
  /** The files of the generation being applied. */
  files: () => TlsFiles;
  /** Reloads HAProxy when a certificate cannot be replaced at run time. */
  reloader: Pick<Reloader, "reload">;
  /** The Runtime API, or null: every certificate change reloads. */
  runtime: RuntimeTarget | null;
  /** Group id of the key files (mode 0640), or null: mode 0600 (lib/apply/cert_files.ts). @default {null} */
  group?: number | null;
  /** File names kept in the dir besides the bundles (the default certificate). @default {[]} */
  keep?: readonly string[];
  /** Logger. @default {silentLogger} */
  log?: Logger;
}

function certChanges(write: CertWrite): number {
  return write.added.length + write.renewed.length + (write.crtListChanged ? 1 : 0);
}

/** See the module documentation. */
export class TlsApplier implements Applier {
  readonly #inner: Applier;
  readonly #o: TlsApplierOptions;
  readonly #log: Logger;

  /** Wraps `inner`. */
  constructor(inner: Applier, options: TlsApplierOptions) {
    this.#inner = inner;
    this.#o = options;
    this.#log = options.log ?? silentLogger;
  }

  /** See {@linkcode Applier.installed}. */
  installed(): string | undefined {
    return this.#inner.installed();
  }

  /** See {@linkcode Applier.reloadPending}. */
  reloadPending(): boolean {
    return this.#inner.reloadPending();
  }

  /** Writes the certificate files, applies `text`, then removes stale files or rotates certificates. */
  async apply(text: string, options: ApplyOptions = {}): Promise<ApplyResult> {
    if (options.dryRun) return await this.#inner.apply(text, options);
    const files = this.#o.files();
    const bundles = new Map([...files.bundles].map(([name, b]) => [name, b.bundle]));
    let write: CertWrite;
    try {
      write = await writeCertFiles(this.#o.dir, bundles, files.crtList, { group: this.#o.group ?? null });
    } catch (error) {
      const failed = await this.#inner.apply(text, { ...options, dryRun: true });
      return {
        ...failed,
        status: "write-failed",
        error: `Cannot write the certificates: ${errorText(error)}`,
      };
    }
    const result = await this.#inner.apply(text, options);
    if (!["unchanged", "applied", "runtime"].includes(result.status)) return result;
    await this.#removeStale(files);
    if (certChanges(write) === 0 || result.status === "applied") return result;
    return await this.#rotate(write, files, result, options.signal);
  }

  async #removeStale(files: TlsFiles): Promise<void> {
    const keep = new Set([...files.bundles.keys(), ...(this.#o.keep ?? [])]);
    try {
      const removed = await removeStaleCertFiles(this.#o.dir, keep);
      if (removed.length > 0) this.#log.info("removed certificates no longer served", { files: removed });
    } catch (error) {
      this.#log.warn("cannot remove stale certificates", { dir: this.#o.dir, error: errorText(error) });
    }
  }

  /** Certificates changed under an unchanged (or runtime-applied) config: Runtime API, else a reload. */
  async #rotate(
    write: CertWrite,
    files: TlsFiles,
    result: ApplyResult,
    signal?: AbortSignal,
  ): Promise<ApplyResult> {
    const done = this.#o.runtime === null
      ? "the Runtime API is off"
      : await this.#runtimeSteps(write, files, signal);
    if (typeof done !== "string") {
      this.#log.info("certificates changed without reload", { detail: done.detail });
      return result.status === "runtime"
        ? { ...result, detail: `${result.detail}; ${done.detail}`, commands: result.commands + done.commands }
        : {
          ...result,
          status: "runtime",
          changed: true,
          detail: done.detail,
          commands: done.commands,
          checked: false,
        };
    }
    const why = done;
    this.#log.info("certificates changed: reloading", { reason: why });
    const reload = await this.#o.reloader.reload(signal);
    const base = { hash: result.hash, installedHash: result.installedHash, durations: result.durations };
    if (!reload.ok) {
      return {
        ...base,
        status: "reload-failed",
        changed: false,
        error: reload.error ?? "reload failed",
        reload,
        reloadReason: why,
      };
    }
    const detail = `reloaded for the certificates (${why})`;
    return { ...base, status: "applied", changed: false, detail, reload, warnings: [], reloadReason: why };
  }

  /**
   * Renewals, then new hosts (certificate, crt-list line), then removed hosts (line, then unused file),
   * then the crt-list read back; what was done, or why it could not be (then the caller reloads).
   */
  async #runtimeSteps(
    write: CertWrite,
    files: TlsFiles,
    signal?: AbortSignal,
  ): Promise<{ detail: string; commands: number } | string> {
    const target = this.#o.runtime!;
    const options = signal === undefined ? {} : { signal };
    const crtList = `${this.#o.dir}/${CRT_LIST}`;
    const added = crtListEntries(write.crtListAdded.join("\n"));
    const removed = crtListEntries(write.crtListRemoved.join("\n"));
    const path = (name: string) => `${this.#o.dir}/${name}`;
    const outside = write.added.find((name) => !added.some((e) => e.file === path(name)));
    if (outside !== undefined) {
      return `a new certificate file outside the crt-list (${outside}): HAProxy loads it on reload`;
    }
    const named = new Set(crtListEntries(files.crtList).map((e) => e.file));
    const unused = [...new Set(removed.map((e) => e.file))].filter((f) => !named.has(f));
    let step = "";
    try {
      for (const name of write.renewed) {
        step = `replace ${name}`;
        const wanted = files.bundles.get(name)!;
        await replaceCertificate(target, path(name), wanted.bundle.reveal(), wanted.serial, options);
      }
      for (const name of write.added) {
        step = `load ${name}`;
        const wanted = files.bundles.get(name)!;
        await newCertificate(
          target,
          { file: path(name), pem: wanted.bundle.reveal(), serial: wanted.serial },
          options,
        );
      }
      for (const entry of added) {
        (step = `add ${entry.sni}`, await addCrtListEntry(target, crtList, entry, options));
      }
      for (const entry of removed) {
        step = `remove ${entry.sni}`;
        await removeCrtListEntry(target, crtList, entry, options);
      }
      for (const file of unused) (step = `delete ${file}`, await deleteCertificate(target, file, options));
      step = "read back the crt-list";
      const shown = (await readCrtList(target, crtList, options)).map((e) => `${e.file} ${e.sni}`).sort();
      const wanted = crtListEntries(files.crtList).map((e) => `${e.file} ${e.sni}`).sort();
      if (shown.join("\n") !== wanted.join("\n")) throw new Error("HAProxy's crt-list differs from the file");
    } catch (error) {
      this.#log.warn("cannot change certificates at run time", { step, error: errorText(error) });
      return `the Runtime API failed (${step}): ${errorText(error)}`;
    }
    const parts = [
      write.renewed.length > 0 ? `replaced ${write.renewed.join(", ")}` : "",
      added.length > 0 ? `added ${added.map((e) => e.sni).join(", ")}` : "",
      removed.length > 0 ? `removed ${removed.map((e) => e.sni).join(", ")}` : "",
    ].filter((p) => p !== "");
    const commands = 3 * write.renewed.length + 4 * write.added.length + added.length + 2 * removed.length +
      unused.length + 1;
    return { detail: `certificates through the Runtime API: ${parts.join("; ")}`, commands };
  }
}
