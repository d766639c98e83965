#!/usr/bin/env bash
# Runs a command with the servers the tests use: a throwaway PostgreSQL
# cluster (PIXPOOL_TEST_POSTGRES) and, once blob/s3 lands, a throwaway S3
# server (PIXPOOL_TEST_S3), and a throwaway Kubernetes control plane, etcd
# and kube-apiserver (PIXPOOL_TEST_KUBE, an admin kubeconfig). All listen on 127.0.0.1 only and are stopped
# and removed when the command ends, whatever its outcome.
#
#   scripts/with-services.sh go test ./...
set -euo pipefail
cd "$(dirname "$0")/.."

base=$(mktemp -d "${TMPDIR:-/tmp}/pixpool-services.XXXXXX")
chmod 755 "$base" # the PostgreSQL server runs as its own user and must reach its folder
cleanup() {
	[[ -x scripts/s3-test.sh && -d $base/s3 ]] && scripts/s3-test.sh stop "$base/s3" >/dev/null 2>&1 || true
	scripts/postgres-test.sh stop "$base/pg" >/dev/null 2>&1 || true
	scripts/kube-test.sh stop "$base/kube" >/dev/null 2>&1 || true
	rm -rf "$base"
}
trap cleanup EXIT

PIXPOOL_TEST_POSTGRES=$(scripts/postgres-test.sh start "$base/pg")
export PIXPOOL_TEST_POSTGRES
if [[ -x scripts/s3-test.sh ]]; then
	PIXPOOL_TEST_S3=$(scripts/s3-test.sh start "$base/s3")
	export PIXPOOL_TEST_S3
fi
PIXPOOL_TEST_KUBE=$(scripts/kube-test.sh start "$base/kube")
export PIXPOOL_TEST_KUBE
"$@"
