package pixpool

import (
	"context"
	"time"
)

// PoolSample is the cache pool over one collection interval (5 s): its
// size and contents at the end, and its traffic during it, summed over
// every node.
type PoolSample struct {
	At     time.Time
	Nodes  int   // nodes in the layout
	Up     int   // nodes that answered
	Items  int64 // at At
	Bytes  int64 // at At
	Gets   int64 // lookups during the interval
	Hits   int64
	Misses int64
	Sets   int64
}

// NodeSample is one cache node's counters at one moment, cumulative since
// the node started (a node that restarts starts again from 0).
type NodeSample struct {
	At        time.Time
	Node      string
	Up        bool
	Items     int64
	Bytes     int64
	Capacity  int64
	Gets      int64
	Hits      int64
	Misses    int64
	Sets      int64
	Evictions int64
}

// StatsStore keeps the pool's stats history. Samples come back ordered by
// time (then node id), with At in UTC at millisecond precision.
type StatsStore interface {
	// AddStats stores one collection: the pool-wide sample and its nodes'.
	AddStats(ctx context.Context, pool PoolSample, nodes []NodeSample) error
	// PoolSamples returns the pool-wide samples taken after since.
	PoolSamples(ctx context.Context, since time.Time) ([]PoolSample, error)
	// NodeSamples returns the node samples taken after since.
	NodeSamples(ctx context.Context, since time.Time) ([]NodeSample, error)
	// DeleteStatsBefore removes samples taken before t and reports how many
	// pool-wide samples went.
	DeleteStatsBefore(ctx context.Context, t time.Time) (int, error)
}
