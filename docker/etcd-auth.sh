#!/bin/sh
# Turns etcd's authentication on, once, for the gateways (compose-etcd.yml's etcd-auth job, the
# Kubernetes etcd-auth Job): a root user (with the root role, as `auth enable` needs), and the
# user the gateways log in as, which may read and write only under their prefix and their UDP
# request records' prefix (docs/PROTOCOL.md, udp "Across gateways"). The passwords
# come from files (mounted secrets) and reach etcdctl on its stdin, never on a command line.
#
#   ETCD_ENDPOINTS        the members' client URLs, comma-separated (required)
#   ETCD_PREFIX           the gateways' --etcd-prefix (dualkv/)
#   ETCD_REQUEST_PREFIX   their --etcd-request-prefix (the prefix with its last / made .udp-requests/)
#   ETCD_USER             the gateways' --etcd-user (dualkv)
#   ETCD_ROOT_PASSWORD_FILE, ETCD_USER_PASSWORD_FILE
#                         (/run/secrets/etcd.root-password, /run/secrets/etcd.password)
# Run again after auth is on, it only says so: every call needs a user then.
set -eu
endpoints=${ETCD_ENDPOINTS:?set ETCD_ENDPOINTS to the members client URLs, comma-separated}
prefix=${ETCD_PREFIX:-dualkv/}
request_prefix=${ETCD_REQUEST_PREFIX:-${prefix%/}.udp-requests/}
user=${ETCD_USER:-dualkv}
root_file=${ETCD_ROOT_PASSWORD_FILE:-/run/secrets/etcd.root-password}
user_file=${ETCD_USER_PASSWORD_FILE:-/run/secrets/etcd.password}
role=${user}-rw

die() { echo "etcd-auth: $*" >&2; exit 1; }
for f in "$root_file" "$user_file"; do [ -s "$f" ] || die "$f is missing or empty (docker/gateway-secrets.sh makes it)"; done
ctl() { etcdctl --endpoints="$endpoints" --dial-timeout=5s --command-timeout=10s "$@"; }
# `user add NAME --interactive=false` reads the password as the first line of stdin.
add_user() { head -n 1 "$2" | ctl user add "$1" --interactive=false >/dev/null; }

# Until the cluster answers, wait; with auth on already, a call without a user is refused, and
# there is nothing left to do.
tries=0
until out=$(ctl user list 2>&1); do
  case "$out" in
    *"user name is empty"* | *"permission denied"* | *"invalid auth token"*) echo "etcd-auth: authentication is on already"; exit 0 ;;
  esac
  tries=$((tries + 1))
  [ "$tries" -lt 30 ] || die "etcd at $endpoints does not answer: $out"
  sleep 2
done
printf '%s\n' "$out" | grep -qx root || add_user root "$root_file"
ctl user grant-role root root >/dev/null
printf '%s\n' "$out" | grep -qx "$user" || add_user "$user" "$user_file"
ctl role add "$role" >/dev/null 2>&1 || true
ctl role grant-permission "$role" readwrite "$prefix" --prefix=true >/dev/null
ctl role grant-permission "$role" readwrite "$request_prefix" --prefix=true >/dev/null
ctl user grant-role "$user" "$role" >/dev/null
ctl auth enable >/dev/null
echo "etcd-auth: authentication on; $user may read and write under $prefix and $request_prefix"
