package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
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
	idle := fs.Duration("idle-timeout", cache.DefaultIdleTimeout, "close connections idle for this long (0 never)")
	authFile := fs.String("auth-file", "", "require clients to authenticate with a user:password of this file (memcached's -Y format; or give the lines in the environment variable "+nodeAuthEnv+")")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: pixpool cachenode [flags]\n\nA cache node speaking the memcached text protocol.\nFlags can also be set by PIXPOOL_<NAME>.\n"+nodeAuthEnv+", if set, holds user:password lines as --auth-file does.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *capacity < 1 || *capacity > 1<<20 {
		return fmt.Errorf("--capacity must be 1 to %d MB, got %d", 1<<20, *capacity)
	}
	if mem := cache.MachineMemory(); mem > 0 && int64(*capacity)<<20 > mem {
		return fmt.Errorf("--capacity %d MB is more than this machine's memory (%d MB)", *capacity, mem>>20)
	}
	creds, err := nodeCredentials(*authFile)
	if err != nil {
		return err
	}
	idleTimeout := *idle
	if idleTimeout <= 0 {
		idleTimeout = -1 // the Server's "never"
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
	srv := &cache.Server{Store: store, MaxConns: *maxConns, IdleTimeout: idleTimeout, Credentials: creds, Logger: logger, Version: "pixpool-" + pixpool.Version}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	logger.Info("cache node serving", "addr", ln.Addr().String(), "capacity_mb", *capacity, "policy", pol.String(), "auth", len(creds) > 0)
	if len(creds) == 0 {
		logger.Warn("cache node requires no authentication: anyone who can reach its address can read and change every cached image (set --auth-file)")
	}

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

// nodeAuthEnv names the environment variable that gives a node its
// credentials without a file (serve passes its local nodes the pool
// secret so): "user:password" lines, as in an --auth-file. Never a flag,
// so that no secret shows in the process list.
const nodeAuthEnv = "PIXPOOL_AUTH"

// nodeCredentials reads a node's credentials from --auth-file or
// PIXPOOL_AUTH; none means the node requires no authentication.
func nodeCredentials(file string) ([]cache.Credential, error) {
	env, inEnv := os.LookupEnv(nodeAuthEnv)
	switch {
	case file != "" && inEnv:
		return nil, fmt.Errorf("give --auth-file or %s, not both", nodeAuthEnv)
	case file != "":
		return cache.ReadAuthFile(file)
	case inEnv:
		creds, err := cache.ParseAuthFile([]byte(env))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nodeAuthEnv, err)
		}
		return creds, nil
	}
	return nil, nil
}
