/**
 * TLS termination wired into the daemon (`--tls`): the source's sets joined with their TLS termination
 * (lib/source/tls_source.ts), the templates' TLS frontend (socket, crt-list, default certificate), and an
 * applier that installs the certificate files with each config and rotates renewed certificates through
 * the Runtime API (lib/apply/tls_apply.ts). The default certificate (`--default-certificate`) is one PEM
 * file with certificate and key, checked at start-up and copied into the cert dir, or a Secret watched like
 * the hosts' ones: while it cannot serve (missing, invalid, expired) the TLS frontend is rendered with
 * `strict-sni` instead, and the Secret is listed with the reason among the skipped objects.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Applier } from "../apply/apply.ts";
import { CRT_LIST, writeKeyFile } from "../apply/cert_files.ts";
import { TlsApplier, type TlsFiles } from "../apply/tls_apply.ts";
import { type KeyMaterial, loadCertificateParser, parseCertificate } from "../model/certificate.ts";
import { type Model, skipEntry, skippedOrder } from "../model/model.ts";
import { crtList } from "../model/tls.ts";
import type { Reloader } from "../haproxy/reload.ts";
import type { RuntimeTarget } from "../haproxy/runtime.ts";
import type { Generated, Generator } from "../render/generate.ts";
import type { TlsFrontend } from "../render/render.ts";
import { ConfigError, type Settings } from "../settings/options.ts";
import { runCommand } from "../haproxy/check.ts";
import type { Source } from "../source/source.ts";
import { type DefaultCertificate, type SecretSource, TlsSource } from "../source/tls_source.ts";
import type { Logger } from "../log.ts";

/** The default certificate's file name in the cert dir. */
export const DEFAULT_CERT_FILE = "default.pem";

/** What `--tls` adds to the daemon. */
export interface TlsWiring {
  /** The source, its sets joined with their TLS termination. */
  source: TlsSource;
  /** The templates' TLS frontend. */
  frontend: TlsFrontend;
  /**
   * The generator, remembering each generation's model for the applier; `make` builds the inner one for
   * a frontend (again when the default certificate Secret starts or stops serving).
   */
  generator(make: (frontend: TlsFrontend) => Generator): Generator;
  /** The applier, installing the certificate files with each config. */
  applier(inner: Applier, reloader: Pick<Reloader, "reload">, runtime: RuntimeTarget | null): Applier;
}

/** The cert dir: `--cert-dir`, else `haconfd-certs` beside the config. */
export function certDirOf(settings: Pick<Settings, "certDir" | "haproxyConf">): string {
  return settings.certDir ?? join(dirname(settings.haproxyConf), "haconfd-certs");
}

async function installDefault(file: string, dir: string, group: number | null): Promise<string> {
  const text = await Deno.readTextFile(file);
  const parsed = parseCertificate(text, text);
  if (typeof parsed === "string") throw new Error(`Cannot use --default-certificate "${file}": ${parsed}`);
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const target = join(dir, DEFAULT_CERT_FILE);
  await writeKeyFile(target, parsed.bundle.reveal(), group);
  return target;
}

/**
 * The files a model's terminated domains need: their bundles (from `source`) and the crt-list, and the
 * default certificate Secret's bundle while it serves.
 */
export function tlsFilesOf(model: Model, source: TlsSource, dir: string): TlsFiles {
  const held = source.certificates();
  const bundles = new Map<string, { bundle: KeyMaterial; serial: string }>();
  const fallback = source.defaultCertificate();
  if (fallback?.bundle) {
    bundles.set(DEFAULT_CERT_FILE, {
      bundle: fallback.bundle,
      serial: fallback.tls.certificate?.serial ?? "",
    });
  }
  const hosts: [string, NonNullable<Model["domains"][string]["tls"]> | null][] = [];
  for (const d of Object.values(model.domains)) {
    const tls = d.tls ?? null;
    const bundle = tls?.file ? held.get(tls.file) : undefined;
    // One line per host: its routes (haconfd.io/path) share the termination, the lead stands for them.
    if (tls?.mode !== "terminate" || bundle === undefined || d.hostLead === false) continue;
    hosts.push([d.host, tls]);
    bundles.set(tls.file!, { bundle, serial: tls.certificate?.serial ?? "" });
  }
  return { bundles, crtList: crtList(hosts, dir) };
}

/**
 * The group id the key files belong to (mode 0640): `--cert-group`, else the group of `--haproxy-user`
 * (the global section's `group`), else null (mode 0600, ownership unchanged). A group the system does not
 * know (`getent group`) is a bad option: a {@linkcode ConfigError} naming it.
 */
export async function certGroupOf(
  settings: Pick<Settings, "certGroup" | "haproxyUser">,
): Promise<number | null> {
  const name = settings.certGroup ?? settings.haproxyUser?.group;
  if (name === undefined) return null;
  if (/^\d+$/.test(name)) return Number(name);
  const flag = settings.certGroup === undefined
    ? "--haproxy-user (HAPROXY_USER)"
    : "--cert-group (CERT_GROUP)";
  const found = await runCommand(["getent", "group", name], { timeoutMs: 10_000 }).catch(() => null);
  const gid = found?.code === 0 ? /^[^:]*:[^:]*:(\d+):/.exec(found.output)?.[1] : undefined;
  if (gid === undefined) {
    throw new ConfigError(`Invalid ${flag}: group "${name}" of the key files in the cert dir does not exist`);
  }
  return Number(gid);
}

/** The cert dir (created) and its crt-list (created empty: `haproxy -c` reads it before a host is added). */
async function prepareDir(dir: string, group: number | null): Promise<string> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
  const crtListPath = join(dir, CRT_LIST);
  try {
    await Deno.stat(crtListPath);
  } catch {
    await writeKeyFile(crtListPath, "", group);
  }
  return crtListPath;
}

/** `generated` with the default certificate Secret among the skipped objects while it cannot serve. */
function withDefaultRefusal(generated: Generated, fallback: DefaultCertificate | null): Generated {
  if (fallback === null || fallback.tls.reason === null) return generated;
  const entry = skipEntry(
    fallback.tls.secret,
    `default certificate (--default-certificate) not served, clients without a known SNI are refused: ${fallback.tls.reason}`,
  );
  const skipped = [...generated.model.skipped, entry].sort(skippedOrder);
  return { ...generated, model: { ...generated.model, skipped } };
}

/**
 * A generator whose TLS frontend follows the default certificate Secret: rebuilt (a full render) when it
 * starts or stops serving, and marked changed when its bytes change (so the applier rotates it).
 */
function followingDefault(
  make: (frontend: TlsFrontend) => Generator,
  base: TlsFrontend,
  source: TlsSource,
  dir: string,
  seen: (model: Model) => void,
): Generator {
  let inner: { path: string | null; generate: Generator } | null = null;
  let fingerprint: string | null | undefined;
  return (input) => {
    const fallback = source.defaultCertificate();
    const path = fallback === null
      ? base.defaultCertificate
      : fallback.bundle
      ? join(dir, DEFAULT_CERT_FILE)
      : null;
    if (inner === null || inner.path !== path) {
      inner = { path, generate: make({ ...base, defaultCertificate: path }) };
    }
    const generated = inner.generate(input);
    seen(generated.model);
    const now = fallback?.bundle ? fallback.tls.certificate?.fingerprint ?? null : null;
    const renewed = fingerprint !== undefined && now !== fingerprint;
    fingerprint = now;
    return withDefaultRefusal(renewed ? { ...generated, unchanged: false } : generated, fallback);
  };
}

/** The TLS wiring `settings` ask for, or null without `--tls`. Start-up errors throw. */
export async function tlsSetup(settings: Settings, source: Source, log: Logger): Promise<TlsWiring | null> {
  if (!settings.tls) return null;
  await loadCertificateParser();
  const dir = certDirOf(settings);
  const group = await certGroupOf(settings);
  const crtListPath = await prepareDir(dir, group);
  const given = settings.defaultCertificate;
  const defaultCertificate = given?.kind === "file" ? await installDefault(given.path, dir, group) : null;
  const defaultSecret = given?.kind === "secret" ? `${given.namespace}/${given.name}` : undefined;
  const tlsSource = new TlsSource(source as SecretSource, {
    log,
    ...(defaultSecret === undefined ? {} : { defaultSecret }),
  });
  let model: Model = { domains: {}, skipped: [] };
  log.info("TLS termination on", {
    certDir: dir,
    keyFiles: group === null ? "mode 0600" : `mode 0640, group ${group}`,
    defaultCertificate: defaultSecret ?? defaultCertificate ?? "none (strict SNI)",
  });
  const frontend: TlsFrontend = {
    enabled: true,
    socket: `unix@${join(dir, "tls.sock")}`,
    crtList: crtListPath,
    defaultCertificate,
  };
  return {
    source: tlsSource,
    frontend,
    generator: (make) => followingDefault(make, frontend, tlsSource, dir, (m) => model = m),
    applier: (inner, reloader, runtime) =>
      new TlsApplier(inner, {
        dir,
        files: () => tlsFilesOf(model, tlsSource, dir),
        reloader,
        runtime,
        keep: defaultCertificate === null ? [] : [DEFAULT_CERT_FILE],
        group,
        log: log.child("tls"),
      }),
  };
}
