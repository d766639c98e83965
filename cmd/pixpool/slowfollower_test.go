package main

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool/pixpooltest"
)

// TestServe_ReplicasSlowFollower: as TestServe_Replicas/ResizeAcross, but
// the follower's polls of the pool's state are held up for longer than a
// poll interval and a resize's wait while the leader resizes (a loaded
// machine, a slow database): still no read, on either replica, returns
// bytes older than a finished upload.
func TestServe_ReplicasSlowFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	dsn, err := pixpooltest.PostgresDatabase(t, "ENCODING 'UTF8'")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DB: dsn, Blob: pixpooltest.S3Bucket(t), CacheSize: 2, CacheCapacity: 8, CachePolicy: "lru", AdminPassword: "adminpass1"}
	a := startServer(t, cfg)
	var slow atomic.Bool
	b := startServer(t, cfg, func(m *Main) {
		m.beforeFollow = func() {
			if slow.Load() {
				time.Sleep(2500 * time.Millisecond)
			}
		}
	})
	if !a.Manager.Leading() || b.Manager.Leading() {
		t.Fatalf("leading: a %v, b %v; want exactly a", a.Manager.Leading(), b.Manager.Leading())
	}
	ctx := context.Background()
	key := newUserDB(t, dsn, "ada")
	onB := &client{t, b.url, key}

	vs := newVersions()
	var keys []string
	for i := range 30 {
		k := "s" + string(rune('a'+i%26)) + string(rune('0'+i/26))
		img := pixpooltest.PNG(t, 12, 12, uint8(i))
		v := vs.writing(k, img)
		expect(t, onB.do("PUT", keyPath(k), bytes.NewReader(img)), http.StatusCreated)
		vs.wrote(k, img, v)
		keys = append(keys, k)
	}
	la := &loadClient{base: a.url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	lb := &loadClient{base: b.url, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, l := range []*loadClient{la, lb} {
		wg.Go(func() {
			for i := 0; rctx.Err() == nil; i++ {
				k := keys[i%len(keys)]
				floor := vs.floor(k)
				if data, ok := l.get(t, k); ok && !vs.check(k, data, floor) {
					l.stale.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; rctx.Err() == nil; i++ {
			k := keys[(i*7)%len(keys)]
			img := pixpooltest.PNG(t, 13+i%7, 12, uint8(i))
			v := vs.writing(k, img)
			if lb.put(t, k, img) {
				vs.wrote(k, img, v)
			}
		}
	})
	slow.Store(true)
	time.Sleep(3 * time.Second) // b's poll under way is held up
	for _, n := range []int{4, 2, 3} {
		if _, err := a.Manager.Resize(ctx, n, "test"); err != nil {
			t.Fatal(err)
		}
	}
	slow.Store(false)
	time.Sleep(3 * time.Second) // reads and writes once b has caught up
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
	t.Logf("%d reads through a, %d through b during 3 resizes with b's polls held up; none stale or failed", la.reads.Load(), lb.reads.Load())
}
