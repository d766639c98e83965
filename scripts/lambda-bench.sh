#!/usr/bin/env bash
# Compares pixpool as an AWS Lambda function, run by the Lambda Runtime
# Interface Emulator (aws-lambda-rie), with `pixpool serve`, on the same
# PostgreSQL, S3 (versitygw) and memcached node: cold start (from starting
# the process to the first answered get-by-key) and warm get-by-key latency,
# cache misses (right after the node is flushed: the bytes come from S3) and
# hits, p50 and p99, then uploads of new images (PUT /api/v1/images/{key}).
# An empty aws-lambda-go function under the same emulator
# shows what the emulator itself adds. Rounds are interleaved (each system
# started afresh in every round, in alternating order) so machine noise
# hits all alike; the medians over rounds are printed last.
#
#   scripts/lambda-bench.sh
#   ROUNDS=7 KEYS=100 UPLOADS=50 scripts/lambda-bench.sh
#   BENCH_LOG_LEVEL=debug scripts/lambda-bench.sh   # with both servers' logs
#
# Needs aws-lambda-rie and memcached (scripts/test-deps.sh), PostgreSQL and
# versitygw (scripts/with-services.sh, which this script runs itself under
# when PIXPOOL_TEST_POSTGRES is not set).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z ${PIXPOOL_TEST_POSTGRES:-} || -z ${PIXPOOL_TEST_S3:-} ]]; then
	exec scripts/with-services.sh "$0" "$@"
fi
ROUNDS=${ROUNDS:-5}
KEYS=${KEYS:-50}
UPLOADS=${UPLOADS:-20}

gobin=$(go env GOBIN)
[[ -n $gobin ]] || gobin=$(go env GOPATH | cut -d: -f1)/bin
rie=$(command -v aws-lambda-rie || echo "$gobin/aws-lambda-rie")
if [[ ! -x $rie ]]; then
	echo "lambda-bench: aws-lambda-rie not found; run scripts/test-deps.sh" >&2
	exit 1
fi
if ! command -v memcached >/dev/null 2>&1; then
	echo "lambda-bench: memcached not found; run scripts/test-deps.sh" >&2
	exit 1
fi

tmp=$(mktemp -d)
mc_pid=
cleanup() {
	[[ -n $mc_pid ]] && kill "$mc_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

CGO_ENABLED=0 go build -o "$tmp/bootstrap" ./cmd/pixpool
go build -o "$tmp/lambdabench" ./scripts/lambdabench

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
memcached -l 127.0.0.1 -p "$port" -U 0 -m 256 -u nobody &
mc_pid=$!

# The S3 server's keys, as the AWS tools take them.
s3=${PIXPOOL_TEST_S3#*://}
creds=${s3%@*}
export AWS_ACCESS_KEY_ID=${creds%%:*} AWS_SECRET_ACCESS_KEY=${creds#*:}
endpoint=${PIXPOOL_TEST_S3%%://*}://${s3#*@}
blob="s3://lambda-bench-$RANDOM?endpoint=$endpoint&region=us-east-1&path_style=true&create=true"

echo "lambda-bench: $ROUNDS rounds, $KEYS images of about 100 KB read, $UPLOADS uploaded; $(nproc) cores; $(go version | cut -d' ' -f3)"
"$tmp/lambdabench" run -pixpool "$tmp/bootstrap" -rie "$rie" -db "$PIXPOOL_TEST_POSTGRES" -blob "$blob" \
	-cache-nodes "127.0.0.1:$port" -rounds "$ROUNDS" -keys "$KEYS" -uploads "$UPLOADS"
