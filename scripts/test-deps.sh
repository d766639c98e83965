#!/usr/bin/env bash
# Installs what the test suite needs, skipping whatever is already there:
# headless Chromium for the web UI tests, memcached for the cache node's
# interoperability tests, etcd and kube-apiserver for the Kubernetes tests.
# Safe to run again and again.
set -euo pipefail

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v memcached >/dev/null 2>&1 || need_apt+=(memcached)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# Tesseract with English data for recognize/text.
{ command -v tesseract >/dev/null 2>&1 && test -f /usr/share/tesseract-ocr/5/tessdata/eng.traineddata; } || need_apt+=(tesseract-ocr tesseract-ocr-eng)

if ((${#need_apt[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "test-deps: please install: ${need_apt[*]} (needs root)" >&2
		exit 1
	fi
	echo "test-deps: installing ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
	# The tests start their own memcached on loopback ports; the service
	# the package may have just started is not needed.
	if [[ " ${need_apt[*]} " == *" memcached "* ]] && command -v service >/dev/null 2>&1; then
		service memcached stop >/dev/null 2>&1 || true
	fi
fi
# pebble, Let's Encrypt's test ACME server, and its DNS server, for the
# automatic HTTPS tests (cmd/pixpool/acme_test.go), pinned.
pebble_version=v2.10.3
gobin=$(go env GOBIN)
[[ -n $gobin ]] || gobin=$(go env GOPATH | cut -d: -f1)/bin
for tool in pebble pebble-challtestsrv; do
	info=$(go version -m "$gobin/$tool" 2>/dev/null || true)
	if ! grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/letsencrypt/pebble/v2[[:space:]]+$pebble_version([[:space:]]|$)" <<<"$info"; then
		echo "test-deps: installing $tool $pebble_version"
		go install "github.com/letsencrypt/pebble/v2/cmd/$tool@$pebble_version"
	fi
done
# The AWS Lambda Runtime Interface Emulator, for the Lambda mode's
# end-to-end test (cmd/pixpool/lambda_test.go) and scripts/lambda-bench.sh.
rie_version=v0.0.0-20261030222936-bef5c4ba774d
if [[ ! -x $gobin/aws-lambda-rie || $(go version -m "$gobin/aws-lambda-rie" 2>/dev/null | awk '$1 == "mod" {print $3}') != "$rie_version" ]]; then
	echo "test-deps: installing aws-lambda-rie $rie_version"
	go install "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version"
fi
# etcd, kube-apiserver and kubectl for the Kubernetes tests, built once from
# the Go module proxy (about 10 minutes cold) and cached by version.
"$(dirname "$0")/kube-test.sh" build
echo "test-deps: ok"
