#!/usr/bin/env bash
# `holdadvisor serve`: the overview page over a cache with about 100,000 open holds, on a
# SIMULATED pool (bench/scan-scenario.toml, as bench/scan.sh: ~58% of 175,000 jobs held at the
# end, every one advised by a scan into the cache).
#   bash bench/serve.sh [JOBS=175000] [REQUESTS=50] [STARTS=5]
# Prints the open holds the overview counts, then the time of GET / (the whole page, over
# HTTP, with curl):
#   first request after a start: the overview computed from the cache (STARTS starts);
#   later requests: served from the overview kept until the cache files change (REQUESTS).
# Target: p50 under 200 ms.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${1:-175000} requests=${2:-50} starts=${3:-5}
source bench/scan_pool.sh
cache=$out/serve-cache.sqlite
if [ ! -f "$cache" ]; then
    $bin scan -allusers -schedd-snapshot "$snap" -log "$log" -cache "$cache" -model "$model" >/dev/null
fi
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; pid=""; }
trap stop EXIT
start() {
    coproc SERVE { exec "$bin" serve --cache "$cache" --listen 127.0.0.1:0 --model "$model"; }
    pid=$SERVE_PID
    read -r line <&"${SERVE[0]}"
    url=$(echo "$line" | sed 's#serving \(http://[^ ]*\)/ .*#\1#')
}
ms() { curl -s -o /dev/null -w '%{time_total}\n' "$url/" | awk '{ printf "%.1f\n", $1 * 1000 }'; }
stats() { sort -n | awk '{ v[NR] = $1 } END { printf "p50 %.1f ms, p90 %.1f ms, min %.1f ms, max %.1f ms (%d requests)", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[1], v[NR], NR }'; }
cold=$(for _ in $(seq "$starts"); do start; ms; stop; done | stats)
start
open=$(curl -s "$url/api/overview" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["open_holds"], "open holds,", len(d["groups"]), "groups")')
bytes=$(curl -s -o /dev/null -w '%{size_download}' "$url/")
warm=$(for _ in $(seq "$requests"); do ms; done | stats)
stop
echo "cache $(du -m "$cache" | cut -f1) MB (SYNTHETIC pool): $open; the page is $bytes bytes; cores: $(nproc)"
echo "first request after a start (overview computed): $cold"
echo "later requests (cache unchanged):                $warm"
p50=$(echo "$warm" | sed 's/p50 \([0-9.]*\) ms.*/\1/')
awk -v p="$p50" 'BEGIN { printf "target p50 < 200 ms: %s (%.2fx the target)\n", (p < 200 ? "met" : "NOT met"), p / 200 }'
