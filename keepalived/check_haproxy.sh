#!/bin/sh
# keepalived health check (vrrp_script chk_haproxy, no weight): can this host serve traffic at all?
# Exit 0 = a process named "haproxy" runs in this host's network namespace. Exit 1 = none does:
# keepalived puts the host in FAULT and the VIP moves to a peer at once.
#
# Only a process in our own network namespace counts: where several hosts share one process table
# (containers with a shared PID namespace, hosts simulated in network namespaces), pidof alone also
# finds the other hosts' HAProxy, and the check would never fail. On a plain host every process is in
# the one namespace, and the result is pidof's. A process whose namespace cannot be read (not root)
# counts as ours.
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

for pid in $(pidof "$process" 2>/dev/null); do
  # -ef: the same namespace (device and inode); no fork per process, the check runs every second.
  if [ ! -e "/proc/$pid/ns/net" ] || [ "/proc/$pid/ns/net" -ef "/proc/$$/ns/net" ]; then
    exit 0
  fi
done
echo "check_haproxy: no \"$process\" process is running in this network namespace" >&2
exit 1
