import assert from "node:assert/strict";
import { haproxyEnv, haproxyTunables } from "../../lib/haproxy/malloc_env.ts";

Deno.test("haproxyTunables() adds huge pages when the operator set nothing", () => {
  assert.equal(haproxyTunables(undefined), "glibc.malloc.hugetlb=1");
  assert.equal(haproxyTunables(""), "glibc.malloc.hugetlb=1");
});

Deno.test("haproxyTunables() keeps the operator's tunables, and their hugetlb wins", () => {
  assert.equal(haproxyTunables("glibc.pthread.rseq=0"), "glibc.pthread.rseq=0:glibc.malloc.hugetlb=1");
  assert.equal(
    haproxyTunables("glibc.malloc.hugetlb=0:glibc.pthread.rseq=0"),
    "glibc.malloc.hugetlb=0:glibc.pthread.rseq=0",
  );
});

Deno.test("haproxyEnv() adds a 64 MiB heap step unless MALLOC_TOP_PAD_ is set", () => {
  const env = (vars: Record<string, string>) => ({ get: (key: string) => vars[key] });
  assert.deepEqual(haproxyEnv(env({})), {
    GLIBC_TUNABLES: "glibc.malloc.hugetlb=1",
    MALLOC_TOP_PAD_: "67108864",
  });
  assert.deepEqual(haproxyEnv(env({ MALLOC_TOP_PAD_: "0", GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" })), {
    GLIBC_TUNABLES: "glibc.malloc.hugetlb=0",
    MALLOC_TOP_PAD_: "0",
  });
});
