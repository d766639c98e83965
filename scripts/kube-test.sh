#!/usr/bin/env bash
# Starts or stops a throwaway Kubernetes control plane for the tests: etcd and
# kube-apiserver, with no kubelet and no controllers (the tests play both):
#
#   scripts/kube-test.sh start DIR   # prints the path of an admin kubeconfig
#   scripts/kube-test.sh stop DIR    # stops it and removes DIR
#   scripts/kube-test.sh build       # only builds the binaries (test-deps.sh)
#   scripts/kube-test.sh bin         # prints the folder holding etcd, kube-apiserver, kubectl
#
#   PIXPOOL_TEST_KUBE=$(scripts/kube-test.sh start /tmp/kubetest) go test ./manager/kube
#   scripts/kube-test.sh stop /tmp/kubetest
#
# Neither etcd nor kube-apiserver installs with `go install` (their main
# modules replace their own submodules with local paths), so build copies
# their module sources from the Go module proxy, drops those replaces and
# builds them, with kubectl from the same Kubernetes tree. That takes about
# ten minutes on two cores, once: the binaries are kept, keyed by version,
# under ${XDG_CACHE_HOME:-$HOME/.cache}/pixpool/kube/.
#
# Both servers listen on 127.0.0.1 only, on free ports chosen here. The API
# server has a self-signed certificate, a service-account key pair (so the
# TokenRequest API works), a static admin token, and RBAC authorization; its
# endpoint reconciler is off (no Service "kubernetes" endpoints are kept) and
# the ServiceAccount admission plugin is off (pods need no token). Data lives
# in DIR; start on a DIR whose control plane runs prints its kubeconfig again.
set -euo pipefail

kube_version=v1.37.2
staging_version=v0.37.2 # k8s.io/* staging modules of $kube_version
etcd_version=v3.6.16
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pixpool/kube/$kube_version-etcd-$etcd_version
marker=.pixpool-kube-test # in DIR; stop removes only a DIR that has it

die() {
	echo "kube-test: $*" >&2
	exit 1
}

usage() {
	die "usage: $0 start|stop DIR, or $0 build|bin"
}

# module_source copies the source of Go module $1 at version $2 into the new
# folder $3, writable.
module_source() {
	local src
	src=$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $src && -d $src ]] || die "could not download $1@$2 from the Go module proxy"
	cp -r "$src" "$3"
	chmod -R u+w "$3"
}

build_etcd() {
	local work=$1
	echo "kube-test: building etcd $etcd_version" >&2
	module_source go.etcd.io/etcd/server/v3 "$etcd_version" "$work/etcd"
	(
		cd "$work/etcd"
		for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
			go mod edit -dropreplace "go.etcd.io/etcd/$m" -require "go.etcd.io/etcd/$m@$etcd_version"
		done
		go build -trimpath -o "$work/bin/etcd" .
	)
}

build_kube() {
	local work=$1
	echo "kube-test: building kube-apiserver and kubectl $kube_version" >&2
	module_source k8s.io/kubernetes "$kube_version" "$work/kubernetes"
	(
		cd "$work/kubernetes"
		rm -f go.work go.work.sum
		local m args=()
		for m in $(go mod edit -json | sed -n 's/^[[:space:]]*"Path": "\(k8s\.io\/[^"]*\)"$/\1/p' | sort -u); do
			if go mod edit -json | grep -q "\"Path\": \"./staging/src/$m\""; then
				args+=(-dropreplace "$m" -require "$m@$staging_version")
			fi
		done
		((${#args[@]})) || die "found no staging replaces in k8s.io/kubernetes $kube_version"
		go mod edit "${args[@]}"
		local minor=${kube_version#v1.}
		minor=${minor%%.*}
		local ldflags="-s -w"
		local p
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldflags+=" -X $p.gitVersion=$kube_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
			ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
		done
		go build -trimpath -ldflags "$ldflags" -o "$work/bin/kube-apiserver" ./cmd/kube-apiserver
		go build -trimpath -ldflags "$ldflags" -o "$work/bin/kubectl" ./cmd/kubectl
	)
}

built() {
	[[ -x $cache/etcd && -x $cache/kube-apiserver && -x $cache/kubectl ]]
}

build() {
	built && return
	command -v go >/dev/null 2>&1 || die "go not found; the control plane is built from source"
	mkdir -p "$(dirname "$cache")"
	# One build at a time: a second caller waits and then finds the binaries.
	exec 9>"$cache.lock"
	flock 9
	built && return
	local work
	work=$(mktemp -d "$(dirname "$cache")/build.XXXXXX")
	mkdir -p "$work/bin"
	export GOFLAGS=-mod=mod GOTOOLCHAIN=local
	echo "kube-test: building the control plane once into $cache (about 10 minutes cold)" >&2
	build_etcd "$work"
	build_kube "$work"
	rm -rf "$cache"
	mv "$work/bin" "$cache"
	chmod -R u+w "$work"
	rm -rf "$work"
	echo "kube-test: built $(ls "$cache" | tr '\n' ' ')" >&2
}

# shellcheck source=lib/free-port.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/free-port.sh"

# live reports whether process $1 runs (a zombie waiting for its parent to
# reap it does not).
live() {
	kill -0 "$1" 2>/dev/null && [[ $(sed "s/.*) //" "/proc/$1/stat" 2>/dev/null) != Z* ]]
}

alive() {
	[[ -f $dir/$1.pid ]] && live "$(cat "$dir/$1.pid")"
}

running() {
	alive etcd && alive kube-apiserver && [[ -f $dir/kubeconfig ]]
}

# launch runs a server in the background, in its own session so that it
# outlives this script, with its log in DIR.
launch() {
	local name=$1
	shift
	setsid "$@" >"$dir/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
}

# wait_for waits until curl's arguments answer, or the server has ended.
wait_for() {
	local name=$1
	shift
	for _ in $(seq 600); do
		curl -sf -o /dev/null --max-time 2 "$@" && return
		alive "$name" || break
		sleep 0.1
	done
	tail -n 20 "$dir/$name.log" >&2 || true
	die "$name did not become ready; see $dir/$name.log"
}

start() {
	build
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	if running; then
		echo "$dir/kubeconfig"
		return
	fi
	if [[ -n $(ls -A "$dir") && ! -f $dir/$marker ]]; then
		die "$dir is not empty and not a test control plane; choose another directory"
	fi
	touch "$dir/$marker"
	stop_servers
	if [[ ! -f $dir/sa.key ]]; then
		openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
		openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
	fi
	local token
	if [[ ! -f $dir/tokens.csv ]]; then
		token=$(openssl rand -hex 24)
		echo "$token,admin,admin,system:masters" >"$dir/tokens.csv"
		chmod 600 "$dir/tokens.csv"
	fi
	token=$(cut -d, -f1 "$dir/tokens.csv")

	local etcd_port peer_port api_port
	etcd_port=$(free_port)
	peer_port=$(free_port)
	api_port=$(free_port)
	launch etcd "$cache/etcd" --name default --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "default=http://127.0.0.1:$peer_port" --unsafe-no-fsync
	wait_for etcd "http://127.0.0.1:$etcd_port/health"

	launch kube-apiserver "$cache/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--cert-dir "$dir/certs" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
		--token-auth-file "$dir/tokens.csv" \
		--authorization-mode RBAC \
		--service-cluster-ip-range 10.96.0.0/16 \
		--disable-admission-plugins ServiceAccount \
		--endpoint-reconciler-type none
	wait_for kube-apiserver -k -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port/readyz"

	cat >"$dir/kubeconfig" <<-KUBECONFIG
		apiVersion: v1
		kind: Config
		clusters:
		- name: test
		  cluster:
		    server: https://127.0.0.1:$api_port
		    certificate-authority: $dir/certs/apiserver.crt
		users:
		- name: admin
		  user:
		    token: $token
		contexts:
		- name: test
		  context:
		    cluster: test
		    user: admin
		    namespace: default
		current-context: test
	KUBECONFIG
	chmod 600 "$dir/kubeconfig"
	echo "$dir/kubeconfig"
}

stop_servers() {
	local name pid
	for name in kube-apiserver etcd; do
		[[ -f $dir/$name.pid ]] || continue
		pid=$(cat "$dir/$name.pid")
		# The data is thrown away: no graceful shutdown (seconds) needed.
		kill -9 "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			live "$pid" || break
			sleep 0.1
		done
		rm -f "$dir/$name.pid"
	done
}

stop() {
	[[ -e $dir ]] || return 0
	[[ -f $dir/$marker ]] || die "$dir was not made by $0; not removing it"
	stop_servers
	rm -rf "$dir"
}

[[ $# -ge 1 ]] || usage
case $1 in
build) build ;;
bin) build && echo "$cache" ;;
start | stop)
	[[ $# -eq 2 && -n $2 ]] || usage
	dir=$2
	$1
	;;
*) usage ;;
esac
