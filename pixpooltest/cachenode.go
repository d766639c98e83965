package pixpooltest

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/pixpool/pixpool/cache"
)

// RunCacheNodeIfAsked lets a test binary stand in for `pixpool cachenode`:
// call it first in TestMain. When the binary was started as
// "<test binary> cachenode --addr A --capacity MB --policy P", as a
// manager.LocalProvider starts nodes, it serves a cache node until SIGTERM,
// saying "listening on ADDR" first as the real command does, and exits;
// otherwise it returns at once.
func RunCacheNodeIfAsked() {
	if len(os.Args) < 2 || os.Args[1] != "cachenode" {
		return
	}
	os.Exit(cacheNode(os.Args[2:]))
}

func cacheNode(args []string) int {
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
	if env, ok := os.LookupEnv("PIXPOOL_AUTH"); ok { // the pool's secret, as pixpool cachenode takes it
		if srv.Credentials, err = cache.ParseAuthFile([]byte(env)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go srv.Serve(ln)
	<-ctx.Done()
	srv.Close()
	return 0
}
