package manager

import (
	"context"
	"log/slog"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/pool"
)

// Collector samples the pool's stats into the store every Interval: each
// node's counters, and the pool-wide traffic since the previous sample.
type Collector struct {
	Store pixpool.Store
	Pool  *pool.Client
	// Interval between samples. If zero, 5 s.
	Interval time.Duration
	// Retention is how long samples are kept. If zero, 24 h.
	Retention time.Duration
	// Now is the clock. If nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	prev map[string]pool.NodeStats // last stats by node id; only Run's goroutine uses it
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

// Run samples until ctx ends, and prunes old samples once a minute.
func (c *Collector) Run(ctx context.Context) {
	every := c.Interval
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
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
	}
}

func (c *Collector) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// Collect takes one sample.
func (c *Collector) Collect(ctx context.Context) error {
	at := c.now()
	stats := c.Pool.Stats(ctx)
	ps := pixpool.PoolSample{At: at, Nodes: len(stats)}
	nodes := make([]pixpool.NodeSample, 0, len(stats))
	next := make(map[string]pool.NodeStats, len(stats))
	for _, s := range stats {
		nodes = append(nodes, pixpool.NodeSample{At: at, Node: s.ID, Up: s.Up, Items: s.Items, Bytes: s.Bytes,
			Capacity: s.Capacity, Gets: s.Gets, Hits: s.Hits, Misses: s.Misses, Sets: s.Sets, Evictions: s.Evictions})
		if !s.Up {
			continue
		}
		ps.Up++
		ps.Items += s.Items
		ps.Bytes += s.Bytes
		next[s.ID] = s
		prev, ok := c.prev[s.ID]
		if !ok {
			continue // its traffic before now is not this interval's
		}
		d := delta(prev, s)
		ps.Gets += d.Gets
		ps.Hits += d.Hits
		ps.Misses += d.Misses
		ps.Sets += d.Sets
	}
	c.prev = next
	return c.Store.AddStats(ctx, ps, nodes)
}

// delta is a node's traffic between two readings. A node that restarted
// (new address, counters or uptime that went down) counts from zero.
func delta(prev, cur pool.NodeStats) pool.NodeStats {
	restarted := cur.Addr != prev.Addr || cur.Uptime < prev.Uptime ||
		cur.Gets < prev.Gets || cur.Hits < prev.Hits || cur.Misses < prev.Misses || cur.Sets < prev.Sets
	if restarted {
		return cur
	}
	return pool.NodeStats{Gets: cur.Gets - prev.Gets, Hits: cur.Hits - prev.Hits, Misses: cur.Misses - prev.Misses, Sets: cur.Sets - prev.Sets}
}

// Window sums the pool's traffic in samples after since up to now, for
// the auto-scaler and getRate: lookups are hits plus misses over every
// node, so the rate is weighted by requests.
func Window(ctx context.Context, st pixpool.StatsStore, since, now time.Time) (autoscale.Stats, error) {
	samples, err := st.PoolSamples(ctx, since)
	if err != nil {
		return autoscale.Stats{}, err
	}
	var w autoscale.Stats
	for _, s := range samples {
		if s.At.After(now) {
			break
		}
		w.Lookups += s.Hits + s.Misses
		w.Misses += s.Misses
	}
	return w, nil
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
// the minute, 0 without lookups.
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
