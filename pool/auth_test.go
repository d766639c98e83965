package pool

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/pixpooltest"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// startAuthNode serves a node that requires user pixpool with testSecret.
func startAuthNode(t testing.TB, idle time.Duration) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{store: cache.NewStore(cache.StoreConfig{Capacity: 32 << 20})}
	n.srv = &cache.Server{Store: n.store, Logger: slog.New(slog.DiscardHandler), IdleTimeout: idle,
		Credentials: []cache.Credential{{User: DefaultUser, Password: testSecret}}}
	n.info = NodeInfo{ID: "auth", Addr: ln.Addr().String()}
	go n.srv.Serve(ln)
	t.Cleanup(func() { n.srv.Close() })
	return n
}

// startAuthMemcached runs a stock memcached -Y with the same secret.
func startAuthMemcached(t *testing.T) NodeInfo {
	// memcached runs as nobody (pixpooltest.Memcached) and reads the file
	// after dropping privileges: t.TempDir's parent is private.
	dir, err := os.MkdirTemp("", "pixpool-auth")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	file := filepath.Join(dir, "auth")
	if err := os.WriteFile(file, []byte(DefaultUser+":"+testSecret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := pixpooltest.Memcached(t, "-Y", file)
	return NodeInfo{ID: addr, Addr: addr}
}

// TestClient_Auth: with the pool's secret the client works against our
// node and stock memcached -Y alike, every operation included (data, and
// the admin commands on their own connections); without it, or with a
// wrong one, nothing is read (issue 11, item 12).
func TestClient_Auth(t *testing.T) {
	ctx := context.Background()
	targets := map[string]func(t *testing.T) NodeInfo{
		"pixpool":   func(t *testing.T) NodeInfo { return startAuthNode(t, 0).info },
		"memcached": startAuthMemcached,
	}
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			node := start(t)
			c := newTestClient(t)
			c.SetAuth("", testSecret)
			c.SetLayout(1, []NodeInfo{node})
			for i := range 50 {
				k := "k" + strconv.Itoa(i)
				if err := c.Set(ctx, k, []byte(k)); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := c.Get(ctx, "k7"); err != nil || string(v) != "k7" {
				t.Fatalf("Get=%q, %v", v, err)
			}
			if st := c.Stats(ctx); len(st) != 1 || !st[0].Up || st[0].Items != 50 {
				t.Fatalf("Stats=%+v", st)
			}
			if _, err := c.Keys(ctx, node.ID); err != nil {
				t.Fatalf("Keys: %v", err)
			}
			if err := c.SetCapacity(ctx, 32); err != nil {
				t.Fatalf("SetCapacity: %v", err)
			}

			for _, secret := range []string{"", "wrong"} {
				o := newTestClient(t)
				o.SetAuth("", secret)
				o.SetLayout(1, []NodeInfo{node})
				if v, err := o.Get(ctx, "k7"); err == nil {
					t.Fatalf("secret %q: Get=%q", secret, v)
				}
				if _, err := o.Keys(ctx, node.ID); err == nil {
					t.Fatalf("secret %q: Keys succeeded", secret)
				}
				if err := o.SetCapacity(ctx, 1); err == nil {
					t.Fatalf("secret %q: SetCapacity succeeded", secret)
				}
			}
			if v, err := c.Get(ctx, "k7"); err != nil || string(v) != "k7" {
				t.Fatalf("Get after the others=%q, %v", v, err)
			}
		})
	}
}

// TestClient_AuthOpenNode: a client with a secret refuses a node that
// requires none instead of handing it the secret (which it would store).
func TestClient_AuthOpenNode(t *testing.T) {
	n := startNode(t, "open", "")
	c := newTestClient(t)
	c.SetAuth("", testSecret)
	c.SetLayout(1, []NodeInfo{n.info})
	err := c.Set(context.Background(), "k", []byte("v"))
	if !errors.Is(err, ErrNodeOpen) {
		t.Fatalf("Set on an open node: %v, want ErrNodeOpen", err)
	}
	if got := n.store.Len(); got != 0 {
		t.Fatalf("open node holds %d items, want 0", got)
	}
}

// TestClient_IdleConnReplaced: pooled connections idle past MaxIdle are
// replaced before use, so the node closing idle ones (its idle timeout)
// costs no failed request.
func TestClient_IdleConnReplaced(t *testing.T) {
	ctx := context.Background()
	n := startAuthNode(t, 100*time.Millisecond)
	c := newTestClient(t)
	c.MaxIdle = 20 * time.Millisecond
	c.SetAuth("", testSecret)
	c.SetLayout(1, []NodeInfo{n.info})
	if err := c.Set(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the node closes the pooled connection
	for range 3 {
		if v, err := c.Get(ctx, "k"); err != nil || string(v) != "v" {
			t.Fatalf("Get after the node's idle timeout=%q, %v", v, err)
		}
	}
	if f := c.Counters().Failures; f != 0 {
		t.Fatalf("%d failures", f)
	}
}
