// deno-lint-ignore-file no-console -- a benchmark prints its figures
/**
 * Requests per second through HAProxy by Host (HTTP) and connections per second by SNI (TLS
 * passthrough), for the first, the last and an unknown name of 100 or 8,000, routed through the map
 * files of the default templates and by one rule per host (the templates before maps, bench/rules/).
 * The backends are a frontend of the same HAProxy answering 200 itself (127.0.0.2, and 127.0.0.3 with
 * TLS), so the figures are HAProxy's routing cost; HAProxy's floor is that frontend asked directly.
 * HTTP load: `ab -k -c 16` (Debian's apache2-utils); TLS: a Deno loop of new handshakes with SNI (8 at a
 * time: the client's handshakes, not HAProxy, bound that rate). Each figure is the best of two runs.
 *
 * `tools/deno task bench routing [seconds]`
 *
 * @module
 */
import { connect } from "node:tls";
import { join } from "node:path";
import type { EndpointSet } from "../lib/model/endpoints.ts";
import { generate } from "../lib/render/generate.ts";
import { compileTemplates, defaultTemplates, type TemplateFile } from "../lib/render/render.ts";
import { freePort, startHaproxy } from "../tests/support/haproxy.ts";

const RULES_DIR = new URL("./rules/", import.meta.url);

/** The default templates with the one-rule-per-host frontends of before (bench/rules/), without maps. */
async function ruleTemplates(): Promise<TemplateFile[]> {
  const old = new Map<string, string>();
  for await (const entry of Deno.readDir(RULES_DIR)) {
    old.set(entry.name, await Deno.readTextFile(new URL(entry.name, RULES_DIR)));
  }
  const files = defaultTemplates().filter((f) =>
    !f.name.endsWith(".map.eta") && !/_https?-map\.eta$/.test(f.name)
  )
    .map((f) => ({ ...f, source: old.get(f.name) ?? f.source }));
  for (const [name, source] of old) {
    if (!files.some((f) => f.name === name)) files.push({ name, origin: `bench/rules/${name}`, source });
  }
  return files.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function hostSets(n: number, proto: string, port: number): EndpointSet[] {
  return Array.from({ length: n }, (_, i) => ({
    namespace: "bench",
    name: `h${i}`,
    created: "2026-01-01T00:00:00Z",
    annotations: { domain: `h${i}.bench.test`, proto },
    groups: [{
      ports: [{ name: "web", port }],
      addresses: [{ ip: proto === "http" ? "127.0.0.2" : "127.0.0.3", ready: true }],
    }],
  }));
}

async function selfSigned(dir: string): Promise<string> {
  const pem = join(dir, "stub.pem");
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=bench",
      "-days",
      "1",
      "-keyout",
      join(dir, "k.pem"),
      "-out",
      join(dir, "c.pem"),
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
  await Deno.writeTextFile(
    pem,
    (await Deno.readTextFile(join(dir, "c.pem"))) + (await Deno.readTextFile(join(dir, "k.pem"))),
  );
  return pem;
}

/** `ab -k -c 16` for `seconds` against `port` with `host`: requests per second. */
async function abRate(port: number, host: string, seconds: number, hostname = "127.0.0.1"): Promise<number> {
  const out = await new Deno.Command("ab", {
    args: [
      "-q",
      "-k",
      "-c",
      "16",
      "-t",
      String(seconds),
      "-n",
      "10000000",
      "-H",
      `Host: ${host}`,
      `http://${hostname}:${port}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rate = /Requests per second:\s+([\d.]+)/.exec(text)?.[1];
  if (rate === undefined) throw new Error(`ab gave no rate: ${text}${new TextDecoder().decode(out.stderr)}`);
  return Number(rate);
}

/** New TLS connections per second with SNI `name` (8 at a time), each ended after its handshake and a request. */
async function tlsRate(port: number, name: string, seconds: number, hostname = "127.0.0.1"): Promise<number> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = connect({ host: hostname, port, servername: name, rejectUnauthorized: false }, () => {
        socket.end("GET / HTTP/1.0\r\n\r\n");
      });
      socket.on("data", () => {});
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
    });
  const started = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (performance.now() < until) {
      await one();
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

interface Case {
  label: string;
  proto: "http" | "https";
  hosts: number;
}

const CASES: Case[] = [
  { label: "100 HTTP hosts", proto: "http", hosts: 100 },
  { label: "8,000 HTTP hosts", proto: "http", hosts: 8000 },
  { label: "8,000 passthrough hosts", proto: "https", hosts: 8000 },
];

/** One config (maps or rules) of one case: the rate for the first, last and an unknown name. */
async function measure(c: Case, templates: TemplateFile[], seconds: number, dir: string, pem: string) {
  const [http, https, stub, stubTls] = [freePort(), freePort(), freePort("127.0.0.2"), freePort("127.0.0.3")];
  const sets = hostSets(c.hosts, c.proto, c.proto === "http" ? stub : stubTls);
  const renderer = compileTemplates(templates, { mapDir: dir });
  const generated = generate(sets, renderer, {
    http: `127.0.0.1:${http}`,
    https: `127.0.0.1:${https}`,
    tcp: "127.0.0.1",
  });
  const stubs =
    `\nfrontend stub\n    mode http\n    bind 127.0.0.2:${stub}\n    bind 127.0.0.3:${stubTls} ssl crt ${pem}\n` +
    `    http-request return status 200 content-type text/plain string ok\n`;
  const config = generated.text + stubs;
  const haproxy = await startHaproxy(config, {
    files: generated.maps ?? [],
    waitFor: [http, https],
    timeoutMs: 60_000,
  });
  try {
    // Sorted names: the rules (and the map) list h0 first and h9999… last.
    const names = sets.map((s) => String(s.annotations.domain)).sort();
    const once = (name: string) =>
      c.proto === "http" ? abRate(http, name, seconds) : tlsRate(https, name, seconds);
    // The best of two runs: the machine is shared, and other load only ever lowers a figure.
    const rate = async (name: string) => Math.max(await once(name), await once(name));
    await once(names[0]!); // warm-up
    const floor = c.proto === "http"
      ? await abRate(stub, "stub", seconds, "127.0.0.2")
      : await tlsRate(stubTls, "stub", seconds, "127.0.0.3");
    return {
      first: await rate(names[0]!),
      last: await rate(names.at(-1)!),
      unknown: await rate("unknown.bench.test"),
      floor,
    };
  } finally {
    await haproxy.stop();
  }
}

/** Runs the routing benchmark and prints a Markdown table. */
export async function routingBenchmark(args: string[]): Promise<void> {
  const seconds = Number(args[0] ?? "5");
  const dir = await Deno.makeTempDir({ prefix: "haconfd-bench-routing-" });
  try {
    const pem = await selfSigned(dir);
    const rules = await ruleTemplates();
    console.log("| case | routed by | first | last | unknown | HAProxy floor (stub direct) |");
    console.log("| --- | --- | ---: | ---: | ---: | ---: |");
    for (const c of CASES) {
      for (const [by, templates] of [["map", defaultTemplates()], ["rule per host", rules]] as const) {
        const r = await measure(c, templates, seconds, dir, pem);
        const f = (n: number) => Math.round(n).toLocaleString("en-US");
        const unit = c.proto === "http" ? "req/s" : "conn/s";
        console.log(
          `| ${c.label} | ${by} | ${f(r.first)} ${unit} | ${f(r.last)} | ${f(r.unknown)} | ${f(r.floor)} |`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
