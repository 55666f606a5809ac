#!/bin/sh
# Dev image entry point (Tilt): runs the service and restarts it when it exits, preferring the
# binary Tilt's live update syncs to /app/live (an emptyDir; the root filesystem stays read-only).
# SIGTERM stops the service and this loop.
set -u
child=0
stop() { [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0; }
trap stop TERM INT
while :; do
	bin=/app/bin/service
	[ -x /app/live/service ] && bin=/app/live/service
	"$bin" "$@" &
	child=$!
	wait "$child"
	echo "dev-entrypoint: $bin exited with $?; restarting" >&2
	sleep 1
done
