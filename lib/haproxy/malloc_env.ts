/**
 * The environment haconfd gives the HAProxy processes it starts (`haproxy -c`, the managed HAProxy).
 * HAProxy allocates ~7 KiB per server and ~10 KiB per proxy while it loads a config; at 50,000 servers
 * most of a 1.8 s `haproxy -c` is page faults on fresh heap. glibc's malloc tunables put that heap on
 * transparent huge pages and grow it in 64 MiB steps: the same check takes ~0.35 s, with the same peak
 * memory (measured with HAProxy 2.6, bench/RESULTS.md). Programs that are not glibc-linked ignore them.
 *
 * @module
 */

/** The tunable haconfd adds to `GLIBC_TUNABLES`: malloc's heap on transparent huge pages. */
export const HUGE_PAGES = "glibc.malloc.hugetlb=1";
/** The heap step, through its own variable: HAProxy's master re-executes itself on a reload and
 * passes `GLIBC_TUNABLES` on cut at its first `:` (glibc rewrites the value in place), which would lose
 * a second tunable. */
export const TOP_PAD = String(64 * 1024 * 1024);

/**
 * `GLIBC_TUNABLES` for an HAProxy child: the operator's own value (from haconfd's environment) with
 * huge pages appended unless the operator set `glibc.malloc.hugetlb` — theirs wins, so
 * `GLIBC_TUNABLES=glibc.malloc.hugetlb=0` turns huge pages off.
 *
 * @example
 * ```ts
 * haproxyTunables(undefined); // "glibc.malloc.hugetlb=1"
 * haproxyTunables("glibc.malloc.hugetlb=0"); // "glibc.malloc.hugetlb=0"
 * ```
 */
export function haproxyTunables(current: string | undefined): string {
  const own = (current ?? "").split(":").filter((entry) => entry !== "");
  const set = own.some((entry) => entry.split("=", 1)[0] === "glibc.malloc.hugetlb");
  return [...own, ...(set ? [] : [HUGE_PAGES])].join(":");
}

/**
 * The environment additions for an HAProxy child started now: huge pages, and a 64 MiB heap step unless
 * the operator set `MALLOC_TOP_PAD_`.
 */
export function haproxyEnv(env: { get(key: string): string | undefined } = Deno.env): Record<string, string> {
  return {
    GLIBC_TUNABLES: haproxyTunables(env.get("GLIBC_TUNABLES")),
    MALLOC_TOP_PAD_: env.get("MALLOC_TOP_PAD_") ?? TOP_PAD,
  };
}
