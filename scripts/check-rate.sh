#!/bin/sh
# Runs the course tester's rate check against a fresh `pixpool serve`:
# upload one image, read it 15 times (cache hits), then ask getRate at
# once and again WAIT seconds later (20 by default). A correct server
# answers a hit rate of 1 and a miss rate of 0 both times.
#
#   go build -o /tmp/pixpool ./cmd/pixpool && scripts/check-rate.sh /tmp/pixpool [PORT]
set -eu
BIN=$1
PORT=${2:-18291}
U=http://127.0.0.1:$PORT
D=$(mktemp -d)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$D"' EXIT
echo password123 | "$BIN" user create --data "$D" --admin tester >/dev/null 2>&1
"$BIN" serve --data "$D" --addr 127.0.0.1:"$PORT" --analyze=false --compat-user tester --compat-admin >"$D/log" 2>&1 &
PID=$!
i=0
until curl -s -o /dev/null "$U/healthz"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$D/log"; exit 1; }
	sleep 0.1
done
# A 1x1 PNG.
echo iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC | base64 -d >"$D/img.png"
curl -s -F key=k1 -F file=@"$D/img.png" "$U/api/upload" >/dev/null
for _ in $(seq 15); do curl -s -o /dev/null "$U/api/key/k1"; done
echo "at once:      $(curl -s "$U/api/getRate?rate=hit") $(curl -s "$U/api/getRate?rate=miss")"
sleep "${WAIT:-20}"
echo "${WAIT:-20} s later:  $(curl -s "$U/api/getRate?rate=hit") $(curl -s "$U/api/getRate?rate=miss")"
