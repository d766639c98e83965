// Package autoscale decides the cache pool's size from its miss rate.
// Decide is a pure function; Scaler is the loop around it, with an
// injectable clock so tests need no sleeping.
package autoscale

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/pixpool/pixpool"
)

// Params are the auto-scaler's settings.
type Params struct {
	MaxMiss  float64       `json:"max_miss"`  // grow above this miss rate (0..1)
	MinMiss  float64       `json:"min_miss"`  // shrink below this miss rate (0..1)
	Expand   float64       `json:"expand"`    // grow to ceil(n × Expand); > 1
	Shrink   float64       `json:"shrink"`    // shrink to floor(n × Shrink); in (0, 1)
	MinNodes int           `json:"min_nodes"` // never fewer
	MaxNodes int           `json:"max_nodes"` // never more
	Cooldown time.Duration `json:"cooldown"`  // no change this soon after a resize
}

// DefaultParams are the settings of a new pool.
var DefaultParams = Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 2, Shrink: 0.5, MinNodes: 1, MaxNodes: 8, Cooldown: 2 * time.Minute}

// Validate reports the first thing wrong with p, as an EINVALID error;
// limit is the largest pool size allowed at all.
func (p Params) Validate(limit int) error {
	switch {
	case p.MaxMiss <= 0 || p.MaxMiss > 1:
		return pixpool.Errorf(pixpool.EINVALID, "The max miss rate must be above 0 and at most 1.")
	case p.MinMiss < 0 || p.MinMiss >= 1:
		return pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be at least 0 and below 1.")
	case p.MinMiss >= p.MaxMiss:
		return pixpool.Errorf(pixpool.EINVALID, "The min miss rate must be below the max miss rate.")
	case !(p.Expand > 1) || p.Expand > 16:
		return pixpool.Errorf(pixpool.EINVALID, "The expand ratio must be above 1 (and at most 16).")
	case !(p.Shrink > 0 && p.Shrink < 1):
		return pixpool.Errorf(pixpool.EINVALID, "The shrink ratio must be between 0 and 1.")
	case p.MinNodes < 1:
		return pixpool.Errorf(pixpool.EINVALID, "The minimum pool size must be at least 1.")
	case p.MaxNodes > limit:
		return pixpool.Errorf(pixpool.EINVALID, "The maximum pool size must be at most %d.", limit)
	case p.MinNodes > p.MaxNodes:
		return pixpool.Errorf(pixpool.EINVALID, "The minimum pool size must not be above the maximum.")
	case p.Cooldown < 0 || p.Cooldown > 24*time.Hour:
		return pixpool.Errorf(pixpool.EINVALID, "The cooldown must be between 0 and 24 hours.")
	}
	return nil
}

// Stats is the pool's traffic over a window: lookups (gets) and the misses
// among them, summed over every node.
type Stats struct {
	Lookups int64
	Misses  int64
}

// MissRate is Misses / Lookups, or 0 without lookups.
func (s Stats) MissRate() float64 {
	if s.Lookups <= 0 {
		return 0
	}
	return float64(s.Misses) / float64(s.Lookups)
}

// Decide returns the pool size for the next period, given n nodes now and
// the window's traffic: above MaxMiss, ceil(n × Expand); below MinMiss,
// floor(n × Shrink); clamped to [MinNodes, MaxNodes]. Without lookups
// nothing is known, so n stays (even if out of bounds).
func Decide(window Stats, p Params, n int) int {
	if window.Lookups <= 0 {
		return n
	}
	next := n
	switch rate := window.MissRate(); {
	case rate > p.MaxMiss:
		next = int(math.Ceil(float64(n) * p.Expand))
	case rate < p.MinMiss:
		next = int(math.Floor(float64(n) * p.Shrink))
	}
	return min(max(next, p.MinNodes), p.MaxNodes)
}

// Pool is what the scaler drives.
type Pool interface {
	// Size is the number of nodes now.
	Size() int
	// LastResize is when the pool last changed size (zero if never).
	LastResize() time.Time
	// Resize changes the pool's size; reason goes to the history.
	Resize(ctx context.Context, n int, reason string) error
}

// Scaler runs Decide every Interval while Enabled says so.
type Scaler struct {
	Pool Pool
	// Window returns the pool's traffic between since and now.
	Window func(ctx context.Context, since, now time.Time) (Stats, error)
	// Settings returns whether automatic mode is on, and its params.
	Settings func() (enabled bool, p Params)
	// Interval between decisions. If zero, 60 s.
	Interval time.Duration
	// Span is how far back the traffic window reaches. If zero, 1 minute.
	Span time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

func (s *Scaler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scaler) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return time.Minute
}

// Run decides every Interval until ctx ends.
func (s *Scaler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Step(ctx)
	}
}

// Step makes one decision and acts on it. It reports the size it chose
// (the current size when it changed nothing).
func (s *Scaler) Step(ctx context.Context) int {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	n := s.Pool.Size()
	enabled, p := s.Settings()
	if !enabled {
		return n
	}
	now := s.now()
	if last := s.Pool.LastResize(); !last.IsZero() && now.Sub(last) < p.Cooldown {
		log.Debug("autoscale: cooling down", "since_resize", now.Sub(last).Round(time.Second), "cooldown", p.Cooldown)
		return n
	}
	span := s.Span
	if span <= 0 {
		span = time.Minute
	}
	w, err := s.Window(ctx, now.Add(-span), now)
	if err != nil {
		log.Warn("autoscale: no stats", "err", err)
		return n
	}
	next := Decide(w, p, n)
	log.Info("autoscale decision", "nodes", n, "next", next, "lookups", w.Lookups, "misses", w.Misses,
		"miss_rate", round(w.MissRate()), "max_miss", p.MaxMiss, "min_miss", p.MinMiss,
		"expand", p.Expand, "shrink", p.Shrink, "min_nodes", p.MinNodes, "max_nodes", p.MaxNodes)
	if next == n {
		return n
	}
	reason := fmt.Sprintf("auto: miss rate %.2f over the last %v (%d lookups)", w.MissRate(), span, w.Lookups)
	if next > n {
		reason += fmt.Sprintf(" > max %.2f", p.MaxMiss)
	} else {
		reason += fmt.Sprintf(" < min %.2f", p.MinMiss)
	}
	if err := s.Pool.Resize(ctx, next, reason); err != nil {
		log.Error("autoscale: resize", "from", n, "to", next, "err", err)
		return n
	}
	return next
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }
