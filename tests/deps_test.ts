/**
 * The test suite's own rule for missing programs: skipped with a notice on a developer's machine, but a
 * failure where the run was supposed to have them (tools/test.sh sets HACONFD_REQUIRE_DEPS=1; CI sets
 * CI=true), so that "ok" never hides dozens of ignored HAProxy tests.
 */
import assert from "node:assert/strict";
import { run } from "./support/process.ts";

/** Runs `deno test` on one test file with HAProxy "missing" (HAPROXY_BIN points nowhere). */
function testWithoutHaproxy(env: Record<string, string>) {
  return run(Deno.execPath(), ["test", "--allow-all", "tests/haproxy/check_test.ts"], {
    env: { NO_COLOR: "1", HAPROXY_BIN: "/nonexistent/haproxy", CI: "", HACONFD_REQUIRE_DEPS: "", ...env },
  });
}

Deno.test("haproxyAvailable() skips with a notice by default, and fails the run with HACONFD_REQUIRE_DEPS=1 or CI=true", async () => {
  const relaxed = await testWithoutHaproxy({});
  const output = relaxed.stdout + relaxed.stderr;
  assert.equal(relaxed.code, 0, output);
  assert.match(output, /haproxy \("\/nonexistent\/haproxy"\) is not installed: skipping tests that need it/);
  assert.match(output, /ok \| \d+ passed \| 0 failed \| [1-9]\d* ignored/);

  for (const env of [{ HACONFD_REQUIRE_DEPS: "1" }, { CI: "true" }]) {
    const strict = await testWithoutHaproxy(env);
    const text = strict.stdout + strict.stderr;
    assert.notEqual(strict.code, 0, `${JSON.stringify(env)}: the run fails\n${text}`);
    assert.match(text, /dependency haproxy is installed \.\.\. FAILED/, JSON.stringify(env));
    assert.match(text, /haproxy is not installed, but HACONFD_REQUIRE_DEPS=1 or CI=true requires it/);
    assert.match(text, /FAILED \| \d+ passed \| 1 failed/, JSON.stringify(env));
  }
});
