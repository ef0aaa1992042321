/**
 * Test certificates made with Debian's `openssl` (lib/demo/certs.ts) in a temp dir: a CA, a server certificate for
 * 127.0.0.1 + localhost, client certificates (CN = user, O = groups), and a second, unrelated CA for
 * "wrong CA" tests. All X.509 v3 with EC P-256 keys (fast to make). One set is shared per process and
 * reference-counted: every {@linkcode testCerts} call must be paired with a `dispose()`, and the last
 * dispose removes the directory.
 *
 * ```ts
 * const certs = await testCerts();
 * try {
 *   const alice = await certs.client("alice", ["admins"]);
 *   // certs.caCert, certs.serverCert, certs.serverKey, alice.cert, alice.key, alice.certPath, ...
 * } finally {
 *   await certs.dispose();
 * }
 * ```
 *
 * @module
 */
import { makeCa, makeLeaf, serverExtensions } from "../../lib/demo/certs.ts";

/** A certificate and its key, as PEM text and as files. */
export interface CertPair {
  /** Certificate, PEM. */
  cert: string;
  /** Private key (PKCS#8), PEM. */
  key: string;
  /** Path of the certificate file. */
  certPath: string;
  /** Path of the key file. */
  keyPath: string;
}

/** The shared certificate set. */
export interface TestCerts {
  /** The temp dir holding every file. */
  dir: string;
  /** The trusted CA certificate, PEM (server and client certificates are signed by it). */
  caCert: string;
  /** Path of {@linkcode caCert}. */
  caCertPath: string;
  /** Server certificate for 127.0.0.1 and localhost, PEM. */
  serverCert: string;
  /** Server key, PEM. */
  serverKey: string;
  /** Path of {@linkcode serverCert}. */
  serverCertPath: string;
  /** Path of {@linkcode serverKey}. */
  serverKeyPath: string;
  /** A second CA that signed nothing the server uses, PEM. */
  otherCaCert: string;
  /** Path of {@linkcode otherCaCert}. */
  otherCaCertPath: string;
  /**
   * A client certificate with CN `user` and O `groups`, signed by the CA (or by the other CA when
   * `options.untrusted`); made once per distinct argument set.
   */
  client(user: string, groups?: string[], options?: { untrusted?: boolean }): Promise<CertPair>;
  /** Releases this reference; the last one removes the directory. */
  dispose(): Promise<void>;
}

interface Shared {
  dir: string;
  refs: number;
  base: Omit<TestCerts, "client" | "dispose">;
  clients: Map<string, Promise<CertPair>>;
}

let shared: Promise<Shared> | undefined;
function subject(cn: string, orgs: string[]): string {
  const esc = (v: string) => v.replace(/[/\\=+,]/g, (c) => `\\${c}`);
  return orgs.map((o) => `/O=${esc(o)}`).join("") + `/CN=${esc(cn)}`;
}

async function pair(dir: string, name: string): Promise<CertPair> {
  return {
    cert: await Deno.readTextFile(`${dir}/${name}.crt`),
    key: await Deno.readTextFile(`${dir}/${name}.key`),
    certPath: `${dir}/${name}.crt`,
    keyPath: `${dir}/${name}.key`,
  };
}

async function create(): Promise<Shared> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-certs-" });
  try {
    await makeCa(dir, "ca", "haconfd-test-ca");
    await makeCa(dir, "other-ca", "haconfd-other-ca");
    await makeLeaf(
      dir,
      "server",
      "ca",
      "/CN=127.0.0.1",
      serverExtensions(["IP:127.0.0.1", "DNS:localhost"]),
    );
    const server = await pair(dir, "server");
    return {
      dir,
      refs: 0,
      clients: new Map(),
      base: {
        dir,
        caCert: await Deno.readTextFile(`${dir}/ca.crt`),
        caCertPath: `${dir}/ca.crt`,
        serverCert: server.cert,
        serverKey: server.key,
        serverCertPath: server.certPath,
        serverKeyPath: server.keyPath,
        otherCaCert: await Deno.readTextFile(`${dir}/other-ca.crt`),
        otherCaCertPath: `${dir}/other-ca.crt`,
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/** Returns the process-wide certificate set (made on first use); pair every call with `dispose()`. */
export async function testCerts(): Promise<TestCerts> {
  shared ??= create();
  const current = shared;
  let state: Shared;
  try {
    state = await current;
  } catch (error) {
    if (shared === current) shared = undefined;
    throw error;
  }
  state.refs++;
  let disposed = false;
  return {
    ...state.base,
    client(user, groups = [], options = {}) {
      const id = `${options.untrusted ? "x" : "c"}:${user}:${groups.join(",")}`;
      let made = state.clients.get(id);
      if (!made) {
        const name = `client-${state.clients.size}`;
        made = makeLeaf(
          state.dir,
          name,
          options.untrusted ? "other-ca" : "ca",
          subject(user, groups),
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
            "extendedKeyUsage=clientAuth\n",
        ).then(() => pair(state.dir, name));
        state.clients.set(id, made);
      }
      return made;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      state.refs--;
      if (state.refs === 0 && shared === current) {
        shared = undefined;
        await Promise.allSettled(state.clients.values());
        await Deno.remove(state.dir, { recursive: true });
      }
    },
  };
}
