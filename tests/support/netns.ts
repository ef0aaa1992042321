/**
 * Network namespaces for tests: whether this machine lets the test create them, a set of namespaces the
 * test creates (loopback up) and always deletes again, veth pairs and a bridge made directly inside them
 * (never an interface or route of the machine itself), commands run inside one, and polling helpers that
 * fail loudly with a description of the state.
 *
 * ```ts
 * const problem = await netnsProblem();          // a reason to skip, or undefined
 * await using set = new Namespaces("hcx");
 * const a = await set.add("a"), b = await set.add("b");
 * await veth(a, "eth0", b, "eth0");
 * await ip(["-n", a, "addr", "add", "10.231.7.1/24", "dev", "eth0"]);
 * const out = await inNetns(a, "curl", ["-s", "http://127.0.0.1:9180/readyz"]);
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { delay } from "../../lib/delay.ts";
import { installed, run, type RunResult } from "./process.ts";

/**
 * Why this machine cannot run tests in network namespaces (no `ip`, or `ip netns add` refused: not root,
 * a container without the capability), or `undefined` when it can.
 */
export async function netnsProblem(): Promise<string | undefined> {
  if (!installed("ip")) return "ip (iproute2) is not installed";
  const name = `hcns-probe-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) return `"ip netns add" failed: ${add.stderr.trim()}`;
  await run("ip", ["netns", "del", name]);
  return undefined;
}

/** Runs `ip ARGS`, failing the test with ip's message when it fails; resolves with its stdout. */
export async function ip(args: string[]): Promise<string> {
  const res = await run("ip", args);
  assert.equal(res.code, 0, `ip ${args.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

/** Runs `cmd ARGS` to completion inside network namespace `ns` (`ip netns exec`). */
export function inNetns(ns: string, cmd: string, args: string[]): Promise<RunResult> {
  return run("ip", ["netns", "exec", ns, cmd, ...args]);
}

/** Namespaces created by one test, named `<prefix>-<pid>-<random>-<name>`; `close()` deletes them all. */
export class Namespaces implements AsyncDisposable {
  readonly #tag: string;
  readonly #created: string[] = [];

  /** `prefix` keeps the names short (interface-independent, but `ip netns list` shows them). */
  constructor(prefix: string) {
    this.#tag = `${prefix}-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  }

  /** Creates namespace `name` with its loopback up; resolves with its full name. */
  async add(name: string): Promise<string> {
    const ns = `${this.#tag}-${name}`;
    await ip(["netns", "add", ns]);
    this.#created.push(ns);
    await ip(["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** Deletes every namespace created (their interfaces go with them); safe to call twice. */
  async close(): Promise<void> {
    for (const ns of this.#created.splice(0)) await run("ip", ["netns", "del", ns]);
  }

  /** {@linkcode Namespaces.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A veth pair made directly inside two namespaces: `devA` in `nsA`, `devB` in `nsB`, both up. */
export async function veth(nsA: string, devA: string, nsB: string, devB: string): Promise<void> {
  await ip(["link", "add", devA, "netns", nsA, "type", "veth", "peer", "name", devB, "netns", nsB]);
  await ip(["-n", nsA, "link", "set", devA, "up"]);
  await ip(["-n", nsB, "link", "set", devB, "up"]);
}

/** A bridge `dev` inside `ns` (no STP, no forwarding delay), up. */
export async function bridge(ns: string, dev: string): Promise<void> {
  await ip(["-n", ns, "link", "add", dev, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
  await ip(["-n", ns, "link", "set", dev, "up"]);
}

/** Whether interface `dev` in `ns` carries IPv4 address `address` (without prefix length). */
export async function hasAddress(ns: string, dev: string, address: string): Promise<boolean> {
  const out = await ip(["-n", ns, "-4", "-o", "addr", "show", "dev", dev]);
  return out.includes(`inet ${address}/`);
}

/** Options of {@linkcode pollUntil} and {@linkcode holdsUntil}. */
export interface PollOptions {
  /** Describes the state for the failure message (e.g. the last lines of the logs). */
  describe?: () => Promise<string>;
  /** Time between checks. @default {200} */
  intervalMs?: number;
}

/**
 * Waits until `cond` holds, checking every `intervalMs`; fails the test naming `what` (and the described
 * state) after `ms`. Resolves with the time waited.
 */
export async function pollUntil(
  what: string,
  cond: () => Promise<boolean>,
  ms: number,
  options: PollOptions = {},
): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await cond()) return Date.now() - started;
    await delay(options.intervalMs ?? 200);
  }
  assert.fail(`Timed out after ${ms} ms waiting for: ${what}\n${(await options.describe?.()) ?? ""}`);
}

/**
 * Waits until `done` holds, checking every `intervalMs` that `invariant` holds too (also once `done` does):
 * fails the test naming `what` as soon as it does not, or when `done` has not come within `ms`.
 */
export async function holdsUntil(
  what: string,
  invariant: () => Promise<boolean>,
  done: () => Promise<boolean>,
  ms: number,
  options: PollOptions = {},
): Promise<void> {
  const started = Date.now();
  for (;;) {
    const finished = await done();
    if (!(await invariant())) {
      assert.fail(
        `Stopped holding after ${Date.now() - started} ms: ${what}\n${(await options.describe?.()) ?? ""}`,
      );
    }
    if (finished) return;
    if (Date.now() - started >= ms) {
      assert.fail(
        `Timed out after ${ms} ms waiting for the events that end: ${what}\n${
          (await options.describe?.()) ?? ""
        }`,
      );
    }
    await delay(options.intervalMs ?? 200);
  }
}
