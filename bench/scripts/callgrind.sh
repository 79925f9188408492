#!/usr/bin/env bash
# Instructions per request of one keel binary, per route, counted by valgrind's callgrind: a figure that
# other processes on a shared machine do not move, so one change's cost can be measured while the
# machine is busy (wall-clock figures need `just bench-http` on a quiet machine).
#
# Usage: bench/scripts/callgrind.sh KEEL_BINARY LABEL [NAME=VALUE ...]
#   KEEL_BINARY  a release build, ideally with line tables (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only)
#   LABEL        names the output folder (/tmp/keel-callgrind-LABEL) and the printed lines
#   NAME=VALUE   extra environment for keel, e.g. APP_STATIC_FILES__MEMORY_BUDGET_BYTES=0
# N (default 1000) requests per route over one keep-alive connection, after 200 warm-up requests of each.
# keel runs in the production profile on SQLite, JSON logs at `warn`, `signup_v2` on, as keel-bench runs it.
set -euo pipefail

binary=$(realpath "$1")
label=$2
shift 2
requests=${N:-1000}
repository=$(cd "$(dirname "$0")/../.." && pwd)
work=/tmp/keel-callgrind-$label
rm -rf "$work"
mkdir -p "$work/instance"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
environment=(
    APP_ENV=production
    APP_SECRETS_DIR="$work/instance/secrets"
    APP_SECURITY__SECRET_KEY=benchmark-secret-key-not-a-real-one-0123456789abcdef
    APP_STATIC_FILES__DIR="$repository/web/static"
    APP_SERVER__PORT="$port"
    APP_SERVER__HOST=127.0.0.1
    APP_TELEMETRY__LOG_FORMAT=json
    APP_TELEMETRY__LOG_LEVEL=warn
    APP_FEATURES__SIGNUP_V2=true
    "$@"
)

# Sends N keep-alive GETs of each path and checks each is a 200.
client() {
    python3 - "$port" "$@" <<'PYTHON'
import http.client, sys
port, n, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for path in paths:
    for _ in range(n):
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (path, response.status)
PYTHON
}

health="http://127.0.0.1:$port/api/v1/health"

# callgrind_control's command is taken when one of keel's threads next runs: health requests wake one
# until it is. (After `-i on`, the one or two that may follow count with the route's requests: about
# 0.2 % of 1,000.)
control() {
    callgrind_control "$@" "$keel" >/dev/null &
    local waiting=$!
    until ! kill -0 "$waiting" 2>/dev/null; do
        curl -fs -o /dev/null "$health" || true
    done
    wait "$waiting"
}

env -i PATH="$PATH" "${environment[@]}" "$binary" --instance-dir="$work/instance" migrate up >/dev/null
env -i PATH="$PATH" "${environment[@]}" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/cg.%p" "$binary" --instance-dir="$work/instance" serve 2>"$work/stderr" &
keel=$!
trap 'kill -TERM "$keel" 2>/dev/null || true' EXIT
deadline=$((SECONDS + 120))
until curl -fs -o /dev/null "$health"; do
    if ((SECONDS > deadline)); then
        echo "keel did not answer within 120 s under valgrind; see $work/stderr" >&2
        exit 1
    fi
done
stylesheet=$(curl -fs "http://127.0.0.1:$port/" | grep -o '/static/css/app.css?v=[0-9a-f]*' | head -1)
client 200 /api/v1/health / "$stylesheet"

for route in /api/v1/health / "$stylesheet"; do
    control -z
    control -i on
    client "$requests" "$route"
    control -i off
    dumps=$(find "$work" -name "cg.$keel*" | wc -l)
    control --dump
    deadline=$((SECONDS + 60))
    until (($(find "$work" -name "cg.$keel*" | wc -l) > dumps)); do
        if ((SECONDS > deadline)); then
            echo "callgrind wrote no dump within 60 s; see $work/stderr" >&2
            exit 1
        fi
    done
    dump=$(find "$work" -name "cg.$keel*" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
    total=$(grep -m1 '^totals:' "$dump" | awk '{print $2}')
    echo "$label $route $((total / requests)) instructions/request ($dump)"
done
