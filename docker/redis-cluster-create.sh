#!/bin/sh
# Makes the Redis Cluster, once (compose-redis-cluster.yml's cluster-create job, the Kubernetes
# redis-cluster-create Job): waits for every node to answer, then `redis-cli --cluster create
# ... --cluster-replicas 1` (3 masters, each with a replica, for 6 nodes), then waits for
# cluster_state:ok. Run again on a cluster already made, it only waits for that.
#
#   REDIS_CLUSTER_NODES   host:port of every node, comma- or space-separated (required)
#   REDIS_USER            the ACL user (dualkv)
#   REDIS_PASSWORD_FILE   its password (/run/secrets/redis.password); redis-cli gets it through
#                         REDISCLI_AUTH, never on a command line
set -eu
nodes=$(printf '%s' "${REDIS_CLUSTER_NODES:?set REDIS_CLUSTER_NODES to every node, host:port}" | tr ',' ' ')
user=${REDIS_USER:-dualkv}
password_file=${REDIS_PASSWORD_FILE:-/run/secrets/redis.password}

die() { echo "redis-cluster-create: $*" >&2; exit 1; }
[ -s "$password_file" ] || die "$password_file is missing or empty (docker/gateway-secrets.sh makes it)"
REDISCLI_AUTH=$(head -n 1 "$password_file")
export REDISCLI_AUTH
cli() { host=${1%:*}; port=${1##*:}; shift; redis-cli --user "$user" -h "$host" -p "$port" "$@"; }
field() { cli "$1" cluster info | tr -d '\r' | sed -n "s/^$2://p"; }

# redis-cli --cluster create takes addresses, not names: each name is resolved here.
addresses=""
first=""
for node in $nodes; do
  tries=0
  until [ "$(cli "$node" ping 2>/dev/null)" = PONG ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || die "$node does not answer PING (as $user) after 60 s"
    sleep 1
  done
  host=${node%:*}
  ip=$(getent ahostsv4 "$host" | head -n 1 | cut -d ' ' -f 1)
  [ -n "$ip" ] || die "$host does not resolve to an IPv4 address"
  addresses="$addresses $ip:${node##*:}"
  first=${first:-$node}
done

if [ "$(field "$first" cluster_known_nodes)" -gt 1 ]; then
  echo "redis-cluster-create: $first already belongs to a cluster"
else
  # shellcheck disable=SC2086 # one word per address
  redis-cli --user "$user" --cluster create $addresses --cluster-replicas 1 --cluster-yes
fi
tries=0
until [ "$(field "$first" cluster_state)" = ok ]; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || die "the cluster is not ok after 60 s: $(cli "$first" cluster info | tr -d '\r' | head -n 1)"
  sleep 1
done
echo "redis-cluster-create: cluster_state:ok, $(field "$first" cluster_size) masters"
