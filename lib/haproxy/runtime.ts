/**
 * Server changes through HAProxy's Runtime API (2.6+): the command plan for the changes lib/apply/ decided,
 * a client that sends commands in batches and parses every reply, the read-back against the new file,
 * and the draining of removed servers until `del server` succeeds.
 *
 * @module
 */
import { errorText, type Logger, silentLogger } from "../log.ts";
import type { BackendChange, MapChange, ServerLine } from "./plan.ts";
import { startsDisabled, weightOf } from "./plan.ts";
import { mapReadBackProblems, parseShowMap, planMapCommands } from "./runtime_maps.ts";
import type { MasterAddress } from "../settings/values.ts";
import { masterCommand } from "./master_cli.ts";

/** Where runtime commands go: the master CLI (forwarded to the current worker with `@1`) or a stats socket. */
export interface RuntimeTarget {
  /** Socket address. */
  address: MasterAddress;
  /** Whether it is the master CLI (commands get the `@1 ` worker prefix). */
  viaMaster: boolean;
}

/** Default time one batch of commands may take. */
export const DEFAULT_RUNTIME_TIMEOUT_MS = 10_000;
/** Lines sent to HAProxy are kept below this length (its CLI reads a line into one buffer). */
const MAX_LINE = 4_000;

/** Sends commands and returns one reply per command. */
export interface RuntimeClient {
  /** Runs `commands` in order; throws on a socket error or when the replies cannot be matched to them. */
  run(commands: readonly string[], signal?: AbortSignal): Promise<string[]>;
}

/**
 * Splits the output of a prompt-mode session into one reply per command: the prompt (`> ` or
 * `master> `) opens every reply line-initially, the text before the first prompt belongs to `prompt`.
 */
export function splitReplies(text: string, viaMaster: boolean): string[] {
  const prompt = viaMaster ? /(?:^|(?<=\n))master> / : /(?:^|(?<=\n))> /;
  const parts = text.split(prompt);
  return parts.slice(1, -1).map((p) => p.trim());
}

/** Joins commands into `;`-separated lines below {@linkcode MAX_LINE}. */
export function batchLines(commands: readonly string[]): string[] {
  const lines: string[] = [];
  let line = "";
  for (const command of commands) {
    if (line !== "" && line.length + command.length + 2 > MAX_LINE) {
      lines.push(line);
      line = "";
    }
    line = line === "" ? command : `${line}; ${command}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * A client over one connection per batch: `prompt` turns on the interactive mode whose prompts delimit
 * the replies, commands go `;`-separated in lines, and the answer is read until HAProxy closes.
 */
export function createRuntimeClient(
  target: RuntimeTarget,
  timeoutMs = DEFAULT_RUNTIME_TIMEOUT_MS,
): RuntimeClient {
  return {
    async run(commands, signal) {
      if (commands.length === 0) return [];
      const prefixed = target.viaMaster ? commands.map((c) => `@1 ${c}`) : [...commands];
      const text = ["prompt", ...batchLines(prefixed)].join("\n");
      const answer = await masterCommand(target.address, text, { timeoutMs, signal });
      const replies = splitReplies(answer, target.viaMaster);
      if (replies.length !== commands.length) {
        throw new Error(
          `Runtime API answered ${replies.length} replies to ${commands.length} commands: ${
            JSON.stringify(answer.slice(0, 300))
          }`,
        );
      }
      return replies;
    },
  };
}

/** One command and the replies that mean it worked. */
export interface PlannedCommand {
  /** The command text. */
  command: string;
  /** Replies that mean success. */
  expect: RegExp;
}

const EMPTY = /^$/;
const ADDED = /^New server registered\.$/;
const DELETED = /^Server deleted\.$/;
const ADDR_SET = /^(?:IP changed from|no need to change the addr)/;
/** The `del server` reply while the server still has connections (HAProxy 2.6). */
export const STILL_CONNECTED = /^Server still has connections attached to it, cannot remove it\.$/;

function endpoint(server: Pick<ServerLine, "address" | "port">): string {
  return server.address.includes(":")
    ? `[${server.address}]:${server.port}`
    : `${server.address}:${server.port}`;
}

/** Key of a server in the drain table. */
function keyOf(backend: string, name: string): string {
  return `${backend}/${name}`;
}

/**
 * The commands for one set of backend changes. A server that is still draining and comes back with the
 * same keywords is re-enabled instead of added; removed servers go to maintenance (no new request
 * reaches them) after the additions, and are deleted by {@linkcode RuntimePath}'s drain step.
 */
export function planCommands(
  changes: readonly BackendChange[],
  draining: ReadonlyMap<string, { keywords: string }>,
): PlannedCommand[] | string {
  const plan: PlannedCommand[] = [];
  for (const change of changes) {
    const be = change.backend;
    for (const server of change.updates) {
      plan.push({
        command: `set server ${be}/${server.name} addr ${server.address} port ${server.port}`,
        expect: ADDR_SET,
      });
    }
    for (const server of change.adds) {
      const id = keyOf(be, server.name);
      const back = draining.get(id);
      if (back !== undefined) {
        if (back.keywords !== server.effectiveKeywords.join(" ")) {
          return `server ${id} came back with other keywords while draining`;
        }
        plan.push({
          command: `set server ${id} addr ${server.address} port ${server.port}`,
          expect: ADDR_SET,
        });
      } else {
        plan.push({
          command: `add server ${id} ${endpoint(server)} ${server.effectiveKeywords.join(" ")}`.trimEnd(),
          expect: ADDED,
        });
        // A dynamic server starts in maintenance with its check disabled.
        if (server.effectiveKeywords.includes("check")) {
          plan.push({ command: `enable health ${id}`, expect: EMPTY });
        }
      }
      if (!startsDisabled(server.effectiveKeywords)) {
        plan.push({ command: `set server ${id} state ready`, expect: EMPTY });
      }
    }
    for (const { name, weight } of change.weights) {
      plan.push({ command: `set server ${be}/${name} weight ${weight}`, expect: EMPTY });
    }
    for (const { name } of change.states.filter((s) => !s.maint)) {
      plan.push({ command: `set server ${be}/${name} state ready`, expect: EMPTY });
    }
    // Added servers get no cookie of their own: this (re)computes every server's from its address.
    if (change.dynamicCookies && change.adds.length + change.updates.length > 0) {
      plan.push({ command: `enable dynamic-cookie backend ${be}`, expect: EMPTY });
    }
    // Last: a backend going from {a} to {b} never passes through "no server available". Maintenance
    // takes no new request, sticky ones included; the ones in flight end (unlike `shutdown sessions`).
    const maint = change.states.filter((s) => s.maint).map((s) => s.name);
    for (const name of [...maint, ...change.removes]) {
      plan.push({ command: `set server ${be}/${name} state maint`, expect: EMPTY });
    }
  }
  return plan;
}

/** One row of `show servers state`. */
export interface ServerState {
  /** Server name. */
  name: string;
  /** Address. */
  address: string;
  /** Port. */
  port: number;
  /** `srv_admin_state` bit mask (0x01 forced maintenance, 0x04 `disabled` in the config, 0x08 drain). */
  admin: number;
  /** `srv_check_state` bit mask (0x04: health check enabled). */
  check: number;
  /** `srv_uweight`: the weight set by the config or the Runtime API. */
  weight: number;
}

/** Parses `show servers state` (format 1) into backend → servers. */
export function parseServersState(text: string): Map<string, ServerState[]> {
  const backends = new Map<string, ServerState[]>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 19 || line.startsWith("#")) continue;
    const [, backend = "", , name = "", address = ""] = f;
    const row: ServerState = {
      name,
      address,
      port: Number(f[18]),
      admin: Number(f[6]),
      check: Number(f[13]),
      weight: Number(f[7]),
    };
    backends.set(backend, [...(backends.get(backend) ?? []), row]);
  }
  return backends;
}

/**
 * Differences between HAProxy's servers and the file's for the changed backends (empty when they match):
 * every file server present with its address and port, in service unless `disabled`, its health check
 * enabled when it has `check`; any other server must be one that is draining.
 */
export function readBackProblems(
  changes: readonly BackendChange[],
  state: ReadonlyMap<string, ServerState[]>,
  draining: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const change of changes) {
    const live = new Map((state.get(change.backend) ?? []).map((s) => [s.name, s]));
    for (const want of change.expected) {
      const id = keyOf(change.backend, want.name);
      const got = live.get(want.name);
      live.delete(want.name);
      if (got === undefined) {
        problems.push(`${id} missing`);
        continue;
      }
      if (got.address !== want.address || got.port !== want.port) {
        problems.push(`${id} at ${got.address}:${got.port}, file says ${want.address}:${want.port}`);
      }
      const maint = (got.admin & 0x05) !== 0;
      if (maint !== startsDisabled(want.keywords)) problems.push(`${id} admin state ${got.admin}`);
      if (got.weight !== weightOf(want.keywords)) problems.push(`${id} weight ${got.weight}`);
      if (want.keywords.includes("check") && (got.check & 0x04) === 0) {
        problems.push(`${id} health check not enabled`);
      }
    }
    for (const name of live.keys()) {
      if (!draining.has(keyOf(change.backend, name))) {
        problems.push(`${keyOf(change.backend, name)} not in the file`);
      }
    }
  }
  return problems;
}

/** What {@linkcode RuntimePath.apply} did. */
export type RuntimeOutcome =
  | { ok: true; commands: number; detail: string }
  | {
    ok: false;
    /** Why a reload is needed ("frontend f changed", "runtime command failed: …"). */
    reason: string;
    /** Whether HAProxy's state may have been changed (then only a reload makes it match a file). */
    touched: boolean;
  };

/** A server put out of service, waiting for its connections to end. */
export interface DrainingServer {
  /** `backend/name`. */
  id: string;
  /** When it went to maintenance (ms). */
  since: number;
  /** Its effective keywords, to re-enable it when it comes back unchanged. */
  keywords: string;
}

/** Options of {@linkcode createRuntimePath}. */
export interface RuntimePathOptions {
  /** Sends commands. */
  client: RuntimeClient;
  /** Time a removed server may keep connections before they are shut down. @default {30000} */
  drainTimeoutMs?: number;
  /** Pause between attempts to delete draining servers. @default {500} */
  drainPollMs?: number;
  /** Counts commands by result (`ok`, `failed`). */
  onCommands?: (result: "ok" | "failed", count: number) => void;
  /** Logger. @default {silentLogger} */
  log?: Logger;
  /** Clock. @default {Date.now} */
  now?: () => number;
}

/** The runtime path: applies server changes, drains removed servers, and reports them. */
export interface RuntimePath {
  /**
   * Applies server changes that lib/apply/ decided can go through the Runtime API (none: nothing to
   * send). `prove`, when given, runs before any command: a string it returns is the reason to reload
   * instead (e.g. the config check did not pass).
   */
  apply(
    changes: readonly BackendChange[],
    signal?: AbortSignal,
    prove?: () => Promise<string | undefined>,
    maps?: readonly MapChange[],
  ): Promise<RuntimeOutcome>;
  /** HAProxy reloaded: servers not in the file are gone, nothing drains any more. */
  reloaded(): void;
  /** Servers draining now. */
  draining(): DrainingServer[];
  /** Runs one drain step now (deletes what can be deleted, shuts down what drained too long). */
  drainNow(): Promise<void>;
  /** Stops the drain timer. */
  close(): void;
}

/** Failure of an apply that may have changed HAProxy's state: only a reload makes it match a file. */
function touchedFailure(reason: string): RuntimeOutcome {
  return { ok: false, reason, touched: true };
}

/**
 * Orders a plan: routes move once their servers are ready, and before the servers they leave go to
 * maintenance (which come last).
 */
function orderPlan(servers: PlannedCommand[], maps: readonly MapChange[]): PlannedCommand[] {
  const maint = servers.filter((p) => p.command.endsWith(" state maint"));
  return [...servers.filter((p) => !maint.includes(p)), ...planMapCommands(maps), ...maint];
}

/**
 * The runtime path's state: the servers draining, the queue that keeps an apply's commands and a drain
 * step's apart, and the drain timer.
 */
class RuntimePathImpl implements RuntimePath {
  readonly #client: RuntimeClient;
  readonly #drainTimeoutMs: number;
  readonly #drainPollMs: number;
  readonly #onCommands: RuntimePathOptions["onCommands"];
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #draining = new Map<string, DrainingServer>();
  #queue: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(options: RuntimePathOptions) {
    this.#client = options.client;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    this.#drainPollMs = options.drainPollMs ?? 500;
    this.#onCommands = options.onCommands;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
  }

  async apply(
    changes: readonly BackendChange[],
    signal?: AbortSignal,
    prove?: () => Promise<string | undefined>,
    maps: readonly MapChange[] = [],
  ): Promise<RuntimeOutcome> {
    const outcome = await this.#serial(() => this.#applyNow(changes, signal, prove, maps));
    if (outcome.ok && this.#draining.size > 0) {
      await this.drainNow();
      this.#schedule();
    }
    return outcome;
  }

  reloaded(): void {
    this.#draining.clear();
  }

  draining(): DrainingServer[] {
    return [...this.#draining.values()];
  }

  drainNow(): Promise<void> {
    return this.#serial(async () => {
      if (this.#draining.size === 0) return;
      const ids = [...this.#draining.keys()];
      const force = new Set(ids.filter((id) => this.#drainedTooLong(id)));
      for (const id of force) {
        this.#log.warn("drain timeout: shutting down the sessions of a removed server", { server: id });
      }
      await this.#deleteStep(ids, force);
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #send(commands: readonly string[], signal?: AbortSignal): Promise<string[]> {
    try {
      return await this.#client.run(commands, signal);
    } catch (error) {
      this.#onCommands?.("failed", commands.length);
      throw error;
    }
  }

  #count(ok: number, failed: number): void {
    if (ok > 0) this.#onCommands?.("ok", ok);
    if (failed > 0) this.#onCommands?.("failed", failed);
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#draining.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.drainNow().finally(() => this.#schedule());
    }, this.#drainPollMs);
  }

  #drainedTooLong(id: string): boolean {
    const now = this.#now();
    return now - (this.#draining.get(id)?.since ?? now) >= this.#drainTimeoutMs;
  }

  async #deleteStep(ids: string[], force: Set<string>): Promise<void> {
    const commands: string[] = [];
    for (const id of ids) {
      if (force.has(id)) commands.push(`shutdown sessions server ${id}`);
      commands.push(`del server ${id}`);
    }
    let replies: string[];
    try {
      replies = await this.#send(commands);
    } catch (error) {
      this.#log.warn("cannot delete draining servers, will retry", { error: errorText(error) });
      return;
    }
    let ok = 0;
    commands.forEach((command, i) => {
      if (this.#deleteReplyOk(command, replies[i] ?? "")) ok++;
    });
    this.#count(ok, commands.length - ok);
  }

  /** Whether a reply of the drain step is one that was expected; a deleted server stops draining. */
  #deleteReplyOk(command: string, reply: string): boolean {
    const id = command.replace(/^.* server /, "");
    if (command.startsWith("shutdown")) return reply === "";
    if (DELETED.test(reply) || reply === "No such server.") {
      this.#draining.delete(id);
      this.#log.info("drained server deleted", { server: id });
      return true;
    }
    if (STILL_CONNECTED.test(reply)) return true;
    this.#log.warn("del server failed, will retry", { server: id, reply });
    return false;
  }

  async #applyNow(
    changes: readonly BackendChange[],
    signal: AbortSignal | undefined,
    prove: (() => Promise<string | undefined>) | undefined,
    maps: readonly MapChange[],
  ): Promise<RuntimeOutcome> {
    if (changes.length === 0 && maps.length === 0) {
      return { ok: true, commands: 0, detail: "no server changed" };
    }
    const servers = planCommands(changes, this.#draining);
    if (typeof servers === "string") return { ok: false, reason: servers, touched: false };
    const plan = orderPlan(servers, maps);
    const unproven = await prove?.();
    if (unproven !== undefined) return { ok: false, reason: unproven, touched: false };
    const failed = await this.#sendPlan(plan, signal);
    if (failed !== undefined) return touchedFailure(failed);
    this.#noteDraining(changes);
    const problems = await this.#readBack(changes, maps, signal);
    if (typeof problems === "string") return touchedFailure(problems);
    if (problems.length > 0) {
      return touchedFailure(`runtime read-back does not match the file: ${problems.join("; ")}`);
    }
    const detail = summary(changes, maps);
    this.#log.info("servers changed through the Runtime API", { commands: plan.length, detail });
    return { ok: true, commands: plan.length, detail };
  }

  /** Sends the plan and checks every reply: the reason it failed, or undefined. */
  async #sendPlan(plan: PlannedCommand[], signal?: AbortSignal): Promise<string | undefined> {
    let replies: string[];
    try {
      replies = await this.#send(plan.map((p) => p.command), signal);
    } catch (error) {
      return `runtime API unreachable: ${errorText(error)}`;
    }
    const bad = plan.findIndex((p, i) => !p.expect.test(replies[i] ?? ""));
    this.#count(bad < 0 ? plan.length : bad, bad < 0 ? 0 : plan.length - bad);
    if (bad < 0) return undefined;
    return `runtime command failed: "${plan[bad]?.command}" answered ${JSON.stringify(replies[bad])}`;
  }

  /** Removed servers start draining; servers added back stop draining. */
  #noteDraining(changes: readonly BackendChange[]): void {
    const at = this.#now();
    for (const change of changes) {
      for (const name of change.removes) {
        const id = keyOf(change.backend, name);
        this.#draining.set(id, { id, since: at, keywords: change.removedKeywords[name] ?? "" });
      }
      for (const server of change.adds) this.#draining.delete(keyOf(change.backend, server.name));
    }
  }

  /** The differences between HAProxy and the file after the plan, or why they could not be read. */
  async #readBack(
    changes: readonly BackendChange[],
    maps: readonly MapChange[],
    signal?: AbortSignal,
  ): Promise<string[] | string> {
    let state: Map<string, ServerState[]>;
    try {
      const texts = await this.#send(changes.map((c) => `show servers state ${c.backend}`), signal);
      this.#count(texts.length, 0);
      state = new Map();
      for (const text of texts) for (const [b, rows] of parseServersState(text)) state.set(b, rows);
    } catch (error) {
      return `runtime read-back failed: ${errorText(error)}`;
    }
    const problems = readBackProblems(changes, state, new Set(this.#draining.keys()));
    try {
      const shown = await this.#send(maps.map((m) => `show map ${m.map}`), signal);
      this.#count(shown.length, 0);
      maps.forEach((m, i) => problems.push(...mapReadBackProblems(m, parseShowMap(shown[i] ?? ""))));
    } catch (error) {
      return `runtime read-back of the maps failed: ${errorText(error)}`;
    }
    return problems;
  }
}

/**
 * Creates the runtime path. Commands of an apply and of the drain step never interleave.
 *
 * @example
 * ```ts
 * const runtime = createRuntimePath({ client: createRuntimeClient({ address, viaMaster: true }) });
 * const verdict = runtimeDiff(installedText, renderedText); // lib/apply/config_diff.ts
 * const outcome = verdict.path === "runtime" ? await runtime.apply(verdict.changes) : undefined;
 * if (!outcome.ok) await reloader.reload();
 * ```
 */
export function createRuntimePath(options: RuntimePathOptions): RuntimePath {
  return new RuntimePathImpl(options);
}

function summary(changes: readonly BackendChange[], maps: readonly MapChange[]): string {
  const n = (f: (c: BackendChange) => unknown[]) => changes.reduce((sum, c) => sum + f(c).length, 0);
  const servers = `${n((c) => c.adds)} added, ${n((c) => c.removes)} removed, ${
    n((c) => c.updates)
  } moved in ${changes.length} backend(s)`;
  if (maps.length === 0) return servers;
  const m = (f: (c: MapChange) => unknown[]) => maps.reduce((sum, c) => sum + f(c).length, 0);
  return `${servers}; map entries ${m((c) => c.adds)} added, ${m((c) => c.sets)} changed, ${
    m((c) => c.dels)
  } removed in ${maps.length} map(s)`;
}
