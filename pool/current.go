package pool

import (
	"context"
	"time"
)

// A client that follows a layout kept elsewhere (a replica adopting the
// leader's layout from the store) trusts it only for a while after it last
// confirmed it: SetCurrentUntil. Past that moment the client may be behind
// a resize another process made, so it neither reads from the nodes (Get
// is a miss: the caller reads the stores) nor writes by what it has
// without first asking Refresh to confirm it again. A read whose layout
// changed, or whose deadline passed, while it was on the wire is a miss
// too, so no value read by a layout that was left is returned. Keys
// written while the client could not confirm its layout (the write may
// have landed where nobody reads it now, and be read later) are deleted
// from every node of the layouts it has once it is current again.

// start is the origin of the monotonic deadlines kept as integers.
var start = time.Now()

// SetCurrentUntil says until when the client's layout is known to be
// current; the zero time (the default) means always, as for a single
// process or the pool's leader.
func (c *Client) SetCurrentUntil(t time.Time) {
	if t.IsZero() {
		c.until.Store(0)
		return
	}
	c.until.Store(max(int64(t.Sub(start)), 1))
}

// Current reports whether the client's layout is known to be current.
func (c *Client) Current() bool {
	u := c.until.Load()
	return u == 0 || int64(time.Since(start)) < u
}

// confirm makes sure, before a write, that the layout is current, asking
// Refresh once if it is not. Concurrent writes share one Refresh.
func (c *Client) confirm(ctx context.Context) {
	if c.Current() || c.Refresh == nil {
		return
	}
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if c.Current() {
		return
	}
	if err := c.Refresh(ctx); err != nil {
		c.logger().Warn("pool: confirm the layout before a write", "err", err)
	}
}

// maxSuspects bounds the keys remembered for deletion; past it the nodes
// are flushed instead.
const maxSuspects = 4096

// suspect remembers key, written while the layout was not confirmed.
func (c *Client) suspect(key string) {
	c.suspectMu.Lock()
	defer c.suspectMu.Unlock()
	if c.suspects == nil {
		c.suspects = make(map[string]struct{})
	}
	if len(c.suspects) < maxSuspects {
		c.suspects[key] = struct{}{}
	} else {
		c.suspectAll = true
	}
}

// Reconcile deletes, from every node of the current, pending and previous
// layouts, the keys written while the layout was not confirmed, so that a
// write that landed by an old layout is never read. Call it once the
// layout is current again.
func (c *Client) Reconcile(ctx context.Context) {
	c.suspectMu.Lock()
	keys, all := c.suspects, c.suspectAll
	c.suspects, c.suspectAll = nil, false
	c.suspectMu.Unlock()
	if len(keys) == 0 && !all {
		return
	}
	if all {
		c.logger().Warn("pool: many writes while the layout was not confirmed: flushing the nodes")
		if err := c.Flush(ctx); err != nil {
			c.logger().Warn("pool: flush", "err", err)
		}
		return
	}
	if h := c.hotTier(); h != nil {
		for k := range keys {
			h.drop(k)
		}
	}
	seen := make(map[*node]bool)
	for _, l := range []*layout{c.lay.Load(), c.pending.Load(), c.prev.Load()} {
		if l == nil {
			continue
		}
		for _, n := range l.nodes {
			if seen[n] || n.down.Load() {
				continue
			}
			seen[n] = true
			for k := range keys {
				_ = n.mc.Delete(k)
			}
		}
	}
}
