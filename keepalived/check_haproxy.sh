#!/bin/sh
# keepalived health check (vrrp_script chk_haproxy, no weight): can this host serve traffic at all?
# Exit 0 = a process named "haproxy" runs. Exit 1 = it does not: keepalived puts the host in FAULT and
# the VIP moves to a peer at once.
#
# haconfd is deliberately not checked here: HAProxy serves its last good config without haconfd, and a
# problem that hits haconfd on every host at once (a bad upgrade, a loop stuck everywhere) must not put
# every host in FAULT. haconfd's liveness and readiness lower the priority instead
# (check_haconfd_ready.sh, /readyz fails too while haconfd is down or stuck).
#
# Settings, all optional:
#   HAPROXY_PROCESS  process name to look for (default haproxy)
# Prints the reason for a failure on stderr (keepalived discards it; useful when run by hand).
set -u

process="${HAPROXY_PROCESS:-haproxy}"

if ! pidof "$process" >/dev/null 2>&1; then
  echo "check_haproxy: no \"$process\" process is running" >&2
  exit 1
fi
exit 0
