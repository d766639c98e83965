package cache

// Stats is a snapshot of a store's counters, named after memcached's stats.
type Stats struct {
	Items    int64  // items stored (curr_items), expired ones not yet reclaimed included
	Bytes    int64  // accounted bytes of those items (bytes)
	Capacity int64  // byte capacity (limit_maxbytes)
	MaxItem  int64  // limit on one item (item_size_max)
	Policy   Policy // replacement policy

	Gets       uint64 // key lookups by get, gets, gat, gats (cmd_get)
	Hits       uint64 // lookups that found the key (get_hits)
	Misses     uint64 // lookups that did not (get_misses)
	GetExpired uint64 // misses because the item had expired (get_expired)

	Sets       uint64 // set, add, replace, append, prepend, cas (cmd_set)
	TotalItems uint64 // items ever stored (total_items)
	TooLarge   uint64 // writes refused as too large (store_too_large)
	NoMemory   uint64 // writes refused for lack of room (store_no_memory)

	Touches, TouchHits, TouchMisses    uint64 // touch, gat, gats (cmd_touch, touch_hits, touch_misses)
	DeleteHits, DeleteMisses           uint64 // delete (delete_hits, delete_misses)
	IncrHits, IncrMisses               uint64 // incr (incr_hits, incr_misses)
	DecrHits, DecrMisses               uint64 // decr (decr_hits, decr_misses)
	CasHits, CasMisses, CasBadval      uint64 // cas: stored, no item, item changed (cas_*)
	Evictions                          uint64 // live items removed to make room
	EvictedUnfetched, ExpiredUnfetched uint64 // removed without ever being read
	Reclaimed                          uint64 // expired items removed
	Flushes                            uint64 // Flush calls (cmd_flush)
	RequestsLast5s                     uint64 // key operations in the current second and the 4 before
}

// counters are a shard's share of the Stats counters, guarded by the
// shard's mu (so counting costs no extra atomic operation).
type counters struct {
	gets, hits, misses, getExpired  uint64
	sets, totalItems                uint64
	touches, touchHits, touchMisses uint64
	deleteHits, deleteMisses        uint64
	incrHits, incrMisses            uint64
	decrHits, decrMisses            uint64
	casHits, casMisses, casBadval   uint64
	evictions, evictedUnfetched     uint64
	expiredUnfetched, reclaimed     uint64
}

func (c *counters) add(o *counters) {
	c.gets += o.gets
	c.hits += o.hits
	c.misses += o.misses
	c.getExpired += o.getExpired
	c.sets += o.sets
	c.totalItems += o.totalItems
	c.touches += o.touches
	c.touchHits += o.touchHits
	c.touchMisses += o.touchMisses
	c.deleteHits += o.deleteHits
	c.deleteMisses += o.deleteMisses
	c.incrHits += o.incrHits
	c.incrMisses += o.incrMisses
	c.decrHits += o.decrHits
	c.decrMisses += o.decrMisses
	c.casHits += o.casHits
	c.casMisses += o.casMisses
	c.casBadval += o.casBadval
	c.evictions += o.evictions
	c.evictedUnfetched += o.evictedUnfetched
	c.expiredUnfetched += o.expiredUnfetched
	c.reclaimed += o.reclaimed
}

// countWrite counts the outcome of a write. casMisses and casBadval are
// counted where they are decided.
func (c *counters) countWrite(o op, ok bool) {
	switch o {
	case opIncr:
		if ok {
			c.incrHits++
		} else {
			c.incrMisses++
		}
	case opDecr:
		if ok {
			c.decrHits++
		} else {
			c.decrMisses++
		}
	case opCAS:
		c.sets++
		if ok {
			c.casHits++
		}
	default:
		c.sets++
	}
}

// rateWindow is the length in seconds of the RequestsLast5s window.
const rateWindow = 5

// rateRing counts requests per second in a ring of per-second slots: slot
// i holds the count of the second sec[i], and a slot is reset when a new
// second reuses it. Guarded by the owning shard's mu.
type rateRing struct {
	sec [rateWindow]int64
	n   [rateWindow]uint64
}

func (r *rateRing) add(now int64) {
	i := now % rateWindow
	if i < 0 {
		i += rateWindow
	}
	if r.sec[i] != now {
		r.sec[i] = now
		r.n[i] = 0
	}
	r.n[i]++
}

// sum returns the requests of the seconds now-4 .. now.
func (r *rateRing) sum(now int64) uint64 {
	var t uint64
	for i := range r.sec {
		if d := now - r.sec[i]; d >= 0 && d < rateWindow {
			t += r.n[i]
		}
	}
	return t
}

// Stats returns the store's counters. They are summed shard by shard, so
// under concurrent writes they are not one atomic snapshot.
func (s *Store) Stats() Stats {
	var c counters
	var items, bytes int64
	var reqs uint64
	now := s.unix()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		c.add(&sh.counters)
		items += int64(len(sh.entries))
		bytes += sh.bytes
		reqs += sh.requests.sum(now)
		sh.mu.Unlock()
	}
	return Stats{
		Items: items, Bytes: bytes, Capacity: s.Capacity(), MaxItem: s.maxItem, Policy: s.Policy(),
		Gets: c.gets, Hits: c.hits, Misses: c.misses, GetExpired: c.getExpired,
		Sets: c.sets, TotalItems: c.totalItems, TooLarge: s.tooLarge.Load(), NoMemory: s.noMemory.Load(),
		Touches: c.touches, TouchHits: c.touchHits, TouchMisses: c.touchMisses,
		DeleteHits: c.deleteHits, DeleteMisses: c.deleteMisses,
		IncrHits: c.incrHits, IncrMisses: c.incrMisses, DecrHits: c.decrHits, DecrMisses: c.decrMisses,
		CasHits: c.casHits, CasMisses: c.casMisses, CasBadval: c.casBadval,
		Evictions: c.evictions, EvictedUnfetched: c.evictedUnfetched, ExpiredUnfetched: c.expiredUnfetched,
		Reclaimed: c.reclaimed, Flushes: s.flushes.Load(), RequestsLast5s: reqs,
	}
}

// ResetStats zeroes the counters (memcached's "stats reset"); items, bytes
// and the request rate stay.
func (s *Store) ResetStats() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.counters = counters{}
		sh.mu.Unlock()
	}
	s.tooLarge.Store(0)
	s.noMemory.Store(0)
	s.flushes.Store(0)
}
