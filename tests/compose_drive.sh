#!/usr/bin/env bash
# Drives the compose example end to end on a Docker host (needs a Docker engine, kind, kubectl, curl):
#   1. creates a kind cluster (examples/compose/kind.yaml) and writes its internal kubeconfig;
#   2. deploys the annotated sample workload (examples/compose/workload.yaml);
#   3. starts HAProxy + haconfd (compose.yaml) in the kind node's network namespace;
#   4. proves the route: curl -H 'Host: echo.haconfd.test' http://127.0.0.1:8080/ answers from a pod;
#   5. tears everything down (also on failure).
# Usage: tests/compose_drive.sh            (KEEP=1 keeps the cluster and containers for poking around)
#        HACONFD_RESOURCE=endpointslices tests/compose_drive.sh
# It cannot run without a Docker engine; the project's CI machines have none.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="haconfd"
node="${cluster}-control-plane"
project="haconfd-example"
domain="echo.haconfd.test"
expect="hello from haconfd compose"
url="http://127.0.0.1:8080/"

say() { printf '%s compose_drive: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

for tool in docker kind kubectl curl; do
  command -v "$tool" >/dev/null || die "\"$tool\" is not installed"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "neither \"docker compose\" nor \"docker-compose\" is installed"
fi
kind get clusters 2>/dev/null | grep -qx "$cluster" && die "a kind cluster named \"$cluster\" already exists"

work="$(mktemp -d)"
export HACONFD_KUBECONFIG="$work/kubeconfig"
export KIND_NODE="$node"
export HACONFD_RESOURCE="${HACONFD_RESOURCE:-endpoints}"
# BuildKit honours examples/compose/Dockerfile.dockerignore (smaller build context).
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1
dc() { "${compose[@]}" -p "$project" -f "$root/compose.yaml" "$@"; }

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "logs of the failed run:"
    dc logs --no-color --tail=100 >&2 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    say "KEEP=1: leaving cluster \"$cluster\" and compose project \"$project\" running (kubeconfig $HACONFD_KUBECONFIG)"
    exit "$rc"
  fi
  dc down -v --remove-orphans >/dev/null 2>&1 || true
  kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

say "creating kind cluster \"$cluster\""
kind create cluster --config "$root/examples/compose/kind.yaml" --name "$cluster" --wait 120s
kind get kubeconfig --internal --name "$cluster" >"$HACONFD_KUBECONFIG"
chmod 0644 "$HACONFD_KUBECONFIG"
kctl() { kubectl --context "kind-$cluster" "$@"; }

say "deploying the sample workload"
kctl apply -f "$root/examples/compose/workload.yaml"
kctl rollout status deployment/echo --timeout=180s
# pyconfd's convention: the annotations on the Endpoints object (RESOURCE=endpoints).
kctl annotate --overwrite endpoints echo "domain=$domain" proto=http

say "starting HAProxy and haconfd (resource: $HACONFD_RESOURCE)"
dc up -d --build

say "waiting for haconfd to be ready"
ready=0
for _ in $(seq 1 60); do
  if docker exec "$node" curl -fsS --max-time 2 -o /dev/null http://127.0.0.1:9180/readyz; then
    ready=1
    break
  fi
  sleep 2
done
[ "$ready" = 1 ] || die "haconfd's /readyz did not answer 200 within 120 s"

say "checking the route: curl -H 'Host: $domain' $url"
body=""
for _ in $(seq 1 30); do
  body="$(curl -fsS --max-time 3 -H "Host: $domain" "$url" 2>/dev/null || true)"
  case "$body" in *"$expect"*) break ;; esac
  sleep 1
done
case "$body" in
  *"$expect"*) ;;
  *) die "no route: $url with Host $domain answered \"$body\"" ;;
esac
# An unknown host must not reach the workload.
other="$(curl -sS --max-time 3 -o /dev/null -w '%{http_code}' -H 'Host: unknown.haconfd.test' "$url" || true)"
[ "$other" != 200 ] || die "an unknown Host header was routed (HTTP 200)"

say "scaling the workload to 3 replicas: the backend must follow"
kctl scale deployment/echo --replicas=3
kctl rollout status deployment/echo --timeout=120s
servers=0
for _ in $(seq 1 30); do
  servers="$(dc exec -T haproxy grep -cE '^[[:space:]]*server .*:5678' /usr/local/etc/haproxy/haproxy.cfg || true)"
  [ "$servers" = 3 ] && break
  sleep 1
done
[ "$servers" = 3 ] || die "the rendered configuration does not list 3 servers after scaling"

say "PASS: HAProxy routes $domain to the kind workload through haconfd"
