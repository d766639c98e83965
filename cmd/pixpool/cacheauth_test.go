package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
)

// nodeConn is a raw memcached connection to a cache node.
type nodeConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialNode(t *testing.T, addr string) *nodeConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &nodeConn{t, nc, bufio.NewReader(nc)}
}

func (c *nodeConn) do(cmd string) string {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(cmd)); err != nil {
		c.t.Fatal(err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("%q: %v", cmd, err)
	}
	return strings.TrimRight(line, "\r\n")
}

func authCmd(user, pass string) string {
	return fmt.Sprintf("set auth 0 0 %d\r\n%s %s\r\n", len(user)+1+len(pass), user, pass)
}

// TestServe_LocalNodesRequireSecret: the nodes serve starts require the
// pool's secret, which is in the store (for every replica) and in no
// process's arguments; another local user cannot list or read the cached
// images (issue 11, item 12).
func TestServe_LocalNodesRequireSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	data := t.TempDir()
	a := startServer(t, Config{Data: data, CacheSize: 1, CacheCapacity: 16})
	ada := &client{t, a.url, newUser(t, a, "ada", false)}
	img := pixpooltest.PNG(t, 12, 12, 5)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(img)), http.StatusCreated)
	before := a.Pool.Counters()
	for range 3 {
		expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)
	}
	if c := a.Pool.Counters(); c.Hits-before.Hits < 2 || c.Failures != 0 {
		t.Fatalf("%d hits of 3 reads, %d failures", c.Hits-before.Hits, c.Failures)
	}

	secret, err := a.Store.Setting(context.Background(), manager.SecretSetting)
	if err != nil || len(secret) < 32 {
		t.Fatalf("pool secret %q, %v", secret, err)
	}
	node := a.Manager.State().Nodes[0].Addr
	c := dialNode(t, node)
	for _, cmd := range []string{"lru_crawler metadump all\r\n", "stats\r\n", "get x\r\n"} {
		if got := c.do(cmd); got != "CLIENT_ERROR unauthenticated" {
			t.Fatalf("%q without the secret: %q", cmd, got)
		}
	}
	if got := c.do(authCmd(pool.DefaultUser, "guess")); got != "CLIENT_ERROR authentication failure" {
		t.Fatalf("wrong secret: %q", got)
	}
	if got := c.do(authCmd(pool.DefaultUser, secret)); got != "STORED" {
		t.Fatalf("the pool's secret: %q", got)
	}
	if got := c.do("lru_crawler metadump all\r\n"); !strings.HasPrefix(got, "key=") {
		t.Fatalf("metadump with the secret: %q", got)
	}

	// Not in any process's command line (every local user can read those).
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s holds the pool secret: %q", p, b)
		}
	}

	// A second replica on the same store reads the secret and uses the
	// first one's nodes.
	b := startServer(t, Config{Data: data, CacheSize: 1, CacheCapacity: 16})
	if b.Manager.Leading() {
		t.Fatal("second replica leads")
	}
	onB := &client{t, b.url, ada.key}
	before = b.Pool.Counters()
	expect(t, onB.do("GET", keyPath("cat"), nil), http.StatusOK)
	if c := b.Pool.Counters(); c.Hits-before.Hits != 1 || c.Failures != 0 {
		t.Fatalf("replica: %d hits of 1 read, %d failures", c.Hits-before.Hits, c.Failures)
	}
}

// TestServe_StockMemcachedAuth: stock memcached -Y nodes given with
// --cache-nodes work with --cache-auth-file (the same file), and refuse a
// server without it.
func TestServe_StockMemcachedAuth(t *testing.T) {
	// memcached runs as nobody and reads the file after dropping
	// privileges; t.TempDir's parent is private.
	dir, err := os.MkdirTemp("", "pixpool-auth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	file := filepath.Join(dir, "auth")
	if err := os.WriteFile(file, []byte("pool:0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := pixpooltest.Memcached(t, "-Y", file)
	s := startServer(t, Config{CacheNodes: a, CacheAuthFile: file, CacheCapacity: 32})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	img := pixpooltest.PNG(t, 12, 12, 5)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(img)), http.StatusCreated)
	before := s.Pool.Counters()
	for range 3 {
		expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)
	}
	if c := s.Pool.Counters(); c.Hits-before.Hits != 3 || c.Failures != 0 {
		t.Fatalf("%d hits of 3 reads from memcached -Y, %d failures", c.Hits-before.Hits, c.Failures)
	}
	if st := s.Pool.Stats(context.Background()); len(st) != 1 || !st[0].Up || st[0].Capacity != 32<<20 {
		t.Fatalf("stats %+v", st)
	}

	// Without the credentials: every read misses (served from the store).
	o := startServer(t, Config{CacheNodes: a, CacheCapacity: 32})
	onO := &client{t, o.url, newUser(t, o, "bob", false)}
	expect(t, onO.do("PUT", keyPath("dog"), bytes.NewReader(img)), http.StatusCreated)
	expect(t, onO.do("GET", keyPath("dog"), nil), http.StatusOK)
	if c := o.Pool.Counters(); c.Hits != 0 || c.Failures == 0 {
		t.Fatalf("without credentials: %d hits, %d failures", c.Hits, c.Failures)
	}
}

// TestCachenode_Flags: pixpool cachenode takes its credentials from
// PIXPOOL_AUTH (or --auth-file) and refuses a capacity over the machine's
// memory.
func TestCachenode_Flags(t *testing.T) {
	var out strings.Builder
	err := runCachenode(context.Background(), []string{"--addr", "127.0.0.1:0", "--capacity", "1000000"}, &out, &out)
	if mem := cache.MachineMemory(); mem > 0 && mem < 1000000<<20 {
		if err == nil || !strings.Contains(err.Error(), "more than this machine's memory") {
			t.Fatalf("--capacity 1000000: %v", err)
		}
	}

	t.Setenv("PIXPOOL_AUTH", "pixpool:0123456789abcdef0123456789abcdef")
	pr, pw, _ := os.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runCachenode(ctx, []string{"--addr", "127.0.0.1:0", "--capacity", "8"}, pw, &strings.Builder{})
	}()
	t.Cleanup(func() { cancel(); <-done; pw.Close(); pr.Close() })
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	c := dialNode(t, strings.TrimSpace(strings.TrimPrefix(line, "listening on ")))
	if got := c.do("get x\r\n"); got != "CLIENT_ERROR unauthenticated" {
		t.Fatalf("get without the secret: %q", got)
	}
	if got := c.do(authCmd("pixpool", "0123456789abcdef0123456789abcdef")); got != "STORED" {
		t.Fatalf("authentication: %q", got)
	}
	if got := c.do("get x\r\n"); got != "END" {
		t.Fatalf("get with the secret: %q", got)
	}
}

// TestServe_CacheCapacityOverMemory: serve refuses to start nodes larger
// than the machine's memory.
func TestServe_CacheCapacityOverMemory(t *testing.T) {
	mem := cache.MachineMemory()
	if mem == 0 || mem >= 1<<40 {
		t.Skip("memory unknown or over 1 TB")
	}
	// One node larger than the machine, and nodes that fit one by one but
	// not together.
	half := int(mem>>20)/2 + 1
	for _, c := range []struct{ nodes, mb int }{{1, 1 << 20}, {2, half}} {
		m := &Main{Config: Config{Data: t.TempDir(), Addr: "127.0.0.1:0", CacheSize: c.nodes, CacheCapacity: c.mb}, Logger: discardLogger()}
		err := m.Open(context.Background())
		m.Close()
		if err == nil || !strings.Contains(err.Error(), "more than this machine's memory") {
			t.Fatalf("Open with --cache-size %d --cache-capacity %d: %v", c.nodes, c.mb, err)
		}
	}
}
