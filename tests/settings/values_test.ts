import assert from "node:assert/strict";
import { checkStatusListen, ConfigError } from "../../lib/settings/values.ts";

Deno.test("checkStatusListen() requires a token off loopback with a clear error", () => {
  assert.equal(checkStatusListen("127.0.0.1:9180", false).port, 9180);
  assert.equal(checkStatusListen("[::1]:9180", false).hostname, "::1");
  assert.equal(checkStatusListen("0.0.0.0:9180", true).hostname, "0.0.0.0");
  for (const listen of ["0.0.0.0:9180", "*:9180", ":9180", "10.1.2.3:9180", "[::]:9180"]) {
    assert.throws(
      () => checkStatusListen(listen, false),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(
          error.message,
          `Invalid --status-listen "${listen}": listening off loopback requires --status-token or ` +
            "--status-token-file (/healthz and /readyz stay open); listen on 127.0.0.1 or set a token",
        );
        return true;
      },
      listen,
    );
  }
  assert.throws(
    () => checkStatusListen("nonsense", true),
    /^ConfigError: Invalid --status-listen: Invalid listen/,
  );
});
