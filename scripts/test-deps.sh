#!/usr/bin/env bash
# Installs what the test suite needs, skipping whatever is already there:
# headless Chromium for the web UI tests. Safe to run again and again.
set -euo pipefail

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v make >/dev/null 2>&1 || need_apt+=(make)

if ((${#need_apt[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "test-deps: please install: ${need_apt[*]} (needs root)" >&2
		exit 1
	fi
	echo "test-deps: installing ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
echo "test-deps: ok"
