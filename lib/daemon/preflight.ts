/**
 * Start-up checks of the settings against the machine: every file, directory and program a setting
 * names exists and can be used, the client key belongs to the client certificate, and the Kubernetes
 * connection (kubeconfig, context, in-cluster files) resolves. A failure is a {@linkcode ConfigError}
 * naming the flag or variable, so `main` exits 2 before anything starts, instead of 1 (or a daemon that
 * can never work) later.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { dirname, join } from "node:path";
import { ConfigError, type OptionKey, OPTIONS, originOf, type Settings } from "../settings/options.ts";
import { checkCommand } from "./daemon.ts";
import { splitCommand } from "../settings/values.ts";
import { AuthConfigError, resolveConnection } from "../source/kube/auth.ts";
import { errorText } from "../log.ts";

/** The subcommands that use settings. */
export type PreflightCommand = "run" | "render" | "check";

/** Where each setting came from (flags and environment as given to {@linkcode loadSettings}). */
export interface SettingsInput {
  /** Flags by name, raw. */
  flags: Readonly<Record<string, string | boolean>>;
  /** The environment. */
  env: Readonly<Record<string, string | undefined>>;
}

type Kind = "file" | "directory";

/** Why `path` is not a usable file or directory, or undefined when it is. */
async function pathProblem(path: string, kind: Kind): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return error instanceof Deno.errors.NotFound
      ? `"${path}" does not exist`
      : `"${path}": ${errorText(error)}`;
  }
  if (kind === "directory") return info.isDirectory ? undefined : `"${path}" is not a directory`;
  if (info.isDirectory) return `"${path}" is a directory, not a file`;
  try {
    (await Deno.open(path, { read: true })).close();
  } catch (error) {
    return `cannot read "${path}": ${errorText(error)}`;
  }
  return undefined;
}

/** The path of program `name` (as a command's first word): itself when it has a slash, else on `PATH`. */
async function findProgram(name: string, path: string): Promise<string | undefined> {
  const candidates = name.includes("/")
    ? [name]
    : path.split(":").filter((d) => d !== "").map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Files a setting names, checked whenever they are given (a typo is caught even where unused). */
const FILES: readonly OptionKey[] = ["sslCa", "sslCert", "sslKey", "tokenFile", "statusTokenFile"];

/** Every path the settings name for `command`: the setting, the path, what it must be, and a prefix. */
function namedPaths(settings: Settings, command: PreflightCommand): [OptionKey, string, Kind, string][] {
  const paths: [OptionKey, string | undefined, Kind, string][] = [
    ...FILES.map((
      key,
    ): [OptionKey, string | undefined, Kind, string] => [
      key,
      settings[key] as string | undefined,
      "file",
      "",
    ]),
    ["from", settings.from === "-" ? undefined : settings.from, "file", ""],
    ...(settings.kubeconfig ?? "").split(":").filter((p) => p !== "").map((
      path,
    ): [OptionKey, string, Kind, string] => ["kubeconfig", path, "file", ""]),
    ["templateDir", settings.templateDir, "directory", ""],
    [
      "haproxyConf",
      command === "run" ? dirname(settings.haproxyConf) : undefined,
      "directory",
      "its directory ",
    ],
  ];
  return paths.filter((entry): entry is [OptionKey, string, Kind, string] => entry[1] !== undefined);
}

/**
 * Checks the settings against the machine for `command`. Throws a {@linkcode ConfigError} naming the
 * flag or variable (as it was given) and the problem.
 */
export async function preflight(
  settings: Settings,
  command: PreflightCommand,
  input: SettingsInput,
): Promise<void> {
  const where = (key: OptionKey) => originOf(key, input.flags, input.env);
  const fail = (key: OptionKey, problem: string): never => {
    throw new ConfigError(`Invalid ${where(key)}: ${problem}`);
  };
  for (const [key, path, kind, prefix] of namedPaths(settings, command)) {
    const problem = await pathProblem(path, kind);
    if (problem !== undefined) fail(key, `${prefix}${problem}`);
  }
  await checkClientPair(settings, where);
  if (settings.from === undefined) await checkConnection(settings, input, where);
  if (command !== "render") await checkPrograms(settings, command, input, fail);
}

/** The client key must belong to the client certificate (SSL_CERT_FILE may be OpenSSL's CA bundle). */
async function checkClientPair(settings: Settings, where: (key: OptionKey) => string): Promise<void> {
  if (settings.sslCert === undefined || settings.sslKey === undefined) return;
  const names = `${where("sslCert")} and ${where("sslKey")}`;
  let matches: boolean;
  try {
    const cert = new X509Certificate(await Deno.readTextFile(settings.sslCert));
    matches = cert.checkPrivateKey(createPrivateKey(await Deno.readTextFile(settings.sslKey)));
  } catch (error) {
    throw new ConfigError(`Invalid ${names}: not a PEM certificate and private key: ${errorText(error)}`);
  }
  if (!matches) {
    const hint = where("sslCert") === "SSL_CERT_FILE"
      ? " (SSL_CERT_FILE is also OpenSSL's CA-bundle variable: give the client certificate with --ssl-cert)"
      : "";
    throw new ConfigError(
      `Invalid ${names}: the key "${settings.sslKey}" does not belong to the certificate "${settings.sslCert}"${hint}`,
    );
  }
}

/** The Kubernetes connection must resolve: kubeconfig and context, or in-cluster files. */
async function checkConnection(
  settings: Settings,
  input: SettingsInput,
  where: (key: OptionKey) => string,
): Promise<void> {
  try {
    await resolveConnection(settings, { env: input.env });
  } catch (error) {
    if (!(error instanceof AuthConfigError)) throw error;
    const given = (["apiServers", "kubeconfig", "context"] as const)
      .filter((key) => key === "apiServers" ? settings.apiServers.length > 0 : settings[key] !== undefined)
      .map(where);
    const names = given.length > 0 ? given.join(", ") : "Kubernetes connection";
    throw new ConfigError(`Invalid ${names}: ${error.message}`);
  }
}

/** The check command, the reload command and the HAProxy binary must be programs that exist. */
async function checkPrograms(
  settings: Settings,
  command: "run" | "check",
  input: SettingsInput,
  fail: (key: OptionKey, problem: string) => never,
): Promise<void> {
  const path = input.env.PATH ?? Deno.env.get("PATH") ?? "";
  const missing = (program: string) =>
    `"${program}" is not an executable file${program.includes("/") ? "" : " on PATH"}`;
  const check = checkCommand(settings);
  if (await findProgram(check[0]!, path) === undefined) {
    // The default check command runs --haproxy-bin's binary.
    if (settings.haproxyCheckCmd === OPTIONS.haproxyCheckCmd.default) {
      fail("haproxyBin", `${missing(check[0]!)} (the check command, --haproxy-chk-cmd, runs it)`);
    }
    fail("haproxyCheckCmd", missing(check[0]!));
  }
  if (command === "check" || settings.dryRun) return;
  if (settings.haproxyRun) {
    if (await findProgram(settings.haproxyBin, path) === undefined) {
      fail("haproxyBin", missing(settings.haproxyBin));
    }
  } else if (settings.haproxyMasterSocket === undefined) {
    const reload = splitCommand(settings.haproxyReloadCmd);
    if (await findProgram(reload[0]!, path) === undefined) {
      fail("haproxyReloadCmd", missing(reload[0]!));
    }
  }
}
