#!/usr/bin/env bash
# Measures uploads as a user sees them: 100 KB JPEGs PUT to /api/v1/images/KEY
# with an API key, every request a new key, by wrk over loopback, against
# this tree's `pixpool serve --analyze=false` (embedded defaults: SQLite,
# blobs in the data folder, two local cache nodes) and, if given, other
# builds; rounds are interleaved with a disk baseline (uploadbench disk: the
# blob store's write, fsync, rename and folder fsync of the same bytes with
# as many writers), so machine noise hits all alike. Prints each round and
# the medians of uploads/s, p99 and the CPU time one upload costs (the
# server and its cache nodes, from /proc): on a machine shared with other
# work the last is the steadier figure. After each round the script waits
# for the server to be idle and reports the CPU it spent meanwhile (queued
# thumbnails), per upload of the round, so no round pays for another's.
#
#   scripts/bench-uploads.sh [OTHER_PIXPOOL_BINARY...]
#   ROUNDS=5 DURATION=5s CONNS=8 scripts/bench-uploads.sh /tmp/pixpool-main
#
# Needs wrk (apt-get install wrk). Results: docs/performance.md, "Uploads".
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-8}
THREADS=${THREADS:-2}

if ! command -v wrk >/dev/null 2>&1; then
	echo "bench-uploads: wrk not found; install it (apt-get install wrk)" >&2
	exit 1
fi
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/pixpool" ./cmd/pixpool
go build -o "$tmp/uploadbench" ./scripts/uploadbench
"$tmp/uploadbench" jpeg "$tmp/body.jpg"
echo "body: $(stat -c %s "$tmp/body.jpg") bytes; $(uptime)"

bins=("$tmp/pixpool" "$@")
names=(this)
for b in "$@"; do names+=("$(basename "$b")"); done
urls=()
keys=()
port=18900
for i in "${!bins[@]}"; do
	bin=${bins[$i]}
	data="$tmp/data$i"
	mkdir -p "$data"
	PIXPOOL_PASSWORD=bench-password-1 "$bin" user create --data "$data" bench >/dev/null 2>&1
	keys+=("$("$bin" apikey create --data "$data" bench 2>/dev/null)")
	port=$((port + 1))
	"$bin" serve --analyze=false --addr "127.0.0.1:$port" --data "$data" --log-level warn >"$tmp/serve$i.log" 2>&1 &
	pids+=($!)
	urls+=("http://127.0.0.1:$port")
done
for u in "${urls[@]}"; do
	for _ in $(seq 100); do
		curl -fs "$u/readyz" >/dev/null 2>&1 && break
		sleep 0.1
	done
done

# cpu_ticks PID: user+system clock ticks of PID and its children so far.
cpu_ticks() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" || true); do
		[[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)
# settle PID: waits until PID and its children are idle (background work
# such as queued thumbnails done, at most a minute) and prints the clock
# ticks they spent meanwhile, so that it does not fall into the next
# round and is counted.
settle() {
	local start prev now
	start=$(cpu_ticks "$1")
	prev=$start
	now=$start
	for _ in $(seq 120); do
		sleep 0.5
		now=$(cpu_ticks "$1")
		((now - prev <= 2)) && break
		prev=$now
	done
	echo $((now - start))
}

declare -A rps p99 cpu later
for r in $(seq "$ROUNDS"); do
	line=$("$tmp/uploadbench" disk -writers "$CONNS" -d "$DURATION" "$tmp/disk")
	rm -rf "$tmp/disk"
	rps[disk]+="$(echo "$line" | sed -E 's|.*: ([0-9.]+)/s.*|\1|') "
	p99[disk]+="$(echo "$line" | sed -E 's|.*p99 ([0-9.]+)ms.*|\1|') "
	echo "round $r $line"
	for i in "${!bins[@]}"; do
		before=$(cpu_ticks "${pids[$i]}")
		out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s scripts/upload-load.lua "${urls[$i]}" \
			-- "$tmp/body.jpg" "${keys[$i]}" "r$r")
		req=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		lat=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms/,"",v); else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')
		bad=$(echo "$out" | awk '/Non-2xx/ {print $5}')
		n=$(echo "$out" | awk '/requests in/ {print $1}')
		ms=$(awk -v t=$(($(cpu_ticks "${pids[$i]}") - before)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.2f", n ? t * 1000 / hz / n : 0}')
		cpu[${names[$i]}]+="$ms "
		lms=$(awk -v t="$(settle "${pids[$i]}")" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.2f", n ? t * 1000 / hz / n : 0}')
		later[${names[$i]}]+="$lms "
		rps[${names[$i]}]+="$req "
		p99[${names[$i]}]+="$lat "
		echo "round $r ${names[$i]}: $req/s p99 ${lat}ms, CPU ${ms}ms an upload + ${lms}ms after the round${bad:+, non-2xx $bad}"
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "medians over $ROUNDS rounds of $DURATION, $CONNS connections ($(uptime | sed 's/.*load/load/')):"
printf '  %-16s %8.0f/s  p99 %6.1f ms\n' disk "$(echo "${rps[disk]}" | median)" "$(echo "${p99[disk]}" | median)"
for n in "${names[@]}"; do
	c=$(echo "${cpu[$n]}" | median)
	printf '  %-16s %8.0f/s  p99 %6.1f ms  CPU %5.2f ms an upload + %5.2f ms after the round\n' "$n" \
		"$(echo "${rps[$n]}" | median)" "$(echo "${p99[$n]}" | median)" "$c" "$(echo "${later[$n]}" | median)"
done
