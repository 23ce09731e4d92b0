#!/usr/bin/env bash
# Local Dask cluster for trying `--dask-address` (issue 20): a scheduler and two workers,
# each bound to 127.0.0.1, one thread per worker.
#
#   bash deploy/cluster.sh start    prints the address to pass: tcp://127.0.0.1:8786
#   bash deploy/cluster.sh stop
#   bash deploy/cluster.sh status
#
# Settings (environment):
#   SEGMENT_DASK_PORT           scheduler port on 127.0.0.1; default 8786
#   SEGMENT_DASK_WORKERS        workers; default 2
#   SEGMENT_DASK_MEMORY         memory limit per worker; default 4GB
#   PREFECT_HOME                state dir (pid files, logs in run/); default <repo>/.prefect
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SEGMENT_VENV_BIN:-$ROOT/.venv/bin}"
HOST=127.0.0.1
PORT="${SEGMENT_DASK_PORT:-8786}"
WORKERS="${SEGMENT_DASK_WORKERS:-2}"
MEMORY="${SEGMENT_DASK_MEMORY:-4GB}"
export PREFECT_HOME="${PREFECT_HOME:-$ROOT/.prefect}"
RUN_DIR="$PREFECT_HOME/run"
mkdir -p "$RUN_DIR"
# Workers import the project (tasks, segmentation) from this checkout; one BLAS thread each.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" SEGMENT_THREADS=1

log() { echo "[cluster.sh] $*"; }

alive() {  # alive <pidfile>: the recorded process still runs and is a dask process
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null \
        && grep -q dask "/proc/$(cat "$1")/cmdline" 2>/dev/null
}

stop_one() {  # stop_one <name>: TERM, then KILL after 10 s
    local pidfile="$RUN_DIR/$1.pid" pid
    if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    log "stopped $1"
}

start() {
    if alive "$RUN_DIR/dask-scheduler.pid"; then
        log "already running: tcp://$HOST:$PORT"; return 0
    fi
    setsid "$BIN/dask" scheduler --host "$HOST" --port "$PORT" --no-dashboard \
        >"$RUN_DIR/dask-scheduler.log" 2>&1 &
    echo $! >"$RUN_DIR/dask-scheduler.pid"
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null && break
        alive "$RUN_DIR/dask-scheduler.pid" || { log "the scheduler did not start:"; \
            tail -5 "$RUN_DIR/dask-scheduler.log"; exit 1; }
        sleep 0.1
    done
    for i in $(seq 1 "$WORKERS"); do
        setsid "$BIN/dask" worker "tcp://$HOST:$PORT" --host "$HOST" --nworkers 1 \
            --nthreads 1 --memory-limit "$MEMORY" --no-dashboard --name "worker-$i" \
            >"$RUN_DIR/dask-worker-$i.log" 2>&1 &
        echo $! >"$RUN_DIR/dask-worker-$i.pid"
    done
    "$BIN/python" - "tcp://$HOST:$PORT" "$WORKERS" <<'EOF'
import sys
from distributed import Client
with Client(sys.argv[1], timeout="30s") as client:
    client.wait_for_workers(int(sys.argv[2]), timeout=120)
EOF
    log "scheduler and $WORKERS workers on tcp://$HOST:$PORT"
    log "run with: segment run meters --dask-address tcp://$HOST:$PORT (or SEGMENT_DASK_ADDRESS)"
}

stop() {
    local f
    for f in "$RUN_DIR"/dask-worker-*.pid; do
        [[ -e "$f" ]] && stop_one "$(basename "$f" .pid)"
    done
    stop_one dask-scheduler
}

status() {
    if alive "$RUN_DIR/dask-scheduler.pid"; then log "scheduler up: tcp://$HOST:$PORT"
    else log "scheduler down"; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
