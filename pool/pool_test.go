package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/pixpooltest"
)

// testNode is a real cache node served in the test on 127.0.0.1.
type testNode struct {
	info  NodeInfo
	store *cache.Store
	srv   *cache.Server
}

func startNode(t *testing.T, id, addr string) *testNode {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{store: cache.NewStore(cache.StoreConfig{Capacity: 32 << 20})}
	n.srv = &cache.Server{Store: n.store, Logger: slog.New(slog.DiscardHandler)}
	n.info = NodeInfo{ID: id, Addr: ln.Addr().String()}
	go n.srv.Serve(ln)
	t.Cleanup(func() { n.srv.Close() })
	return n
}

func newTestClient(t testing.TB) *Client {
	c := &Client{Logger: slog.New(slog.DiscardHandler), ProbeEvery: 20 * time.Millisecond, Timeout: time.Second}
	t.Cleanup(func() { c.Close() })
	return c
}

// cluster starts n nodes named node-1.. and returns their infos.
func cluster(t *testing.T, from, to int) ([]NodeInfo, map[string]*testNode) {
	infos := []NodeInfo{}
	nodes := map[string]*testNode{}
	for i := from; i <= to; i++ {
		n := startNode(t, "node-"+strconv.Itoa(i), "")
		infos = append(infos, n.info)
		nodes[n.info.ID] = n
	}
	return infos, nodes
}

func TestClient_Ops(t *testing.T) {
	ctx := context.Background()
	infos, nodes := cluster(t, 1, 3)
	c := newTestClient(t)
	c.SetLayout(1, infos)
	for i := range 300 {
		k := fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for id, n := range nodes {
		if got := n.store.Len(); got < 60 || got > 140 {
			t.Errorf("node %s holds %d of 300 keys, want about 100", id, got)
		}
	}
	if v, err := c.Get(ctx, "k7"); err != nil || string(v) != "k7" {
		t.Fatalf("Get(k7)=%q, %v", v, err)
	}
	if err := c.Add(ctx, "k7", []byte("other")); err != nil {
		t.Fatalf("Add of an existing key: %v, want nil (not stored is not a failure)", err)
	}
	if v, _ := c.Get(ctx, "k7"); string(v) != "k7" {
		t.Fatal("Add replaced an existing value")
	}
	if err := c.Delete(ctx, "k7"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "k7"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if _, err := c.Get(ctx, "k7"); !errors.Is(err, pixpool.ErrCacheMiss) {
		t.Fatalf("Get after Delete: %v", err)
	}
	big := make([]byte, 5<<20)
	if err := c.Set(ctx, "big", big); err != nil {
		t.Fatalf("5 MiB value: %v", err)
	}
	if v, err := c.Get(ctx, "big"); err != nil || len(v) != len(big) {
		t.Fatalf("5 MiB value back: %d bytes, %v", len(v), err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for id, n := range nodes {
		if n.store.Len() != 0 {
			t.Errorf("node %s not flushed", id)
		}
	}
	st := c.Stats(ctx)
	if len(st) != 3 || !st[0].Up || st[0].Capacity != 32<<20 {
		t.Fatalf("Stats()=%+v", st)
	}
}

// TestClient_NodeDown: a node that stops answering costs misses, never
// errors to readers; once back it is flushed before use, so nothing it
// held before can be read.
func TestClient_NodeDown(t *testing.T) {
	ctx := context.Background()
	infos, nodes := cluster(t, 1, 2)
	c := newTestClient(t)
	c.SetLayout(1, infos)
	var key string
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("k%d", i); c.Owner(k) == "node-1" {
			key = k
		}
	}
	c.Set(ctx, key, []byte("old"))
	n1 := nodes["node-1"]
	n1.srv.Close()
	for range 5 {
		if _, err := c.Get(ctx, key); err == nil {
			t.Fatal("Get from a closed node succeeded")
		}
	}
	if !c.lay.Load().nodes["node-1"].down.Load() {
		t.Fatal("node not marked down after repeated failures")
	}
	start := time.Now()
	if _, err := c.Get(ctx, key); !errors.Is(err, pixpool.ErrCacheMiss) {
		t.Fatalf("Get on a down node=%v, want a plain miss", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("a down node is still being asked")
	}

	// The node comes back on its address still holding the old value.
	back := &cache.Server{Store: n1.store, Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", n1.info.Addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", n1.info.Addr, err)
	}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for c.lay.Load().nodes["node-1"].down.Load() {
		if time.Now().After(deadline) {
			t.Fatal("node not brought back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v, err := c.Get(ctx, key); err == nil {
		t.Fatalf("a returning node served %q from before it went down", v)
	}
}

func hitRate(t *testing.T, c *Client, keys []string) float64 {
	t.Helper()
	hits := 0
	for _, k := range keys {
		if v, err := c.Get(context.Background(), k); err == nil && string(v) == k {
			hits++
		}
	}
	return float64(hits) / float64(len(keys))
}

// TestResize_Migration: keys whose owner changes are copied before the new
// layout takes effect, so the hit rate barely moves; without migration it
// drops by the share of keys that moved.
func TestResize_Migration(t *testing.T) {
	all, _ := cluster(t, 1, 4)
	var keys []string
	for i := range 2000 {
		keys = append(keys, "i:1:"+strconv.Itoa(i))
	}
	fill := func(c *Client) {
		for _, k := range keys {
			if err := c.Set(context.Background(), k, []byte(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tt := range []struct {
		name     string
		from, to int
	}{{"Grow2to4", 2, 4}, {"Shrink4to1", 4, 1}, {"Grow1to3", 1, 3}} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t)
			c.SetLayout(1, all)
			c.Flush(context.Background())
			c.SetLayout(1, all[:tt.from])
			fill(c)
			before := hitRate(t, c, keys)
			rep := c.Resize(context.Background(), 2, all[:tt.to])
			after := hitRate(t, c, keys)
			if after < before-0.02 {
				t.Errorf("hit rate %.3f after resize, %.3f before (moved %d)", after, before, rep.Moved)
			}
			// The same resize without migration, for comparison.
			c2 := newTestClient(t)
			c2.SetLayout(1, all)
			c2.Flush(context.Background())
			c2.SetLayout(1, all[:tt.from])
			fill(c2)
			c2.SetLayout(2, all[:tt.to])
			plain := hitRate(t, c2, keys)
			t.Logf("%s: hit rate before %.3f, after migrating resize %.3f, after plain resize %.3f (moved %d in %v)",
				tt.name, before, after, plain, rep.Moved, rep.Took)
			if plain > after-0.1 {
				t.Errorf("plain resize kept %.3f of hits; migration should do clearly better than %.3f", plain, after)
			}
		})
	}
}

// TestResize_ReadYourWrites resizes back and forth while writers update
// keys and readers read them: once a write has returned, no read started
// after it sees an older value.
func TestResize_ReadYourWrites(t *testing.T) { readYourWrites(t, 0) }

func readYourWrites(t *testing.T, hotBytes int64) {
	all, _ := cluster(t, 1, 4)
	c := newTestClient(t)
	c.HotBytes = hotBytes
	c.SetLayout(1, all[:2])
	const nkeys = 200
	var latest [nkeys]atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var violations atomic.Int64
	for w := range 2 {
		wg.Go(func() {
			for v := int64(1); ctx.Err() == nil; v++ {
				k := (int(v)*7 + w) % nkeys
				val := strconv.FormatInt(v*2+int64(w), 10)
				if rand := v % 5; rand == 0 {
					c.Delete(ctx, "k"+strconv.Itoa(k))
				} else if err := c.Set(ctx, "k"+strconv.Itoa(k), []byte(val)); err != nil {
					continue
				}
				// Record after the write returned; values only grow per writer.
				for {
					cur := latest[k].Load()
					if cur >= v*2+int64(w) || latest[k].CompareAndSwap(cur, v*2+int64(w)) {
						break
					}
				}
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := i % nkeys
				floor := latest[k].Load()
				v, err := c.Get(ctx, "k"+strconv.Itoa(k))
				if err != nil {
					continue
				}
				got, _ := strconv.ParseInt(string(v), 10, 64)
				// A value from the other writer may be smaller; compare
				// within one writer's sequence only.
				if got%2 == floor%2 && got < floor {
					violations.Add(1)
				}
			}
		})
	}
	for i, size := range []int{4, 1, 3, 2, 4, 1} {
		c.Resize(context.Background(), int64(i+2), all[:size])
	}
	cancel()
	wg.Wait()
	if n := violations.Load(); n > 0 {
		t.Fatalf("%d reads saw a value older than a write that had returned", n)
	}
}

func TestClient_NoLayout(t *testing.T) {
	c := newTestClient(t)
	if _, err := c.Get(context.Background(), "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
		t.Fatalf("Get with no layout=%v", err)
	}
	if err := c.Set(context.Background(), "k", nil); err == nil {
		t.Fatal("Set with no layout succeeded")
	}
}

func startMemcached(t *testing.T) NodeInfo {
	addr := pixpooltest.Memcached(t)
	return NodeInfo{ID: addr, Addr: addr}
}

// TestClient_StockMemcached: the pool works over stock memcached nodes
// (--cache-nodes): data, stats, keys in LRU order, capacity, flush, and a
// resize that migrates; only the policy extension is refused.
func TestClient_StockMemcached(t *testing.T) {
	ctx := context.Background()
	a, b := startMemcached(t), startMemcached(t)
	c := newTestClient(t)
	c.SetLayout(1, []NodeInfo{a})
	var keys []string
	for i := range 300 {
		k := "i:1:" + strconv.Itoa(i)
		keys = append(keys, k)
		if err := c.Set(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := c.Get(ctx, "i:1:7"); err != nil || string(v) != "i:1:7" {
		t.Fatalf("Get=%q, %v", v, err)
	}
	// memcached's crawler may skip an item being bumped as it passes.
	ks, err := c.Keys(ctx, a.ID)
	if err != nil || len(ks) < 290 || len(ks) > 300 {
		t.Fatalf("Keys: %d of 300, %v", len(ks), err)
	}
	// (memcached's own order is only roughly LRU: it bumps an item at most
	// once a minute and keeps hot, warm and cold segments.)
	if err := c.SetCapacity(ctx, 32); err != nil {
		t.Fatalf("cache_memlimit on memcached: %v", err)
	}
	if st := c.Stats(ctx); len(st) != 1 || st[0].Capacity != 32<<20 || st[0].Items != 300 || !st[0].Up {
		t.Fatalf("Stats=%+v", st)
	}
	if err := c.SetPolicy(ctx, "rr"); err == nil {
		t.Fatal("stock memcached accepted the policy extension")
	}
	rep := c.Resize(ctx, 2, []NodeInfo{a, b})
	if got := hitRate(t, c, keys); got < 0.99 {
		t.Fatalf("hit rate %.2f after resize over memcached (moved %d)", got, rep.Moved)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hitRate(t, c, keys); got != 0 {
		t.Fatalf("hit rate %.2f after flush", got)
	}
}

// TestClient_TooLargeIsNotAFailure: a value over a node's item limit is
// refused by the node; that is an answer, and the node stays in use.
func TestClient_TooLargeIsNotAFailure(t *testing.T) {
	ctx := context.Background()
	addr := pixpooltest.Memcached(t) // stock memcached: 1 MiB items
	c := newTestClient(t)
	c.SetLayout(1, []NodeInfo{{ID: addr, Addr: addr}})
	for range 5 {
		if err := c.Set(ctx, "big", make([]byte, 2<<20)); err != nil {
			t.Fatalf("Set of a too-large value: %v", err)
		}
	}
	if err := c.Set(ctx, "small", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "small"); err != nil || string(v) != "x" {
		t.Fatalf("node unusable after too-large values: %q, %v", v, err)
	}
}
