/**
 * Version and build information printed by `haconfd version` and exposed on the status endpoint.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The program's version (from deno.json). */
export const VERSION: string = denoJson.version;

let cachedCommit: string | undefined;

/** Asks git for the commit of a source checkout (`deno run` from a clone); undefined elsewhere. */
function gitCommit(): string | undefined {
  const url = new URL(".", import.meta.url);
  if (url.protocol !== "file:") return undefined;
  try {
    const out = new Deno.Command("git", {
      args: ["rev-parse", "--short=12", "HEAD"],
      cwd: url,
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && /^[0-9a-f]{7,40}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The commit the program was built from: `HACONFD_COMMIT` (set by the compile task inside the binary),
 * else git's answer for a source checkout, else "unknown".
 */
export function commit(): string {
  if (cachedCommit !== undefined) return cachedCommit;
  let env: string | undefined;
  try {
    env = Deno.env.get("HACONFD_COMMIT");
  } catch {
    env = undefined;
  }
  cachedCommit = env ?? gitCommit() ?? "unknown";
  return cachedCommit;
}

/** One line for `haconfd version`. */
export function versionLine(): string {
  return `haconfd ${VERSION} (commit ${commit()}, deno ${Deno.version.deno}, ${Deno.build.target})`;
}
