/**
 * A helper process inside a network namespace, driven by the test over its stdin and stdout (pipes cross
 * namespaces; a test cannot enter one itself): the test Kubernetes API server and HTTP backends on the
 * namespace's addresses (the "cluster"), or a client sending requests in a loop (the "users"), each
 * request reported back as it ends.
 *
 * ```ts
 * await using cluster = await startAgent(clusterNs, 170);
 * await cluster.call({ op: "kube", hostname: "10.231.8.10", port: 6443, endpoints: [web], allow: ["10.231.8.11"] });
 * await cluster.call({ op: "backends", backends: [{ name: "web-1", hostname: "10.231.8.11", port: 8080 }] });
 * await cluster.call({ op: "upsert", object: web2 });
 * ```
 *
 * The agent ends when its stdin closes (the test ended or died) or after `maxSeconds`, whichever is first.
 *
 * @module
 */

import { z } from "zod";
import { type Backend, httpGet, startHttpBackend } from "../../lib/demo/backends.ts";
import { type KubeServer, startKubeServer } from "../../lib/demo/kube_server.ts";
import { localClusterAdmission } from "../../lib/demo/traffic_guard.ts";
import type { JsonObject } from "../../lib/demo/kube_objects.ts";
import { readLines } from "./daemon.ts";
import { terminate } from "./process.ts";

const jsonObject = z.record(z.string(), z.unknown()).transform((o) => o as JsonObject);

/** What the test can ask an agent to do. */
export const AgentCommand = z.discriminatedUnion("op", [
  /** Serve the test Kubernetes API (plain HTTP, no auth) on `hostname:port` with these Endpoints. */
  z.object({
    op: z.literal("kube"),
    hostname: z.string(),
    port: z.number(),
    endpoints: z.array(jsonObject),
    // The test namespaces' own addresses that endpoints may name (the traffic guard refuses any other).
    allow: z.array(z.string()),
  }),
  /** Create or replace an Endpoints object (a watch event). */
  z.object({ op: z.literal("upsert"), object: jsonObject }),
  /** Delete Endpoints objects, all in the same moment (one change for a watcher). */
  z.object({ op: z.literal("remove"), namespace: z.string(), names: z.array(z.string()) }),
  /** HTTP backends answering with their names (header `x-backend`). */
  z.object({
    op: z.literal("backends"),
    backends: z.array(z.object({ name: z.string(), hostname: z.string(), port: z.number() })),
  }),
  /** Send `GET /` with `Host: host` to `hostname:port` one after another, `pauseMs` apart, until "stop". */
  z.object({
    op: z.literal("client"),
    hostname: z.string(),
    port: z.number(),
    host: z.string(),
    pauseMs: z.number(),
    timeoutMs: z.number(),
  }),
  /** Stop the client loop (resolves once its last request ended). */
  z.object({ op: z.literal("stop") }),
]);

/** A command to an agent. */
export type AgentCommand = z.infer<typeof AgentCommand>;

/** One request of the client loop: when it started and ended (ms since the epoch), and how it went. */
export const RequestResult = z.object({
  start: z.number(),
  end: z.number(),
  ok: z.boolean(),
  /** The backend that answered (`x-backend`), or the error. */
  detail: z.string(),
});

/** One request of the client loop. */
export type RequestResult = z.infer<typeof RequestResult>;

const AgentLine = z.union([
  z.object({ id: z.number(), ok: z.boolean(), error: z.string().optional() }),
  z.object({ request: RequestResult }),
]);

// ------------------------------------------------------------------------------------- inside the namespace

function emit(value: unknown): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`${JSON.stringify(value)}\n`));
}

/** The agent's own state: what it started, stopped when its stdin closes. */
interface Running {
  kube?: KubeServer;
  backends: Backend[];
  client?: ClientLoop;
}

/** The client loop of an agent. */
interface ClientLoop {
  /** Ends the loop after the request in flight. */
  stop: () => void;
  /** Resolves once the loop has ended. */
  done: Promise<void>;
}

function clientLoop(command: Extract<AgentCommand, { op: "client" }>): ClientLoop {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const start = Date.now();
      try {
        const answer = await httpGet(command.port, command.host, "/", {
          hostname: command.hostname,
          timeoutMs: command.timeoutMs,
        });
        const ok = answer.status === 200;
        emit({
          request: { start, end: Date.now(), ok, detail: answer.headers["x-backend"] ?? `${answer.status}` },
        });
      } catch (error) {
        emit({ request: { start, end: Date.now(), ok: false, detail: (error as Error).message } });
      }
      await new Promise((r) => setTimeout(r, command.pauseMs));
    }
  })();
  return { stop: () => stopped = true, done };
}

async function perform(command: AgentCommand, running: Running): Promise<void> {
  switch (command.op) {
    case "kube":
      running.kube = await startKubeServer({
        hostname: command.hostname,
        port: command.port,
        objects: { endpoints: command.endpoints },
        admit: localClusterAdmission({ allow: command.allow }),
      });
      return;
    case "upsert":
      running.kube?.upsert("endpoints", command.object);
      return;
    case "remove":
      for (const name of command.names) running.kube?.remove("endpoints", command.namespace, name);
      return;
    case "backends":
      for (const b of command.backends) running.backends.push(await startHttpBackend(b.name, b));
      return;
    case "client":
      running.client = clientLoop(command);
      return;
    case "stop":
      running.client?.stop();
      await running.client?.done;
      return;
  }
}

async function agentMain(maxSeconds: number): Promise<void> {
  const running: Running = { backends: [] };
  const lifetime = setTimeout(() => Deno.exit(3), maxSeconds * 1000);
  await readLines(Deno.stdin.readable, async (line) => {
    const { id, ...rest } = JSON.parse(line) as { id: number };
    try {
      await perform(AgentCommand.parse(rest), running);
      emit({ id, ok: true });
    } catch (error) {
      emit({ id, ok: false, error: String(error) });
    }
  });
  running.client?.stop();
  await running.client?.done;
  await Promise.all(running.backends.map((b) => b.close()));
  await running.kube?.close();
  clearTimeout(lifetime);
}

if (import.meta.main) await agentMain(Number(Deno.args[0] ?? 60));

// ------------------------------------------------------------------------------------------- the test's side

/** A running agent, seen from the test. */
export interface Agent extends AsyncDisposable {
  /** Sends a command; resolves once the agent has done it, rejects with its error. */
  call(command: AgentCommand): Promise<void>;
  /** Every request the client loop reported so far. */
  requests(): RequestResult[];
  /** Everything the agent wrote to stderr so far. */
  stderr(): string;
  /** Closes its stdin and waits for it to end (SIGKILL after 10 s). */
  close(): Promise<void>;
}

/** Starts an agent inside network namespace `ns`, ending by itself after `maxSeconds` at the latest. */
export function startAgent(ns: string, maxSeconds: number): Agent {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      Deno.execPath(),
      "run",
      "--allow-all",
      import.meta.filename!,
      `${maxSeconds}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const pending = new Map<number, PromiseWithResolvers<void>>();
  const requests: RequestResult[] = [];
  let errors = "";
  let nextId = 1;
  const drained = Promise.all([
    readLines(child.stdout, (text) => {
      const line = AgentLine.parse(JSON.parse(text));
      if ("request" in line) return void requests.push(line.request);
      const waiting = pending.get(line.id);
      pending.delete(line.id);
      if (line.ok) waiting?.resolve();
      else waiting?.reject(new Error(`agent in ${ns}: ${line.error}`));
    }),
    readLines(child.stderr, (text) => void (errors += `${text}\n`)),
  ]);
  void child.status.then(() => {
    for (const waiting of pending.values()) waiting.reject(new Error(`agent in ${ns} exited:\n${errors}`));
  });
  let closing: Promise<void> | undefined;
  const agent: Agent = {
    async call(command) {
      const id = nextId++;
      const waiting = Promise.withResolvers<void>();
      pending.set(id, waiting);
      await writer.write(new TextEncoder().encode(`${JSON.stringify({ id, ...command })}\n`));
      return waiting.promise;
    },
    requests: () => [...requests],
    stderr: () => errors,
    close() {
      closing ??= (async () => {
        await writer.close().catch(() => {});
        const timer = setTimeout(() => void terminate(child, 1000), 10_000);
        await child.status;
        clearTimeout(timer);
        await drained;
      })();
      return closing;
    },
    [Symbol.asyncDispose]: () => agent.close(),
  };
  return agent;
}
