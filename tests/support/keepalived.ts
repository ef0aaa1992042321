/**
 * keepalived for tests: the shipped `keepalived/` files installed into a directory the way an operator
 * installs them into /etc/keepalived (the `$NAME=value` definitions at the top of keepalived.conf set),
 * a keepalived process run in the foreground inside a network namespace, and what it reported: its log,
 * the transitions notify.sh wrote and the effective priorities it logged.
 *
 * ```ts
 * const config = await installKeepalived(dir, { IFACE: "eth0", VIP: "10.231.7.100/24", SELF, PEER });
 * const node = keepalivedNode("a", ns, "eth0", tmp);
 * startKeepalived(node, config);
 * await stopKeepalived(node);
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { hasAddress } from "./netns.ts";
import { ROOT, terminate } from "./process.ts";

/** The shipped keepalived files. */
export const KEEPALIVED_DIR: string = join(ROOT, "keepalived");

/** The shipped scripts keepalived.conf names. */
export const KEEPALIVED_SCRIPTS: readonly string[] = [
  "check_haproxy.sh",
  "check_haconfd_ready.sh",
  "notify.sh",
];

/** Replaces the `$NAME=value` definitions at the top of keepalived.conf. */
export function define(config: string, values: Record<string, string>): string {
  let out = config;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^\\$${name}=.*$`, "m");
    assert.match(out, re, `keepalived.conf defines $${name}`);
    out = out.replace(re, `$${name}=${value}`);
  }
  return out;
}

/** Sets every `keyword value` line of the config to `value` (e.g. all script intervals). */
export function setAll(config: string, keyword: string, value: string): string {
  const re = new RegExp(`^(\\s*)${keyword} \\S+$`, "gm");
  assert.match(config, re, `keepalived.conf sets ${keyword}`);
  return config.replace(re, `$1${keyword} ${value}`);
}

/** Options of {@linkcode installKeepalived}. */
export interface InstallOptions {
  /** Replacement text for some of the shipped scripts, by file name. */
  stubs?: Record<string, string>;
  /** Edits the config text after the definitions are set. */
  edit?: (config: string) => string;
}

/**
 * A directory like /etc/keepalived: the shipped scripts (or stand-ins, mode 0755) and keepalived.conf with
 * `values` for its definitions (`$SCRIPT_DIR` is `dir`). Resolves with the config's path.
 */
export async function installKeepalived(
  dir: string,
  values: Record<string, string>,
  options: InstallOptions = {},
): Promise<string> {
  for (const script of KEEPALIVED_SCRIPTS) {
    const stub = options.stubs?.[script];
    if (stub === undefined) await Deno.copyFile(join(KEEPALIVED_DIR, script), join(dir, script));
    else await Deno.writeTextFile(join(dir, script), stub);
    await Deno.chmod(join(dir, script), 0o755);
  }
  const config = join(dir, "keepalived.conf");
  let text = define(await Deno.readTextFile(join(KEEPALIVED_DIR, "keepalived.conf")), {
    SCRIPT_DIR: dir,
    ...values,
  });
  if (options.edit !== undefined) text = options.edit(text);
  await Deno.writeTextFile(config, text);
  return config;
}

/** One keepalived host of a test: its namespace, VRRP interface, files, and the running process. */
export interface KeepalivedNode {
  /** Short name used in messages ("a", "b"). */
  name: string;
  /** Network namespace it runs in. */
  ns: string;
  /** Interface carrying the VIP. */
  dev: string;
  /** Directory for its pid files (and the installed config and scripts, when installed there). */
  dir: string;
  /** keepalived's own log (console output). */
  log: string;
  /** Where notify.sh appends the transitions (HACONFD_NOTIFY_LOG). */
  notifyLog: string;
  /** The running keepalived, while it runs. */
  proc?: Deno.ChildProcess | undefined;
}

/** A node named `name` in `ns` with its files under `tmp` (`tmp/<name>` must be created by the caller). */
export function keepalivedNode(name: string, ns: string, dev: string, tmp: string): KeepalivedNode {
  return {
    name,
    ns,
    dev,
    dir: join(tmp, name),
    log: join(tmp, `${name}.keepalived.log`),
    notifyLog: join(tmp, `${name}.notify`),
  };
}

/** Starts keepalived (VRRP only, foreground, logging to the console) with `config` inside the node's namespace. */
export function startKeepalived(node: KeepalivedNode, config: string): void {
  // `ip netns exec` execs keepalived in place, so the child's pid is keepalived's main process.
  node.proc = new Deno.Command("sh", {
    args: [
      "-c",
      'exec ip netns exec "$1" keepalived --dont-fork --log-console --log-detail --vrrp ' +
      '--use-file="$2" --pid="$3/keepalived.pid" --vrrp_pid="$3/vrrp.pid" >"$4" 2>&1',
      "sh",
      node.ns,
      config,
      node.dir,
      node.log,
    ],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      HACONFD_NOTIFY_LOG: node.notifyLog,
    },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Stops the node's keepalived (SIGTERM, SIGKILL after 5 s) and waits for it; nothing when it is not running. */
export async function stopKeepalived(node: KeepalivedNode): Promise<void> {
  const proc = node.proc;
  if (proc === undefined) return;
  node.proc = undefined;
  await terminate(proc, 5000);
}

/** Whether the node's VRRP interface carries `vip` (an address without prefix length). */
export function holdsVip(node: KeepalivedNode, vip: string): Promise<boolean> {
  return hasAddress(node.ns, node.dev, vip);
}

/** The states notify.sh reported for the node, oldest first. */
export async function notifications(node: KeepalivedNode): Promise<string[]> {
  const text = await Deno.readTextFile(node.notifyLog).catch(() => "");
  return [...text.matchAll(/state=(\w+)/g)].map((m) => m[1] as string);
}

/** The effective priorities keepalived logged for the node, oldest first. */
export async function priorities(node: KeepalivedNode): Promise<number[]> {
  const text = await Deno.readTextFile(node.log).catch(() => "");
  return [...text.matchAll(/effective priority from \d+ to (\d+)/g)].map((m) => Number(m[1]));
}

/** The last `lines` lines of each node's keepalived log, for failure messages. */
export async function keepalivedLogs(nodes: KeepalivedNode[], lines = 30): Promise<string> {
  const parts = [];
  for (const node of nodes) {
    const text = await Deno.readTextFile(node.log).catch(() => "");
    parts.push(`--- keepalived ${node.name} ---\n${text.trimEnd().split("\n").slice(-lines).join("\n")}`);
  }
  return parts.join("\n");
}
