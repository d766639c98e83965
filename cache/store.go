package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// ItemOverhead is the fixed number of bytes accounted for every item on top
// of len(key) + len(value). It is close to what memcached charges for an
// item header with CAS (48 + 8 bytes, plus the value's "\r\n"), so the
// "bytes" stat of a node compares with memcached's. It is an accounting
// constant, not the true Go heap cost of an item (see docs/cachenode.md).
const ItemOverhead = 64

// MaxKeyLen is the longest key the memcached protocol allows.
const MaxKeyLen = 250

// Defaults used for zero StoreConfig fields.
const (
	// DefaultCapacity is the capacity of a store configured with zero: 64 MiB,
	// memcached's default.
	DefaultCapacity = 64 << 20
	// DefaultMaxItemBytes bounds one item (key + value + ItemOverhead): 16 MiB.
	DefaultMaxItemBytes = 16 << 20
)

// numShards is the number of independently locked parts of a Store. It is a
// constant so that every per-operation loop over the shards (victim choice,
// merging the LRU order) is O(1).
const numShards = 16

// Errors returned by the Store. The server maps each to memcached's answer.
var (
	// ErrTooLarge: the item is larger than the item size limit or the whole
	// capacity. Nothing was changed: an old value under the key stays.
	ErrTooLarge = errors.New("cache: object too large for cache")
	// ErrNotStored: the condition of Add, Replace, Append or Prepend failed.
	ErrNotStored = errors.New("cache: item not stored")
	// ErrExists: CompareAndSwap found the item changed since it was read.
	ErrExists = errors.New("cache: item modified since read")
	// ErrNotFound: CompareAndSwap, Incr or Decr found no item under the key.
	ErrNotFound = errors.New("cache: item not found")
	// ErrNoMemory: no room could be made because every byte is held by writes
	// still in progress. Transient; it does not happen with one writer.
	ErrNoMemory = errors.New("cache: out of memory storing object")
	// ErrNonNumeric: Incr or Decr on a value that is not a decimal number.
	ErrNonNumeric = errors.New("cache: cannot increment or decrement non-numeric value")
	// ErrBadKey: the key is empty, longer than MaxKeyLen or holds a space,
	// '\r' or '\n', so it could not travel over the text protocol.
	ErrBadKey = errors.New("cache: malformed key")
)

// Policy is a replacement policy: which item is evicted to make room.
type Policy int32

// The replacement policies.
const (
	// LRU evicts the least recently used item.
	LRU Policy = iota
	// RR (random replacement) evicts an item chosen uniformly at random.
	RR
)

// String returns "lru" or "rr", the names the protocol uses.
func (p Policy) String() string {
	switch p {
	case LRU:
		return "lru"
	case RR:
		return "rr"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// ParsePolicy parses "lru" or "rr".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "lru", "LRU":
		return LRU, nil
	case "rr", "RR", "random":
		return RR, nil
	}
	return 0, fmt.Errorf("cache: unknown policy %q (want lru or rr)", s)
}

// Item is one key and its value with memcached's metadata.
type Item struct {
	// Key is at most MaxKeyLen bytes, without spaces or line breaks.
	Key string
	// Value is shared with the store when returned by Get: it must not be
	// modified. Stored values are never modified in place, so holding it
	// after the item is replaced or evicted is safe.
	Value []byte
	// Flags are opaque client bits (memcached's "flags").
	Flags uint32
	// Exp is the absolute expiry in unix seconds; 0 means never.
	Exp int64
	// CAS is the item's compare-and-swap unique, changed by every write.
	CAS uint64
}

// KeyInfo describes a stored item without its value (Keys, Walk).
type KeyInfo struct {
	// Key is the item's key.
	Key string
	// Size is the accounted size: len(key) + len(value) + ItemOverhead.
	Size int64
	// Flags are the item's client flags.
	Flags uint32
	// Exp is the absolute expiry in unix seconds; 0 means never.
	Exp int64
	// LastAccess is the unix second of the last read or write.
	LastAccess int64
	// CAS is the item's compare-and-swap unique.
	CAS uint64
	// Fetched reports whether the item was read since it was stored.
	Fetched bool
}

// StoreConfig configures NewStore. Zero fields take the documented defaults.
type StoreConfig struct {
	// Capacity bounds the accounted bytes of all items. If zero,
	// DefaultCapacity (64 MiB).
	Capacity int64
	// MaxItemBytes bounds the accounted size of one item. If zero,
	// DefaultMaxItemBytes (16 MiB).
	MaxItemBytes int64
	// Policy is the initial replacement policy; the zero value is LRU.
	Policy Policy
	// Seed seeds the random choice of RR victims, for reproducible tests. If
	// zero, a random seed.
	Seed uint64
	// Now is the clock for expiry and last-access times. If nil, time.Now.
	Now func() time.Time
}

// Store is an in-memory key -> bytes map bounded by a byte capacity. It is
// safe for concurrent use.
//
// Keys are spread by hash over 16 shards, each with its own mutex, map, LRU
// list and dense slice, so that operations on different keys run in
// parallel. The byte budget is global (one atomic counter), so one item may
// use the whole capacity. Every access takes a number from one global clock,
// which orders accesses across shards: the global least recently used item
// is the oldest of the 16 list tails, and Keys merges the 16 lists into one
// exact LRU order.
type Store struct {
	shards [numShards]shard
	seed   maphash.Seed
	now    func() time.Time

	// capacity is the byte budget; used counts the accounted bytes of linked
	// items plus reservations of writes in progress. A writer raises used only
	// by compare-and-swap while used+n <= capacity, so used never exceeds
	// capacity except during SetCapacity shrinking it.
	capacity atomic.Int64
	used     atomic.Int64
	maxItem  int64
	policy   atomic.Int32

	clock    atomic.Uint64 // access order, see entry.seq
	casClock atomic.Uint64 // source of CAS uniques

	tooLarge atomic.Uint64 // writes refused with ErrTooLarge
	noMemory atomic.Uint64 // writes refused with ErrNoMemory
	flushes  atomic.Uint64 // Flush calls

	rngMu sync.Mutex // guards rng
	rng   *rand.Rand

	flushMu    sync.Mutex // guards flushTimer
	flushTimer *time.Timer
}

// shard is one lock domain of a Store.
type shard struct {
	mu      sync.Mutex // guards every field below except oldest and count
	entries map[string]*entry
	// root is the sentinel of the LRU list: root.next is the least recently
	// used entry, root.prev the most recently used. root.seq is MaxUint64.
	root entry
	// dense holds every entry once, in no order, so that RR picks a victim
	// in O(1); entry.idx is the entry's position.
	dense    []*entry
	bytes    int64 // accounted bytes of the entries
	counters counters
	requests rateRing // key operations per second, for RequestsLast5s

	// oldest is root.next.seq, readable without mu so that an evictor can
	// find the shard holding the global LRU item without locking them all.
	oldest atomic.Uint64
	// count is len(dense), readable without mu for the RR victim choice.
	count atomic.Int64

	_ [64]byte // keeps neighbouring shards' locks off one cache line
}

// entry is a stored item. All fields are guarded by the shard's mu; value is
// never modified in place, so it may be used after mu is released.
type entry struct {
	key        string
	value      []byte
	flags      uint32
	fetched    bool
	exp        int64  // absolute unix seconds; 0 never
	lastAccess int64  // unix seconds
	seq        uint64 // Store.clock value at the last access: the LRU order
	cas        uint64
	// prev and next link the shard's LRU list.
	prev, next *entry
	idx        int // position in shard.dense
}

func (e *entry) size() int64 { return itemSize(len(e.key), len(e.value)) }

func (e *entry) expired(now int64) bool { return e.exp != 0 && e.exp <= now }

func itemSize(keyLen, valueLen int) int64 {
	return int64(keyLen) + int64(valueLen) + ItemOverhead
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) *Store {
	s := &Store{seed: maphash.MakeSeed(), now: cfg.Now, maxItem: cfg.MaxItemBytes}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxItem <= 0 {
		s.maxItem = DefaultMaxItemBytes
	}
	capacity := cfg.Capacity
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	s.capacity.Store(capacity)
	s.policy.Store(int32(cfg.Policy))
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range s.shards {
		s.shards[i].init()
	}
	return s
}

func (sh *shard) init() {
	sh.entries = make(map[string]*entry)
	sh.root.seq = math.MaxUint64
	sh.root.next = &sh.root
	sh.root.prev = &sh.root
	sh.dense = nil
	sh.bytes = 0
	sh.oldest.Store(math.MaxUint64)
	sh.count.Store(0)
}

func (s *Store) shardOf(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)%numShards]
}

func (s *Store) unix() int64 { return s.now().Unix() }

// bytesKey views b as a string without copying, for lookups that do not
// retain the key. b must not change while the string is in use.
func bytesKey(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func checkKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return ErrBadKey
	}
	for i := 0; i < len(key); i++ {
		switch key[i] {
		case ' ', '\r', '\n':
			return ErrBadKey
		}
	}
	return nil
}

// Capacity returns the byte capacity.
func (s *Store) Capacity() int64 { return s.capacity.Load() }

// MaxItemBytes returns the limit on one item's accounted size.
func (s *Store) MaxItemBytes() int64 { return s.maxItem }

// Policy returns the replacement policy.
func (s *Store) Policy() Policy { return Policy(s.policy.Load()) }

// SetPolicy switches the replacement policy. The contents stay: both the LRU
// lists and the dense slices are always maintained, so this only flips which
// one chooses the next victims.
func (s *Store) SetPolicy(p Policy) error {
	if p != LRU && p != RR {
		return fmt.Errorf("cache: unknown policy %d", p)
	}
	s.policy.Store(int32(p))
	return nil
}

// SetCapacity changes the byte capacity. Shrinking evicts by the policy
// before SetCapacity returns, until the items fit.
func (s *Store) SetCapacity(n int64) error {
	if n <= 0 {
		return fmt.Errorf("cache: capacity must be positive, got %d", n)
	}
	s.capacity.Store(n)
	for spins := 0; s.used.Load() > s.capacity.Load(); {
		if s.evictOne() {
			continue
		}
		// Only reservations of writes in progress remain; they commit or
		// give up shortly.
		spins++
		wait(spins)
	}
	return nil
}

// Len returns the number of items, counting expired ones not yet reclaimed.
func (s *Store) Len() int {
	n := int64(0)
	for i := range s.shards {
		n += s.shards[i].count.Load()
	}
	return int(n)
}

// Bytes returns the accounted bytes of the items, plus those reserved by
// writes in progress.
func (s *Store) Bytes() int64 { return s.used.Load() }

// Get returns the item under key and marks it recently used.
func (s *Store) Get(key string) (Item, bool) {
	v, ok := s.get(key, false, 0)
	if !ok {
		return Item{}, false
	}
	return Item{Key: key, Value: v.value, Flags: v.flags, Exp: v.exp, CAS: v.cas}, true
}

// GetAndTouch is Get that also sets the item's expiry to exp (absolute unix
// seconds, 0 never, in the past: expire now).
func (s *Store) GetAndTouch(key string, exp int64) (Item, bool) {
	v, ok := s.get(key, true, exp)
	if !ok {
		return Item{}, false
	}
	return Item{Key: key, Value: v.value, Flags: v.flags, Exp: exp, CAS: v.cas}, true
}

// view is what a read copies out of an entry while the shard is locked.
type view struct {
	value []byte
	flags uint32
	exp   int64
	cas   uint64
}

// get looks key up; with touch it also sets the expiry (memcached's gat).
// key is not retained, so the server may pass a view of its read buffer.
func (s *Store) get(key string, touch bool, exp int64) (view, bool) {
	sh := s.shardOf(key)
	now := s.unix()
	sh.mu.Lock()
	sh.requests.add(now)
	sh.counters.gets++
	if touch {
		sh.counters.touches++
	}
	e := sh.entries[key]
	if e == nil {
		sh.counters.misses++
		if touch {
			sh.counters.touchMisses++
		}
		sh.mu.Unlock()
		return view{}, false
	}
	if e.expired(now) {
		sh.counters.misses++
		sh.counters.getExpired++
		if touch {
			sh.counters.touchMisses++
		}
		s.reclaim(sh, e)
		sh.mu.Unlock()
		return view{}, false
	}
	sh.counters.hits++
	v := view{value: e.value, flags: e.flags, exp: e.exp, cas: e.cas}
	if touch {
		sh.counters.touchHits++
		if exp != 0 && exp <= now {
			// memcached returns the value, then the item is gone.
			s.unlinkAccount(sh, e)
			sh.mu.Unlock()
			return v, true
		}
		e.exp = exp
		v.exp = exp
	}
	e.fetched = true
	s.bump(sh, e, now)
	sh.mu.Unlock()
	return v, true
}

// Touch sets the expiry of the item under key (absolute unix seconds; 0
// never; in the past: remove it) and marks it recently used. It reports
// whether the item existed.
func (s *Store) Touch(key string, exp int64) bool {
	sh := s.shardOf(key)
	now := s.unix()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.requests.add(now)
	sh.counters.touches++
	e := s.live(sh, key, now)
	if e == nil {
		sh.counters.touchMisses++
		return false
	}
	sh.counters.touchHits++
	if exp != 0 && exp <= now {
		s.unlinkAccount(sh, e)
		return true
	}
	e.exp = exp
	s.bump(sh, e, now)
	return true
}

// Delete removes the item under key and reports whether it was there.
func (s *Store) Delete(key string) bool {
	sh := s.shardOf(key)
	now := s.unix()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.requests.add(now)
	e := s.live(sh, key, now)
	if e == nil {
		sh.counters.deleteMisses++
		return false
	}
	sh.counters.deleteHits++
	s.unlinkAccount(sh, e)
	return true
}

// Set stores it.Value under it.Key, replacing any old value. It returns
// ErrTooLarge, changing nothing, if the item exceeds the item size limit or
// the whole capacity; it evicts by the policy to make room otherwise.
func (s *Store) Set(it Item) error { return s.writeItem(opSet, it) }

// Add is Set only if no item is stored under it.Key; else ErrNotStored (and
// the existing item counts as recently used, as in memcached).
func (s *Store) Add(it Item) error { return s.writeItem(opAdd, it) }

// Replace is Set only if an item is stored under it.Key; else ErrNotStored.
func (s *Store) Replace(it Item) error { return s.writeItem(opReplace, it) }

// CompareAndSwap is Set only if the stored item's CAS equals it.CAS. It
// returns ErrNotFound if there is no item, ErrExists if it has changed.
func (s *Store) CompareAndSwap(it Item) error { return s.writeItem(opCAS, it) }

// Append adds data after the value stored under key, keeping its flags and
// expiry; ErrNotStored if there is none.
func (s *Store) Append(key string, data []byte) error {
	return s.writeItem(opAppend, Item{Key: key, Value: data})
}

// Prepend adds data before the value stored under key; see Append.
func (s *Store) Prepend(key string, data []byte) error {
	return s.writeItem(opPrepend, Item{Key: key, Value: data})
}

// Incr adds delta to the decimal number stored under key, wrapping at 2^64,
// and returns the new value. ErrNotFound if there is no item, ErrNonNumeric
// if the value is not a number.
func (s *Store) Incr(key string, delta uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	r, err := s.write(&writeReq{op: opIncr, key: key, delta: delta})
	return r.num, err
}

// Decr subtracts delta from the decimal number stored under key, stopping at
// zero; see Incr.
func (s *Store) Decr(key string, delta uint64) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	r, err := s.write(&writeReq{op: opDecr, key: key, delta: delta})
	return r.num, err
}

func (s *Store) writeItem(o op, it Item) error {
	if err := checkKey(it.Key); err != nil {
		return err
	}
	_, err := s.write(&writeReq{op: o, key: it.Key, value: it.Value, flags: it.Flags, exp: it.Exp, cas: it.CAS})
	return err
}

// write performs w. It decides under the key's shard lock (apply); if the
// new item needs more room than it has reserved, it drops the lock,
// reserves the room (evicting other items, one shard lock at a time), and
// decides again, so no goroutine ever holds two shard locks.
func (s *Store) write(w *writeReq) (writeRes, error) {
	if w.op != opIncr && w.op != opDecr && s.tooBig(itemSize(len(w.key), len(w.value))) {
		s.tooLarge.Add(1)
		return writeRes{}, ErrTooLarge
	}
	sh := s.shardOf(w.key)
	var reserved int64 // bytes of used this write holds for itself
	var counted bool
	for {
		now := s.unix()
		sh.mu.Lock()
		if !counted {
			sh.requests.add(now)
			counted = true
		}
		old := s.live(sh, w.key, now)
		u := update{value: w.value, flags: w.flags, exp: w.exp}
		var err error
		if w.op != opSet {
			// A set, the common write, stores its value whatever is
			// there, so it skips the call: made for every write, it
			// slowed BenchmarkStoreSet by some 7%.
			err = s.apply(sh, w, old, now, &u)
		}
		if err != nil {
			sh.counters.countWrite(w.op, false)
			sh.mu.Unlock()
			s.release(reserved)
			if err == ErrTooLarge {
				s.tooLarge.Add(1)
			}
			return writeRes{}, err
		}
		if u.exp != 0 && u.exp <= now {
			// Stored already expired (memcached answers STORED and no read
			// ever sees it): only the old value goes.
			if old != nil {
				s.unlinkAccount(sh, old)
			}
			sh.counters.countWrite(w.op, true)
			sh.mu.Unlock()
			s.release(reserved)
			return writeRes{num: u.num}, nil
		}
		need := itemSize(len(w.key), len(u.value))
		if old != nil {
			need -= old.size()
		}
		if need > reserved {
			sh.mu.Unlock()
			if err := s.reserveInstead(reserved, need); err != nil {
				sh.mu.Lock()
				sh.counters.countWrite(w.op, false)
				sh.mu.Unlock()
				return writeRes{}, err
			}
			reserved = need
			continue
		}
		s.charge(sh, need, reserved)
		// Store u, the most recently used. The bytes are charged already.
		res := writeRes{cas: s.casClock.Add(1), num: u.num}
		if old != nil {
			// Reuse the entry: readers copy fields out under the lock and
			// values are immutable, so this is safe and saves an allocation.
			old.value, old.flags, old.exp, old.cas = u.value, u.flags, u.exp, res.cas
			old.fetched = false
			s.bump(sh, old, now)
		} else {
			e := &entry{key: w.key, value: u.value, flags: u.flags, exp: u.exp, cas: res.cas}
			e.lastAccess, e.seq = now, s.clock.Add(1)
			sh.link(e)
		}
		sh.counters.totalItems++
		sh.counters.countWrite(w.op, true)
		sh.mu.Unlock()
		return res, nil
	}
}

// live returns the unexpired entry under key, reclaiming an expired one.
// sh.mu must be held.
func (s *Store) live(sh *shard, key string, now int64) *entry {
	e := sh.entries[key]
	if e != nil && e.expired(now) {
		s.reclaim(sh, e)
		return nil
	}
	return e
}

// reclaim removes an expired entry. sh.mu must be held.
func (s *Store) reclaim(sh *shard, e *entry) {
	sh.counters.reclaimed++
	if !e.fetched {
		sh.counters.expiredUnfetched++
	}
	s.unlinkAccount(sh, e)
}

// unlinkAccount removes e from its shard and the byte budget. sh.mu must be
// held.
func (s *Store) unlinkAccount(sh *shard, e *entry) {
	size := e.size()
	sh.unlink(e)
	sh.bytes -= size
	s.used.Add(-size)
}

// bump marks e as the most recently used entry. sh.mu must be held.
func (s *Store) bump(sh *shard, e *entry, now int64) {
	e.lastAccess = now
	e.seq = s.clock.Add(1)
	sh.moveToBack(e)
}

// Flush removes every item at once.
func (s *Store) Flush() {
	s.flushes.Add(1)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		s.used.Add(-sh.bytes)
		sh.init()
		sh.mu.Unlock()
	}
}

// FlushAfter removes every item stored at the moment d from now (memcached's
// "flush_all <delay>"). It replaces any earlier pending FlushAfter; d <= 0
// flushes at once.
func (s *Store) FlushAfter(d time.Duration) {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if s.flushTimer != nil {
		s.flushTimer.Stop()
		s.flushTimer = nil
	}
	if d <= 0 {
		s.Flush()
		return
	}
	s.flushTimer = time.AfterFunc(d, s.Flush)
}
