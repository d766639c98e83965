package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
)

// runCachenode runs one cache node until ctx ends. Its first line on
// stdout is "listening on ADDR", which the local node provider reads to
// learn the port it picked.
func runCachenode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cachenode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:11211", "address to listen on (:0 picks a free port)")
	capacity := fs.Int("capacity", 64, "capacity in MB (keys, values and a fixed per-item overhead)")
	policy := fs.String("policy", "lru", "replacement policy: lru or rr")
	maxItem := byteSize(16 << 20)
	fs.Var(&maxItem, "max-item-size", "largest item, e.g. 16MiB")
	maxConns := fs.Int("max-conns", 4096, "most client connections at once")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pixpool cachenode [flags]\n\nA cache node speaking the memcached text protocol.\nFlags can also be set by PIXPOOL_<NAME>.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *capacity < 1 || *capacity > 1<<20 {
		return fmt.Errorf("--capacity must be 1 to %d MB, got %d", 1<<20, *capacity)
	}
	pol, err := cache.ParsePolicy(*policy)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	store := cache.NewStore(cache.StoreConfig{
		Capacity:     int64(*capacity) << 20,
		MaxItemBytes: int64(maxItem),
		Policy:       pol,
	})
	srv := &cache.Server{Store: store, MaxConns: *maxConns, Logger: logger, Version: "pixpool-" + pixpool.Version}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	logger.Info("cache node serving", "addr", ln.Addr().String(), "capacity_mb", *capacity, "policy", pol.String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, cache.ErrServerClosed) {
		return err
	}
	return nil
}
