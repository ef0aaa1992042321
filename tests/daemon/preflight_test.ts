import assert from "node:assert/strict";
import { join } from "node:path";
import { preflight, type PreflightCommand } from "../../lib/daemon/preflight.ts";
import { parseCommandLine } from "../../lib/settings/cli.ts";
import { ConfigError, loadSettings, optionSpecs } from "../../lib/settings/options.ts";
import { testCerts } from "../support/certs.ts";

/**
 * A machine in a temp dir: `bin/` (the only PATH entry) holds executable `haproxy` and `systemctl`,
 * `plain` is a readable non-executable file, `sets.json` a --from file, `etc/` a config directory.
 */
async function withMachine(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "haconfd-preflight-" });
  try {
    await Deno.mkdir(join(dir, "bin"));
    await Deno.mkdir(join(dir, "etc"));
    for (const program of ["haproxy", "systemctl"]) {
      await Deno.writeTextFile(join(dir, "bin", program), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    await Deno.writeTextFile(join(dir, "plain"), "not a program\n", { mode: 0o644 });
    await Deno.writeTextFile(join(dir, "sets.json"), "[]\n");
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs preflight on a command line and environment as main would. */
function check(args: string[], command: PreflightCommand, env: Record<string, string>): Promise<void> {
  const flags = parseCommandLine(args, optionSpecs()).values;
  return preflight(loadSettings(flags, env), command, { flags, env });
}

/** Asserts that preflight fails with exactly this ConfigError message (or passes, for null). */
async function expectProblem(run: Promise<void>, message: string | null, label: string): Promise<void> {
  if (message === null) return await run;
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof ConfigError, label);
    assert.equal(error.message, message, label);
    return true;
  });
}

/** Flags, the command, environment beside PATH, and the expected message (null: passes). */
type Case = [string[], PreflightCommand, Record<string, string>, string | null];

/** Runs each case on the machine in `dir` with a --from file and a config in `etc/`. */
async function expectProblems(dir: string, cases: Case[]): Promise<void> {
  const env = { PATH: join(dir, "bin") };
  const base = ["--from", join(dir, "sets.json"), "--haproxy-conf", join(dir, "etc", "haproxy.cfg")];
  for (const [args, command, extraEnv, message] of cases) {
    await expectProblem(check([...base, ...args], command, { ...env, ...extraEnv }), message, args.join(" "));
  }
}

Deno.test("preflight() names the flag or variable of a path that is missing or of the wrong kind", async () => {
  await withMachine(async (dir) => {
    const cases: Case[] = [
      [[], "run", {}, null],
      [
        ["--from", join(dir, "nope.json")],
        "render",
        {},
        `Invalid --from: "${join(dir, "nope.json")}" does not exist`,
      ],
      [
        ["--from", join(dir, "etc")],
        "render",
        {},
        `Invalid --from: "${join(dir, "etc")}" is a directory, not a file`,
      ],
      [
        ["--template-dir", join(dir, "plain")],
        "render",
        {},
        `Invalid --template-dir: "${join(dir, "plain")}" is not a directory`,
      ],
      [["--template-dir", join(dir, "etc")], "render", {}, null],
      [
        [],
        "run",
        { TOKEN_FILE: join(dir, "token") },
        `Invalid TOKEN_FILE: "${join(dir, "token")}" does not exist`,
      ],
      [
        ["--status-token-file", join(dir, "t")],
        "render",
        {},
        `Invalid --status-token-file: "${join(dir, "t")}" does not exist`,
      ],
      [
        ["--haproxy-conf", join(dir, "gone", "haproxy.cfg")],
        "run",
        {},
        `Invalid --haproxy-conf: its directory "${join(dir, "gone")}" does not exist`,
      ],
      // render and check write nothing, so the config's directory need not exist for them.
      [["--haproxy-conf", join(dir, "gone", "haproxy.cfg")], "render", {}, null],
      [["--haproxy-conf", join(dir, "gone", "haproxy.cfg")], "check", {}, null],
    ];
    await expectProblems(dir, cases);
  });
});

Deno.test("preflight() names the setting whose program is missing or not executable", async () => {
  await withMachine(async (dir) => {
    const plain = join(dir, "plain");
    const cases: Case[] = [
      [
        [],
        "run",
        { PATH: "" },
        'Invalid default of --haproxy-bin: "haproxy" is not an executable file on PATH (the check command, --haproxy-chk-cmd, runs it)',
      ],
      [
        ["--haproxy-bin", plain],
        "check",
        {},
        `Invalid --haproxy-bin: "${plain}" is not an executable file (the check command, --haproxy-chk-cmd, runs it)`,
      ],
      [
        ["--haproxy-chk-cmd", "hapee -c -f"],
        "check",
        {},
        'Invalid --haproxy-chk-cmd: "hapee" is not an executable file on PATH',
      ],
      [
        [],
        "run",
        { HAPROXY_RELOAD_CMD: "service haproxy reload" },
        'Invalid HAPROXY_RELOAD_CMD: "service" is not an executable file on PATH',
      ],
      // The reload command is not needed to check, nor in a dry run, nor with a master socket.
      [["--haproxy-reload-cmd", "service haproxy reload"], "check", {}, null],
      [["--haproxy-reload-cmd", "service haproxy reload", "--dry-run"], "run", {}, null],
      [
        ["--haproxy-reload-cmd", "service haproxy reload", "--haproxy-master-socket", "/run/m.sock"],
        "run",
        {},
        null,
      ],
      // render runs no program at all.
      [[], "render", { PATH: "" }, null],
      [
        [
          "--haproxy-run",
          "--haproxy-chk-cmd",
          join(dir, "bin", "haproxy") + " -c -f",
          "--haproxy-bin",
          plain,
        ],
        "run",
        {},
        `Invalid --haproxy-bin: "${plain}" is not an executable file`,
      ],
    ];
    await expectProblems(dir, cases);
  });
});

Deno.test("preflight() refuses a client key that does not belong to the certificate, naming both settings", async () => {
  const certs = await testCerts();
  try {
    await withMachine(async (dir) => {
      const alice = await certs.client("alice");
      const bob = await certs.client("bob");
      const env = { PATH: join(dir, "bin") };
      const base = ["--from", join(dir, "sets.json")];
      await check([...base, "--ssl-cert", alice.certPath, "--ssl-key", alice.keyPath], "render", env);
      await expectProblem(
        check([...base, "--ssl-cert", alice.certPath, "--ssl-key", bob.keyPath], "render", env),
        `Invalid --ssl-cert and --ssl-key: the key "${bob.keyPath}" does not belong to the certificate "${alice.certPath}"`,
        "flags",
      );
      await expectProblem(
        check(base, "render", { ...env, SSL_CERT_FILE: alice.certPath, SSL_KEY_FILE: bob.keyPath }),
        `Invalid SSL_CERT_FILE and SSL_KEY_FILE: the key "${bob.keyPath}" does not belong to the certificate "${alice.certPath}" (SSL_CERT_FILE is also OpenSSL's CA-bundle variable: give the client certificate with --ssl-cert)`,
        "environment",
      );
      await assert.rejects(
        check([...base, "--ssl-cert", join(dir, "plain"), "--ssl-key", bob.keyPath], "render", env),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.message.startsWith(
            "Invalid --ssl-cert and --ssl-key: not a PEM certificate and private key: ",
          ) &&
          !error.message.includes("PRIVATE KEY"),
      );
    });
  } finally {
    await certs.dispose();
  }
});

Deno.test("preflight() without --from names the Kubernetes settings when the connection cannot resolve", async () => {
  await withMachine(async (dir) => {
    const env = { PATH: join(dir, "bin") };
    const kubeconfig = join(dir, "kubeconfig");
    await Deno.writeTextFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
        users: [{ name: "u", user: {} }],
        contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
        "current-context": "ctx",
      }),
    );
    await check(["--kubeconfig", kubeconfig], "render", env);
    await assert.rejects(
      check(["--kubeconfig", kubeconfig, "--context", "other"], "render", env),
      (error: unknown) =>
        error instanceof ConfigError && error.message.startsWith("Invalid --kubeconfig, --context: ") &&
        error.message.includes("other"),
    );
    await assert.rejects(
      check(["--kubeconfig", join(dir, "none")], "render", env),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === `Invalid --kubeconfig: "${join(dir, "none")}" does not exist`,
    );
  });
});
