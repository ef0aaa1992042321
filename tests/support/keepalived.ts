/**
 * keepalived for tests: the shipped `keepalived/` files installed into a directory the way an operator
 * installs them into /etc/keepalived (the `$NAME=value` definitions at the top of keepalived.conf set),
 * a keepalived process run in the foreground inside a network namespace, and what it reported: its log,
 * the transitions notify.sh wrote and the effective priorities it logged; and what it did, counted: the
 * runs of a check script and the adverts a host received, to tell when it had every chance to move the VIP.
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
import { hasAddress, inNetns } from "./netns.ts";
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
  /** Scripts whose every run is recorded (see {@linkcode scriptRuns}), shipped or stand-in alike. */
  counted?: readonly string[];
  /** Edits the config text after the definitions are set. */
  edit?: (config: string) => string;
}

/** Where a counted script's runs are recorded: one exit status a line. */
const runsFile = (dir: string, script: string) => join(dir, `${script}.runs`);

/** Installs `script` (shipped, or `stub`) as `dir/script`, mode 0755, behind a recorder when `counted`. */
async function installScript(dir: string, script: string, stub: string | undefined, counted: boolean) {
  const target = counted ? join(dir, "counted", script) : join(dir, script);
  if (stub === undefined) await Deno.copyFile(join(KEEPALIVED_DIR, script), target);
  else await Deno.writeTextFile(target, stub);
  await Deno.chmod(target, 0o755);
  if (!counted) return;
  // keepalived runs the path the config names: the recorder sits there and runs the script itself.
  await Deno.writeTextFile(
    join(dir, script),
    `#!/bin/sh\n"${target}" "$@"\nstatus=$?\necho "$status" >>"${runsFile(dir, script)}"\nexit "$status"\n`,
  );
  await Deno.chmod(join(dir, script), 0o755);
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
  if ((options.counted ?? []).length > 0) await Deno.mkdir(join(dir, "counted"));
  for (const script of KEEPALIVED_SCRIPTS) {
    await installScript(dir, script, options.stubs?.[script], options.counted?.includes(script) ?? false);
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

/** The exit statuses of the runs of `script`, installed in `dir` as counted, oldest first. */
export async function scriptRuns(dir: string, script: string): Promise<number[]> {
  const text = await Deno.readTextFile(runsFile(dir, script)).catch(() => "");
  return text.split("\n").filter((line) => line !== "").map(Number);
}

const advertRule = (from: string) => ["INPUT", "-p", "112", "-s", from, "-j", "ACCEPT"];

/**
 * Makes namespace `ns` count the VRRP packets arriving from `from`: a rule of that namespace's own
 * iptables, accepting what its policy accepts anyway. Nothing when it counts them already.
 */
export async function countAdverts(ns: string, from: string): Promise<void> {
  if ((await inNetns(ns, "iptables", ["-w", "-C", ...advertRule(from)])).code === 0) return;
  const res = await inNetns(ns, "iptables", ["-w", "-A", ...advertRule(from)]);
  assert.equal(res.code, 0, `iptables -A in ${ns}: ${res.stderr}`);
}

/** The VRRP packets from `from` that arrived in namespace `ns` since {@linkcode countAdverts}. */
export async function advertsReceived(ns: string, from: string): Promise<number> {
  const res = await inNetns(ns, "iptables", ["-w", "-n", "-v", "-x", "-L", "INPUT"]);
  assert.equal(res.code, 0, `iptables -L in ${ns}: ${res.stderr}`);
  const row = res.stdout.split("\n").map((line) => line.trim().split(/\s+/))
    .find((fields) => fields.includes("ACCEPT") && fields.includes(from));
  assert.ok(row !== undefined, `no rule counts the adverts from ${from} in ${ns}:\n${res.stdout}`);
  return Number(row[0]);
}

/** How many events show that keepalived had every chance to move the VIP: {@linkcode chancesToMove}. */
export interface Chances {
  /** Runs of the check script each host must have made. */
  runs: number;
  /** Adverts from the master the backup must have received after those runs. */
  adverts: number;
  /** How long the wait for them may take before it fails: four times their pace, plus 30 s. */
  deadlineMs: number;
}

/** The number `keyword` is set to in a block of a config without comments. */
function setting(block: string, keyword: string): number {
  const m = block.match(new RegExp(`^\\s*${keyword} (\\S+)$`, "m"));
  assert.ok(m !== null, `keepalived.conf sets ${keyword}`);
  return Number(m[1]);
}

/**
 * The events after which keepalived running `config` (the installed text) would have moved the VIP, had it
 * wanted to, while the check of the counted `script` keeps failing.
 */
export function chancesToMove(config: string, script: string): Chances {
  const text = config.replace(/#.*$/gm, "");
  const block = [...text.matchAll(/^vrrp_script \S+ \{\n([\s\S]*?)^\}/gm)]
    .map((m) => m[1] as string).find((body) => body.includes(`/${script}`));
  assert.ok(block !== undefined, `keepalived.conf has a vrrp_script running ${script}`);
  const advertInt = setting(text, "advert_int");
  // keepalived moves the VIP only to a backup that outranks the master, and a check changes a priority only
  // after `fall` failing or `rise` passing runs in a row: once every host has run it fall + rise times
  // (all failing), whatever those runs were to change has changed. A backup that then outranks the master
  // starts its preempt delay at the master's next advert; once the delay is over it no longer restarts
  // its master-down timer on adverts, and that timer (3 × advert_int + skew, under 4 advert intervals)
  // runs out: it holds the VIP before 1 + preempt_delay / advert_int + 4 more adverts reach it. 2 spare.
  const runs = setting(block, "fall") + setting(block, "rise");
  const adverts = 1 + Math.ceil(setting(text, "preempt_delay") / advertInt) + 4 + 2;
  const paceS = runs * setting(block, "interval") + adverts * advertInt;
  return { runs, adverts, deadlineMs: (4 * paceS + 30) * 1000 };
}

/**
 * keepalived's chances to move the VIP, counted from {@linkcode MoveChances.start}: the runs of a counted
 * check script on every host, then the adverts the backup received from the master, up to the numbers of
 * {@linkcode chancesToMove}.
 */
export class MoveChances {
  /** The counts to reach. */
  readonly need: Chances;
  readonly #nodes: readonly KeepalivedNode[];
  readonly #script: string;
  readonly #backup: KeepalivedNode;
  readonly #master: string;
  readonly #runsBefore: ReadonlyMap<KeepalivedNode, number>;
  #advertsBefore: number | undefined;

  private constructor(
    nodes: readonly KeepalivedNode[],
    script: string,
    backup: KeepalivedNode,
    master: string,
    need: Chances,
    runsBefore: ReadonlyMap<KeepalivedNode, number>,
  ) {
    this.#nodes = nodes;
    this.#script = script;
    this.#backup = backup;
    this.#master = master;
    this.need = need;
    this.#runsBefore = runsBefore;
  }

  /**
   * Starts counting the runs of `script` (installed counted in each node's directory) on `nodes`, and the
   * adverts `backup` receives from the address `master`; `config` is the installed config's text.
   */
  static async start(
    nodes: readonly KeepalivedNode[],
    script: string,
    backup: KeepalivedNode,
    master: string,
    config: string,
  ): Promise<MoveChances> {
    await countAdverts(backup.ns, master);
    const runsBefore = new Map<KeepalivedNode, number>();
    for (const node of nodes) runsBefore.set(node, (await scriptRuns(node.dir, script)).length);
    return new MoveChances(nodes, script, backup, master, chancesToMove(config, script), runsBefore);
  }

  /** The exit statuses of `node`'s runs of the script since the start. */
  async runs(node: KeepalivedNode): Promise<number[]> {
    return (await scriptRuns(node.dir, this.#script)).slice(this.#runsBefore.get(node) ?? 0);
  }

  /** Whether every host ran the script often enough, and the backup received enough adverts after that. */
  async reached(): Promise<boolean> {
    if (this.#advertsBefore === undefined) {
      for (const node of this.#nodes) if ((await this.runs(node)).length < this.need.runs) return false;
      this.#advertsBefore = await advertsReceived(this.#backup.ns, this.#master);
    }
    return (await advertsReceived(this.#backup.ns, this.#master)) - this.#advertsBefore >= this.need.adverts;
  }

  /** The counts so far, for failure messages. */
  async progress(): Promise<string> {
    const runs = [];
    for (const node of this.#nodes) runs.push(`${node.name} ${(await this.runs(node)).join(",")}`);
    const adverts = this.#advertsBefore === undefined
      ? "not counted before the runs are"
      : (await advertsReceived(this.#backup.ns, this.#master)) - this.#advertsBefore;
    const backup = this.#backup.name;
    return `exit statuses of ${this.#script} (${this.need.runs} runs needed): ${runs.join("; ")}\n` +
      `adverts ${backup} received from ${this.#master} since (${this.need.adverts} needed): ${adverts}`;
  }
}
