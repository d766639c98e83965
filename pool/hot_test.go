package pool

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
)

func newHotClient(t *testing.T, nodes []NodeInfo) *Client {
	c := newTestClient(t)
	c.HotBytes = 1 << 20
	c.SetLayout(1, nodes)
	return c
}

func mustGet(t *testing.T, c *Client, key, want string) {
	t.Helper()
	v, err := c.Get(context.Background(), key)
	if err != nil || string(v) != want {
		t.Fatalf("Get(%s)=%q, %v; want %q", key, v, err, want)
	}
}

// TestHot_Exact: a hit is served from the hot tier once its node confirmed
// the CAS, and a write through another Client (another replica), a delete
// or a flush there is seen by the very next read; against our node and a
// stock memcached -Y alike.
func TestHot_Exact(t *testing.T) {
	ctx := context.Background()
	targets := map[string]func(t *testing.T) NodeInfo{
		"pixpool":   func(t *testing.T) NodeInfo { return startAuthNode(t, 0).info },
		"memcached": startAuthMemcached,
	}
	for name, start := range targets {
		t.Run(name, func(t *testing.T) {
			node := start(t)
			a := newHotClient(t, nil)
			a.SetAuth("", testSecret)
			a.SetLayout(1, []NodeInfo{node})
			b := newTestClient(t) // another replica, no hot tier
			b.SetAuth("", testSecret)
			b.SetLayout(1, []NodeInfo{node})

			if _, err := a.Get(ctx, "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
				t.Fatalf("Get missing=%v", err)
			}
			b.Set(ctx, "k", []byte("v1"))
			mustGet(t, a, "k", "v1") // read from the node, kept
			mustGet(t, a, "k", "v1") // validated, served locally
			if got := a.Counters().HotHits; got != 1 {
				t.Fatalf("HotHits=%d after two reads, want 1", got)
			}
			b.Set(ctx, "k", []byte("v2"))
			mustGet(t, a, "k", "v2")
			b.Set(ctx, "k", []byte("v2")) // same bytes, still a new version
			mustGet(t, a, "k", "v2")
			mustGet(t, a, "k", "v2")
			if got := a.Counters().HotHits; got != 2 {
				t.Fatalf("HotHits=%d, want 2", got)
			}
			b.Delete(ctx, "k")
			if v, err := a.Get(ctx, "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
				t.Fatalf("Get after another replica's delete=%q, %v", v, err)
			}
			b.Set(ctx, "k", []byte("v3"))
			mustGet(t, a, "k", "v3")
			b.Flush(ctx)
			if v, err := a.Get(ctx, "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
				t.Fatalf("Get after another replica's flush=%q, %v", v, err)
			}
			// A write through the client itself replaces the copy too.
			a.Set(ctx, "k", []byte("v4"))
			mustGet(t, a, "k", "v4")
			a.Set(ctx, "k", []byte("v5"))
			mustGet(t, a, "k", "v5")
			if c := a.Counters(); c.HotItems != 1 || c.HotBytes <= 0 {
				t.Fatalf("Counters=%+v", c)
			}
		})
	}
}

// TestHot_ResizeSameCAS: a key that moved to another node is never served
// from a copy of the old node, even when the new node's CAS for it is the
// same number (both nodes are fresh and count from 1).
func TestHot_ResizeSameCAS(t *testing.T) {
	infos, nodes := cluster(t, 1, 2)
	a := newHotClient(t, infos[:1])
	a.Set(context.Background(), "k", []byte("old"))
	mustGet(t, a, "k", "old")
	mustGet(t, a, "k", "old")
	nodes["node-2"].store.Set(cache.Item{Key: "k", Value: []byte("new")})
	oldCAS, _ := nodes["node-1"].store.Get("k")
	newCAS, _ := nodes["node-2"].store.Get("k")
	if oldCAS.CAS != newCAS.CAS {
		t.Fatalf("test setup: CAS %d and %d differ; want the same number", oldCAS.CAS, newCAS.CAS)
	}
	a.SetLayout(2, infos[1:])
	mustGet(t, a, "k", "new")
	mustGet(t, a, "k", "new")
}

// TestHot_NodeRestartSameCAS: a node that restarts at the same address
// numbers CAS uniques from 1 again; a copy read before the restart is
// never served after it.
func TestHot_NodeRestartSameCAS(t *testing.T) {
	n := startNode(t, "node-1", "")
	a := newHotClient(t, []NodeInfo{n.info})
	a.Set(context.Background(), "k", []byte("old"))
	mustGet(t, a, "k", "old")
	mustGet(t, a, "k", "old")
	n.srv.Close()
	m := startNode(t, "node-1", n.info.Addr)
	m.store.Set(cache.Item{Key: "k", Value: []byte("new")})
	if it, _ := m.store.Get("k"); it.CAS != 1 {
		t.Fatalf("test setup: CAS %d, want 1", it.CAS)
	}
	got := ""
	for i := 0; i < 10 && got != "new"; i++ {
		v, err := a.Get(context.Background(), "k")
		if err == nil {
			got = string(v)
		}
		if got == "old" {
			t.Fatalf("read %d served the copy from before the restart", i)
		}
	}
	if got != "new" {
		t.Fatalf("never read the new value (last %q)", got)
	}
}

// TestHot_NodeFails: with its node gone a key is a miss, never the local
// copy.
func TestHot_NodeFails(t *testing.T) {
	n := startNode(t, "node-1", "")
	a := newHotClient(t, []NodeInfo{n.info})
	a.Set(context.Background(), "k", []byte("v"))
	mustGet(t, a, "k", "v")
	mustGet(t, a, "k", "v")
	n.srv.Close()
	for i := range 5 {
		if v, err := a.Get(context.Background(), "k"); err == nil {
			t.Fatalf("read %d with the node gone=%q", i, v)
		}
	}
}

// TestHot_NoMetaProtocol: a node that answers ERROR to mg (memcached
// before 1.6) is read with plain gets instead.
func TestHot_NoMetaProtocol(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				r := bufio.NewReader(nc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					switch {
					case len(f) >= 2 && (f[0] == "get" || f[0] == "gets"):
						nc.Write([]byte("VALUE " + f[1] + " 0 5 1\r\nplain\r\nEND\r\n"))
					default:
						nc.Write([]byte("ERROR\r\n"))
					}
				}
			}()
		}
	}()
	a := newHotClient(t, []NodeInfo{{ID: "old", Addr: ln.Addr().String()}})
	if v, err := a.Get(context.Background(), "k"); err == nil {
		t.Fatalf("first read (mg refused)=%q; want a miss", v)
	}
	for range 3 {
		mustGet(t, a, "k", "plain")
	}
	if c := a.Counters(); c.HotHits != 0 || c.Failures != 0 {
		t.Fatalf("Counters=%+v", c)
	}
}

// TestHot_ResizeReadYourWrites is TestResize_ReadYourWrites with the hot
// tier on.
func TestHot_ResizeReadYourWrites(t *testing.T) { readYourWrites(t, 1<<20) }

// TestHot_Bound: the tier holds no more than HotBytes.
func TestHot_Bound(t *testing.T) {
	infos, _ := cluster(t, 1, 2)
	a := newTestClient(t)
	a.HotBytes = 64 << 10
	a.SetLayout(1, infos)
	ctx := context.Background()
	val := make([]byte, 4<<10)
	for i := range 100 {
		k := "k" + strconv.Itoa(i)
		a.Set(ctx, k, val)
		a.Get(ctx, k)
	}
	if c := a.Counters(); c.HotBytes > 64<<10 || c.HotItems < 10 {
		t.Fatalf("Counters=%+v", c)
	}
	big := make([]byte, 16<<10) // over an eighth: not kept
	a.Set(ctx, "big", big)
	a.Get(ctx, "big")
	a.Get(ctx, "big")
	if c := a.Counters(); c.HotHits != 0 {
		t.Fatalf("a value over an eighth of the tier was kept: %+v", c)
	}
}

// TestHot_PipelinedExact: many concurrent reads of hot keys, whose
// validations go to the node in pipelined batches, while another replica
// writes: every read returns a version at least as new as the last write
// completed before the read began, and the node counts every lookup.
func TestHot_PipelinedExact(t *testing.T) {
	ctx := context.Background()
	node := startAuthNode(t, 0)
	a := newHotClient(t, nil)
	a.SetAuth("", testSecret)
	a.SetLayout(1, []NodeInfo{node.info})
	b := newTestClient(t) // another replica
	b.SetAuth("", testSecret)
	b.SetLayout(1, []NodeInfo{node.info})

	keys := []string{"k0", "k1", "k2"}
	var done [3]atomic.Int64 // the last version written to each key
	for i, k := range keys {
		if err := b.Set(ctx, k, []byte("0")); err != nil {
			t.Fatal(err)
		}
		mustGet(t, a, k, "0")
		done[i].Store(0)
	}

	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() { // the other replica writes versions 1, 2, ... in turn
		defer writer.Done()
		for v := int64(1); ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			i := int(v) % len(keys)
			if err := b.Set(ctx, keys[i], []byte(strconv.FormatInt(v, 10))); err != nil {
				t.Error(err)
				return
			}
			done[i].Store(v)
		}
	}()
	const readers, reads = 16, 200
	var wg sync.WaitGroup
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < reads; n++ {
				i := (r + n) % len(keys)
				floor := done[i].Load()
				v, err := a.Get(ctx, keys[i])
				if err != nil {
					t.Errorf("Get(%s): %v", keys[i], err)
					return
				}
				got, _ := strconv.ParseInt(string(v), 10, 64)
				if got < floor {
					t.Errorf("Get(%s)=%d after version %d was written", keys[i], got, floor)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	writer.Wait()
	if a.Counters().HotHits == 0 {
		t.Fatal("no read was served from the hot tier")
	}

	// Without writes every read is one validation, and the node counts
	// each one as a hit (getRate and the auto-scaler see every lookup).
	for i, k := range keys {
		mustGet(t, a, k, strconv.FormatInt(done[i].Load(), 10))
	}
	hitsBefore, hotBefore := nodeHits(t, a), a.Counters().HotHits
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < reads; n++ {
				if _, err := a.Get(ctx, keys[(r+n)%len(keys)]); err != nil {
					t.Errorf("Get: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := a.Counters().HotHits - hotBefore; got != readers*reads {
		t.Fatalf("%d hot hits for %d reads of unchanged keys", got, readers*reads)
	}
	if got := nodeHits(t, a) - hitsBefore; got != readers*reads {
		t.Fatalf("the node counted %d hits for %d reads", got, readers*reads)
	}
}

func nodeHits(t *testing.T, c *Client) int64 {
	t.Helper()
	var n int64
	for _, s := range c.Stats(context.Background()) {
		if !s.Up {
			t.Fatalf("node %s down", s.ID)
		}
		n += s.Hits
	}
	return n
}

// BenchmarkHotGet: cache hits on one hot key from many goroutines, each
// validated with the node (pipelined).
func BenchmarkHotGet(b *testing.B) {
	node := startAuthNode(b, 0)
	c := newTestClient(b)
	c.HotBytes = 1 << 20
	c.SetAuth("", testSecret)
	c.SetLayout(1, []NodeInfo{node.info})
	ctx := context.Background()
	if err := c.Set(ctx, "k", make([]byte, 100<<10)); err != nil {
		b.Fatal(err)
	}
	c.Get(ctx, "k")
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
