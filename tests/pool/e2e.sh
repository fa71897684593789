#!/bin/bash
# End-to-end test of holdadvisor on the real HTCondor pool, run as the pool's user:
# jobs held for a missing input file (13/2), a missing output file (12/2), the memory policy
# (21/102), condor_hold (1/0) and a run-time limit policy (3/42); then q, q -hold -json,
# scan -allusers, collect on the pool's own global event log, feedback after the condor_hold
# job is released and completes, collect --publish with the README's periodic_release recipe,
# and the Debian package.
#
#   bash tests/pool/e2e.sh POOL_SH HOLDADVISOR_BINARY MODEL_DIR
#
# Prints one line per check and a closing "N passed, M failed"; exits non-zero on failure.
set -uo pipefail
POOL=$1 BIN=$2 MODEL=$3
R=${CONDOR_CHROOT:-/tmp/condor-chroot}
U=${CONDOR_USER:-tester}
W=ha-e2e
D=$R/home/$U/$W
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAILED: $*"; fail=$((fail + 1)); }
asu() { timeout 180 bash "$POOL" as-user "$*"; }
# The pool is left running for later tests; .ci/run tears it down.
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }

bash "$POOL" up >/dev/null 2>&1 || { bad "pool.sh up"; finish; }
# Earlier tests (the DAG tests) may have left jobs behind: start from an empty queue so every
# job here gets a slot at once.
asu "condor_rm -all" >/dev/null 2>&1
for _ in $(seq 60); do [ -z "$(asu 'condor_q -allusers -af ClusterId' 2>/dev/null)" ] && break; sleep 1; done
# The schedd may keep a claim on a dynamic slot a DAG node asked 512 MB for after the queue
# empties; the memory job would reuse it, and 400 MB does not exceed 512 (MEMORY_EXCEEDED
# compares MemoryUsage with the slot's Memory). Wait until no slot is claimed.
for _ in $(seq 120); do asu 'condor_status -af State' 2>/dev/null | grep -q Claimed || break; sleep 1; done
rm -rf "$D"; mkdir -p "$D"
cp "$BIN" "$D/holdadvisor"; cp -r "$MODEL" "$D/model"
cat >"$D/ok.sh" <<'SH'
#!/bin/sh
echo done > result.txt
SH
cat >"$D/mem.py" <<'SH'
#!/usr/bin/python3
import time
blob = b"x" * (400 * 1024 * 1024)
time.sleep(400)   # long enough that only the memory policy ends it
SH
chmod 0755 "$D/ok.sh" "$D/mem.py"
common="universe = vanilla
request_cpus = 1
request_memory = 128
request_disk = 10240
should_transfer_files = YES
when_to_transfer_output = ON_EXIT"
printf '%s\n' "$common" "executable = ok.sh" "transfer_input_files = missing-input.txt" "log = in.log" "queue" >"$D/in.sub"
printf '%s\n' "$common" "executable = ok.sh" "transfer_output_files = never-created.txt" "log = out.log" "queue" >"$D/out.sub"
printf '%s\n' "$common" "executable = mem.py" "log = mem.log" "queue" >"$D/mem.sub"
printf '%s\n' "$common" "executable = /bin/sleep" "transfer_executable = false" "arguments = 30" "log = hold.log" "queue" >"$D/hold.sub"
# The README's periodic_release recipe, acting on what collect --publish writes, on a job held
# by a site's run-time limit policy (code 3, with the subcode and reason the site gives it),
# which clears: the policy holds only a job's first run. An earlier job held by the same policy
# is released by hand and completes first, so that the pool's record shows this hold clearing,
# as a pool's would. The schedd does not apply periodic_release to a condor_hold.
RECIPE='HoldAdvice =?= "release" && NumHolds < 4'
runtime_limited() {
    printf '%s\n' "$common" "executable = /bin/sleep" "transfer_executable = false" "arguments = 30" "log = $1" \
        "periodic_hold = JobStatus == 2 && time() - EnteredCurrentStatus > 3 && NumJobStarts <= 1" \
        'periodic_hold_reason = "Job exceeded its run-time limit of 3 seconds (periodic_hold)"' "periodic_hold_subcode = 42" "${@:2}" "queue"
}
runtime_limited pre.log >"$D/pre.sub"
runtime_limited rec.log "periodic_release = $RECIPE" >"$D/rec.sub"
chroot "$R" chown -R "$U:$U" "/home/$U/$W"

cluster() { asu "cd $W && condor_submit -terse $1" | head -1 | cut -d. -f1; }
IN=$(cluster in.sub); OUT=$(cluster out.sub); MEM=$(cluster mem.sub); HOLD=$(cluster hold.sub); PRE=$(cluster pre.sub)
[ -n "$IN" ] && [ -n "$OUT" ] && [ -n "$MEM" ] && [ -n "$HOLD" ] && [ -n "$PRE" ] || { bad "condor_submit"; finish; }
# condor_hold the sleeper once it runs.
for _ in $(seq 60); do grep -q '^001 ' "$D/hold.log" 2>/dev/null && break; sleep 1; done
asu "condor_hold $HOLD.0" >/dev/null
# condor_q takes every word after -af as an attribute: the job id goes first.
held() { [ "$(asu "condor_q $1.0 -af JobStatus")" = 5 ]; }
for _ in $(seq 240); do held "$IN" && held "$OUT" && held "$MEM" && held "$HOLD" && held "$PRE" && break; sleep 1; done
for j in "$IN" "$OUT" "$MEM" "$HOLD" "$PRE"; do
    held "$j" && ok "job $j is held: $(asu "condor_q $j.0 -af HoldReasonCode HoldReasonSubCode")" \
        || bad "job $j never held (JobStatus MemoryUsage RequestMemory: $(asu "condor_q $j.0 -af JobStatus MemoryUsage RequestMemory"); slots: $(asu 'condor_status -af Name State Memory' | tr '\n' ';'))"
done

ha() { asu "cd $W && HOLDADVISOR_CACHE=\$HOME/$W/cache.sqlite HOLDADVISOR_MODEL=\$HOME/$W/model ./holdadvisor $*"; }

out=$(ha q "$IN.0" 2>&1) && echo "$out" | grep -q "^ $IN.0 " && ok "q $IN.0 answers" || bad "q $IN.0: $out"
# Only the binary, as an installed one: no source tree, no model directory, no settings.
out=$(asu "cd $W && env -u HOLDADVISOR_MODEL -u HOLDADVISOR_CACHE ./holdadvisor q $IN.0" 2>&1) &&
    echo "$out" | grep -q "^ $IN.0 " && echo "$out" | grep -q "^model " &&
    ok "the binary alone answers q $IN.0 with the model compiled into it" || bad "the binary alone: $out"
advice=$(ha q "$IN.0" -af Advice)
[ -n "$advice" ] && [ "$advice" != release ] && ok "missing input: advice is '$advice', not a plain release" || bad "missing input advice: '$advice'"

advice_mem=$(ha q "$MEM.0" -af Advice 2>&1 | head -1)
usage=$(asu "condor_q $MEM.0 -af MemoryUsage" | head -1)
want=$(echo "$advice_mem" | sed -n 's/.*raising memory to \([0-9]*\) MB.*/\1/p')
if [ -n "$want" ] && [ "$usage" != undefined ] && [ "$want" -gt "${usage%%.*}" ]; then
    ok "memory hold: '$advice_mem' names RequestMemory $want above MemoryUsage $usage"
else
    bad "memory hold advice '$advice_mem' (MemoryUsage $usage)"
fi

json=$(ha q -hold -json)
n=$(echo "$json" | python3 -c 'import json,sys; ads=json.load(sys.stdin); print(sum(1 for a in ads if "Advice" in a and "ReleaseProbability" in a and "AdviceCommands" in a))' 2>/dev/null)
[ "${n:-0}" -ge 4 ] && ok "q -hold -json: $n ads with advice attributes" || bad "q -hold -json: $json"

out=$(ha scan -allusers 2>&1) && echo "$out" | grep -q "held jobs in" && ok "scan -allusers: $(echo "$out" | head -1)" || bad "scan -allusers: $out"

# Each group's -constraint command, given to the pool's own condor_q, selects exactly the
# group's held jobs.
ha scan -allusers --format json >"$D/scan.json" 2>/dev/null
groups=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["groups"]))' "$D/scan.json" 2>/dev/null)
checked=0 wrong=""
for k in $(seq 0 $((${groups:-0} - 1))); do
    c=$(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["groups"][int(sys.argv[2])]; cmd=g["commands"][-1]; print(cmd.split("-constraint '"'"'",1)[1].split("'"'"'",1)[0])' "$D/scan.json" "$k")
    want=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["groups"][int(sys.argv[2])]["job_ids"])))' "$D/scan.json" "$k")
    got=$(asu "condor_q -allusers -constraint '$c' -af ClusterId ProcId" | awk '{print $1"."$2}' | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || wrong="$wrong [$c: condor_q gave '$got', the group has '$want']"
    checked=$((checked + 1))
done
[ "$checked" -ge 3 ] && [ -z "$wrong" ] && ok "scan: $checked groups' -constraint commands select exactly their jobs in condor_q" ||
    bad "scan constraints ($checked checked):$wrong"

EL=$(asu condor_config_val EVENT_LOG)
out=$(ha collect --from-config 2>&1) && echo "$out" | grep -q "collected $EL" && ok "collect --from-config: $out" || bad "collect: $out"

# Release the condor_hold job; once it completes, feedback counts that outcome.
asu "condor_release $HOLD.0 $PRE.0" >/dev/null
for _ in $(seq 120); do grep -q '^005 ' "$D/hold.log" && grep -q '^005 ' "$D/pre.log" && break; sleep 1; done
grep -q '^005 ' "$D/hold.log" && ok "released job $HOLD.0 completed" || bad "job $HOLD.0 did not complete after release"
grep -q '^005 ' "$D/pre.log" && ok "released run-time-limit hold $PRE.0 completed" || bad "job $PRE.0 did not complete after release"
# The job the recipe is to release, held once the pool's record shows such a hold clearing.
REC=$(cluster rec.sub)
for _ in $(seq 120); do [ -n "$REC" ] && held "$REC" && break; sleep 1; done
held "$REC" && ok "job $REC is held: $(asu "condor_q $REC.0 -af HoldReasonCode HoldReasonSubCode")" || bad "job $REC never held"
sleep 1
ha collect --from-config >/dev/null 2>&1
fb=$(ha feedback --json)
count=$(echo "$fb" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(g["predictions"] for g in d["by_code"] if g["group"] == "1/0"))' 2>/dev/null)
[ "${count:-0}" -ge 1 ] && ok "feedback counts the released condor_hold job's outcome ($count)" || bad "feedback: $fb"

# collect --publish as root (a queue super user): the advice in the jobs' own ads, for every
# condor_q user; cleared once a job leaves hold.
publish() { timeout 180 bash "$POOL" as-root "cd /home/$U/$W && ./holdadvisor collect --from-config --publish --cache /root/ha-publish.sqlite" 2>&1; }
# The missing-input job gets the recipe too: advised remove, the schedd must leave it held.
asu "condor_qedit $IN.0 PeriodicRelease '$RECIPE'" >/dev/null
out=$(publish)
rec_pub=$(asu "condor_q $REC.0 -af HoldAdvice HoldAdviceReleaseProbability NumHolds")
[ "${rec_pub%% *}" = release ] && ok "collect --publish: the run-time-limit hold $REC.0 is advised release ($rec_pub)" ||
    bad "collect --publish: the run-time-limit hold $REC.0 gave '$rec_pub'"
# PERIODIC_EXPR_INTERVAL is 5 s on the test pool.
for _ in $(seq 30); do [ "$(asu "condor_q $REC.0 -af JobStatus")" != 5 ] && break; sleep 1; done
# Nothing else releases it (23.9 writes no reason in the 013 event).
[ "$(asu "condor_q $REC.0 -af JobStatus")" != 5 ] && grep -q '^013 ' "$D/rec.log" &&
    ok "periodic_release recipe: the schedd released $REC.0 on its published advice" ||
    bad "periodic_release recipe did not release $REC.0 ($(tail -3 "$D/rec.log" | tr '\n' ' '))"
# Published again while it runs: its advice is cleared; then it completes.
out=$(publish)
rec_cleared=$(asu "condor_q $REC.0 -af HoldAdvice HoldAdviceReleaseProbability" 2>/dev/null)
[ "$rec_cleared" = "undefined undefined" ] &&
    ok "collect --publish cleared the released $REC.0's advice ('$rec_cleared')" || bad "after the recipe's release ($out): $REC.0 gave '$rec_cleared'"
for _ in $(seq 90); do grep -q '^005 ' "$D/rec.log" && break; sleep 1; done
grep -q '^005 ' "$D/rec.log" && ok "the recipe's released $REC.0 completed" || bad "$REC.0 did not complete after the recipe released it ($(tail -3 "$D/rec.log" | tr '\n' ' '))"
[ "$(asu "condor_q $IN.0 -af JobStatus")" = 5 ] && ok "periodic_release recipe: $IN.0, advised remove, stays held" || bad "the recipe released $IN.0"
pub=$(asu "condor_q $IN.0 -af HoldAdvice HoldAdviceReleaseProbability HoldAdviceModel")
[ "${pub%% *}" = remove ] && ok "collect --publish: condor_q $IN.0 -af HoldAdvice ...: $pub" || bad "collect --publish ($out): condor_q $IN.0 gave '$pub'"
mem_pub=$(asu "condor_q $MEM.0 -af HoldAdvice")
[ "$mem_pub" = raise-memory ] && ok "collect --publish: the memory hold's HoldAdvice is $mem_pub" || bad "memory hold HoldAdvice '$mem_pub'"
asu "condor_qedit $MEM.0 RequestMemory 2048 && condor_release $MEM.0" >/dev/null 2>&1
for _ in $(seq 30); do [ "$(asu "condor_q $MEM.0 -af JobStatus")" != 5 ] && break; sleep 1; done
out=$(publish)
cleared=$(asu "condor_q $MEM.0 -af JobStatus HoldAdvice")
[ "${cleared#* }" = undefined ] && ok "collect --publish clears the advice of a job that left hold ($cleared)" || bad "after release ($out): condor_q $MEM.0 gave '$cleared'"

# The Debian package (packaging/deb.sh) installs in the pool's chroot with dpkg -i, and the
# collect service's command, as its unit runs it (user condor), fills the cache that
# /etc/holdadvisor.toml names, which the pool's user then reads.
rm -rf "$R/var/lib/holdadvisor" "$R/var/cache/holdadvisor"
deb=$(bash "$(dirname "$0")/../../packaging/deb.sh" "$BIN" "$R/tmp/ha-deb" 2>&1) || bad "packaging/deb.sh: $deb"
out=$(timeout 180 bash "$POOL" as-root "dpkg -i /tmp/ha-deb/$(basename "$deb") && holdadvisor --version" 2>&1) &&
    ok "dpkg -i $(basename "$deb") in the pool's chroot: $(echo "$out" | tail -1)" || bad "dpkg -i: $out"
exec_start=$(sed -n 's/^ExecStart=//p' "$R/usr/lib/systemd/system/holdadvisor-collect.service")
out=$(timeout 180 bash "$POOL" as-root "runuser -u condor -- env XDG_CACHE_HOME=/var/cache/holdadvisor $exec_start --for-seconds 3" 2>&1)
n=$(asu "/usr/bin/holdadvisor scan -allusers --format json" 2>/dev/null | python3 -c 'import json,sys; print(sum(len(g["job_ids"]) for g in json.load(sys.stdin)["groups"]))' 2>/dev/null)
stored=$(sqlite3 -readonly "$R/var/lib/holdadvisor/cache.sqlite" "SELECT COUNT(*) FROM predictions" 2>&1)
# Held by then: the missing-input and missing-output jobs.
[ "${stored:-0}" -ge 2 ] 2>/dev/null && [ "${n:-0}" -ge 2 ] &&
    ok "the service's command from the package ($exec_start) stored $stored predictions in the configured cache; the user's scan lists $n held jobs" ||
    bad "the packaged service: $out; cache: $stored; scan saw '${n:-}' jobs"
timeout 60 bash "$POOL" as-root "dpkg --purge holdadvisor" >/dev/null 2>&1
rm -rf "$R/var/lib/holdadvisor" "$R/var/cache/holdadvisor" "$R/tmp/ha-deb"

# condor_q's flag forms: q accepts what the pool's condor_q accepts and refuses what it refuses
# (exit 0 against non-zero), on the same queue. Not covered: -format.
forms=("-hold" "-hol" "-held" "-ho" "-h" "-af:h ClusterId" "-af:j ClusterId" "-af:jh ClusterId"
    "-af:,h ClusterId" "-autoformat ClusterId" "-autof ClusterId" "-nobatch" "-nob" "-totals"
    "-tot" "-const true" "-constraint true" "-cons true" "-allusers" "-all" "-json" "--hold"
    "-hold -af:j ClusterId HoldReasonCode" "-long" "-l" "-hold -long" "-bogus" "-hold -af" "-af"
    "-constraint")
differ=""
for f in "${forms[@]}"; do
    theirs=$(asu "condor_q $f >/dev/null 2>&1; echo \$?")
    ours=$(ha q "$f >/dev/null 2>&1; echo \$?")
    [ "$([ "$theirs" = 0 ] && echo 0 || echo 1)" = "$([ "$ours" = 0 ] && echo 0 || echo 1)" ] ||
        differ="$differ [$f: condor_q $theirs, q $ours]"
done
[ -z "$differ" ] && ok "q takes ${#forms[@]} condor_q flag forms as the pool's condor_q does" || bad "flag forms:$differ"

asu "condor_rm $IN $OUT $MEM $REC $PRE" >/dev/null 2>&1
finish
