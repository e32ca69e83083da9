#!/usr/bin/env bash
# Stops the cluster .ci/slurm-up.sh started in DIR (slurmd, slurmctld, munged, by the pids in
# their pid files) and removes DIR.
set -uo pipefail
DIR="${1:?usage: slurm-down.sh DIR}"
[ -d "$DIR" ] || exit 0
for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
done
case "$DIR" in /tmp/featurelens-slurm.*) rm -rf "$DIR" ;; esac
