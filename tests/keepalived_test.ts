/**
 * keepalived/: the config passes `keepalived -t`, the scripts are valid shell and behave, and a real
 * failover between two keepalived processes in two network namespaces that this test creates (joined by
 * a veth pair, on a private subnet that exists only inside them).
 *
 * What the failover test asserts (nopreempt semantics):
 *   1. A starts alone and takes the VIP; B starts and stands by (BACKUP), the VIP stays on A.
 *   2. A's check fails → A goes to FAULT and the VIP moves to B.
 *   3. A's check recovers → A becomes BACKUP, and the VIP stays on B (no preemption, no second move).
 *   4. B's check fails → the VIP moves back to A.
 * At every step the VIP is on exactly one node.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { installed, note, ROOT, run, terminate, which, whichOrNote } from "./support/process.ts";

const DIR = join(ROOT, "keepalived");

/** Replaces the `$NAME=value` definitions at the top of keepalived.conf. */
function define(config: string, values: Record<string, string>): string {
  let out = config;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^\\$${name}=.*$`, "m");
    assert.match(out, re, `keepalived.conf defines $${name}`);
    out = out.replace(re, `$${name}=${value}`);
  }
  return out;
}

/** A directory like /etc/keepalived: the shipped scripts (or replacements) and the config. */
async function installTo(
  dir: string,
  values: Record<string, string>,
  check?: string,
): Promise<string> {
  await Deno.copyFile(join(DIR, "notify.sh"), join(dir, "notify.sh"));
  if (check === undefined) {
    await Deno.copyFile(
      join(DIR, "check_haproxy.sh"),
      join(dir, "check_haproxy.sh"),
    );
  } else await Deno.writeTextFile(join(dir, "check_haproxy.sh"), check);
  for (const script of ["notify.sh", "check_haproxy.sh"]) {
    await Deno.chmod(join(dir, script), 0o755);
  }
  const config = join(dir, "keepalived.conf");
  const text = define(await Deno.readTextFile(join(DIR, "keepalived.conf")), {
    SCRIPT_DIR: dir,
    ...values,
  });
  await Deno.writeTextFile(config, text);
  return config;
}

const KEEPALIVED = whichOrNote(
  "keepalived",
  "keepalived_test: keepalived not installed: its tests are skipped",
);

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

Deno.test("keepalived.conf is BACKUP + nopreempt, VRRPv3 unicast, without PASS authentication", async () => {
  const text = (await Deno.readTextFile(join(DIR, "keepalived.conf"))).replace(
    /#.*$/gm,
    "",
  );
  assert.match(text, /^\s*state BACKUP$/m);
  assert.match(text, /^\s*nopreempt$/m);
  assert.doesNotMatch(text, /^\s*state MASTER/m);
  assert.match(text, /^\s*vrrp_version 3$/m);
  assert.match(text, /unicast_peer \{/);
  assert.doesNotMatch(text, /authentication|auth_type|auth_pass/);
  assert.match(text, /script "\$\{SCRIPT_DIR\}\/check_haproxy\.sh"/);
  assert.match(text, /notify "\$\{SCRIPT_DIR\}\/notify\.sh"/);
  const sysctl = await Deno.readTextFile(
    join(DIR, "99-haconfd-nonlocal-bind.conf"),
  );
  assert.match(sysctl, /^net\.ipv4\.ip_nonlocal_bind = 1$/m);
});

Deno.test("check_haproxy.sh and notify.sh are valid shell", async () => {
  for (const script of ["check_haproxy.sh", "notify.sh"]) {
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
    assert.match(
      lines[1] as string,
      /state=FAULT .*msg="check failed, VIP released"/,
    );
    assert.match(lines[2] as string, /state=BACKUP/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "check_haproxy.sh passes only when HAProxy runs and /readyz answers 200 in time",
  ignore: !installed("curl") || !installed("pidof"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "haconfd-check-" });
    let answer = 200;
    let hang = false;
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
    }, async () => {
      if (hang) await new Promise((r) => setTimeout(r, 2500));
      return new Response(answer === 200 ? "ready" : "not ready", {
        status: answer,
      });
    });
    // A stand-in HAProxy process with a name no other process has.
    const name = `hcchk${Deno.pid}${Math.floor(Math.random() * 1e6)}`;
    const fake = join(dir, name);
    await Deno.copyFile(which("sleep") as string, fake);
    await Deno.chmod(fake, 0o755);
    let proc: Deno.ChildProcess | undefined;
    const url = `http://127.0.0.1:${server.addr.port}/readyz`;
    const check = (args: string[] = []) =>
      run(join(DIR, "check_haproxy.sh"), args, {
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HAPROXY_PROCESS: name,
          HACONFD_READYZ_URL: url,
          CHECK_MAX_TIME: "1",
        },
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
      assert.equal(
        res.code,
        0,
        `HAProxy runs and /readyz is 200: ${res.stderr}`,
      );

      answer = 503;
      res = await check();
      assert.equal(res.code, 1, "/readyz 503");
      assert.match(res.stderr, /answered "503"/);

      answer = 200;
      res = await check([`http://127.0.0.1:${server.addr.port}/healthz`]);
      assert.equal(res.code, 0, "the URL can be given as $1");

      hang = true;
      const started = Date.now();
      res = await check();
      assert.equal(res.code, 1, "a /readyz slower than CHECK_MAX_TIME fails");
      assert.ok(Date.now() - started < 2400, "curl gave up at its time limit");
      hang = false;

      res = await check(["http://127.0.0.1:1/readyz"]);
      assert.equal(res.code, 1, "nothing listening");
    } finally {
      if (proc !== undefined) {
        proc.kill("SIGKILL");
        await proc.status;
      }
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------
// Failover in network namespaces

const SUBNET = "10.231.7";
const VIP = `${SUBNET}.100`;

async function netnsUsable(): Promise<string | undefined> {
  if (KEEPALIVED === undefined) return "keepalived is not installed";
  if (!installed("ip")) return "ip (iproute2) is not installed";
  const name = `hcka-probe-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) return `"ip netns add" failed: ${add.stderr.trim()}`;
  await run("ip", ["netns", "del", name]);
  return undefined;
}

const NETNS_PROBLEM = await netnsUsable();
if (NETNS_PROBLEM !== undefined) {
  note(`keepalived_test: failover test skipped: ${NETNS_PROBLEM}`);
}

async function ip(args: string[]): Promise<string> {
  const res = await run("ip", args);
  assert.equal(res.code, 0, `ip ${args.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

interface Node {
  name: "a" | "b";
  ns: string;
  dev: string;
  dir: string;
  log: string;
  notifyLog: string;
  proc?: Deno.ChildProcess | undefined;
}

async function hasVip(node: Node): Promise<boolean> {
  const out = await ip([
    "-n",
    node.ns,
    "-4",
    "-o",
    "addr",
    "show",
    "dev",
    node.dev,
  ]);
  return out.includes(`inet ${VIP}/`);
}

async function notifications(node: Node): Promise<string[]> {
  const text = await Deno.readTextFile(node.notifyLog).catch(() => "");
  return [...text.matchAll(/state=(\w+)/g)].map((m) => m[1] as string);
}

async function logs(nodes: Node[]): Promise<string> {
  const parts = [];
  for (const node of nodes) {
    const text = await Deno.readTextFile(node.log).catch(() => "");
    parts.push(
      `--- keepalived ${node.name} ---\n${text.trimEnd().split("\n").slice(-25).join("\n")}`,
    );
  }
  return parts.join("\n");
}

/** Waits until `cond` holds (polling every 200 ms), failing with both keepalived logs after `ms`. */
async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  nodes: Node[],
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`Timed out waiting for: ${what}\n${await logs(nodes)}`);
}

async function vipOnlyOn(holder: Node, other: Node): Promise<boolean> {
  return (await hasVip(holder)) && !(await hasVip(other));
}

function start(node: Node, config: string): void {
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

async function stop(node: Node): Promise<void> {
  const proc = node.proc;
  if (proc === undefined) return;
  node.proc = undefined;
  await terminate(proc, 5000);
}

Deno.test({
  name: "keepalived.conf moves the VIP on a failed check and keeps it after recovery (nopreempt)",
  ignore: NETNS_PROBLEM !== undefined,
  async fn() {
    const tag = `${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
    const tmp = await Deno.makeTempDir({ prefix: "haconfd-failover-" });
    const a: Node = {
      name: "a",
      ns: `hcka-${tag}-a`,
      dev: "va",
      dir: join(tmp, "a"),
      log: join(tmp, "a.log"),
      notifyLog: join(tmp, "a.notify"),
    };
    const b: Node = {
      name: "b",
      ns: `hcka-${tag}-b`,
      dev: "vb",
      dir: join(tmp, "b"),
      log: join(tmp, "b.log"),
      notifyLog: join(tmp, "b.notify"),
    };
    const nodes = [a, b];
    const created: string[] = [];
    try {
      for (const node of nodes) {
        await ip(["netns", "add", node.ns]);
        created.push(node.ns);
        await ip(["-n", node.ns, "link", "set", "lo", "up"]);
      }
      await ip([
        "link",
        "add",
        a.dev,
        "netns",
        a.ns,
        "type",
        "veth",
        "peer",
        "name",
        b.dev,
        "netns",
        b.ns,
      ]);
      const address = { a: `${SUBNET}.1`, b: `${SUBNET}.2` };
      for (const node of nodes) {
        await ip([
          "-n",
          node.ns,
          "addr",
          "add",
          `${address[node.name]}/24`,
          "dev",
          node.dev,
        ]);
        await ip(["-n", node.ns, "link", "set", node.dev, "up"]);
      }

      const configs: Record<string, string> = {};
      for (const node of nodes) {
        const peer = node === a ? b : a;
        await Deno.mkdir(node.dir);
        // The test's check: healthy while the flag file is absent.
        const check = `#!/bin/sh\n[ ! -e "${node.dir}/fail" ]\n`;
        configs[node.name] = await installTo(node.dir, {
          IFACE: node.dev,
          VIP: `${VIP}/24`,
          SELF: address[node.name],
          PEER: address[peer.name],
        }, check);
      }

      // 1. A alone takes the VIP; B joins as BACKUP and leaves it there.
      start(a, configs.a as string);
      await waitFor("VIP on A after A started alone", () => hasVip(a), nodes);
      start(b, configs.b as string);
      await waitFor(
        "B reports BACKUP",
        async () => (await notifications(b)).includes("BACKUP"),
        nodes,
      );
      assert.ok(await vipOnlyOn(a, b), "the VIP stays on A when B joins");

      // 2. A's check fails: the VIP moves to B.
      await Deno.writeTextFile(join(a.dir, "fail"), "");
      await waitFor(
        "VIP moved to B after A's check failed",
        () => vipOnlyOn(b, a),
        nodes,
      );
      await waitFor(
        "A reports FAULT",
        async () => (await notifications(a)).includes("FAULT"),
        nodes,
      );

      // 3. A recovers: it stands by, the VIP stays on B (nopreempt).
      await Deno.remove(join(a.dir, "fail"));
      await waitFor(
        "A reports BACKUP again",
        async () => (await notifications(a)).at(-1) === "BACKUP",
        nodes,
      );
      await new Promise((r) => setTimeout(r, 3000)); // several advert intervals
      assert.ok(
        await vipOnlyOn(b, a),
        `the VIP stays on B after A recovered\n${await logs(nodes)}`,
      );

      // 4. B's check fails: the VIP moves back to A.
      await Deno.writeTextFile(join(b.dir, "fail"), "");
      await waitFor(
        "VIP back on A after B's check failed",
        () => vipOnlyOn(a, b),
        nodes,
      );

      // Every transition was notified, in order, and nothing else (notify scripts run asynchronously).
      const expected = {
        a: "BACKUP MASTER FAULT BACKUP MASTER",
        b: "BACKUP MASTER FAULT",
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
      for (const node of nodes) await stop(node);
      for (const ns of created) await run("ip", ["netns", "del", ns]);
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
