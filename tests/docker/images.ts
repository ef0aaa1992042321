/**
 * Docker images for tests/docker_test.ts, built locally because no container registry is reachable from
 * the test machines, and cached by tag so a second run builds nothing:
 * - `haconfd-test/bookworm:<hash>`: a Debian bookworm rootfs (debootstrap, from the machine's own apt
 *   mirror) with HAProxy 2.6, systemd, keepalived and curl, imported as an image;
 * - stand-ins for the two upstream images compose.yaml and examples/compose/Dockerfile name, under the
 *   same names and only when no image of that name exists (a laptop's real ones are used as they are):
 *   `haproxy:2.6` (tests/docker/haproxy/) and `denoland/deno:bin-<pinned version>` (`/deno` only);
 * - `haconfd-test/systemd:<hash>`: the systemd host (tests/docker/systemd/Dockerfile).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ROOT, run, type RunOptions, type RunResult, which } from "../support/process.ts";

/** The Docker client of the engine's package (Debian's docker.io puts it in /usr/bin). */
export const DOCKER: string = ["/usr/bin/docker"].find((p) => exists(p)) ?? which("docker") ?? "docker";

/** Packages of the base rootfs (debootstrap --include). */
const PACKAGES = ["haproxy", "systemd", "systemd-sysv", "keepalived", "curl", "socat", "ca-certificates"];
/** Bump when the recipe of the base image changes in a way the inputs below do not show. */
const RECIPE = "1";

/** File names in `dir`, none when it does not exist. */
function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs the Docker client; rejects with its output when it fails. */
export async function docker(args: string[], options: RunOptions = {}): Promise<string> {
  const res = await run(DOCKER, args, options);
  if (res.code !== 0) throw commandError(`docker ${args.join(" ")}`, res);
  return res.stdout.trim();
}

/** An error naming the command and quoting what it printed. */
export function commandError(what: string, res: RunResult): Error {
  return new Error(`${what} exited with ${res.code}\n${res.stdout.slice(-3000)}\n${res.stderr.slice(-3000)}`);
}

/** Whether an image of that name exists locally. */
export async function imageExists(name: string): Promise<boolean> {
  return (await run(DOCKER, ["image", "inspect", name])).code === 0;
}

function hash(...parts: Array<string | Uint8Array>): string {
  const h = createHash("sha256");
  for (const part of parts) h.update(part).update("\0");
  return h.digest("hex").slice(0, 12);
}

/** The Debian mirror of the machine's apt sources (deb822 `URIs:` or a one-line `deb` entry for bookworm). */
export async function aptMirror(): Promise<string> {
  const files = [
    "/etc/apt/sources.list",
    ...listDir("/etc/apt/sources.list.d").map((n) => `/etc/apt/sources.list.d/${n}`),
  ];
  for (const file of files) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && /^Suites:.*\bbookworm\b(?!-)/m.test(stanza)) return uri;
    }
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
    if (line?.[1]) return line[1];
  }
  throw new Error("no Debian bookworm mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/");
}

/** The machine's local CA certificates (e.g. of a TLS-inspecting proxy), copied into the images. */
async function localCas(): Promise<Array<{ name: string; pem: string }>> {
  const dir = "/usr/local/share/ca-certificates";
  const names = listDir(dir).filter((n) => n.endsWith(".crt"));
  return await Promise.all(
    names.map(async (name) => ({ name, pem: await Deno.readTextFile(join(dir, name)) })),
  );
}

async function must(cmd: string, args: string[], options: RunOptions = {}): Promise<void> {
  const res = await run(cmd, args, options);
  if (res.code !== 0) throw commandError(`${cmd} ${args.join(" ")}`, res);
}

/** `haconfd-test/bookworm:<hash>`, built with debootstrap when absent. */
async function ensureBase(): Promise<string> {
  const mirror = await aptMirror();
  const cas = await localCas();
  const tag = `haconfd-test/bookworm:${hash(RECIPE, mirror, PACKAGES.join(","), ...cas.map((c) => c.pem))}`;
  if (await imageExists(tag)) return tag;
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "haconfd-rootfs-" });
  try {
    // The host's apt cache holds most of these packages already; debootstrap adds what it downloads.
    const cache = exists("/var/cache/apt/archives") ? ["--cache-dir=/var/cache/apt/archives"] : [];
    await must("debootstrap", [
      "--variant=minbase",
      ...cache,
      `--include=${PACKAGES.join(",")}`,
      "bookworm",
      dir,
      mirror,
    ]);
    for (const ca of cas) {
      await Deno.writeTextFile(join(dir, "usr/local/share/ca-certificates", ca.name), ca.pem);
    }
    await must("chroot", [dir, "update-ca-certificates"]);
    await must("bash", [
      "-c",
      `set -o pipefail; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin; tar -C "$1" -c . | "$2" import - "$3"`,
      "import",
      dir,
      DOCKER,
      tag,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return tag;
}

/** The Deno version tools/deno pins (tools/toolchain/package.json). */
export async function pinnedDenoVersion(): Promise<string> {
  const pkg = JSON.parse(await Deno.readTextFile(join(ROOT, "tools/toolchain/package.json")));
  return pkg.devDependencies.deno;
}

/** The pinned Deno executable (npm package @deno/linux-x64-glibc, installed by tools/deno). */
async function denoBinary(): Promise<string> {
  const res = await run("bash", [join(ROOT, "tools/deno"), "--version"]);
  if (res.code !== 0) throw commandError("tools/deno --version", res);
  const path = join(ROOT, "tools/toolchain/node_modules/@deno/linux-x64-glibc/deno");
  if (!exists(path)) throw new Error(`the pinned Deno binary is not at ${path}`);
  return path;
}

/** `denoland/deno:bin-<version>`: when absent, an image holding only `/deno`, like the official one. */
async function ensureDenoImage(): Promise<string> {
  const tag = `denoland/deno:bin-${await pinnedDenoVersion()}`;
  if (await imageExists(tag)) return tag;
  const binary = await denoBinary();
  const dir = await Deno.makeTempDir({ prefix: "haconfd-deno-image-" });
  try {
    await Deno.link(binary, join(dir, "deno")).catch(() => Deno.copyFile(binary, join(dir, "deno")));
    await must("bash", [
      "-c",
      `set -o pipefail; tar -C "$1" -c deno | "$2" import -c 'LABEL org.haconfd.stand-in=1' - "$3"`,
      "import",
      dir,
      DOCKER,
      tag,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return tag;
}

/** `haproxy:2.6`: when absent, Debian's HAProxy 2.6 laid out like the official image. */
async function ensureHaproxyImage(base: string): Promise<string> {
  const tag = "haproxy:2.6";
  if (await imageExists(tag)) return tag;
  await docker(["build", "-q", "--build-arg", `BASE=${base}`, "-t", tag, join(ROOT, "tests/docker/haproxy")]);
  return tag;
}

/** `haconfd-test/systemd:<hash>`: the systemd host with Deno and haconfd's dependencies cached. */
async function ensureSystemdImage(base: string, denoImage: string): Promise<string> {
  const dockerfile = await Deno.readFile(join(ROOT, "tests/docker/systemd/Dockerfile"));
  const denoJson = await Deno.readFile(join(ROOT, "deno.json"));
  const lock = await Deno.readFile(join(ROOT, "deno.lock"));
  const tag = `haconfd-test/systemd:${hash(base, denoImage, dockerfile, denoJson, lock)}`;
  if (await imageExists(tag)) return tag;
  const dir = await Deno.makeTempDir({ prefix: "haconfd-systemd-image-" });
  try {
    await Deno.writeFile(join(dir, "Dockerfile"), dockerfile);
    await Deno.writeFile(join(dir, "deno.json"), denoJson);
    await Deno.writeFile(join(dir, "deno.lock"), lock);
    await docker([
      "build",
      "-q",
      "--network",
      "host",
      "--build-arg",
      `BASE=${base}`,
      "--build-arg",
      `DENO_IMAGE=${denoImage}`,
      "-t",
      tag,
      dir,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return tag;
}

/** The images of the Docker tests, by role. */
export interface TestImages {
  /** Debian bookworm base (also the kind node stand-in's image). */
  base: string;
  /** `haproxy:2.6` (real or stand-in). */
  haproxy: string;
  /** `denoland/deno:bin-<version>` (real or stand-in). */
  deno: string;
  /** The systemd host. */
  systemd: string;
}

/** Builds whatever image is missing; returns their tags. */
export async function ensureImages(): Promise<TestImages> {
  const base = await ensureBase();
  const deno = await ensureDenoImage();
  const haproxy = await ensureHaproxyImage(base);
  const systemd = await ensureSystemdImage(base, deno);
  return { base, haproxy, deno, systemd };
}
