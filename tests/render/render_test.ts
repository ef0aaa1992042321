import assert from "node:assert/strict";
import { generate, type MapFile } from "../../lib/render/generate.ts";
import { stageSet } from "../../lib/apply/file_set.ts";
import {
  compileTemplates,
  defaultTemplates,
  loadTemplateDir,
  TemplateError,
} from "../../lib/render/render.ts";
import { DEFAULT_TEMPLATES } from "../../templates/mod.ts";
import { endpointSet } from "../support/fixtures.ts";
import { installed, run } from "../support/process.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };
const noUser = { user: null, group: null };

/** `haproxy -c` of a generated config with the map files it names (staged as the applier stages them). */
async function haproxyCheck(
  { text, maps = [] }: { text: string; maps?: readonly MapFile[] },
): Promise<{ ok: boolean; output: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const staged = await stageSet(`${dir}/haproxy.cfg`, text, maps);
    const out = await run("haproxy", ["-c", "-f", staged.checkPath]);
    return { ok: out.code === 0, output: out.stdout + out.stderr };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sets = [
  endpointSet("grafana", { domain: "grafana.example.test", proto: "http" }, ["10.0.0.2", "10.0.0.1"], {
    ports: [{ name: "http", port: 3000 }],
  }),
  endpointSet("dashboard", { domain: "dashboard.example.test", proto: "https" }, ["10.0.1.1"], {
    ports: [{ name: "", port: 8443 }],
  }),
  endpointSet("redis", { domain: "redis.example.test", proto: "redis" }, ["10.0.2.1"], {
    ports: [{ name: "redis", port: 6379 }],
  }),
  endpointSet("v6", { domain: "v6.example.test", proto: "http" }, ["2001:db8::7"]),
  endpointSet("v6ip", { domain: "2001:db8::5", proto: "http" }, ["10.0.5.1"]),
];

Deno.test("templates/mod.ts embeds every file of templates/", async () => {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL("../../templates/", import.meta.url))) {
    if (entry.name.endsWith(".eta") || entry.name.endsWith(".conf")) files.push(entry.name);
  }
  assert.deepEqual(Object.keys(DEFAULT_TEMPLATES).sort(), files.sort());
});

Deno.test("renderer: default templates route each proto to its backend through the map files", () => {
  const { text, maps = [] } = generate(sets, compileTemplates(defaultTemplates(), { mapDir: "/m" }), listen);
  const entries = (name: string) =>
    maps.find((m) => m.name === name)!.text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => l.split(" "));
  const routes = entries("haconfd-hosts.map");
  assert.deepEqual(routes.map((r) => r[0]), ["[2001:db8::5]", "grafana.example.test", "v6.example.test"]);
  const grafana = routes[1]![1]!;
  assert.match(
    text,
    new RegExp(
      `backend be_${grafana}\\n    mode http\\n    balance roundrobin\\n` +
        `    server 10\\.0\\.0\\.1 10\\.0\\.0\\.1:3000 check\\n    server 10\\.0\\.0\\.2 10\\.0\\.0\\.2:3000 check\\n`,
    ),
  );
  assert.match(
    text,
    /use_backend be_%\[req\.hdr\(host\),host_only,lower,map_str\(\/m\/haconfd-hosts\.map,no_route\)\]/,
  );
  assert.match(text, /use_backend be_%\[req\.ssl_sni,lower,map_str\(\/m\/haconfd-sni\.map,no_route_tls\)\]/);
  const [sni] = entries("haconfd-sni.map");
  assert.equal(sni![0], "dashboard.example.test");
  assert.match(text, new RegExp(`backend be_${sni![1]}\\n    mode tcp\\n`));
  assert.doesNotMatch(text, /req\.hdr\(host\),host_only -i|req\.ssl_sni -i/, "no rule per host");
  assert.match(text, /server 10\.0\.1\.1 10\.0\.1\.1:8443 check/);
  assert.match(text, /listen tcp_redis_example_test_\w+\n {4}bind \*:6379\n/);
  assert.match(text, /server 2001_db8_7 \[2001:db8::7\]:8080 check/);
  assert.match(text, /bind \*:80\n/);
  assert.match(text, /bind \*:443\n/);
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
  assert.doesNotMatch(text, /reqadd|rspadd|reqrep/);
});

Deno.test("renderer: output is byte-identical across runs and input orders", () => {
  const renderer = compileTemplates(defaultTemplates());
  const a = generate(sets, renderer, listen).text;
  const b = generate([...sets].reverse(), compileTemplates(defaultTemplates()), listen).text;
  assert.equal(a, b);
  assert.doesNotMatch(a, /\d{4}-\d{2}-\d{2}T/);
});

Deno.test({
  name: "renderer: default templates pass haproxy -c, with domains and with none",
  ignore: !installed("haproxy"),
  async fn() {
    const renderer = compileTemplates(defaultTemplates());
    for (const input of [sets, []]) {
      const generated = generate(input, renderer, {
        http: "127.0.0.1:18080",
        https: "127.0.0.1:18443",
        tcp: "127.0.0.1",
      });
      const result = await haproxyCheck(generated);
      assert.ok(result.ok, result.output);
    }
  },
});

Deno.test({
  name: "renderer: --haproxy-user puts user and group into the global section (and haproxy -c accepts it)",
  ignore: !installed("haproxy"),
  async fn() {
    const generated = generate(sets, compileTemplates(defaultTemplates()), listen, {
      user: "nobody",
      group: "nogroup",
    });
    const { text } = generated;
    assert.match(text, /^global\n(?: {4}.*\n)*? {4}user nobody\n {4}group nogroup\n/m);
    assert.doesNotMatch(generate(sets, compileTemplates(defaultTemplates()), listen).text, /^ {4}user /m);
    const result = await haproxyCheck(generated);
    assert.ok(result.ok, result.output);
  },
});

Deno.test("renderer: *.conf files are copied as is, everything in file-name order", () => {
  const renderer = compileTemplates([
    { name: "01-a.conf", origin: "t/01-a.conf", source: "# static <%= not rendered %>\n\n\n\n# kept   \n" },
    { name: "02-b.eta", origin: "t/02-b.eta", source: "# <%= Object.keys(it.domains).length %> domains\n" },
  ]);
  assert.equal(
    renderer.render({ domains: {}, listen, haproxy: noUser, meta: { generatedBy: "t", version: "0" } }),
    "# static <%= not rendered %>\n\n\n\n# kept   \n\n# 0 domains\n",
  );
});

Deno.test("compileTemplates() renders partials (_*.eta) only where a template includes them", () => {
  const renderer = compileTemplates([
    { name: "10-a.eta", origin: "t/10-a.eta", source: `a <%~ include("_b.eta", { x: 1 }) %>\n` },
    { name: "_b.eta", origin: "t/_b.eta", source: "b<%= it.x %> of <%= it.meta.generatedBy %>" },
    { name: "_c.eta", origin: "t/_c.eta", source: "never rendered on its own\n" },
  ]);
  assert.equal(
    renderer.render({ domains: {}, listen, haproxy: noUser, meta: { generatedBy: "t", version: "0" } }),
    "a b1 of t\n",
  );
  assert.deepEqual(renderer.frames.map((f) => f.file.name), ["10-a.eta"]);
});

Deno.test("compileTemplates() names the template whose per-domain loop includes a missing partial", () => {
  const source = `<% for (const [domain, d] of Object.entries(it.domains)) { -%>\n` +
    `<%~ include("_gone.eta", { domain, d }) -%>\n<% } -%>\n`;
  assert.throws(
    () => compileTemplates([{ name: "10-a.eta", origin: "t/10-a.eta", source }]),
    /Cannot render template "t\/10-a\.eta": it includes partial "_gone\.eta", which is not there/,
  );
});

Deno.test("Renderer.render() names the partial that fails at run time, and its line", () => {
  const renderer = compileTemplates([
    { name: "10-a.eta", origin: "t/10-a.eta", source: `a\n<%~ include("_b.eta") %>\n` },
    { name: "_b.eta", origin: "t/_b.eta", source: "b\n\n<%= it.nope.deeper %>\n" },
  ]);
  assert.throws(
    () => renderer.render({ domains: {}, listen, haproxy: noUser, meta: { generatedBy: "t", version: "0" } }),
    (error: unknown) => {
      assert.ok(error instanceof TemplateError, String(error));
      assert.equal(error.file, "t/_b.eta");
      assert.equal(error.line, 3, error.message);
      return true;
    },
  );
});

Deno.test("compileTemplates() names the file and line of a template syntax error", () => {
  const bad = [
    { source: "ok\n<% if (true) { %>\nline 3\n<%= it.x \nmore", line: 4, detail: /unclosed tag/ },
    { source: "a\nb\n<% for (const x of [1] { %>\n<% } %>\n", line: 3, detail: /./ },
  ];
  for (const { source, line, detail } of bad) {
    assert.throws(
      () => compileTemplates([{ name: "10-x.eta", origin: "/etc/haconfd/10-x.eta", source }]),
      (error: unknown) => {
        assert.ok(error instanceof TemplateError);
        assert.equal(error.file, "/etc/haconfd/10-x.eta");
        assert.equal(error.line, line, error.message);
        assert.match(error.message, /^Cannot render template "\/etc\/haconfd\/10-x\.eta" line \d+: /);
        assert.match(error.message, detail);
        return true;
      },
    );
  }
});

Deno.test("Renderer.render() names the file of a template that fails at run time", () => {
  const renderer = compileTemplates([{
    name: "x.eta",
    origin: "tpl/x.eta",
    source: "a\n<%= it.nope.deeper %>\n",
  }]);
  assert.throws(
    () => renderer.render({ domains: {}, listen, haproxy: noUser, meta: { generatedBy: "t", version: "0" } }),
    (error: unknown) =>
      error instanceof TemplateError && /tpl\/x\.eta/.test(error.message) && error.line === 2,
  );
});

Deno.test("loadTemplateDir() reads *.eta and *.conf sorted, rejects an empty directory and pyconfd's *.tmpl", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(loadTemplateDir(dir), /has no \*\.eta or \*\.conf file/);
    await Deno.writeTextFile(`${dir}/_part.eta`, "p");
    await assert.rejects(loadTemplateDir(dir), /has no \*\.eta or \*\.conf file besides partials/);
    await Deno.writeTextFile(`${dir}/20-b.eta`, "b");
    await Deno.writeTextFile(`${dir}/10-a.conf`, "a");
    await Deno.writeTextFile(`${dir}/README`, "ignored");
    assert.deepEqual((await loadTemplateDir(dir)).map((f) => f.name), ["10-a.conf", "20-b.eta", "_part.eta"]);
    await Deno.writeTextFile(`${dir}/02-http.tmpl`, "{% for d in domains %}");
    await assert.rejects(
      loadTemplateDir(dir),
      /has pyconfd's Jinja templates \(02-http\.tmpl\).*port them to \*\.eta/,
    );
    await assert.rejects(loadTemplateDir(`${dir}/missing`), /Cannot read template directory ".*missing"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
