package cache

import (
	"runtime"
	"time"
)

func (s *Store) tooBig(size int64) bool {
	return size > s.maxItem || size > s.capacity.Load()
}

// reserve raises used by n, evicting until it fits. It holds no shard lock
// and must be called with none held.
func (s *Store) reserve(n int64) error {
	for spins := 0; ; {
		c := s.capacity.Load()
		if n > c {
			s.tooLarge.Add(1)
			return ErrTooLarge
		}
		u := s.used.Load()
		if u+n <= c {
			if !s.used.CompareAndSwap(u, u+n) {
				continue
			}
			if u+n > s.capacity.Load() {
				// SetCapacity shrank the budget meanwhile.
				s.used.Add(-n)
				continue
			}
			return nil
		}
		if s.evictOne() {
			continue
		}
		// Nothing is evictable: the bytes belong to writes in progress.
		spins++
		if spins > 2000 {
			s.noMemory.Add(1)
			return ErrNoMemory
		}
		wait(spins)
	}
}

// reserveInstead gives back the held bytes of the budget and reserves need
// in their place; on an error it holds none. Holding no reservation while
// waiting for room keeps two writers, each holding part of the budget, from
// waiting for each other.
func (s *Store) reserveInstead(held, need int64) error {
	s.release(held)
	return s.reserve(need)
}

// charge turns the reserved bytes of a write into its item's: used counts
// the old item's bytes plus reserved and comes to count the new item's,
// need more than the old one's, as does the shard's bytes. sh.mu must be
// held.
func (s *Store) charge(sh *shard, need, reserved int64) {
	s.used.Add(need - reserved)
	sh.bytes += need
}

func (s *Store) release(n int64) {
	if n != 0 {
		s.used.Add(-n)
	}
}

// wait backs off while other writers finish: yield first, then sleep.
func wait(spins int) {
	if spins < 100 {
		runtime.Gosched()
		return
	}
	time.Sleep(500 * time.Microsecond)
}

// evictOne removes one item chosen by the policy and reports whether there
// was one. It locks one shard at a time and must be called with none held.
func (s *Store) evictOne() bool {
	if s.Policy() == RR {
		if s.evictRandom() {
			return true
		}
	}
	return s.evictOldest()
}

// evicted accounts for e leaving by eviction. sh.mu must be held.
func (s *Store) evict(sh *shard, e *entry, now int64) {
	if e.expired(now) {
		s.reclaim(sh, e)
		return
	}
	sh.counters.evictions++
	if !e.fetched {
		sh.counters.evictedUnfetched++
	}
	s.unlinkAccount(sh, e)
}
