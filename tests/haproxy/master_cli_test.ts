import assert from "node:assert/strict";
import { join } from "node:path";
import { formatMasterAddress, masterCommand } from "../../lib/haproxy/master_cli.ts";
import type { MasterAddress } from "../../lib/settings/values.ts";

/** How the fake master answers one request: the chunks to write, or `hold` to keep the connection open. */
type Answer = (string | Uint8Array)[] | "hold";

/** Reads a connection until the peer half-closes it. */
async function readAll(conn: Deno.Conn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(1024);
  let text = "";
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += decoder.decode(buffer.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}

/**
 * A fake master CLI on 127.0.0.1 (or a unix socket): like HAProxy's, it reads until the client half-closes
 * its write side, then writes its answer chunk by chunk and closes.
 */
async function withFakeMaster(
  transport: "tcp" | "unix",
  answer: (request: string) => Answer,
  fn: (address: MasterAddress, requests: string[], received: Promise<void>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-master-cli-" });
  const listener = transport === "unix"
    ? Deno.listen({ transport: "unix", path: join(dir, "master.sock") })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address: MasterAddress = transport === "unix"
    ? { transport: "unix", path: join(dir, "master.sock") }
    : { transport: "tcp", hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port };
  const requests: string[] = [];
  const held: Deno.Conn[] = [];
  const { promise: received, resolve } = Promise.withResolvers<void>();
  const serving = (async () => {
    for await (const conn of listener) {
      const request = await readAll(conn).catch(() => "");
      requests.push(request);
      resolve();
      const reply = answer(request);
      if (reply === "hold") {
        held.push(conn);
        continue;
      }
      for (const chunk of reply) {
        await conn.write(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk).catch(() => 0);
      }
      conn.close();
    }
  })();
  try {
    await fn(address, requests, received);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await serving.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("formatMasterAddress() writes a path or host:port", () => {
  const cases: [MasterAddress, string][] = [
    [{ transport: "unix", path: "/run/haproxy-master.sock" }, "/run/haproxy-master.sock"],
    [{ transport: "tcp", hostname: "127.0.0.1", port: 9999 }, "127.0.0.1:9999"],
    [{ transport: "tcp", hostname: "localhost", port: 1 }, "localhost:1"],
  ];
  for (const [address, text] of cases) assert.equal(formatMasterAddress(address), text);
});

Deno.test("masterCommand() sends one line, half-closes, and returns the whole answer over TCP and unix", async () => {
  for (const transport of ["tcp", "unix"] as const) {
    await withFakeMaster(transport, (request) => [`you said ${JSON.stringify(request)}\n`, "bye\n"], async (
      address,
      requests,
    ) => {
      assert.equal(await masterCommand(address, "show proc"), 'you said "show proc\\n"\nbye\n', transport);
      assert.deepEqual(requests, ["show proc\n"], transport);
    });
  }
});

Deno.test("masterCommand() decodes UTF-8 split across chunks and answers empty when the master says nothing", async () => {
  const bytes = new TextEncoder().encode("é€\n");
  let reply: Answer = [];
  await withFakeMaster("tcp", () => reply, async (address) => {
    reply = [];
    assert.equal(await masterCommand(address, "reload"), "");
    reply = ["x".repeat(40_000), bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)];
    const long = await masterCommand(address, "show info");
    assert.equal(long.length, 40_003);
    assert.ok(long.endsWith("é€\n"));
  });
});

Deno.test("masterCommand() names the command and the socket when nothing listens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-master-cli-" });
  try {
    const path = join(dir, "missing.sock");
    await assert.rejects(
      masterCommand({ transport: "unix", path }, "show proc"),
      (error: unknown) =>
        error instanceof Error &&
        error.message === `Cannot send "show proc" to master socket "${path}": failed` &&
        error.cause instanceof Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("masterCommand() gives up on a master that never answers, saying how long it waited", async () => {
  await withFakeMaster("tcp", () => "hold", async (address) => {
    await assert.rejects(
      masterCommand(address, "reload", { timeoutMs: 50 }),
      (error: unknown) =>
        error instanceof Error &&
        error.message ===
          `Cannot send "reload" to master socket "127.0.0.1:${
            address.transport === "tcp" ? address.port : 0
          }": no answer within 50 ms`,
    );
  });
});

Deno.test("masterCommand() closes the connection when its signal aborts, and refuses an aborted signal", async () => {
  await withFakeMaster("tcp", () => "hold", async (address, requests, received) => {
    const controller = new AbortController();
    const pending = masterCommand(address, "show proc", { signal: controller.signal });
    await received;
    controller.abort();
    await assert.rejects(pending, /Cannot send "show proc" to master socket "127\.0\.0\.1:\d+": aborted/);
    await assert.rejects(
      masterCommand(address, "show proc", { signal: controller.signal }),
      (error: unknown) => {
        return error instanceof DOMException && error.name === "AbortError";
      },
    );
    assert.equal(requests.length, 1);
  });
});
