package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
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
	cfg := replicaConfig(t)
	dsn := cfg.DB
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

	ra, rb := resizesUnderLoad(t, a, b, key, "s", func() {
		slow.Store(true)
		time.Sleep(3 * time.Second) // b's poll under way is held up
		for _, n := range []int{4, 2, 3} {
			if _, err := a.Manager.Resize(ctx, n, "test"); err != nil {
				t.Fatal(err)
			}
		}
		slow.Store(false)
		time.Sleep(3 * time.Second) // reads and writes once b has caught up
	})
	t.Logf("%d reads through a, %d through b during 3 resizes with b's polls held up; none stale or failed", ra, rb)
}
