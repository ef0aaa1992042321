#!/bin/sh
# keepalived notify script: logs every VRRP state transition of the haconfd VIP.
# keepalived calls it as:  notify.sh TYPE NAME STATE PRIORITY
#   TYPE      INSTANCE or GROUP
#   NAME      the vrrp_instance (or vrrp_sync_group) name, e.g. haconfd_vip
#   STATE     MASTER, BACKUP, FAULT or STOP (and DELETED when an instance is removed on reload)
#   PRIORITY  the instance's current priority
# Each transition goes to syslog/journald (tag haconfd-keepalived; journalctl -t haconfd-keepalived) and,
# when HACONFD_NOTIFY_LOG names a file, is appended there as one logfmt line.
set -u

type="${1:-unknown}"
name="${2:-unknown}"
state="${3:-unknown}"
priority="${4:-unknown}"

case "$state" in
  MASTER) level=notice; msg="took over the VIP" ;;
  BACKUP) level=notice; msg="standing by" ;;
  FAULT) level=warning; msg="HAProxy down (or interface down), VIP released" ;;
  STOP) level=notice; msg="keepalived stopped" ;;
  *) level=warning; msg="unexpected state" ;;
esac

line="type=$type name=$name state=$state priority=$priority msg=\"$msg\""
if command -v logger >/dev/null 2>&1; then
  logger -t haconfd-keepalived -p "daemon.$level" -- "$line" || true
fi
if [ -n "${HACONFD_NOTIFY_LOG:-}" ]; then
  printf 'time=%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$line" >>"$HACONFD_NOTIFY_LOG"
fi
exit 0
