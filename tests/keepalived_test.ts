/**
 * keepalived/: the config passes `keepalived -t`, the scripts are valid shell and behave, and a real
 * failover between two keepalived processes in two network namespaces that this test creates (joined by
 * a veth pair, on a private subnet that exists only inside them).
 *
 * The design under test (keepalived/keepalived.conf): chk_haproxy (no weight) puts a host that cannot
 * serve in FAULT; chk_haconfd_ready (negative weight) only lowers the priority of a host whose haconfd is
 * not ready, so a failure that hits every host at once leaves the VIP where it is; preempt_delay lets a
 * higher-priority host take the VIP over after the delay. The failover test runs the shipped config with
 * small timers (advert interval, script intervals, preempt delay) and stand-in check scripts driven by
 * flag files, A with priority 150 and B with 100:
 *   0. A takes the VIP; B joins and stands by.
 *   1. A's chk_haproxy fails → A goes to FAULT, the VIP moves to B at once; A recovers → A stands by,
 *      and takes the VIP back only after the preempt delay.
 *   2. A's /readyz fails alone → the VIP moves to B; A's /readyz recovers → the VIP comes back to A.
 *   3. /readyz fails on both hosts → both priorities drop, and the VIP stays on A until keepalived has had
 *      every chance to move it, counted: both hosts ran the readiness check (failing) and then B received
 *      A's adverts often enough to have taken the VIP over after the preempt delay (chancesToMove).
 *   4. Still no host ready, A's chk_haproxy fails → B takes the VIP though not ready.
 * At every step the VIP is on exactly one node.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { endpoints, startDaemonProcess, startKube } from "./support/daemon.ts";
import { haproxyAvailable, waitFor as waitUntil } from "./support/haproxy.ts";
import {
  define,
  holdsVip,
  installKeepalived as installTo,
  KEEPALIVED_DIR as DIR,
  KEEPALIVED_SCRIPTS as SCRIPTS,
  keepalivedLogs,
  type KeepalivedNode as Node,
  keepalivedNode,
  MoveChances,
  notifications,
  priorities,
  setAll,
  startKeepalived as start,
  stopKeepalived as stop,
} from "./support/keepalived.ts";
import { holdsUntil, ip, Namespaces, netnsProblem, pollUntil, veth } from "./support/netns.ts";
import { installed, note, run, which, whichOrNote } from "./support/process.ts";

/** The shipped keepalived.conf without comments. */
async function shippedConfig(): Promise<string> {
  return (await Deno.readTextFile(join(DIR, "keepalived.conf"))).replace(/#.*$/gm, "");
}

/** The body of the `vrrp_script NAME { ... }` block of a config without comments. */
function scriptBlock(config: string, name: string): string {
  const m = config.match(new RegExp(`^vrrp_script ${name} \\{\\n([\\s\\S]*?)^\\}`, "m"));
  assert.ok(m !== null, `keepalived.conf has vrrp_script ${name}`);
  return m[1] as string;
}

/** `promise`, or a rejection with `failure` when it has not settled within `ms`. */
async function withDeadline<T>(promise: Promise<T>, ms: number, failure: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${failure} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const KEEPALIVED = whichOrNote(
  "keepalived",
  "keepalived_test: keepalived not installed: its tests are skipped",
);

/** The base priorities of the two hosts in the failover test: the shipped $PRIORITY and "100 on the second". */
const PRIORITY = { a: 150, b: 100 };

Deno.test({
  name: "keepalived.conf passes keepalived -t with the shipped scripts",
  ignore: KEEPALIVED === undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-ka-" });
    try {
      const config = await installTo(dir, {});
      const ok = await run(KEEPALIVED as string, ["-t", "-f", config]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      // Control: keepalived -t does reject a broken value, so the pass above means something.
      const broken = join(dir, "broken.conf");
      await Deno.writeTextFile(
        broken,
        define(await Deno.readTextFile(config), { PRIORITY: "300" }),
      );
      const bad = await run(KEEPALIVED as string, ["-t", "-f", broken]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout + bad.stderr, /[Pp]riority/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("keepalived.conf is BACKUP + preempt_delay, VRRPv3 unicast, without PASS authentication", async () => {
  const text = await shippedConfig();
  assert.match(text, /^\s*state BACKUP$/m);
  assert.doesNotMatch(text, /^\s*state MASTER/m);
  assert.doesNotMatch(text, /nopreempt/, "a weight moves the VIP only when preemption is allowed");
  const delay = text.match(/^\s*preempt_delay (\d+)$/m);
  assert.ok(delay !== null, "preempt_delay is set");
  assert.ok(Number(delay[1]) >= 10, `preempt_delay ${delay[1]} rides out a haconfd restart`);
  assert.match(text, /^\s*priority \$PRIORITY$/m);
  assert.match(text, /^\s*vrrp_version 3$/m);
  assert.match(text, /unicast_peer \{/);
  assert.doesNotMatch(text, /authentication|auth_type|auth_pass/);
  assert.match(text, /notify "\$\{SCRIPT_DIR\}\/notify\.sh"/);
  const sysctl = await Deno.readTextFile(
    join(DIR, "99-haconfd-nonlocal-bind.conf"),
  );
  assert.match(sysctl, /^net\.ipv4\.ip_nonlocal_bind = 1$/m);
});

Deno.test("keepalived.conf tracks HAProxy without weight (FAULT) and /readyz with a weight beyond the priority spread", async () => {
  const text = await shippedConfig();
  const haproxy = scriptBlock(text, "chk_haproxy");
  assert.match(haproxy, /script "\$\{SCRIPT_DIR\}\/check_haproxy\.sh"/);
  assert.doesNotMatch(haproxy, /weight/, "a host without HAProxy goes to FAULT");
  const ready = scriptBlock(text, "chk_haconfd_ready");
  assert.match(ready, /script "\$\{SCRIPT_DIR\}\/check_haconfd_ready\.sh \$\{READYZ_URL\}"/);
  const weight = ready.match(/^\s*weight (-?\d+)$/m);
  assert.ok(weight !== null, "chk_haconfd_ready has a weight");
  const w = Number(weight[1]);
  assert.ok(w < 0, `weight ${w} lowers the priority of a host that is not ready`);
  assert.ok(
    -w > PRIORITY.a - PRIORITY.b,
    `weight ${w} puts a host that is not ready below every ready one (priorities ${PRIORITY.a}, ${PRIORITY.b})`,
  );
  assert.ok(PRIORITY.b + w >= 1, "the lowest priority minus the weight stays a valid priority");
  assert.match(text, new RegExp(`^\\$PRIORITY=${PRIORITY.a}$`, "m"));
  const tracked = text.match(/track_script \{([^}]*)\}/);
  assert.ok(tracked !== null, "the instance tracks scripts");
  assert.deepEqual(tracked[1]?.trim().split(/\s+/), ["chk_haproxy", "chk_haconfd_ready"]);
});

Deno.test("check_haproxy.sh, check_haconfd_ready.sh and notify.sh are valid shell", async () => {
  for (const script of SCRIPTS) {
    for (const shell of ["bash", "sh"]) {
      const res = await run(shell, ["-n", join(DIR, script)]);
      assert.equal(res.code, 0, `${shell} -n ${script}: ${res.stderr}`);
    }
    assert.ok(
      ((await Deno.stat(join(DIR, script))).mode ?? 0) & 0o100,
      `${script} is executable`,
    );
  }
});

Deno.test("notify.sh logs each state transition as one logfmt line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-notify-" });
  try {
    const log = join(dir, "notify.log");
    const env = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HACONFD_NOTIFY_LOG: log,
    };
    for (const state of ["MASTER", "FAULT", "BACKUP"]) {
      const res = await run(join(DIR, "notify.sh"), [
        "INSTANCE",
        "haconfd_vip",
        state,
        "100",
      ], { env });
      assert.equal(res.code, 0, res.stderr);
    }
    const lines = (await Deno.readTextFile(log)).trimEnd().split("\n");
    assert.equal(lines.length, 3);
    assert.match(
      lines[0] as string,
      /^time=\S+Z type=INSTANCE name=haconfd_vip state=MASTER priority=100 msg="/,
    );
    assert.match(lines[1] as string, /state=FAULT .*msg="HAProxy down .*VIP released"/);
    assert.match(lines[2] as string, /state=BACKUP/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "check_haproxy.sh passes exactly while a process of that name runs",
  ignore: !installed("pidof"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-check-" });
    // A stand-in HAProxy process with a name no other process has.
    const name = `hcchk${Deno.pid}${Math.floor(Math.random() * 1e6)}`;
    const fake = join(dir, name);
    await Deno.copyFile(which("sleep") as string, fake);
    await Deno.chmod(fake, 0o755);
    let proc: Deno.ChildProcess | undefined;
    const check = () =>
      run(join(DIR, "check_haproxy.sh"), [], {
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HAPROXY_PROCESS: name },
      });
    try {
      let res = await check();
      assert.equal(res.code, 1, "no HAProxy process");
      assert.match(res.stderr, /no ".*" process is running/);

      proc = new Deno.Command(fake, {
        args: ["30"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      res = await check();
      assert.equal(res.code, 0, `HAProxy runs: ${res.stderr}`);

      proc.kill("SIGKILL");
      await proc.status;
      proc = undefined;
      res = await check();
      assert.equal(res.code, 1, "HAProxy gone again");
    } finally {
      if (proc !== undefined) {
        proc.kill("SIGKILL");
        await proc.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "check_haconfd_ready.sh passes only when /readyz answers 200 in time",
  ignore: !installed("curl"),
  async fn() {
    let answer = 200;
    // While set, /readyz answers only once the test releases it: after the check has returned.
    let hang: PromiseWithResolvers<void> | null = null;
    const paths: string[] = [];
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, async (req) => {
      paths.push(new URL(req.url).pathname);
      if (hang !== null) await hang.promise;
      return new Response(answer === 200 ? "ready" : "not ready", {
        status: answer,
      });
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    const check = (args: string[] = []) =>
      run(join(DIR, "check_haconfd_ready.sh"), args, {
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HACONFD_READYZ_URL: `${base}/readyz`,
          CHECK_MAX_TIME: "1",
        },
      });
    try {
      let res = await check();
      assert.equal(res.code, 0, `/readyz is 200: ${res.stderr}`);
      assert.deepEqual(paths, ["/readyz"], "HACONFD_READYZ_URL is used");

      answer = 503;
      res = await check();
      assert.equal(res.code, 1, "/readyz 503");
      assert.match(res.stderr, /answered "503"/);

      answer = 200;
      res = await check([`${base}/ready-by-arg`]);
      assert.equal(res.code, 0, "the URL can be given as $1");
      assert.equal(paths.at(-1), "/ready-by-arg");

      // /readyz never answers until the check is over: the check can only return by giving up itself
      // (curl's --max-time); if it did not, the deadline fails the test, saying so.
      hang = Promise.withResolvers<void>();
      const gaveUp = await withDeadline(
        check(),
        30_000,
        "check_haconfd_ready.sh still waits for a /readyz that does not answer: CHECK_MAX_TIME is not applied",
      );
      hang.resolve();
      hang = null;
      assert.equal(gaveUp.code, 1, "a /readyz slower than CHECK_MAX_TIME fails");
      assert.match(gaveUp.stderr, /answered "000"/, "curl gave up without an answer");

      res = await check(["http://127.0.0.1:1/readyz"]);
      assert.equal(res.code, 1, "nothing listening (haconfd down)");
      assert.match(res.stderr, /answered "000"/);
    } finally {
      hang?.resolve();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "haconfd /readyz stays 200 while the API is unreachable after the first sync (keepalived/README.md)",
  ignore: !haproxyAvailable(),
  async fn() {
    const kube = await startKube([
      endpoints("web", { domain: "web.example.test", proto: "http" }, ["127.0.0.2"], 8080),
    ]);
    let kubeUp = true;
    const daemon = await startDaemonProcess({ apiServer: kube.url });
    try {
      const before = await daemon.get("/readyz");
      assert.equal(before.status, 200, before.body);
      await kube.close();
      kubeUp = false;
      // The daemon has noticed the outage once /status reports the source's error.
      const error = await waitUntil(async () => {
        const source = (await daemon.status()).source as { lastError: string | null };
        return source.lastError ?? undefined;
      }, { timeoutMs: 30_000, what: "/status to report the source's error after the API went away" });
      const during = await daemon.get("/readyz");
      assert.equal(
        during.status,
        200,
        `/readyz during the API outage (source error: ${error}): ${during.body}`,
      );
      // Ready, and saying why the config may be behind the cluster.
      assert.match(during.body, /serving the last good config; the source is failing: /);
    } finally {
      await daemon.stop();
      if (kubeUp) await kube.close();
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// Failover in network namespaces

const SUBNET = "10.231.7";
const VIP = `${SUBNET}.100`;
/** The test's timers: keepalived's master-down interval is 3 × ADVERT_INT + skew (≈ 1.7 s here). */
const ADVERT_INT = 0.5;
const PREEMPT_DELAY_S = 2;
/** The check whose runs the test counts. */
const READY_CHECK = "check_haconfd_ready.sh";

const NETNS_PROBLEM = KEEPALIVED === undefined
  ? "keepalived is not installed"
  : !installed("iptables")
  ? "iptables (counting the adverts a host receives) is not installed"
  : await netnsProblem();
if (NETNS_PROBLEM !== undefined) {
  note(`keepalived_test: failover test skipped: ${NETNS_PROBLEM}`);
}

const hasVip = (node: Node) => holdsVip(node, VIP);

/** Waits until `cond` holds, failing with both keepalived logs after `ms`. */
async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  nodes: Node[],
  ms = 15_000,
): Promise<void> {
  await pollUntil(what, cond, ms, { describe: () => keepalivedLogs(nodes) });
}

/**
 * Asserts that `cond` holds at every check until keepalived has had every chance to move the VIP, and that
 * the readiness check failed on every host each time; fails with the counts and both keepalived logs.
 */
async function holdsWhileNotReady(
  what: string,
  cond: () => Promise<boolean>,
  chances: MoveChances,
  nodes: Node[],
): Promise<void> {
  await holdsUntil(what, cond, () => chances.reached(), chances.need.deadlineMs, {
    describe: async () => `${await chances.progress()}\n${await keepalivedLogs(nodes)}`,
  });
  for (const n of nodes) {
    const runs = await chances.runs(n);
    assert.ok(runs.every((status) => status !== 0), `${n.name} stayed not ready: ${runs.join(",")}`);
  }
}

async function vipOnlyOn(holder: Node, other: Node): Promise<boolean> {
  return (await hasVip(holder)) && !(await hasVip(other));
}

/** The shipped config with the test's small timers. */
function fastTimers(config: string): string {
  let out = setAll(config, "advert_int", String(ADVERT_INT));
  out = setAll(out, "preempt_delay", String(PREEMPT_DELAY_S));
  for (const keyword of ["interval", "fall", "rise"]) out = setAll(out, keyword, "1");
  return out;
}

Deno.test({
  name:
    "keepalived.conf moves the VIP off a host that cannot serve or is not ready, not when no host is ready",
  ignore: NETNS_PROBLEM !== undefined,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "haconfd-failover-" });
    const namespaces = new Namespaces("hcka");
    const nodes: Node[] = [];
    /** Makes one of `node`'s stand-in checks fail (`true`) or pass (`false`). */
    const fail = async (n: Node, flag: "haproxy-down" | "not-ready", failing: boolean) => {
      if (failing) await Deno.writeTextFile(join(n.dir, flag), "");
      else await Deno.remove(join(n.dir, flag));
    };
    try {
      const a = keepalivedNode("a", await namespaces.add("a"), "va", tmp);
      const b = keepalivedNode("b", await namespaces.add("b"), "vb", tmp);
      nodes.push(a, b);
      await veth(a.ns, a.dev, b.ns, b.dev);
      const address = (n: Node) => n === a ? `${SUBNET}.1` : `${SUBNET}.2`;
      for (const n of nodes) {
        await ip(["-n", n.ns, "addr", "add", `${address(n)}/24`, "dev", n.dev]);
      }

      const configs: Record<string, string> = {};
      const readyzUrl = (n: Node) => `http://127.0.0.1:9180/readyz?host=${n.name}`;
      for (const n of nodes) {
        const peer = n === a ? b : a;
        await Deno.mkdir(n.dir);
        // Stand-in checks: healthy while their flag file is absent; the readiness check records the
        // arguments keepalived passed (the URL from $READYZ_URL).
        configs[n.name] = await installTo(n.dir, {
          IFACE: n.dev,
          VIP: `${VIP}/24`,
          SELF: address(n),
          PEER: address(peer),
          PRIORITY: String(PRIORITY[n.name as "a" | "b"]),
          READYZ_URL: readyzUrl(n),
        }, {
          stubs: {
            "check_haproxy.sh": `#!/bin/sh\n[ ! -e "${n.dir}/haproxy-down" ]\n`,
            "check_haconfd_ready.sh":
              `#!/bin/sh\necho "$*" >"${n.dir}/ready-args"\n[ ! -e "${n.dir}/not-ready" ]\n`,
          },
          counted: [READY_CHECK],
          edit: fastTimers,
        });
      }

      // 0. A takes the VIP; B joins and stands by.
      start(a, configs.a as string);
      await waitFor("VIP on A after A started alone", () => hasVip(a), nodes);
      start(b, configs.b as string);
      await waitFor(
        "B reports BACKUP",
        async () => (await notifications(b)).includes("BACKUP"),
        nodes,
      );
      assert.ok(await vipOnlyOn(a, b), "the VIP stays on A when B joins");
      for (const n of nodes) {
        assert.equal(
          (await Deno.readTextFile(join(n.dir, "ready-args"))).trim(),
          readyzUrl(n),
          "keepalived passes $READYZ_URL to check_haconfd_ready.sh",
        );
      }

      // 1. A's HAProxy check fails: A goes to FAULT and the VIP moves to B at once.
      await fail(a, "haproxy-down", true);
      await waitFor("VIP moved to B after A's HAProxy check failed", () => vipOnlyOn(b, a), nodes);
      await waitFor("A reports FAULT", async () => (await notifications(a)).includes("FAULT"), nodes);
      //    A recovers: it stands by first, and takes the VIP back after the preempt delay.
      const logBefore = (await Deno.readTextFile(a.log)).length;
      await fail(a, "haproxy-down", false);
      await waitFor(
        "A reports BACKUP again",
        async () => (await notifications(a)).at(-1) === "BACKUP",
        nodes,
      );
      assert.ok(await vipOnlyOn(b, a), "the VIP stays on B right after A recovered");
      await waitFor("VIP back on A after the preempt delay", () => vipOnlyOn(a, b), nodes);
      // keepalived's own account of the order, not a clock: the delay started, then A became MASTER.
      const since = (await Deno.readTextFile(a.log)).slice(logBefore);
      const delayed = since.search(/\(\w+\) start preempt delay/);
      assert.ok(delayed >= 0, `A started its preempt delay before taking the VIP back:\n${since}`);
      assert.ok(
        since.indexOf("Entering MASTER STATE", delayed) > delayed,
        `A became MASTER after it:\n${since}`,
      );

      // 2. A's /readyz fails alone: A's priority drops below B's, and B takes the VIP over.
      await fail(a, "not-ready", true);
      await waitFor("VIP moved to B after A's /readyz failed", () => vipOnlyOn(b, a), nodes);
      assert.ok(!(await notifications(a)).includes("FAULT", 3), "A did not go to FAULT for /readyz");
      //    A's /readyz recovers: the VIP comes back to A.
      await fail(a, "not-ready", false);
      await waitFor("VIP back on A after A's /readyz recovered", () => vipOnlyOn(a, b), nodes);

      // 3. /readyz fails on both hosts: both priorities drop by the weight, the VIP stays on A.
      const before = { a: (await priorities(a)).length, b: (await priorities(b)).length };
      await fail(a, "not-ready", true);
      await fail(b, "not-ready", true);
      const weight = -Number(
        scriptBlock(await shippedConfig(), "chk_haconfd_ready").match(/weight (-?\d+)/)?.[1],
      );
      await waitFor(
        `both priorities dropped by ${weight}`,
        async () =>
          (await priorities(a)).slice(before.a).at(-1) === PRIORITY.a - weight &&
          (await priorities(b)).slice(before.b).at(-1) === PRIORITY.b - weight,
        nodes,
      );
      const config = await Deno.readTextFile(configs.b as string);
      const chances = await MoveChances.start(nodes, READY_CHECK, b, address(a), config);
      await holdsWhileNotReady(
        "the VIP stays on A while no host is ready",
        () => vipOnlyOn(a, b),
        chances,
        nodes,
      );

      // 4. Still no host ready, and A's HAProxy fails: B, though not ready, takes the VIP (a stale config
      //    serves better than no address).
      await fail(a, "haproxy-down", true);
      await waitFor("VIP on B, not ready, after A's HAProxy check failed", () => vipOnlyOn(b, a), nodes);

      // Every transition was notified, in order, and nothing else (notify scripts run asynchronously).
      const expected = {
        a: "BACKUP MASTER FAULT BACKUP MASTER BACKUP MASTER FAULT",
        b: "BACKUP MASTER BACKUP MASTER BACKUP MASTER",
      };
      await waitFor(
        `notifications A: ${expected.a}; B: ${expected.b}`,
        async () =>
          (await notifications(a)).join(" ") === expected.a &&
          (await notifications(b)).join(" ") === expected.b,
        nodes,
        5000,
      );
    } finally {
      for (const n of nodes) await stop(n);
      await namespaces.close();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "check_haproxy.sh does not count an HAProxy of another network namespace (another host on the same machine)",
  ignore: NETNS_PROBLEM !== undefined || !installed("pidof"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-check-ns-" });
    const namespaces = new Namespaces("hckn");
    const name = `hcchk${Deno.pid}${Math.floor(Math.random() * 1e6)}`;
    const fake = join(dir, name);
    await Deno.copyFile(which("sleep") as string, fake);
    await Deno.chmod(fake, 0o755);
    // The stand-in HAProxy runs in this test's own namespace, the check in another one.
    const proc = new Deno.Command(fake, { args: ["30"], stdin: "null", stdout: "null", stderr: "null" })
      .spawn();
    const check = (args: string[]) =>
      run(args[0] as string, [...args.slice(1), join(DIR, "check_haproxy.sh")], {
        env: { HAPROXY_PROCESS: name },
      });
    try {
      const ns = await namespaces.add("other");
      const here = await check(["sh"]);
      assert.equal(here.code, 0, `the stand-in runs in this namespace: ${here.stderr}`);
      const there = await check(["ip", "netns", "exec", ns, "sh"]);
      assert.equal(there.code, 1, "another namespace's HAProxy does not count");
      assert.match(there.stderr, /no ".*" process is running in this network namespace/);
    } finally {
      proc.kill("SIGKILL");
      await proc.status;
      await namespaces.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
