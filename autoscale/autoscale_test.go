package autoscale

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func TestDecide(t *testing.T) {
	p := Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 2, Shrink: 0.5, MinNodes: 1, MaxNodes: 8}
	for _, tt := range []struct {
		name    string
		lookups int64
		misses  int64
		p       Params
		n, want int
	}{
		{"NoLookups", 0, 0, p, 3, 3},
		{"NoLookupsOutOfBounds", 0, 0, p, 9, 9},
		{"InBand", 100, 30, p, 3, 3},
		{"AtMaxStays", 100, 50, p, 3, 3},
		{"AtMinStays", 100, 10, p, 3, 3},
		{"Grow", 100, 51, p, 3, 6},
		{"GrowCeil", 100, 90, Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 1.5, Shrink: 0.5, MinNodes: 1, MaxNodes: 8}, 3, 5},
		{"GrowClamped", 100, 90, p, 5, 8},
		{"GrowAtMax", 100, 90, p, 8, 8},
		{"GrowFromOne", 10, 10, p, 1, 2},
		{"Shrink", 100, 5, p, 4, 2},
		{"ShrinkFloor", 100, 5, p, 3, 1},
		{"ShrinkClamped", 100, 0, Params{MaxMiss: 0.5, MinMiss: 0.1, Expand: 2, Shrink: 0.25, MinNodes: 2, MaxNodes: 8}, 4, 2},
		{"ShrinkAtMin", 100, 0, p, 1, 1},
		{"WeightedByLookups", 1000, 400, p, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(Stats{tt.lookups, tt.misses}, tt.p, tt.n); got != tt.want {
				t.Fatalf("Decide(%d/%d, n=%d)=%d, want %d", tt.misses, tt.lookups, tt.n, got, tt.want)
			}
		})
	}
}

func TestParams_Validate(t *testing.T) {
	if err := DefaultParams.Validate(8); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*Params)
		want   string
	}{
		{"MinAboveMax", func(p *Params) { p.MinMiss, p.MaxMiss = 0.6, 0.5 }, "below the max"},
		{"MinEqualsMax", func(p *Params) { p.MinMiss, p.MaxMiss = 0.5, 0.5 }, "below the max"},
		{"ExpandOne", func(p *Params) { p.Expand = 1 }, "expand"},
		{"ShrinkZero", func(p *Params) { p.Shrink = 0 }, "shrink"},
		{"ShrinkOne", func(p *Params) { p.Shrink = 1 }, "shrink"},
		{"MaxMissOver1", func(p *Params) { p.MaxMiss = 1.5 }, "max miss"},
		{"MinNodesZero", func(p *Params) { p.MinNodes = 0 }, "minimum"},
		{"MaxNodesOverLimit", func(p *Params) { p.MaxNodes = 9 }, "at most 8"},
		{"MinOverMaxNodes", func(p *Params) { p.MinNodes, p.MaxNodes = 5, 4 }, "not be above"},
		{"NegativeCooldown", func(p *Params) { p.Cooldown = -time.Second }, "cooldown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultParams
			tt.mutate(&p)
			err := p.Validate(8)
			if pixpool.ErrorCode(err) != pixpool.EINVALID || !strings.Contains(pixpool.ErrorMessage(err), tt.want) {
				t.Fatalf("Validate()=%v, want a message about %q", err, tt.want)
			}
		})
	}
}

type fakePool struct {
	n       int
	last    time.Time
	reasons []string
}

func (f *fakePool) Size() int             { return f.n }
func (f *fakePool) LastResize() time.Time { return f.last }
func (f *fakePool) Resize(_ context.Context, n int, reason string) error {
	f.n, f.reasons = n, append(f.reasons, reason)
	return nil
}

func TestScaler_Step(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	pool := &fakePool{n: 2}
	window := Stats{Lookups: 100, Misses: 80}
	enabled := true
	p := DefaultParams
	s := &Scaler{
		Pool:     pool,
		Window:   func(context.Context, time.Time, time.Time) (Stats, error) { return window, nil },
		Settings: func() (bool, Params) { return enabled, p },
		Now:      func() time.Time { return now },
	}
	ctx := context.Background()
	if got := s.Step(ctx); got != 4 || pool.n != 4 {
		t.Fatalf("Step()=%d, want growth to 4", got)
	}
	if !strings.Contains(pool.reasons[0], "miss rate 0.80 over the last 1m0s") || !strings.Contains(pool.reasons[0], "> max 0.50") {
		t.Fatalf("reason %q", pool.reasons[0])
	}
	pool.last = now
	now = now.Add(time.Minute)
	if got := s.Step(ctx); got != 4 {
		t.Fatalf("Step() during cooldown=%d, want 4", got)
	}
	now = now.Add(2 * time.Minute)
	window = Stats{Lookups: 100, Misses: 2}
	if got := s.Step(ctx); got != 2 {
		t.Fatalf("Step() on a hit-heavy window=%d, want 2", got)
	}
	pool.last = time.Time{}
	enabled = false
	window = Stats{Lookups: 100, Misses: 100}
	if got := s.Step(ctx); got != 2 {
		t.Fatalf("Step() in manual mode=%d, want 2", got)
	}
}
