#!/usr/bin/env bash
# The README's first command: `haconfd demo` on one machine, no cluster needed. The bundled example cluster
# (examples/endpoints.json) is served by haconfd's Kubernetes API stand-in, its pods are small backends on
# 127.0.0.x, and haconfd — watching the stand-in through its real API client — runs a real HAProxy on
# 127.0.0.1:8080 (HTTP), :8443 (TLS passthrough), :16379 and :15432 (TCP), with the status page on
# http://127.0.0.1:9180/. Every few seconds the cluster changes and the demo prints how long each change
# took to reach traffic. Ctrl-C stops everything (HAProxy, pods, API stand-in).
#
#   EXAMPLE_SECONDS=N        stop after N seconds
#   EXAMPLE_DRY_RUN=1        no HAProxy (for machines that cannot run it): render and check only
#   EXAMPLE_STATUS_LISTEN    status page address (default 127.0.0.1:9180)
#   more flags are passed on to `haconfd demo` (e.g. --http-bind 127.0.0.1:18080)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "${EXAMPLE_DRY_RUN:-}" != 1 ] && ! command -v haproxy >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq haproxy >&2
fi
args=(demo)
[ "${EXAMPLE_DRY_RUN:-}" = 1 ] && args+=(--dry-run)
[ -n "${EXAMPLE_STATUS_LISTEN:-}" ] && args+=(--status-listen "$EXAMPLE_STATUS_LISTEN")
# exec: Ctrl-C and SIGTERM reach the demo itself, which stops what it started.
DEMO_SECONDS="${EXAMPLE_SECONDS:-}" exec "$root/tools/deno" run --allow-all main.ts "${args[@]}" "$@"
