package cache

// This file holds the random replacement (RR) half of the store: each shard
// keeps its entries in a dense slice, so a uniformly random victim is one
// random index, and removal swaps the last entry into the hole.

// denseAdd appends e to the dense slice. sh.mu must be held.
func (sh *shard) denseAdd(e *entry) {
	e.idx = len(sh.dense)
	sh.dense = append(sh.dense, e)
	sh.count.Store(int64(len(sh.dense)))
}

// denseRemove swap-removes e from the dense slice. sh.mu must be held.
func (sh *shard) denseRemove(e *entry) {
	last := len(sh.dense) - 1
	moved := sh.dense[last]
	sh.dense[e.idx] = moved
	moved.idx = e.idx
	sh.dense[last] = nil
	sh.dense = sh.dense[:last]
	sh.count.Store(int64(last))
}

// randN returns a random number in [0, n).
func (s *Store) randN(n int64) int64 {
	s.rngMu.Lock()
	r := s.rng.Int64N(n)
	s.rngMu.Unlock()
	return r
}

// evictRandom evicts an item chosen uniformly at random among all shards: a
// random rank r over the total count picks the shard holding rank r and the
// index within it. It locks one shard and must be called with none held.
func (s *Store) evictRandom() bool {
	for range 4 {
		var counts [numShards]int64
		var total int64
		for i := range s.shards {
			counts[i] = s.shards[i].count.Load()
			total += counts[i]
		}
		if total == 0 {
			return false
		}
		r := s.randN(total)
		i := 0
		for r >= counts[i] {
			r -= counts[i]
			i++
		}
		sh := &s.shards[i]
		now := s.unix()
		sh.mu.Lock()
		if n := int64(len(sh.dense)); n > 0 {
			// The count may have changed since it was read; stay uniform
			// within the shard.
			if r >= n {
				r %= n
			}
			s.evict(sh, sh.dense[r], now)
			sh.mu.Unlock()
			return true
		}
		sh.mu.Unlock()
	}
	return false
}
