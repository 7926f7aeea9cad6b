#!/usr/bin/env bash
# Runs `npm start` as the README says, waits for the server to answer PING, then stops it
# with SIGTERM and checks it exits 0.
set -euo pipefail
log=$(mktemp)
npm start >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if grep -q '"msg":"listening"' "$log"; then break; fi
  sleep 0.2
done
grep -q '"msg":"listening"' "$log" || { cat "$log"; echo "npm start: the server did not start"; exit 1; }
reply=$(node -e '
  const s = require("net").connect(7379, "127.0.0.1", () => s.write("PING\n"));
  s.on("data", (d) => { process.stdout.write(d.toString()); s.end(); });
  s.on("error", (e) => { console.error(e.message); process.exit(1); });
')
[ "$reply" = "PONG" ] || { cat "$log"; echo "npm start: expected PONG, got: $reply"; exit 1; }
# npm start runs the server as a child of npm; signal the server itself (its pid is in the listening line).
server=$(grep '"msg":"listening"' "$log" | head -1 | sed -E 's/.*"pid":([0-9]+).*/\1/')
kill -TERM "$server"
wait "$pid" || true
for _ in $(seq 1 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server" 2>/dev/null; then echo "npm start: the server did not stop on SIGTERM"; exit 1; fi
grep -q '"msg":"stopped"' "$log" || { cat "$log"; echo "npm start: no 'stopped' log line"; exit 1; }
echo "npm start: ok (PONG, clean stop)"
rm -f "$log"
