#!/bin/sh
# keepalived health check (vrrp_script chk_haconfd_ready, negative weight): does this host serve the
# current config? Exit 0 = haconfd's /readyz answered 200 within CHECK_MAX_TIME seconds: haconfd is
# alive, has synced with the Kubernetes API, its last apply succeeded and HAProxy runs the config it
# rendered last. (An API outage after the first sync keeps /readyz 200: the config is the last good
# one, and an outage that hits every host must not move or drop the VIP; see README.md.) Anything else
# (503, haconfd down or stuck, timeout) exits 1 and keepalived lowers this host's priority, so that a
# ready peer takes the VIP over; when every host fails at once, all priorities drop alike and the VIP
# stays where it is (see keepalived.conf).
#
# Settings, all optional:
#   $1 or HACONFD_READYZ_URL  URL of haconfd's readiness route (default http://127.0.0.1:9180/readyz, from
#                             STATUS_LISTEN)
#   CHECK_MAX_TIME            curl's time limit in seconds (default 2; keep it below vrrp_script's timeout)
# Prints the reason for a failure on stderr (keepalived discards it; useful when run by hand).
set -u

url="${1:-${HACONFD_READYZ_URL:-http://127.0.0.1:9180/readyz}}"
max_time="${CHECK_MAX_TIME:-2}"

code="$(curl --silent --output /dev/null --max-time "$max_time" --write-out '%{http_code}' "$url" 2>/dev/null)"
if [ "$code" != "200" ]; then
  echo "check_haconfd_ready: $url answered \"${code:-nothing}\", not 200" >&2
  exit 1
fi
exit 0
