/**
 * HAProxy's own view of itself, read through the master CLI: processes (`show proc`) and, from the
 * current worker, every backend server's state (`@1 show stat`).
 *
 * @module
 */
import { errorText } from "../log.ts";
import type { MasterAddress } from "../settings/values.ts";
import { masterCommand, parseShowProc } from "./master_cli.ts";

/** HAProxy's own view, read from its master socket where configured. */
export interface HaproxyView {
  /** Workers as `show proc` lists them. */
  processes: { pid: number; role: string; reloads: number; uptime: string; version: string }[];
  /** Per backend, its servers and their state (UP, DOWN, MAINT, …). */
  backends: Record<string, { server: string; address: string; status: string }[]>;
  /** When this view was read (ms since epoch). */
  readAt: number;
  /** Why it could not be read, if it could not. */
  error: string | null;
}

/**
 * Parses the CSV of `show stat`: per backend, its servers with address and status (the BACKEND and
 * FRONTEND summary lines are left out). Only the four columns it needs are cut out of each line: at 50,000
 * servers a line split into its ~90 fields was 4 million strings per request.
 */
export function parseShowStat(csv: string): HaproxyView["backends"] {
  const headerEnd = csv.indexOf("\n");
  const header = csv.slice(0, headerEnd < 0 ? csv.length : headerEnd).replace(/^#\s*/, "").split(",");
  const col = (name: string) => header.indexOf(name);
  const [px, sv, status, addr] = [col("pxname"), col("svname"), col("status"), col("addr")];
  if (px < 0 || sv < 0 || status < 0) throw new SyntaxError('Cannot parse "show stat": no header line');
  const wanted = [px, sv, status, addr];
  const last = Math.max(...wanted);
  const backends: HaproxyView["backends"] = {};
  const fields: string[] = ["", "", "", ""];
  for (let at = headerEnd < 0 ? csv.length : headerEnd + 1; at < csv.length;) {
    let end = csv.indexOf("\n", at);
    if (end < 0) end = csv.length;
    fields.fill("");
    for (let column = 0, from = at; column <= last && from <= end; column++) {
      let comma = csv.indexOf(",", from);
      if (comma < 0 || comma > end) comma = end;
      const slot = wanted.indexOf(column);
      if (slot >= 0) fields[slot] = csv.slice(from, comma);
      from = comma + 1;
    }
    at = end + 1;
    const [backend = "", server = "", state = "", address = ""] = fields;
    if (backend.trim() === "" && server.trim() === "") continue;
    if (server === "FRONTEND" || server === "BACKEND") continue;
    (backends[backend] ??= []).push({ server, address, status: state });
  }
  return backends;
}

/**
 * Reads processes and server states through the master CLI; never throws — a failure is in `error`.
 */
export async function readHaproxyView(address: MasterAddress, timeoutMs = 2000): Promise<HaproxyView> {
  const readAt = Date.now();
  try {
    const proc = parseShowProc(await masterCommand(address, "show proc", { timeoutMs }));
    const processes = [
      {
        pid: proc.master.pid,
        role: "master",
        reloads: proc.master.reloads,
        uptime: "",
        version: proc.master.version,
      },
      ...proc.workers.map((w) => ({
        pid: w.pid,
        role: "worker",
        reloads: w.reloads,
        uptime: "",
        version: w.version,
      })),
      ...proc.oldWorkers.map((w) => ({
        pid: w.pid,
        role: "old worker",
        reloads: w.reloads,
        uptime: "",
        version: w.version,
      })),
    ];
    const backends = proc.workers.length > 0
      ? parseShowStat(await masterCommand(address, "@1 show stat", { timeoutMs }))
      : {};
    return { processes, backends, readAt, error: null };
  } catch (error) {
    return { processes: [], backends: {}, readAt, error: errorText(error) };
  }
}
