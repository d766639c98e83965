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
// there is none): it changes u, which holds w's value, flags and expiry,
// into what to store, or returns why w fails (ErrNotStored, ErrNotFound,
// ErrExists, ErrTooLarge, ErrNonNumeric). It changes nothing stored, but
// for opAdd, which counts an existing entry as recently used (as memcached
// does), and the CAS counters. sh.mu must be held.
func (s *Store) apply(sh *shard, w *writeReq, old *entry, now int64, u *update) error {
	switch w.op {
	case opAdd:
		if old != nil {
			s.bump(sh, old, now)
			return ErrNotStored
		}
	case opReplace:
		if old == nil {
			return ErrNotStored
		}
	case opAppend, opPrepend:
		if old == nil {
			return ErrNotStored
		}
		if s.tooBig(itemSize(len(w.key), len(old.value)+len(w.value))) {
			return ErrTooLarge
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
			return ErrNotFound
		}
		if old.cas != w.cas {
			sh.counters.casBadval++
			return ErrExists
		}
	case opIncr, opDecr:
		if old == nil {
			return ErrNotFound
		}
		n, ok := parseCounter(old.value)
		if !ok {
			return ErrNonNumeric
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
	return nil
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
