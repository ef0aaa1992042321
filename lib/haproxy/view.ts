/**
 * HAProxy's own view of itself, read through the master CLI: processes (`show proc`), the current worker's
 * backend rows (`@1 show stat -1 2 -1`: one line per backend, none per server) and, for one backend at a
 * time, its servers (`@1 show stat <backend> 4 -1`). No read asks for every server.
 *
 * @module
 */
import { errorText } from "../log.ts";
import type { MasterAddress } from "../settings/values.ts";
import { masterCommand, parseShowProc } from "./master_cli.ts";

/** One backend as its `BACKEND` row of `show stat` describes it. */
export interface BackendRow {
  /** UP, or DOWN when no server can take traffic. */
  status: string;
  /** Servers that can take traffic: HAProxy's `act` + `bck` (up, not in maintenance, weight above 0). */
  usable: number;
}

/** One server of a backend as `show stat` lists it. */
export interface ServerRow {
  server: string;
  address: string;
  status: string;
}

/** HAProxy's own view, read from its master socket where configured. */
export interface HaproxyView {
  /** Workers as `show proc` lists them. */
  processes: { pid: number; role: string; reloads: number; uptime: string; version: string }[];
  /** Per backend, its `BACKEND` row (the servers themselves are read per backend, on request). */
  backends: Record<string, BackendRow>;
  /** When this view was read (ms since epoch). */
  readAt: number;
  /** Why it could not be read, if it could not. */
  error: string | null;
}

/** The servers of one backend, read on request. */
export interface BackendServers {
  /** The backend HAProxy knows among the names asked for; null when it knows none of them. */
  backend: string | null;
  /** Its servers. */
  servers: ServerRow[];
  /** When they were read (ms since epoch). */
  readAt: number;
  /** Why they could not be read, if they could not. */
  error: string | null;
}

/** Sends one command to HAProxy's master CLI and returns the answer. */
export type MasterSend = (command: string) => Promise<string>;

/** The command reading every backend row and no server row (type mask 2: backends). */
export const BACKENDS_COMMAND = "@1 show stat -1 2 -1";

/** The command reading the servers of one backend (type mask 4: servers). */
export function serversCommand(backend: string): string {
  return `@1 show stat ${backend} 4 -1`;
}

/**
 * Cuts the columns `names` out of each data line of `show stat`'s CSV. Only these columns are cut: at
 * 50,000 servers a line split into its ~90 fields was 4 million strings per request.
 */
function statColumns(csv: string, names: string[]): string[][] {
  const headerEnd = csv.indexOf("\n");
  const header = csv.slice(0, headerEnd < 0 ? csv.length : headerEnd).replace(/^#\s*/, "").split(",");
  const wanted = names.map((name) => header.indexOf(name));
  if (wanted.slice(0, 2).some((at) => at < 0)) {
    throw new SyntaxError('Cannot parse "show stat": no header line');
  }
  const last = Math.max(...wanted);
  const rows: string[][] = [];
  for (let at = headerEnd < 0 ? csv.length : headerEnd + 1; at < csv.length;) {
    let end = csv.indexOf("\n", at);
    if (end < 0) end = csv.length;
    const fields = names.map(() => "");
    for (let column = 0, from = at; column <= last && from <= end; column++) {
      let comma = csv.indexOf(",", from);
      if (comma < 0 || comma > end) comma = end;
      const slot = wanted.indexOf(column);
      if (slot >= 0) fields[slot] = csv.slice(from, comma);
      from = comma + 1;
    }
    at = end + 1;
    if (fields[0]!.trim() !== "" || fields[1]!.trim() !== "") rows.push(fields);
  }
  return rows;
}

/**
 * Parses the CSV of `show stat`: per backend, its servers with address and status (the BACKEND and
 * FRONTEND summary lines are left out).
 */
export function parseShowStat(csv: string): Record<string, ServerRow[]> {
  const backends: Record<string, ServerRow[]> = {};
  for (const [backend = "", server = "", status = "", address = ""] of statColumns(csv, STAT_SERVER)) {
    if (server === "FRONTEND" || server === "BACKEND") continue;
    (backends[backend] ??= []).push({ server, address, status });
  }
  return backends;
}

/** What HAProxy accepts as a proxy name: nothing that could end the command. */
const PROXY_NAME = /^[A-Za-z0-9_.:-]+$/;
const STAT_SERVER = ["pxname", "svname", "status", "addr"];
const STAT_BACKEND = ["pxname", "svname", "status", "act", "bck"];

/** Parses the CSV of `show stat`: the `BACKEND` rows (every other line is left out). */
export function parseBackendRows(csv: string): Record<string, BackendRow> {
  const backends: Record<string, BackendRow> = {};
  for (const [backend = "", row = "", status = "", act = "", bck = ""] of statColumns(csv, STAT_BACKEND)) {
    if (row !== "BACKEND") continue;
    backends[backend] = { status, usable: (Number(act) || 0) + (Number(bck) || 0) };
  }
  return backends;
}

function processesOf(showProc: string): HaproxyView["processes"] {
  const proc = parseShowProc(showProc);
  const entry = (pid: number, role: string, reloads: number, version: string) => ({
    pid,
    role,
    reloads,
    uptime: "",
    version,
  });
  return [
    entry(proc.master.pid, "master", proc.master.reloads, proc.master.version),
    ...proc.workers.map((w) => entry(w.pid, "worker", w.reloads, w.version)),
    ...proc.oldWorkers.map((w) => entry(w.pid, "old worker", w.reloads, w.version)),
  ];
}

/**
 * Reads HAProxy's view through its master CLI: one `show proc` and one `show stat` of the backend rows per
 * read, nothing kept between reads. Never throws — a failure is in `error`.
 */
export class HaproxyViewReader {
  readonly #send: MasterSend;
  readonly #now: () => number;

  constructor(send: MasterSend, now: () => number = Date.now) {
    this.#send = send;
    this.#now = now;
  }

  /** Processes and every backend's row. */
  async view(): Promise<HaproxyView> {
    const readAt = this.#now();
    try {
      const processes = processesOf(await this.#send("show proc"));
      const workers = processes.some((p) => p.role === "worker");
      const backends = workers ? parseBackendRows(await this.#send(BACKENDS_COMMAND)) : {};
      return { processes, backends, readAt, error: null };
    } catch (error) {
      return { processes: [], backends: {}, readAt, error: errorText(error) };
    }
  }

  /** The servers of the first backend of `names` HAProxy knows: one `show stat` per name tried. */
  async servers(names: readonly string[]): Promise<BackendServers> {
    const readAt = this.#now();
    try {
      for (const name of names) {
        if (!PROXY_NAME.test(name)) throw new TypeError(`Invalid backend name ${JSON.stringify(name)}`);
        const answer = await this.#send(serversCommand(name));
        if (/^No such proxy\./m.test(answer)) continue;
        return { backend: name, servers: parseShowStat(answer)[name] ?? [], readAt, error: null };
      }
      return { backend: null, servers: [], readAt, error: null };
    } catch (error) {
      return { backend: null, servers: [], readAt, error: errorText(error) };
    }
  }
}

/** A {@linkcode HaproxyViewReader} over the master socket at `address`. */
export function masterViewReader(address: MasterAddress, timeoutMs = 2000): HaproxyViewReader {
  return new HaproxyViewReader((command) => masterCommand(address, command, { timeoutMs }));
}
