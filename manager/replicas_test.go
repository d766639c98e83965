package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pool"
)

// replicaPair opens a leader and a follower on one store, as two serve
// replicas are: each has its own pool client (with a hot tier) and
// manager; the follower adopted the leader's layout once and is not
// polled again unless the test does.
func replicaPair(t *testing.T) (leader, follower *Manager) {
	t.Helper()
	st := openStore(t, t.TempDir())
	leader = newManager(t, st)
	leader.Pool.HotBytes = 8 << 20
	quiet := slog.New(slog.DiscardHandler)
	follower = &Manager{
		Store:    st,
		Pool:     &pool.Client{Logger: quiet, HotBytes: 8 << 20},
		Provider: &LocalProvider{Logger: quiet},
		Logger:   quiet,
		// A short TTL: the follower stops trusting its layout 100 ms after
		// a poll, and the leader counts it gone 300 ms after.
		ReplicaID:  "follower",
		ReplicaTTL: 300 * time.Millisecond,
	}
	follower.Pool.Refresh = follower.Follow
	if err := follower.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follower.Pool.Close() })
	return leader, follower
}

// TestReplicas_SlowFollower: resizes run on the leader while a follower,
// whose polls of the store are held up (a loaded machine, a slow
// database), keeps writing: once a write through the follower returns, no
// read on either replica returns an older value, during or after the
// resizes. Reads may miss (the caller then reads the stores).
func TestReplicas_SlowFollower(t *testing.T) {
	ctx := context.Background()
	leader, follower := replicaPair(t)
	const nkeys = 300
	keys := make([]string, nkeys)
	var mu sync.Mutex
	done := make(map[string]int) // the last version whose write returned
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		if err := follower.Pool.Set(ctx, keys[i], []byte(keys[i]+"/0")); err != nil {
			t.Fatal(err)
		}
		done[keys[i]] = 0
	}
	// Fill both hot tiers.
	for _, k := range keys {
		leader.Pool.Get(ctx, k)
		follower.Pool.Get(ctx, k)
	}
	check := func(who string, c *pool.Client, k string) error {
		mu.Lock()
		floor := done[k]
		mu.Unlock()
		v, err := c.Get(ctx, k)
		if errors.Is(err, pixpool.ErrCacheMiss) || err != nil {
			return nil
		}
		key, vs, _ := strings.Cut(string(v), "/")
		ver, perr := strconv.Atoi(vs)
		if key != k || perr != nil {
			return fmt.Errorf("%s read %q for %s", who, v, k)
		}
		if ver < floor {
			return fmt.Errorf("%s read version %d of %s after version %d was written", who, ver, k, floor)
		}
		return nil
	}

	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var stale []error
	var staleMu sync.Mutex
	wg.Go(func() {
		for i := 1; ; i++ {
			if rctx.Err() != nil {
				return
			}
			k := keys[(i*7)%nkeys]
			if err := follower.Pool.Set(ctx, k, []byte(k+"/"+strconv.Itoa(i))); err == nil {
				mu.Lock()
				done[k] = max(done[k], i)
				mu.Unlock()
			}
			for _, r := range []struct {
				who string
				c   *pool.Client
			}{{"leader", leader.Pool}, {"follower", follower.Pool}} {
				if err := check(r.who, r.c, k); err != nil {
					staleMu.Lock()
					stale = append(stale, err)
					staleMu.Unlock()
				}
			}
		}
	})
	for _, n := range []int{4, 2, 3} {
		if _, err := leader.Resize(ctx, n, "test"); err != nil {
			cancel()
			wg.Wait()
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // writes and reads after the last resize
	cancel()
	wg.Wait()
	// Every key, read on both replicas once writes have stopped.
	for _, k := range keys {
		for _, r := range []struct {
			who string
			c   *pool.Client
		}{{"leader", leader.Pool}, {"follower", follower.Pool}} {
			if err := check(r.who, r.c, k); err != nil {
				stale = append(stale, err)
			}
		}
	}
	if len(stale) > 0 {
		t.Fatalf("%d stale reads, the first: %v", len(stale), stale[0])
	}
}

// TestReplicas_StalledFollower: a follower that stops polling altogether
// (no Refresh either) while the leader resizes and rewrites every key
// reads none of its old values, from its nodes or its hot tier; the
// leader does not wait for it longer than its TTL, and once it polls again
// reads and writes by the new layout.
func TestReplicas_StalledFollower(t *testing.T) {
	ctx := context.Background()
	leader, follower := replicaPair(t)
	follower.Pool.Refresh = nil
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = "s" + strconv.Itoa(i)
		if err := follower.Pool.Set(ctx, keys[i], []byte("old")); err != nil {
			t.Fatal(err)
		}
		follower.Pool.Get(ctx, keys[i]) // a hot copy
	}
	for _, n := range []int{4, 1} {
		if _, err := leader.Resize(ctx, n, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		if err := leader.Pool.Set(ctx, k, []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	read := func(who string, c *pool.Client, want string) {
		t.Helper()
		for _, k := range keys {
			if v, err := c.Get(ctx, k); err == nil && string(v) != want {
				t.Fatalf("%s read %q for %s, want %q or a miss", who, v, k, want)
			}
		}
	}
	read("the stalled follower", follower.Pool, "new")
	if err := follower.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	if e1, _ := leader.Pool.Layout(); e1 != follower.State().Epoch {
		t.Fatalf("follower at epoch %d after a poll, leader at %d", follower.State().Epoch, e1)
	}
	read("the follower after a poll", follower.Pool, "new")
	if err := follower.Follow(ctx); err != nil { // it trusts a poll for 100 ms
		t.Fatal(err)
	}
	if v, err := follower.Pool.Get(ctx, keys[0]); err != nil || string(v) != "new" {
		t.Fatalf("follower after a poll: Get(%s)=%q, %v; want a hit", keys[0], v, err)
	}
	for _, k := range keys {
		if err := follower.Pool.Set(ctx, k, []byte("newer")); err != nil {
			t.Fatal(err)
		}
	}
	read("the leader", leader.Pool, "newer")
}
