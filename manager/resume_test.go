package manager

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestResume: a follower thawed from a freeze stops trusting its layout
// at once, and its next poll stores a new heartbeat (a new chain) before
// it trusts the layout again, as a new replica's does; the leader is left
// alone.
func TestResume(t *testing.T) {
	ctx := context.Background()
	leader, follower := replicaPair(t)
	rows := func() []string {
		all, err := follower.Store.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for name := range all {
			if strings.HasPrefix(name, replicaPrefix) {
				out = append(out, strings.TrimPrefix(name, replicaPrefix))
			}
		}
		slices.Sort(out)
		return out
	}
	if err := follower.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	if !follower.Pool.Current() {
		t.Fatal("a follower that just polled does not trust its layout")
	}
	if got, want := rows(), []string{"follower/1"}; !slices.Equal(got, want) {
		t.Fatalf("heartbeats %q, want %q", got, want)
	}

	follower.Resume(ctx)
	if follower.Pool.Current() {
		t.Fatal("Resume left the layout trusted")
	}
	if err := follower.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	if !follower.Pool.Current() {
		t.Fatal("the poll after Resume does not trust the layout")
	}
	if got, want := rows(), []string{"follower/2"}; !slices.Equal(got, want) {
		t.Fatalf("heartbeats after Resume and a poll %q, want a new chain %q", got, want)
	}

	leader.Resume(ctx)
	if !leader.Pool.Current() {
		t.Fatal("Resume on the leader stopped it trusting its own layout")
	}
}

// TestApplyPending: a leader that runs now and then applies the change
// asked through the store once, and the asker gets its result.
func TestApplyPending(t *testing.T) {
	ctx := context.Background()
	leader, _ := replicaPair(t)
	if did, err := leader.ApplyPending(ctx); did || err != nil {
		t.Fatalf("ApplyPending()=%v, %v with nothing asked; want false, nil", did, err)
	}
	type answer struct {
		res Result
		err error
	}
	asked := make(chan answer, 1)
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go func() {
		res, err := Ask(actx, leader.Store, "policy", "rr")
		asked <- answer{res, err}
	}()
	for {
		did, err := leader.ApplyPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if did {
			break
		}
		if actx.Err() != nil {
			t.Fatal("the request never came")
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := <-asked
	if a.err != nil || a.res.Error != "" || a.res.State.Policy != "rr" {
		t.Fatalf("Ask: %+v, %v; want the policy rr applied", a.res, a.err)
	}
	if did, err := leader.ApplyPending(ctx); did || err != nil {
		t.Fatalf("ApplyPending()=%v, %v again; want false, nil: it was answered", did, err)
	}
}

// TestPruneReplicas: the heartbeats of replicas long gone are deleted,
// those of live ones kept.
func TestPruneReplicas(t *testing.T) {
	ctx := context.Background()
	leader, follower := replicaPair(t)
	old := heartbeat{Epoch: 1, At: time.Now().Add(-time.Hour)} // gone for 600 TTLs
	if err := leader.writeHeartbeat(ctx, replicaPrefix+"gone/1", old); err != nil {
		t.Fatal(err)
	}
	if err := follower.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := leader.PruneReplicas(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := leader.Store.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all[replicaPrefix+"gone/1"]; ok {
		t.Error("a heartbeat an hour old was kept")
	}
	if _, ok := all[replicaPrefix+"follower/1"]; !ok {
		t.Errorf("the live follower's heartbeat was dropped: %v", all)
	}
}
