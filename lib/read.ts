/**
 * Reading a file that may not be there yet.
 *
 * @module
 */

/** The text of `path`, or `undefined` when it does not exist; any other error is thrown. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
