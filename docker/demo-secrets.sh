#!/usr/bin/env bash
# Makes the container demo's secrets (docker-compose.yml, README "Run the demo") in
# docker/secrets/, unless they are there already:
#   users          the server's users file: the user `demo` (readwrite), its password and UDP key
#   demo.password  that password, for the clients' --password-file
#   demo.udp-key   that UDP key (ID:HEX), for kv-udp's --udp-key-file
#   ca.pem         a CA made for the demo; server.pem and server.key: the server's certificate
#                  (for the names server, localhost and 127.0.0.1), signed by it
# Every secret is random, made here, and never leaves this machine. Compose mounts the files
# into the containers under /run/secrets/; they are never passed as environment variables.
# The server runs as uid 10001: run as root, the files are made its own (mode 600); otherwise they
# must be readable by it (mode 644), and the server warns that others may read the users file.
set -euo pipefail
dir=${1:-"$(dirname "$0")/secrets"}
mkdir -p "$dir"
if [ -s "$dir/users" ] && [ -s "$dir/server.pem" ]; then
  echo "demo-secrets: $dir already has the demo's secrets"
  exit 0
fi
command -v openssl >/dev/null 2>&1 || { echo "demo-secrets: needs openssl (apt-get install -y openssl)" >&2; exit 1; }
umask 077
password=$(openssl rand -hex 24)
udp_key="1:$(openssl rand -hex 32)"
printf '%s\n' "$password" >"$dir/demo.password"
printf '%s\n' "$udp_key" >"$dir/demo.udp-key"
printf '# The container demo'"'"'s users (docker/demo-secrets.sh made them).\ndemo readwrite plain:%s udp-key=%s\n' "$password" "$udp_key" >"$dir/users"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dualkv demo CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=server" -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:server,DNS:localhost,IP:127.0.0.1\n' >"$dir/server.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
  -extfile "$dir/server.ext" -out "$dir/server.pem" >/dev/null 2>&1
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"
if [ "$(id -u)" = 0 ]; then
  chown 10001:10001 "$dir"/*
else
  chmod 644 "$dir"/*
fi
echo "demo-secrets: made the demo's users, password, UDP key, CA and server certificate in $dir"
