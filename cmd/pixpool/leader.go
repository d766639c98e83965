package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
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

// newHolder names this process in the pool lease:
// host/pid/random/pid scope/process start time. The last two let a process
// on the same host prove the holder dead (see holderGone); they are empty
// where /proc does not give them.
func newHolder() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	start, _ := processStart(pid)
	return fmt.Sprintf("%s/%d/%s/%s/%s", host, pid, rand.Text()[:8], pidScope(), start)
}

// holderGone reports whether the process that holder names has provably
// ended: it ran on this host since its last boot, in this pid namespace
// (containers on one host share the boot, not the pids), and no process
// with its pid and start time exists now (a pid may have been reused, the
// pair not). Anything it cannot prove, such as another host's holder, is
// not gone: that lease must run out.
func holderGone(holder string) bool {
	f := strings.Split(holder, "/")
	if len(f) != 5 || f[3] == "" || f[4] == "" {
		return false
	}
	host, err := os.Hostname()
	if err != nil || f[0] != host || f[3] != pidScope() {
		return false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return false
	}
	start, err := processStart(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return err == nil && start != f[4]
}

// pidScope names the processes that this one sees by pid: the running
// boot of the host's kernel and the pid namespace; "" where either is
// unknown.
func pidScope() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid") // "pid:[4026531836]"
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "." + strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
}

// processStart returns when process pid started, in clock ticks since
// boot, from /proc/<pid>/stat. A process that has ended, or is a zombie
// waiting to be reaped, is fs.ErrNotExist.
func processStart(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// pid (comm) state ... with starttime the 22nd field; comm may hold
	// spaces and parentheses, so count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", errors.New("malformed /proc stat")
	}
	if f[0] == "Z" || f[0] == "X" {
		return "", fs.ErrNotExist
	}
	return f[19], nil
}

// acquireLease takes or renews the pool lease. When another process holds
// it but has provably died on this host (holderGone), it ends that lease
// first: a server restarted after a crash takes over at once, instead of
// following the dead leader's layout (whose nodes died with it) until the
// term runs out.
func (m *Main) acquireLease(ctx context.Context) (bool, error) {
	won, err := m.Store.AcquireLease(ctx, leaseName, m.holder, leaseTTL)
	if err != nil || won {
		return won, err
	}
	holder, err := m.Store.LeaseHolder(ctx, leaseName)
	if err != nil || holder == "" || holder == m.holder || !holderGone(holder) {
		return false, err
	}
	m.Logger.Info("the cache pool's leader has exited: taking over its lease", "holder", holder)
	if err := m.Store.ReleaseLease(ctx, leaseName, holder); err != nil {
		return false, err
	}
	return m.Store.AcquireLease(ctx, leaseName, m.holder, leaseTTL)
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
			won, err := m.acquireLease(ctx)
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
			if m.beforeFollow != nil {
				m.beforeFollow()
			}
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
