package cache

import "math"

// This file holds the LRU half of the store: each shard keeps an intrusive
// doubly linked list ordered by entry.seq (oldest at root.next), and the
// global order is the merge of the 16 lists by seq.

// link adds e to the map, as the most recently used entry of the list, and
// to the dense slice. sh.mu must be held; the caller accounts the bytes.
func (sh *shard) link(e *entry) {
	sh.entries[e.key] = e
	e.prev = sh.root.prev
	e.next = &sh.root
	sh.root.prev.next = e
	sh.root.prev = e
	sh.denseAdd(e)
	sh.setOldest()
}

// unlink removes e from the map, the list and the dense slice. sh.mu must
// be held; the caller accounts the bytes.
func (sh *shard) unlink(e *entry) {
	delete(sh.entries, e.key)
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
	sh.denseRemove(e)
	sh.setOldest()
}

// moveToBack makes e the most recently used entry. sh.mu must be held, and
// e.seq must already be the newest seq of the shard.
func (sh *shard) moveToBack(e *entry) {
	if sh.root.prev != e {
		e.prev.next = e.next
		e.next.prev = e.prev
		e.prev = sh.root.prev
		e.next = &sh.root
		sh.root.prev.next = e
		sh.root.prev = e
	}
	sh.setOldest()
}

// setOldest publishes the seq of the shard's least recently used entry
// (MaxUint64 when empty: root.seq). sh.mu must be held.
func (sh *shard) setOldest() {
	if q := sh.root.next.seq; sh.oldest.Load() != q {
		sh.oldest.Store(q)
	}
}

// evictOldest evicts the global least recently used item: the list tail with
// the smallest seq. It locks one shard and must be called with none held.
func (s *Store) evictOldest() bool {
	for range 4 {
		best, bestSeq := -1, uint64(math.MaxUint64)
		for i := range s.shards {
			if q := s.shards[i].oldest.Load(); q < bestSeq {
				best, bestSeq = i, q
			}
		}
		if best < 0 {
			return false
		}
		sh := &s.shards[best]
		now := s.unix()
		sh.mu.Lock()
		if e := sh.root.next; e != &sh.root {
			// e may be younger than bestSeq if it was used meanwhile; it is
			// still this shard's oldest, and concurrent uses have no order.
			s.evict(sh, e, now)
			sh.mu.Unlock()
			return true
		}
		sh.mu.Unlock()
	}
	return false
}

// Keys returns up to limit items (limit < 0: all) in LRU order, least
// recently used first, skipping the first offset. Expired items are left out.
func (s *Store) Keys(limit, offset int) []KeyInfo {
	if offset < 0 {
		offset = 0
	}
	var out []KeyInfo
	if limit == 0 {
		return out
	}
	want := -1
	if limit > 0 {
		want = offset + limit
	}
	s.walk(want, func(k KeyInfo) bool {
		if offset > 0 {
			offset--
			return true
		}
		out = append(out, k)
		return limit < 0 || len(out) < limit
	})
	return out
}

// Walk calls fn for every unexpired item in LRU order, least recently used
// first, until fn returns false. It works on a snapshot of the keys and
// their metadata (not the values), taken one shard at a time, so fn may call
// the store; the snapshot costs about 80 bytes per item while it runs.
func (s *Store) Walk(fn func(KeyInfo) bool) { s.walk(-1, fn) }

type keyRec struct {
	seq uint64
	KeyInfo
}

// walk merges the first want entries (want < 0: all) of every shard list by
// seq. The global first want entries are among each shard's first want, so
// that bound keeps a paged listing from copying the whole store.
func (s *Store) walk(want int, fn func(KeyInfo) bool) {
	var lists [numShards][]keyRec
	now := s.unix()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n := len(sh.entries)
		if want >= 0 && want < n {
			n = want
		}
		l := make([]keyRec, 0, n)
		for e := sh.root.next; e != &sh.root && len(l) < n; e = e.next {
			if e.expired(now) {
				continue
			}
			l = append(l, keyRec{e.seq, KeyInfo{
				Key: e.key, Size: e.size(), Flags: e.flags, Exp: e.exp,
				LastAccess: e.lastAccess, CAS: e.cas, Fetched: e.fetched,
			}})
		}
		sh.mu.Unlock()
		lists[i] = l
	}
	for {
		best := -1
		for i := range lists {
			if len(lists[i]) > 0 && (best < 0 || lists[i][0].seq < lists[best][0].seq) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		k := lists[best][0].KeyInfo
		lists[best] = lists[best][1:]
		if !fn(k) {
			return
		}
	}
}
