package storetest

import (
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func poolSample(at time.Time, i int64) pixpool.PoolSample {
	return pixpool.PoolSample{At: at, Nodes: int(i%8) + 1, Up: int(i % 8), Items: 10 * i, Bytes: 1000 * i,
		Gets: 7 * i, Hits: 5 * i, Misses: 2 * i, Sets: 3 * i}
}

func nodeSamples(at time.Time, i int64) []pixpool.NodeSample {
	return []pixpool.NodeSample{
		{At: at, Node: "node-2", Up: true, Items: i, Bytes: 2 * i, Capacity: 64 << 20, Gets: 3 * i, Hits: 2 * i, Misses: i, Sets: 4 * i, Evictions: 5 * i},
		{At: at, Node: "node-1", Up: false},
	}
}

func testStats(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	if got, err := s.PoolSamples(ctx, time.Time{}); err != nil || len(got) != 0 {
		t.Fatalf("PoolSamples(empty)=%v, %v", got, err)
	}
	// Stored out of order; they come back oldest first.
	for _, i := range []int64{3, 1, 2} {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		if err := s.AddStats(ctx, poolSample(at, i), nodeSamples(at, i)); err != nil {
			t.Fatalf("AddStats(%d)=%v", i, err)
		}
	}
	got, err := s.PoolSamples(ctx, t0.Add(5*time.Second)) // after the first
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("len(PoolSamples)=%d, want 2", len(got))
	}
	for k, i := range []int64{2, 3} {
		want := poolSample(t0.Add(time.Duration(i)*5*time.Second), i)
		checkTime(t, "At", got[k].At, want.At)
		got[k].At = want.At
		if got[k] != want {
			t.Fatalf("PoolSamples()[%d]=%+v, want %+v", k, got[k], want)
		}
	}
	nodes, err := s.NodeSamples(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 6 || nodes[0].Node != "node-1" || nodes[1].Node != "node-2" || nodes[0].Up || !nodes[1].Up {
		t.Fatalf("NodeSamples()=%+v, want 6 ordered by time then node", nodes)
	}
	want := nodeSamples(t0.Add(15*time.Second), 3)[0]
	gotN := nodes[5]
	checkTime(t, "At", gotN.At, want.At)
	gotN.At = want.At
	if gotN != want {
		t.Fatalf("NodeSamples()[5]=%+v, want %+v", gotN, want)
	}
}

func testStatsRetention(t *testing.T, s pixpool.Store) {
	ctx := t.Context()
	for i := range int64(10) {
		at := t0.Add(time.Duration(i) * time.Minute)
		if err := s.AddStats(ctx, poolSample(at, i), nodeSamples(at, i)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteStatsBefore(ctx, t0.Add(4*time.Minute))
	if err != nil || n != 4 {
		t.Fatalf("DeleteStatsBefore()=%d, %v; want 4", n, err)
	}
	got, _ := s.PoolSamples(ctx, time.Time{})
	if len(got) != 6 {
		t.Fatalf("after retention: %d samples, want 6", len(got))
	}
	checkTime(t, "first At", got[0].At, t0.Add(4*time.Minute))
	if got, _ := s.NodeSamples(ctx, time.Time{}); len(got) != 12 {
		t.Fatalf("after retention: %d node samples, want 12", len(got))
	}
}
