#!/usr/bin/env bash
# Runs haconfd on the bundled example cluster (examples/endpoints.json, a `kubectl get endpoints -A -o json`
# dump): prints the rendered HAProxy config, proves it with `haproxy -c`, then runs the daemon on it in
# --dry-run mode with the status page on http://127.0.0.1:9180/ (EXAMPLE_STATUS_LISTEN) until Ctrl-C (or for
# EXAMPLE_SECONDS).
# Dry run: the example's pod IPs are not on this machine, so no HAProxy is started and no traffic is sent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v haproxy >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq haproxy >&2
fi
deno="$root/tools/deno"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== haconfd render --from examples/endpoints.json" >&2
"$deno" run --allow-all main.ts render --from examples/endpoints.json
echo "== haconfd check --from examples/endpoints.json" >&2
"$deno" run --allow-all main.ts check --from examples/endpoints.json
echo "== haconfd run --from examples/endpoints.json --dry-run (status: http://127.0.0.1:9180/)" >&2
args=(run --from examples/endpoints.json --dry-run --haproxy-conf "$work/haproxy.cfg" --status-listen "${EXAMPLE_STATUS_LISTEN:-127.0.0.1:9180}")
if [ -n "${EXAMPLE_SECONDS:-}" ]; then
  timeout --signal=TERM "$EXAMPLE_SECONDS" "$deno" run --allow-all main.ts "${args[@]}" >/dev/null || [ $? -eq 124 ]
else
  exec "$deno" run --allow-all main.ts "${args[@]}" >/dev/null
fi
