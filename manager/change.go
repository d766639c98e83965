package manager

import (
	"cmp"
	"context"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/pool"
)

// MaxCapacityMB bounds a node's capacity.
const MaxCapacityMB = 1 << 20

// ErrNoPool answers every look at, and change to, the cache pool when
// serve runs without one (--cache-size 0): the admin portal shows it as
// its pages' error, the APIs as theirs.
var ErrNoPool = pixpool.Errorf(pixpool.EUNAVAILABLE, "The cache pool is off (--cache-size 0).")

// Change is a set of changes to the pool, made at once by ApplyChange:
// the admin portal's, the admin API's and the compatibility API's
// configure_cache. Zero fields change nothing.
type Change struct {
	Mode       string            // ModeManual or ModeAuto
	Auto       *autoscale.Params // the auto-scaler's settings, complete
	Nodes      int               // the pool's size
	CapacityMB int               // every node's capacity
	Policy     string            // "lru" or "rr", any case
	Reason     string            // for the resize history
}

// CheckSize refuses, as EINVALID, a pool of n nodes: fewer than one, or
// more than MaxSize.
func (m *Manager) CheckSize(n int) error {
	if n < 1 || n > m.MaxSize() {
		return pixpool.Errorf(pixpool.EINVALID, "The pool size must be 1 to %d nodes.", m.MaxSize())
	}
	return nil
}

// CheckCapacity refuses, as EINVALID, a node capacity of mb MB below 1 or
// above MaxCapacityMB.
func CheckCapacity(mb int) error {
	if mb < 1 || mb > MaxCapacityMB {
		return pixpool.Errorf(pixpool.EINVALID, "The capacity must be 1 to %d MB.", MaxCapacityMB)
	}
	return nil
}

// validate reports the first thing wrong with c for pool m, as an
// EINVALID error, before anything is changed.
func (c *Change) validate(m *Manager) error {
	fixed := m.Provider == nil
	switch c.Mode {
	case "", ModeManual, ModeAuto:
	default:
		return pixpool.Errorf(pixpool.EINVALID, "The mode must be manual or auto, not %q.", c.Mode)
	}
	if c.Nodes != 0 {
		if err := m.CheckSize(c.Nodes); err != nil {
			return err
		}
		if fixed && c.Nodes != m.Size() {
			return pixpool.Errorf(pixpool.EINVALID, "The pool's size is fixed: %s.", ErrFixedPool)
		}
	}
	if c.CapacityMB != 0 {
		if err := CheckCapacity(c.CapacityMB); err != nil {
			return err
		}
	}
	if c.Nodes != 0 || c.CapacityMB != 0 {
		n, mb := cmp.Or(c.Nodes, max(m.Size(), 1)), cmp.Or(c.CapacityMB, m.State().CapacityMB)
		if err := m.Fits(n, mb); err != nil {
			return err
		}
	}
	if c.Policy != "" {
		p, err := ParsePolicy(c.Policy)
		if err != nil {
			return err
		}
		c.Policy = p
	}
	if c.Auto != nil {
		if err := c.Auto.Validate(m.MaxSize()); err != nil {
			return err
		}
	}
	if c.Mode == ModeAuto && fixed {
		return pixpool.Errorf(pixpool.EINVALID, "Automatic mode needs a pool pixpool can resize: %s.", ErrFixedPool)
	}
	return nil
}

// ApplyChange validates c, then applies it: policy, capacity, mode and
// settings, size. Switching to manual happens before the resize (so the
// auto-scaler does not fight it), switching to auto after. It returns the
// resize's report when the size was asked for. The changes outlive ctx's
// cancellation: a client that hangs up does not stop them half-way. A nil
// Manager (no cache pool) answers ErrNoPool.
func (m *Manager) ApplyChange(ctx context.Context, c Change) (*pool.ResizeReport, error) {
	if m == nil {
		return nil, ErrNoPool
	}
	if err := c.validate(m); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if c.Policy != "" {
		if err := m.SetPolicy(ctx, c.Policy); err != nil {
			return nil, err
		}
	}
	if c.CapacityMB != 0 {
		if err := m.SetCapacity(ctx, c.CapacityMB); err != nil {
			return nil, err
		}
	}
	setMode := func() error {
		if c.Mode == "" && c.Auto == nil {
			return nil
		}
		auto, p := m.Auto()
		mode := ModeManual
		if auto {
			mode = ModeAuto
		}
		if c.Mode != "" {
			mode = c.Mode
		}
		if c.Auto != nil {
			p = *c.Auto
		}
		return m.SetMode(ctx, mode, p)
	}
	if c.Mode == ModeManual {
		if err := setMode(); err != nil {
			return nil, err
		}
	}
	var rep *pool.ResizeReport
	if c.Nodes != 0 {
		r, err := m.Resize(ctx, c.Nodes, c.Reason)
		if err != nil {
			return nil, err
		}
		rep = &r
	}
	if c.Mode != ModeManual {
		if err := setMode(); err != nil {
			return nil, err
		}
	}
	return rep, nil
}
