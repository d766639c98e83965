package manager

import (
	"cmp"
	"context"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/pool"
)

// maxCapacityMB bounds a node's capacity, as manager.SetCapacity does.
const maxCapacityMB = 1 << 20

// poolChange is a set of changes to the pool, made by configure_cache
// and the admin API. Zero fields change nothing.
type poolChange struct {
	mode       string            // manager.ModeManual or ModeAuto
	params     *autoscale.Params // the auto-scaler's settings, complete
	nodes      int               // the pool's size
	capacityMB int               // every node's capacity
	policy     string            // "lru" or "rr", any case
	reason     string            // for the resize history
}

// validate reports the first thing wrong with c for pool m, as an
// EINVALID error, before anything is changed.
func (c *poolChange) validate(m *manager.Manager) error {
	fixed := m.Provider == nil
	switch c.mode {
	case "", manager.ModeManual, manager.ModeAuto:
	default:
		return pixpool.Errorf(pixpool.EINVALID, "The mode must be manual or auto, not %q.", c.mode)
	}
	if c.nodes != 0 {
		if c.nodes < 1 || c.nodes > m.MaxSize() {
			return pixpool.Errorf(pixpool.EINVALID, "The pool size must be 1 to %d nodes.", m.MaxSize())
		}
		if fixed && c.nodes != m.Size() {
			return pixpool.Errorf(pixpool.EINVALID, "The pool's size is fixed: %s.", manager.ErrFixedPool)
		}
	}
	if c.capacityMB != 0 && (c.capacityMB < 1 || c.capacityMB > maxCapacityMB) {
		return pixpool.Errorf(pixpool.EINVALID, "The capacity must be 1 to %d MB.", maxCapacityMB)
	}
	if c.nodes != 0 || c.capacityMB != 0 {
		n, mb := cmp.Or(c.nodes, max(m.Size(), 1)), cmp.Or(c.capacityMB, m.State().CapacityMB)
		if err := m.Fits(n, mb); err != nil {
			return err
		}
	}
	if c.policy != "" {
		p, err := manager.ParsePolicy(c.policy)
		if err != nil {
			return err
		}
		c.policy = p
	}
	if c.params != nil {
		if err := c.params.Validate(m.MaxSize()); err != nil {
			return err
		}
	}
	if c.mode == manager.ModeAuto && fixed {
		return pixpool.Errorf(pixpool.EINVALID, "Automatic mode needs a pool pixpool can resize: %s.", manager.ErrFixedPool)
	}
	return nil
}

// applyPoolChange validates c, then applies it: policy, capacity, mode and
// settings, size. Switching to manual happens before the resize (so the
// auto-scaler does not fight it), switching to auto after. It returns the
// resize's report when the size was asked for. The changes outlive the
// request: a client that hangs up does not stop them half-way.
func (s *Server) applyPoolChange(ctx context.Context, c poolChange) (*pool.ResizeReport, error) {
	m := s.Manager
	if m == nil {
		return nil, errPoolUnavailable
	}
	if err := c.validate(m); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if c.policy != "" {
		if err := m.SetPolicy(ctx, c.policy); err != nil {
			return nil, err
		}
	}
	if c.capacityMB != 0 {
		if err := m.SetCapacity(ctx, c.capacityMB); err != nil {
			return nil, err
		}
	}
	setMode := func() error {
		if c.mode == "" && c.params == nil {
			return nil
		}
		auto, p := m.Auto()
		mode := manager.ModeManual
		if auto {
			mode = manager.ModeAuto
		}
		if c.mode != "" {
			mode = c.mode
		}
		if c.params != nil {
			p = *c.params
		}
		return m.SetMode(ctx, mode, p)
	}
	if c.mode == manager.ModeManual {
		if err := setMode(); err != nil {
			return nil, err
		}
	}
	var rep *pool.ResizeReport
	if c.nodes != 0 {
		r, err := m.Resize(ctx, c.nodes, c.reason)
		if err != nil {
			return nil, err
		}
		rep = &r
	}
	if c.mode != manager.ModeManual {
		if err := setMode(); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// errPoolUnavailable answers the APIs' pool and cache actions when serve
// runs without a cache.
var errPoolUnavailable = pixpool.Errorf(pixpool.EUNAVAILABLE, "The cache pool is off (--cache-size 0).")
