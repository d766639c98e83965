package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

// loadClient reads images over HTTP and counts what went wrong.
type loadClient struct {
	base, key string
	http      *http.Client
	failures  atomic.Int64
	stale     atomic.Int64
	reads     atomic.Int64
	mu        sync.Mutex
	lastErr   string
}

func (l *loadClient) get(t *testing.T, key string) ([]byte, bool) {
	req, _ := http.NewRequest("GET", l.base+keyPath(key), nil)
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := l.http.Do(req)
	if err != nil {
		l.fail(err.Error())
		return nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		l.fail(fmt.Sprintf("GET %s: %d %v %s", key, resp.StatusCode, err, b))
		return nil, false
	}
	l.reads.Add(1)
	return b, true
}

func (l *loadClient) put(t *testing.T, key string, img []byte) bool {
	req, _ := http.NewRequest("PUT", l.base+keyPath(key), bytes.NewReader(img))
	req.Header.Set("Authorization", "Bearer "+l.key)
	resp, err := l.http.Do(req)
	if err != nil {
		l.fail(err.Error())
		return false
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusCreated {
		l.fail(fmt.Sprintf("PUT %s: %d", key, resp.StatusCode))
		return false
	}
	return true
}

func (l *loadClient) fail(msg string) {
	l.failures.Add(1)
	l.mu.Lock()
	l.lastErr = msg
	l.mu.Unlock()
}

// versions tracks, per key, the checksums written and the newest one
// whose upload has returned.
type versions struct {
	mu     sync.Mutex
	latest map[string][32]byte
	seq    map[string]int              // index of latest in order
	order  map[string]map[[32]byte]int // every version's index
}

func newVersions() *versions {
	return &versions{latest: map[string][32]byte{}, seq: map[string]int{}, order: map[string]map[[32]byte]int{}}
}

// writing registers a version about to be uploaded (a read may see it
// before the upload returns) and returns its index.
func (v *versions) writing(key string, img []byte) int {
	sum := sha256.Sum256(img)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.order[key] == nil {
		v.order[key] = map[[32]byte]int{}
	}
	i := len(v.order[key])
	v.order[key][sum] = i
	return i
}

// wrote records that the upload of version i has returned.
func (v *versions) wrote(key string, img []byte, i int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if i >= v.seq[key] {
		v.latest[key], v.seq[key] = sha256.Sum256(img), i
	}
}

// floor is the index of the newest version whose upload has returned.
func (v *versions) floor(key string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seq[key]
}

// check reports whether data is a version at least as new as floor.
func (v *versions) check(key string, data []byte, floor int) bool {
	sum := sha256.Sum256(data)
	v.mu.Lock()
	defer v.mu.Unlock()
	i, ok := v.order[key][sum]
	return ok && i >= floor
}

// hitRate reads every key once over HTTP and returns the share the pool
// answered, from the pool client's counters.
func hitRate(t *testing.T, s *server, l *loadClient, keys []string) float64 {
	before := s.Pool.Counters()
	for _, k := range keys {
		l.get(t, k)
	}
	after := s.Pool.Counters()
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	if hits+misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+misses)
}

// keptByRing is the share of keys whose node stays the same from one
// layout to the other: what a resize that does not migrate would keep.
func keptByRing(ownerID int64, keys []string, from, to []pool.NodeInfo) float64 {
	ids := func(ns []pool.NodeInfo) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	a, b := pool.NewRing(ids(from)...), pool.NewRing(ids(to)...)
	kept := 0
	for _, k := range keys {
		ck := service.CacheKey(ownerID, k)
		if a.Get(ck) == b.Get(ck) {
			kept++
		}
	}
	return float64(kept) / float64(len(keys))
}

// TestServe_ResizeUnderLoad fills the pool, then resizes it 2 -> 4 -> 1 -> 3
// while clients read and upload: no request fails, no read returns bytes
// older than an upload that had returned, and right after each resize the
// hit rate stays within a few points of the rate before (a resize without
// migration would lose the share of keys that changed node).
func TestServe_ResizeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	s := startServer(t, Config{CacheSize: 2, CacheCapacity: 64, CachePolicy: "lru"})
	apiKey := newUser(t, s, "ada", false)
	u, _ := s.Store.UserByUsername(context.Background(), "ada")
	l := &loadClient{base: s.url, key: apiKey, http: &http.Client{Timeout: 30 * time.Second}}
	vs := newVersions()
	const nkeys = 120
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("photo-%03d.png", i)
		img := pixpooltest.PNG(t, 16, 16, uint8(i))
		v := vs.writing(keys[i], img)
		if !l.put(t, keys[i], img) {
			t.Fatalf("upload: %s", l.lastErr)
		}
		vs.wrote(keys[i], img, v)
	}
	hitRate(t, s, l, keys) // warm: every key is now in the pool

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Go(func() {
			for i := r; ctx.Err() == nil; i += 7 {
				k := keys[i%nkeys]
				floor := vs.floor(k)
				if data, ok := l.get(t, k); ok && !vs.check(k, data, floor) {
					l.stale.Add(1)
				}
			}
		})
	}
	wg.Go(func() { // one uploader replacing images
		for i := 0; ctx.Err() == nil; i++ {
			k := keys[(i*13)%nkeys]
			img := pixpooltest.PNG(t, 17+i%5, 16, uint8(i)) // a new version each time
			v := vs.writing(k, img)
			if l.put(t, k, img) {
				vs.wrote(k, img, v)
			}
		}
	})

	for _, size := range []int{4, 1, 3} {
		before := hitRate(t, s, l, keys)
		_, from := s.Pool.Layout()
		rep, err := s.Manager.Resize(context.Background(), size, "test")
		if err != nil {
			t.Fatalf("resize to %d: %v", size, err)
		}
		_, to := s.Pool.Layout()
		after := hitRate(t, s, l, keys)
		plain := keptByRing(u.ID, keys, from, to)
		t.Logf("resize %d->%d: hit rate before %.2f, right after %.2f (moved %d keys in %v); a resize without migration would keep %.2f",
			rep.From, rep.To, before, after, rep.Moved, rep.Took.Round(time.Millisecond), plain*before)
		if after < before-0.1 {
			t.Errorf("resize to %d: hit rate fell from %.2f to %.2f", size, before, after)
		}
		if got := s.Manager.Size(); got != size {
			t.Fatalf("Size()=%d after resize to %d", got, size)
		}
	}
	cancel()
	wg.Wait()
	if n := l.failures.Load(); n > 0 {
		t.Fatalf("%d requests failed during resizes; last: %s", n, l.lastErr)
	}
	if n := l.stale.Load(); n > 0 {
		t.Fatalf("%d reads returned bytes older than a finished upload", n)
	}
	for _, k := range keys {
		data, ok := l.get(t, k)
		if !ok || !vs.check(k, data, vs.floor(k)) || sha256.Sum256(data) != vs.latest[k] {
			t.Fatalf("key %s does not read back its latest bytes", k)
		}
	}
	t.Logf("%d reads during the resizes, none failed", l.reads.Load())
	st := s.Manager.State()
	if len(st.Resizes) != 3 || st.Resizes[0].From != 2 || st.Resizes[0].To != 4 {
		t.Fatalf("resize history %+v", st.Resizes)
	}
}

// TestServe_NodeKilled kills a cache node process during a read load: no
// request fails and the node is restarted.
func TestServe_NodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	s := startServer(t, Config{CacheSize: 2, CacheCapacity: 16, CachePolicy: "lru"})
	l := &loadClient{base: s.url, key: newUser(t, s, "ada", false), http: &http.Client{Timeout: 30 * time.Second}}
	var keys []string
	for i := range 40 {
		k := fmt.Sprintf("k%d", i)
		if !l.put(t, k, pixpooltest.PNG(t, 8, 8, uint8(i))) {
			t.Fatal(l.lastErr)
		}
		keys = append(keys, k)
	}
	before := s.Manager.State()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			for i := r; ctx.Err() == nil; i++ {
				l.get(t, keys[i%len(keys)])
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	victim := before.Nodes[0]
	if err := s.Nodes.Kill(victim.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.Manager.State()
		if st.Nodes[0].Addr != victim.Addr && st.Epoch > before.Epoch {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed node was not restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // keep reading through the restarted node
	cancel()
	wg.Wait()
	if n := l.failures.Load(); n > 0 {
		t.Fatalf("%d requests failed while a node died; last: %s", n, l.lastErr)
	}
	stats := s.Pool.Stats(context.Background())
	for _, ns := range stats {
		if !ns.Up {
			t.Fatalf("node %s not up after restart: %+v", ns.ID, stats)
		}
	}
	t.Logf("%d reads, none failed; node %s restarted at a new address", l.reads.Load(), victim.ID)
}

// TestServe_PoolCLI drives the pool through `pixpool pool`, which reaches
// the running server through its database.
func TestServe_PoolCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	s := startServer(t, Config{CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	img := pixpooltest.PNG(t, 10, 10, 9)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(img)), http.StatusCreated)
	expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK)

	out := cli(t, s.Config.Data, "", "pool", "status")
	if !strings.Contains(out, "1 nodes, 8 MB each, policy lru") || !strings.Contains(out, "node-1") {
		t.Fatalf("status:\n%s", out)
	}
	if out := cli(t, s.Config.Data, "", "pool", "keys", "node-1"); !strings.Contains(out, "i:") {
		t.Fatalf("keys:\n%s", out)
	}
	if out := cli(t, s.Config.Data, "", "pool", "resize", "3"); !strings.Contains(out, "ok: 3 nodes") {
		t.Fatalf("resize:\n%s", out)
	}
	cli(t, s.Config.Data, "", "pool", "capacity", "16")
	cli(t, s.Config.Data, "", "pool", "policy", "RR")
	for _, ns := range s.Pool.Stats(context.Background()) {
		if ns.Capacity != 16<<20 || ns.Policy != "rr" {
			t.Fatalf("node %s: capacity %d, policy %q", ns.ID, ns.Capacity, ns.Policy)
		}
	}
	if got := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, img) {
		t.Fatal("image changed across pool changes")
	}
	cli(t, s.Config.Data, "", "pool", "clear")
	for _, ns := range s.Pool.Stats(context.Background()) {
		if ns.Items != 0 {
			t.Fatalf("node %s holds %d items after clear", ns.ID, ns.Items)
		}
	}
	var out2, errOut bytes.Buffer
	err := run(context.Background(), []string{"pool", "--data", s.Config.Data, "resize", "9"}, nil, &out2, &errOut)
	if err == nil || !strings.Contains(err.Error(), "1 to 8") {
		t.Fatalf("resize to 9: %v", err)
	}

	// The pool's state survives a restart.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, Config{Data: s.Config.Data, CacheSize: 1, CacheCapacity: 8, CachePolicy: "lru"})
	st := s2.Manager.State()
	if len(st.Nodes) != 3 || st.CapacityMB != 16 || st.Policy != "rr" {
		t.Fatalf("state after restart: %d nodes, %d MB, %s", len(st.Nodes), st.CapacityMB, st.Policy)
	}
}

// TestServe_StockMemcachedNodes serves from existing nodes given with
// --cache-nodes, stock memcached here: reads hit the cache, and the pool's
// size is fixed.
func TestServe_StockMemcachedNodes(t *testing.T) {
	a, b := pixpooltest.Memcached(t), pixpooltest.Memcached(t)
	s := startServer(t, Config{CacheNodes: a + "," + b, CacheCapacity: 32})
	ada := &client{t, s.url, newUser(t, s, "ada", false)}
	img := pixpooltest.PNG(t, 12, 12, 5)
	expect(t, ada.do("PUT", keyPath("cat"), bytes.NewReader(img)), http.StatusCreated)
	before := s.Pool.Counters()
	for range 3 {
		if got := expect(t, ada.do("GET", keyPath("cat"), nil), http.StatusOK); !bytes.Equal(got, img) {
			t.Fatal("wrong bytes")
		}
	}
	if c := s.Pool.Counters(); c.Hits-before.Hits != 3 {
		t.Fatalf("%d hits of 3 reads from memcached", c.Hits-before.Hits)
	}
	if _, err := s.Manager.Resize(context.Background(), 3, "test"); err == nil {
		t.Fatal("resized a pool of given nodes")
	}
	if st := s.Pool.Stats(context.Background()); len(st) != 2 || st[0].Capacity != 32<<20 {
		t.Fatalf("stats %+v", st)
	}
}
