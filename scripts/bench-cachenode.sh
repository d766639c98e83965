#!/usr/bin/env bash
# Compares the cache node with a real memcached on this machine: both start
# as child processes with the same capacity (1024 MB) and item limit (16 MiB),
# and the same gomemcache client drives each with the same concurrency (16
# connections), key set and duration over loopback, alternating between them.
# Prints median ops/s, the ratio ours/memcached and each server's CPU time per
# operation, for 1 KB and 100 KB gets by default. Takes about a minute.
#
# Arguments go to the program (cache/internal/benchcmp), for example:
#   scripts/bench-cachenode.sh -ops get,set -rounds 5 -duration 10s
#   scripts/bench-cachenode.sh -procs 1 -v        # node GOMAXPROCS=1, log each run
# Results and how to read them: docs/cachenode.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v memcached >/dev/null 2>&1; then
	echo "bench-cachenode: memcached not found; install it (apt-get install memcached)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Built, not "go run": the program starts itself again as the node under test.
go build -o "$tmp/benchcmp" ./cache/internal/benchcmp
"$tmp/benchcmp" "$@"
