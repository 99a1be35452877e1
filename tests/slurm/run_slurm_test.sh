#!/usr/bin/env bash
# The workflow on a real SLURM scheduler: a single-node SLURM (slurmctld + slurmd, munge) on this machine
# with one fake GPU, the smoke workflow (its sparse-parity experiment: every rule) submitted through the
# SLURM executor plugin with a profile derived from profiles/slurm, then checks: the run finishes green;
# every training job (teacher, teacher_logits, students) was submitted with a GPU and got it; no other job asked for one.
#
# Needs root (installs packages, starts the daemons). Usage: bash tests/slurm/run_slurm_test.sh
# (or `make test-slurm`). Prints "SLURM TEST: PASS" or "SLURM TEST: FAIL - <why>"; exits non-zero on
# failure; always stops the daemons it started. Environment: VENV (default .venv), KEEP=1 keeps the
# scratch folder, SLURM_TEST_TIMEOUT (seconds for the workflow run, default 900: the run took 315 s on a 2-core machine).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
SNAKEMAKE=$VENV/bin/snakemake
HERE=$ROOT/tests/slurm
T0=$(date +%s)
WORK=$(mktemp -d /tmp/progdistill-slurm.XXXXXX)
STATE=$WORK/slurm   # configuration, spool, state, pid and log files of the test cluster
WD=$WORK/wd         # the workflow's working directory
mkdir -p "$STATE/ctld" "$STATE/d" "$WD"
STARTED_MUNGE=0
RESULT=1

say() { echo "[slurm-test $(($(date +%s) - T0))s] $*"; }

stop_pid_file() {  # stop the daemon whose pid is in $1 (only ours: the pid files live in $STATE)
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    if [ -s "$STATE/slurmctld.pid" ]; then
        scancel --full --quiet --user="$(id -un)" 2>/dev/null || true  # jobs of this test cluster only
        sleep 1
    fi
    stop_pid_file "$STATE/slurmd.pid"
    stop_pid_file "$STATE/slurmctld.pid"
    [ "$STARTED_MUNGE" = 1 ] && stop_pid_file /run/munge/munged.pid
    if [ "$RESULT" != 0 ]; then
        for f in "$STATE/slurmctld.log" "$STATE/slurmd.log"; do
            [ -f "$f" ] && { echo "---- tail of $f"; tail -n 20 "$f"; }
        done
    fi
    if [ "${KEEP:-0}" = 1 ] || [ "$RESULT" != 0 ]; then
        echo "scratch folder kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "SLURM TEST: FAIL - $* ($(($(date +%s) - T0)) s)"
    exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (installs packages, starts slurmctld/slurmd/munged)"

# ---------------------------------------------------------------------------------------- install
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    say "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >"$WORK/apt.log" 2>&1 \
        || { apt-get update -q >>"$WORK/apt.log" 2>&1 \
            && apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge \
                >>"$WORK/apt.log" 2>&1; } \
        || { tail -n 20 "$WORK/apt.log"; fail "apt-get install of SLURM failed"; }
fi
if ! "$PY" -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    say "installing the SLURM executor plugin (envs/requirements-cluster.txt)"
    "$PY" -m pip install -q -r "$ROOT/envs/requirements-cluster.txt" || fail "pip install of the plugin failed"
fi

# ------------------------------------------------------------------------------------------ munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key; else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
    STARTED_MUNGE=1
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null 2>&1 || fail "munge does not work"
fi

# -------------------------------------------------------------------------------------- the cluster
NODE=$(hostname -s)
# The node as slurmd measures it (CPUs, sockets, cores, RealMemory), plus one typed fake GPU.
HW=$(slurmd -C 2>/dev/null | head -n 1)
[ -n "$HW" ] || fail "slurmd -C printed nothing"
HW=$(sed -E "s/^NodeName=[^ ]+/NodeName=$NODE/" <<<"$HW")
MEM=$(grep -oE 'RealMemory=[0-9]+' <<<"$HW" | cut -d= -f2)
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-16818}
export SLURM_CONF=$STATE/slurm.conf   # every SLURM command of this test (and of its jobs) reads ours
cat >"$SLURM_CONF" <<EOF
ClusterName=progdistill
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job with no memory request takes the whole node and jobs run one at a time.
DefMemPerCPU=500
# Finished jobs stay visible to squeue/scontrol for an hour: the plugin polls squeue (no sacct here).
MinJobAge=3600
ReturnToService=2
# Backfill every 2 s (default 30 s): queued jobs start within seconds of a slot freeing up.
SchedulerParameters=bf_interval=2
SlurmdTimeout=60
GresTypes=gpu
$HW Gres=gpu:fake:1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=$NODE Name=gpu Type=fake Count=1 File=/dev/null" >"$STATE/gres.conf"
# Inside a job the jobstep plugin drops every SLURM_* variable but the job's identity (SLURM_CONF too)
# before its `srun`, which then looks for /etc/slurm/slurm.conf. A real cluster has its configuration
# there; this test leaves /etc/slurm alone and puts an srun first on the jobs' PATH that finds ours.
mkdir -p "$STATE/bin"
printf '#!/bin/sh\nSLURM_CONF=%s exec %s "$@"\n' "$SLURM_CONF" "$(command -v srun)" >"$STATE/bin/srun"
chmod +x "$STATE/bin/srun"
export PATH=$STATE/bin:$PATH

say "starting slurmctld and slurmd (node $NODE, RealMemory=${MEM}MB, 1 fake GPU)"
slurmctld || fail "slurmctld did not start"
slurmd || fail "slurmd did not start"
for _ in $(seq 60); do
    st=$(sinfo -h -N -o %T 2>/dev/null | head -n 1)
    [ "$st" = idle ] && break
    sleep 0.5
done
[ "$st" = idle ] || fail "the node did not come up (state '${st:-none}')"
say "cluster up: $(sinfo -h -o '%P %D %T %G')"

# ------------------------------------------------------------------- the workflow through the plugin
CONFIG=$WORK/smoke-gpu.yaml
# The smoke configuration with `device: auto` (training rules then declare gpu=1 and fall back to the CPU
# inside the job, as the fake GPU has no CUDA behind it), its sparse-parity experiment only.
"$PY" "$HERE/derive_config.py" "$ROOT/workflow/configs/smoke.yaml" "$CONFIG" \
    || fail "could not derive the test configuration"
"$PY" "$HERE/derive_profile.py" "$ROOT/profiles/slurm/config.yaml" "$WORK/profile/config.yaml" \
    --logdir "$WORK/slurm-logs" || fail "could not derive the test profile"

say "running the smoke workflow through --profile $WORK/profile"
LOG=$WORK/snakemake.log
(cd "$WD" && timeout "${SLURM_TEST_TIMEOUT:-900}" "$SNAKEMAKE" -s "$ROOT/Snakefile" -d "$WD" \
    --profile "$WORK/profile" --configfile "$CONFIG") >"$LOG" 2>&1
RC=$?
say "snakemake exited with $RC"
scontrol -o show job >"$WORK/jobs.txt" 2>&1 || true
if [ "$RC" != 0 ]; then
    tail -n 40 "$LOG"
    [ "$RC" = 124 ] && fail "the workflow did not finish in ${SLURM_TEST_TIMEOUT:-900} s"
    fail "the workflow failed (exit $RC; log $LOG)"
fi

"$PY" "$HERE/check_jobs.py" "$WORK/jobs.txt" "$LOG" "$WD" "$WORK/slurm-logs" || fail "job checks failed (see above)"

RESULT=0
echo "SLURM TEST: PASS ($(($(date +%s) - T0)) s)"
