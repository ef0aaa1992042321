#!/usr/bin/env bash
# Runs haconfd on the bundled example cluster (examples/endpoints.json): renders the config, checks it
# with HAProxy, then runs the daemon with a managed HAProxy on unprivileged ports until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v haproxy >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq haproxy
fi
exec "$root/tools/deno" run --allow-all main.ts render --from examples/endpoints.json "$@"
