/**
 * The default templates with TLS termination: path routes behind the TLS frontend, one SNI, TLS-map,
 * redirect-map and crt-list entry per host, the same text from the incremental generator, and
 * `haproxy -c` in every combination (TLS off, strict SNI, a default certificate; paths and redirects on
 * and off).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import type { HostTls } from "../../lib/model/tls.ts";
import { createGenerator, generate, type Generated } from "../../lib/render/generate.ts";
import { compileTemplates, defaultTemplates, type TlsFrontend } from "../../lib/render/render.ts";
import { stageSet } from "../../lib/apply/file_set.ts";
import { endpointSet } from "../support/fixtures.ts";
import { installed, run } from "../support/process.ts";
import { tlsCerts } from "../support/tls_certs.ts";

const listen = { http: "127.0.0.1:18080", https: "127.0.0.1:18443", tcp: "127.0.0.1" };

function terminated(name: string, annotations: Record<string, string>, redirect: boolean): EndpointSet {
  const tls: HostTls = {
    secret: `default/${annotations["haconfd.io/tls-secret"]}`,
    redirect,
    mode: "terminate",
    reason: null,
    warning: null,
    file: `default__${annotations["haconfd.io/tls-secret"]}.pem`,
    certificate: null,
  };
  return { ...endpointSet(name, annotations), tls } as EndpointSet;
}

/** shop.test: / (web) and /api (api), terminated, redirecting; only.test: /api alone; plain.test: HTTP. */
function cluster(redirect: boolean, paths: boolean): EndpointSet[] {
  const shop = { domain: "shop.test", proto: "http", "haconfd.io/tls-secret": "shop" };
  const flag = { "haconfd.io/redirect-https": String(redirect) };
  const only = {
    domain: "only.test",
    proto: "http",
    "haconfd.io/tls-secret": "only",
    "haconfd.io/path": "/api",
  };
  return [
    terminated("web", { ...shop, ...flag }, redirect),
    ...(paths
      ? [
        terminated("api", { ...shop, ...flag, "haconfd.io/path": "/api" }, redirect),
        terminated("only", only, false),
      ]
      : []),
    endpointSet("plain", { domain: "plain.test", proto: "http" }),
  ];
}

function mapLines(generated: Generated, name: string): string[] {
  const text = generated.maps?.find((m) => m.name === name)?.text ?? "";
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

function frontend(dir: string, defaultCertificate: string | null): TlsFrontend {
  return { enabled: true, socket: `unix@${dir}/tls.sock`, crtList: `${dir}/crt-list`, defaultCertificate };
}

Deno.test("default templates route a terminated host's paths behind TLS and keep one SNI, TLS, redirect entry per host", () => {
  const renderer = compileTemplates(defaultTemplates(), { mapDir: "/m" });
  const sets = cluster(true, true);
  const generated = generate(sets, renderer, listen, undefined, [], frontend("/c", null));
  const { domains } = generated.model;
  const web = domains["shop.test"]!.id, api = domains["shop.test/api"]!.id;
  assert.deepEqual(mapLines(generated, "haconfd-tls.map"), ["only.test no_route", `shop.test ${web}`]);
  assert.deepEqual(mapLines(generated, "haconfd-sni.map"), [
    "only.test tls_terminate",
    "shop.test tls_terminate",
  ]);
  assert.deepEqual(mapLines(generated, "haconfd-redirect.map"), ["shop.test https"]);
  const rule = `http-request set-var(txn.haconfd_path_route) str(be_${api})`;
  assert.equal(generated.text.split(rule).length - 1, 2, "the /api rule in the HTTP and the TLS frontend");
  const tlsFrontend = generated.text.slice(generated.text.indexOf("frontend https-terminate"));
  assert.ok(tlsFrontend.indexOf(rule) < tlsFrontend.indexOf("use_backend %[var(txn.haconfd_path_route)]"));
  assert.match(
    tlsFrontend,
    /use_backend %\[var\(txn\.haconfd_path_route\)\] if \{ var\(txn\.haconfd_path_route\) -m found \} \{ req\.hdr\(host\),host_only,lower,map_str\(\/m\/haconfd-tls\.map\) -m found \}/,
  );
  assert.match(
    generated.text,
    /http-request redirect scheme https code 308 if \{ req\.hdr\(host\),host_only,lower,map_str\(\/m\/haconfd-redirect\.map\) -m found \} !\{ path_beg \/\.well-known\/acme-challenge\/ \}/,
  );
  assert.doesNotMatch(
    generated.text,
    /-i shop\.test \}.*redirect|redirect.*-i shop\.test/,
    "no rule per host",
  );
  const next = createGenerator(renderer, listen, undefined, [], frontend("/c", null));
  const incremental = next({ snapshot: () => sets });
  assert.equal(incremental.incremental, true, "the TLS templates keep the partials convention");
  assert.equal(incremental.text, generated.text);
  const off = createGenerator(renderer, listen)({ snapshot: () => sets });
  assert.equal(off.incremental, true, "without --tls too");
  assert.doesNotMatch(off.text, /https-terminate|redirect scheme/);
});

Deno.test("createGenerator() moves a host's SNI, TLS and redirect entries to its new lead as its / route comes and goes", () => {
  const renderer = compileTemplates(defaultTemplates(), { mapDir: "/m" });
  const tls = frontend("/c", null);
  const next = createGenerator(renderer, listen, undefined, [], tls);
  const [web, api] = cluster(true, true);
  for (const sets of [[api!], [api!, web!], [web!], [api!]]) {
    const step = next({ snapshot: () => sets });
    const full = generate(sets, renderer, listen, undefined, [], tls);
    const names = sets.map((s) => s.name).join("+");
    assert.equal(step.text, full.text, names);
    for (const map of ["haconfd-tls.map", "haconfd-sni.map", "haconfd-redirect.map"]) {
      assert.deepEqual(mapLines(step, map), mapLines(full, map), `${names}: ${map}`);
      assert.equal(mapLines(step, map).length, 1, `${names}: one ${map} entry for shop.test`);
    }
  }
});

Deno.test({
  name: "default templates with TLS termination pass haproxy -c in every combination",
  ignore: !installed("haproxy"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-tls-render-" });
    try {
      const certs = await tlsCerts();
      const shop = await certs.leaf("shop", ["shop.test"]);
      const only = await certs.leaf("only", ["only.test"]);
      await Deno.writeTextFile(join(dir, "default__shop.pem"), shop.cert + shop.key);
      await Deno.writeTextFile(join(dir, "default__only.pem"), only.cert + only.key);
      await Deno.writeTextFile(join(dir, "default.pem"), shop.cert + shop.key);
      await Deno.writeTextFile(
        join(dir, "crt-list"),
        `${dir}/default__only.pem only.test\n${dir}/default__shop.pem shop.test\n`,
      );
      const renderer = compileTemplates(defaultTemplates(), { mapDir: join(dir, "maps") });
      await Deno.mkdir(join(dir, "maps"));
      for (const tls of [undefined, frontend(dir, null), frontend(dir, join(dir, "default.pem"))]) {
        for (const [redirect, paths] of [[false, false], [true, false], [false, true], [true, true]]) {
          const generated = generate(cluster(redirect!, paths!), renderer, listen, undefined, [], tls);
          const staged = await stageSet(
            join(dir, "maps", "haproxy.cfg"),
            generated.text,
            generated.maps ?? [],
          );
          const out = await run("haproxy", ["-c", "-f", staged.checkPath]);
          assert.equal(
            out.code,
            0,
            `tls ${tls?.defaultCertificate}, redirect ${redirect}, paths ${paths}: ${out.stdout}${out.stderr}`,
          );
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
