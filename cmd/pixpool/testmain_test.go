package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for pixpool when the local node
// provider runs `<this executable> cachenode ...`, or a test a whole
// `<this executable> serve ...` to kill, so tests run real child processes
// without building the binary first.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "cachenode" || os.Args[1] == "serve") {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(exitStatus(err, os.Stderr))
	}
	os.Exit(m.Run())
}
