package pool

import (
	"hash/fnv"
	"slices"
)

// Ring maps keys to nodes by rendezvous (highest random weight) hashing:
// each key goes to the node whose hash of (node, key) is highest. With a
// handful of nodes (the pool has 1 to 8) this costs a few nanoseconds a
// node, balances keys evenly without virtual nodes, and moves exactly the
// keys it must: adding a node moves only the keys it now wins (about
// 1/(N+1)), removing one moves only its own keys. A ketama ring needs
// hundreds of virtual nodes to balance as well.
//
// A Ring is immutable and safe for concurrent use.
type Ring struct {
	ids   []string
	seeds []uint64 // hash of each id, mixed into the key's hash
}

// NewRing returns a ring over the given node ids (order does not matter).
func NewRing(ids ...string) *Ring {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	r := &Ring{ids: ids, seeds: make([]uint64, len(ids))}
	for i, id := range ids {
		r.seeds[i] = hashString(id)
	}
	return r
}

// Len is the number of nodes.
func (r *Ring) Len() int { return len(r.ids) }

// IDs returns the node ids, sorted.
func (r *Ring) IDs() []string { return slices.Clone(r.ids) }

// Get returns the id of the node that owns key, or "" for an empty ring.
func (r *Ring) Get(key string) string {
	if len(r.ids) == 0 {
		return ""
	}
	h := hashString(key)
	best, bestW := 0, uint64(0)
	for i, seed := range r.seeds {
		if w := mix(h ^ seed); w > bestW || i == 0 {
			best, bestW = i, w
		}
	}
	return r.ids[best]
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// mix is splitmix64's finalizer: it spreads FNV's weak low bits so that
// (key, node) weights behave as independent random numbers.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
