package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/pixpool/pixpool"
)

// Client is a pixpool.Cache over the pool's nodes. A node that fails
// FailAfter times in a row is marked down: its keys are misses (served
// from the stores) and writes to it are skipped, until a probe finds it
// healthy again; it is flushed before it comes back, so nothing it held
// from before can be read. Its keys are deliberately not re-homed on
// other nodes meanwhile: those copies would go stale when it returns.
//
// Set the fields before first use.
type Client struct {
	// Timeout bounds one operation on a node. If zero, 500 ms.
	Timeout time.Duration
	// FailAfter consecutive failures mark a node down. If zero, 3.
	FailAfter int
	// ProbeEvery is how often a down node is tried. If zero, 1 s.
	ProbeEvery time.Duration
	// MaxIdle: a pooled connection to a node left unused for longer is
	// replaced by a new one before its next request, so that the node's
	// idle timeout (5 minutes on pixpool's nodes) never closes one under
	// a request. If zero, 1 minute.
	MaxIdle time.Duration
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// HotBytes bounds the hot tier: values read recently, kept in process
	// and served after their node confirms by CAS that they are current
	// (see hot.go), so that a hit moves only a few bytes from the node. If
	// zero, there is no hot tier and every hit reads the value from its
	// node.
	HotBytes int64
	// Refresh, if set, confirms the layout (a replica polls the store for
	// it and calls SetCurrentUntil): a write calls it first when the
	// layout is no longer known to be current (see current.go).
	Refresh func(ctx context.Context) error

	hotOnce sync.Once
	hot     *hotTier // nil: no hot tier
	hotHits atomic.Int64

	auth atomic.Pointer[credential] // nil: connections do not authenticate

	// mu orders writes against layout changes: Set, Add and Delete hold
	// it shared, publishing a layout holds it exclusively, so no write
	// lands on a node by a layout that is no longer current.
	mu  sync.RWMutex
	lay atomic.Pointer[layout]
	mig atomic.Pointer[migration] // non-nil while Resize copies keys
	// pending is the layout a resize (here or on another replica) is
	// moving to; while set, writes go to a key's owner in it as well.
	pending atomic.Pointer[layout]
	// prev is the layout a resize here left, while replicas that may
	// still read by it have not adopted the new one: writes go to a key's
	// owner in it as well.
	prev atomic.Pointer[layout]

	until      atomic.Int64 // SetCurrentUntil; 0: always current
	refreshMu  sync.Mutex   // one Refresh at a time
	suspectMu  sync.Mutex   // guards suspects, suspectAll
	suspects   map[string]struct{}
	suspectAll bool

	closeOnce sync.Once
	closed    chan struct{}
	probes    sync.WaitGroup

	hits, misses, failures atomic.Int64
}

var _ pixpool.Cache = (*Client)(nil)

// layout is one published arrangement of the pool; it never changes.
type layout struct {
	epoch int64
	nodes map[string]*node // by id
	ring  *Ring
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 500 * time.Millisecond
}

func (c *Client) maxIdle() time.Duration {
	if c.MaxIdle > 0 {
		return c.MaxIdle
	}
	return time.Minute
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Client) done() chan struct{} {
	c.closeOnce.Do(func() { c.closed = make(chan struct{}) })
	return c.closed
}

// Close stops the health probes.
func (c *Client) Close() error {
	done := c.done()
	select {
	case <-done:
	default:
		close(done)
	}
	c.probes.Wait()
	return nil
}

// buildLayout makes a layout of nodes, reusing the connections and health
// of nodes of the current layout that have not moved.
func (c *Client) buildLayout(epoch int64, infos []NodeInfo) *layout {
	cur := c.lay.Load()
	l := &layout{epoch: epoch, nodes: make(map[string]*node, len(infos))}
	ids := make([]string, 0, len(infos))
	for _, info := range infos {
		if cur != nil {
			if n, ok := cur.nodes[info.ID]; ok && n.Addr == info.Addr {
				l.nodes[info.ID] = n
				ids = append(ids, info.ID)
				continue
			}
		}
		l.nodes[info.ID] = c.newNode(info)
		ids = append(ids, info.ID)
	}
	l.ring = NewRing(ids...)
	return l
}

// SetLayout publishes a layout at once, without moving keys: at start, or
// when a node restarted at a new address (it comes back empty).
func (c *Client) SetLayout(epoch int64, nodes []NodeInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lay.Store(c.buildLayout(epoch, nodes))
	if p := c.pending.Load(); p != nil && p.epoch <= epoch {
		c.pending.Store(nil) // the resize it announced is done
	}
}

// SetPending announces the layout a resize is moving to, or with nil
// nodes ends the announcement: until then every write also goes to the
// key's owner in it. Followers set it from the leader's state. It returns
// once the writes under way have finished, so every write that ends after
// it went by the new announcement.
func (c *Client) SetPending(epoch int64, nodes []NodeInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if nodes == nil {
		c.pending.Store(nil)
		return
	}
	if p := c.pending.Load(); p != nil && p.epoch == epoch {
		return
	}
	c.pending.Store(c.buildLayout(epoch, nodes))
}

// Layout returns the current layout's epoch and nodes, sorted by id.
func (c *Client) Layout() (int64, []NodeInfo) {
	l := c.lay.Load()
	if l == nil {
		return 0, nil
	}
	out := make([]NodeInfo, 0, len(l.nodes))
	for _, id := range l.ring.IDs() {
		out = append(out, l.nodes[id].NodeInfo)
	}
	return l.epoch, out
}

// Owner returns the id of the node that owns key in the current layout.
func (c *Client) Owner(key string) string {
	if l := c.lay.Load(); l != nil {
		return l.ring.Get(key)
	}
	return ""
}

// owner returns key's node, or nil when there is none or it is down.
func (l *layout) owner(key string) *node {
	if l == nil {
		return nil
	}
	n := l.nodes[l.ring.Get(key)]
	if n == nil || n.down.Load() {
		return nil
	}
	return n
}

var errNoNode = errors.New("pool: no healthy node for key")

var errMiss = pixpool.ErrCacheMiss

func (c *Client) hotTier() *hotTier {
	c.hotOnce.Do(func() {
		if c.HotBytes > 0 {
			c.hot = newHotTier(c.HotBytes)
		}
	})
	return c.hot
}

// Get returns key's value from its node, or pixpool.ErrCacheMiss. The
// value may be shared with other callers (the hot tier): it must not be
// modified.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	l := c.lay.Load()
	n := l.owner(key)
	if n == nil || !c.Current() {
		c.misses.Add(1)
		return nil, pixpool.ErrCacheMiss
	}
	v, hot, err := c.get(n, key)
	if err != nil {
		return nil, err
	}
	if c.lay.Load() != l || !c.Current() {
		// The layout changed, or can no longer be confirmed, while the
		// value was read: it may come from a node that no longer gets
		// every write.
		c.hits.Add(-1)
		c.misses.Add(1)
		return nil, pixpool.ErrCacheMiss
	}
	if hot {
		c.hotHits.Add(1)
	}
	return v, nil
}

// get reads key from n, through the hot tier if there is one; hot says
// the value came from it.
func (c *Client) get(n *node, key string) ([]byte, bool, error) {
	if c.hotTier() != nil && !n.noMeta.Load() && metaKey(key) {
		return c.hotGet(n, key)
	}
	it, err := n.mc.Get(key)
	if err != nil {
		c.misses.Add(1)
		if errors.Is(err, memcache.ErrCacheMiss) {
			c.ok(n)
			return nil, false, pixpool.ErrCacheMiss
		}
		c.fail(n, err)
		return nil, false, fmt.Errorf("pool: get from %s: %w", n.ID, err)
	}
	c.ok(n)
	c.hits.Add(1)
	return it.Value, false, nil
}

// Set stores value under key on its node.
func (c *Client) Set(ctx context.Context, key string, value []byte) error {
	return c.write(ctx, key, func(n *node) error { return n.mc.Set(&memcache.Item{Key: key, Value: value}) })
}

// Add stores value under key only if its node does not hold key.
func (c *Client) Add(ctx context.Context, key string, value []byte) error {
	return c.write(ctx, key, func(n *node) error { return n.mc.Add(&memcache.Item{Key: key, Value: value}) })
}

// Delete removes key from its node.
func (c *Client) Delete(ctx context.Context, key string) error {
	return c.write(ctx, key, func(n *node) error { return n.mc.Delete(key) })
}

func (c *Client) write(ctx context.Context, key string, op func(*node) error) error {
	c.confirm(ctx)
	c.mu.RLock()
	defer c.mu.RUnlock()
	defer func() {
		if !c.Current() {
			// It may have gone by a layout another process has left.
			c.suspect(key)
		}
	}()
	if h := c.hotTier(); h != nil {
		// Not needed for exactness (every hot hit is validated), but the
		// copy is known stale.
		defer h.drop(key)
	}
	if m := c.mig.Load(); m != nil {
		m.touch(key)
	}
	cur := c.lay.Load()
	n := cur.owner(key)
	err := errNoNode
	if n != nil {
		err = op(n)
		switch {
		case err == nil || isAnswer(err):
			c.ok(n)
			err = nil
		default:
			c.fail(n, err)
			err = fmt.Errorf("pool: write to %s: %w", n.ID, err)
		}
	}
	// During a resize the key's next owner gets the write too, so a copy
	// of an older value never outlives it (Resize checks the copies again
	// before it publishes); after it, until every replica reads by the
	// new layout, the owner in the old one does. The current owner is
	// written first: a copy made meanwhile is checked against it.
	for _, l := range []*layout{c.pending.Load(), c.prev.Load()} {
		if o := l.owner(key); o != nil && o != n {
			if err := op(o); err != nil && !isAnswer(err) {
				c.logger().Debug("pool: write to another layout's owner", "node", o.ID, "err", err)
			}
		}
	}
	return err
}

// Flush empties every node (those down are flushed when they return).
func (c *Client) Flush(ctx context.Context) error {
	if h := c.hotTier(); h != nil {
		h.clear()
	}
	l := c.lay.Load()
	if l == nil {
		return nil
	}
	var errs []error
	for _, n := range l.nodes {
		if n.down.Load() {
			continue
		}
		if err := n.flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("pool: flush %s: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Counters are the client's own view of its traffic. HotHits are the
// hits served from the hot tier (counted in Hits too); HotItems and
// HotBytes what it holds now.
type Counters struct {
	Hits, Misses, Failures      int64
	HotHits, HotItems, HotBytes int64
}

// Counters returns the hits, misses and failed operations seen so far.
func (c *Client) Counters() Counters {
	out := Counters{Hits: c.hits.Load(), Misses: c.misses.Load(), Failures: c.failures.Load(), HotHits: c.hotHits.Load()}
	if h := c.hotTier(); h != nil {
		items, bytes := h.stats()
		out.HotItems, out.HotBytes = int64(items), bytes
	}
	return out
}

func (c *Client) ok(n *node) {
	if n.fails.Load() != 0 {
		n.fails.Store(0)
	}
}

func (c *Client) failAfter() int32 {
	if c.FailAfter > 0 {
		return int32(c.FailAfter)
	}
	return 3
}

// fail counts a failure; past FailAfter in a row the node goes down and a
// probe starts.
func (c *Client) fail(n *node, err error) {
	c.failures.Add(1)
	if n.fails.Add(1) < c.failAfter() || !n.down.CompareAndSwap(false, true) {
		return
	}
	c.logger().Warn("cache node down; its keys are served from the stores", "node", n.ID, "addr", n.Addr, "err", err)
	c.probes.Add(1)
	go c.probe(n)
}

// probe tries a down node until it answers, flushes it, and brings it
// back. It gives up when the node leaves the layout or the client closes.
func (c *Client) probe(n *node) {
	defer c.probes.Done()
	every := c.ProbeEvery
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done():
			return
		case <-t.C:
		}
		if l := c.lay.Load(); l == nil || l.nodes[n.ID] != n {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*c.timeout())
		err := n.flush(ctx)
		cancel()
		if err == nil {
			n.fails.Store(0)
			n.down.Store(false)
			c.logger().Info("cache node back", "node", n.ID, "addr", n.Addr)
			return
		}
	}
}

// Stats returns every node's stats, sorted by id; a node that does not
// answer is reported with Up false.
func (c *Client) Stats(ctx context.Context) []NodeStats {
	l := c.lay.Load()
	if l == nil {
		return nil
	}
	out := make([]NodeStats, len(l.nodes))
	var wg sync.WaitGroup
	for i, id := range l.ring.IDs() {
		n := l.nodes[id]
		wg.Go(func() {
			s, err := n.stats(ctx)
			if err != nil || n.down.Load() {
				s = NodeStats{NodeInfo: n.NodeInfo}
			}
			// Read after the node's counters, so they hold every own
			// lookup those counted (and the few made meanwhile).
			s.OwnHits, s.OwnMisses = n.ownHits.Load(), n.ownMisses.Load()
			out[i] = s
		})
	}
	wg.Wait()
	return out
}

// Keys returns a node's keys in LRU order, least recently used first.
func (c *Client) Keys(ctx context.Context, id string) ([]KeyInfo, error) {
	n, err := c.node(id)
	if err != nil {
		return nil, err
	}
	return n.keys(ctx)
}

// SetCapacity sets every node's capacity in MB at once.
func (c *Client) SetCapacity(ctx context.Context, mb int) error {
	return c.each(ctx, func(n *node) error { return n.setCapacity(ctx, mb) })
}

// SetPolicy sets every node's replacement policy ("lru" or "rr").
func (c *Client) SetPolicy(ctx context.Context, policy string) error {
	return c.each(ctx, func(n *node) error { return n.setPolicy(ctx, policy) })
}

func (c *Client) each(ctx context.Context, fn func(*node) error) error {
	l := c.lay.Load()
	if l == nil {
		return nil
	}
	ids := l.ring.IDs()
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		n := l.nodes[id]
		wg.Go(func() {
			if err := fn(n); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Client) node(id string) (*node, error) {
	l := c.lay.Load()
	if l == nil || l.nodes[id] == nil {
		var ids []string
		if l != nil {
			ids = l.ring.IDs()
		}
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "No cache node %q (nodes: %v).", id, ids)
	}
	return l.nodes[id], nil
}
