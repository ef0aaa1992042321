/**
 * X.509 v3 certificates made at run time with the system's `openssl` (EC P-256 keys: fast to make): a CA
 * and leaves it signs. The demo uses them for its API stand-in's TLS; the tests for theirs.
 *
 * ```ts
 * await makeCa(dir, "ca", "haconfd-demo-ca");                   // dir/ca.crt, dir/ca.key
 * await makeLeaf(dir, "server", "ca", "/CN=127.0.0.1", serverExtensions(["IP:127.0.0.1"]));
 * ```
 *
 * @module
 */

/** `openssl req` arguments for a new unencrypted EC P-256 key (fast to make), the one key type made here. */
export const NEW_EC_KEY: readonly string[] = [
  "-newkey",
  "ec",
  "-pkeyopt",
  "ec_paramgen_curve:prime256v1",
  "-nodes",
];

/** Runs `openssl ARGS` in `dir`; a failure throws with openssl's own message. */
export async function openssl(dir: string, args: string[]): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("Cannot make certificates: openssl is not installed (apt-get install openssl)", {
        cause: error,
      });
    }
    throw error;
  }
  if (!out.success) {
    throw new Error(`Cannot run openssl ${args[0]}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Extensions of a TLS server certificate for the given subjectAltNames (e.g. `IP:127.0.0.1`). */
export function serverExtensions(altNames: string[]): string {
  return "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
    `extendedKeyUsage=serverAuth\nsubjectAltName=${altNames.join(",")}\n`;
}

/** Makes a self-signed CA, `dir/<name>.crt` and `dir/<name>.key`, valid for 3 days. */
export async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  const config = `${name}.cnf`;
  await Deno.writeTextFile(
    `${dir}/${config}`,
    "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca_ext]\nbasicConstraints=critical,CA:TRUE\n" +
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\n",
  );
  await openssl(dir, [
    "req",
    "-x509",
    ...NEW_EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-days",
    "3",
    "-subj",
    `/CN=${cn}`,
    "-extensions",
    "v3_ca_ext",
    "-config",
    config,
  ]);
}

/**
 * Makes `dir/<name>.crt` and `dir/<name>.key` for subject `subj` (e.g. `/O=group/CN=user`), signed by the
 * CA `dir/<ca>.crt`, with the given extension lines, valid for `options.days` (default 3).
 */
export async function makeLeaf(
  dir: string,
  name: string,
  ca: string,
  subj: string,
  extensions: string,
  options: { days?: number } = {},
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
  await openssl(dir, [
    "req",
    ...NEW_EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subj,
  ]);
  const serial = BigInt(Date.now()) * 1_000_000n +
    BigInt(crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-set_serial",
    String(serial),
    "-days",
    String(options.days ?? 3),
    "-out",
    `${name}.crt`,
    "-extfile",
    `${name}.ext`,
  ]);
}
