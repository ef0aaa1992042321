/**
 * Version and build information printed by `haconfd version` and exposed on the status endpoint.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The program's version (from deno.json). */
export const VERSION: string = denoJson.version;

/** The commit the program was built from: `HACONFD_COMMIT` at build/run time, else "unknown". */
export function commit(): string {
  try {
    return Deno.env.get("HACONFD_COMMIT") ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** One line for `haconfd version`. */
export function versionLine(): string {
  return `haconfd ${VERSION} (commit ${commit()}, deno ${Deno.version.deno}, ${Deno.build.target})`;
}
