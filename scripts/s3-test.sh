#!/usr/bin/env bash
# Starts and stops a throwaway S3 server, versitygw on a local folder, for
# the blob/s3 tests:
#
#   export PIXPOOL_TEST_S3=$(scripts/s3-test.sh start /tmp/s3test)
#   go test -race -count=1 ./blob/...
#   scripts/s3-test.sh stop /tmp/s3test
#
# start DIR installs versitygw (go install, once: skipped when versitygw is on
# PATH or in Go's bin folder), runs it in the background on a free loopback
# port with a fresh random secret, storing objects in DIR/data and its log in
# DIR/versitygw.log, waits until it answers, and prints the value for
# PIXPOOL_TEST_S3: http://ACCESS:SECRET@127.0.0.1:PORT. Run again while the
# server is up, it only prints the value again.
#
# stop DIR stops the server and removes DIR. Both refuse a DIR they did not
# make, so a typo cannot remove someone's folder.
#
# Everything but the value goes to stderr.
set -euo pipefail

version=v1.8.0
access=pixpooltest
marker=.pixpool-s3-test

die() {
	echo "s3-test: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|stop DIR"
}

[[ $# -eq 2 && -n $2 ]] || usage
cmd=$1
dir=$2

# running prints the server's pid if it runs.
running() {
	local pid
	[[ -f $dir/pid ]] || return 1
	pid=$(<"$dir/pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# The pid must still be our versitygw, not a process that reused it,
	# and not a zombie.
	[[ $(ps -p "$pid" -o comm= 2>/dev/null) == versitygw ]] || return 1
	[[ $(ps -p "$pid" -o stat= 2>/dev/null) != Z* ]] || return 1
	echo "$pid"
}

# ours reports whether dir is missing, empty (mktemp -d) or made by this
# script.
ours() {
	[[ ! -e $dir || -f $dir/$marker ]] || [[ -d $dir && -z $(ls -A "$dir") ]]
}

find_versitygw() {
	local bin
	if command -v versitygw >/dev/null 2>&1; then
		command -v versitygw
		return
	fi
	bin=$(go env GOBIN)
	if [[ -z $bin ]]; then
		bin=$(go env GOPATH)
		bin=${bin%%:*}/bin
	fi
	if [[ ! -x $bin/versitygw ]]; then
		echo "s3-test: installing versitygw $version (once; takes a few minutes)" >&2
		go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
	fi
	echo "$bin/versitygw"
}

# shellcheck source=lib/free-port.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/free-port.sh"

# answers reports whether an HTTP server answers on port. A subshell, so
# that a failed connection cannot end the script.
answers() (
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	IFS= read -r -t 2 line <&3 || exit 1
	[[ $line == HTTP/* ]]
)

start() {
	ours || die "$dir exists and was not made by this script; give a new folder"
	if running >/dev/null && [[ -f $dir/url ]]; then
		local url
		url=$(<"$dir/url")
		if answers "${url##*:}"; then
			echo "$url"
			return
		fi
	fi
	local gw
	gw=$(find_versitygw)
	mkdir -p "$dir/data"
	touch "$dir/$marker"
	chmod 700 "$dir"
	local secret port pid
	secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		# Always an explicit loopback address: by default versitygw listens
		# on every interface. Its streams go to the log, so that $(...)
		# around this script does not wait for it.
		"$gw" --port "127.0.0.1:$port" --access "$access" --secret "$secret" --quiet \
			posix "$dir/data" </dev/null >"$dir/versitygw.log" 2>&1 &
		pid=$!
		echo "$pid" >"$dir/pid"
		for _ in $(seq 100); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break # exited: the port was taken, or worse; see below
			fi
			if answers "$port" 2>/dev/null; then
				echo "http://$access:$secret@127.0.0.1:$port" >"$dir/url"
				chmod 600 "$dir/url"
				cat "$dir/url"
				echo "s3-test: versitygw (pid $pid) on 127.0.0.1:$port, data in $dir/data" >&2
				return
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			rm -f "$dir/pid"
			die "versitygw did not answer on 127.0.0.1:$port within 10 s; log: $dir/versitygw.log"
		fi
		wait "$pid" || true
		rm -f "$dir/pid"
		grep -qi 'address already in use' "$dir/versitygw.log" ||
			die "versitygw exited at start; log: $dir/versitygw.log"
	done
	die "versitygw found no free port; log: $dir/versitygw.log"
}

stop() {
	ours || die "$dir was not made by this script; not touching it"
	local pid
	if pid=$(running); then
		kill "$pid"
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
		fi
	fi
	rm -rf "$dir"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
