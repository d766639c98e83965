#!/usr/bin/env bash
# bench-variants.sh: the read path of a cached variant against the original's,
# with nginx serving the same bytes from a folder as the reference. Builds
# pixpool, serves it from a throwaway data folder on 127.0.0.1, uploads a
# 12-megapixel JPEG (made from one of the recognition test photos), times the
# first render of a 640-px JPEG and WebP variant, then runs interleaved wrk
# rounds of the four reads. Loopback only; bounded by ROUNDS x 4 x SECONDS.
#
#   scripts/bench-variants.sh            # ROUNDS=3 SECONDS=8 CONNS=16
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} SECS=${SECONDS_PER_RUN:-8} CONNS=${CONNS:-16}
cache=${XDG_CACHE_HOME:-$HOME/.cache}
photo_src="$cache/pixpool/recognition/testdata/building.jpg"
[ -f "$photo_src" ] || { echo "needs the recognition test photos: scripts/setup-recognition.sh --tests" >&2; exit 1; }
for t in wrk nginx convert curl; do command -v $t >/dev/null || { echo "needs $t (apt-get install wrk nginx imagemagick curl)" >&2; exit 1; }; done
die() { echo "bench-variants: $*" >&2; exit 1; }
. scripts/lib/free-port.sh
dir=$(mktemp -d)
chmod 755 "$dir" # nginx's workers read www/ as another user
go build -o "$dir/pixpool" ./cmd/pixpool
cd "$dir"
port=$(free_port) nport=$(free_port)
mkdir -p data www
convert "$photo_src" -resize '4000x3000!' -quality 90 photo.jpg
export PIXPOOL_PASSWORD=bench-password-1
./pixpool user create --data data --admin bench >/dev/null
key=$(./pixpool apikey create --data data bench 2>/dev/null | tail -1)
./pixpool serve --data data --addr 127.0.0.1:$port --analyze=false > serve.log 2>&1 &
sp=$!
cat > nginx.conf <<NG
daemon on; pid $dir/nginx.pid; error_log $dir/nginx.err; worker_processes 1;
events {}
http { access_log off; server { listen 127.0.0.1:$nport; root $dir/www; } }
NG
trap 'kill $sp 2>/dev/null || true; nginx -s stop -c "$dir/nginx.conf" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
auth="Authorization: Bearer $key"
api=http://127.0.0.1:$port/api/v1/images/photo
curl -sf -X PUT -H "$auth" --data-binary @photo.jpg $api >/dev/null
for q in "w=640" "w=640&format=webp"; do
	t=$(curl -sf -H "$auth" -o /dev/null -w '%{time_total}' "$api?$q")
	echo "first render $q: ${t} s"
done
curl -sf -H "$auth" -o www/orig.jpg $api
curl -sf -H "$auth" -o www/v640.jpg "$api?w=640"
echo "original $(stat -c %s www/orig.jpg) bytes, w=640 variant $(stat -c %s www/v640.jpg) bytes"
nginx -c "$dir/nginx.conf"
for round in $(seq "$ROUNDS"); do
	for what in original variant nginx-original nginx-variant; do
		case $what in
		original) url=$api ;;
		variant) url="$api?w=640" ;;
		nginx-original) url=http://127.0.0.1:$nport/orig.jpg ;;
		nginx-variant) url=http://127.0.0.1:$nport/v640.jpg ;;
		esac
		out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" -H "$auth" --latency "$url")
		rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
		p50=$(awk '$1=="50%" {print $2}' <<<"$out")
		bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
		echo "round $round $what rps=$rps p50=$p50 non2xx=${bad:-0}"
	done
done
