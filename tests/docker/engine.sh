#!/usr/bin/env bash
# Starts or stops the Docker engine for tests/docker_test.ts (tools/test.sh calls it). Several test runs
# may share one engine at the same time (two clones of the suite on one machine): each run registers
# itself, removes only its own containers, and the engine a test run started is stopped by the last run
# that leaves.
#   engine.sh start RUN   use the engine that answers; else start dockerd (no bridge network, no iptables:
#                         containers use the host's or another container's network). Registers RUN: the pid
#                         of the test run (tools/test.sh's), alive while it runs. Fails with the reason on stderr.
#   engine.sh stop RUN    remove RUN's containers and volumes, unregister RUN; the last run out stops the
#                         dockerd a test run started (never one that was running before).
set -euo pipefail
cmd="${1:?usage: engine.sh start|stop RUN}"
run="${2:?usage: engine.sh start|stop RUN}"
docker=/usr/bin/docker
[ -x "$docker" ] || docker="$(command -v docker || echo docker)"
state=/tmp/haconfd-docker-engine
pidfile="$state/dockerd.pid"
log="$state/dockerd.log"
mkdir -p "$state/runs"
exec 9>"$state/lock"
flock 9

# Runs whose test.sh is gone (killed) no longer hold the engine.
for entry in "$state"/runs/*; do
  [ -e "$entry" ] || continue
  kill -0 "$(cat "$entry")" 2>/dev/null || rm -f "$entry"
done

case "$cmd" in
start)
  echo "$run" >"$state/runs/$run"
  if "$docker" info >/dev/null 2>&1; then exit 0; fi
  command -v dockerd >/dev/null || { echo "dockerd is not installed" >&2; exit 1; }
  # 9>&-: the engine must not inherit (and hold forever) the lock this script takes.
  setsid dockerd --bridge=none --iptables=false --ip6tables=false --pidfile "$pidfile" >"$log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 120); do
    if "$docker" info >/dev/null 2>&1; then exit 0; fi
    sleep 0.5
  done
  echo "dockerd did not answer within 60 s: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$state/runs/$run"
  exit 1
  ;;
stop)
  # Whatever this run's crashed tests left behind (HACONFD_DOCKER_KEEP=1 keeps it on purpose).
  if [ "${HACONFD_DOCKER_KEEP:-0}" != 1 ] && "$docker" info >/dev/null 2>&1; then
    for filter in "name=haconfd-test-.*-$run\$" "label=com.docker.compose.project=haconfd-dockertest-$run"; do
      "$docker" ps -aq --filter "$filter" | xargs -r "$docker" rm -f -v >/dev/null
    done
    "$docker" volume ls -q --filter "label=com.docker.compose.project=haconfd-dockertest-$run" |
      xargs -r "$docker" volume rm >/dev/null
  fi
  rm -f "$state/runs/$run"
  # Other runs still use the engine, or it was not started by a test run: leave it.
  if [ -n "$(ls -A "$state/runs")" ] || [ ! -s "$pidfile" ]; then exit 0; fi
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
  echo "usage: engine.sh start|stop RUN" >&2
  exit 2
  ;;
esac
