#!/bin/sh
# The smoke test the image runs on itself while it is built (Containerfile, target `smoke`;
# scripts/build_container.sh builds it). It runs as the image's user, with the image's venv:
#   1. the commands start (`butlerd --version`) and the shipped butlers pass `butlerctl check`;
#   2. `butlerctl status` (the HEALTHCHECK) exits non-zero while no daemon runs;
#   3. `butlerd serve` starts every shipped butler on the embedded PostgreSQL and
#      `butlerctl status` then exits 0; every line it logged is one JSON object;
#   4. SIGTERM stops it cleanly (exit 0) and `butlerctl status` fails again.
# A build step shares the build host's network, so the smoke daemon listens on the loopback, on
# free ports (a copy of butlers.d with its ports rewritten), never on the shipped 8100-8103.
set -eu

START_TIMEOUT_S=${SMOKE_START_TIMEOUT_S:-180}
STOP_TIMEOUT_S=${SMOKE_STOP_TIMEOUT_S:-60}

step() { printf '\n== smoke: %s\n' "$*"; }
die() { printf 'smoke FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

step "whoami: $(id -un) (uid $(id -u))"
[ "$(id -u)" != 0 ] || die "the image runs as root"
command -v tini >/dev/null || die "tini is not installed"

step "butlerd --version"
butlerd --version

step "butlerctl check (the shipped butlers, $BUTLERS_DIR)"
butlerctl check

cp -R "$BUTLERS_DIR" "$work/butlers.d"
python - "$work/butlers.d" <<'EOF'
import re
import socket
import sys
from pathlib import Path

for toml in sorted(Path(sys.argv[1]).glob("*/butler.toml")):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = re.sub(r"(?m)^port = \d+$", f"port = {port}", toml.read_text(), count=1)
    toml.write_text(text)
    print(f"{toml.parent.name}: port {port}")
EOF
export BUTLERS_DIR="$work/butlers.d" BUTLERS_DATA_DIR="$work/data" BUTLERS_HOST=127.0.0.1

step "butlerctl status with no daemon running must fail"
if butlerctl status --timeout 2; then die "status exited 0 with no daemon running"; fi

step "butlerd serve (embedded PostgreSQL in $BUTLERS_DATA_DIR)"
BUTLERS_LOG_FORMAT=json butlerd serve 2>"$work/butlerd.log" &
pid=$!
deadline=$(( $(date +%s) + START_TIMEOUT_S ))
until butlerctl status --timeout 5 >"$work/status.txt" 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/butlerd.log" >&2; die "butlerd exited during start"; }
    [ "$(date +%s)" -lt "$deadline" ] || { cat "$work/butlerd.log" "$work/status.txt" >&2; die "not healthy within ${START_TIMEOUT_S}s"; }
    sleep 1
done
cat "$work/status.txt"

step "SIGTERM: butlerd drains and exits 0"
kill -TERM "$pid"
deadline=$(( $(date +%s) + STOP_TIMEOUT_S ))
while kill -0 "$pid" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || die "butlerd still running ${STOP_TIMEOUT_S}s after SIGTERM"
    sleep 1
done
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || { cat "$work/butlerd.log" >&2; die "butlerd exited $rc after SIGTERM"; }
if butlerctl status --timeout 2 >/dev/null; then die "status exited 0 after the daemon stopped"; fi

step "every log line is one JSON object"
python - "$work/butlerd.log" <<'EOF'
import json
import sys

lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
events = [json.loads(line)["event"] for line in lines]  # raises on a line that is not JSON
assert "butler.serving" in events, events
assert "butlerd.signal" in events and "supervisor.stopped" in events, events[-5:]
print(f"{len(lines)} lines, all JSON; {events.count('butler.serving')} butlers served")
EOF

step "passed"
