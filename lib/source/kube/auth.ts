/**
 * Where the API is and who haconfd is to it: settings (flags), a kubeconfig, or the in-cluster service
 * account, resolved into one {@linkcode Connection}. Files are read here, once; only the token file is
 * re-read later (by the client), because projected service-account tokens rotate.
 *
 * Order: `--api-servers` (with `--ssl-*` and `--token-file`), else `--kubeconfig`/`KUBECONFIG`, else
 * in-cluster when `KUBERNETES_SERVICE_HOST` is set, else `~/.kube/config` when it exists. The TLS and
 * token flags, when given, override what a kubeconfig or the service account provides.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { parse as parseYaml, YAMLError } from "yaml";
import { z } from "zod";
import type { Settings } from "../../settings/options.ts";
import { describeIssues } from "./objects.ts";

/** Where the in-cluster service-account files live. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A client certificate and its key, in PEM. */
export interface ClientCertificate {
  /** Certificate chain (PEM). */
  cert: string;
  /** Private key (PEM). */
  key: string;
  /** Where it came from, e.g. `--ssl-cert "/etc/haconfd/client.pem"`. */
  source: string;
  /** The certificate's subject, e.g. `CN=haconfd,O=ops`, or `(unreadable)`. */
  subject: string;
}

/** Everything needed to talk to the API. Never logged as a whole: it holds key and token material. */
export interface Connection {
  /** API server base URLs without a trailing slash, tried in order. */
  servers: string[];
  /** Extra CA certificates (PEM) the server's certificate is verified against; empty: system roots. */
  caCerts: string[];
  /** Where the CA came from, for TLS errors (`--ssl-ca "…"`, `certificate-authority-data of cluster "x"`). */
  caSource: string;
  /** Client certificate for mTLS, if any. */
  clientCert?: ClientCertificate;
  /** A fixed bearer token (kubeconfig `token`). */
  token?: string;
  /** A bearer token file, re-read when it changes (`--token-file`, kubeconfig `tokenFile`, in-cluster). */
  tokenFile?: string;
  /** HTTP basic credentials (kubeconfig `username`/`password`). */
  basic?: { username: string; password: string };
  /**
   * The kubeconfig asks to skip server certificate verification (`insecure-skip-tls-verify: true`).
   * Honoured only when no CA is configured; see {@linkcode skipsServerVerification}.
   */
  insecureSkipTlsVerify: boolean;
  /** The kubeconfig cluster entry the servers came from, for messages. */
  cluster?: string;
  /** Where the whole configuration came from: `flags`, `kubeconfig "…" context "…"`, `in-cluster`. */
  origin: string;
}

/** A configuration that cannot be used, naming the file, context or entry at fault. */
export class AuthConfigError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthConfigError";
  }
}

/** Options of {@linkcode resolveConnection}. */
export interface ResolveOptions {
  /** Environment (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, `HOME`). @default {Deno.env.toObject()} */
  env?: Readonly<Record<string, string | undefined>>;
  /** Service-account directory for in-cluster. @default {"/var/run/secrets/kubernetes.io/serviceaccount"} */
  serviceAccountDir?: string;
}

/** The settings {@linkcode resolveConnection} reads. */
export type AuthSettings = Pick<
  Settings,
  "apiServers" | "sslCa" | "sslCert" | "sslKey" | "tokenFile" | "kubeconfig" | "context"
>;

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new AuthConfigError(`Cannot read ${what} "${path}": ${(error as Error).message}`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The subject of a PEM certificate (`CN=x,O=y`), or `(unreadable)`. */
export function certificateSubject(pem: string): string {
  try {
    return new X509Certificate(pem).subject.split("\n").filter((s) => s !== "").join(",");
  } catch {
    return "(unreadable)";
  }
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * Resolves settings, kubeconfig or the in-cluster service account into a {@linkcode Connection}.
 * Throws an {@linkcode AuthConfigError} naming the file or entry that cannot be used.
 */
export async function resolveConnection(
  settings: AuthSettings,
  options: ResolveOptions = {},
): Promise<Connection> {
  const { env = Deno.env.toObject(), serviceAccountDir = SERVICE_ACCOUNT_DIR } = options;
  let base: Connection;
  if (settings.apiServers.length > 0) {
    base = {
      servers: settings.apiServers.map(stripSlash),
      caCerts: [],
      caSource: "the system roots",
      insecureSkipTlsVerify: false,
      origin: "flags",
    };
  } else if (settings.kubeconfig !== undefined) {
    base = await loadKubeconfig(settings.kubeconfig, settings.context);
  } else if (env.KUBERNETES_SERVICE_HOST) {
    base = await inClusterConnection(env, serviceAccountDir);
  } else if (env.HOME && await exists(`${env.HOME}/.kube/config`)) {
    base = await loadKubeconfig(`${env.HOME}/.kube/config`, settings.context);
  } else {
    throw new AuthConfigError(
      "No API server configured: give --api-servers, --kubeconfig (KUBECONFIG), or run in a cluster " +
        "(KUBERNETES_SERVICE_HOST)",
    );
  }
  if (settings.sslCa !== undefined) {
    base.caCerts = [await readText(settings.sslCa, "CA file (--ssl-ca)")];
    base.caSource = `--ssl-ca "${settings.sslCa}"`;
  }
  if (settings.sslCert !== undefined && settings.sslKey !== undefined) {
    const cert = await readText(settings.sslCert, "client certificate (--ssl-cert)");
    const key = await readText(settings.sslKey, "client key (--ssl-key)");
    base.clientCert = {
      cert,
      key,
      source: `--ssl-cert "${settings.sslCert}"`,
      subject: certificateSubject(cert),
    };
  }
  if (settings.tokenFile !== undefined) {
    await readText(settings.tokenFile, "token file (--token-file)");
    base.tokenFile = settings.tokenFile;
    delete base.token;
  }
  return base;
}

/** The connection of a pod's service account: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`. */
export async function inClusterConnection(
  env: Readonly<Record<string, string | undefined>>,
  serviceAccountDir: string = SERVICE_ACCOUNT_DIR,
): Promise<Connection> {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT || "443";
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const tokenFile = `${serviceAccountDir}/token`;
  const caFile = `${serviceAccountDir}/ca.crt`;
  await readText(tokenFile, "service-account token");
  const ca = await readText(caFile, "service-account CA");
  return {
    servers: [`https://${hostPart}:${port}`],
    caCerts: [ca],
    caSource: `the service-account CA "${caFile}"`,
    tokenFile,
    insecureSkipTlsVerify: false,
    origin: "in-cluster",
  };
}

const Cluster = z.object({
  server: z.string().min(1),
  "certificate-authority": z.string().optional(),
  "certificate-authority-data": z.string().optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
});

const User = z.object({
  "client-certificate": z.string().optional(),
  "client-certificate-data": z.string().optional(),
  "client-key": z.string().optional(),
  "client-key-data": z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: z.unknown().optional(),
  "auth-provider": z.unknown().optional(),
});

const Context = z.object({ cluster: z.string().min(1), user: z.string().optional() });

/** The parts of a kubeconfig haconfd reads. */
export const Kubeconfig = z.object({
  "current-context": z.string().optional(),
  clusters: z.array(z.object({ name: z.string().min(1), cluster: Cluster.optional() })).nullish(),
  users: z.array(z.object({ name: z.string().min(1), user: User.optional() })).nullish(),
  contexts: z.array(z.object({ name: z.string().min(1), context: Context.optional() })).nullish(),
});
/** The parts of a kubeconfig haconfd reads. */
export type Kubeconfig = z.infer<typeof Kubeconfig>;

function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
}

function resolvePath(path: string, dir: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

function decodeBase64(data: string, what: string): string {
  try {
    const bytes = Uint8Array.from(atob(data.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch (error) {
    throw new AuthConfigError(`${what} is not valid base64`, { cause: error });
  }
}

interface KubeconfigFile {
  path: string;
  config: Kubeconfig;
}

async function readKubeconfigFile(path: string): Promise<KubeconfigFile> {
  const text = await readText(path, "kubeconfig");
  let raw: unknown;
  try {
    // Warnings off: the library prints them with the offending line, which may hold a token or key.
    raw = parseYaml(text, { logLevel: "error" }) ?? {};
  } catch (error) {
    // Never the library's message, nor the error as cause: both quote the offending line.
    throw new AuthConfigError(`Cannot parse kubeconfig "${path}": ${yamlErrorPlace(error)}`);
  }
  const parsed = Kubeconfig.safeParse(raw);
  if (!parsed.success) {
    throw new AuthConfigError(`Invalid kubeconfig "${path}": ${describeIssues(parsed.error)}`);
  }
  return { path, config: parsed.data };
}

/** `YAML syntax error (bad indent) at line 2, column 1`: where and what, never the text at that place. */
function yamlErrorPlace(error: unknown): string {
  if (!(error instanceof YAMLError)) return "not valid YAML";
  const what = error.code.toLowerCase().replaceAll("_", " ");
  const at = error.linePos?.[0];
  return `YAML syntax error (${what})${at ? ` at line ${at.line}, column ${at.col}` : ""}`;
}

/** Whether a URL carries `user:password@` (also when it does not parse as a URL). */
function hasUrlCredentials(text: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(text)) return true;
  try {
    const url = new URL(text);
    return url.username !== "" || url.password !== "";
  } catch {
    return false;
  }
}

function findEntry<K extends "clusters" | "users" | "contexts">(
  files: KubeconfigFile[],
  list: K,
  name: string,
): { file: KubeconfigFile; entry: NonNullable<Kubeconfig[K]>[number] } | undefined {
  for (const file of files) {
    const entry = (file.config[list] ?? []).find((e) => e.name === name);
    if (entry) return { file, entry: entry as NonNullable<Kubeconfig[K]>[number] };
  }
  return undefined;
}

/**
 * Loads a kubeconfig (or several, `:`-separated like `KUBECONFIG`; the first file naming an entry wins)
 * and resolves `context` (default: its `current-context`). Relative file paths are relative to the file
 * that names them. `exec` and `auth-provider` users are not supported and say so.
 */
export async function loadKubeconfig(paths: string, context?: string): Promise<Connection> {
  const files: KubeconfigFile[] = [];
  for (const path of paths.split(":").filter((p) => p !== "")) files.push(await readKubeconfigFile(path));
  const where = files.map((f) => `"${f.path}"`).join(", ");
  const named = { files, where, ...contextOf(files, where, context) };
  const connection = await clusterConnection(named);
  const userName = named.ctx.entry.context?.user;
  if (userName === undefined || userName === "") return connection;
  const user = findEntry(files, "users", userName);
  if (!user?.entry.user) {
    throw new AuthConfigError(
      `Kubeconfig ${where}: context "${named.contextName}" names unknown user "${userName}"`,
    );
  }
  await addUserCredentials(connection, user.entry.user, userName, dirOf(user.file.path));
  return connection;
}

/** The kubeconfig files, how errors name them, and the context chosen. */
interface NamedContext {
  files: KubeconfigFile[];
  where: string;
  contextName: string;
  ctx: NonNullable<ReturnType<typeof findEntry<"contexts">>>;
}

/** The context to use: `context`, else the first file's `current-context`. */
function contextOf(
  files: KubeconfigFile[],
  where: string,
  context: string | undefined,
): Pick<NamedContext, "contextName" | "ctx"> {
  const contextName = context ?? files.map((f) => f.config["current-context"]).find((c) => c);
  if (!contextName) {
    throw new AuthConfigError(`Kubeconfig ${where} has no current-context: give --context`);
  }
  const ctx = findEntry(files, "contexts", contextName);
  if (!ctx?.entry.context) {
    const known = files.flatMap((f) => (f.config.contexts ?? []).map((c) => `"${c.name}"`)).join(", ");
    throw new AuthConfigError(
      `Kubeconfig ${where} has no context "${contextName}"${known ? `: it has ${known}` : ""}`,
    );
  }
  return { contextName, ctx };
}

/** The connection to the context's cluster: server, CA, TLS verification; no credentials yet. */
async function clusterConnection({ files, where, contextName, ctx }: NamedContext): Promise<Connection> {
  const clusterName = ctx.entry.context?.cluster ?? "";
  const cluster = findEntry(files, "clusters", clusterName);
  if (!cluster?.entry.cluster) {
    throw new AuthConfigError(
      `Kubeconfig ${where}: context "${contextName}" names unknown cluster "${clusterName}"`,
    );
  }
  const c = cluster.entry.cluster;
  if (hasUrlCredentials(c.server)) {
    // The same rule as --api-servers: credentials in a URL end up in logs, /status and the page.
    throw new AuthConfigError(
      `Kubeconfig "${cluster.file.path}": cluster "${clusterName}" has credentials in its server URL, which ` +
        `are not accepted (they would show in logs and status); put them in the context's user entry ` +
        `(token, client certificate, or username and password)`,
    );
  }
  const connection: Connection = {
    servers: [stripSlash(c.server)],
    caCerts: [],
    caSource: "the system roots",
    insecureSkipTlsVerify: c["insecure-skip-tls-verify"] === true,
    cluster: clusterName,
    origin: `kubeconfig "${ctx.file.path}" context "${contextName}"`,
  };
  if (c["certificate-authority-data"]) {
    connection.caCerts = [
      decodeBase64(c["certificate-authority-data"], `certificate-authority-data of cluster "${clusterName}"`),
    ];
    connection.caSource = `certificate-authority-data of cluster "${clusterName}"`;
  } else if (c["certificate-authority"]) {
    const path = resolvePath(c["certificate-authority"], dirOf(cluster.file.path));
    connection.caCerts = [await readText(path, `certificate-authority of cluster "${clusterName}"`)];
    connection.caSource = `certificate-authority "${path}" of cluster "${clusterName}"`;
  }
  return connection;
}

type KubeconfigUser = NonNullable<NonNullable<Kubeconfig["users"]>[number]["user"]>;

/** Adds the user's credentials (client certificate, token or token file, basic auth) to `connection`. */
async function addUserCredentials(
  connection: Connection,
  u: KubeconfigUser,
  userName: string,
  userDir: string,
): Promise<void> {
  if (u.exec !== undefined || u["auth-provider"] !== undefined) {
    throw new AuthConfigError(
      `Kubeconfig user "${userName}" uses ${u.exec !== undefined ? "exec" : "auth-provider"} credentials, ` +
        "which haconfd does not run: use a token, token file or client certificate",
    );
  }
  const clientCert = await clientCertificate(u, userName, userDir);
  if (clientCert !== undefined) connection.clientCert = clientCert;
  if (u.token) connection.token = u.token.trim();
  else if (u.tokenFile) {
    const path = resolvePath(u.tokenFile, userDir);
    await readText(path, `tokenFile of user "${userName}"`);
    connection.tokenFile = path;
  }
  if (u.username !== undefined && u.password !== undefined) {
    connection.basic = { username: u.username, password: u.password };
  }
}

/** The user's client certificate and key (data or files), both or neither. */
async function clientCertificate(
  u: KubeconfigUser,
  userName: string,
  userDir: string,
): Promise<Connection["clientCert"]> {
  const certPem = u["client-certificate-data"]
    ? decodeBase64(u["client-certificate-data"], `client-certificate-data of user "${userName}"`)
    : u["client-certificate"]
    ? await readText(
      resolvePath(u["client-certificate"], userDir),
      `client-certificate of user "${userName}"`,
    )
    : undefined;
  const keyPem = u["client-key-data"]
    ? decodeBase64(u["client-key-data"], `client-key-data of user "${userName}"`)
    : u["client-key"]
    ? await readText(resolvePath(u["client-key"], userDir), `client-key of user "${userName}"`)
    : undefined;
  if ((certPem === undefined) !== (keyPem === undefined)) {
    throw new AuthConfigError(
      `Kubeconfig user "${userName}" has a client ${certPem === undefined ? "key" : "certificate"} ` +
        `without its ${certPem === undefined ? "certificate" : "key"}`,
    );
  }
  if (certPem === undefined || keyPem === undefined) return undefined;
  const source = u["client-certificate-data"]
    ? `client-certificate-data of user "${userName}"`
    : `client-certificate "${resolvePath(u["client-certificate"] ?? "", userDir)}" of user "${userName}"`;
  return { cert: certPem, key: keyPem, source, subject: certificateSubject(certPem) };
}

/**
 * Whether the API server's certificate goes unverified: the kubeconfig sets `insecure-skip-tls-verify`
 * and no CA is configured. A CA (the cluster's `certificate-authority[-data]` or `--ssl-ca`) wins: the
 * server is then verified against it, as the operator gave something to verify with.
 */
export function skipsServerVerification(connection: Connection): boolean {
  return connection.insecureSkipTlsVerify && connection.caCerts.length === 0;
}

/**
 * What to tell the operator at start-up about `insecure-skip-tls-verify`, or undefined when it is not
 * asked for: that the server certificate is NOT verified (naming the cluster and servers), or that the
 * flag is ignored because a CA is configured.
 */
export function insecureNote(connection: Connection): string | undefined {
  if (!connection.insecureSkipTlsVerify) return undefined;
  const cluster = connection.cluster !== undefined ? ` of cluster "${connection.cluster}"` : "";
  if (!skipsServerVerification(connection)) {
    return `insecure-skip-tls-verify${cluster} is ignored: the server certificate is verified against ` +
      connection.caSource;
  }
  const servers = connection.servers.filter((s) => s.startsWith("https:"));
  if (servers.length === 0) return undefined;
  const names = servers.map((s) => `"${s}"`).join(", ");
  const what = servers.length === 1 ? "API server" : "API servers";
  return `insecure-skip-tls-verify${cluster} is set: the certificate of ${what} ${names} is NOT ` +
    "verified, so anyone on the network path can impersonate it; add certificate-authority-data instead";
}
