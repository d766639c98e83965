#!/usr/bin/env bash
# bench-read.sh: the hot read path against nginx, in one interleaved run.
#
#   scripts/bench-read.sh NAME=BINARY [NAME=BINARY ...]
#
# For each pixpool binary it starts three servers from fresh data folders on
# 127.0.0.1, `serve --analyze=false` with the embedded defaults (SQLite, a
# blob folder, two local cache nodes) and the same with `--cache-size 0`,
# uploads one 100 KB JPEG (a noise image; IMAGE=FILE to use another) with
# PUT and reads it with wrk: GET /api/v1/images/KEY with an API key (cache
# hit), the same on the --cache-size 0 server (the miss path: SQLite and
# the blob folder), misses with a cache (a third server with 100 keys over
# two nodes of 1 MB, wrk cycling over the keys), the compat path /api/key/KEY (JSON with base64) and the
# web /raw?key=KEY with a session cookie. nginx serves the same file from
# disk (sendfile). Every round runs each target once, in the same order, so
# machine noise hits all alike; the summary gives each target's median
# requests/s, its median p99 latency, and the ratio to nginx's median.
#
# Environment: ROUNDS (5), DURATION (5s), CONNS (32), THREADS (2),
# BASE_PORT (18400). Needs wrk, nginx, curl and go (for the image).
set -euo pipefail

rounds=${ROUNDS:-5} dur=${DURATION:-5s} conns=${CONNS:-32} threads=${THREADS:-2}
port=${BASE_PORT:-18400}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-read.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

img=${IMAGE:-}
if [ -z "$img" ]; then
	mkdir -p "$work/gen"
	cat >"$work/gen/main.go" <<'GO'
package main

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand"
	"os"
)

func main() {
	r := rand.New(rand.NewSource(1))
	img := image.NewRGBA(image.Rect(0, 0, 316, 316))
	for y := 0; y < 316; y++ {
		for x := 0; x < 316; x++ {
			img.Set(x, y, color.RGBA{uint8(r.Intn(256)), uint8(x), uint8(y), 255})
		}
	}
	for q := 100; q > 10; q-- { // the best quality within 100 KB
		var b bytes.Buffer
		jpeg.Encode(&b, img, &jpeg.Options{Quality: q})
		if b.Len() <= 100<<10 {
			os.WriteFile(os.Args[1], b.Bytes(), 0o644)
			return
		}
	}
}
GO
	(cd "$work/gen" && go run main.go "$work/img.jpg")
	img=$work/img.jpg
fi
echo "image: $(stat -c %s "$img") bytes"

# nginx, serving the file from disk.
mkdir -p "$work/nginx/www"
chmod a+rx "$work" # nginx's workers run as another user
cp "$img" "$work/nginx/www/img.jpg"
ngport=$port; port=$((port + 1))
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	client_body_temp_path $work/nginx/tmp;
	proxy_temp_path $work/nginx/tmp;
	fastcgi_temp_path $work/nginx/tmp;
	uwsgi_temp_path $work/nginx/tmp;
	scgi_temp_path $work/nginx/tmp;
	server {
		listen 127.0.0.1:$ngport;
		root $work/nginx/www;
	}
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

targets=(nginx)
declare -A url hdr script
# Requests cycling over keys k0..k99 (each wrk thread counts on its own).
cat >"$work/keys.lua" <<'LUA'
local i = 0
request = function()
	i = i + 1
	return wrk.format(nil, "/api/v1/images/k" .. (i % 100))
end
LUA
url[nginx]=http://127.0.0.1:$ngport/img.jpg
hdr[nginx]=""

wait_up() {
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return 0
		sleep 0.1
	done
	echo "server on port $1 did not start" >&2
	exit 1
}

# start NAME BINARY PORT [serve flags...]: a server with a user and an API key,
# the image uploaded as "bench".
start() {
	local name=$1 bin=$2 p=$3
	shift 3
	local data=$work/$name
	mkdir -p "$data"
	PIXPOOL_ADMIN_PASSWORD=bench-password-1 "$bin" serve --analyze=false --addr "127.0.0.1:$p" --data "$data" \
		--log-level warn "$@" >"$data.log" 2>&1 &
	pids+=($!)
	wait_up "$p"
	local key
	key=$("$bin" apikey create --data "$data" admin 2>/dev/null)
	curl -fs -X PUT -H "Authorization: Bearer $key" --data-binary "@$img" \
		"http://127.0.0.1:$p/api/v1/images/bench" >/dev/null
	echo "$key" >"$data.key"
}

for spec in "$@"; do
	name=${spec%%=*} bin=${spec#*=}
	start "$name" "$bin" "$port"
	key=$(cat "$work/$name.key")
	cookie=$(curl -fs -o /dev/null -c - -d username=admin -d password=bench-password-1 \
		"http://127.0.0.1:$port/login" | awk '$6 == "pixpool_session" {print $7}')
	url[$name-hit]=http://127.0.0.1:$port/api/v1/images/bench
	hdr[$name-hit]="Authorization: Bearer $key"
	url[$name-compat]=http://127.0.0.1:$port/api/key/bench
	hdr[$name-compat]="Authorization: Bearer $key"
	url[$name-raw]="http://127.0.0.1:$port/raw?key=bench"
	hdr[$name-raw]="Cookie: pixpool_session=$cookie"
	port=$((port + 1))
	start "$name-nocache" "$bin" "$port" --cache-size 0
	url[$name-miss]=http://127.0.0.1:$port/api/v1/images/bench
	hdr[$name-miss]="Authorization: Bearer $(cat "$work/$name-nocache.key")"
	port=$((port + 1))
	# Misses with a cache: 100 keys (10 MB) over two nodes of 1 MB.
	start "$name-small" "$bin" "$port" --cache-capacity 1
	skey=$(cat "$work/$name-small.key")
	for i in $(seq 0 99); do
		curl -fs -X PUT -H "Authorization: Bearer $skey" --data-binary "@$img" \
			"http://127.0.0.1:$port/api/v1/images/k$i" >/dev/null
	done
	url[$name-misskeys]=http://127.0.0.1:$port/api/v1/images/k0
	hdr[$name-misskeys]="Authorization: Bearer $skey"
	script[$name-misskeys]=$work/keys.lua
	port=$((port + 1))
	targets+=("$name-hit" "$name-miss" "$name-misskeys" "$name-compat" "$name-raw")
done

# Every target must answer 200 before measuring.
for t in "${targets[@]}"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "${hdr[$t]:-X-None: 1}" "${url[$t]}")
	[ "$code" = 200 ] || { echo "$t answers $code" >&2; exit 1; }
done

uptime
results=$work/results
: >"$results"
for r in $(seq "$rounds"); do
	for t in "${targets[@]}"; do
		out=$(wrk -t"$threads" -c"$conns" -d"$dur" --latency ${script[$t]:+-s "${script[$t]}"} -H "${hdr[$t]:-X-None: 1}" "${url[$t]}")
		rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
		p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
		non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
		echo "round $r $t ${rps} req/s p99 ${p99}${non2xx:+ non-2xx $non2xx}"
		echo "$t $rps $p99" >>"$results"
	done
done
uptime

# Medians.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; print v}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ng=$(awk '$1 == "nginx" {print $2}' "$results" | median)
printf '\n%-22s %12s %10s %8s\n' target "req/s (med)" "p99 ms" "x nginx"
for t in "${targets[@]}"; do
	m=$(awk -v t="$t" '$1 == t {print $2}' "$results" | median)
	p=$(awk -v t="$t" '$1 == t {print $3}' "$results" | to_ms | median)
	printf '%-22s %12.0f %10.2f %8.2f\n' "$t" "$m" "$p" "$(awk -v a="$m" -v b="$ng" 'BEGIN {print a/b}')"
done
