package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestClient_NotCurrent: a client whose layout can no longer be confirmed
// reads nothing from the nodes, not even a hot copy; a write confirms the
// layout first (Refresh), and one it cannot confirm is undone everywhere
// once the layout is current again (Reconcile).
func TestClient_NotCurrent(t *testing.T) {
	ctx := context.Background()
	infos, _ := cluster(t, 1, 2)
	for _, hot := range []int64{0, 1 << 20} {
		c := newTestClient(t)
		c.HotBytes = hot
		c.SetLayout(1, infos)
		if err := c.Set(ctx, "k", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		c.Get(ctx, "k") // a hot copy, with a hot tier
		c.SetCurrentUntil(time.Now())
		if v, err := c.Get(ctx, "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
			t.Fatalf("hot %d: Get while not current=%q, %v; want a miss", hot, v, err)
		}

		refreshed := 0
		c.Refresh = func(context.Context) error {
			refreshed++
			c.SetCurrentUntil(time.Now().Add(time.Hour))
			return nil
		}
		if err := c.Set(ctx, "k", []byte("v2")); err != nil || refreshed != 1 {
			t.Fatalf("hot %d: Set=%v after %d refreshes; want 1", hot, err, refreshed)
		}
		if v, err := c.Get(ctx, "k"); err != nil || string(v) != "v2" {
			t.Fatalf("hot %d: Get after a confirmed write=%q, %v", hot, v, err)
		}

		// Refresh fails: the write goes by the layout the client has and
		// is deleted everywhere once it is current again.
		c.SetCurrentUntil(time.Now())
		c.Refresh = func(context.Context) error { return errors.New("store down") }
		c.Set(ctx, "k", []byte("v3"))
		c.SetCurrentUntil(time.Time{})
		c.Reconcile(ctx)
		if v, err := c.Get(ctx, "k"); !errors.Is(err, pixpool.ErrCacheMiss) {
			t.Fatalf("hot %d: Get of a key written while not current, after Reconcile=%q, %v; want a miss", hot, v, err)
		}
	}
}
