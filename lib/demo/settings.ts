/**
 * The settings of `haconfd demo`: the daemon's own settings, with the connection to the API stand-in and
 * the managed HAProxy filled in by the demo and loopback defaults for the frontends and the status page.
 * The user may still move the frontends and the status page, pick templates, log level, `--dry-run`.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, loadSettings, type Settings } from "../settings/options.ts";

/** Defaults of the demo, given where the user's environment would be (flags and variables win). */
export const DEMO_DEFAULTS: Readonly<Record<string, string>> = {
  HTTP_BIND: "127.0.0.1:8080",
  HTTPS_BIND: "127.0.0.1:8443",
  TCP_BIND_ADDRESS: "127.0.0.1",
  STATUS_LISTEN: "127.0.0.1:9180",
  // The daemon's own log would bury the demo's narrative: errors only, unless LOGLEVEL says otherwise.
  LOGLEVEL: "error",
};

/** Variables of the user's environment the demo honours; the rest (e.g. a KUBECONFIG) is ignored. */
const KEPT_ENV = [
  "HTTP_BIND",
  "HTTPS_BIND",
  "TCP_BIND_ADDRESS",
  "STATUS_LISTEN",
  "STATUS_TOKEN",
  "LOGLEVEL",
  "LOG_FORMAT",
  "HAPROXY_BIN",
  "HAPROXY_CHECK_CMD",
  "TEMPLATE_DIR",
  "WAIT",
  "MIN_RELOAD_INTERVAL",
] as const;

/** Flags the demo sets itself: given by the user, they are refused rather than silently overridden. */
const DEMO_FLAGS = [
  "api-servers",
  "ssl-ca",
  "ssl-cert",
  "ssl-key",
  "token-file",
  "kubeconfig",
  "context",
  "resource",
  "namespace",
  "label-selector",
  "from",
  "haproxy-conf",
  "haproxy-run",
  "haproxy-master-socket",
  "haproxy-reload-cmd",
  "haproxy-user",
  "once",
] as const;

/** Where the demo's daemon finds the API stand-in and installs its config. */
export interface DemoWiring {
  /** The stand-in's URL. */
  apiServer: string;
  /** The CA that signed its certificate. */
  caPath: string;
  /** The bearer token file. */
  tokenPath: string;
  /** Where the config is installed (the master socket goes beside it). */
  configPath: string;
}

/**
 * The daemon's settings for the demo; a flag the demo sets itself, or a bad value, throws a
 * {@linkcode ConfigError} naming it.
 */
export function demoSettings(
  flags: Readonly<Record<string, string | boolean>>,
  env: Readonly<Record<string, string | undefined>>,
  wiring: DemoWiring,
): Settings {
  const taken = DEMO_FLAGS.filter((flag) => flags[flag] !== undefined);
  if (taken.length > 0) {
    throw new ConfigError(
      `Invalid ${taken.map((f) => `--${f}`).join(", ")} for "demo": the demo sets ${
        taken.length === 1 ? "it" : "them"
      } itself (its own API stand-in and HAProxy); use "run" to point haconfd at a cluster`,
    );
  }
  const kept = Object.fromEntries(KEPT_ENV.flatMap((name) => (env[name] ? [[name, env[name]]] : [])));
  return loadSettings({
    ...flags,
    "api-servers": wiring.apiServer,
    "ssl-ca": wiring.caPath,
    "token-file": wiring.tokenPath,
    "haproxy-conf": wiring.configPath,
    "haproxy-run": flags["dry-run"] !== true,
  }, { ...DEMO_DEFAULTS, ...kept });
}

const seconds = z.string().trim().regex(/^\d+(\.\d+)?$/, { error: "not a number of seconds, e.g. 30" })
  .transform(Number).refine((n) => n > 0, { error: "must be more than 0" });

const DemoEnv = z.object({
  DEMO_SECONDS: seconds.optional(),
  DEMO_STEP_SECONDS: seconds.default(4),
});

/** How long the demo runs and how often it changes the cluster. */
export interface DemoTiming {
  /** Stop after this many ms; undefined: until Ctrl-C. */
  durationMs: number | undefined;
  /** A change every this many ms. */
  stepMs: number;
}

/** `DEMO_SECONDS` (stop after, default: until Ctrl-C) and `DEMO_STEP_SECONDS` (default 4). */
export function demoTiming(env: Readonly<Record<string, string | undefined>>): DemoTiming {
  const result = DemoEnv.safeParse({
    ...(env.DEMO_SECONDS ? { DEMO_SECONDS: env.DEMO_SECONDS } : {}),
    ...(env.DEMO_STEP_SECONDS ? { DEMO_STEP_SECONDS: env.DEMO_STEP_SECONDS } : {}),
  });
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue?.path[0] ?? "DEMO_SECONDS");
    throw new ConfigError(`Invalid ${name}: "${env[name]}": ${issue?.message ?? "not a number of seconds"}`);
  }
  const { DEMO_SECONDS, DEMO_STEP_SECONDS } = result.data;
  return {
    durationMs: DEMO_SECONDS === undefined ? undefined : DEMO_SECONDS * 1000,
    stepMs: DEMO_STEP_SECONDS * 1000,
  };
}
