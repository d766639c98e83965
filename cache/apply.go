package cache

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
