package manager

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
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

func TestSum(t *testing.T) {
	at := func(sec int) time.Time { return time.Date(2026, 11, 27, 12, 0, sec, 0, time.UTC) }
	samples := []pixpool.PoolSample{
		{At: at(0), Hits: 100, Misses: 100}, // at since: not after it
		{At: at(5), Hits: 3, Misses: 1},
		{At: at(10), Hits: 4, Misses: 2},
		{At: at(15), Hits: 50, Misses: 50}, // after now
	}
	if got, want := Sum(samples, at(0), at(10)), (autoscale.Stats{Lookups: 10, Misses: 3}); got != want {
		t.Fatalf("Sum()=%+v, want %+v", got, want)
	}
}

// TestTraffic: what a node's reading counts against its baseline reading.
func TestTraffic(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 10, 0, time.UTC)
	base := pixpool.NodeSample{At: at.Add(-5 * time.Second), Node: "n", Up: true, Gets: 100, Hits: 60, Misses: 40, Sets: 7}
	reading := func(uptime, hits, misses, sets int64) pool.NodeStats {
		return pool.NodeStats{NodeInfo: pool.NodeInfo{ID: "n"}, Up: true, Uptime: uptime, Gets: hits + misses, Hits: hits, Misses: misses, Sets: sets}
	}
	for _, tt := range []struct {
		name       string
		origin     time.Time
		cur        pool.NodeStats
		base       bool
		hits, miss int64
	}{
		{"SameRun", time.Time{}, reading(3600, 65, 45, 9), true, 5, 5},
		{"SameRunStartedJustBeforeBaseline", time.Time{}, reading(6, 61, 40, 7), true, 1, 0},
		{"RestartedCountersReset", time.Time{}, reading(2, 3, 1, 0), true, 3, 1},
		{"RestartedCountersPastBaseline", time.Time{}, reading(3, 70, 50, 9), true, 70, 50},
		{"NewNode", time.Time{}, reading(4, 15, 0, 1), false, 15, 0},
		{"NewNodeAfterOrigin", at.Add(-time.Minute), reading(4, 15, 2, 1), false, 15, 2},
		{"StaticNodeOlderThanOrigin", at.Add(-time.Minute), reading(86400, 1e6, 1e5, 1e4), false, 0, 0},
		{"StartedWithOriginWithinUptimeGrain", at.Add(-4 * time.Second), reading(4, 9, 9, 9), false, 0, 0},
		{"UnheardOfBeyondTheHorizon", time.Time{}, reading(3600, 1e6, 1e5, 1e4), false, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := traffic(at, tt.origin, DefaultHorizon, tt.cur, base, tt.base)
			if d.Hits != tt.hits || d.Misses != tt.miss || d.Gets != tt.hits+tt.miss {
				t.Fatalf("traffic=%+v, want %d hits and %d misses", d, tt.hits, tt.miss)
			}
		})
	}
}

// fakeNodes are nodes whose counters the test sets.
type fakeNodes struct {
	mu    sync.Mutex // guards nodes
	nodes []pool.NodeStats
}

func (f *fakeNodes) Stats(context.Context) []pool.NodeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.NodeStats(nil), f.nodes...)
}

// start adds a node, or restarts one under the same id with zero counters.
func (f *fakeNodes) start(id string) {
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			f.nodes[i] = pool.NodeStats{NodeInfo: pool.NodeInfo{ID: id}, Up: true}
			return
		}
	}
	f.nodes = append(f.nodes, pool.NodeStats{NodeInfo: pool.NodeInfo{ID: id}, Up: true})
}

// serve counts lookups on a node.
func (f *fakeNodes) serve(id string, hits, misses int64) {
	for i := range f.nodes {
		if n := &f.nodes[i]; n.ID == id {
			n.Hits, n.Misses, n.Gets = n.Hits+hits, n.Misses+misses, n.Gets+hits+misses
		}
	}
}

// tick lets time pass on the nodes.
func (f *fakeNodes) tick(d time.Duration) {
	for i := range f.nodes {
		f.nodes[i].Uptime += int64(d / time.Second)
	}
}

func (f *fakeNodes) up(id string, up bool) {
	for i := range f.nodes {
		if f.nodes[i].ID == id {
			f.nodes[i].Up = up
		}
	}
}

// clock is the test's time, shared by the meter and the fake nodes.
type clock struct {
	now   time.Time
	nodes *fakeNodes
}

func (c *clock) Now() time.Time { return c.now }
func (c *clock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	c.nodes.tick(d)
}

func wantWindow(t *testing.T, m *Meter, since, now time.Time, lookups, misses int64) {
	t.Helper()
	w, err := m.Window(context.Background(), since, now)
	if err != nil {
		t.Fatal(err)
	}
	if w.Lookups != lookups || w.Misses != misses {
		t.Fatalf("Window=%+v, want %d lookups and %d misses", w, lookups, misses)
	}
}

// TestMeter_FreshPool is issue 12's report: a new pool serves 15 hits;
// its traffic counts at once, before any sample, and after the first.
func TestMeter_FreshPool(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	nodes := &fakeNodes{}
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), nodes: nodes}
	nodes.start("node-1")
	nodes.start("node-2")
	m := &Meter{Store: st, Nodes: nodes}
	c := &Collector{Store: st, Meter: m, Now: clk.Now}

	clk.advance(2 * time.Second)
	nodes.serve("node-1", 10, 0)
	nodes.serve("node-2", 5, 0)
	wantWindow(t, m, clk.now.Add(-time.Minute), clk.now, 15, 0) // no sample yet

	clk.advance(3 * time.Second)
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	samples, err := st.PoolSamples(ctx, time.Time{})
	if err != nil || len(samples) != 1 {
		t.Fatalf("samples %v, %v", samples, err)
	}
	if s := samples[0]; s.Hits != 15 || s.Misses != 0 || s.Gets != 15 || s.Up != 2 {
		t.Fatalf("first sample %+v: a new node's baseline is zero, not its first reading", s)
	}
	wantWindow(t, m, clk.now.Add(-time.Minute), clk.now, 15, 0)

	// 20 s later, with samples and more traffic in progress.
	for range 4 {
		clk.advance(5 * time.Second)
		if err := c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(2 * time.Second)
	nodes.serve("node-2", 0, 5)
	wantWindow(t, m, clk.now.Add(-time.Minute), clk.now, 20, 5)
	// A minute on, sampled all along, only what is newer counts.
	for range 12 {
		clk.advance(5 * time.Second)
		if err := c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(6 * time.Second) // past the sample that holds the 5 misses
	nodes.serve("node-1", 1, 1)
	wantWindow(t, m, clk.now.Add(-time.Minute), clk.now, 2, 1)
}

// TestCollector_Lifecycle follows a pool through traffic between samples,
// a resize, a node restarted under its id, and a node down for a sample:
// every lookup is counted once, and the live window always equals what
// the next stored sample holds.
func TestCollector_Lifecycle(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	nodes := &fakeNodes{}
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), nodes: nodes}
	nodes.start("node-1")
	nodes.start("node-2")
	m := &Meter{Store: st, Nodes: nodes}
	c := &Collector{Store: st, Meter: m, Now: clk.Now}
	var total, totalMiss int64
	// step serves traffic, checks the live window, then samples and checks
	// the stored sample holds the same.
	step := func(what string, serve func()) {
		t.Helper()
		clk.advance(5 * time.Second)
		serve()
		live, err := m.Window(ctx, time.Time{}, clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		stored, err := storedWindow(ctx, st, clk.now)
		if err != nil {
			t.Fatal(err)
		}
		if live != stored {
			t.Fatalf("%s: live window %+v, then the stored samples say %+v", what, live, stored)
		}
		total, totalMiss = live.Lookups, live.Misses
	}
	want := func(what string, lookups, misses int64) {
		t.Helper()
		if total != lookups || totalMiss != misses {
			t.Fatalf("%s: %d lookups, %d misses counted, want %d and %d", what, total, totalMiss, lookups, misses)
		}
	}

	step("first", func() { nodes.serve("node-1", 4, 1) })
	want("first", 5, 1)
	step("both", func() { nodes.serve("node-1", 1, 0); nodes.serve("node-2", 2, 2) })
	want("both", 10, 3)
	step("resize", func() { nodes.start("node-3"); nodes.serve("node-3", 3, 3) })
	want("a node that joined in a resize", 16, 6)
	step("restart", func() { nodes.start("node-1"); clk.advance(2 * time.Second); nodes.serve("node-1", 2, 0) })
	want("a node restarted under its id", 18, 6)
	step("down", func() { nodes.serve("node-2", 1, 0); nodes.up("node-2", false) })
	want("a node down at the sample", 18, 6)
	step("back", func() { nodes.up("node-2", true); nodes.serve("node-2", 0, 1) })
	want("a node back: its traffic since its last reading", 20, 7)

	samples, _ := st.PoolSamples(ctx, time.Time{})
	if s := samples[len(samples)-1]; s.Nodes != 3 || s.Up != 3 {
		t.Fatalf("last sample %+v", s)
	}
}

// storedWindow sums the stored samples only, up to now.
func storedWindow(ctx context.Context, st pixpool.StatsStore, now time.Time) (autoscale.Stats, error) {
	samples, err := st.PoolSamples(ctx, time.Time{})
	return Sum(samples, time.Time{}, now), err
}

// TestMeter_AdoptedPool: a new leader (a new Collector, in another
// process) measures against the previous leader's stored readings: a
// node still running counts only what is new, a node started afresh
// under the same id counts from its start.
func TestMeter_AdoptedPool(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	nodes := &fakeNodes{}
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), nodes: nodes}
	nodes.start("a")
	nodes.start("b")
	clk.advance(time.Hour)
	nodes.serve("a", 100, 100)
	nodes.serve("b", 50, 50)
	old := &Collector{Store: st, Meter: &Meter{Store: st, Nodes: nodes}, Now: clk.Now}
	if err := old.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	clk.advance(3 * time.Second)
	nodes.start("b") // the new leader restarts b under its id
	nodes.serve("a", 7, 1)
	nodes.serve("b", 2, 0)
	clk.advance(2 * time.Second)
	m := &Meter{Store: st, Nodes: nodes}
	if w, _ := m.Window(ctx, clk.now.Add(-4*time.Second), clk.now); w.Lookups != 10 || w.Misses != 1 {
		t.Fatalf("window after the takeover %+v, want 10 lookups, 1 miss", w)
	}
	leader := &Collector{Store: st, Meter: m, Now: clk.Now}
	if err := leader.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	samples, _ := st.PoolSamples(ctx, time.Time{})
	if s := samples[1]; s.Hits != 9 || s.Misses != 1 {
		t.Fatalf("the new leader's first sample %+v, want 9 hits, 1 miss", s)
	}
}

// TestMeter_StaticOrigin: a static node that ran before the pool's origin
// counts from its first reading, not its whole history.
func TestMeter_StaticOrigin(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	nodes := &fakeNodes{}
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), nodes: nodes}
	nodes.start("memcached:11211")
	clk.advance(30 * 24 * time.Hour)
	nodes.serve("memcached:11211", 1e6, 1e6)
	m := &Meter{Store: st, Nodes: nodes, Origin: clk.now}
	c := &Collector{Store: st, Meter: m, Now: clk.Now}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	nodes.serve("memcached:11211", 3, 1)
	wantWindow(t, m, clk.now.Add(-time.Minute), clk.now, 4, 1)
}

// TestMeter_DashboardAndScaler: the dashboard's current minute and the
// auto-scaler's window hold the interval in progress.
func TestMeter_DashboardAndScaler(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	nodes := &fakeNodes{}
	clk := &clock{now: time.Date(2026, 11, 27, 12, 0, 58, 0, time.UTC), nodes: nodes}
	nodes.start("node-1")
	m := &Meter{Store: st, Nodes: nodes}
	c := &Collector{Store: st, Meter: m, Now: clk.Now}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	nodes.serve("node-1", 1, 9) // after the last sample, in a new minute

	samples, err := m.Samples(ctx, clk.now.Add(-30*time.Minute), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	b := Buckets(samples, clk.now, 30)
	if last := b[len(b)-1]; last.Samples != 1 || last.Requests != 10 || math.Abs(last.MissRate-0.9) > 1e-9 || last.Nodes != 1 {
		t.Fatalf("current minute %+v, want the 10 lookups in progress", last)
	}

	p := &scaledPool{n: 1}
	s := &autoscale.Scaler{
		Pool:     p,
		Window:   m.Window,
		Settings: func() (bool, autoscale.Params) { return true, autoscale.DefaultParams },
		Now:      clk.Now,
	}
	if got := s.Step(ctx); got != 2 {
		t.Fatalf("Step()=%d, want 2: 9 misses of 10 lookups in progress", got)
	}
	if !strings.Contains(p.reason, "(10 lookups)") {
		t.Fatalf("reason %q", p.reason)
	}
}

type scaledPool struct {
	n      int
	reason string
}

func (p *scaledPool) Size() int             { return p.n }
func (p *scaledPool) LastResize() time.Time { return time.Time{} }
func (p *scaledPool) Resize(_ context.Context, n int, reason string) error {
	p.n, p.reason = n, reason
	return nil
}

// TestManager_Window runs real nodes: lookups count the moment they are
// made, on the nodes a resize adds too.
func TestManager_Window(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	m := newManager(t, st)
	c := &Collector{Store: st, Meter: m.Meter()}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	// 3 sets, 2 hits, 4 misses.
	for _, k := range []string{"a", "b", "c"} {
		m.Pool.Set(ctx, k, []byte(k))
	}
	for _, k := range []string{"a", "b", "x", "y", "z", "w"} {
		m.Pool.Get(ctx, k)
	}
	now := time.Now()
	if w, err := m.Window(ctx, now.Add(-time.Minute), now); err != nil || w.Lookups != 6 || w.Misses != 4 {
		t.Fatalf("Window=%+v, %v; want 6 lookups, 4 misses", w, err)
	}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	samples, err := st.PoolSamples(ctx, time.Time{})
	if err != nil || len(samples) != 2 {
		t.Fatalf("samples %v, %v", samples, err)
	}
	if s := samples[1]; s.Nodes != 2 || s.Up != 2 || s.Items != 3 || s.Hits != 2 || s.Misses != 4 || s.Sets != 3 || s.Gets != 6 {
		t.Fatalf("second sample %+v", s)
	}
	nodes, _ := st.NodeSamples(ctx, time.Time{})
	if len(nodes) != 4 {
		t.Fatalf("%d node samples, want 4", len(nodes))
	}

	// An empty pool grows (nothing to copy); the new nodes' lookups count.
	if err := m.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Resize(ctx, 4, "test"); err != nil {
		t.Fatal(err)
	}
	var onNew int64
	for i := range 20 {
		k := "new-" + string(rune('a'+i))
		m.Pool.Set(ctx, k, []byte(k))
		m.Pool.Get(ctx, k)
		m.Pool.Get(ctx, k+"-missing")
	}
	for _, ns := range m.Pool.Stats(ctx) {
		if ns.ID == "node-3" || ns.ID == "node-4" {
			onNew += ns.Gets
		}
	}
	if onNew == 0 {
		t.Fatal("no lookup reached the new nodes; the test proves nothing")
	}
	now = time.Now()
	if w, err := m.Window(ctx, now.Add(-time.Minute), now); err != nil || w.Lookups != 46 || w.Misses != 24 {
		t.Fatalf("Window after the resize=%+v, %v; want 46 lookups, 24 misses", w, err)
	}
}

// TestManager_ResizeLeavesOutItsCopying: the lookups a resize makes copying
// keys are no user's: neither the live window nor the stored samples count
// them, and the users' lookups around it all count.
func TestManager_ResizeLeavesOutItsCopying(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	m := newManager(t, st)
	c := &Collector{Store: st, Meter: m.Meter()}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		m.Pool.Set(ctx, fmt.Sprint("k", i), []byte("v"))
	}
	for i := range 10 {
		m.Pool.Get(ctx, fmt.Sprint("k", i))
	}
	for _, n := range []int{4, 1, 3} {
		rep, err := m.Resize(ctx, n, "test")
		if err != nil {
			t.Fatal(err)
		}
		if rep.Moved == 0 && n != 1 {
			t.Fatalf("resize to %d moved nothing; the test proves nothing", n)
		}
	}
	for i := range 5 {
		m.Pool.Get(ctx, fmt.Sprint("k", i))
		m.Pool.Get(ctx, fmt.Sprint("none", i))
	}
	now := time.Now()
	if w, err := m.Window(ctx, now.Add(-time.Minute), now); err != nil || w.Lookups != 20 || w.Misses != 5 {
		t.Fatalf("Window=%+v, %v; want the users' 20 lookups, 5 misses", w, err)
	}
	if err := c.Collect(ctx); err != nil {
		t.Fatal(err)
	}
	if w, err := storedWindow(ctx, st, time.Now()); err != nil || w.Lookups != 20 || w.Misses != 5 {
		t.Fatalf("stored samples hold %+v, %v; want the users' 20 lookups, 5 misses", w, err)
	}
}
