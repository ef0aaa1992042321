/**
 * The runtime-path rig of the end-to-end tests: a real HAProxy 2.6 running the default templates' config
 * and map files, and an applier with the runtime path in front of it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Applier, type ApplyResult, createApplier } from "../../lib/apply/apply.ts";
import { generate, type MapFile } from "../../lib/render/generate.ts";
import { checkConfig } from "../../lib/haproxy/check.ts";
import { masterCommand, parseShowProc } from "../../lib/haproxy/master_cli.ts";
import { createMasterSocketReloader } from "../../lib/haproxy/reload.ts";
import {
  createRuntimeClient,
  createRuntimePath,
  type RuntimeClient,
  type RuntimePath,
} from "../../lib/haproxy/runtime.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import {
  compileTemplates,
  defaultTemplates,
  type Listen,
  type TemplateFile,
} from "../../lib/render/render.ts";
import { freePort, guardApplier, type HaproxyInstance, startHaproxy } from "./haproxy.ts";

/** HAProxy running the default templates' config, with an applier that takes the runtime path. */
export interface Rig extends AsyncDisposable {
  haproxy: HaproxyInstance;
  applier: Applier;
  runtime: RuntimePath;
  listen: number;
  listenSpec: Listen;
  /** Where the map files go (templates compiled for this rig name them there). */
  mapDir: string;
  render(sets: EndpointSet[]): string;
  proc(): Promise<{ reloads: number; worker: number | undefined }>;
  cli(command: string): Promise<string>;
}

/**
 * Starts HAProxy with `sets` rendered by the default templates (or `templates`), and an applier with the
 * runtime path (commands through the master CLI, or `statsSocket`); `acceptProxy` renders the binds with it;
 * `drainTimeoutMs` is the runtime path's drain timeout.
 */
export async function rig(
  sets: EndpointSet[],
  options: {
    client?: (real: RuntimeClient) => RuntimeClient;
    statsSocket?: string;
    templates?: TemplateFile[];
    acceptProxy?: boolean;
    /** How long a removed server may drain before its sessions are shut down. @default {60_000} */
    drainTimeoutMs?: number;
  } = {},
): Promise<Rig> {
  const listen = freePort();
  const listenSpec: Listen = {
    http: `127.0.0.1:${listen}`,
    https: `127.0.0.1:${freePort()}`,
    tcp: "127.0.0.1",
  };
  if (options.acceptProxy === true) listenSpec.acceptProxy = true;
  const { statsSocket } = options;
  const mapDir = await Deno.makeTempDir({ prefix: "haconfd-maps-" });
  const renderer = compileTemplates(options.templates ?? defaultTemplates(), { mapDir });
  // The map files of the last render go with every apply (a test may hand over edited config text).
  let maps: readonly MapFile[] = [];
  // With statsSocket, the global section gets an admin stats socket and commands go there directly.
  const render = (s: EndpointSet[]) => {
    const generated = generate(s, renderer, listenSpec);
    maps = generated.maps ?? [];
    const text = generated.text;
    return statsSocket === undefined
      ? text
      : text.replace("\nglobal\n", `\nglobal\n    stats socket ${statsSocket} mode 600 level admin\n`);
  };
  const haproxy = await startHaproxy(render(sets), { waitFor: [listen], files: maps });
  const address = { transport: "unix", path: haproxy.masterSocket } as const;
  const real = statsSocket === undefined
    ? createRuntimeClient({ address, viaMaster: true })
    : createRuntimeClient({ address: { transport: "unix", path: statsSocket }, viaMaster: false });
  const runtime = createRuntimePath({
    client: options.client?.(real) ?? real,
    drainTimeoutMs: options.drainTimeoutMs ?? 60_000,
    drainPollMs: 50,
  });
  const files = await createApplier({
    target: haproxy.configPath,
    check: (path, signal) => checkConfig(path, { signal }),
    reloader: createMasterSocketReloader({ address }),
    runtime,
  });
  // Every config it applies passes the traffic guard first: the Runtime API adds servers with no restart.
  const applier: Applier = guardApplier({
    apply: (text, applyOptions) => files.apply(text, { files: maps, ...applyOptions }),
    installed: () => files.installed(),
    reloadPending: () => files.reloadPending(),
  });
  // The start-up reload every applier owes its installed file.
  assert.equal((await applier.apply(render(sets))).status, "applied");
  const cli = (command: string) => masterCommand(address, command);
  return {
    haproxy,
    applier,
    runtime,
    listen,
    listenSpec,
    mapDir,
    render,
    cli,
    async proc() {
      const table = parseShowProc(await cli("show proc"));
      return { reloads: table.master.reloads, worker: table.workers[0]?.pid };
    },
    async [Symbol.asyncDispose]() {
      runtime.close();
      await haproxy.stop();
      await Deno.remove(mapDir, { recursive: true });
    },
  };
}

/** Asserts that an apply went through the Runtime API. */
export function expectRuntime(result: ApplyResult, what: string): void {
  assert.equal(result.status, "runtime", `${what}: ${JSON.stringify(result)}`);
}
