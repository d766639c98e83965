package pool

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// migration records the keys written while Resize copies, so that copies
// they made stale are dropped before the new layout takes effect.
type migration struct {
	mu    sync.Mutex // guards dirty
	dirty map[string]struct{}
}

func (m *migration) touch(key string) {
	m.mu.Lock()
	m.dirty[key] = struct{}{}
	m.mu.Unlock()
}

// ResizeReport says what a Resize did.
type ResizeReport struct {
	From, To int           // node counts
	Moved    int           // keys whose owner changed and were copied to it
	Dropped  int           // copies dropped because the key was written meanwhile
	Took     time.Duration // from start to the new layout
}

// Resize moves the pool to a new layout: the keys whose owner changes are
// copied to their new owner, most recently used first (so, if time runs
// out, the keys most likely to be read again made it); then, with writes
// held for a moment, copies of keys written since are dropped and the new
// layout is published; last, the moved keys are deleted from the nodes
// they left. The caller starts new nodes before and stops removed ones
// after; a joining node is flushed first. If ctx ends while copying, Resize publishes with the keys copied
// so far: fewer hits for a while, never wrong answers.
//
// Reads stay on the old layout until the new one is published; writes go
// to the old layout's owner and are remembered, so a read after the switch
// never sees a value older than the last write.
func (c *Client) Resize(ctx context.Context, epoch int64, nodes []NodeInfo) ResizeReport {
	return c.ResizeThen(ctx, epoch, nodes, nil)
}

// ResizeThen is Resize that calls published, if not nil, right after the
// new layout is published: until it returns, writes go to a key's owner
// in the old layout as well, so that replicas still reading by the old
// layout see them; then the moved keys are deleted from the nodes they
// left.
func (c *Client) ResizeThen(ctx context.Context, epoch int64, nodes []NodeInfo, published func(ResizeReport)) ResizeReport {
	start := time.Now()
	old := c.lay.Load()
	next := c.pending.Load()
	if next == nil || next.epoch != epoch {
		next = c.buildLayout(epoch, nodes)
	}
	rep := ResizeReport{To: len(next.nodes)}

	if old != nil {
		rep.From = len(old.nodes)
		// A joining node must hold nothing from an earlier life in the
		// pool: such leftovers would be read once the node owns them.
		for id, n := range next.nodes {
			if old.nodes[id] != n {
				if err := n.flush(ctx); err != nil {
					c.logger().Warn("resize: flush joining node", "node", id, "err", err)
				}
			}
		}
		m := &migration{dirty: make(map[string]struct{})}
		c.mig.Store(m)
		rep.Moved = c.copyMoved(ctx, old, next)

		c.mu.Lock()
		for key := range m.dirty {
			from, to := old.ring.Get(key), next.ring.Get(key)
			if from == to {
				continue // the write went to the node that keeps the key
			}
			if n := next.nodes[to]; n != nil && !n.down.Load() {
				if err := n.mc.Delete(key); err == nil {
					rep.Dropped++
				}
			}
		}
		c.lay.Store(next)
		if published != nil {
			c.prev.Store(old)
		}
		c.mig.Store(nil)
		c.pending.Store(nil)
		c.mu.Unlock()
	} else {
		c.SetLayout(epoch, nodes)
	}
	rep.Took = time.Since(start)
	if published != nil {
		published(rep)
		c.mu.Lock()
		c.prev.Store(nil)
		c.mu.Unlock()
	}

	// Old owners that stay in the pool drop what they no longer own,
	// including fills that landed after the copy listed them.
	if old != nil {
		for id, n := range old.nodes {
			if next.nodes[id] == n {
				c.dropForeign(context.WithoutCancel(ctx), n, next)
			}
		}
	}
	c.logger().Info("cache pool resized", "from", rep.From, "to", rep.To, "moved", rep.Moved,
		"dropped", rep.Dropped, "took", rep.Took.Round(time.Millisecond), "epoch", epoch)
	return rep
}

// copyMoved copies, from every healthy node of old, the keys that next
// gives another owner, most recently used first, and counts them.
func (c *Client) copyMoved(ctx context.Context, old, next *layout) int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		moved int
	)
	for id, src := range old.nodes {
		if src.down.Load() {
			continue
		}
		wg.Go(func() {
			keys, err := src.keys(ctx)
			if err != nil {
				c.logger().Warn("resize: list keys", "node", id, "err", err)
				return
			}
			n := 0
			var copied []string
			for _, k := range slices.Backward(keys) {
				if ctx.Err() != nil {
					break
				}
				to := next.ring.Get(k.Key)
				if to == id || old.ring.Get(k.Key) != id {
					continue // stays here, or a leftover this node does not own
				}
				dst := next.nodes[to]
				if dst == nil || dst.down.Load() {
					continue
				}
				it, err := src.ownGet(k.Key)
				if err != nil {
					continue // evicted or deleted since the listing
				}
				// Add, not Set: a write made meanwhile (on any replica, which
				// writes to the next owner too) is newer than this copy.
				if err := dst.mc.Add(&memcache.Item{Key: k.Key, Value: it.Value, Flags: it.Flags}); err != nil {
					if !isAnswer(err) {
						c.logger().Debug("resize: copy", "key", k.Key, "to", to, "err", err)
					}
					continue
				}
				copied = append(copied, k.Key)
				n++
			}
			// A copy made before a write or delete on another replica
			// reached the old owner may be stale; drop any that no longer
			// matches the old owner's value.
			for _, key := range copied {
				dst := next.nodes[next.ring.Get(key)]
				was, errOld := src.ownGet(key)
				now, errNew := dst.ownGet(key)
				if errNew == nil && (errOld != nil || !bytes.Equal(was.Value, now.Value)) {
					_ = dst.mc.Delete(key)
				}
			}
			mu.Lock()
			moved += n
			mu.Unlock()
		})
	}
	wg.Wait()
	return moved
}

// dropForeign deletes from n the keys that next gives to other nodes.
func (c *Client) dropForeign(ctx context.Context, n *node, next *layout) {
	if n.down.Load() {
		return
	}
	keys, err := n.keys(ctx)
	if err != nil {
		c.logger().Warn("resize: list keys", "node", n.ID, "err", err)
		return
	}
	for _, k := range keys {
		if next.ring.Get(k.Key) != n.ID {
			_ = n.mc.Delete(k.Key)
		}
	}
}
