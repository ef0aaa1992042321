/**
 * TLS termination wired into the daemon (`--tls`): the source's sets joined with their TLS termination
 * (lib/source/tls_source.ts), the templates' TLS frontend (socket, crt-list, default certificate), and an
 * applier that installs the certificate files with each config and rotates renewed certificates through
 * the Runtime API (lib/apply/tls_apply.ts). The default certificate (`--default-certificate`, one PEM file
 * with certificate and key) is checked at start-up and copied into the cert dir.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Applier } from "../apply/apply.ts";
import { atomicWrite } from "../apply/atomic_write.ts";
import { CRT_LIST } from "../apply/cert_files.ts";
import { TlsApplier, type TlsFiles } from "../apply/tls_apply.ts";
import { type KeyMaterial, parseCertificate } from "../model/certificate.ts";
import type { Model } from "../model/model.ts";
import { crtList } from "../model/tls.ts";
import type { Reloader } from "../haproxy/reload.ts";
import type { RuntimeTarget } from "../haproxy/runtime.ts";
import type { Generator } from "../render/generate.ts";
import type { TlsFrontend } from "../render/render.ts";
import type { Settings } from "../settings/options.ts";
import type { Source } from "../source/source.ts";
import { type SecretSource, TlsSource } from "../source/tls_source.ts";
import type { Logger } from "../log.ts";

/** The default certificate's file name in the cert dir. */
export const DEFAULT_CERT_FILE = "default.pem";

/** What `--tls` adds to the daemon. */
export interface TlsWiring {
  /** The source, its sets joined with their TLS termination. */
  source: TlsSource;
  /** The templates' TLS frontend. */
  frontend: TlsFrontend;
  /** The generator, remembering each generation's model for the applier. */
  generator(inner: Generator): Generator;
  /** The applier, installing the certificate files with each config. */
  applier(inner: Applier, reloader: Pick<Reloader, "reload">, runtime: RuntimeTarget | null): Applier;
}

/** The cert dir: `--cert-dir`, else `haconfd-certs` beside the config. */
export function certDirOf(settings: Pick<Settings, "certDir" | "haproxyConf">): string {
  return settings.certDir ?? join(dirname(settings.haproxyConf), "haconfd-certs");
}

async function installDefault(file: string, dir: string): Promise<string> {
  const text = await Deno.readTextFile(file);
  const parsed = parseCertificate(text, text);
  if (typeof parsed === "string") throw new Error(`Cannot use --default-certificate "${file}": ${parsed}`);
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const target = join(dir, DEFAULT_CERT_FILE);
  await atomicWrite(target, parsed.bundle.reveal());
  return target;
}

/** The files a model's terminated domains need: their bundles (from `source`) and the crt-list. */
export function tlsFilesOf(model: Model, source: TlsSource, dir: string): TlsFiles {
  const held = source.certificates();
  const bundles = new Map<string, { bundle: KeyMaterial; serial: string }>();
  const hosts: [string, NonNullable<Model["domains"][string]["tls"]> | null][] = [];
  for (const [domain, d] of Object.entries(model.domains)) {
    const tls = d.tls ?? null;
    const bundle = tls?.file ? held.get(tls.file) : undefined;
    if (tls?.mode !== "terminate" || bundle === undefined) continue;
    hosts.push([domain, tls]);
    bundles.set(tls.file!, { bundle, serial: tls.certificate?.serial ?? "" });
  }
  return { bundles, crtList: crtList(hosts, dir) };
}

/** The TLS wiring `settings` ask for, or null without `--tls`. Start-up errors throw. */
export async function tlsSetup(settings: Settings, source: Source, log: Logger): Promise<TlsWiring | null> {
  if (!settings.tls) return null;
  const dir = certDirOf(settings);
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const defaultCertificate = settings.defaultCertificate === undefined
    ? null
    : await installDefault(settings.defaultCertificate, dir);
  const crtListPath = join(dir, CRT_LIST);
  // haproxy -c reads the crt-list: it exists (empty) before the first config names it.
  try {
    await Deno.stat(crtListPath);
  } catch {
    await atomicWrite(crtListPath, "");
  }
  const tlsSource = new TlsSource(source as SecretSource, { log });
  let model: Model = { domains: {}, skipped: [] };
  log.info("TLS termination on", {
    certDir: dir,
    defaultCertificate: defaultCertificate ?? "none (strict SNI)",
  });
  return {
    source: tlsSource,
    frontend: {
      enabled: true,
      socket: `unix@${join(dir, "tls.sock")}`,
      crtList: crtListPath,
      defaultCertificate,
    },
    generator: (inner) => (input) => {
      const generated = inner(input);
      model = generated.model;
      return generated;
    },
    applier: (inner, reloader, runtime) =>
      new TlsApplier(inner, {
        dir,
        files: () => tlsFilesOf(model, tlsSource, dir),
        reloader,
        runtime,
        keep: [DEFAULT_CERT_FILE],
        log: log.child("tls"),
      }),
  };
}
