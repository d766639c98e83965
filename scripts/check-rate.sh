#!/bin/sh
# Runs the course tester's rate checks against fresh `pixpool serve`s:
#  1. upload one image, read it 15 times (cache hits), then getRate at once
#     and WAIT seconds later (20 by default): hit 1, miss 0 both times;
#  2. upload 20 images, read each, resize the pool 1 -> 8 -> 1 reading each
#     after each resize, read 5 missing keys: 60 hits, 5 misses, so
#     getRate's miss rate is 5/65 = 0.0769 at once and 6 s later.
#
#   go build -o /tmp/pixpool ./cmd/pixpool && scripts/check-rate.sh /tmp/pixpool [PORT]
set -eu
BIN=$1
PORT=${2:-18291}
U=http://127.0.0.1:$PORT
D=$(mktemp -d)
PID=
trap 'stop; rm -rf "$D"' EXIT
stop() { [ -z "$PID" ] || { kill $PID 2>/dev/null; wait $PID 2>/dev/null || true; PID=; }; }
fresh() {
	stop
	rm -rf "$D/data" && mkdir "$D/data"
	echo password123 | "$BIN" user create --data "$D/data" --admin tester >/dev/null 2>&1
	"$BIN" serve --data "$D/data" --addr 127.0.0.1:"$PORT" --analyze=false "$@" \
		--compat-user tester --compat-admin >"$D/log" 2>&1 &
	PID=$!
	i=0
	until curl -s -o /dev/null "$U/healthz"; do
		i=$((i + 1)); [ $i -lt 100 ] || { cat "$D/log"; exit 1; }
		sleep 0.1
	done
}
rates() { echo "$(curl -s "$U/api/getRate?rate=hit") $(curl -s "$U/api/getRate?rate=miss")"; }
# A 1x1 PNG.
echo iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC | base64 -d >"$D/img.png"
upload() { curl -s -o /dev/null -F key="$1" -F file=@"$D/img.png" "$U/api/upload"; }

fresh
upload k1
for _ in $(seq 15); do curl -s -o /dev/null "$U/api/key/k1"; done
echo "15 hits, at once:      $(rates)"
sleep "${WAIT:-20}"
echo "15 hits, ${WAIT:-20} s later:  $(rates)"

fresh --cache-size 1
for i in $(seq 20); do upload "k$i"; done
readall() { for i in $(seq 20); do curl -s -o /dev/null "$U/api/key/k$i"; done; }
readall
curl -s -o /dev/null "$U/api/configure_cache?mode=manual&numNodes=8"
readall
curl -s -o /dev/null "$U/api/configure_cache?mode=manual&numNodes=1"
readall
for i in $(seq 5); do curl -s -o /dev/null "$U/api/key/none$i"; done
echo "resizes, at once:      $(rates)"
sleep 6
echo "resizes, 6 s later:    $(rates)"
