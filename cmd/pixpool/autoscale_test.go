package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pixpooltest"
)

// TestServe_Autoscale runs the real wiring with short intervals: a
// miss-heavy load (far more distinct images than fit in the pool) makes it
// grow; a hit-heavy load on a few keys then makes it shrink. No request
// fails meanwhile.
func TestServe_Autoscale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cache node processes")
	}
	s := startServer(t, Config{
		CacheSize: 1, CacheCapacity: 1, CachePolicy: "lru",
		StatsInterval: 200 * time.Millisecond, AutoscaleInterval: 500 * time.Millisecond,
	}, func(m *Main) { m.Scaler.Span = 2 * time.Second })
	ctx := context.Background()
	p := autoscale.Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 2, Shrink: 0.5, MinNodes: 1, MaxNodes: 4, Cooldown: time.Second}
	if err := s.Manager.SetMode(ctx, manager.ModeAuto, p); err != nil {
		t.Fatal(err)
	}
	l := &loadClient{base: s.url, key: newUser(t, s, "ada", false), http: &http.Client{Timeout: 30 * time.Second}}
	// 60 images of about 40 KB: 2.4 MB, against pools of 1 MB nodes.
	var keys []string
	for i := range 60 {
		k := fmt.Sprintf("big-%02d", i)
		if !l.put(t, k, pixpooltest.NoisyPNG(t, 100+i, 100)) {
			t.Fatal(l.lastErr)
		}
		keys = append(keys, k)
	}

	// loadUntil reads keys round-robin until the pool has want nodes, for
	// at most 60 s.
	loadUntil := func(keys []string, want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; s.Manager.Size() != want; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("pool has %d nodes after 60 s of load, want %d; history %+v", s.Manager.Size(), want, s.Manager.State().Resizes)
			}
			l.get(t, keys[i%len(keys)])
		}
	}
	loadUntil(keys, 4)     // 1 -> 2 -> 4 on misses
	loadUntil(keys[:3], 1) // 4 -> 2 -> 1 on hits

	if n := l.failures.Load(); n > 0 {
		t.Fatalf("%d requests failed; last: %s", n, l.lastErr)
	}
	var sizes []string
	for _, r := range s.Manager.State().Resizes {
		if !strings.HasPrefix(r.Reason, "auto: miss rate") {
			t.Fatalf("resize reason %q", r.Reason)
		}
		sizes = append(sizes, fmt.Sprintf("%d->%d", r.From, r.To))
	}
	if got, want := strings.Join(sizes, " "), "1->2 2->4 4->2 2->1"; got != want {
		t.Fatalf("resizes %s, want %s", got, want)
	}
	t.Logf("%d reads, none failed; resizes %s", l.reads.Load(), strings.Join(sizes, " "))
}
