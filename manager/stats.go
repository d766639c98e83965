package manager

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/pool"
)

// Nodes reads every node of the pool's layout; *pool.Client does.
type Nodes interface {
	// Stats returns each node's counters, cumulative since the node
	// started; a node that does not answer has Up false.
	Stats(ctx context.Context) []pool.NodeStats
}

// DefaultHorizon is Meter.Horizon's default.
const DefaultHorizon = 10 * time.Minute

// Meter measures the pool's traffic from its nodes' own counters, which
// count every replica's lookups, and the stats history in the store: a
// sample at a moment holds each node's traffic since its reading in the
// last stored sample. So a sample taken now without being stored (Samples,
// Window) holds the interval in progress, and the next stored sample
// counts the same lookups again, not more and not fewer.
//
// A node with no earlier reading counts every lookup since it started (a
// new node's baseline is zero), and so does one that restarted since its
// last reading (under the same id, with its counters back to zero): the
// node's uptime says when it started. A node read before in the horizon
// counts the difference.
//
// The lookups a resize makes copying keys are counted by the nodes like
// any other but are no user's: the Manager records a sample right before
// and right after the copying, and the pool client counts its own lookups
// (pool.NodeStats.OwnHits, OwnMisses), which Record and Samples leave out.
// A replica other than the leader counts them only in its live view while
// the copying runs. Lookups on a node after its last reading are lost when
// it dies, or when a shrink removes it (those made during the copying).
type Meter struct {
	Store pixpool.StatsStore
	Nodes Nodes
	// Origin is when this pool's history began. A node that has never
	// been read and surely started before Origin (a static node, whose
	// counters hold traffic from before this pool) counts from its first
	// reading. If zero, every node counts from its start: the nodes a pool
	// starts itself hold its traffic only.
	Origin time.Time
	// Horizon bounds how far back the last sample and a node's last
	// reading are looked for in the store; traffic that cannot be placed
	// within it (a node unheard of for longer) is not counted. It must be
	// well over the sampling interval. If zero, DefaultHorizon.
	Horizon time.Duration

	mu   sync.RWMutex              // held by Record, shared by Samples; guards own, last
	own  map[string]pool.NodeStats // each node's own lookups (OwnHits, OwnMisses) in the last sample Record stored
	last time.Time                 // when Record last stored a sample
}

// Record takes a sample at now() and stores it. Samples are recorded one
// at a time (by the Collector, and around a resize's copying), so that
// no two count the same lookups.
func (m *Meter) Record(ctx context.Context, now func() time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	at := now().UTC()
	if !at.After(m.last) {
		at = m.last.Add(time.Millisecond) // the store keeps milliseconds
	}
	ps, nodes, cur, err := m.sample(ctx, at)
	if err != nil {
		return err
	}
	if err := m.Store.AddStats(ctx, ps, nodes); err != nil {
		return err
	}
	m.last = at
	if m.own == nil {
		m.own = make(map[string]pool.NodeStats)
	}
	for _, s := range cur {
		if s.Up {
			m.own[s.ID] = pool.NodeStats{OwnHits: s.OwnHits, OwnMisses: s.OwnMisses}
		}
	}
	return nil
}

func (m *Meter) horizon() time.Duration {
	if m.Horizon > 0 {
		return m.Horizon
	}
	return DefaultHorizon
}

// sample measures the pool at at against the last stored sample, and
// returns the nodes' readings too. Called with mu held.
func (m *Meter) sample(ctx context.Context, at time.Time) (pixpool.PoolSample, []pixpool.NodeSample, []pool.NodeStats, error) {
	stored, err := m.Store.PoolSamples(ctx, at.Add(-m.horizon()))
	if err != nil {
		return pixpool.PoolSample{}, nil, nil, err
	}
	return m.sampleAfter(ctx, at, lastAt(stored, at))
}

// Samples returns the pool's samples taken after since, oldest first,
// ending with one taken at now that is not stored: the interval in
// progress, read from the nodes. Bucket and Sum them.
func (m *Meter) Samples(ctx context.Context, since, now time.Time) ([]pixpool.PoolSample, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	stored, err := m.Store.PoolSamples(ctx, earliest(since, now.Add(-m.horizon())))
	if err != nil {
		return nil, err
	}
	live, _, _, err := m.sampleAfter(ctx, now, lastAt(stored, now))
	if err != nil {
		return nil, err
	}
	out := make([]pixpool.PoolSample, 0, len(stored)+1)
	for _, s := range stored {
		if s.At.After(since) && !s.At.After(now) {
			out = append(out, s)
		}
	}
	return append(out, live), nil
}

// Window returns the pool's traffic from since up to now, the interval in
// progress included: for getRate, the dashboard and the auto-scaler.
func (m *Meter) Window(ctx context.Context, since, now time.Time) (autoscale.Stats, error) {
	samples, err := m.Samples(ctx, since, now)
	if err != nil {
		return autoscale.Stats{}, err
	}
	return Sum(samples, since, now), nil
}

// sampleAfter measures the pool at at against the nodes' readings in the
// stored sample taken at last (zero: none), or, for a node missing there
// (down then, or not yet in the layout), its latest reading before.
// Called with mu held (shared at least).
func (m *Meter) sampleAfter(ctx context.Context, at, last time.Time) (pixpool.PoolSample, []pixpool.NodeSample, []pool.NodeStats, error) {
	// The store is read before the nodes: a reading stored meanwhile is
	// newer than the one measured against, never newer than the nodes'.
	base := make(map[string]pixpool.NodeSample)
	if !last.IsZero() {
		ns, err := m.Store.NodeSamples(ctx, last.Add(-time.Millisecond))
		if err != nil {
			return pixpool.PoolSample{}, nil, nil, err
		}
		for _, s := range ns {
			if s.Up && s.At.Equal(last) {
				base[s.Node] = s
			}
		}
	}
	cur := m.Nodes.Stats(ctx)
	for _, s := range cur {
		if _, ok := base[s.ID]; !s.Up || ok {
			continue
		}
		ns, err := m.Store.NodeSamples(ctx, at.Add(-m.horizon()))
		if err != nil {
			return pixpool.PoolSample{}, nil, nil, err
		}
		older := make(map[string]pixpool.NodeSample)
		for _, o := range ns { // oldest first: the latest wins
			if _, ok := base[o.Node]; o.Up && !ok && !o.At.After(last) {
				older[o.Node] = o
			}
		}
		for id, o := range older {
			base[id] = o
		}
		break
	}
	ps, nodes := measure(at, m.Origin, m.horizon(), cur, base, m.own)
	return ps, nodes, cur, nil
}

// measure sums the nodes' readings cur, taken at at, into the pool's
// sample: its size and contents at at, and its traffic since each node's
// baseline reading base[id] (see Meter), less the lookups this process
// made itself since own[id] (a resize copying keys).
func measure(at, origin time.Time, horizon time.Duration, cur []pool.NodeStats, base map[string]pixpool.NodeSample, own map[string]pool.NodeStats) (pixpool.PoolSample, []pixpool.NodeSample) {
	ps := pixpool.PoolSample{At: at, Nodes: len(cur)}
	nodes := make([]pixpool.NodeSample, 0, len(cur))
	for _, s := range cur {
		nodes = append(nodes, pixpool.NodeSample{At: at, Node: s.ID, Up: s.Up, Items: s.Items, Bytes: s.Bytes,
			Capacity: s.Capacity, Gets: s.Gets, Hits: s.Hits, Misses: s.Misses, Sets: s.Sets, Evictions: s.Evictions})
		if !s.Up {
			continue
		}
		ps.Up++
		ps.Items += s.Items
		ps.Bytes += s.Bytes
		b, ok := base[s.ID]
		d := traffic(at, origin, horizon, s, b, ok)
		ownHits, ownMisses := s.OwnHits, s.OwnMisses
		if o, ok := own[s.ID]; ok && o.OwnHits <= ownHits && o.OwnMisses <= ownMisses {
			ownHits, ownMisses = ownHits-o.OwnHits, ownMisses-o.OwnMisses
		}
		d.Hits = max(d.Hits-ownHits, 0)
		d.Misses = max(d.Misses-ownMisses, 0)
		d.Gets = max(d.Gets-ownHits-ownMisses, 0)
		ps.Gets += d.Gets
		ps.Hits += d.Hits
		ps.Misses += d.Misses
		ps.Sets += d.Sets
	}
	return ps, nodes
}

// traffic is a node's traffic between its baseline reading b (ok false:
// none) and its reading s at at.
func traffic(at, origin time.Time, horizon time.Duration, s pool.NodeStats, b pixpool.NodeSample, ok bool) pixpool.NodeSample {
	since := pixpool.NodeSample{Gets: s.Gets, Hits: s.Hits, Misses: s.Misses, Sets: s.Sets} // since it started
	started := at.Add(-time.Duration(s.Uptime) * time.Second)
	switch {
	case ok && sameRun(b, s, started):
		return pixpool.NodeSample{Gets: s.Gets - b.Gets, Hits: s.Hits - b.Hits, Misses: s.Misses - b.Misses, Sets: s.Sets - b.Sets}
	case ok:
		return since // restarted after its last reading
	case started.Before(at.Add(-horizon)):
		return pixpool.NodeSample{} // unheard of for too long to place its traffic
	case !origin.IsZero() && !started.Add(-time.Second).After(origin):
		return pixpool.NodeSample{} // older than the pool: its counters hold others' traffic
	}
	return since
}

// sameRun reports whether reading s of a node that started at started
// (by its uptime) comes from the same run of the node as reading b, so
// that the difference of their counters is its traffic in between. A node
// whose counters went down, or that started after b was taken, restarted.
// Uptime counts whole seconds, so started is up to a second late: a
// restart within a second of b that has already counted past b is taken
// for the same run.
func sameRun(b pixpool.NodeSample, s pool.NodeStats, started time.Time) bool {
	if s.Gets < b.Gets || s.Hits < b.Hits || s.Misses < b.Misses || s.Sets < b.Sets {
		return false
	}
	return !started.After(b.At.Add(time.Second))
}

// lastAt is the time of the last of samples (oldest first) taken at or
// before at; zero if none.
func lastAt(samples []pixpool.PoolSample, at time.Time) time.Time {
	for i := len(samples) - 1; i >= 0; i-- {
		if !samples[i].At.After(at) {
			return samples[i].At
		}
	}
	return time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Sum adds up the lookups of the samples taken after since and not after
// now: lookups are hits plus misses over every node, so rates from it are
// weighted by requests. A sample holds the traffic since the one before,
// so the first one counted may reach back a little before since.
func Sum(samples []pixpool.PoolSample, since, now time.Time) autoscale.Stats {
	var w autoscale.Stats
	for _, s := range samples {
		if !s.At.After(since) || s.At.After(now) {
			continue
		}
		w.Lookups += s.Hits + s.Misses
		w.Misses += s.Misses
	}
	return w
}

// Collector samples the pool's stats into the store every Interval: each
// node's counters, and the pool-wide traffic since the previous sample
// (Meter). It samples at once when it starts, so that a pool's history
// begins when its leader does.
type Collector struct {
	// Store is pruned of samples older than Retention.
	Store pixpool.Store
	// Meter measures the pool and records the samples (required):
	// Manager.Meter, which the pool's resizes record with too.
	Meter *Meter
	// Interval between samples. If zero, 5 s.
	Interval time.Duration
	// Retention is how long samples are kept. If zero, 24 h.
	Retention time.Duration
	// Now is the clock. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// Run samples at once and then every Interval until ctx ends, and prunes
// old samples once a minute.
func (c *Collector) Run(ctx context.Context) {
	every := c.Interval
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var pruned time.Time
	for {
		if err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.logger().Warn("stats: collect", "err", err)
		}
		if now := c.now(); now.Sub(pruned) > time.Minute {
			pruned = now
			keep := c.Retention
			if keep <= 0 {
				keep = 24 * time.Hour
			}
			if _, err := c.Store.DeleteStatsBefore(ctx, now.Add(-keep)); err != nil && ctx.Err() == nil {
				c.logger().Warn("stats: prune", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Collector) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Collect takes one sample and stores it.
func (c *Collector) Collect(ctx context.Context) error {
	return c.Meter.Record(ctx, c.now)
}

// Bucket is one minute of the pool's history.
type Bucket struct {
	Start    time.Time `json:"start"`
	Samples  int       `json:"samples"` // 0: nothing was collected
	Nodes    int       `json:"nodes"`   // at the end of the minute
	MissRate float64   `json:"miss_rate"`
	HitRate  float64   `json:"hit_rate"`
	Items    int64     `json:"items"`    // at the end of the minute
	Bytes    int64     `json:"bytes"`    // at the end of the minute
	Requests int64     `json:"requests"` // gets and sets during the minute
}

// Buckets groups samples into n one-minute buckets ending with the minute
// that holds now, oldest first. Rates are misses (hits) over lookups in
// the minute, 0 without lookups. With Samples' live sample last, the
// current minute counts every lookup up to now.
func Buckets(samples []pixpool.PoolSample, now time.Time, n int) []Bucket {
	end := now.UTC().Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-time.Duration(n) * time.Minute)
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = start.Add(time.Duration(i) * time.Minute)
	}
	var hits, misses = make([]int64, n), make([]int64, n)
	for _, s := range samples {
		if s.At.Before(start) || !s.At.Before(end) {
			continue
		}
		i := int(s.At.Sub(start) / time.Minute)
		b := &out[i]
		b.Samples++
		b.Nodes, b.Items, b.Bytes = s.Nodes, s.Items, s.Bytes // samples come oldest first
		b.Requests += s.Gets + s.Sets
		hits[i] += s.Hits
		misses[i] += s.Misses
	}
	for i := range out {
		if lookups := hits[i] + misses[i]; lookups > 0 {
			out[i].MissRate = float64(misses[i]) / float64(lookups)
			out[i].HitRate = float64(hits[i]) / float64(lookups)
		}
	}
	return out
}
