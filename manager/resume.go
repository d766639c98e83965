package manager

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/pixpool/pixpool"
)

// Resume readies a follower that may have been frozen, as AWS Lambda
// freezes a function between invocations, for its next Follow: it stops
// trusting its layout and ends its heartbeat chain, so that the next poll
// stores a new heartbeat before it reads the state, as a new replica's
// does. A frozen replica's heartbeat goes stale and the leader counts it
// gone; its own clock may not show the time it spent frozen (a monotonic
// clock may stand still then), so it must not take its last poll as
// recent. Call it when the wall clock says the last poll is older than
// the trust a poll gives (a third of ReplicaTTL), then Follow.
func (m *Manager) Resume(ctx context.Context) {
	m.followMu.Lock()
	defer m.followMu.Unlock()
	if m.Leading() {
		return
	}
	m.Pool.SetCurrentUntil(time.Now())
	m.hb.wrote = time.Time{} // beginPoll starts a new chain, deleting the old row
}

// Trust is how long a follower trusts its layout after a poll began.
func (m *Manager) Trust() time.Duration { return m.trust() }

// PruneReplicas deletes the heartbeats of replicas gone for ten times
// their TTL, as a resize does. A leader that runs only now and then calls
// it: AWS Lambda retires function instances without a word, each leaving
// its row.
func (m *Manager) PruneReplicas(ctx context.Context) error {
	_, _, err := m.laggingReplicas(ctx, math.MaxInt64, true)
	return err
}

// ApplyPending carries out the change another process asked for through
// the store (Ask), if one waits unanswered, and reports whether there was
// one. A leader that runs only now and then (a scheduled invocation of a
// Lambda function) calls it instead of running Watch.
func (m *Manager) ApplyPending(ctx context.Context) (bool, error) {
	v, err := m.Store.Setting(ctx, requestSetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	var req Request
	if json.Unmarshal([]byte(v), &req) != nil {
		return false, nil
	}
	if v, err := m.Store.Setting(ctx, resultSetting); err == nil {
		var done Result
		if json.Unmarshal([]byte(v), &done) == nil && done.Seq >= req.Seq {
			return false, nil
		}
	}
	return true, m.answer(ctx, req)
}
