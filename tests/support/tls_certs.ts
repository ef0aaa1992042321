/**
 * Server certificates for TLS termination tests (lib/demo/certs.ts: X.509 v3, EC P-256), signed by one
 * test CA per process, each made once per name and kept in a temp dir that is removed when the process
 * ends.
 *
 * ```ts
 * const certs = await tlsCerts();
 * const a = await certs.leaf("a", ["a.example.test"]);          // a.cert, a.key, a.serial
 * const w = await certs.leaf("w", ["*.w.example.test"], { days: 3 });
 * ```
 *
 * @module
 */
import { makeCa, makeLeaf, serverExtensions } from "../../lib/demo/certs.ts";
import { run } from "./process.ts";

/** One leaf certificate. */
export interface TlsLeaf {
  /** Certificate, PEM. */
  cert: string;
  /** Its key, PEM. */
  key: string;
  /** Serial number, lower-case hex as openssl prints it (leading zero octets dropped). */
  serial: string;
  /** Subject, e.g. `CN=a.example.test`. */
  subject: string;
}

/** The process's TLS test CA and its leaves. */
export interface TlsCerts {
  /** The temp dir. */
  dir: string;
  /** The CA certificate, PEM. */
  caCert: string;
  /** A leaf named `name` (made on first use) for the DNS `names`, subject CN = the first name. */
  leaf(name: string, names: string[], options?: { days?: number }): Promise<TlsLeaf>;
}

let shared: Promise<TlsCerts> | undefined;

async function serialOf(dir: string, file: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-in", file, "-noout", "-serial"],
    cwd: dir,
  })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text.replace(/^serial=/, "").toLowerCase().replace(/^(00)+(?=.)/, "");
}

async function create(): Promise<TlsCerts> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-tls-certs-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  await makeCa(dir, "ca", "haconfd-tls-test-ca");
  const caCert = await Deno.readTextFile(`${dir}/ca.crt`);
  const leaves = new Map<string, Promise<TlsLeaf>>();
  async function make(name: string, names: string[], days: number): Promise<TlsLeaf> {
    const extensions = serverExtensions(names.map((n) => `DNS:${n}`));
    await makeLeaf(dir, name, "ca", `/CN=${names[0]}`, extensions, { days });
    return {
      cert: await Deno.readTextFile(`${dir}/${name}.crt`),
      key: await Deno.readTextFile(`${dir}/${name}.key`),
      serial: await serialOf(dir, `${name}.crt`),
      subject: `CN=${names[0]}`,
    };
  }
  return {
    dir,
    caCert,
    leaf(name, names, options = {}) {
      if (!/^[a-z0-9-]+$/.test(name)) throw new TypeError(`Cannot make leaf "${name}": use [a-z0-9-]`);
      let leaf = leaves.get(name);
      if (!leaf) leaves.set(name, leaf = make(name, names, options.days ?? 90));
      return leaf;
    },
  };
}

/** The process's shared TLS test certificates (made on first call). */
export function tlsCerts(): Promise<TlsCerts> {
  return shared ??= create();
}

/** The serial HAProxy presents for `sni` on `port`, or null when the handshake is refused. */
export async function servedSerial(port: number, sni: string): Promise<string | null> {
  const client = await run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", sni], {
    stdin: "",
  });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(client.stdout)?.[0];
  if (pem === undefined) return null;
  const info = await run("openssl", ["x509", "-noout", "-serial"], { stdin: pem });
  return /serial=([0-9A-F]+)/.exec(info.stdout)![1]!.toLowerCase().replace(/^(00)+(?=.)/, "");
}
