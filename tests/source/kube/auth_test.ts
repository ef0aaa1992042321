import assert from "node:assert/strict";
import {
  AuthConfigError,
  type AuthSettings,
  inClusterConnection,
  insecureNote,
  loadKubeconfig,
  resolveConnection,
  skipsServerVerification,
} from "../../../lib/source/kube/auth.ts";

const CA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

function b64(text: string): string {
  return btoa(text);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-auth-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const NO_FLAGS: AuthSettings = { apiServers: [] };

Deno.test("loadKubeconfig() reads files relative to the kubeconfig and the current context", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/pki`);
    await Deno.writeTextFile(`${dir}/pki/ca.crt`, CA);
    await Deno.writeTextFile(`${dir}/pki/client.crt`, CERT);
    await Deno.writeTextFile(`${dir}/pki/client.key`, KEY);
    await Deno.writeTextFile(
      `${dir}/config`,
      `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: pki/ca.crt
- name: other
  cluster:
    server: https://127.0.0.9:6443
users:
- name: prod-user
  user:
    client-certificate: pki/client.crt
    client-key: ${dir}/pki/client.key
contexts:
- name: prod
  context: { cluster: prod-cluster, user: prod-user, namespace: ignored }
- name: other
  context: { cluster: other }
`,
    );
    const c = await loadKubeconfig(`${dir}/config`);
    assert.deepEqual(c.servers, ["https://127.0.0.1:6443"]);
    assert.deepEqual(c.caCerts, [CA]);
    assert.match(c.caSource, /certificate-authority ".*pki\/ca\.crt" of cluster "prod-cluster"/);
    assert.equal(c.clientCert?.cert, CERT);
    assert.equal(c.clientCert?.key, KEY);
    assert.equal(c.insecureSkipTlsVerify, false);
    assert.equal(c.origin, `kubeconfig "${dir}/config" context "prod"`);
    const other = await loadKubeconfig(`${dir}/config`, "other");
    assert.deepEqual(other.servers, ["https://127.0.0.9:6443"]);
    assert.equal(other.clientCert, undefined);
    assert.deepEqual(other.caCerts, []);
  });
});

Deno.test("loadKubeconfig() decodes inline data, token and tokenFile", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "file-token\n");
    await Deno.writeTextFile(
      `${dir}/config`,
      JSON.stringify({
        "current-context": "a",
        clusters: [{
          name: "c",
          cluster: { server: "https://127.0.0.1:1", "certificate-authority-data": b64(CA) },
        }],
        users: [
          { name: "inline", user: { "client-certificate-data": b64(CERT), "client-key-data": b64(KEY) } },
          { name: "tok", user: { token: "static-token" } },
          { name: "tokfile", user: { tokenFile: "token" } },
        ],
        contexts: [
          { name: "a", context: { cluster: "c", user: "inline" } },
          { name: "b", context: { cluster: "c", user: "tok" } },
          { name: "f", context: { cluster: "c", user: "tokfile" } },
        ],
      }),
    );
    const a = await loadKubeconfig(`${dir}/config`);
    assert.deepEqual(a.caCerts, [CA]);
    assert.equal(a.caSource, 'certificate-authority-data of cluster "c"');
    assert.equal(a.clientCert?.cert, CERT);
    assert.equal(a.clientCert?.key, KEY);
    assert.equal(a.clientCert?.source, 'client-certificate-data of user "inline"');
    const b = await loadKubeconfig(`${dir}/config`, "b");
    assert.equal(b.token, "static-token");
    assert.equal(b.clientCert, undefined);
    const f = await loadKubeconfig(`${dir}/config`, "f");
    assert.equal(f.tokenFile, `${dir}/token`);
    assert.equal(f.token, undefined);
  });
});

Deno.test("loadKubeconfig() merges a KUBECONFIG list, the first file naming an entry winning", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/one`,
      "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: one}\n",
    );
    await Deno.writeTextFile(
      `${dir}/two`,
      "current-context: y\nclusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:8080'}\n" +
        "users:\n- name: u\n  user: {token: two}\n",
    );
    const c = await loadKubeconfig(`${dir}/one:${dir}/two`);
    assert.deepEqual(c.servers, ["http://127.0.0.1:8080"]);
    assert.equal(c.token, "one");
  });
});

Deno.test("loadKubeconfig() names what is wrong", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    const cases: [string, string | undefined, RegExp][] = [
      ["clusters: []\n", undefined, /has no current-context: give --context/],
      [
        "current-context: nope\ncontexts:\n- name: a\n  context: {cluster: c}\n",
        undefined,
        /no context "nope": it has "a"/,
      ],
      ["contexts:\n- name: a\n  context: {cluster: c}\n", "a", /context "a" names unknown cluster "c"/],
      [
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n",
        "a",
        /names unknown user "u"/,
      ],
      [
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n" +
        "users:\n- name: u\n  user: {exec: {command: aws}}\n",
        "a",
        /user "u" uses exec credentials, which haconfd does not run/,
      ],
      [
        "contexts:\n- name: a\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: 'https://h'}\n" +
        "users:\n- name: u\n  user: {client-certificate-data: Zm9v}\n",
        "a",
        /client certificate without its key/,
      ],
      [
        "contexts:\n- name: a\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'https://h', certificate-authority: missing.crt}\n",
        "a",
        /Cannot read certificate-authority of cluster "c" ".*missing\.crt"/,
      ],
      ["clusters: 5\n", undefined, /Invalid kubeconfig ".*": clusters/],
      ["a: [\n", undefined, /Cannot parse kubeconfig/],
    ];
    for (const [text, context, message] of cases) {
      await Deno.writeTextFile(path, text);
      await assert.rejects(loadKubeconfig(path, context), (error: Error) => {
        assert.ok(error instanceof AuthConfigError, error.message);
        assert.match(error.message, message);
        return true;
      });
    }
    await assert.rejects(loadKubeconfig(`${dir}/absent`), /Cannot read kubeconfig ".*absent"/);
  });
});

Deno.test("inClusterConnection() reads the service-account directory", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "sa-token");
    await Deno.writeTextFile(`${dir}/ca.crt`, CA);
    const c = await inClusterConnection({
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: "6443",
    }, dir);
    assert.deepEqual(c.servers, ["https://127.0.0.1:6443"]);
    assert.deepEqual(c.caCerts, [CA]);
    assert.equal(c.tokenFile, `${dir}/token`);
    assert.equal(c.origin, "in-cluster");
    const v6 = await inClusterConnection({ KUBERNETES_SERVICE_HOST: "fd00::1" }, dir);
    assert.deepEqual(v6.servers, ["https://[fd00::1]:443"]);
    await Deno.remove(`${dir}/token`);
    await assert.rejects(
      inClusterConnection({ KUBERNETES_SERVICE_HOST: "10.0.0.1" }, dir),
      /service-account token/,
    );
  });
});

Deno.test("resolveConnection() prefers flags, then kubeconfig, then in-cluster, and lets flags override", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.pem`, CA);
    await Deno.writeTextFile(`${dir}/cert.pem`, CERT);
    await Deno.writeTextFile(`${dir}/key.pem`, KEY);
    await Deno.writeTextFile(`${dir}/token`, "t");
    await Deno.writeTextFile(`${dir}/ca.crt`, "SA-CA");
    await Deno.writeTextFile(
      `${dir}/config`,
      "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n" +
        "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.5:6443', insecure-skip-tls-verify: true}\n" +
        "users:\n- name: u\n  user: {token: kc-token}\n",
    );
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.7", KUBERNETES_SERVICE_PORT: "443" };

    const flags = await resolveConnection({
      apiServers: ["https://127.0.0.1:1/", "https://127.0.0.2:2"],
      sslCa: `${dir}/ca.pem`,
      sslCert: `${dir}/cert.pem`,
      sslKey: `${dir}/key.pem`,
      tokenFile: `${dir}/token`,
      kubeconfig: `${dir}/config`,
    }, { env, serviceAccountDir: dir });
    assert.deepEqual(flags.servers, ["https://127.0.0.1:1", "https://127.0.0.2:2"]);
    assert.equal(flags.origin, "flags");
    assert.deepEqual(flags.caCerts, [CA]);
    assert.equal(flags.caSource, `--ssl-ca "${dir}/ca.pem"`);
    assert.equal(flags.clientCert?.cert, CERT);
    assert.equal(flags.tokenFile, `${dir}/token`);

    const kube = await resolveConnection({ ...NO_FLAGS, kubeconfig: `${dir}/config` }, {
      env,
      serviceAccountDir: dir,
    });
    assert.deepEqual(kube.servers, ["https://127.0.0.5:6443"]);
    assert.equal(kube.token, "kc-token");
    assert.equal(kube.insecureSkipTlsVerify, true);
    assert.equal(kube.cluster, "c");
    assert.equal(skipsServerVerification(kube), true);
    assert.equal(
      insecureNote(kube),
      'insecure-skip-tls-verify of cluster "c" is set: the certificate of API server ' +
        '"https://127.0.0.5:6443" is NOT verified, so anyone on the network path can impersonate it; ' +
        "add certificate-authority-data instead",
    );

    const overridden = await resolveConnection(
      { ...NO_FLAGS, kubeconfig: `${dir}/config`, tokenFile: `${dir}/token`, sslCa: `${dir}/ca.pem` },
      { env, serviceAccountDir: dir },
    );
    assert.equal(overridden.token, undefined);
    assert.equal(overridden.tokenFile, `${dir}/token`);
    assert.equal(skipsServerVerification(overridden), false, "a CA wins over insecure-skip-tls-verify");
    assert.match(
      insecureNote(overridden) ?? "",
      /^insecure-skip-tls-verify of cluster "c" is ignored: the server certificate is verified against --ssl-ca/,
    );
    assert.equal(insecureNote(flags), undefined);
    assert.equal(skipsServerVerification(flags), false);
    assert.equal(
      insecureNote({ ...kube, servers: ["http://127.0.0.5:8080"] }),
      undefined,
      "plain HTTP has no certificate to skip",
    );

    const cluster = await resolveConnection(NO_FLAGS, { env, serviceAccountDir: dir });
    assert.equal(cluster.origin, "in-cluster");
    assert.deepEqual(cluster.servers, ["https://127.0.0.7:443"]);
    assert.deepEqual(cluster.caCerts, ["SA-CA"]);

    await assert.rejects(
      resolveConnection(NO_FLAGS, { env: {}, serviceAccountDir: dir }),
      /No API server configured/,
    );
    await assert.rejects(
      resolveConnection({ apiServers: ["https://h"], sslCa: `${dir}/nope` }, { env: {} }),
      /Cannot read CA file \(--ssl-ca\) ".*nope"/,
    );
  });
});

Deno.test("loadKubeconfig() refuses a server URL with credentials, naming the file and cluster but not the secret", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    for (
      const server of [
        "https://admin:s3cr3t-pw@10.0.0.1:6443",
        "https://s3cr3t-pw@h",
        "https://u:s3cr3t-pw@h:bad",
      ]
    ) {
      await Deno.writeTextFile(
        path,
        `current-context: a\ncontexts:\n- name: a\n  context: {cluster: prod}\nclusters:\n- name: prod\n  cluster: {server: '${server}'}\n`,
      );
      await assert.rejects(loadKubeconfig(path), (error: Error) => {
        assert.ok(error instanceof AuthConfigError, error.message);
        assert.match(
          error.message,
          new RegExp(`^Kubeconfig "${path}": cluster "prod" has credentials in its server URL`),
        );
        assert.doesNotMatch(`${error.message} ${String(error.cause ?? "")}`, /s3cr3t-pw/);
        return true;
      });
    }
  });
});

Deno.test("loadKubeconfig() reports a YAML syntax error by line and column, never the text of the line", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/config`;
    const cases: [string, RegExp][] = [
      [
        "users:\n- name: u\n  user:\n    token: eyJsecret-token: oops\n",
        /^Cannot parse kubeconfig ".*config": YAML syntax error \(block as implicit key\) at line 4, column 12$/,
      ],
      [
        "a: [client-key-data: c2VjcmV0LWtleQ\n",
        /^Cannot parse kubeconfig ".*config": YAML syntax error \(.+\) at line \d+, column \d+$/,
      ],
    ];
    for (const [text, message] of cases) {
      await Deno.writeTextFile(path, text);
      await assert.rejects(loadKubeconfig(path), (error: Error) => {
        assert.ok(error instanceof AuthConfigError, error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /secret|c2VjcmV0/);
        assert.equal(
          error.cause,
          undefined,
          "the parser's error quotes the line: it is not kept as the cause",
        );
        return true;
      });
    }
  });
});
