#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the Slurm evaluator tests and CI
# (docs/evaluation.md). Idempotent, as root:
#   installs slurm-wlm (slurmctld, slurmd, the client commands) and munge (its authentication),
#   creates the munge key if missing, writes /etc/slurm/slurm.conf (one node: this host,
#   one partition: debug), starts munged, slurmctld and slurmd directly (no systemd here),
#   waits until the node is idle and checks that a trivial job runs.
# `bash scripts/setup-slurm.sh --check` only reports whether a usable cluster is up (exit 0/1).
set -euo pipefail

conf=/etc/slurm/slurm.conf
# Marks a slurm.conf this script wrote: only such a file is ever rewritten.
marker='# Written by tvr scripts/setup-slurm.sh (single-node test cluster).'
node=$(hostname -s)
started_at=$SECONDS

say() { echo "setup-slurm: $*"; }
fail() { echo "setup-slurm: $*" >&2; exit 1; }
elapsed() { echo "$((SECONDS - started_at)) s"; }

munge_works() { command -v munge >/dev/null && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
controller_up() { command -v scontrol >/dev/null && scontrol ping 2>/dev/null | grep -q 'is UP'; }
# The node's state as sinfo reports it: idle, mix, alloc, down*, drain, ...; empty when unknown.
node_state() { sinfo -h -N -n "$node" -o %t 2>/dev/null | head -n1 || true; }
node_usable() { [[ $(node_state) =~ ^(idle|mix|alloc|comp)$ ]]; }

if [[ "${1:-}" == --check ]]; then
  command -v sbatch >/dev/null || { say "no Slurm: sbatch is not installed (run: sudo bash scripts/setup-slurm.sh)"; exit 1; }
  munge_works || { say "munge does not work (munged not running?): run sudo bash scripts/setup-slurm.sh"; exit 1; }
  controller_up || { say "slurmctld does not answer (scontrol ping): run sudo bash scripts/setup-slurm.sh"; exit 1; }
  node_usable || { say "node $node is '$(node_state)', not usable: run sudo bash scripts/setup-slurm.sh"; exit 1; }
  say "cluster up: $(sinfo --version), node $node $(node_state)"
  exit 0
elif [[ $# -gt 0 ]]; then
  fail "unknown argument '$1' (usage: setup-slurm.sh [--check])"
fi

[[ $(id -u) -eq 0 ]] || fail "run as root: sudo bash scripts/setup-slurm.sh (or --check, as anyone, to see whether a cluster is up)"

# 1. Packages.
packages=(slurm-wlm munge)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  say "installing ${missing[*]}"
  # Wait for another apt/dpkg instead of failing on its lock.
  lock=(-o DPkg::Lock::Timeout=900)
  apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed ${missing[*]} ($(elapsed))"
else
  say "packages present (${packages[*]})"
fi

# 2. The munge key: every node must share it; munged refuses one readable by others.
if [[ ! -s /etc/munge/munge.key ]]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  say "created /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge

# 3. slurm.conf: written where absent; rewritten only where we wrote it (hostname or size may change).
cpus=$(nproc)
memory_mb=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
wanted=$(cat <<EOF
$marker
ClusterName=tvr-test
# Addresses given (here and on the node line): the cluster works where the hostname does not resolve.
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
# No cgroups in a container: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Cores are allocated one by one, so 1-CPU jobs run side by side (nproc at once).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The node is what this file says, whatever slurmd detects (no INVAL node in a VM).
SlurmdParameters=config_overrides
# A node that was down comes back by itself once slurmd registers again.
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
MessageTimeout=10
# Start a submitted job at once rather than batching submissions (3 s by default).
SchedulerParameters=batch_sched_delay=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
)
config_changed=false
if [[ ! -e $conf ]] || { head -n1 "$conf" | grep -qxF "$marker" && [[ $(cat "$conf") != "$wanted" ]]; }; then
  mkdir -p /etc/slurm
  printf '%s\n' "$wanted" >"$conf"
  config_changed=true
  say "wrote $conf (node $node, $cpus CPUs, ${memory_mb} MB)"
elif head -n1 "$conf" | grep -qxF "$marker"; then
  say "$conf is up to date"
else
  say "$conf was not written by this script: left as it is, and used"
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# 4. Daemons. After a config change, running ones are stopped through Slurm itself.
if $config_changed && controller_up; then
  say "config changed: stopping the running slurmctld and slurmd (scontrol shutdown)"
  scontrol shutdown >/dev/null
  for _ in $(seq 1 30); do controller_up || break; sleep 1; done
  sleep 1
fi
if ! munge_works; then
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 20); do munge_works && break; sleep 0.5; done
  munge_works || fail "munged does not work after starting it: see /var/log/munge/munged.log"
  say "started munged"
fi
if ! controller_up; then
  /usr/sbin/slurmctld
  for _ in $(seq 1 30); do controller_up && break; sleep 1; done
  controller_up || fail "slurmctld does not answer 30 s after starting it: see /var/log/slurm/slurmctld.log"
  say "started slurmctld"
fi
if ! pgrep -x slurmd >/dev/null; then
  /usr/sbin/slurmd
  say "started slurmd"
fi

# 5. The node, idle within 60 s; one resumed by hand if it stays down or drained.
for i in $(seq 1 60); do
  node_usable && break
  if ((i == 15)) && [[ $(node_state) =~ ^(down|drain|drng|inval) ]]; then
    scontrol update NodeName="$node" State=RESUME 2>/dev/null || true
  fi
  sleep 1
done
node_usable || fail "node $node is '$(node_state)' 60 s after starting slurmd, not idle: $(scontrol show node "$node" | grep -o 'Reason=.*' || true); see /var/log/slurm/slurmd.log"
say "node $node $(node_state) ($(elapsed))"

# 6. A trivial job, end to end.
job_dir=$(mktemp -d)
trap 'rm -rf "$job_dir"' EXIT
job_started=$SECONDS
sbatch --wait --quiet --job-name=tvr-setup-check --output="$job_dir/out" --chdir="$job_dir" --wrap='echo ok' \
  || fail "a trivial job (sbatch --wait --wrap 'echo ok') failed: $(cat "$job_dir/out" 2>/dev/null); see /var/log/slurm/"
[[ $(cat "$job_dir/out") == ok ]] || fail "a trivial job ran but printed '$(cat "$job_dir/out")' instead of 'ok'"
say "a trivial job ran in $((SECONDS - job_started)) s"
say "cluster up: $(sinfo --version), node $node, partition debug ($(elapsed) in all)"
