#!/usr/bin/env bash
# Local Prefect server for the segmentation pipeline.
#
#   bash deploy/server.sh start   server on 127.0.0.1, work pool, deployments from
#                                 prefect.yaml, failure automation, worker; prints the UI URL
#   bash deploy/server.sh stop    stops the worker (and its flow runs) and the server
#   bash deploy/server.sh status
#
# Settings (environment):
#   PREFECT_HOME                  state dir (SQLite DB, logs, pid files); default <repo>/.prefect
#   SEGMENT_PREFECT_PORT          API/UI port on 127.0.0.1; default 4200
#   SEGMENT_FAILURE_WEBHOOK_URL   webhook called when a run fails (see deploy/create_automation.py)
#   SEGMENT_START_TIMEOUT         seconds to wait for the server to answer; default 120
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SEGMENT_VENV_BIN:-$ROOT/.venv/bin}"
HOST=127.0.0.1
PORT="${SEGMENT_PREFECT_PORT:-4200}"
POOL=segmentation-pool
START_TIMEOUT="${SEGMENT_START_TIMEOUT:-120}"
STOP_GRACE="${SEGMENT_STOP_GRACE:-10}"   # seconds before SIGKILL

export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.prefect}"
export PREFECT_API_URL="http://$HOST:$PORT/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# The pull step in prefect.yaml reads this: flow runs start in this checkout.
export SEGMENT_PROJECT_DIR="$ROOT"
# Poll for scheduled runs every 5 s instead of 15 s: a UI click starts quickly.
export PREFECT_WORKER_QUERY_SECONDS="${PREFECT_WORKER_QUERY_SECONDS:-5}"

RUN_DIR="$PREFECT_HOME/run"
mkdir -p "$RUN_DIR"

log() { echo "[server.sh] $*"; }

alive() {  # alive <pidfile>: the recorded process is still running, and is ours
    # (a pid file left from before a reboot may name an unrelated process by now)
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null \
        && grep -q prefect "/proc/$(cat "$1")/cmdline" 2>/dev/null
}

any_alive() {  # any_alive <pid...>
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
    return 1
}

descendants() {  # every process below <pid>, deepest first
    local pid child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        descendants "$child"
        echo "$child"
    done
}

stop_one() {  # stop_one <name>: TERM the recorded process group and its children, then KILL
    local pidfile="$RUN_DIR/$1.pid" pid pids
    if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
    pid="$(cat "$pidfile")"
    # Flow runs started by the worker sit in their own sessions: collect them first.
    pids="$(descendants "$pid") $pid"
    log "stopping $1 (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    kill -TERM $pids 2>/dev/null || true
    # Prefect 3.9's worker often does not finish its graceful shutdown on the
    # first signal, so after a grace period everything left is killed.
    for _ in $(seq 1 "$((STOP_GRACE * 2))"); do
        any_alive $pids || break
        sleep 0.5
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    kill -KILL $pids 2>/dev/null || true
    rm -f "$pidfile"
}

spawn() {  # spawn <name> <command...>: run in its own process group, log under RUN_DIR
    local name="$1"; shift
    # setsid: the recorded pid is also the process group id, so stop can end the whole tree.
    setsid "$@" >"$RUN_DIR/$name.log" 2>&1 < /dev/null &
    echo $! >"$RUN_DIR/$name.pid"
}

wait_for_api() {
    "$BIN/python" - "$PREFECT_API_URL/health" "$START_TIMEOUT" <<'EOF'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit(f"no answer from {url} within {sys.argv[2]} s")
EOF
}

port_in_use() {
    "$BIN/python" -c 'import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$PORT"
}

start() {
    cd "$ROOT"
    if alive "$RUN_DIR/server.pid"; then
        log "server already running (pid $(cat "$RUN_DIR/server.pid"))"
    else
        if port_in_use; then
            echo "port $PORT on $HOST is taken by another program: set SEGMENT_PREFECT_PORT" >&2
            exit 1
        fi
        log "starting Prefect server on $HOST:$PORT (PREFECT_HOME=$PREFECT_HOME)"
        spawn server "$BIN/prefect" server start --host "$HOST" --port "$PORT" --analytics-off
        if ! wait_for_api; then
            tail -n 30 "$RUN_DIR/server.log" >&2
            stop_one server
            exit 1
        fi
    fi
    echo "$PORT" >"$RUN_DIR/port"

    log "work pool $POOL (process)"
    "$BIN/prefect" work-pool create "$POOL" --type process --overwrite >/dev/null

    log "deploying prefect.yaml"
    "$BIN/prefect" --no-prompt deploy --all

    log "failure automation"
    "$BIN/python" deploy/create_automation.py

    if alive "$RUN_DIR/worker.pid"; then
        log "worker already running (pid $(cat "$RUN_DIR/worker.pid"))"
    else
        log "starting worker"
        spawn worker "$BIN/prefect" worker start --pool "$POOL" --type process \
            --name "segmentation-worker-$(hostname)" --install-policy never
    fi

    echo
    echo "Prefect UI:   http://$HOST:$PORT"
    echo "API:          $PREFECT_API_URL"
    echo "Logs:         $RUN_DIR/server.log, $RUN_DIR/worker.log"
    echo "Stop with:    make stop"
}

stop() {
    stop_one worker
    stop_one server
    rm -f "$RUN_DIR/port"
    log "stopped"
}

status() {
    for name in server worker; do
        if alive "$RUN_DIR/$name.pid"; then
            echo "$name: running (pid $(cat "$RUN_DIR/$name.pid"))"
        else
            echo "$name: stopped"
        fi
    done
    [[ -f "$RUN_DIR/port" ]] && echo "UI: http://$HOST:$(cat "$RUN_DIR/port")"
    return 0
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
