package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
)

// TestServe_Replicas runs two `serve` replicas on one PostgreSQL, one S3
// server and one cache pool: they behave as one service, exactly one runs
// the pool, and when it dies the other takes over.
func TestServe_Replicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	cfg := replicaConfig(t)
	dsn := cfg.DB
	a := startServer(t, cfg)
	b := startServer(t, cfg)
	if !a.Manager.Leading() || b.Manager.Leading() {
		t.Fatalf("leading: a %v, b %v; want exactly a", a.Manager.Leading(), b.Manager.Leading())
	}
	ctx := context.Background()

	t.Run("Session", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.PostForm(a.url+"/login", url.Values{"username": {"admin"}, "password": {"adminpass1"}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login on a: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		// The same cookie, sent to b.
		bu, _ := url.Parse(b.url)
		au, _ := url.Parse(a.url)
		jar.SetCookies(bu, jar.Cookies(au))
		resp, err = c.Get(b.url + "/api/v1/me")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("session from a on b: %v %v", resp.StatusCode, err)
		}
		resp.Body.Close()
	})

	key := newUserDB(t, dsn, "ada")
	onA, onB := &client{t, a.url, key}, &client{t, b.url, key}
	// Lookups made through either replica count on both at once: the
	// rates come from the nodes' own counters.
	t.Run("RateAcross", func(t *testing.T) {
		expect(t, onA.do("PUT", keyPath("rated"), bytes.NewReader(pixpooltest.PNG(t, 9, 9, 1))), http.StatusCreated)
		for i := range 10 {
			c := onB
			if i%3 == 0 {
				c = onA
			}
			expect(t, c.do("GET", keyPath("rated"), nil), http.StatusOK)
		}
		expect(t, onB.do("GET", keyPath("unrated"), nil), http.StatusNotFound)
		expect(t, onB.do("GET", keyPath("unrated-2"), nil), http.StatusNotFound)
		for _, s := range []*server{a, b} {
			now := time.Now()
			w, err := s.Manager.Window(ctx, now.Add(-time.Minute), now)
			if err != nil || w.Lookups != 12 || w.Misses != 2 {
				t.Fatalf("window on %s: %+v, %v; want 12 lookups, 2 misses", s.url, w, err)
			}
		}
	})

	t.Run("ReadYourWritesAcross", func(t *testing.T) {
		for i := range 5 {
			img := pixpooltest.PNG(t, 10+i, 10, uint8(i))
			w, r := onA, onB
			if i%2 == 1 {
				w, r = onB, onA
			}
			expect(t, w.do("PUT", keyPath("shared"), bytes.NewReader(img)), http.StatusCreated)
			if got := expect(t, r.do("GET", keyPath("shared"), nil), http.StatusOK); !bytes.Equal(got, img) {
				t.Fatalf("round %d: the other replica read old bytes", i)
			}
		}
		expect(t, onA.do("DELETE", keyPath("shared"), nil), http.StatusOK)
		expect(t, onB.do("GET", keyPath("shared"), nil), http.StatusNotFound)
	})

	t.Run("PoolChangesAcross", func(t *testing.T) {
		if _, err := b.Manager.Resize(ctx, 3, "test"); err != nil { // forwarded to a
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "a has 3 nodes", func() bool { return a.Manager.Size() == 3 })
		waitFor(t, 2*time.Second, "b uses a's layout", func() bool {
			ea, _ := a.Pool.Layout()
			eb, nodes := b.Pool.Layout()
			return ea == eb && len(nodes) == 3
		})
		if err := b.Manager.SetCapacity(ctx, 16); err != nil {
			t.Fatal(err)
		}
		for _, ns := range a.Pool.Stats(ctx) {
			if ns.Capacity != 16<<20 {
				t.Fatalf("node %s has %d bytes after a capacity change through b", ns.ID, ns.Capacity)
			}
		}
	})

	// Resizes run on a while uploads go through b and reads through both:
	// no read, on either replica, returns bytes older than a finished
	// upload.
	t.Run("ResizeAcross", func(t *testing.T) {
		ra, rb := resizesUnderLoad(t, a, b, key, "r", func() {
			for _, n := range []int{4, 2, 3} {
				if _, err := a.Manager.Resize(ctx, n, "test"); err != nil {
					t.Fatal(err)
				}
			}
		})
		t.Logf("%d reads through a, %d through b during 3 resizes; none stale or failed", ra, rb)
	})

	t.Run("Takeover", func(t *testing.T) {
		var keys []string
		for i := range 10 {
			k := "k" + string(rune('a'+i))
			expect(t, onA.do("PUT", keyPath(k), bytes.NewReader(pixpooltest.PNG(t, 8, 8, uint8(i)))), http.StatusCreated)
			keys = append(keys, k)
		}
		l := &loadClient{base: b.url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; rctx.Err() == nil; i++ {
				l.get(t, keys[i%len(keys)])
				time.Sleep(5 * time.Millisecond)
			}
		})
		a.Main.crash = true // die holding the lease
		if err := a.stop(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitFor(t, 15*time.Second, "b takes over", b.Manager.Leading)
		took := time.Since(start)
		waitFor(t, 5*time.Second, "b's own nodes answer", func() bool {
			st := b.Pool.Stats(ctx)
			for _, ns := range st {
				if !ns.Up {
					return false
				}
			}
			return len(st) == 3
		})
		time.Sleep(200 * time.Millisecond)
		cancel()
		wg.Wait()
		if n := l.failures.Load(); n > 0 {
			t.Fatalf("%d requests failed during the takeover; last: %s", n, l.lastErr)
		}
		t.Logf("b took over %v after a died; %d reads meanwhile, none failed", took.Round(100*time.Millisecond), l.reads.Load())
	})
}

// newUserDB creates an account in the store at dsn and returns an API key.
func newUserDB(t *testing.T, dsn, name string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	t.Setenv("PIXPOOL_PASSWORD", "password123")
	for _, args := range [][]string{{"user", "create", "--db", dsn, name}, {"apikey", "create", "--db", dsn, name}} {
		out.Reset()
		if err := run(context.Background(), args, nil, &out, &errOut); err != nil {
			t.Fatalf("%v: %v %s", args, err, errOut.String())
		}
	}
	return strings.TrimSpace(out.String())
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resizesUnderLoad stores 30 images (keys prefix+...) through b, then runs
// resize while uploads go through b and reads through a and b, and fails
// the test if a request failed or a read returned bytes older than a
// finished upload. It returns the reads through a and through b.
func resizesUnderLoad(t *testing.T, a, b *server, key, prefix string, resize func()) (readsA, readsB int64) {
	t.Helper()
	onB := &client{t, b.url, key}
	vs := newVersions()
	var keys []string
	for i := range 30 {
		k := prefix + string(rune('a'+i%26)) + string(rune('0'+i/26))
		img := pixpooltest.PNG(t, 12, 12, uint8(i))
		v := vs.writing(k, img)
		expect(t, onB.do("PUT", keyPath(k), bytes.NewReader(img)), http.StatusCreated)
		vs.wrote(k, img, v)
		keys = append(keys, k)
	}
	la := &loadClient{base: a.url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	lb := &loadClient{base: b.url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // also when resize fails the test
	defer cancel()
	for _, l := range []*loadClient{la, lb} {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := keys[i%len(keys)]
				floor := vs.floor(k)
				if data, ok := l.get(t, k); ok && !vs.check(k, data, floor) {
					l.stale.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			k := keys[(i*7)%len(keys)]
			img := pixpooltest.PNG(t, 13+i%7, 12, uint8(i))
			v := vs.writing(k, img)
			if lb.put(t, k, img) {
				vs.wrote(k, img, v)
			}
		}
	})
	resize()
	cancel()
	wg.Wait()
	for _, l := range []*loadClient{la, lb} {
		if n := l.failures.Load(); n > 0 {
			t.Fatalf("%d requests failed; last: %s", n, l.lastErr)
		}
		if n := l.stale.Load(); n > 0 {
			t.Fatalf("%d reads through %s returned bytes older than a finished upload", n, l.base)
		}
	}
	return la.reads.Load(), lb.reads.Load()
}

// replicaConfig configures replicas that share a new PostgreSQL database,
// an S3 bucket and a pool of two 8 MB cache nodes.
func replicaConfig(t *testing.T) Config {
	t.Helper()
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	return Config{DB: dsn, Blob: pixpooltest.S3Bucket(t), CacheSize: 2, CacheCapacity: 8, CachePolicy: "lru", AdminPassword: "adminpass1"}
}
