package service

import (
	"context"
	"sync/atomic"
	"time"
)

// Activity tracks the requests being served, so that background work
// (analysis) can give way to them: the HTTP server brackets every request
// with Begin, and the work calls Wait between steps and pauses while
// serving is busy.
//
// Lower CPU priority alone is not enough on small machines: measured on 2
// virtual cores, any work on the second core (even a shell loop at nice
// 10) slowed cached GETs on the first by 20-90%, so analysis must stop,
// not just yield, while requests come in (see docs/recognition.md). To
// slow analysis rather than starve it under a load that never lets up,
// after waiting MaxWait it runs for Slice whatever the load.
type Activity struct {
	// Quiet is how long after the last request serving counts as idle.
	// If zero, 50 ms.
	Quiet time.Duration
	// MaxWait bounds one wait. If zero, 5 s.
	MaxWait time.Duration
	// Slice is how long work runs after a wait that reached MaxWait. If
	// zero, 250 ms.
	Slice time.Duration

	inflight atomic.Int64
	last     atomic.Int64 // Unix nanoseconds at which a request last ended
	grant    atomic.Int64 // work may run until then (Unix nanoseconds)
	now      func() time.Time
}

func (a *Activity) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// positiveOr returns d if it is positive, else def: unlike cmp.Or, a
// negative duration also takes its default.
func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Begin notes a request being served; call the returned func when it ends.
func (a *Activity) Begin() (end func()) {
	a.inflight.Add(1)
	return func() {
		a.last.Store(a.clock().UnixNano())
		a.inflight.Add(-1)
	}
}

// Inflight returns how many requests are being served now.
func (a *Activity) Inflight() int64 { return a.inflight.Load() }

// Busy reports whether background work should pause now: a request is
// being served, or one ended less than Quiet ago, and no slice of
// guaranteed work is running.
func (a *Activity) Busy() bool {
	now := a.clock().UnixNano()
	if now < a.grant.Load() {
		return false
	}
	return a.inflight.Load() > 0 || now-a.last.Load() < int64(positiveOr(a.Quiet, 50*time.Millisecond))
}

// Wait returns once serving is idle, or after MaxWait (then granting a
// Slice of work), or with ctx's error when ctx ends.
func (a *Activity) Wait(ctx context.Context) error {
	if !a.Busy() {
		return ctx.Err()
	}
	deadline := a.clock().Add(positiveOr(a.MaxWait, 5*time.Second))
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for a.Busy() {
		if !a.clock().Before(deadline) {
			a.grant.Store(a.clock().Add(positiveOr(a.Slice, 250*time.Millisecond)).UnixNano())
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}
