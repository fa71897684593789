#!/usr/bin/env bash
# `collect --publish` on the real HTCondor pool (../shared/htcondor/pool.sh): N jobs submitted
# and put on hold with condor_hold (HoldReasonCode 1: a submission on hold writes no hold event
# to the log), then, as root, one `collect --from-config` to record
# and advise them, and one `collect --from-config --publish` timed alone: the condor_qedit
# calls that set the five HoldAdvice attributes in every held job's ad. Checks that every held
# job has HoldAdvice afterwards, then removes the jobs. Needs root (pool.sh does).
#   bash bench/publish.sh [JOBS=10000] [path/to/pool.sh]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-10000}
POOL=${2:-../shared/htcondor/pool.sh}
R=${CONDOR_CHROOT:-/tmp/condor-chroot}
U=${CONDOR_USER:-tester}
cargo build --release --quiet
bash "$POOL" up >/dev/null
asu() { timeout 600 bash "$POOL" as-user "$*"; }
asroot() { timeout 600 bash "$POOL" as-root "$*"; }
W=ha-publish-bench
rm -rf "$R/home/$U/$W" && mkdir -p "$R/home/$U/$W"
cp target/release/holdadvisor "$R/home/$U/$W/holdadvisor"
printf '%s\n' "universe = vanilla" "executable = /bin/sleep" "arguments = 3600" \
    "transfer_executable = false" "request_cpus = 1" "request_memory = 16" "request_disk = 1024" \
    "log = held.log" "queue $n" >"$R/home/$U/$W/held.sub"
chroot "$R" chown -R "$U:$U" "/home/$U/$W"
cluster=$(asu "cd $W && condor_submit -terse held.sub" | head -1 | cut -d. -f1)
asu "condor_hold $cluster" >/dev/null
held=$(asu "condor_q -allusers -constraint 'JobStatus == 5' -af ClusterId" | wc -l)
echo "held jobs in the queue: $held"
cache=/root/ha-publish-bench.sqlite
asroot "rm -f $cache*; cd /home/$U/$W && ./holdadvisor collect --from-config --quiet --cache $cache"
t0=$(date +%s.%N)
out=$(asroot "cd /home/$U/$W && ./holdadvisor collect --from-config --publish --cache $cache")
t1=$(date +%s.%N)
echo "$out" | grep '^published' || true
with=$(asu "condor_q -allusers -constraint 'JobStatus == 5 && HoldAdvice =!= undefined' -af ClusterId" | wc -l)
echo "held jobs with HoldAdvice: $with of $held"
printf 'collect --publish (read the log, advice from the cache, condor_qedit): %.2f s for %d held jobs\n' \
    "$(echo "$t1 - $t0" | bc -l)" "$held"
asu "condor_rm -all" >/dev/null 2>&1 || true
[ "$with" = "$held" ]
