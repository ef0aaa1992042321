import assert from "node:assert/strict";
import { loadKubeconfig } from "../../../lib/source/kube/auth.ts";
import {
  ConnectError,
  createKubeClient,
  describeAction,
  Expired,
  Forbidden,
  type KubeClient,
  type RequestAction,
  RequestTimeout,
  TlsError,
  tokenSubject,
  Unauthorized,
  Unavailable,
} from "../../../lib/source/kube/client.ts";
import { errorText, memoryLogger } from "../../../lib/log.ts";
import { testCerts } from "../../support/certs.ts";
import { waitFor } from "../../support/haproxy.ts";
import { plainConnection } from "../../support/kube_connection.ts";
import { startKubeServer } from "../../../lib/demo/kube_server.ts";

const LIST: RequestAction = { verb: "list", resource: "endpoints", group: "" };
const EP = { metadata: { name: "web", namespace: "a" }, subsets: [] };

function refusedUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}`;
}

async function withClient<T>(client: KubeClient, fn: (c: KubeClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function jwt(sub: string): string {
  const part = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${part({ alg: "RS256" })}.${part({ sub })}.c2ln`;
}

Deno.test("tokenSubject() reads the sub claim of a JWT and nothing else", () => {
  assert.equal(
    tokenSubject(jwt("system:serviceaccount:haconfd:haconfd")),
    "system:serviceaccount:haconfd:haconfd",
  );
  assert.equal(tokenSubject("opaque-token"), undefined);
  assert.equal(tokenSubject("a.b!.c"), undefined);
});

Deno.test("describeAction() names the resource with its group and the scope", () => {
  assert.equal(describeAction(LIST), '"endpoints" in all namespaces (cluster scope)');
  assert.equal(
    describeAction({ verb: "watch", resource: "endpointslices", group: "discovery.k8s.io", namespace: "x" }),
    '"endpointslices.discovery.k8s.io" in namespace "x"',
  );
});

Deno.test("createKubeClient() fails over from a refused server to the next and sticks to it", async () => {
  await using server = await startKubeServer({ objects: { endpoints: [EP] } });
  const log = memoryLogger();
  const dead = refusedUrl();
  await withClient(createKubeClient(plainConnection([dead, server.url]), { log }), async (client) => {
    const list = await client.getJson("/api/v1/endpoints", {}, LIST) as { items: unknown[] };
    assert.equal(list.items.length, 1);
    assert.equal(client.server(), server.url);
    await client.getJson("/api/v1/endpoints", {}, LIST);
    const failovers = log.lines.filter((l) => l.msg === "API server failed, trying the next");
    assert.equal(failovers.length, 1, "the refused server is not tried again while the second works");
    assert.match(String(failovers[0]!.error), /Cannot connect to "http:\/\/127\.0\.0\.1:\d+": .*refused/i);
    assert.equal(server.requests.length, 2);
  });
});

Deno.test("createKubeClient() fails over on 5xx and timeouts, and reports every server when all fail", async () => {
  await using first = await startKubeServer({ objects: { endpoints: [EP] } });
  await using second = await startKubeServer({ objects: { endpoints: [EP] } });
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) conns.push(conn);
  })();
  const silentUrl = `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
  try {
    first.failNext(1, { status: 503 });
    await withClient(createKubeClient(plainConnection([first.url, second.url])), async (client) => {
      await client.getJson("/api/v1/endpoints", {}, LIST);
      assert.equal(client.server(), second.url);
      assert.deepEqual(first.requests.map((r) => r.status), [503]);
    });
    const log = memoryLogger();
    await withClient(
      createKubeClient(plainConnection([silentUrl, second.url]), { requestTimeoutMs: 100, log }),
      async (client) => {
        await client.getJson("/api/v1/endpoints", {}, LIST);
        assert.equal(client.server(), second.url);
        // The silent server took the connection and never answered: failed over on the request timeout.
        assert.equal(conns.length, 1);
        assert.ok(log.lines.some((l) => /did not answer within 100ms/.test(String(l.error))), "timed out");
      },
    );
    first.failNext(1, { status: 500, message: "etcd is sad" });
    await withClient(
      createKubeClient(plainConnection([first.url, silentUrl, refusedUrl()]), { requestTimeoutMs: 400 }),
      async (client) => {
        await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
          assert.ok(error instanceof Unavailable);
          assert.equal(error.errors.length, 3);
          assert.ok(error.errors[1] instanceof RequestTimeout);
          assert.match(
            error.message,
            /No API server answered: .*\(500\): etcd is sad; .*did not answer within 400ms; .*/,
          );
          return true;
        });
      },
    );
  } finally {
    silent.close();
    await accepting.catch(() => {});
    for (const conn of conns) conn.close();
  }
});

Deno.test("createKubeClient() names the identity and the missing permission on 401 and 403, never the token", async () => {
  const secret = jwt("system:serviceaccount:edge:haconfd");
  await using server = await startKubeServer({
    tokens: { [secret]: "system:serviceaccount:edge:haconfd" },
    authorize: {
      "system:serviceaccount:edge:haconfd": [{ verbs: ["list", "watch"], resources: ["endpoints"] }],
    },
  });
  const log = memoryLogger();
  await withClient(
    createKubeClient(plainConnection([server.url], { token: secret }), { log }),
    async (client) => {
      await client.getJson("/api/v1/endpoints", {}, LIST);
      await assert.rejects(
        client.getJson("/apis/discovery.k8s.io/v1/namespaces/edge/endpointslices", {}, {
          verb: "list",
          resource: "endpointslices",
          group: "discovery.k8s.io",
          namespace: "edge",
        }),
        (error: Error) => {
          assert.ok(error instanceof Forbidden);
          assert.match(
            error.message,
            /forbids token of "system:serviceaccount:edge:haconfd" to list "endpointslices\.discovery\.k8s\.io" in namespace "edge" \(403 Forbidden\): grant it "list" and "watch" on "endpointslices" in API group "discovery\.k8s\.io" \(RBAC\)/,
          );
          assert.ok(!error.message.includes(secret));
          return true;
        },
      );
    },
  );
  await withClient(
    createKubeClient(plainConnection([server.url], { token: "wrong-secret-token" })),
    async (client) => {
      await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
        assert.ok(error instanceof Unauthorized);
        assert.match(
          error.message,
          /rejected the credentials of bearer token \(401 Unauthorized\) while trying to list "endpoints"/,
        );
        assert.ok(!error.message.includes("wrong-secret-token"));
        return true;
      });
    },
  );
  assert.ok(log.lines.every((l) => !JSON.stringify(l).includes(secret)));
});

Deno.test("createKubeClient() authenticates with a client certificate and explains TLS failures", async () => {
  const certs = await testCerts();
  try {
    const alice = await certs.client("alice", ["ops"]);
    await using server = await startKubeServer({
      tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
      authorize: { alice: [{ verbs: "*", resources: "*" }] },
      objects: { endpoints: [EP] },
    });
    const clientCert = { cert: alice.cert, key: alice.key, source: "test", subject: "CN=alice,O=ops" };
    const good = plainConnection([server.url], {
      caCerts: [certs.caCert],
      caSource: "the test CA",
      clientCert,
    });
    await withClient(createKubeClient(good), async (client) => {
      await client.getJson("/api/v1/endpoints", {}, LIST);
      assert.equal(client.identity, 'client certificate "CN=alice,O=ops"');
      assert.equal(server.requests.at(-1)?.user, "alice");
    });
    const wrongCa = { ...good, caCerts: [certs.otherCaCert], caSource: '--ssl-ca "other.pem"' };
    await withClient(createKubeClient(wrongCa), async (client) => {
      await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
        assert.ok(error instanceof Unavailable && error.errors[0] instanceof TlsError);
        assert.equal((error.errors[0] as TlsError).side, "server");
        assert.match(
          error.message,
          /TLS to "https:\/\/127\.0\.0\.1:\d+" failed: the API server's certificate did not verify against --ssl-ca "other\.pem": UnknownIssuer/,
        );
        return true;
      });
    });
    const mallory = await certs.client("mallory", [], { untrusted: true });
    const untrusted = {
      ...good,
      clientCert: { ...clientCert, cert: mallory.cert, key: mallory.key, subject: "CN=mallory" },
    };
    await withClient(createKubeClient(untrusted), async (client) => {
      await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
        assert.ok(error instanceof Unauthorized);
        assert.match(error.message, /rejected the credentials of client certificate "CN=mallory"/);
        return true;
      });
    });
  } finally {
    await certs.dispose();
  }
});

Deno.test("createKubeClient() re-reads the token file, so a rotated token is used", async () => {
  await using server = await startKubeServer({ tokens: { "token-one": "one", "token-two": "two" } });
  const dir = await Deno.makeTempDir({ prefix: "haconfd-token-" });
  const log = memoryLogger();
  try {
    const file = `${dir}/token`;
    await Deno.writeTextFile(file, "token-one\n");
    await withClient(
      createKubeClient(plainConnection([server.url], { tokenFile: file }), { log }),
      async (client) => {
        await client.getJson("/api/v1/endpoints", {}, LIST);
        await Deno.writeTextFile(`${dir}/token.new`, "token-two");
        await Deno.rename(`${dir}/token.new`, file);
        await client.getJson("/api/v1/endpoints", {}, LIST);
        assert.deepEqual(server.requests.map((r) => r.user), ["one", "two"]);
        assert.match(client.identity, /bearer token from ".*token"/);
        await Deno.remove(file);
        await client.getJson("/api/v1/endpoints", {}, LIST);
        assert.equal(server.requests.at(-1)?.user, "two");
      },
    );
    assert.ok(log.lines.some((l) => l.msg === "token file changed, using the new token"));
    assert.ok(log.lines.some((l) => l.msg === "cannot re-read the token file, using the last token"));
    assert.ok(log.lines.every((l) => !JSON.stringify(l).includes("token-two")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createKubeClient() turns 410 into Expired and streams a watch", async () => {
  await using server = await startKubeServer({
    objects: { endpoints: [EP, { ...EP, metadata: { name: "b", namespace: "a" } }] },
  });
  await withClient(createKubeClient(plainConnection([server.url])), async (client) => {
    const page = await client.getJson("/api/v1/endpoints", { limit: "1" }, LIST) as {
      metadata: { continue: string };
    };
    server.upsert("endpoints", { metadata: { name: "c", namespace: "a" } });
    server.compact();
    await assert.rejects(
      client.getJson("/api/v1/endpoints", { limit: "1", continue: page.metadata.continue }, LIST),
      Expired,
    );
    const stream = await client.openStream("/api/v1/endpoints", {
      watch: "1",
      resourceVersion: String(server.resourceVersion),
    }, {
      ...LIST,
      verb: "watch",
    });
    server.upsert("endpoints", { metadata: { name: "d", namespace: "a" } });
    const reader = stream.body.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /"type":"ADDED".*"name":"d"/);
    reader.releaseLock();
    await stream.close();
  });
});

Deno.test("createKubeClient() skips server verification for a kubeconfig with insecure-skip-tls-verify and no CA", async () => {
  const certs = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "haconfd-insecure-" });
  try {
    const alice = await certs.client("alice", ["ops"]);
    await using server = await startKubeServer({
      tls: { cert: certs.serverCert, key: certs.serverKey, clientCa: certs.caCert },
      tokens: { "robot-token": "robot" },
      objects: { endpoints: [EP] },
    });
    // No certificate-authority anywhere: only the flag lets the test CA's server certificate through.
    await Deno.writeTextFile(
      `${dir}/config`,
      JSON.stringify({
        "current-context": "insecure-token",
        clusters: [
          { name: "lab", cluster: { server: server.url, "insecure-skip-tls-verify": true } },
          { name: "strict", cluster: { server: server.url } },
        ],
        users: [
          { name: "robot", user: { token: "robot-token" } },
          {
            name: "alice",
            user: { "client-certificate-data": btoa(alice.cert), "client-key-data": btoa(alice.key) },
          },
        ],
        contexts: [
          { name: "insecure-token", context: { cluster: "lab", user: "robot" } },
          { name: "insecure-cert", context: { cluster: "lab", user: "alice" } },
          { name: "strict-token", context: { cluster: "strict", user: "robot" } },
        ],
      }),
    );

    // token auth: list, then a watch whose event arrives through the streamed body, then an abort
    const tokenConnection = await loadKubeconfig(`${dir}/config`);
    assert.deepEqual(tokenConnection.caCerts, []);
    await withClient(createKubeClient(tokenConnection), async (client) => {
      const list = await client.getJson("/api/v1/endpoints", {}, LIST) as { items: unknown[] };
      assert.equal(list.items.length, 1);
      assert.equal(server.requests.at(-1)?.user, "robot");
      const controller = new AbortController();
      const stream = await client.openStream(
        "/api/v1/endpoints",
        { watch: "1", resourceVersion: String(server.resourceVersion) },
        { ...LIST, verb: "watch" },
        controller.signal,
      );
      assert.equal(server.watchCount("endpoints"), 1);
      server.upsert("endpoints", { metadata: { name: "d", namespace: "a" } });
      const reader = stream.body.getReader();
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /"type":"ADDED".*"name":"d"/);
      const reason = new Error("Shutting down");
      const pending = reader.read();
      controller.abort(reason);
      await assert.rejects(pending, (error) => error === reason);
      reader.releaseLock();
      await stream.close();
      await waitFor(() => server.watchCount("endpoints") === 0, {
        what: "the server to see the watch connection close",
        intervalMs: 10,
      });
    });

    // client-certificate auth through the same unverified path
    await withClient(
      createKubeClient(await loadKubeconfig(`${dir}/config`, "insecure-cert")),
      async (client) => {
        await client.getJson("/api/v1/endpoints", {}, LIST);
        assert.equal(server.requests.at(-1)?.user, "alice");
        assert.equal(client.identity, 'client certificate "O=ops,CN=alice"');
      },
    );

    // the same server without the flag: verified against the system roots, which do not know the test CA
    await withClient(
      createKubeClient(await loadKubeconfig(`${dir}/config`, "strict-token")),
      async (client) => {
        await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
          assert.ok(error instanceof Unavailable && error.errors[0] instanceof TlsError);
          assert.equal((error.errors[0] as TlsError).side, "server");
          assert.equal(
            error.message,
            `TLS to "${server.url}" failed: the API server's certificate did not verify against the system ` +
              "roots: UnknownIssuer",
          );
          return true;
        });
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await certs.dispose();
  }
});

Deno.test("createKubeClient() classifies connection failures on the insecure-skip-tls-verify path", async () => {
  const dead = refusedUrl().replace("http:", "https:");
  const closing = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of closing) conn.close();
  })();
  const closingUrl = `https://127.0.0.1:${(closing.addr as Deno.NetAddr).port}`;
  const certs = await testCerts();
  try {
    const insecure = plainConnection([dead, closingUrl], { insecureSkipTlsVerify: true });
    await withClient(createKubeClient(insecure), async (client) => {
      await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
        assert.ok(error instanceof Unavailable);
        const [refused, cut] = error.errors;
        assert.ok(refused instanceof ConnectError, errorText(refused));
        assert.equal(refused.message, `Cannot connect to "${dead}": connect ECONNREFUSED ${dead.slice(8)}`);
        assert.ok(cut instanceof TlsError, errorText(cut));
        assert.match(
          cut.message,
          /^TLS to "https:\/\/127\.0\.0\.1:\d+" failed: .*before secure TLS connection/,
        );
        return true;
      });
    });
    // with a client certificate, a connection closed in the handshake is taken as its rejection (as for fetch)
    const alice = await certs.client("alice", ["ops"]);
    const withCert = plainConnection([closingUrl], {
      insecureSkipTlsVerify: true,
      clientCert: { cert: alice.cert, key: alice.key, source: "test", subject: "CN=alice,O=ops" },
    });
    await withClient(createKubeClient(withCert), async (client) => {
      await assert.rejects(client.getJson("/api/v1/endpoints", {}, LIST), (error: Error) => {
        assert.ok(error instanceof Unavailable && error.errors[0] instanceof TlsError);
        assert.equal((error.errors[0] as TlsError).side, "client");
        assert.match(
          error.message,
          /the API server rejected the client certificate "CN=alice,O=ops" \(test\)/,
        );
        return true;
      });
    });
  } finally {
    closing.close();
    await accepting.catch(() => {});
    await certs.dispose();
  }
});

Deno.test("createKubeClient() logs each warning the API server sends once (e.g. Endpoints deprecated in 1.33+)", async () => {
  const warning = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"';
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(
        '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":[]}\n',
        {
          headers: { "content-type": "application/json", warning },
        },
      ),
  );
  const log = memoryLogger();
  try {
    await withClient(
      createKubeClient(plainConnection([`http://127.0.0.1:${server.addr.port}`]), { log }),
      async (client) => {
        for (let i = 0; i < 3; i++) {
          await client.getJson("/api/v1/endpoints", {}, LIST);
        }
      },
    );
    const warnings = log.lines.filter((l) => l.msg === "API server warning");
    assert.equal(warnings.length, 1);
    assert.equal(
      warnings[0]?.warning,
      "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
    );
  } finally {
    await server.shutdown();
  }
});
