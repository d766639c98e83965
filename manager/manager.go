// Package manager runs the cache pool: it starts and stops nodes through a
// Provider, keeps the pool's state (nodes, layout epoch, capacity, policy)
// in the metadata store so a restart keeps it, restarts nodes that die,
// and resizes the pool through pool.Client.Resize.
package manager

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/pool"
)

// Defaults of a new pool.
const (
	DefaultNodes      = 2
	DefaultCapacityMB = 64
	DefaultPolicy     = "lru"
	DefaultMaxNodes   = 8
)

// SecretSetting names the store setting that holds the pool's secret: the
// password the local nodes require (user pool.DefaultUser), made by the
// first leader and read by every replica, so they all reach the nodes.
const SecretSetting = "pool.secret"

// State is the pool as the manager last arranged it.
type State struct {
	Epoch      int64           `json:"epoch"` // bumped by every layout change
	Nodes      []pool.NodeInfo `json:"nodes"`
	CapacityMB int             `json:"capacity_mb"`
	Policy     string          `json:"policy"`
	NextID     int             `json:"next_id"` // numbers new node ids
	Resizes    []Resize        `json:"resizes,omitempty"`
	// Mode is "manual" (the admin sets the size) or "auto" (the
	// auto-scaler does, with Auto).
	Mode string           `json:"mode"`
	Auto autoscale.Params `json:"auto"`
	// Pending is the layout a resize is moving to (epoch PendingEpoch),
	// while it copies keys: every replica writes to it as well.
	Pending      []pool.NodeInfo `json:"pending,omitempty"`
	PendingEpoch int64           `json:"pending_epoch,omitempty"`
}

// Pool modes.
const (
	ModeManual = "manual"
	ModeAuto   = "auto"
)

// Resize is one entry of the pool's resize history.
type Resize struct {
	At     time.Time     `json:"at"`
	From   int           `json:"from"`
	To     int           `json:"to"`
	Reason string        `json:"reason"`
	Moved  int           `json:"moved"`
	Took   time.Duration `json:"took"`
}

// maxHistory bounds the resize history kept in the state.
const maxHistory = 100

// Manager owns the pool. Set the fields, then Open; Close stops the nodes
// it started.
type Manager struct {
	Store pixpool.Store
	Pool  *pool.Client
	// Provider starts nodes. If nil, the pool is the fixed list Static.
	Provider Provider
	// Static lists existing nodes (host:port), used when Provider is nil;
	// stock memcached servers work. Their number cannot change.
	Static []string
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// New pools start with these; zero means the defaults above.
	Nodes      int
	CapacityMB int
	Policy     string
	// MaxNodes bounds the pool. If zero, 8.
	MaxNodes int
	// MaxPoolMB, if set, bounds the memory of every node together (nodes
	// × capacity): serve sets the machine's memory when it starts the
	// nodes itself, as they then share it.
	MaxPoolMB int
	// ResizeTimeout bounds the copying of keys in a resize. If zero, 60 s.
	ResizeTimeout time.Duration
	// ReplicaID names this process among the replicas that share the
	// store (serve's lease holder); if set, Follow keeps a heartbeat for it
	// and trusts the layout only while its polls are recent (replicas.go).
	// Empty: a single process, or one that only leads.
	ReplicaID string
	// ReplicaTTL: a replica whose heartbeat is older counts as gone; it
	// trusts its layout for a third of it after a poll. If zero,
	// DefaultReplicaTTL.
	ReplicaTTL time.Duration
	// StatsInterval is how often the pool's stats are sampled
	// (Collector.Interval); the Meter looks back 120 times as far, at
	// least a minute (Meter.Horizon). If zero, 5 s.
	StatsInterval time.Duration
	// Secret, if set, is the pool's secret: the password the provider's
	// nodes were given by their deployment (a Kubernetes Secret). The
	// leader stores it for the replicas instead of making a random one.
	Secret string
	// Fence, if set, is asked right before the leader changes the pool and
	// must fail if this process may no longer act as the leader (its lease
	// ran out), so that two managers never act at once.
	Fence func(ctx context.Context) error

	mu      sync.Mutex // serializes changes; guards state, secret, origin
	state   State
	secret  string    // the local nodes' password; "" with static nodes
	origin  time.Time // Meter.Origin: when a static pool was first opened or followed here
	meter   *Meter    // made by meterLocked
	closed  bool
	leading atomic.Bool // this process runs the pool; others forward changes to it

	followMu sync.Mutex   // one Follow at a time; guards hb
	hb       replicaState // this replica's heartbeat
}

// Leading reports whether this manager runs the pool. One that does not
// (a follower, on another web replica) adopts the leader's layout from
// the store (Follow) and forwards changes to it through the store.
func (m *Manager) Leading() bool { return m.leading.Load() }

// Follow adopts the pool's state from the store: the leader's nodes,
// layout epoch and settings. Followers call it every second or so; with
// ReplicaID set it also reports what it adopted (replicas.go).
func (m *Manager) Follow(ctx context.Context) error {
	m.followMu.Lock()
	defer m.followMu.Unlock()
	began, ok := m.beginPoll(ctx)
	st, err := m.load(ctx)
	if err != nil {
		return err
	}
	if err := m.adopt(ctx, st); err != nil {
		return err
	}
	if ok {
		m.endPoll(ctx, began, st)
	}
	return nil
}

// adopt makes st the pool's layout here, unless this process leads.
func (m *Manager) adopt(ctx context.Context, st State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setOrigin()
	if m.Leading() {
		return nil
	}
	// The layout first: a finished resize ends its pending layout with
	// it, so no write goes by the old layout alone.
	if epoch, _ := m.Pool.Layout(); epoch != st.Epoch || m.state.Epoch != st.Epoch {
		if err := m.loadSecret(ctx, false); err != nil {
			return err
		}
		m.Pool.SetLayout(st.Epoch, st.Nodes)
		if m.state.Epoch != 0 {
			m.logger().Info("cache pool layout adopted from the leader", "epoch", st.Epoch, "nodes", len(st.Nodes))
		}
	}
	if st.Pending != nil {
		m.Pool.SetPending(st.PendingEpoch, st.Pending)
	} else {
		m.Pool.SetPending(0, nil)
	}
	m.state = st
	return nil
}

// forward asks the leader, through the store, to make a change.
func (m *Manager) forward(ctx context.Context, op, arg string) (Result, error) {
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := Ask(actx, m.Store, op, arg)
	if err != nil {
		return res, pixpool.Errorf(pixpool.EINVALID, "%s", capitalize(err.Error()))
	}
	m.mu.Lock()
	if !m.Leading() && res.State.Epoch >= m.state.Epoch {
		m.state = res.State
		m.Pool.SetLayout(res.State.Epoch, res.State.Nodes)
	}
	m.mu.Unlock()
	return res, nil
}

func (m *Manager) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// MaxSize is the largest pool size allowed.
func (m *Manager) MaxSize() int {
	if m.MaxNodes > 0 {
		return m.MaxNodes
	}
	return DefaultMaxNodes
}

// Open loads the pool's state (or makes a new one), starts its nodes and
// publishes the layout.
func (m *Manager) Open(ctx context.Context) error {
	m.followMu.Lock() // no poll under way trusts a follower's layout after this
	defer m.followMu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = false
	m.setOrigin()
	st, err := m.load(ctx)
	if err != nil {
		return err
	}
	st.Pending, st.PendingEpoch = nil, 0 // a resize that died with its leader
	if lp, ok := m.Provider.(*LocalProvider); ok && lp.Exited == nil {
		lp.Exited = m.nodeExited
	} else if er, ok := m.Provider.(ExitReporter); ok {
		er.ReportExits(m.nodeExited)
	}
	if m.Provider == nil {
		if len(m.Static) == 0 {
			return errors.New("manager: no provider and no static nodes")
		}
		ids := make([]string, 0, len(m.Static))
		nodes := make([]pool.NodeInfo, 0, len(m.Static))
		for _, addr := range m.Static {
			nodes = append(nodes, pool.NodeInfo{ID: addr, Addr: addr})
			ids = append(ids, addr)
		}
		if !slices.Equal(nodeIDs(st.Nodes), ids) {
			st.Epoch++
		}
		st.Nodes = nodes
		m.state = st
		m.leading.Store(true)
		m.Pool.SetLayout(st.Epoch, st.Nodes)
		m.Pool.SetCurrentUntil(time.Time{}) // the leader's layout is the pool's
		// Stock memcached may refuse the policy command; capacity it knows.
		if err := m.Pool.SetCapacity(ctx, st.CapacityMB); err != nil {
			m.logger().Warn("set capacity on static nodes", "err", err)
		}
		return m.save(ctx)
	}

	if err := m.loadSecret(ctx, true); err != nil {
		return err
	}
	// Local nodes do not survive the server: start the same ids afresh.
	n := len(st.Nodes)
	if n == 0 {
		n = cmp.Or(m.Nodes, DefaultNodes)
	}
	ids := nodeIDs(st.Nodes)
	if _, ok := m.Provider.(NodeNamer); ok {
		ids = ids[:0] // the provider's names, even if the state has others
	}
	for len(ids) < n {
		ids = append(ids, m.newID(&st, len(ids)))
	}
	st.Nodes = st.Nodes[:0]
	for _, id := range ids {
		addr, err := m.Provider.Start(ctx, id, m.config(st))
		if err != nil {
			m.Provider.Close()
			return err
		}
		st.Nodes = append(st.Nodes, pool.NodeInfo{ID: id, Addr: addr})
	}
	if nn, ok := m.Provider.(NodeNamer); ok {
		// Named nodes outlive a leader: stop those past the layout (a
		// shrink stops from the first it removes on).
		if err := m.Provider.Stop(ctx, nn.NodeID(len(ids))); err != nil {
			m.logger().Warn("stop cache nodes past the layout", "err", err)
		}
	}
	st.Epoch++
	m.state = st
	m.leading.Store(true)
	m.Pool.SetLayout(st.Epoch, st.Nodes)
	m.Pool.SetCurrentUntil(time.Time{})
	if err := m.save(ctx); pixpool.ErrorCode(err) == pixpool.ESTORAGEFULL {
		// Lead from memory: the nodes run, and this server uses them;
		// followers keep the last saved layout, and fall back to the
		// store, until a later change is saved.
		m.logger().Warn("cache pool state not saved: storage is full", "err", err)
	} else if err != nil {
		return err
	}
	return nil
}

// newID names the node at position i of the layout st: the provider's
// name for it (NodeNamer), else the next of st's numbered ids.
func (m *Manager) newID(st *State, i int) string {
	if nn, ok := m.Provider.(NodeNamer); ok {
		return nn.NodeID(i)
	}
	st.NextID++
	return "node-" + strconv.Itoa(st.NextID)
}

func nodeIDs(nodes []pool.NodeInfo) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}

// config is what a new node of st starts with.
func (m *Manager) config(st State) NodeConfig {
	return NodeConfig{CapacityMB: st.CapacityMB, Policy: st.Policy, Password: m.secret}
}

// loadSecret reads the pool's secret from the store and gives it to the
// pool client; create makes a random one when there is none (the leader
// does, before it starts nodes; followers only read it). Pools of static
// nodes (no Provider) keep the credentials their client was given.
// Called with mu held.
func (m *Manager) loadSecret(ctx context.Context, create bool) error {
	if m.Provider == nil {
		return nil
	}
	v, err := m.Store.Setting(ctx, SecretSetting)
	if m.Secret != "" && v != m.Secret && create {
		if err := m.Store.SetSetting(ctx, SecretSetting, m.Secret); err != nil {
			return fmt.Errorf("manager: pool secret: %w", err)
		}
		v, err = m.Secret, nil
	}
	switch {
	case pixpool.ErrorCode(err) == pixpool.ENOTFOUND && create:
		// 52 base32 characters: 260 bits. Added, not set: a leader whose
		// lease ran out while it made one must not replace the secret the
		// next leader made and gave its nodes.
		if v, err = m.Store.AddSetting(ctx, SecretSetting, rand.Text()+rand.Text()); err != nil {
			return fmt.Errorf("manager: pool secret: %w", err)
		}
	case pixpool.ErrorCode(err) == pixpool.ENOTFOUND:
		return errors.New("manager: the pool has no secret yet (its leader makes it)")
	case err != nil:
		return fmt.Errorf("manager: pool secret: %w", err)
	}
	if v != m.secret {
		m.secret = v
		m.Pool.SetAuth(pool.DefaultUser, v)
	}
	return nil
}

func (m *Manager) load(ctx context.Context) (State, error) {
	auto := autoscale.DefaultParams
	auto.MaxNodes = min(auto.MaxNodes, m.MaxSize())
	st := State{CapacityMB: cmp.Or(m.CapacityMB, DefaultCapacityMB), Policy: cmp.Or(m.Policy, DefaultPolicy), Mode: ModeManual, Auto: auto}
	v, err := m.Store.Setting(ctx, pixpool.PoolStateSetting)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return st, nil
	} else if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, fmt.Errorf("manager: pool state: %w", err)
	}
	return st, nil
}

func (m *Manager) save(ctx context.Context) error {
	b, err := json.Marshal(m.state)
	if err != nil {
		return err
	}
	return m.Store.SetSetting(context.WithoutCancel(ctx), pixpool.PoolStateSetting, string(b))
}

// State returns a copy of the pool's state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state
	st.Nodes = slices.Clone(st.Nodes)
	st.Resizes = slices.Clone(st.Resizes)
	return st
}

// Size is the number of nodes.
func (m *Manager) Size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.state.Nodes)
}

// Resize grows or shrinks the pool to n nodes and returns when the new
// layout is in effect: new nodes start with the current settings, keys
// that change owner are copied to it, and removed nodes are stopped.
// reason is kept in the resize history ("manual", "auto", ...).
func (m *Manager) Resize(ctx context.Context, n int, reason string) (pool.ResizeReport, error) {
	if !m.Leading() {
		from := m.Size()
		res, err := m.forward(ctx, "resize", strconv.Itoa(n))
		return pool.ResizeReport{From: from, To: len(res.State.Nodes)}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return pool.ResizeReport{}, pixpool.Errorf(pixpool.EUNAVAILABLE, "The cache pool is shutting down.")
	}
	if err := m.CheckSize(n); err != nil {
		return pool.ResizeReport{}, err
	}
	if err := m.Fits(n, m.state.CapacityMB); err != nil {
		return pool.ResizeReport{}, err
	}
	if m.Fence != nil {
		if err := m.Fence(ctx); err != nil {
			return pool.ResizeReport{}, err
		}
	}
	cur := len(m.state.Nodes)
	if n == cur {
		return pool.ResizeReport{From: cur, To: n}, nil
	}
	if m.Provider == nil {
		return pool.ResizeReport{}, pixpool.Errorf(pixpool.EINVALID, "%s.", capitalize(ErrFixedPool.Error()))
	}
	st := m.state
	nodes := slices.Clone(st.Nodes)
	var removed []pool.NodeInfo
	if n > cur {
		for i := cur; i < n; i++ {
			id := m.newID(&st, i)
			addr, err := m.Provider.Start(ctx, id, m.config(st))
			if err != nil {
				// Also the node that failed: a provider may have begun it
				// (a StatefulSet scaled up for a pod that never became
				// ready). With ctx's end, which may be why it failed.
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				m.Provider.Stop(sctx, id)
				for _, nd := range nodes[cur:] {
					m.Provider.Stop(sctx, nd.ID)
				}
				cancel()
				return pool.ResizeReport{}, err
			}
			nodes = append(nodes, pool.NodeInfo{ID: id, Addr: addr})
		}
	} else {
		// Remove the newest nodes first, so long-lived ones keep their keys.
		nodes, removed = nodes[:n], nodes[n:]
	}
	// Announce the target layout, so every replica writes to it as well
	// while keys are copied.
	epoch := st.Epoch + 1
	m.state.Pending, m.state.PendingEpoch = nodes, epoch
	if err := m.save(ctx); err != nil {
		return pool.ResizeReport{}, err
	}
	m.Pool.SetPending(epoch, nodes)
	m.awaitReplicas(ctx, epoch, false)
	st.Epoch = epoch
	st.Nodes = nodes
	st.Pending, st.PendingEpoch = nil, 0
	// Samples right before and after the copying: the nodes a shrink
	// removes have their lookups counted up to it, and the lookups the
	// copying makes are left out of every replica's rates.
	m.record(ctx, "before")
	rctx, cancel := context.WithTimeout(ctx, cmp.Or(m.ResizeTimeout, 60*time.Second))
	var err error
	// Once the new layout is published here: save it, and keep writing to
	// the old owners too until every replica reads by it.
	rep := m.Pool.ResizeThen(rctx, st.Epoch, nodes, func(rep pool.ResizeReport) {
		m.record(ctx, "after")
		st.Resizes = append(st.Resizes, Resize{At: time.Now().UTC(), From: cur, To: n, Reason: reason, Moved: rep.Moved, Took: rep.Took})
		if len(st.Resizes) > maxHistory {
			st.Resizes = st.Resizes[len(st.Resizes)-maxHistory:]
		}
		m.state = st
		err = m.save(ctx)
		// Unsaved, the replicas cannot adopt it; waiting still lets those
		// that cannot reach the store stop trusting their layout.
		m.awaitReplicas(ctx, epoch, true)
	})
	cancel()
	for _, nd := range removed {
		if serr := m.Provider.Stop(context.WithoutCancel(ctx), nd.ID); serr != nil {
			m.logger().Warn("stop cache node", "node", nd.ID, "err", serr)
		}
	}
	return rep, err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SetCapacity sets every node's capacity (MB) at once; new nodes start
// with it too.
func (m *Manager) SetCapacity(ctx context.Context, mb int) error {
	if err := CheckCapacity(mb); err != nil {
		return err
	}
	if err := m.Fits(max(m.Size(), 1), mb); err != nil {
		return err
	}
	if !m.Leading() {
		_, err := m.forward(ctx, "capacity", strconv.Itoa(mb))
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Pool.SetCapacity(ctx, mb); err != nil {
		return fmt.Errorf("set capacity: %w", err)
	}
	m.state.CapacityMB = mb
	m.logger().Info("cache capacity set", "mb", mb)
	return m.save(ctx)
}

// Fits refuses, as EINVALID, n nodes of mb MB each if together they
// would need more than MaxPoolMB.
func (m *Manager) Fits(n, mb int) error {
	if m.MaxPoolMB > 0 && n*mb > m.MaxPoolMB {
		return pixpool.Errorf(pixpool.EINVALID, "%d nodes of %d MB would need %d MB, more than this machine's memory (%d MB).", n, mb, n*mb, m.MaxPoolMB)
	}
	return nil
}

// ParsePolicy accepts "lru" or "rr" in any case.
func ParsePolicy(s string) (string, error) {
	switch p := strings.ToLower(s); p {
	case "lru", "rr":
		return p, nil
	}
	return "", pixpool.Errorf(pixpool.EINVALID, "The policy must be LRU or RR, not %q.", s)
}

// SetPolicy sets every node's replacement policy at once ("lru" or "rr");
// nodes keep their contents.
func (m *Manager) SetPolicy(ctx context.Context, policy string) error {
	p, err := ParsePolicy(policy)
	if err != nil {
		return err
	}
	if !m.Leading() {
		_, err := m.forward(ctx, "policy", p)
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.Pool.SetPolicy(ctx, p); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	m.state.Policy = p
	m.logger().Info("cache policy set", "policy", p)
	return m.save(ctx)
}

// SetMode switches between manual and automatic sizing; in automatic mode
// p are the auto-scaler's settings (validated), in manual mode p, if
// valid, is kept for later.
func (m *Manager) SetMode(ctx context.Context, mode string, p autoscale.Params) error {
	switch mode {
	case ModeManual, ModeAuto:
	default:
		return pixpool.Errorf(pixpool.EINVALID, "The mode must be manual or auto, not %q.", mode)
	}
	if err := p.Validate(m.MaxSize()); err != nil {
		return err
	}
	if m.Provider == nil && mode == ModeAuto {
		return pixpool.Errorf(pixpool.EINVALID, "%s.", capitalize(ErrFixedPool.Error()))
	}
	if !m.Leading() {
		arg, _ := json.Marshal(modeRequest{Mode: mode, Auto: p})
		_, err := m.forward(ctx, "mode", string(arg))
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.Mode, m.state.Auto = mode, p
	m.logger().Info("pool mode set", "mode", mode, "params", p)
	return m.save(ctx)
}

// Auto reports whether the auto-scaler is on, and its settings.
func (m *Manager) Auto() (bool, autoscale.Params) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state.Mode == ModeAuto, m.state.Auto
}

// LastResize is when the pool last changed size (zero if never).
func (m *Manager) LastResize() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.state.Resizes); n > 0 {
		return m.state.Resizes[n-1].At
	}
	return time.Time{}
}

// Stats returns every node's live stats.
func (m *Manager) Stats(ctx context.Context) []pool.NodeStats { return m.Pool.Stats(ctx) }

// Keys returns a node's keys in LRU order, least recently used first.
func (m *Manager) Keys(ctx context.Context, node string) ([]pool.KeyInfo, error) {
	return m.Pool.Keys(ctx, node)
}

// setOrigin notes, the first time, when this process took up a static
// pool: nodes it did not start may have counted others' traffic before.
// The nodes a provider starts count only this pool's, from their start.
// Called with mu held.
func (m *Manager) setOrigin() {
	if m.Provider == nil && m.origin.IsZero() {
		m.origin = time.Now().UTC()
	}
}

// Meter measures the pool's traffic from its nodes and the stats history;
// the Collector records with it, and so do resizes.
func (m *Manager) Meter() *Meter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meterLocked()
}

// meterLocked is Meter, called with mu held.
func (m *Manager) meterLocked() *Meter {
	if m.meter == nil {
		m.setOrigin()
		m.meter = &Meter{Store: m.Store, Nodes: m.Pool, Origin: m.origin, Horizon: max(time.Minute, 120*cmp.Or(m.StatsInterval, 5*time.Second))}
	}
	return m.meter
}

// record stores a stats sample now, so that the lookups a resize makes
// copying keys are told apart from users' (Meter.Record). Called with mu
// held.
func (m *Manager) record(ctx context.Context, when string) {
	if err := m.meterLocked().Record(context.WithoutCancel(ctx), time.Now); err != nil {
		m.logger().Warn("stats: sample "+when+" a resize", "err", err)
	}
}

// Samples returns the pool's stats samples after since, ending with the
// interval in progress, read from the nodes at now (Meter.Samples).
func (m *Manager) Samples(ctx context.Context, since, now time.Time) ([]pixpool.PoolSample, error) {
	return m.Meter().Samples(ctx, since, now)
}

// Window returns the pool's lookups and misses from since up to now, every
// replica's, the interval in progress included (Meter.Window).
func (m *Manager) Window(ctx context.Context, since, now time.Time) (autoscale.Stats, error) {
	return m.Meter().Window(ctx, since, now)
}

// Scaler returns the auto-scaler for this pool, deciding on its traffic
// up to the moment it decides (Window).
func (m *Manager) Scaler() *autoscale.Scaler {
	return &autoscale.Scaler{
		Pool:     scalable{m},
		Window:   m.Window,
		Settings: m.Auto,
		Logger:   m.logger(),
	}
}

// scalable adapts a Manager to autoscale.Pool.
type scalable struct{ m *Manager }

func (s scalable) Size() int             { return s.m.Size() }
func (s scalable) LastResize() time.Time { return s.m.LastResize() }
func (s scalable) Resize(ctx context.Context, n int, reason string) error {
	if mb := s.m.State().CapacityMB; s.m.MaxPoolMB > 0 && mb > 0 {
		n = min(n, max(s.m.MaxPoolMB/mb, 1)) // grow only as far as memory allows
	}
	_, err := s.m.Resize(ctx, n, reason)
	return err
}

// modeRequest is the argument of a forwarded SetMode.
type modeRequest struct {
	Mode string           `json:"mode"`
	Auto autoscale.Params `json:"auto"`
	// Pending is the layout a resize is moving to (epoch PendingEpoch),
	// while it copies keys: every replica writes to it as well.
	Pending      []pool.NodeInfo `json:"pending,omitempty"`
	PendingEpoch int64           `json:"pending_epoch,omitempty"`
}

// Clear empties every node.
func (m *Manager) Clear(ctx context.Context) error {
	return m.Pool.Flush(ctx)
}

// nodeExited restarts a local node that died, under the same id (so its
// keys map to it again) at a new address, after a pause that grows if it
// keeps dying.
func (m *Manager) nodeExited(id string, _ error) {
	delay := 100 * time.Millisecond
	for {
		m.mu.Lock()
		if m.closed || !slices.Contains(nodeIDs(m.state.Nodes), id) {
			m.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		addr, err := m.Provider.Start(ctx, id, m.config(m.state))
		if err == nil {
			for i := range m.state.Nodes {
				if m.state.Nodes[i].ID == id {
					m.state.Nodes[i].Addr = addr
				}
			}
			m.state.Epoch++
			m.Pool.SetLayout(m.state.Epoch, m.state.Nodes)
			err = m.save(ctx)
		}
		cancel()
		m.mu.Unlock()
		if err == nil {
			m.logger().Info("cache node restarted", "node", id, "addr", addr)
			return
		}
		m.logger().Error("restart cache node", "node", id, "err", err)
		time.Sleep(delay)
		delay = min(2*delay, 30*time.Second)
	}
}

// Close stops the nodes the manager started.
func (m *Manager) Close() error {
	m.followMu.Lock()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	m.dropHeartbeat(dctx)
	cancel()
	m.followMu.Unlock()
	m.mu.Lock()
	m.closed = true
	m.leading.Store(false)
	m.mu.Unlock()
	if m.Provider != nil {
		return m.Provider.Close()
	}
	return nil
}
