# Sourced by the test servers' scripts (postgres-test.sh, s3-test.sh,
# kube-test.sh), which define die first.

# free_port prints a TCP port on 127.0.0.1 that nothing answers on. Another
# process may take it before the server does; the server's start then fails
# and says so (postgres-test.sh retries).
free_port() {
	local port
	for _ in $(seq 100); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free loopback port found"
}
