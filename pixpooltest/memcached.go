package pixpooltest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pixpool/pixpool/childenv"
)

// Memcached runs a stock memcached on a free loopback port until tb ends
// and returns its address. Without memcached installed it skips tb, except
// in CI (CI set), where scripts/test-deps.sh must have installed it.
func Memcached(tb testing.TB, args ...string) string {
	tb.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("memcached is not installed (scripts/test-deps.sh installs it)")
		}
		tb.Skip("memcached is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	// -u: memcached refuses to run as root without a user to become.
	args = append([]string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64", "-u", "nobody"}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = childenv.Env(nil)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			tb.Fatal("memcached did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
