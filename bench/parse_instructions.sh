#!/usr/bin/env bash
# Parser benchmark in instructions, not seconds: holdadvisor's reader and HTCondor's Python
# bindings read the same slice of the benchmark log under valgrind (callgrind counts every
# instruction executed), and each side's count on an empty log (start-up, imports) is taken
# away. Prints instructions per event of each and the ratio. This machine's clock drifts by
# tens of percent from minute to minute; instruction counts do not, so this is the figure to
# compare changes by (bench/parse.sh gives the wall-clock ones).
#   bash bench/parse_instructions.sh [MEGABYTES=2]
# Needs valgrind, and python3 with htcondor2 (pip install -r tests/oracle/requirements.txt).
# One thread on our side (the parallel path does the same work, spread over threads).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mb=${1:-2}
big=bench/out/big128.log
mkdir -p bench/out
[ -f "$big" ] || python3 bench/make_big_log.py "$big" 128
cargo build --release --quiet -p holdadvisor-parsers --example count
target=${CARGO_TARGET_DIR:-$PWD/target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first MEGABYTES of the log, cut after a whole event.
python3 - "$big" "$work/slice.log" "$mb" <<'PY'
import sys
data = open(sys.argv[1], "rb").read(int(float(sys.argv[3]) * 1e6))
open(sys.argv[2], "wb").write(data[: data.rfind(b"\n...\n") + 5])
PY
: >"$work/empty.log"

# Instructions of one run under callgrind.
count() {
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$@" >/dev/null 2>"$work/vg.err"
    grep -o 'Collected : [0-9]*' "$work/vg.err" | grep -o '[0-9]*$'
}
ours=("$target/release/examples/count")
# The interpreter itself, not a wrapper script (pyenv's shims are shell scripts).
theirs=("$(python3 -c 'import sys; print(sys.executable)')" bench/oracle_count.py)
events=$(THREADS=1 "${ours[@]}" "$work/slice.log" | awk '/^total/ {print $2}')
their_events=$(TZ=UTC "${theirs[@]}" "$work/slice.log" | awk '{print $1}')
ours_n=$(THREADS=1 count "${ours[@]}" "$work/slice.log")
ours_0=$(THREADS=1 count "${ours[@]}" "$work/empty.log")
theirs_n=$(TZ=UTC count "${theirs[@]}" "$work/slice.log")
theirs_0=$(TZ=UTC count "${theirs[@]}" "$work/empty.log")

python3 - "$(stat -c %s "$work/slice.log")" "$events" "$their_events" "$ours_n" "$ours_0" "$theirs_n" "$theirs_0" <<'PY'
import sys
size, events, their_events, on, o0, tn, t0 = map(int, sys.argv[1:])
assert events == their_events, (events, their_events)
ours, theirs = (on - o0) / events, (tn - t0) / events
print(f"slice: {size / 1e6:.1f} MB, {events} events (both readers)")
print(f"htcondor2.JobEventLog:  {theirs:10,.0f} instructions/event  ({tn - t0:,} beyond start-up)")
print(f"holdadvisor reader:     {ours:10,.0f} instructions/event  ({on - o0:,} beyond start-up)")
print(f"ratio: the bindings execute {theirs / ours:.1f}x the instructions per event")
PY
