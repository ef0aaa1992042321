/**
 * End-to-end TLS termination, the proofs beside tests/tls_e2e_test.ts: a certificate expiring within 14 days
 * (served, warned about, on /status, the page and /metrics), /config without key material, a renewal's
 * apply record saying `runtime`, and a deleted Secret's reason on /status. `haconfd run --tls` as a
 * subprocess against the fake Kubernetes API server, with a real managed HAProxy and certificates made by
 * the tests (X.509 v3).
 *
 * @module
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { httpGet } from "../lib/demo/backends.ts";
import { type JsonObject, startKubeServer } from "../lib/demo/kube_server.ts";
import { endpoints, NAMESPACE, reloadsTotal, startDaemonProcess } from "./support/daemon.ts";
import { haproxyAvailable, waitFor } from "./support/haproxy.ts";
import { servedSerial, tlsCerts } from "./support/tls_certs.ts";

const ignore = !haproxyAvailable();

function tlsSecret(name: string, cert: string, key: string): JsonObject {
  return {
    metadata: { name, namespace: NAMESPACE },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": cert, "tls.key": key },
  };
}

function web(name: string, domain: string, port: number, secret: string): JsonObject {
  return endpoints(name, { domain, proto: "http", "haconfd.io/tls-secret": secret }, ["127.0.0.2"], port);
}

/** A plain-HTTP pod answering 200. */
function echoPod(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, () => new Response("ok"));
}

type TlsDomains = Record<string, { tls?: { mode: string; reason: string | null; warning: string | null } }>;

async function tlsDomains(daemon: { status(): Promise<Record<string, unknown>> }): Promise<TlsDomains> {
  return (await daemon.status()).domains as TlsDomains;
}

Deno.test({
  name:
    "haconfd run --tls serves a certificate expiring within 14 days with a warning on the log, /status, the page and its expiry on /metrics; /config holds no key",
  ignore,
  async fn() {
    const soon = await (await tlsCerts()).leaf("soon", ["soon.example.test"], { days: 10 });
    await using echo = echoPod();
    await using kube = await startKubeServer({
      objects: {
        endpoints: [web("soon", "soon.example.test", echo.addr.port, "tls-soon")],
        secrets: [tlsSecret("tls-soon", soon.cert, soon.key)],
      },
    });
    await using daemon = await startDaemonProcess({
      apiServer: kube.url,
      args: ["--tls", "--status-expose-config"],
    });
    assert.equal(await servedSerial(daemon.ports.https, "soon.example.test"), soon.serial, "served");

    const warned = await daemon.waitForLog((l) =>
      l.msg === "certificate expires soon" && l.domain === "soon.example.test"
    );
    assert.match(
      String(warned.warning),
      /Secret "e2e\/tls-soon": the certificate expires at .* \(in (9|10) days\)/,
    );
    // /status shows the model of the last pass once its apply is recorded: wait for that, not a time.
    const tls = await waitFor(async () => (await tlsDomains(daemon))["soon.example.test"]?.tls, {
      what: "soon.example.test's TLS on /status",
      timeoutMs: 20_000,
    });
    assert.equal(tls?.mode, "terminate");
    assert.match(tls?.warning ?? "", /e2e\/tls-soon.*expires/);
    const page = (await daemon.get("/")).body;
    assert.match(page, /warn-text">Secret &quot;e2e\/tls-soon&quot;: the certificate expires at/);

    // The gauge is the notAfter of the certificate itself, in seconds since the epoch: no clock involved.
    const metrics = (await daemon.get("/metrics")).body;
    const value = /^haconfd_certificate_expiry_seconds\{domain="soon\.example\.test"\} (\S+)$/m.exec(metrics)
      ?.[1];
    assert.equal(Number(value), Date.parse(new X509Certificate(soon.cert).validTo) / 1000, metrics);

    const config = await daemon.get("/config");
    assert.equal(config.status, 200);
    assert.match(config.body, /crt-list /, "the installed config names the certificates");
    assert.ok(!config.body.includes("PRIVATE KEY"), "no key material in /config");
    for (const text of [config.body, page, metrics, ...daemon.logs().map((l) => JSON.stringify(l))]) {
      assert.ok(!text.includes("PRIVATE KEY"), text.slice(0, 200));
    }
  },
});

Deno.test({
  name:
    "haconfd run --tls records a renewal's path as runtime, and a deleted Secret's host as refused with its reason on /status",
  ignore,
  async fn() {
    const certs = await tlsCerts();
    const a = await certs.leaf("proof-a", ["a.example.test"]);
    const renewed = await certs.leaf("proof-a2", ["a.example.test"]);
    await using echo = echoPod();
    await using kube = await startKubeServer({
      objects: {
        endpoints: [web("a", "a.example.test", echo.addr.port, "tls-a")],
        secrets: [tlsSecret("tls-a", a.cert, a.key)],
      },
    });
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--tls"] });
    const https = daemon.ports.https;
    assert.equal(await servedSerial(https, "a.example.test"), a.serial);
    const reloads = await reloadsTotal(daemon);

    kube.upsert("secrets", tlsSecret("tls-a", renewed.cert, renewed.key));
    await waitFor(
      async () => (await servedSerial(https, "a.example.test")) === renewed.serial || undefined,
      {
        what: "the renewed certificate to be served",
        timeoutMs: 20_000,
      },
    );
    // The record is appended once the apply returns, which may be just after HAProxy serves the new certificate.
    const record = await waitFor(async () => {
      const applies = (await daemon.status()).applies as { path?: string; detail: string }[];
      return applies.find((r) => /replaced e2e__tls-a\.pem/.test(r.detail));
    }, { what: "the renewal's apply record", timeoutMs: 20_000 });
    assert.equal(record.path, "runtime", JSON.stringify(record));
    assert.equal(await reloadsTotal(daemon), reloads, "no reload");

    kube.remove("secrets", NAMESPACE, "tls-a");
    const refused = await waitFor(async () => {
      const tls = (await tlsDomains(daemon))["a.example.test"]?.tls;
      return tls?.mode === "refused" ? tls : undefined;
    }, { what: "a.example.test to be refused on /status", timeoutMs: 20_000 });
    assert.match(refused.reason ?? "", /Secret "e2e\/tls-a" of type kubernetes\.io\/tls not found/);
    assert.equal(await servedSerial(https, "a.example.test"), null, "no longer terminated");
    assert.equal(
      (await httpGet(daemon.ports.http, "a.example.test", "/")).status,
      200,
      "plain HTTP still served",
    );
  },
});
