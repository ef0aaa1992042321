/**
 * System groups for tests of file ownership: a group's id by name through `getent` (NSS, as the daemon
 * resolves `--cert-group`), or null when the machine has no such group.
 *
 * @module
 */
import { run } from "./process.ts";

/** The id of group `name`, or null when it does not exist. */
export async function groupId(name: string): Promise<number | null> {
  const found = await run("getent", ["group", name]);
  const gid = found.code === 0 ? /^[^:]*:[^:]*:(\d+):/.exec(found.stdout)?.[1] : undefined;
  return gid === undefined ? null : Number(gid);
}
