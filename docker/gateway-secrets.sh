#!/usr/bin/env bash
# Makes the secrets of the gateway stacks (docker/compose-etcd.yml, docker/compose-redis-cluster.yml,
# and the Kubernetes manifests' secretGenerators) in docker/secrets/, keeping any already there:
#   the demo's (docker/demo-secrets.sh): users (the gateways' users file), demo.password, demo.udp-key,
#                  ca.pem, server.pem, server.key
#   etcd.root-password  etcd's root user (docker/etcd-auth.sh turns auth on with it)
#   etcd.password       the etcd user `dualkv` the gateways log in as (--etcd-password-file)
#   redis.password      the Redis ACL user `dualkv` (--redis-cluster-password-file, redis-cli)
#   redis-auth.conf     included by every redis-server: that user, the default user off, and
#                       masteruser/masterauth for the replicas
# Every secret is random, made here, and never leaves this machine; they are mounted as files,
# never passed as environment variables. Every image of the stacks runs as uid 10001: run as
# root, the files are made its own (mode 600); otherwise they must be readable by it (mode 644).
set -euo pipefail
here=$(dirname "$0")
dir=${1:-"$here/secrets"}
bash "$here/demo-secrets.sh" "$dir"
command -v openssl >/dev/null 2>&1 || { echo "gateway-secrets: needs openssl (apt-get install -y openssl)" >&2; exit 1; }
umask 077
made=()
secret() { # name: a new random password, unless the file is there
  [ -s "$dir/$1" ] && return 0
  printf '%s\n' "$(openssl rand -hex 24)" >"$dir/$1"
  made+=("$1")
}
secret etcd.root-password
secret etcd.password
secret redis.password
if [ ! -s "$dir/redis-auth.conf" ]; then
  redis_password=$(head -n 1 "$dir/redis.password")
  printf '%s\n' \
    "# Included by every redis-server of the gateway stacks (docker/gateway-secrets.sh made it)." \
    'user default off' \
    "user dualkv on >$redis_password ~* &* +@all" \
    'masteruser dualkv' \
    "masterauth $redis_password" >"$dir/redis-auth.conf"
  made+=(redis-auth.conf)
fi
if [ "$(id -u)" = 0 ]; then
  chown 10001:10001 "$dir"/*
else
  chmod 644 "$dir"/*
fi
echo "gateway-secrets: ${made[*]:-nothing new} in $dir"
