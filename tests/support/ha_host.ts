/**
 * One HAProxy host of a high-availability pair, simulated in a network namespace: HAProxy run the way
 * Debian's haproxy.service runs it (`haproxy -Ws -f CONFIG -p PIDFILE -S MASTER_SOCKET`, restarted only
 * when the test says so), `haconfd run` exactly as a user starts it (`deno run main.ts run …`, reloading
 * through the master socket, status on its default 127.0.0.1:9180 — the namespace's own loopback), and
 * keepalived with the shipped files. Logs go to files in the test's temp dir; the status routes are read
 * with curl inside the namespace.
 *
 * @module
 */

import { join } from "node:path";
import { processesNaming } from "./daemon.ts";
import { type KeepalivedNode, keepalivedNode } from "./keepalived.ts";
import { inNetns } from "./netns.ts";
import { ROOT, terminate } from "./process.ts";
import { HAPROXY_BINARY } from "./haproxy.ts";
import { V8_FLAGS } from "../../tools/compile.ts";

/** A config like the one Debian's haproxy package installs: no proxies, so HAProxy starts and idles. */
const PLACEHOLDER_CONFIG = `global
    log stdout format raw local0 notice

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`;

/** One host: its namespace, files and running processes. */
export interface HaHost {
  /** "a" or "b". */
  readonly name: string;
  /** Its network namespace. */
  readonly ns: string;
  /** Its directory: HAProxy config, pid file and master socket, keepalived's files. */
  readonly dir: string;
  /** /etc/haproxy/haproxy.cfg of this host. */
  readonly config: string;
  /** /run/haproxy-master.sock of this host. */
  readonly masterSocket: string;
  /** Its keepalived. */
  readonly keepalived: KeepalivedNode;
  /** HAProxy's and haconfd's output. */
  readonly logs: { haproxy: string; haconfd: string };
  /** The running HAProxy master, while it runs. */
  haproxy?: Deno.ChildProcess | undefined;
  /** The running haconfd, while it runs. */
  haconfd?: Deno.ChildProcess | undefined;
}

/** A host named `name` in `ns` whose VRRP interface is `dev`, its files under `tmp/<name>` (created here). */
export async function haHost(name: string, ns: string, dev: string, tmp: string): Promise<HaHost> {
  const dir = join(tmp, name);
  await Deno.mkdir(dir);
  const config = join(dir, "haproxy.cfg");
  await Deno.writeTextFile(config, PLACEHOLDER_CONFIG);
  return {
    name,
    ns,
    dir,
    config,
    masterSocket: join(dir, "haproxy-master.sock"),
    keepalived: keepalivedNode(name, ns, dev, tmp),
    logs: { haproxy: join(tmp, `${name}.haproxy.log`), haconfd: join(tmp, `${name}.haconfd.log`) },
  };
}

/** `cmd ARGS` inside the host's namespace, its output appended to `log`; the child is the command itself. */
function spawnIn(host: HaHost, log: string, cmd: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec ip netns exec "$@" >>"$log" 2>&1', "sh", log, host.ns, cmd, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Starts HAProxy as haproxy.service's ExecStart does, on the host's installed config. */
export function startHaproxyUnit(host: HaHost): void {
  host.haproxy = spawnIn(host, host.logs.haproxy, HAPROXY_BINARY, [
    "-Ws",
    "-f",
    host.config,
    "-p",
    join(host.dir, "haproxy.pid"),
    "-S",
    host.masterSocket,
  ]);
}

/** The pids of the host's HAProxy processes (master and workers). */
export function haproxyPids(host: HaHost): Promise<number[]> {
  return processesNaming(`-f ${host.config}`);
}

async function killAll(host: HaHost): Promise<void> {
  for (const pid of await haproxyPids(host)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Kills every HAProxy process of the host (SIGKILL, as a crash or the OOM killer would) and waits for the master. */
export async function killHaproxy(host: HaHost): Promise<void> {
  await killAll(host);
  const master = host.haproxy;
  host.haproxy = undefined;
  await master?.status;
}

/** Starts `haconfd run ARGS` in the host's namespace as a user does (`deno run main.ts run …`). */
export function startHaconfd(host: HaHost, args: string[]): void {
  host.haconfd = spawnIn(host, host.logs.haconfd, Deno.execPath(), [
    "run",
    "--allow-all",
    `--v8-flags=${V8_FLAGS.join(",")}`,
    "main.ts",
    "run",
    ...args,
  ]);
}

/** Stops haconfd (SIGTERM, as `systemctl stop`; SIGKILL after 15 s) and waits for it. */
export async function stopHaconfd(host: HaHost): Promise<void> {
  const proc = host.haconfd;
  host.haconfd = undefined;
  if (proc !== undefined) await terminate(proc, 15_000);
}

/** Stops the host's haconfd, then its HAProxy (keepalived is stopped with stopKeepalived). */
export async function stopHost(host: HaHost): Promise<void> {
  await stopHaconfd(host);
  const proc = host.haproxy;
  host.haproxy = undefined;
  if (proc !== undefined) await terminate(proc, 5_000);
  await killAll(host);
}

/** GET `path` of the host's status endpoint (127.0.0.1:9180 in its namespace): status code (0: no answer) and body. */
export async function statusGet(host: HaHost, path: string): Promise<{ code: number; body: string }> {
  const res = await inNetns(host.ns, "curl", [
    "--silent",
    "--max-time",
    "3",
    "--write-out",
    "\n%{http_code}",
    `http://127.0.0.1:9180${path}`,
  ]);
  const at = res.stdout.lastIndexOf("\n");
  return { code: Number(res.stdout.slice(at + 1)) || 0, body: res.stdout.slice(0, Math.max(at, 0)) };
}

/** The last `lines` lines of the host's haconfd and HAProxy logs, for failure messages. */
export async function hostLogs(host: HaHost, lines = 15): Promise<string> {
  const parts = [];
  for (const [what, file] of Object.entries(host.logs)) {
    const text = await Deno.readTextFile(file).catch(() => "");
    parts.push(`--- ${what} ${host.name} ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`);
  }
  return parts.join("\n");
}
