#!/usr/bin/env bash
# npm run test:docker: builds and runs the container demo (docker-compose.yml) on a real Docker
# engine, and checks what it shows:
#   1. installs docker.io, docker-compose and debootstrap with apt-get if they are missing;
#   2. starts dockerd in the background if no engine answers (and stops it again at the end);
#   3. builds the offline base image (docker/base-image.sh) if it is missing;
#   4. docker-compose up --build -d, and waits for the server to be healthy;
#   4a. makes the demo's secrets (docker/demo-secrets.sh): users file, password, UDP key, TLS CA
#      and certificate, mounted as files;
#   5. checks the demo clients' output: a get without a password refused, TCP put/get/del
#      authenticated, a put/get over TLS, signed UDP put/get/del through kv-chaos with retries,
#      and udp_rejected > 0 and udp_io=batched in the server's STATS;
#   6. replaces the server container and checks the data survived in its volume;
#   7. checks the logs volume holds timestamped operation lines;
#   8. always tears everything down (down -v, from a trap), printing the logs when it fails.
#
# Its traffic goes only to the containers it creates: container to container on the compose
# network, and from the host to the server's ports published on 127.0.0.1.
#
# Environment (all optional):
#   NODE_IMAGE       base image for the build; default dualkv-node-base:local, built offline here.
#                    On a machine that can pull: NODE_IMAGE=node:20-bookworm-slim
#   DUALKV_PORT      host port for the server's TCP and UDP (on 127.0.0.1); default: a free one
#   DUALKV_COMPOSE   the compose command; default docker-compose, else `docker compose`
#   DUALKV_KEEP_DOCKERD=1  leave a dockerd started here running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
say() { printf '== test:docker [%3ds] %s\n' "$((SECONDS - t0))" "$*"; }
fail() { printf 'test:docker: FAIL: %s\n' "$*" >&2; exit 1; }
indent() { sed 's/^/    | /'; }

state_dir=${TMPDIR:-/tmp}/dualkv-docker
mkdir -p "$state_dir"
work=$(mktemp -d "$state_dir/run.XXXXXX")

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else fail "this needs root for: $*"; fi
}

apt_install() {
  say "installing with apt-get: $*"
  as_root apt-get update -qq >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get update failed"; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >>"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install $* failed"; }
}

# ---- 1. tools
missing=()
command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [ -n "${DUALKV_COMPOSE:-}" ]; then
  read -r -a compose_cmd <<<"$DUALKV_COMPOSE"
elif command -v docker-compose >/dev/null 2>&1; then
  compose_cmd=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  missing+=(docker-compose)
  compose_cmd=(docker-compose)
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# ---- 2. the engine
# Several runs of this script may share the machine. engine-start.lock (fd 8) is held while an
# engine is looked for, started or stopped; engine-users.lock (fd 9) is held shared for as long as
# a run uses the engine. A run that started dockerd stops it at the end only if it can take the
# users lock exclusively, i.e. no other run is still using it.
exec 8>"$state_dir/engine-start.lock" 9>"$state_dir/engine-users.lock"
flock -x 8
started_dockerd=
dockerd_pid=
if docker info >/dev/null 2>&1; then
  say "using the Docker engine that is already running"
else
  # Flags, as tried on this machine (and CI's, the same Firecracker VM with a full Linux kernel):
  # the defaults work: overlay2 on the ext4 root, iptables (nf_tables) for the bridge's NAT and
  # the published ports, cgroupfs on the cgroup v1 hierarchy. So no --iptables=false (it would
  # leave `docker build` without NAT to reach the npm registry) and no --storage-driver.
  # --mtu: the bridge's MTU is lowered to that of the interface holding the default route (1400
  # here, under the bridge's default of 1500), so that large packets from `npm ci` inside the
  # build never depend on path-MTU discovery across the NAT.
  dockerd_flags=(--pidfile "$state_dir/dockerd.pid")
  dev=$(awk '$2 == "00000000" { print $1; exit }' /proc/net/route 2>/dev/null || true)
  mtu=$(cat "/sys/class/net/$dev/mtu" 2>/dev/null || true)
  if [ -n "$mtu" ] && [ "$mtu" -lt 1500 ]; then dockerd_flags+=(--mtu "$mtu"); fi
  say "starting dockerd ${dockerd_flags[*]} (log: $state_dir/dockerd.log)"
  # setsid: its own session, so that a Ctrl-C on this script does not reach dockerd before the
  # trap below has used it to tear the demo down.
  # 8>&- 9>&-: dockerd outlives this run and must not keep its locks.
  as_root setsid dockerd "${dockerd_flags[@]}" >"$state_dir/dockerd.log" 2>&1 </dev/null 8>&- 9>&- &
  started_dockerd=1
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -30 "$state_dir/dockerd.log"; fail "dockerd did not answer within 60 s"; }
  dockerd_pid=$(cat "$state_dir/dockerd.pid")
  say "dockerd is up (pid $dockerd_pid): $(docker info --format '{{.ServerVersion}}, {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null)"
fi
flock -s 9
flock -u 8

stop_dockerd() {
  [ -n "$started_dockerd" ] && [ -n "$dockerd_pid" ] || return 0
  if [ -n "${DUALKV_KEEP_DOCKERD:-}" ]; then
    say "leaving dockerd (pid $dockerd_pid) running (DUALKV_KEEP_DOCKERD)"; return 0
  fi
  flock -x 8
  if ! flock -x -n 9; then
    say "leaving dockerd (pid $dockerd_pid) running: another test:docker run is using it"; return 0
  fi
  say "stopping dockerd (pid $dockerd_pid), which this run started"
  as_root kill -TERM "$dockerd_pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || return 0; sleep 0.5; done
  say "dockerd (pid $dockerd_pid) did not stop within 30 s"
}

# ---- the demo project, and its teardown on every exit
export COMPOSE_PROJECT_NAME="dualkv-test-$$"
export DUALKV_IMAGE=${DUALKV_IMAGE:-dualkv:local}
# docker-compose 1.29 builds through docker-py (the engine's API) rather than whichever docker
# CLI is on PATH; the classic builder, as BuildKit needs buildx, which an offline machine may lack.
export COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0} DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}
compose() { "${compose_cmd[@]}" -f docker-compose.yml "$@"; }
# A service's container, running or not, by the labels both compose versions set.
cid() {
  docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service=$1" | head -1
}
project_up=

on_exit() {
  local rc=$?
  set +e
  if [ -n "$project_up" ]; then
    if [ "$rc" != 0 ]; then
      echo "---- containers"; docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
      echo "---- logs (all services; the server's first)"
      compose logs --no-color --tail=300 server
      compose logs --no-color --tail=100 chaos demo-tcp demo-udp
    fi
    say "tearing down: ${compose_cmd[*]} down -v"
    compose down -v --remove-orphans --timeout 10 >"$work/down.log" 2>&1 || cat "$work/down.log"
  fi
  stop_dockerd
  rm -rf "$work"
  if [ "$rc" = 0 ]; then say "PASS in $((SECONDS - t0)) s"; else say "FAILED (exit $rc) after $((SECONDS - t0)) s"; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 3. the base image
if [ -z "${NODE_IMAGE:-}" ]; then
  export NODE_IMAGE=dualkv-node-base:local
  # An image from before the native UDP module lacks Node's C headers: built again then.
  if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 \
    && docker run --rm "$NODE_IMAGE" test -f /usr/local/include/node/node_api.h; then
    say "base image $NODE_IMAGE is there"
  else
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    say "building the offline base image $NODE_IMAGE (docker/base-image.sh)"
    as_root env DUALKV_BASE_IMAGE="$NODE_IMAGE" bash docker/base-image.sh
  fi
fi
export NODE_IMAGE

# A host port free for both TCP and UDP on 127.0.0.1, so that the test never collides with a
# server already running on 7379 (npm start, the smoke test, another engineer's).
if [ -z "${DUALKV_PORT:-}" ]; then
  DUALKV_PORT=$(node -e '
    const net = require("node:net"), dgram = require("node:dgram");
    (async function pick(tries) {
      const srv = net.createServer();
      await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
      const port = srv.address().port;
      const udp = dgram.createSocket("udp4");
      const free = await new Promise((ok) => { udp.once("error", () => ok(false)); udp.bind(port, "127.0.0.1", () => ok(true)); });
      udp.close(); srv.close();
      if (free) console.log(port); else if (tries > 0) pick(tries - 1); else process.exit(1);
    })(20);')
fi
export DUALKV_PORT
# The TLS port: another free one.
if [ -z "${DUALKV_TLS_PORT:-}" ]; then
  DUALKV_TLS_PORT=$(node -e 'const s=require("node:net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
fi
export DUALKV_TLS_PORT

# The demo's secrets (users, password, UDP key, CA and certificate), as files for compose to mount.
command -v openssl >/dev/null 2>&1 || apt_install openssl
bash docker/demo-secrets.sh | indent
secrets_dir=$PWD/docker/secrets

# ---- 4. up
say "${compose_cmd[*]} up --build -d (project $COMPOSE_PROJECT_NAME, NODE_IMAGE=$NODE_IMAGE, host port 127.0.0.1:$DUALKV_PORT)"
project_up=1
compose up --build -d >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "docker-compose up --build -d failed"; }
grep -E '^(Successfully built|Successfully tagged|Creating|Created|Starting|Started)|Container .* (Started|Healthy)' "$work/up.log" | indent || true

wait_healthy() {
  local id status
  id=$(cid server)
  [ -n "$id" ] || fail "no server container"
  for _ in $(seq 1 120); do
    status=$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    case "$status" in
      running/healthy) return 0 ;;
      running/unhealthy) fail "the server is unhealthy (its HEALTHCHECK, kv-tcp ping, fails)" ;;
      exited/* | dead/*) fail "the server container stopped: $status" ;;
    esac
    sleep 0.5
  done
  fail "the server did not become healthy within 60 s (last status: $status)"
}
wait_healthy
server=$(cid server)
say "server healthy: $(docker inspect -f '{{.Name}} {{.Config.Image}}' "$server")"

# The server runs as non-root, and its ports are published on 127.0.0.1 only.
uid=$(docker exec "$server" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
for proto in tcp udp; do
  published=$(docker port "$server" "7379/$proto")
  [ "$published" = "127.0.0.1:$DUALKV_PORT" ] \
    || fail "7379/$proto should be published on 127.0.0.1:$DUALKV_PORT only, is: $published"
done
published=$(docker port "$server" 7380/tcp)
[ "$published" = "127.0.0.1:$DUALKV_TLS_PORT" ] || fail "7380/tcp (TLS) should be published on 127.0.0.1:$DUALKV_TLS_PORT only, is: $published"
# The secrets reach the server as files, not as environment variables.
docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$server" | grep -qiE 'PASSWORD|SECRET|KEY=' \
  && fail "the server's environment holds a secret"
docker exec "$server" test -r /run/secrets/users || fail "the server has no /run/secrets/users"
say "runs as uid $uid; 7379/tcp and 7379/udp published on 127.0.0.1:$DUALKV_PORT only, TLS on 127.0.0.1:$DUALKV_TLS_PORT; secrets as files"

# ---- 5. the demo clients
# Waits for a demo service to finish, shows its output and checks its exit code and lines.
check_demo() {
  local service=$1 id code line
  shift
  id=$(cid "$service")
  [ -n "$id" ] || fail "$service was not created"
  code=$(timeout 180 docker wait "$id") || fail "$service did not finish within 180 s"
  docker logs "$id" >"$work/$service.log" 2>&1
  say "$service exited $code:"
  indent <"$work/$service.log"
  [ "$code" = 0 ] || fail "$service exited $code"
  for line in "$@"; do
    grep -qxF -- "$line" "$work/$service.log" || fail "$service's output lacks the line: $line"
  done
}

check_demo demo-tcp '(exit 4: refused)' 'PONG' 'OK' 'hello over tcp' 'DELETED' 'kv-tcp: not found: "greeting:tcp"' \
  '(exit 1: not found)' 'written over tls' 'demo-tcp: done'
grep -q 'NOAUTH Authentication required' "$work/demo-tcp.log" || fail "demo-tcp's unauthenticated get was not refused with NOAUTH"

check_demo demo-udp 'PONG' 'OK' 'hello over udp' 'DELETED' '(exit 1: not found)' 'demo-udp: done'
# --verbose prints every send: the chaos proxy must have made the client resend at least once.
grep -qE '^kv-udp: -> [A-Z]+ id=[0-9a-fx]+ attempt ([2-9]|[1-9][0-9])' "$work/demo-udp.log" \
  || fail "demo-udp shows no retry (no 'attempt 2' or later) through the chaos proxy"
docker logs "$(cid chaos)" >"$work/chaos.log" 2>&1
say "chaos (first lines):"; head -15 "$work/chaos.log" | indent
grep -q 'kv-chaos listening on' "$work/chaos.log" || fail "kv-chaos did not say where it listens"

# From the host, through the published ports on 127.0.0.1: a helper container from the same
# image in the host's network namespace runs the clients (so the host needs no build of its own),
# with the demo's secrets mounted read-only, as the demo's own clients have them.
host_kv() { docker run --rm --network host -v "$secrets_dir:/run/secrets:ro" "$DUALKV_IMAGE" "$@"; }
auth=(--user demo --password-file /run/secrets/demo.password)

# The server's STATS: corrupted datagrams were rejected, not applied.
host_kv kv-tcp --host 127.0.0.1 --port "$DUALKV_PORT" "${auth[@]}" --json stats >"$work/stats.json" \
  || { cat "$work/stats.json"; fail "kv-tcp stats failed"; }
rejected=$(node -e '
  const text = require("node:fs").readFileSync(process.argv[1], "utf8");
  // Wherever STATS puts it (top level, or in a section), the field is udp_rejected.
  const m = /"?udp_rejected"?\s*[:=]\s*"?(\d+)/.exec(text);
  console.log(m ? m[1] : "missing");' "$work/stats.json")
[ "$rejected" != missing ] || { cat "$work/stats.json"; fail "the server's STATS has no udp_rejected"; }
[ "$rejected" -gt 0 ] || { cat "$work/stats.json"; fail "udp_rejected is 0: no corrupted datagram was rejected"; }
say "the server's STATS: udp_rejected=$rejected"
# The image builds the batched UDP socket (KV_REQUIRE_NATIVE=1), so the server must be using it.
grep -qE '"?udp_io"?\s*[:=]\s*"?batched' "$work/stats.json" \
  || { cat "$work/stats.json"; fail "the server in the container is not on the batched UDP socket (udp_io)"; }
say "the server's STATS: udp_io=batched"

[ "$(host_kv kv-tcp --host 127.0.0.1 --port "$DUALKV_PORT" ping)" = PONG ] \
  || fail "no PONG over TCP from the host on 127.0.0.1:$DUALKV_PORT"
[ "$(host_kv kv-udp --host 127.0.0.1 --port "$DUALKV_PORT" --udp-key-file /run/secrets/demo.udp-key ping)" = PONG ] \
  || fail "no PONG over UDP (signed) from the host on 127.0.0.1:$DUALKV_PORT"
[ "$(host_kv kv-tcp --host 127.0.0.1 --port "$DUALKV_TLS_PORT" --tls-ca /run/secrets/ca.pem "${auth[@]}" get demo:tls)" = "written over tls" ] \
  || fail "no TLS GET from the host on 127.0.0.1:$DUALKV_TLS_PORT"
status=0; host_kv kv-udp --host 127.0.0.1 --port "$DUALKV_PORT" --retries 0 get demo:tcp >"$work/unsigned.log" 2>&1 || status=$?
[ "$status" != 0 ] || fail "an unsigned UDP GET was answered"
say "PONG over TCP and signed UDP, a GET over TLS from the host; an unsigned UDP GET refused (exit $status)"

# ---- 6. restart: a new server container on the same volumes
nonce="written before the restart, run $$ at $(date -u +%FT%TZ)"
host_kv kv-tcp --host 127.0.0.1 --port "$DUALKV_PORT" "${auth[@]}" put restart:check "$nonce" >/dev/null \
  || fail "put restart:check failed"
say "replacing the server container (stop, rm, up): the data must come back from its volume"
compose stop server >"$work/restart.log" 2>&1 || { cat "$work/restart.log"; fail "stop server failed"; }
stopped_code=$(docker inspect -f '{{.State.ExitCode}}' "$server")
docker logs "$server" >"$work/server-before.log" 2>&1
compose rm -f server >>"$work/restart.log" 2>&1 || { cat "$work/restart.log"; fail "rm server failed"; }
compose up -d --no-deps server >>"$work/restart.log" 2>&1 || { cat "$work/restart.log"; fail "up server failed"; }
wait_healthy
old_server=$server
server=$(cid server)
[ "$server" != "$old_server" ] || fail "the server container was not replaced"
[ "$stopped_code" = 0 ] || { tail -20 "$work/server-before.log"; fail "the server exited $stopped_code on docker stop (SIGTERM); expected a clean exit 0"; }
for pair in "restart:check=$nonce" "demo:tcp=written over tcp before the restart" \
  "demo:udp=written over udp before the restart"; do
  key=${pair%%=*} want=${pair#*=}
  got=$(host_kv kv-tcp --host 127.0.0.1 --port "$DUALKV_PORT" "${auth[@]}" get "$key") || got="(kv-tcp exit $?)"
  [ "$got" = "$want" ] || fail "$key did not survive the restart: got '$got', want '$want'"
done
say "restart:check, demo:tcp and demo:udp all survived the new container (the old one exited 0)"

# ---- 7. the logs volume: timestamped operation lines, from before and after the restart
logs_volume=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/app/logs"}}{{.Name}}{{end}}{{end}}' "$server")
[ -n "$logs_volume" ] || fail "the server has no volume at /app/logs"
docker run --rm --network none -v "$logs_volume:/app/logs:ro" "$DUALKV_IMAGE" node -e '
  const fs = require("node:fs");
  const dir = "/app/logs";
  const files = fs.readdirSync(dir).filter((f) => /^dualkv\.\d+\.log$/.test(f));
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
  const lines = files.flatMap((f) => fs.readFileSync(`${dir}/${f}`, "utf8").split("\n").filter(Boolean));
  const records = lines.map((l) => { try { return JSON.parse(l); } catch { return {}; } });
  const ops = records.filter((r) => r.msg === "op");
  const bad = ops.filter((r) => !iso.test(r.time ?? "") || Number.isNaN(Date.parse(r.time)) || !r.cmd || !r.outcome);
  const has = (pred, what) => { if (!ops.some(pred)) { console.error(`no op line for ${what}`); process.exitCode = 1; } };
  console.log(`${files.join(", ")}: ${lines.length} lines, ${ops.length} op lines, ${records.filter((r) => r.msg === "starting").length} server starts`);
  if (ops.length > 0) console.log(`first op line: ${JSON.stringify(ops[0])}`);
  if (bad.length > 0) { console.error(`op lines without an ISO time, cmd or outcome: ${JSON.stringify(bad.slice(0, 3))}`); process.exitCode = 1; }
  has((r) => r.transport === "tcp" && r.key === "greeting:tcp", "greeting:tcp over tcp");
  has((r) => r.transport === "udp" && r.key === "greeting:udp", "greeting:udp over udp");
  has((r) => r.key === "restart:check" && r.cmd === "SET", "the SET of restart:check (before the restart)");
  has((r) => r.key === "restart:check" && r.cmd === "GET", "the GET of restart:check (after the restart)");
  if (records.filter((r) => r.msg === "starting").length < 2) { console.error("fewer than 2 server starts logged in the volume"); process.exitCode = 1; }
' >"$work/logs-check.txt" 2>&1 || { indent <"$work/logs-check.txt"; fail "the logs volume ($logs_volume) lacks timestamped op lines"; }
say "logs volume $logs_volume:"
indent <"$work/logs-check.txt"
