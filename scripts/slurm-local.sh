#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing `finefail run --executor slurm` on a real
# Slurm (not a mock). Usage: scripts/slurm-local.sh start|stop|status
#
# start: installs Debian's slurm-wlm and munge when missing (needs root), writes a single-node
#        slurm.conf for localhost (no slurmdbd, no cgroups, no systemd), starts munged, slurmctld and
#        slurmd directly and waits until `sinfo` shows the node idle. Idempotent.
# stop:  stops the three daemons (by the pids they recorded). Idempotent.
# status: prints sinfo, or says the cluster is down (exit 1).
#
# State lives under $SLURM_LOCAL_DIR (default /var/tmp/finefail-slurm): spool, logs, pid files.
set -euo pipefail

STATE="${SLURM_LOCAL_DIR:-/var/tmp/finefail-slurm}"
CONF=/etc/slurm/slurm.conf
PARTITION="${SLURM_LOCAL_PARTITION:-debug}"

die() { echo "slurm-local: $*" >&2; exit 2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed and installing needs root"
    echo "slurm-local: installing slurm-wlm and munge (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$STATE/ctld" "$STATE/d" "$STATE/log" /etc/slurm
    local tmp
    tmp=$(mktemp "$CONF.XXXXXX")
    cat >"$tmp" <<EOF
# Written by finefail scripts/slurm-local.sh: a one-node test cluster on localhost.
ClusterName=finefail-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MpiDefault=none
NodeName=localhost NodeHostname=$(hostname) CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    mv "$tmp" "$CONF"
    chmod 644 "$CONF"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    if [ -f "$STATE/munged.pid" ] && kill -0 "$(cat "$STATE/munged.pid")" 2>/dev/null; then return; fi
    mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
    chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key
    # munged refuses to start over a stale socket of a dead daemon.
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    if id munge >/dev/null 2>&1; then
        su -s /bin/sh munge -c "munged --pid-file=/run/munge/munged.pid" || die "munged did not start"
    else
        munged --force --pid-file=/run/munge/munged.pid || die "munged did not start"
    fi
    for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$STATE/munged.pid"
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
}

start() {
    install_packages
    mkdir -p "$STATE"
    write_conf
    start_munge
    alive "$STATE/slurmctld.pid" || slurmctld || die "slurmctld did not start (see $STATE/log/slurmctld.log)"
    alive "$STATE/slurmd.pid" || slurmd || die "slurmd did not start (see $STATE/log/slurmd.log)"
    for _ in $(seq 120); do
        state=$(sinfo -h -n localhost -o %T 2>/dev/null | head -1 || true)
        case "$state" in
            idle|mixed|allocated) echo "slurm-local: up (partition $PARTITION, node localhost $state)"; return ;;
            down*|drain*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    die "the node did not become idle within 60 s (sinfo: ${state:-no answer}); see $STATE/log/"
}

stop_one() {
    local pidfile="$1"
    if alive "$pidfile"; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

stop() {
    stop_one "$STATE/slurmd.pid"
    stop_one "$STATE/slurmctld.pid"
    stop_one "$STATE/munged.pid"
    echo "slurm-local: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if sinfo >/dev/null 2>&1; then sinfo; else echo "slurm-local: down"; exit 1; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
