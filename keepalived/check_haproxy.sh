#!/bin/sh
# keepalived health check (vrrp_script) for an HAProxy host run by haconfd. Exit 0 = healthy:
#   1. HAProxy is running (a process named "haproxy" exists), and
#   2. haconfd's /readyz answers 200 within CHECK_MAX_TIME seconds, i.e. haconfd is in sync with the
#      Kubernetes API and HAProxy runs the current configuration.
# Anything else (no HAProxy, haconfd down, 503, timeout) exits 1 and keepalived moves the VIP away.
#
# Settings, all optional:
#   $1 or HACONFD_READYZ_URL  URL of haconfd's readiness route (default http://127.0.0.1:9180/readyz, from
#                             STATUS_LISTEN). Passing .../healthz instead keeps the VIP where it is while
#                             the Kubernetes API is unreachable from every host (HAProxy keeps serving the
#                             last good config either way), at the price of not moving away from a host
#                             whose haconfd is stuck.
#   HAPROXY_PROCESS           process name to look for (default haproxy)
#   CHECK_MAX_TIME            curl's time limit in seconds (default 2; keep it below vrrp_script's timeout)
# Prints the reason for a failure on stderr (keepalived discards it; useful when run by hand).
set -u

url="${1:-${HACONFD_READYZ_URL:-http://127.0.0.1:9180/readyz}}"
process="${HAPROXY_PROCESS:-haproxy}"
max_time="${CHECK_MAX_TIME:-2}"

if ! pidof "$process" >/dev/null 2>&1; then
  echo "check_haproxy: no \"$process\" process is running" >&2
  exit 1
fi

code="$(curl --silent --output /dev/null --max-time "$max_time" --write-out '%{http_code}' "$url" 2>/dev/null)"
if [ "$code" != "200" ]; then
  echo "check_haproxy: $url answered \"${code:-nothing}\", not 200" >&2
  exit 1
fi
exit 0
