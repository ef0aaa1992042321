#!/usr/bin/env bash
# Runs every check and test of haconfd. On a fresh Debian machine it first installs what the tests need:
# Deno (pinned, from npm), and HAProxy, keepalived, docker-compose and iptables (from apt) when they are
# missing.
# Ends with one line "N passed, N failed[, N skipped]" taken from deno test's summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v keepalived >/dev/null 2>&1 || need+=(keepalived)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing from apt: ${need[*]}" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# The haproxy package may start a system HAProxy bound to :80; the tests use their own ports, so leave it.

deno="$root/tools/deno"
"$deno" --version | head -n 1 >&2

echo "== deno task check (fmt, lint, type check)" >&2
"$deno" task check

echo "== deno test" >&2
# What this script installs above must be there: a missing one fails the run (one failing test per file
# naming it) instead of its tests being silently ignored. Skips for other reasons (no denort runtime, no
# permission for network namespaces) stay skips, and their reasons are listed before the last line.
export HACONFD_REQUIRE_DEPS=1
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# ---- Docker (tests/docker_test.ts: compose.yaml and the systemd unit run for real) -------------------
# Needs root, Debian's docker.io and debootstrap (installed here when missing) and a Docker engine
# (started here when none answers, and then stopped at the end). Where that is not possible the Docker
# tests are reported as skipped, with the reason (HACONFD_DOCKER_SKIP), never passed silently.
# This run's id: its containers are named after it, so that two runs of the suite can share the engine.
export HACONFD_DOCKER_RUN="$$"
if [ -z "${HACONFD_DOCKER_SKIP:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    export HACONFD_DOCKER_SKIP="not root: the Docker tests need root (debootstrap, dockerd)"
  elif ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    echo "Installing from apt: docker.io debootstrap" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      docker.io debootstrap; } >&2; then
      export HACONFD_DOCKER_SKIP="apt-get install docker.io debootstrap failed"
    fi
  fi
fi
if [ -z "${HACONFD_DOCKER_SKIP:-}" ]; then
  trap 'rm -f "$log"; bash "$root/tests/docker/engine.sh" stop "$HACONFD_DOCKER_RUN"' EXIT
  if ! reason="$(bash "$root/tests/docker/engine.sh" start "$HACONFD_DOCKER_RUN" 2>&1)"; then
    export HACONFD_DOCKER_SKIP="the Docker engine does not start: $reason"
  fi
fi
[ -z "${HACONFD_DOCKER_SKIP:-}" ] || echo "== Docker tests skipped: $HACONFD_DOCKER_SKIP" >&2
# ---- end of Docker
set +e
# A hung test must not eat CI's whole budget: the suite takes 4–7 minutes here (Docker part included; a
# first run builds the images, a few minutes more), allow 30.
timeout --kill-after=30 1800 "$deno" test --allow-all --parallel "$@" tests/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# deno test ends with e.g. "ok | 40 passed (12 steps) | 0 failed | 2 ignored (9s)".
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1 || true)"
passed="$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$summary")"
failed="$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$summary")"
ignored="$(grep -oE '[0-9]+ ignored' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
if [ -z "$summary" ]; then
  echo "0 passed, 1 failed (no test summary from deno test)"
  exit 1
fi
# Why tests were skipped: the notices the test files print (not the per-test "... ignored" lines).
reasons="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -iE 'skipp(ed|ing)' | grep -vF ' ... ' | sort -u || true)"
if [ "$ignored" != "0" ] && [ -n "$reasons" ]; then
  echo "Skipped tests, and why:"
  sed 's/^/  /' <<<"$reasons"
fi
[ -z "${HACONFD_DOCKER_SKIP:-}" ] || echo "Docker tests skipped: $HACONFD_DOCKER_SKIP"
echo "${passed} passed, ${failed} failed, ${ignored} skipped"
exit "$status"
