#!/usr/bin/env bash
# Starts or stops the Docker engine for tests/docker_test.ts (tools/test.sh calls it).
#   engine.sh start PIDFILE   use the engine that answers; else start dockerd (no bridge network, no
#                             iptables: containers use the host's or another container's network) and
#                             write its pid to PIDFILE. Fails with the reason on stderr.
#   engine.sh stop PIDFILE    stop the dockerd named in PIDFILE, if this script started one.
set -euo pipefail
cmd="${1:?usage: engine.sh start|stop PIDFILE}"
pidfile="${2:?usage: engine.sh start|stop PIDFILE}"
docker=/usr/bin/docker
[ -x "$docker" ] || docker="$(command -v docker || echo docker)"
log="${pidfile%.pid}.log"

case "$cmd" in
start)
  if "$docker" info >/dev/null 2>&1; then exit 0; fi
  command -v dockerd >/dev/null || { echo "dockerd is not installed" >&2; exit 1; }
  setsid dockerd --bridge=none --iptables=false --ip6tables=false --pidfile "$pidfile" >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if "$docker" info >/dev/null 2>&1; then exit 0; fi
    sleep 0.5
  done
  echo "dockerd did not answer within 60 s: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  exit 1
  ;;
stop)
  # Whatever a crashed test run left behind (HACONFD_DOCKER_KEEP=1 keeps it on purpose).
  if [ "${HACONFD_DOCKER_KEEP:-0}" != 1 ] && "$docker" info >/dev/null 2>&1; then
    for filter in name=haconfd-test- label=com.docker.compose.project=haconfd-dockertest; do
      "$docker" ps -aq --filter "$filter" | xargs -r "$docker" rm -f -v >/dev/null
    done
    "$docker" volume ls -q --filter label=com.docker.compose.project=haconfd-dockertest |
      xargs -r "$docker" volume rm >/dev/null
  fi
  [ -s "$pidfile" ] || exit 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "dockerd ($pid) did not stop within 30 s: killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$log"
  ;;
*)
  echo "usage: engine.sh start|stop PIDFILE" >&2
  exit 2
  ;;
esac
