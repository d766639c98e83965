package manager

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pool"
)

func TestBuckets(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 30, 20, 0, time.UTC)
	at := func(min, sec int) time.Time { return time.Date(2026, 11, 27, 12, min, sec, 0, time.UTC) }
	samples := []pixpool.PoolSample{
		{At: at(0, 10), Nodes: 9, Hits: 100}, // before the window
		{At: at(1, 5), Nodes: 2, Items: 10, Bytes: 100, Gets: 10, Hits: 8, Misses: 2, Sets: 1},
		{At: at(1, 10), Nodes: 2, Items: 12, Bytes: 120, Gets: 10, Hits: 2, Misses: 8, Sets: 3},
		{At: at(29, 55), Nodes: 3, Items: 30, Bytes: 300, Gets: 4, Misses: 4},
		{At: at(30, 5), Nodes: 4, Items: 40, Bytes: 400, Gets: 0},
	}
	b := Buckets(samples, now, 30)
	if len(b) != 30 {
		t.Fatalf("len=%d", len(b))
	}
	if got, want := b[0].Start, at(1, 0); !got.Equal(want) {
		t.Fatalf("first bucket starts %v, want %v", got, want)
	}
	first := b[0]
	if first.Samples != 2 || first.Nodes != 2 || first.Items != 12 || first.Bytes != 120 || first.Requests != 24 {
		t.Fatalf("bucket 12:01 = %+v", first)
	}
	if math.Abs(first.MissRate-0.5) > 1e-9 || math.Abs(first.HitRate-0.5) > 1e-9 {
		t.Fatalf("rates %v/%v, want 0.5/0.5 (10 misses of 20 lookups, weighted)", first.MissRate, first.HitRate)
	}
	if b[1].Samples != 0 || b[1].MissRate != 0 {
		t.Fatalf("empty bucket %+v", b[1])
	}
	if b[28].MissRate != 1 || b[28].Nodes != 3 {
		t.Fatalf("bucket 12:29 = %+v", b[28])
	}
	if last := b[29]; last.Nodes != 4 || last.MissRate != 0 || last.HitRate != 0 {
		t.Fatalf("bucket 12:30 = %+v (no lookups: rates 0)", last)
	}
}

func TestDelta(t *testing.T) {
	prev := pool.NodeStats{NodeInfo: pool.NodeInfo{ID: "n", Addr: "a"}, Uptime: 10, Gets: 100, Hits: 60, Misses: 40, Sets: 5}
	cur := prev
	cur.Uptime, cur.Gets, cur.Hits, cur.Misses, cur.Sets = 15, 110, 65, 45, 6
	if d := delta(prev, cur); d.Gets != 10 || d.Hits != 5 || d.Misses != 5 || d.Sets != 1 {
		t.Fatalf("delta=%+v", d)
	}
	restarted := cur
	restarted.Addr, restarted.Uptime, restarted.Gets, restarted.Hits, restarted.Misses = "b", 2, 7, 3, 4
	if d := delta(prev, restarted); d.Gets != 7 || d.Misses != 4 {
		t.Fatalf("delta after restart=%+v, want the new counters", d)
	}
}

func TestCollector(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	m := newManager(t, st)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c := &Collector{Store: st, Pool: m.Pool, Now: func() time.Time { return now }}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// Traffic: 3 sets, 2 hits, 4 misses.
	for _, k := range []string{"a", "b", "c"} {
		m.Pool.Set(ctx, k, []byte(k))
	}
	for _, k := range []string{"a", "b", "x", "y", "z", "w"} {
		m.Pool.Get(ctx, k)
	}
	now = now.Add(5 * time.Second)
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	samples, err := st.PoolSamples(ctx, time.Time{})
	if err != nil || len(samples) != 2 {
		t.Fatalf("samples %v, %v", samples, err)
	}
	s := samples[1]
	if s.Nodes != 2 || s.Up != 2 || s.Items != 3 || s.Hits != 2 || s.Misses != 4 || s.Sets != 3 || s.Gets != 6 {
		t.Fatalf("second sample %+v", s)
	}
	if samples[0].Gets != 0 {
		t.Fatalf("first sample counts traffic from before it: %+v", samples[0])
	}
	w, err := Window(ctx, st, now.Add(-time.Minute), now)
	if err != nil || w.Lookups != 6 || w.Misses != 4 {
		t.Fatalf("Window=%+v, %v", w, err)
	}
	nodes, _ := st.NodeSamples(ctx, time.Time{})
	if len(nodes) != 4 {
		t.Fatalf("%d node samples, want 4", len(nodes))
	}
}
