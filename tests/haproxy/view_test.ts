import assert from "node:assert/strict";
import {
  HaproxyViewReader,
  parseBackendRows,
  parseShowStat,
  type ServerRow,
} from "../../lib/haproxy/view.ts";
import { masterCommand } from "../../lib/haproxy/master_cli.ts";
import {
  answeringConfig,
  freePort,
  haproxyAvailable,
  type HaproxyInstance,
  startHaproxy,
  waitFor,
} from "../support/haproxy.ts";

const CSV = await Deno.readTextFile(new URL("./fixtures/show_stat_2.6.csv", import.meta.url));

/** The straightforward reading: every line split into all its fields. */
function splitAll(csv: string) {
  const lines = csv.split("\n").filter((line) => line.trim() !== "");
  const header = lines.shift()!.replace(/^#\s*/, "").split(",");
  const col = (name: string) => header.indexOf(name);
  const out: Record<string, { server: string; address: string; status: string }[]> = {};
  for (const line of lines) {
    const f = line.split(",");
    const server = f[col("svname")] ?? "";
    if (server === "FRONTEND" || server === "BACKEND") continue;
    (out[f[col("pxname")] ?? ""] ??= []).push({
      server,
      address: f[col("addr")] ?? "",
      status: f[col("status")] ?? "",
    });
  }
  return out;
}

Deno.test("parseShowStat() reads HAProxy 2.6's show stat: servers per backend with address and status", () => {
  assert.deepEqual(parseShowStat(CSV), {
    be_a: [
      { server: "a1", address: "127.0.0.1:19556", status: "DOWN" },
      { server: "a2", address: "127.0.0.1:19557", status: "no check" },
    ],
    be_b: [{ server: "b1", address: "127.0.0.1:19558", status: "MAINT" }],
  });
  assert.deepEqual(parseShowStat(CSV), splitAll(CSV));
});

Deno.test("parseShowStat() gives what splitting every field gives, for many servers and without a final newline", () => {
  const [header, ...rest] = CSV.split("\n");
  const server = rest.find((line) => line.startsWith("be_a,a1,"))!;
  const many = Array.from({ length: 500 }, (_, i) => server.replace("be_a,a1,", `be_${i % 7},s${i},`));
  const csv = [header, ...many].join("\n");
  assert.deepEqual(parseShowStat(csv), splitAll(csv));
  assert.equal(Object.values(parseShowStat(csv)).flat().length, 500);
});

Deno.test("parseShowStat() refuses text without the header line", () => {
  assert.throws(() => parseShowStat("be_a,a1,DOWN\n"), /no header line/);
});

/** A config with every kind of server state: down (failed check), drained (weight 0), maintenance, backup. */
function stateConfig(port: number, closed: number): string {
  return `${answeringConfig(port)}
backend be_a
  mode http
  server a1 127.0.0.1:${closed} check inter 100ms fall 1
  server a2 127.0.0.1:${port} weight 0
  server a3 127.0.0.1:${port} disabled
  server a4 127.0.0.1:${port}
  server a5 127.0.0.1:${port} backup

listen tcp_b
  mode tcp
  bind 127.0.0.1:${freePort()}
  server b1 127.0.0.1:${port}
`;
}

/** A reader over `haproxy`'s master socket that records every command it sends. */
function recordingReader(haproxy: HaproxyInstance, sent: string[]): HaproxyViewReader {
  const address = { transport: "unix", path: haproxy.masterSocket } as const;
  return new HaproxyViewReader((command) => {
    sent.push(command);
    return masterCommand(address, command);
  });
}

/** Every server of `haproxy`, read the old way (all servers), for comparison. */
async function allServers(haproxy: HaproxyInstance): Promise<Record<string, ServerRow[]>> {
  return parseShowStat(
    await masterCommand({ transport: "unix", path: haproxy.masterSocket }, "@1 show stat"),
  );
}

/** Servers that take traffic as HAProxy's server rows say: not DOWN, not MAINT, weight above 0. */
async function takingTraffic(haproxy: HaproxyInstance, backend: string): Promise<number> {
  const csv = await masterCommand(
    { transport: "unix", path: haproxy.masterSocket },
    `@1 show stat ${backend} 4 -1`,
  );
  const header = csv.split("\n")[0]!.replace(/^#\s*/, "").split(",");
  const rows = csv.split("\n").slice(1).filter((l) => l !== "").map((l) => l.split(","));
  const [status, weight] = [header.indexOf("status"), header.indexOf("weight")];
  return rows.filter((r) => !/^(DOWN|MAINT)/.test(r[status]!) && Number(r[weight]) > 0).length;
}

/** HAProxy with {@linkcode stateConfig}, once its failed check has put a1 DOWN (the states then hold). */
async function startStates(): Promise<HaproxyInstance> {
  const port = freePort();
  const haproxy = await startHaproxy(stateConfig(port, freePort()), { waitFor: [port] });
  try {
    await waitFor(async () => (await allServers(haproxy)).be_a?.[0]?.status.startsWith("DOWN"), {
      what: "a1 DOWN after its failed check",
    });
    return haproxy;
  } catch (error) {
    await haproxy.stop();
    throw error;
  }
}

Deno.test({
  name: "HaproxyViewReader.view() asks real HAProxy for the backend rows only; the figures match its servers",
  ignore: !haproxyAvailable(),
  async fn() {
    await using haproxy = await startStates();
    const sent: string[] = [];
    const view = await recordingReader(haproxy, sent).view();
    assert.equal(view.error, null);
    assert.deepEqual(sent, ["show proc", "@1 show stat -1 2 -1"]);
    assert.deepEqual(view.processes.map((p) => p.role), ["master", "worker"]);
    assert.deepEqual(view.backends, {
      be_a: { status: "UP", usable: 2 },
      tcp_b: { status: "UP", usable: 1 },
    });
    assert.equal(view.backends.be_a!.usable, await takingTraffic(haproxy, "be_a"));
    assert.equal(view.backends.tcp_b!.usable, await takingTraffic(haproxy, "tcp_b"));
  },
});

Deno.test({
  name: "HaproxyViewReader.servers() asks real HAProxy for one backend's servers, trying the names in order",
  ignore: !haproxyAvailable(),
  async fn() {
    await using haproxy = await startStates();
    const sent: string[] = [];
    const reader = recordingReader(haproxy, sent);
    const read = await reader.servers(["be_nope", "be_a", "tcp_b"]);
    assert.deepEqual(sent, ["@1 show stat be_nope 4 -1", "@1 show stat be_a 4 -1"]);
    assert.equal(read.backend, "be_a");
    assert.equal(read.error, null);
    assert.deepEqual(read.servers, (await allServers(haproxy)).be_a);
    assert.deepEqual(read.servers.map((s) => s.server), ["a1", "a2", "a3", "a4", "a5"]);
    assert.equal(read.servers[2]!.status, "MAINT");

    sent.length = 0;
    const none = await reader.servers(["be_nope"]);
    assert.deepEqual(
      [none.backend, none.servers, none.error],
      [null, [], null],
      "no such backend: no servers",
    );
    const bad = await reader.servers(["be_a; shutdown sessions"]);
    assert.equal(bad.error, 'Invalid backend name "be_a; shutdown sessions"');
    assert.deepEqual(sent, ["@1 show stat be_nope 4 -1"], "a bad name is never sent");
  },
});

Deno.test("HaproxyViewReader turns a failing socket into an error in the view, never a throw", async () => {
  const reader = new HaproxyViewReader(() => Promise.reject(new Error("Cannot connect: ENOENT")), () => 7);
  assert.deepEqual(await reader.view(), {
    processes: [],
    backends: {},
    readAt: 7,
    error: "Cannot connect: ENOENT",
  });
  assert.deepEqual(await reader.servers(["be_a"]), {
    backend: null,
    servers: [],
    readAt: 7,
    error: "Cannot connect: ENOENT",
  });
});

Deno.test("parseBackendRows() keeps the BACKEND rows: status and act + bck", () => {
  assert.deepEqual(parseBackendRows(CSV), {
    be_a: { status: "UP", usable: 1 },
    be_b: { status: "DOWN", usable: 0 },
  });
});
