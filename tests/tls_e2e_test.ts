/**
 * End-to-end TLS termination: `haconfd run --tls` as a subprocess against the fake Kubernetes API server,
 * with a real managed HAProxy, certificates made by the tests (X.509 v3) and backends on 127.0.0.x. One
 * HTTPS port serves terminated hosts (Secret certificates), a wildcard, a passthrough pod, and refuses
 * what cannot be served, with the reasons on /status; a renewal in place goes through the Runtime API.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect } from "node:tls";
import { httpGet, startTlsBackend } from "../lib/demo/backends.ts";
import { type JsonObject, startKubeServer } from "../lib/demo/kube_server.ts";
import {
  endpoints,
  NAMESPACE,
  reloadsTotal,
  startDaemonProcess,
  startHttpBackends,
} from "./support/daemon.ts";
import { haproxyAvailable, waitFor } from "./support/haproxy.ts";
import { note, run } from "./support/process.ts";
import { tlsCerts, type TlsLeaf } from "./support/tls_certs.ts";
import { groupId } from "./support/groups.ts";

const ignore = !haproxyAvailable();

function tlsSecret(name: string, cert: string, key: string, namespace = NAMESPACE): JsonObject {
  return {
    metadata: { name, namespace },
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": cert, "tls.key": key },
  };
}

function web(name: string, domain: string, port: number, extra: Record<string, string> = {}): JsonObject {
  return endpoints(name, { domain, proto: "http", ...extra }, ["127.0.0.2"], port);
}

/** The leaf certificate HAProxy presents for `sni` (serial, subject), or null when the handshake fails. */
async function presented(
  port: number,
  sni: string | null,
): Promise<{ serial: string; subject: string } | null> {
  const client = await run("openssl", [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    ...(sni === null ? ["-noservername"] : ["-servername", sni]),
  ], { stdin: "" });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(client.stdout)?.[0];
  if (pem === undefined) return null;
  const info = await run("openssl", ["x509", "-noout", "-serial", "-subject"], { stdin: pem });
  const serial = /serial=([0-9A-F]+)/.exec(info.stdout)![1]!.toLowerCase().replace(/^(00)+(?=.)/, "");
  const subject = /subject=(.*)/.exec(info.stdout)![1]!.replace(/ = /g, "=").trim();
  return { serial, subject };
}

/** GET https://host/path (default /echo) through curl from 127.0.0.9: status, HTTP version and body. */
async function curl(port: number, host: string, args: string[] = [], path = "/echo") {
  const out = await run("curl", [
    "-sk",
    "--interface",
    "127.0.0.9",
    "--resolve",
    `${host}:${port}:127.0.0.1`,
    "-w",
    "\n%{http_code} %{http_version}",
    ...args,
    `https://${host}:${port}${path}`,
  ]);
  const lines = out.stdout.trimEnd().split("\n");
  const [code, version] = lines.pop()!.split(" ");
  return { code: Number(code), version, body: lines.join("\n"), all: out.stdout + out.stderr };
}

/** Leaf certificates, one per `[name, domain]`, signed by the test CA. */
async function leaves<const T extends readonly (readonly [string, string])[]>(
  ...specs: T
): Promise<{ [K in keyof T]: TlsLeaf }> {
  const certs = await tlsCerts();
  const made = await Promise.all(specs.map(([name, domain]) => certs.leaf(name, [domain])));
  return made as { [K in keyof T]: TlsLeaf };
}

/** The newest apply record on /status whose detail matches `detail`. */
async function applyRecord(daemon: { status(): Promise<Record<string, unknown>> }, detail: RegExp) {
  const applies = (await daemon.status()).applies as { path?: string; detail: string }[];
  return applies.find((a) => detail.test(a.detail));
}

/** A plain-HTTP pod that answers with the request headers it saw, as JSON. */
function echoPod(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.2", port: 0, onListen() {} }, (req) => {
    return Response.json(Object.fromEntries(req.headers), { headers: { "x-backend": "echo" } });
  });
}

/** An API server holding a.example.test (on `echo`) with Secret tls-a holding `leaf`. */
function oneTerminatedHost(echo: Deno.HttpServer<Deno.NetAddr>, leaf: { cert: string; key: string }) {
  return startKubeServer({
    objects: {
      endpoints: [web("a", "a.example.test", echo.addr.port, { "haconfd.io/tls-secret": "tls-a" })],
      secrets: [tlsSecret("tls-a", leaf.cert, leaf.key)],
    },
  });
}

/** No key material in any log line of the daemon nor in `answers` (HTTP answers it gave). */
function assertNoKeyMaterial(daemon: { logs(): unknown[] }, ...answers: unknown[]): void {
  for (const item of [...daemon.logs(), ...answers]) assert.ok(!JSON.stringify(item).includes("PRIVATE KEY"));
}

/** An HTTPS connection to `sni` kept open: one request now, more later on the same connection. */
async function openConnection(port: number, sni: string) {
  const socket = connect({
    host: "127.0.0.1",
    port,
    servername: sni,
    rejectUnauthorized: false,
    ALPNProtocols: ["http/1.1"],
  });
  await new Promise<void>((
    resolve,
    reject,
  ) => (socket.once("secureConnect", resolve), socket.once("error", reject)));
  let buffer = "";
  socket.on("data", (chunk: Uint8Array) => buffer += new TextDecoder().decode(chunk));
  return {
    async request(): Promise<string> {
      buffer = "";
      socket.write(`GET /echo HTTP/1.1\r\nHost: ${sni}\r\n\r\n`);
      await waitFor(() => /\r\n\r\n[\s\S]*\}/.test(buffer) || undefined, {
        what: "an answer on the open connection",
        timeoutMs: 10_000,
      });
      return buffer;
    },
    close: () => socket.destroy(),
  };
}

Deno.test({
  name:
    "haconfd run --tls terminates Secret certificates beside SNI passthrough on one port, refuses what it cannot serve, and renews without a reload",
  ignore,
  async fn() {
    const certs = await tlsCerts();
    const [a, a2, w, d, expired, mismatch] = await Promise.all([
      certs.leaf("a", ["a.example.test"]),
      certs.leaf("a2", ["a.example.test"]),
      certs.leaf("w", ["*.w.example.test"]),
      certs.leaf("d", ["d.example.test"]),
      certs.leaf("expired", ["e.example.test"], { days: -1 }),
      certs.leaf("m", ["m.example.test"]),
    ]);
    await using echo = echoPod();
    await using pod = await startTlsBackend("pod-b", { hostname: "127.0.0.3" });
    const port = echo.addr.port;
    await using kube = await startKubeServer({
      objects: {
        endpoints: [
          web("a", "a.example.test", port, {
            "haconfd.io/tls-secret": "tls-a",
            "haconfd.io/redirect-https": "true",
          }),
          web("w", "x.w.example.test", port, { "haconfd.io/tls-secret": "tls-w" }),
          endpoints("b", { domain: "b.example.test", proto: "https" }, [pod.hostname], pod.port),
          web("other", "o.example.test", port, { "haconfd.io/tls-secret": "tls-o" }),
          web("expired", "e.example.test", port, { "haconfd.io/tls-secret": "tls-e" }),
          web("mismatch", "m.example.test", port, { "haconfd.io/tls-secret": "tls-m" }),
          web("uncovered", "u.example.test", port, { "haconfd.io/tls-secret": "tls-a" }),
          web("opaque", "p.example.test", port, { "haconfd.io/tls-secret": "opaque-p" }),
          web("deleted", "d.example.test", port, { "haconfd.io/tls-secret": "tls-d" }),
        ],
        secrets: [
          tlsSecret("tls-a", a.cert, a.key),
          tlsSecret("tls-w", w.cert, w.key),
          tlsSecret("tls-d", d.cert, d.key),
          tlsSecret("tls-o", a.cert, a.key, "elsewhere"),
          tlsSecret("tls-e", expired.cert, expired.key),
          tlsSecret("tls-m", mismatch.cert, a.key),
          {
            metadata: { name: "opaque-p", namespace: NAMESPACE },
            stringData: { "tls.crt": a.cert, "tls.key": a.key },
          },
        ],
      },
    });
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--tls"] });
    const https = daemon.ports.https;
    const answers: string[] = [];

    // One port: terminated with Secret A's certificate, wildcard, passthrough with the pod's own.
    assert.deepEqual(await presented(https, "a.example.test"), { serial: a.serial, subject: a.subject });
    assert.deepEqual(await presented(https, "x.w.example.test"), { serial: w.serial, subject: w.subject });
    assert.equal((await presented(https, "b.example.test"))?.subject, "CN=pod-b");
    assert.equal(
      await presented(https, "unknown.example.test"),
      null,
      "unknown SNI refused (no default certificate)",
    );
    assert.equal(await presented(https, null), null, "no SNI refused");

    const h2 = await curl(https, "a.example.test", ["--http2"]);
    answers.push(h2.all);
    assert.equal(h2.code, 200, h2.all);
    assert.equal(h2.version, "2");
    const seen = JSON.parse(h2.body);
    assert.equal(seen["x-forwarded-for"], "127.0.0.9", "the pod sees the client's address");
    assert.equal(seen["x-forwarded-proto"], "https");
    assert.equal((await curl(https, "x.w.example.test")).code, 200);

    // Redirect on :80, except ACME HTTP-01 challenges.
    const redirect = await httpGet(daemon.ports.http, "a.example.test", "/login");
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers["location"], "https://a.example.test/login");
    assert.equal(
      (await httpGet(daemon.ports.http, "a.example.test", "/.well-known/acme-challenge/x")).status,
      200,
    );

    // Refusals, each with its reason, while the rest serves (plain HTTP still routed).
    const reasons: Record<string, RegExp> = {
      "o.example.test": /"e2e\/tls-o" of type kubernetes.io\/tls not found/,
      "e.example.test": /expired at/,
      "m.example.test": /tls\.key does not match/,
      "u.example.test": /does not cover "u\.example\.test"/,
      "p.example.test": /"e2e\/opaque-p" of type kubernetes.io\/tls not found/,
    };
    const status = JSON.stringify(await daemon.status());
    answers.push(status);
    const domains =
      (JSON.parse(status) as { domains: Record<string, { tls?: { mode: string; reason: string } }> })
        .domains;
    for (const [host, reason] of Object.entries(reasons)) {
      assert.equal(domains[host]?.tls?.mode, "refused", host);
      assert.match(domains[host]!.tls!.reason, reason, host);
      assert.equal(await presented(https, host), null, `${host} is not terminated`);
      assert.equal(
        (await httpGet(daemon.ports.http, host, "/echo")).status,
        200,
        `${host} still serves HTTP`,
      );
      assert.ok(daemon.logsWith("TLS termination refused").some((l) => l.domain === host), host);
    }
    assert.equal(domains["a.example.test"]?.tls?.mode, "terminate");

    // Key files: without --cert-group or --haproxy-user, mode 0600 (owner only).
    const file = `${daemon.dir}/haconfd-certs/e2e__tls-a.pem`;
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);

    // Renewal in place: new connections get the new certificate, no reload, the open connection lives.
    const reloads = await reloadsTotal(daemon);
    const open = await openConnection(https, "a.example.test");
    try {
      assert.match(await open.request(), /^HTTP\/1\.1 200/);
      kube.upsert("secrets", tlsSecret("tls-a", a2.cert, a2.key));
      await waitFor(
        async () => (await presented(https, "a.example.test"))?.serial === a2.serial || undefined,
        {
          what: "the renewed certificate to be served",
          timeoutMs: 20_000,
        },
      );
      assert.equal(await reloadsTotal(daemon), reloads, "no reload");
      assert.ok(daemon.logsWith("certificates changed without reload").length > 0);
      assert.match(await open.request(), /^HTTP\/1\.1 200/, "the open connection still answers");
    } finally {
      open.close();
    }
    assert.ok(
      (await Deno.readTextFile(file)).includes(a2.cert.split("\n")[1]!),
      "the file holds the new certificate",
    );

    // A deleted Secret: refused, the rest serves.
    kube.remove("secrets", NAMESPACE, "tls-d");
    await waitFor(async () => (await presented(https, "d.example.test")) === null || undefined, {
      what: "d.example.test to be refused",
      timeoutMs: 20_000,
    });
    assert.equal((await curl(https, "a.example.test")).code, 200);

    // No key material anywhere the daemon speaks.
    for (const path of ["/status", "/status?pretty", "/metrics", "/", "/status/domains/a.example.test"]) {
      answers.push((await daemon.get(path)).body);
    }
    assert.match(answers.join("\n"), /haconfd_certificate_expiry_seconds\{domain="a\.example\.test"\}/);
    const logs = daemon.logs().map((l) => JSON.stringify(l));
    assert.ok(logs.length > 0);
    for (const text of [...logs, ...answers]) assert.ok(!text.includes("PRIVATE KEY"), text.slice(0, 200));
  },
});

Deno.test({
  name:
    "haconfd run --tls --default-certificate shows the default certificate to unknown and missing SNI only",
  ignore,
  async fn() {
    const certs = await tlsCerts();
    const [a, fallback] = await Promise.all([
      certs.leaf("a", ["a.example.test"]),
      certs.leaf("fallback", ["default.example.test"]),
    ]);
    const defaultFile = `${certs.dir}/default-bundle.pem`;
    await Deno.writeTextFile(defaultFile, fallback.cert + fallback.key);
    await using echo = echoPod();
    await using kube = await oneTerminatedHost(echo, a);
    const group = await groupId("haproxy");
    await using daemon = await startDaemonProcess({
      apiServer: kube.url,
      args: [
        "--tls",
        "--default-certificate",
        defaultFile,
        ...(group === null ? [] : ["--cert-group", "haproxy"]),
      ],
    });
    const https = daemon.ports.https;
    assert.equal((await presented(https, "a.example.test"))?.serial, a.serial);
    assert.equal((await presented(https, "unknown.example.test"))?.serial, fallback.serial);
    assert.equal((await presented(https, null))?.serial, fallback.serial);
    if (group === null) note("skipped the key files' group assertion: no group haproxy on this machine");
    for (const name of ["default.pem", "e2e__tls-a.pem"]) {
      const info = await Deno.stat(`${daemon.dir}/haconfd-certs/${name}`);
      assert.equal(info.mode! & 0o777, group === null ? 0o600 : 0o640, name);
      if (group !== null) assert.equal(info.gid, group, `${name} belongs to HAProxy's group`);
    }
    const unknown = await curl(https, "unknown.example.test");
    assert.equal(unknown.code, 404, "an unknown host gets the no-route answer, never another host's service");
  },
});

Deno.test({
  name: "haconfd run --tls --no-runtime-api renews a certificate by one reload",
  ignore,
  async fn() {
    const [a, a2] = await leaves(["a", "a.example.test"], ["a2", "a.example.test"]);
    await using echo = echoPod();
    await using kube = await oneTerminatedHost(echo, a);
    await using daemon = await startDaemonProcess({
      apiServer: kube.url,
      args: ["--tls", "--no-runtime-api"],
    });
    const https = daemon.ports.https;
    assert.equal((await presented(https, "a.example.test"))?.serial, a.serial);
    const reloads = await reloadsTotal(daemon);
    kube.upsert("secrets", tlsSecret("tls-a", a2.cert, a2.key));
    await waitFor(async () => (await presented(https, "a.example.test"))?.serial === a2.serial || undefined, {
      what: "the renewed certificate to be served",
      timeoutMs: 20_000,
    });
    // HAProxy may serve the new certificate before haconfd has confirmed and counted the reload.
    const total = await waitFor(async () => {
      const now = await reloadsTotal(daemon);
      return now > reloads ? now : undefined;
    }, { what: "the certificate reload to be counted" });
    assert.equal(total, reloads + 1, "one reload");
    const line = daemon.logsWith("certificates changed: reloading")[0];
    assert.equal(line?.reason, "the Runtime API is off");
  },
});

Deno.test({
  name:
    "haconfd run --tls --default-certificate namespace/name serves the Secret to unknown SNI, rotates it without a reload, and refuses unknown SNI once it is deleted",
  ignore,
  async fn() {
    const [a, fallback, renewed] = await leaves(
      ["a", "a.example.test"],
      ["fallback", "default.example.test"],
      ["fallback2", "default.example.test"],
    );
    await using echo = echoPod();
    await using kube = await oneTerminatedHost(echo, a);
    kube.upsert("secrets", tlsSecret("default-tls", fallback.cert, fallback.key));
    await using daemon = await startDaemonProcess({
      apiServer: kube.url,
      args: ["--tls", "--default-certificate", `${NAMESPACE}/default-tls`],
    });
    const https = daemon.ports.https;
    assert.deepEqual(await presented(https, "unknown.example.test"), {
      serial: fallback.serial,
      subject: fallback.subject,
    });
    assert.equal((await presented(https, null))?.serial, fallback.serial);
    assert.equal((await presented(https, "a.example.test"))?.serial, a.serial);

    const reloads = await reloadsTotal(daemon);
    kube.upsert("secrets", tlsSecret("default-tls", renewed.cert, renewed.key));
    await waitFor(
      async () => (await presented(https, "unknown.example.test"))?.serial === renewed.serial || undefined,
      { what: "the renewed default certificate to be served", timeoutMs: 20_000 },
    );
    assert.equal(await reloadsTotal(daemon), reloads, "no reload for a renewed default certificate");

    kube.remove("secrets", NAMESPACE, "default-tls");
    await waitFor(async () => (await presented(https, "unknown.example.test")) === null || undefined, {
      what: "unknown SNI to be refused once the default certificate Secret is deleted",
      timeoutMs: 20_000,
    });
    assert.equal(await presented(https, null), null, "no SNI refused");
    assert.equal((await presented(https, "a.example.test"))?.serial, a.serial, "a known host still served");
    assert.equal((await curl(https, "a.example.test")).code, 200);
    const status = await daemon.status() as { skipped: { object: string; reason: string }[] };
    const entry = status.skipped.find((s) => s.object === `${NAMESPACE}/default-tls`);
    assert.match(
      entry?.reason ?? "",
      /default certificate .* not served.*not found/,
      JSON.stringify(status.skipped),
    );
    assert.ok(
      daemon.logsWith("default certificate refused: clients without a known SNI are refused").length > 0,
    );
    assertNoKeyMaterial(daemon, status);
  },
});

Deno.test({
  name:
    "haconfd run --tls adds and removes a terminated host of an existing service through the Runtime API, without a reload",
  ignore,
  async fn() {
    const [a, n, p] = await leaves(["a", "a.example.test"], ["n", "n.example.test"], ["p", "p.example.test"]);
    await using echo = echoPod();
    await using kube = await oneTerminatedHost(echo, a);
    // n.example.test is served (plain HTTP, its own backend) and asks for a Secret that does not exist yet.
    kube.upsert(
      "endpoints",
      web("n", "n.example.test", echo.addr.port, { "haconfd.io/tls-secret": "tls-n" }),
    );
    // p.example.test is served over plain HTTP without asking for TLS; its Secret exists.
    kube.upsert("endpoints", web("p", "p.example.test", echo.addr.port));
    kube.upsert("secrets", tlsSecret("tls-p", p.cert, p.key));
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--tls"] });
    const https = daemon.ports.https;
    assert.equal(
      await presented(https, "n.example.test"),
      null,
      "not terminated while its Secret is missing",
    );
    assert.equal((await httpGet(daemon.ports.http, "n.example.test", "/echo")).status, 200);
    const reloads = await reloadsTotal(daemon);

    kube.upsert("secrets", tlsSecret("tls-n", n.cert, n.key));
    await waitFor(async () => (await presented(https, "n.example.test"))?.serial === n.serial || undefined, {
      what: "n.example.test to be terminated with its certificate",
      timeoutMs: 20_000,
    });
    await waitFor(async () => (await curl(https, "n.example.test")).code === 200 || undefined, {
      what: "n.example.test to be routed over TLS",
      timeoutMs: 20_000,
    });
    assert.equal(await reloadsTotal(daemon), reloads, "a new terminated host without a reload");
    const added = await daemon.waitForLog((l) =>
      l.msg === "certificates changed without reload" && String(l.detail).includes("added n.example.test")
    );
    assert.ok(added);
    const record = await applyRecord(daemon, /added n\.example\.test/);
    assert.equal(record?.path, "runtime", JSON.stringify(record));
    const metrics = (await daemon.get("/metrics")).body;
    const runtimeApplies = /^haconfd_apply_paths_total\{path="runtime"\} (\d+)/m.exec(metrics)?.[1];
    assert.ok(Number(runtimeApplies) >= 1, "the metrics count the runtime path");
    assert.match(
      await Deno.readTextFile(`${daemon.dir}/haconfd-certs/crt-list`),
      /e2e__tls-n\.pem n\.example\.test/,
    );

    kube.remove("secrets", NAMESPACE, "tls-n");
    await waitFor(async () => (await presented(https, "n.example.test")) === null || undefined, {
      what: "n.example.test to be refused once its Secret is deleted",
      timeoutMs: 20_000,
    });
    await daemon.waitForLog((l) =>
      l.msg === "certificates changed without reload" && String(l.detail).includes("removed n.example.test")
    );
    assert.equal(await reloadsTotal(daemon), reloads, "a removed terminated host without a reload");
    assert.equal((await presented(https, "a.example.test"))?.serial, a.serial, "the other host still served");
    assert.equal((await curl(https, "a.example.test")).code, 200);
    assert.equal(
      (await httpGet(daemon.ports.http, "n.example.test", "/echo")).status,
      200,
      "n keeps plain HTTP",
    );
    // The annotation added to a served service: terminated without a reload too.
    kube.upsert(
      "endpoints",
      web("p", "p.example.test", echo.addr.port, { "haconfd.io/tls-secret": "tls-p" }),
    );
    await waitFor(async () => (await presented(https, "p.example.test"))?.serial === p.serial || undefined, {
      what: "p.example.test to be terminated once it asks for its Secret",
      timeoutMs: 20_000,
    });
    assert.equal((await curl(https, "p.example.test")).code, 200);
    assert.equal(await reloadsTotal(daemon), reloads, "haconfd.io/tls-secret added without a reload");
    const left = [];
    for await (const e of Deno.readDir(`${daemon.dir}/haconfd-certs`)) left.push(e.name);
    assert.ok(!left.includes("e2e__tls-n.pem"), "the removed host's file is gone");
  },
});

Deno.test({
  name:
    "haconfd run --tls routes a terminated host by path (/api, /) with its certificate, adds a pod reload-free, and skips a route of the host that names no Secret",
  ignore,
  async fn() {
    const [shop] = await leaves(["shop", "shop.example.test"]);
    const { backends, port } = await startHttpBackends(["api-1", "web-1", "api-2"]);
    await using _pods = {
      async [Symbol.asyncDispose]() {
        await Promise.all(backends.map((b) => b.close()));
      },
    };
    const host = "shop.example.test";
    const tls = { domain: host, proto: "http", "haconfd.io/tls-secret": "tls-shop" };
    const api = (ips: string[]) => endpoints("shop-api", { ...tls, "haconfd.io/path": "/api" }, ips, port);
    await using kube = await startKubeServer({
      objects: {
        endpoints: [
          api(["127.0.0.2"]),
          endpoints("shop-web", tls, ["127.0.0.3"], port),
          // Names no Secret, and is the later claim: skipped, naming the route that terminates the host.
          endpoints(
            "zz-plain",
            { domain: host, proto: "http", "haconfd.io/path": "/plain" },
            ["127.0.0.3"],
            port,
          ),
        ],
        secrets: [tlsSecret("tls-shop", shop.cert, shop.key)],
      },
    });
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--tls"] });
    const https = daemon.ports.https;
    assert.deepEqual(await presented(https, host), { serial: shop.serial, subject: shop.subject });
    const backend = async (path: string) => {
      const answer = await curl(https, host, ["-D", "-"], path);
      return answer.code === 200 ? /^x-backend: (\S+)/mi.exec(answer.all)?.[1] : `status ${answer.code}`;
    };
    assert.equal(await backend("/api/x"), "api-1", "/api/x reaches the /api service through termination");
    assert.equal(await backend("/api"), "api-1");
    assert.equal(await backend("/"), "web-1", "/ reaches the / service");
    assert.equal(await backend("/apix"), "web-1", "a prefix only at a segment boundary");
    assert.equal(await backend("/plain"), "web-1", "the skipped route is not served");
    assert.equal(
      (await httpGet(daemon.ports.http, host, "/api/x")).headers["x-backend"],
      "api-1",
      "plain HTTP alike",
    );
    const status = await daemon.status() as { skipped: { object: string; reason: string }[] };
    const skipped = status.skipped.find((s) => s.object === `${NAMESPACE}/zz-plain`);
    assert.match(
      skipped?.reason ?? "",
      /host "shop\.example\.test" is served by e2e\/shop-(api|web) with Secret "e2e\/tls-shop" \(older claim wins.*this object has no haconfd\.io\/tls-secret/,
      JSON.stringify(status.skipped),
    );
    const crtList = await Deno.readTextFile(`${daemon.dir}/haconfd-certs/crt-list`);
    assert.deepEqual(
      crtList.trim().split("\n").map((l) => l.split(" ")[1]),
      [host],
      "one crt-list line per host",
    );

    const reloads = await reloadsTotal(daemon);
    kube.upsert("endpoints", api(["127.0.0.2", "127.0.0.4"]));
    await waitFor(async () => (await backend("/api/y")) === "api-2" || undefined, {
      what: "the new /api pod to answer through termination",
      timeoutMs: 20_000,
    });
    assert.equal(await reloadsTotal(daemon), reloads, "a pod added to a path route without a reload");
    assertNoKeyMaterial(daemon, status);
  },
});

Deno.test({
  name:
    "haconfd run --tls turns haconfd.io/redirect-https on and off through haconfd-redirect.map, without a reload, ACME challenges excepted",
  ignore,
  async fn() {
    const [a] = await leaves(["a", "a.example.test"]);
    await using echo = echoPod();
    await using kube = await oneTerminatedHost(echo, a);
    await using daemon = await startDaemonProcess({ apiServer: kube.url, args: ["--tls"] });
    const http = daemon.ports.http;
    assert.equal((await httpGet(http, "a.example.test", "/echo")).status, 200, "served on :80 first");
    const reloads = await reloadsTotal(daemon);

    const redirect = (on: boolean) =>
      kube.upsert(
        "endpoints",
        web("a", "a.example.test", echo.addr.port, {
          "haconfd.io/tls-secret": "tls-a",
          "haconfd.io/redirect-https": String(on),
        }),
      );
    redirect(true);
    const moved = await waitFor(async () => {
      const answer = await httpGet(http, "a.example.test", "/echo?q=1");
      return answer.status === 308 ? answer : undefined;
    }, { what: "a.example.test to answer 308 on :80", timeoutMs: 20_000 });
    assert.equal(moved.headers["location"], "https://a.example.test/echo?q=1");
    assert.equal(
      (await httpGet(http, "a.example.test", "/.well-known/acme-challenge/token")).status,
      200,
      "ACME HTTP-01 challenges are not redirected",
    );
    assert.equal((await curl(daemon.ports.https, "a.example.test")).code, 200, "https still served");
    assert.equal(await reloadsTotal(daemon), reloads, "redirect on without a reload");
    assert.match(await Deno.readTextFile(`${daemon.dir}/haconfd-redirect.map`), /^a\.example\.test https$/m);

    redirect(false);
    await waitFor(async () => (await httpGet(http, "a.example.test", "/echo")).status === 200 || undefined, {
      what: "a.example.test to be served on :80 again",
      timeoutMs: 20_000,
    });
    assert.equal(await reloadsTotal(daemon), reloads, "redirect off without a reload");
    const record = await applyRecord(daemon, /map/);
    assert.equal(record?.path, "runtime", JSON.stringify(record));
  },
});
