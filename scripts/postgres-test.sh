#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL 15 cluster for the tests:
#
#   scripts/postgres-test.sh start DIR   # prints a DSN on stdout
#   scripts/postgres-test.sh stop DIR    # stops it and removes DIR
#
#   PIXPOOL_TEST_POSTGRES=$(scripts/postgres-test.sh start /tmp/pgtest) go test ./store/postgres
#   scripts/postgres-test.sh stop /tmp/pgtest
#
# The cluster lives in DIR (data, log and unix socket), listens on 127.0.0.1
# only, on a free port chosen here, and trusts every local connection, so it
# must only ever hold test data. Durability is off (fsync, full_page_writes,
# synchronous_commit): a crash loses the cluster, which is fine for tests and
# makes CREATE DATABASE per test cheap.
#
# start is idempotent: if DIR's cluster is running it prints its DSN again;
# if DIR holds a stopped one it starts it on a new free port. It installs
# PostgreSQL 15 with apt-get only if initdb is missing. initdb refuses to run
# as root, so as root the server runs as the "postgres" user, which owns DIR.
# PGBIN overrides where the server binaries are.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
marker=.pixpool-postgres-test # in DIR; stop removes only a DIR that has it

die() {
	echo "postgres-test: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|stop DIR"
}

# as_pg runs a command as the user that owns the cluster.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

install_postgres() {
	[[ -x $PGBIN/initdb ]] && return
	[[ $(id -u) -eq 0 ]] || die "$PGBIN/initdb not found; install PostgreSQL 15 (apt-get install postgresql-15) or set PGBIN"
	echo "postgres-test: installing postgresql-15" >&2
	# Only the binaries are wanted: no cluster of the package's own, which
	# would start on the default port.
	if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
		mkdir -p /etc/postgresql-common
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql-15 >&2
	[[ -x $PGBIN/initdb ]] || die "installed postgresql-15, but $PGBIN/initdb is still missing"
}

# shellcheck source=lib/free-port.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/free-port.sh"

running() {
	[[ -f $dir/data/postmaster.pid ]] && as_pg "$PGBIN/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

dsn() {
	echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"
}

start() {
	install_postgres
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P) # the socket directory must be absolute
	if running && [[ -f $dir/port ]]; then
		dsn
		return
	fi
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		if [[ -n $(ls -A "$dir") && ! -f $dir/$marker ]]; then
			die "$dir is not empty and not a test cluster; choose another directory"
		fi
		touch "$dir/$marker"
		[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
		rm -rf "$dir/data"
		# UTF8 whatever the machine's locale; the tests choose each test
		# database's collation themselves.
		as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
			die "initdb failed; see $dir/initdb.log"
		cat >"$dir/data/pg_hba.conf" <<-EOF
			# TYPE  DATABASE  USER  ADDRESS       METHOD
			local   all       all                 trust
			host    all       all   127.0.0.1/32  trust
		EOF
		cat >>"$dir/data/postgresql.conf" <<-EOF

			# postgres-test.sh: a throwaway cluster for tests
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$dir'
			max_connections = 200
			fsync = off
			full_page_writes = off
			synchronous_commit = off
		EOF
	fi
	local port
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		if as_pg "$PGBIN/pg_ctl" start -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "-p $port" >/dev/null 2>&1; then
			echo "$port" >"$dir/port"
			dsn
			return
		fi
		# Most likely the port was taken meanwhile; any other failure
		# repeats and is reported below.
		as_pg "$PGBIN/pg_ctl" stop -D "$dir/data" -m immediate >/dev/null 2>&1 || true
	done
	tail -n 20 "$dir/postgres.log" >&2 || true
	die "could not start PostgreSQL; see $dir/postgres.log"
}

stop() {
	[[ -e $dir ]] || return 0
	[[ -f $dir/$marker ]] || die "$dir was not made by $0; not removing it"
	if [[ -f $dir/data/postmaster.pid ]]; then
		as_pg "$PGBIN/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

[[ $# -eq 2 && -n $2 ]] || usage
dir=$2
case $1 in
start) start ;;
stop) stop ;;
*) usage ;;
esac
