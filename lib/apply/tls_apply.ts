/**
 * An {@linkcode Applier} that installs TLS termination's files with the config: before the config is
 * checked, the certificate bundles and the crt-list it names are written to the cert dir (only those
 * whose bytes differ; `haproxy -c` reads them); after it is installed, bundles no longer named are
 * removed. A renewed certificate of a domain already served changes no config line: it is replaced in
 * the running HAProxy through the Runtime API (`set ssl cert` + `commit ssl cert`, read back with `show ssl
 * cert`), and any failure there, a new certificate file, or a crt-list change without a new config falls
 * back to one reload. The result says which path was taken (`runtime` or `applied`, and its detail).
 *
 * @module
 */
import type { Applier, ApplyOptions, ApplyResult } from "./apply.ts";
import { type CertWrite, removeStaleCertFiles, type Sealed, writeCertFiles } from "./cert_files.ts";
import type { Reloader } from "../haproxy/reload.ts";
import type { RuntimeTarget } from "../haproxy/runtime.ts";
import { replaceCertificate } from "../haproxy/ssl_runtime.ts";
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
      write = await writeCertFiles(this.#o.dir, bundles, files.crtList);
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
    const why = write.added.length > 0 || write.crtListChanged
      ? "a new certificate file or crt-list line (HAProxy loads it on reload)"
      : this.#o.runtime === null
      ? "the Runtime API is off"
      : await this.#replace(write.renewed, files, signal);
    if (why === null) {
      const detail = `replaced ${write.renewed.length} certificate(s) through the Runtime API: ${
        write.renewed.join(", ")
      }`;
      this.#log.info("certificates replaced without reload", { files: write.renewed });
      return result.status === "runtime"
        ? {
          ...result,
          detail: `${result.detail}; ${detail}`,
          commands: result.commands + 3 * write.renewed.length,
        }
        : {
          ...result,
          status: "runtime",
          changed: true,
          detail,
          commands: 3 * write.renewed.length,
          checked: false,
        };
    }
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

  /** Replaces each renewed certificate in HAProxy; null when all went through, else why not. */
  async #replace(names: readonly string[], files: TlsFiles, signal?: AbortSignal): Promise<string | null> {
    for (const name of names) {
      const wanted = files.bundles.get(name)!;
      try {
        await replaceCertificate(
          this.#o.runtime!,
          `${this.#o.dir}/${name}`,
          wanted.bundle.reveal(),
          wanted.serial,
          {
            ...(signal === undefined ? {} : { signal }),
          },
        );
      } catch (error) {
        this.#log.warn("cannot replace a certificate at run time", { file: name, error: errorText(error) });
        return `the Runtime API failed for ${name}: ${errorText(error)}`;
      }
    }
    return null;
  }
}
