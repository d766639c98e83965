package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"time"
)

// Several `serve` processes may share one database and cache pool; one of
// them, the leader, runs the pool (starts its nodes, resizes it, samples
// stats, auto-scales), elected by a lease in the database. The others
// follow: they adopt the leader's layout and forward changes to it.
const (
	leaseName  = "pool-manager"
	leaseTTL   = 10 * time.Second // a dead leader's lease runs out within this
	leaseRenew = 2 * time.Second
	followPoll = 500 * time.Millisecond // followers see a new layout within this
)

func newHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
}

// lead keeps the lease while leading, takes over when it is free, and
// otherwise follows, until ctx ends.
func (m *Main) lead(ctx context.Context) {
	var stop context.CancelFunc
	if m.Manager.Leading() {
		stop = m.leaderTasks(ctx)
	}
	poll := time.NewTicker(followPoll)
	defer poll.Stop()
	renewed := time.Now()
	lastTry := time.Time{}
	lastErr := "" // logged once, not every try
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return
		case <-poll.C:
		}
		if time.Since(lastTry) >= leaseRenew || !m.Manager.Leading() && time.Since(lastTry) >= followPoll {
			lastTry = time.Now()
			won, err := m.Store.AcquireLease(ctx, leaseName, m.holder, leaseTTL)
			switch {
			case err != nil:
				if err.Error() != lastErr {
					m.Logger.Warn("pool lease", "err", err)
					lastErr = err.Error()
				}
				if m.Manager.Leading() && time.Since(renewed) > leaseTTL/2 {
					// Cannot prove we still lead: stop before another starts.
					stop()
					stop = nil
					m.stepDown("lease not renewed")
				}
			case won && m.Manager.Leading():
				renewed, lastErr = time.Now(), ""
			case won:
				renewed, lastErr = time.Now(), ""
				m.Logger.Info("taking over the cache pool", "holder", m.holder)
				if err := m.Manager.Open(ctx); err != nil {
					m.Logger.Error("take over the cache pool", "err", err)
					m.Store.ReleaseLease(context.WithoutCancel(ctx), leaseName, m.holder)
					continue
				}
				stop = m.leaderTasks(ctx)
			case m.Manager.Leading():
				stop()
				stop = nil
				m.stepDown("lease lost")
			}
		}
		if !m.Manager.Leading() {
			if err := m.Manager.Follow(ctx); err != nil && ctx.Err() == nil {
				m.Logger.Warn("follow the cache pool", "err", err)
			}
		}
	}
}

// leaderTasks starts what only the leader runs and returns its stop.
func (m *Main) leaderTasks(ctx context.Context) context.CancelFunc {
	lctx, cancel := context.WithCancel(ctx)
	go m.Manager.Watch(lctx, followPoll)
	go m.Stats.Run(lctx)
	go m.Scaler.Run(lctx)
	return cancel
}

func (m *Main) stepDown(why string) {
	m.Logger.Warn("stepping down as the cache pool's leader", "why", why)
	m.Manager.Close() // stops the nodes this process started
}
