#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for the tests that need a real Slurm:
# munged with a generated key, slurmctld and slurmd (run as root, no systemd), every file
# under one temporary folder. Needs root and Debian's slurm-wlm and munge packages.
#
#   eval "$(.ci/slurm-up.sh)"     # prints the exports (SLURM_CONF, FEATURELENS_SLURM_DIR,
#                                 # FEATURELENS_SLURM=1) on stdout when the cluster is up
#   .ci/slurm-down.sh "$FEATURELENS_SLURM_DIR"
#
# Exits non-zero (with the reason on stderr, daemons stopped) when the cluster does not start.
set -euo pipefail

fail() { echo "slurm-up: $*" >&2; [ -n "${DIR:-}" ] && "$(dirname "$0")/slurm-down.sh" "$DIR" >&2 || true; exit 1; }

[ "$(id -u)" = "0" ] || { echo "slurm-up: needs root" >&2; exit 1; }
for c in munged munge unmunge slurmctld slurmd sinfo sbatch squeue; do
    command -v "$c" >/dev/null 2>&1 || { echo "slurm-up: $c not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

DIR="$(mktemp -d /tmp/featurelens-slurm.XXXXXX)"
chmod 755 "$DIR"
mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log" /run/munge
chmod 700 "$DIR/munge"

# munge: a 1024-byte random key, its own socket, pid, log and seed files.
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
SOCKET=/run/munge/munge.socket.2
munged --key-file="$DIR/munge/munge.key" --socket="$SOCKET" --pid-file="$DIR/munge/munged.pid" \
       --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" --force \
    || fail "munged did not start (see $DIR/log/munged.log)"
munge -n -S "$SOCKET" | unmunge -S "$SOCKET" | grep -q "STATUS: *Success" || fail "munge does not work"

HOST="$(hostname -s)"
CPUS="$(nproc)"
cat > "$DIR/slurm.conf" <<CONF
ClusterName=featurelens-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
KillWait=10
MinJobAge=30
NodeName=$HOST CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$DIR/slurm.conf"

slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (see $DIR/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start (see $DIR/log/slurmd.log)"

for _ in $(seq 1 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "export SLURM_CONF='$SLURM_CONF'"
        echo "export FEATURELENS_SLURM_DIR='$DIR'"
        echo "export FEATURELENS_SLURM=1"
        echo "slurm-up: one-node cluster on $HOST ($CPUS CPUs) in $DIR" >&2
        exit 0
    fi
    sleep 1
done
fail "the node did not become idle within 30 s: $(sinfo 2>&1 | tr '\n' ' ')"
