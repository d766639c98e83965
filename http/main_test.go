package http

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/pixpool/pixpool/cache"
)

// TestMain stands in for `pixpool cachenode` when a manager's local
// provider runs this test binary as a cache node, so the admin tests can
// resize a real pool of child processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "cachenode" {
		os.Exit(testCacheNode(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testCacheNode runs a cache node until SIGTERM, saying where it listens
// as `pixpool cachenode` does.
func testCacheNode(args []string) int {
	fs := flag.NewFlagSet("cachenode", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	capacity := fs.Int("capacity", 64, "capacity in MB")
	policy := fs.String("policy", "lru", "lru or rr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := cache.ParsePolicy(*policy)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv := &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: int64(*capacity) << 20, Policy: p})}
	fmt.Printf("listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go srv.Serve(ln)
	<-ctx.Done()
	srv.Close()
	return 0
}
