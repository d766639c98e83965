package cache

import "strconv"

// op is a write operation.
type op uint8

const (
	opSet op = iota
	opAdd
	opReplace
	opAppend
	opPrepend
	opCAS
	opIncr
	opDecr
)

// writeReq is one write. value is retained by the store (for set, add,
// replace and cas); key is retained only if a new item is created.
type writeReq struct {
	op    op
	key   string
	value []byte
	flags uint32
	exp   int64
	cas   uint64 // compared by opCAS
	delta uint64 // for opIncr, opDecr
}

// writeRes is the outcome of a successful write.
type writeRes struct {
	cas uint64 // the new item's CAS unique
	num uint64 // the new value of opIncr, opDecr
}

// update is what a write stores under its key: the new value, flags and
// expiry, and for opIncr and opDecr the new number.
type update struct {
	value []byte
	flags uint32
	exp   int64
	num   uint64
}

// apply decides what w makes of old, the live entry under w.key (nil if
// there is none): the update to store, or why w fails (ErrNotStored,
// ErrNotFound, ErrExists, ErrTooLarge, ErrNonNumeric). It changes nothing
// stored, but for opAdd, which counts an existing entry as recently used
// (as memcached does), and the CAS counters. sh.mu must be held.
func (s *Store) apply(sh *shard, w *writeReq, old *entry, now int64) (update, error) {
	u := update{value: w.value, flags: w.flags, exp: w.exp}
	switch w.op {
	case opAdd:
		if old != nil {
			s.bump(sh, old, now)
			return u, ErrNotStored
		}
	case opReplace:
		if old == nil {
			return u, ErrNotStored
		}
	case opAppend, opPrepend:
		if old == nil {
			return u, ErrNotStored
		}
		if s.tooBig(itemSize(len(w.key), len(old.value)+len(w.value))) {
			return u, ErrTooLarge
		}
		u.value = make([]byte, 0, len(old.value)+len(w.value))
		if w.op == opAppend {
			u.value = append(append(u.value, old.value...), w.value...)
		} else {
			u.value = append(append(u.value, w.value...), old.value...)
		}
		u.flags, u.exp = old.flags, old.exp
	case opCAS:
		if old == nil {
			sh.counters.casMisses++
			return u, ErrNotFound
		}
		if old.cas != w.cas {
			sh.counters.casBadval++
			return u, ErrExists
		}
	case opIncr, opDecr:
		if old == nil {
			return u, ErrNotFound
		}
		n, ok := parseCounter(old.value)
		if !ok {
			return u, ErrNonNumeric
		}
		if w.op == opIncr {
			n += w.delta
		} else if n < w.delta {
			n = 0
		} else {
			n -= w.delta
		}
		u.num = n
		u.value = strconv.AppendUint(nil, n, 10)
		u.flags, u.exp = old.flags, old.exp
	}
	return u, nil
}

// put stores u under key, in old (the live entry under key, or nil) or in
// a new entry, as the most recently used, and returns its new CAS unique.
// The caller has charged the bytes to the budget. sh.mu must be held.
func (s *Store) put(sh *shard, old *entry, key string, u update, now int64) uint64 {
	cas := s.casClock.Add(1)
	if old != nil {
		// Reuse the entry: readers copy fields out under the lock and
		// values are immutable, so this is safe and saves an allocation.
		old.value, old.flags, old.exp, old.cas = u.value, u.flags, u.exp, cas
		old.fetched = false
		s.bump(sh, old, now)
		return cas
	}
	e := &entry{key: key, value: u.value, flags: u.flags, exp: u.exp, cas: cas}
	e.lastAccess, e.seq = now, s.clock.Add(1)
	sh.link(e)
	return cas
}

// parseCounter parses a value for incr/decr as memcached does: optional
// surrounding whitespace, an optional '+', up to 20 decimal digits.
func parseCounter(v []byte) (uint64, bool) {
	i, j := 0, len(v)
	for i < j && isSpace(v[i]) {
		i++
	}
	for j > i && isSpace(v[j-1]) {
		j--
	}
	if i < j && v[i] == '+' {
		i++
	}
	if i == j {
		return 0, false
	}
	return parseUint(v[i:j], 64)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
