# Sourced by bench/scan.sh and bench/serve.sh: the release binary and the large-scan pool
# they share (bench/scan-scenario.toml, seed 7; SIMULATED), made once and kept in
# bench/out/scan-$jobs. Expects `jobs`; sets `out`, `bin`, `model`, `snap` and `log`.
out=bench/out/scan-$jobs
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/holdadvisor
model=${HOLDADVISOR_MODEL:-models/default}
if [ ! -f "$out/sim/condor_q.json" ]; then
    rm -rf "$out" && mkdir -p "$out"
    $bin simulate --jobs "$jobs" --seed 7 --scenario bench/scan-scenario.toml --out "$out/sim" >/dev/null
fi
snap=$out/sim/condor_q.json
log=$out/sim/EventLog
