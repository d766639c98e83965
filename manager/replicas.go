package manager

import (
	"cmp"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Replicas and resizes. Every replica that follows the pool (ReplicaID
// set, not leading) keeps a heartbeat row in the store's settings: the
// layout epoch and the pending epoch it has adopted, and when the poll
// that adopted them began. A resize waits, after announcing its pending
// layout, until every live replica has adopted it, before copying keys;
// after publishing the new layout it writes to the old owners as well
// until every live replica has adopted the new layout, and only then
// retires the old nodes. A replica whose heartbeat is older than its TTL
// counts as gone, and such a replica cannot use the cache: it trusts its
// layout (pool.Client.SetCurrentUntil) only for a third of its TTL after
// a poll, and only when that poll read the state after a heartbeat of the
// same chain (see beginPoll) that the leader sees. So when the leader
// counts a replica gone, the replica has stopped trusting its layout a
// third of the TTL earlier, whatever delays either one suffered; the
// argument needs only that the replicas' clocks agree to well within the
// TTL (as the pool lease does).

// replicaPrefix names the store settings that hold the replicas'
// heartbeats: replicaPrefix + ReplicaID + "/" + chain.
const replicaPrefix = "pool.replica."

// DefaultReplicaTTL is ReplicaTTL's default.
const DefaultReplicaTTL = 6 * time.Second

// heartbeat is a replica's row.
type heartbeat struct {
	Epoch   int64         `json:"epoch"`   // the layout adopted
	Pending int64         `json:"pending"` // the pending layout adopted; 0 none
	At      time.Time     `json:"at"`      // when the poll that adopted them began
	TTL     time.Duration `json:"ttl"`     // gone when At is older
}

// replicaState is a follower's heartbeat chain; guarded by followMu.
type replicaState struct {
	chain int       // numbers the chains
	name  string    // the setting of the current chain; "" none
	wrote time.Time // At of the chain's last row written
	// failing: the last heartbeat could not be stored (warned once)
	failing bool
}

func (m *Manager) replicaTTL() time.Duration { return cmp.Or(m.ReplicaTTL, DefaultReplicaTTL) }

// trust is how long after a poll began a replica trusts its layout.
func (m *Manager) trust() time.Duration { return m.replicaTTL() / 3 }

func (m *Manager) heartbeats() bool { return m.ReplicaID != "" && !m.Leading() }

// beginPoll returns when a poll of the state begins. A replica's poll
// counts (its layout is trusted from then on) only if it reads the state
// after a heartbeat row of the same chain, written less than trust before
// it, has been stored: a leader that did not see that row (a new replica,
// or one it counted gone and dropped) announced nothing this poll could
// miss. Otherwise beginPoll starts a new chain: a new row, under a new
// name (so the leader's cleanup of old rows never drops it), first. If
// that row cannot be written (the store is full, say), ok is false: the
// poll adopts the state but the layout is not trusted.
func (m *Manager) beginPoll(ctx context.Context) (began time.Time, ok bool) {
	began = time.Now()
	if !m.heartbeats() || (m.hb.name != "" && began.Sub(m.hb.wrote) < m.trust()) {
		return began, true
	}
	old := m.hb.name
	m.hb.chain++
	name := replicaPrefix + m.ReplicaID + "/" + strconv.Itoa(m.hb.chain)
	epoch, _ := m.Pool.Layout()
	m.mu.Lock()
	pending := m.state.PendingEpoch
	m.mu.Unlock()
	if err := m.writeHeartbeat(ctx, name, heartbeat{Epoch: epoch, Pending: pending, At: began}); err != nil {
		m.heartbeatFailed(err)
		return began, false
	}
	m.hb.name, m.hb.wrote = name, began
	if old != "" {
		_ = m.Store.DeleteSetting(ctx, old)
	}
	return time.Now(), true
}

// endPoll reports what the poll that began at began adopted (st) and
// trusts the layout until trust after it; keys written meanwhile by a
// layout not trusted are deleted everywhere.
func (m *Manager) endPoll(ctx context.Context, began time.Time, st State) {
	if !m.heartbeats() {
		return
	}
	m.Pool.SetCurrentUntil(began.Add(m.trust()))
	m.Pool.Reconcile(ctx)
	if err := m.writeHeartbeat(ctx, m.hb.name, heartbeat{Epoch: st.Epoch, Pending: st.PendingEpoch, At: began}); err != nil {
		m.heartbeatFailed(err)
		return
	}
	m.hb.wrote = began
	if m.hb.failing {
		m.hb.failing = false
		m.logger().Info("cache pool heartbeat stored again")
	}
}

// heartbeatFailed warns, once until a heartbeat is stored again, that
// this replica's heartbeat cannot be stored: it reads from the stores
// meanwhile.
func (m *Manager) heartbeatFailed(err error) {
	if !m.hb.failing {
		m.hb.failing = true
		m.logger().Warn("cache pool heartbeat not stored: reading from the stores until it is", "err", err)
	}
}

func (m *Manager) writeHeartbeat(ctx context.Context, name string, hb heartbeat) error {
	hb.At, hb.TTL = hb.At.UTC(), m.replicaTTL()
	b, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	return m.Store.SetSetting(ctx, name, string(b))
}

// dropHeartbeat removes this replica's row (it stops following) and
// stops trusting the layout until the next poll.
func (m *Manager) dropHeartbeat(ctx context.Context) {
	if m.ReplicaID == "" {
		return
	}
	m.Pool.SetCurrentUntil(time.Now())
	if m.hb.name != "" {
		_ = m.Store.DeleteSetting(ctx, m.hb.name)
		m.hb.name = ""
	}
}

// awaitReplicas waits until every live replica but this one has adopted
// epoch: as its pending layout (or a later layout), or with adopted as its
// layout. It gives up, with a warning, past twice the longest TTL of the
// replicas it waits for, or when ctx ends; a replica that stops polling
// counts as gone within its TTL, so it only gives up on one that polls
// without adopting the state.
func (m *Manager) awaitReplicas(ctx context.Context, epoch int64, adopted bool) {
	began := time.Now()
	for {
		lagging, longest, err := m.laggingReplicas(ctx, epoch, adopted)
		if err == nil && len(lagging) == 0 {
			return
		}
		if time.Since(began) > 2*max(longest, m.replicaTTL()) || ctx.Err() != nil {
			m.logger().Warn("resize: replicas did not confirm the layout in time", "epoch", epoch,
				"adopted", adopted, "replicas", strings.Join(lagging, ","), "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// laggingReplicas lists the live replicas that have not adopted epoch,
// and the longest TTL among them. Rows gone for ten times their TTL are
// deleted.
func (m *Manager) laggingReplicas(ctx context.Context, epoch int64, adopted bool) ([]string, time.Duration, error) {
	all, err := m.Store.Settings(ctx)
	if err != nil {
		return nil, 0, err
	}
	var lagging []string
	var longest time.Duration
	now := time.Now()
	own := replicaPrefix + m.ReplicaID + "/"
	for name, v := range all {
		if !strings.HasPrefix(name, replicaPrefix) || m.ReplicaID != "" && strings.HasPrefix(name, own) {
			continue
		}
		var hb heartbeat
		if err := json.Unmarshal([]byte(v), &hb); err != nil {
			continue
		}
		ttl := cmp.Or(hb.TTL, DefaultReplicaTTL)
		if age := now.Sub(hb.At); age > ttl {
			if age > 10*ttl {
				_ = m.Store.DeleteSetting(ctx, name)
			}
			continue
		}
		if hb.Epoch >= epoch || !adopted && hb.Pending >= epoch {
			continue
		}
		lagging = append(lagging, strings.TrimPrefix(name, replicaPrefix))
		longest = max(longest, ttl)
	}
	return lagging, longest, nil
}
