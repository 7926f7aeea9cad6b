#!/usr/bin/env bash
# Builds a stand-in for node:20-bookworm-slim on a machine that cannot pull images from any
# registry (this one, and CI's): a Debian bookworm minbase root file system from debootstrap, with
# this machine's own node, npm and Node's C headers, and its CA trust store with npm's cafile
# pointed at it, so that `npm ci` inside `docker build` reaches the npm registry the way npm on
# this host does.
#
#   bash docker/base-image.sh            # builds dualkv-node-base:local
#   DUALKV_BASE_IMAGE=my/base:tag bash docker/base-image.sh
#
# Then build with it: NODE_IMAGE=dualkv-node-base:local docker compose up --build
# Needs root, debootstrap and a running Docker engine. Takes about 35 s plus the import.
set -euo pipefail

image=${DUALKV_BASE_IMAGE:-dualkv-node-base:local}
suite=bookworm
ca_bundle=/etc/ssl/certs/ca-certificates.crt

die() { echo "base-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "debootstrap needs root; run this as root (or with sudo)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
docker info >/dev/null 2>&1 || die "no Docker engine answers; start dockerd first (npm run test:docker does)"
node_bin=$(readlink -f "$(command -v node)") || die "node is not on PATH"
npm_dir=$(npm root -g 2>/dev/null)/npm
[ -f "$npm_dir/bin/npm-cli.js" ] || die "npm is not at $npm_dir"
[ -f "$ca_bundle" ] || die "no CA bundle at $ca_bundle"
node_headers=$(dirname "$(dirname "$node_bin")")/include/node

# The Debian mirror this host's apt uses (deb822 or one-line sources), else the default one.
mirror=$(grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -oE 'https?://[^[:space:]]+' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

# The root file system is built outside the repository and removed afterwards; nothing of it is
# ever written into the working tree or kept as a tarball.
rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/dualkv-base-rootfs.XXXXXX")
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

echo "base-image: debootstrap --variant=minbase $suite from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -30 "$rootfs.log" >&2; rm -f "$rootfs.log"; die "debootstrap failed"; }
rm -f "$rootfs.log"

# node and npm where the official node image has them (/usr/local), so that npm's prefix, and
# with it its global config file, is /usr/local/etc/npmrc in both.
echo "base-image: adding node $("$node_bin" --version) and npm $(npm --version 2>/dev/null) from this host"
install -D -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# Node's C headers, where the official image has them (/usr/local/include/node): node-gyp builds
# src/frontends/udp/native/udp_batch.c against them instead of downloading them.
[ -f "$node_headers/node_api.h" ] || die "node's C headers are not at $node_headers (node's installer puts them there)"
mkdir -p "$rootfs/usr/local/include"
cp -a "$node_headers" "$rootfs/usr/local/include/node"
# The host's CA trust store, with npm's cafile pointing at it (NODE_EXTRA_CA_CERTS, set at import
# below, does the same for node itself, as it is set on this host).
install -D -m 0644 "$ca_bundle" "$rootfs$ca_bundle"
npmrc="$rootfs/usr/local/etc/npmrc"
mkdir -p "$(dirname "$npmrc")"
echo "cafile=$ca_bundle" >"$npmrc"
# Carry the host's registry and proxy settings too: whatever lets npm reach the registry here must
# also hold inside the build. (`npm config get` prints "null" or "" for what is not set.)
for key in registry proxy https-proxy noproxy strict-ssl; do
  value=$(npm config get "$key" 2>/dev/null || true)
  case "$value" in null | "" | undefined) continue ;; esac
  echo "$key=$value" >>"$npmrc"
done
echo "base-image: npm config in the image:"; sed 's/^/  /' "$npmrc"

# The host's node must run on the image's libc and libstdc++ (both bookworm here). A clean
# environment, so that nothing of the host's (NODE_OPTIONS, NODE_EXTRA_CA_CERTS) leaks in.
env -i PATH=/usr/local/bin:/usr/bin:/bin "$(command -v chroot)" "$rootfs" sh -c 'node --version && npm --version' >/dev/null \
  || die "this host's node or npm does not run in a bookworm root file system"

# Keep the image small: package lists and downloaded .debs are not needed at run time.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log

echo "base-image: importing as $image"
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_EXTRA_CA_CERTS=$ca_bundle" \
  --change "ENV NODE_VERSION=$("$node_bin" --version | sed 's/^v//')" \
  --change 'CMD ["node"]' \
  --change 'LABEL org.opencontainers.image.description="dualkv offline stand-in for node:20-bookworm-slim (debootstrap minbase + host node/npm/CA bundle)"' \
  - "$image" >/dev/null
versions=$(docker run --rm "$image" sh -c 'echo "node $(node --version), npm $(npm --version)"') \
  || die "the imported image does not run node and npm"
echo "base-image: $image ok: $versions"
