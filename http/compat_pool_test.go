package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
)

// addSample stores one pool-wide stats sample taken ago before now.
func addSample(t *testing.T, f *poolFixture, ago time.Duration, hits, misses int64) {
	t.Helper()
	s := pixpool.PoolSample{At: time.Now().Add(-ago), Nodes: 1, Up: 1, Gets: hits + misses, Hits: hits, Misses: misses}
	if err := f.env.Store.AddStats(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCompat_NumNodesAndRate(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	for _, method := range []string{"GET", "POST"} {
		status, b := f.do(method, "/api/getNumNodes", f.adminKey, "")
		if status != 200 {
			t.Fatalf("%s getNumNodes: %d %s", method, status, b)
		}
		wantJSON(t, b, `{"success":"true","numNodes":2}`)
	}

	// No lookups yet: both rates are 0.
	for _, rate := range []string{"miss", "hit"} {
		status, b := f.do("POST", "/api/getRate?rate="+rate, f.adminKey, "")
		if status != 200 {
			t.Fatalf("getRate: %d %s", status, b)
		}
		wantJSON(t, b, `{"success":"true","rate":"`+rate+`","value":0}`)
	}

	// 30 misses of 100 lookups in the last minute, over two samples, and
	// traffic before the window that must not count.
	addSample(t, f, 10*time.Minute, 0, 500)
	addSample(t, f, 70*time.Second, 0, 500)
	addSample(t, f, 40*time.Second, 50, 20)
	addSample(t, f, 10*time.Second, 20, 10)
	for _, c := range []struct{ path, want string }{
		{"/api/getRate?rate=miss", `{"success":"true","rate":"miss","value":0.3}`},
		{"/api/getRate/?rate=miss", `{"success":"true","rate":"miss","value":0.3}`},
		{"/api/getRate?rate=hit", `{"success":"true","rate":"hit","value":0.7}`},
		{"/api/getRate/?rate=hit", `{"success":"true","rate":"hit","value":0.7}`},
	} {
		for _, method := range []string{"GET", "POST"} {
			status, b := f.do(method, c.path, f.adminKey, "")
			if status != 200 {
				t.Fatalf("%s %s: %d %s", method, c.path, status, b)
			}
			wantJSON(t, b, c.want)
		}
	}
	// A form-encoded POST body works too.
	status, b := f.do("POST", "/api/getRate", f.adminKey, "rate=miss", "Content-Type", "application/x-www-form-urlencoded")
	if status != 200 {
		t.Fatalf("form: %d %s", status, b)
	}
	wantJSON(t, b, `{"success":"true","rate":"miss","value":0.3}`)

	for _, path := range []string{"/api/getRate", "/api/getRate/", "/api/getRate?rate=", "/api/getRate?rate=both", "/api/getRate/?rate=misses"} {
		status, b := f.do("POST", path, f.adminKey, "")
		wantCompatError(t, status, b, 400)
	}
}

// configureFixture is a fixture with a pool of local nodes (one, 8 MB,
// LRU, manual) and configure, which calls configure_cache as the admin and
// wants 200.
func configureFixture(t *testing.T) (f *poolFixture, configure func(query string) []byte) {
	t.Helper()
	f = newPoolFixture(t, fixtureConfig{pool: localPool})
	return f, func(query string) []byte {
		t.Helper()
		status, b := f.do("POST", "/api/configure_cache?"+query, f.adminKey, "")
		if status != 200 {
			t.Fatalf("configure_cache?%s: %d %s", query, status, b)
		}
		return b
	}
}

// TestCompat_ConfigureCache: each subtest has a pool of its own; those
// that start from other settings make them first.
func TestCompat_ConfigureCache(t *testing.T) {
	ctx := context.Background()

	t.Run("Current", func(t *testing.T) {
		_, configure := configureFixture(t)
		// No parameters: the settings as they are.
		wantJSON(t, configure(""), `{"success":"true","mode":"manual","numNodes":1,"cacheSize":8,"policy":"LRU"}`)
	})

	t.Run("Resize", func(t *testing.T) {
		f, configure := configureFixture(t)
		m := f.mgr
		for _, n := range []int{4, 2, 1} {
			b := configure("mode=manual&numNodes=" + strconv.Itoa(n))
			// It answers after the resize: the pool has its size now.
			if got := m.Size(); got != n {
				t.Fatalf("Size()=%d right after configure_cache numNodes=%d", got, n)
			}
			wantJSON(t, b, `{"success":"true","mode":"manual","numNodes":`+strconv.Itoa(n)+`,"cacheSize":8,"policy":"LRU"}`)
			up := 0
			for _, ns := range m.Stats(ctx) {
				if ns.Up {
					up++
				}
			}
			if up != n {
				t.Fatalf("%d nodes answer, want %d", up, n)
			}
		}
		h := m.State().Resizes
		if len(h) != 3 || !strings.HasPrefix(h[0].Reason, "manual") {
			t.Fatalf("history %+v", h)
		}
	})

	t.Run("CacheSettings", func(t *testing.T) {
		f, configure := configureFixture(t)
		m := f.mgr
		wantJSON(t, configure("cacheSize=4&policy=RR"), `{"success":"true","mode":"manual","numNodes":1,"cacheSize":4,"policy":"RR"}`)
		for _, ns := range m.Stats(ctx) {
			if ns.Capacity != 4<<20 || ns.Policy != "rr" {
				t.Fatalf("node %s: %d bytes, %s", ns.ID, ns.Capacity, ns.Policy)
			}
		}
		wantJSON(t, configure("policy=lru&numNodes="), `{"success":"true","mode":"manual","numNodes":1,"cacheSize":4,"policy":"LRU"}`)
	})

	t.Run("Auto", func(t *testing.T) {
		f, configure := configureFixture(t)
		m := f.mgr
		configure("cacheSize=4") // as CacheSettings left it
		b := configure("mode=auto&maxMiss=0.8&minMiss=0.2&expRatio=3&shrinkRatio=0.25")
		wantJSON(t, b, `{"success":"true","mode":"auto","numNodes":1,"cacheSize":4,"policy":"LRU"}`)
		want := autoscale.DefaultParams
		want.MaxMiss, want.MinMiss, want.Expand, want.Shrink = 0.8, 0.2, 3, 0.25
		if on, p := m.Auto(); !on || p != want {
			t.Fatalf("Auto()=%v %+v, want %+v", on, p, want)
		}
		// Given settings merge over the current ones.
		configure("mode=auto&maxMiss=0.9")
		want.MaxMiss = 0.9
		if on, p := m.Auto(); !on || p != want {
			t.Fatalf("Auto()=%v %+v, want %+v", on, p, want)
		}
		// Manual with a size switches the auto-scaler off first.
		wantJSON(t, configure("mode=manual&numNodes=2"), `{"success":"true","mode":"manual","numNodes":2,"cacheSize":4,"policy":"LRU"}`)
		if on, p := m.Auto(); on || p != want || m.Size() != 2 {
			t.Fatalf("Auto()=%v %+v, Size()=%d", on, p, m.Size())
		}
	})

	t.Run("Refused", func(t *testing.T) {
		f, _ := configureFixture(t)
		m := f.mgr
		before := settingsOf(m)
		for _, q := range []string{
			"minMiss=0.5&maxMiss=0.5",
			"mode=auto&minMiss=0.6&maxMiss=0.5",
			"expRatio=1",
			"expRatio=0.5",
			"shrinkRatio=1",
			"shrinkRatio=0",
			"shrinkRatio=-0.5",
			"maxMiss=1.5",
			"numNodes=0",
			"numNodes=9",
			"numNodes=-1",
			"mode=manual&numNodes=12",
			"policy=FIFO",
			"mode=turbo",
			"numNodes=abc",
			"numNodes=3.0",
			"numNodes=%203",
			"cacheSize=1.5",
			"cacheSize=0",
			"cacheSize=lots",
			"maxMiss=NaN",
			"expRatio=inf",
			"minMiss=0.1x",
			// One bad part refuses the good ones too.
			"mode=manual&numNodes=3&policy=FIFO",
			"numNodes=3&cacheSize=2&expRatio=0.9",
			"mode=auto&numNodes=4&cacheSize=0",
			"cacheSize=2&mode=sideways",
		} {
			status, b := f.do("POST", "/api/configure_cache?"+q, f.adminKey, "")
			wantCompatError(t, status, b, 400)
			if got := settingsOf(m); got != before {
				t.Fatalf("configure_cache?%s changed %+v to %+v", q, before, got)
			}
		}
	})

	// The nodes together must fit the machine's memory (serve sets
	// MaxPoolMB when the nodes are its own): a size and a capacity that
	// fit apart but not together change nothing.
	t.Run("Memory", func(t *testing.T) {
		f, configure := configureFixture(t)
		m := f.mgr
		configure("numNodes=2&cacheSize=4") // two nodes, as Auto left them
		m.MaxPoolMB = 40
		defer func() { m.MaxPoolMB = 0 }()
		before := settingsOf(m)
		for _, q := range []string{"numNodes=3&cacheSize=20", "cacheSize=30&policy=RR", "numNodes=8&cacheSize=6"} {
			status, b := f.do("POST", "/api/configure_cache?"+q, f.adminKey, "")
			wantCompatError(t, status, b, 400)
			if got := settingsOf(m); got != before {
				t.Fatalf("configure_cache?%s changed %+v to %+v", q, before, got)
			}
		}
		configure("numNodes=2&cacheSize=20")
	})
}

func TestCompat_ConfigureFixedPool(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	before := settingsOf(f.mgr)
	for _, q := range []string{"mode=auto", "numNodes=3", "mode=manual&numNodes=1"} {
		status, b := f.do("POST", "/api/configure_cache?"+q, f.adminKey, "")
		wantCompatError(t, status, b, 400)
		if got := settingsOf(f.mgr); got != before {
			t.Fatalf("configure_cache?%s changed %+v to %+v", q, before, got)
		}
	}
	// Its own size is fine, and so are the cache settings.
	status, b := f.do("GET", "/api/configure_cache?mode=manual&numNodes=2&cacheSize=2&policy=rr", f.adminKey, "")
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, b)
	}
	wantJSON(t, b, `{"success":"true","mode":"manual","numNodes":2,"cacheSize":2,"policy":"RR"}`)
}

// TestCompat_RateNow: getRate counts lookups made a moment ago, before
// any stats sample.
func TestCompat_RateNow(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: localPool})
	ctx := context.Background()
	f.mgr.Pool.Set(ctx, "k", []byte("v"))
	for range 15 {
		f.mgr.Pool.Get(ctx, "k")
	}
	f.mgr.Pool.Get(ctx, "missing")
	for rate, want := range map[string]string{"hit": "0.9375", "miss": "0.0625"} {
		status, b := f.do("GET", "/api/getRate?rate="+rate, f.adminKey, "")
		if status != 200 {
			t.Fatalf("getRate: %d %s", status, b)
		}
		wantJSON(t, b, `{"success":"true","rate":"`+rate+`","value":`+want+`}`)
	}
}
