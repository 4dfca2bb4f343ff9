#!/bin/bash
# Stop the Kamailio started by kam_presence_start.sh DIR, by its recorded main PID
# (SIGTERM to the main process makes it end its own worker children).
# Usage: kam_auth_stop.sh DIR   -> prints the PID it stopped
set -uo pipefail
DIR=${1:?usage: $0 DIR}
PIDFILE="$DIR/kamailio.pid.started"
[ -f "$PIDFILE" ] || { echo "no $PIDFILE" >&2; exit 1; }
PID=$(cat "$PIDFILE")
if ! kill -0 "$PID" 2>/dev/null; then
    echo "kamailio PID $PID not running" >&2; rm -f "$PIDFILE"; exit 0
fi
# remember the workers so we can check they are gone too
KIDS=$(ps -o pid= --ppid "$PID" | tr -d ' ' | tr '\n' ' ')
kill -TERM "$PID"
for _ in $(seq 1 100); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
    echo "kamailio PID $PID ignored SIGTERM for 10s, sending SIGKILL" >&2
    kill -KILL "$PID" 2>/dev/null
fi
for k in $KIDS; do
    if kill -0 "$k" 2>/dev/null; then
        sleep 0.5
        kill -0 "$k" 2>/dev/null && { echo "worker $k left over, killing it" >&2; kill -KILL "$k" 2>/dev/null; }
    fi
done
rm -f "$PIDFILE"
echo "$PID"
