package cache

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Time   { return time.Unix(c.t.Load(), 0) }
func (c *fakeClock) add(d int64)      { c.t.Add(d) }
func newFakeClock(t int64) *fakeClock { c := &fakeClock{}; c.t.Store(t); return c }

// checkInvariants verifies the store's internal structure: every shard's
// map, list and dense slice hold the same entries, the list is ordered by
// seq, the accounting equals the recomputed sum, and the sum is within the
// capacity. It must run while no write is in progress.
func checkInvariants(t testing.TB, s *Store) {
	t.Helper()
	var total int64
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		var bytes int64
		n := 0
		prevSeq := uint64(0)
		for e := sh.root.next; e != &sh.root; e = e.next {
			if e.next.prev != e {
				t.Fatalf("shard %d: broken list at %q", i, e.key)
			}
			if e.seq <= prevSeq {
				t.Fatalf("shard %d: list not ordered by seq at %q (%d after %d)", i, e.key, e.seq, prevSeq)
			}
			prevSeq = e.seq
			if sh.entries[e.key] != e {
				t.Fatalf("shard %d: %q in list but not in map", i, e.key)
			}
			if e.idx >= len(sh.dense) || sh.dense[e.idx] != e {
				t.Fatalf("shard %d: %q has wrong dense index %d", i, e.key, e.idx)
			}
			if &s.shards[hashShard(s, e.key)] != sh {
				t.Fatalf("shard %d: %q in the wrong shard", i, e.key)
			}
			bytes += itemSize(len(e.key), len(e.value))
			n++
		}
		if n != len(sh.entries) || n != len(sh.dense) || int64(n) != sh.count.Load() {
			t.Fatalf("shard %d: list %d, map %d, dense %d, count %d entries", i, n, len(sh.entries), len(sh.dense), sh.count.Load())
		}
		if bytes != sh.bytes {
			t.Fatalf("shard %d: accounted %d bytes, recomputed %d", i, sh.bytes, bytes)
		}
		if got := sh.oldest.Load(); got != sh.root.next.seq {
			t.Fatalf("shard %d: oldest=%d, want %d", i, got, sh.root.next.seq)
		}
		total += bytes
		sh.mu.Unlock()
	}
	if got := s.used.Load(); got != total {
		t.Fatalf("used=%d, recomputed sum=%d", got, total)
	}
	if c := s.Capacity(); total > c {
		t.Fatalf("%d bytes stored, over the capacity %d", total, c)
	}
}

func hashShard(s *Store, key string) int {
	for i := range s.shards {
		if s.shardOf(key) == &s.shards[i] {
			return i
		}
	}
	return -1
}

// size1 is the accounted size of an item with a 2-byte key and a 10-byte
// value, the unit of the table tests.
const size1 = 2 + 10 + ItemOverhead

func val(i int) []byte { return []byte(fmt.Sprintf("%010d", i)) }

func keysOf(infos []KeyInfo) []string {
	var ks []string
	for _, k := range infos {
		ks = append(ks, k.Key)
	}
	return ks
}

func TestStore_LRUOrder(t *testing.T) {
	// Each op is "s k" (set), "g k" (get), "d k" (delete), "t k" (touch),
	// "a k" (add); the want is the Keys order after all ops, with a capacity
	// of 4 items.
	tests := []struct {
		name string
		ops  []string
		want []string
	}{
		{"InsertOrder", []string{"s k1", "s k2", "s k3"}, []string{"k1", "k2", "k3"}},
		{"GetMovesToBack", []string{"s k1", "s k2", "s k3", "g k1"}, []string{"k2", "k3", "k1"}},
		{"SetMovesToBack", []string{"s k1", "s k2", "s k3", "s k2"}, []string{"k1", "k3", "k2"}},
		{"TouchMovesToBack", []string{"s k1", "s k2", "t k1"}, []string{"k2", "k1"}},
		{"FailedAddMovesToBack", []string{"s k1", "s k2", "a k1"}, []string{"k2", "k1"}},
		{"MissDoesNothing", []string{"s k1", "s k2", "g k9"}, []string{"k1", "k2"}},
		{"Delete", []string{"s k1", "s k2", "s k3", "d k2"}, []string{"k1", "k3"}},
		{"EvictsLeastRecent", []string{"s k1", "s k2", "s k3", "s k4", "s k5"}, []string{"k2", "k3", "k4", "k5"}},
		{"GetSavesFromEviction", []string{"s k1", "s k2", "s k3", "s k4", "g k1", "s k5"}, []string{"k3", "k4", "k1", "k5"}},
		{"EvictsSeveral", []string{"s k1", "s k2", "s k3", "s k4", "g k2", "g k1", "s k5", "s k6"}, []string{"k2", "k1", "k5", "k6"}},
		{"EvictionAcrossManyShards", []string{"s a1", "s b1", "s c1", "s d1", "g a1", "s e1", "s f1", "g a1", "s g1"}, []string{"e1", "f1", "a1", "g1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore(StoreConfig{Capacity: 4 * size1})
			for _, o := range tt.ops {
				k := o[2:]
				switch o[0] {
				case 's':
					if err := s.Set(Item{Key: k, Value: val(0)}); err != nil {
						t.Fatalf("%s: %v", o, err)
					}
				case 'a':
					s.Add(Item{Key: k, Value: val(0)})
				case 'g':
					s.Get(k)
				case 'd':
					s.Delete(k)
				case 't':
					s.Touch(k, 0)
				}
				checkInvariants(t, s)
			}
			if got := keysOf(s.Keys(-1, 0)); !slices.Equal(got, tt.want) {
				t.Fatalf("Keys()=%v, want %v", got, tt.want)
			}
		})
	}
}

func TestStore_Keys(t *testing.T) {
	s := NewStore(StoreConfig{})
	var want []string
	for i := range 100 {
		k := "key" + strconv.Itoa(i)
		s.Set(Item{Key: k, Value: val(i)})
		want = append(want, k)
	}
	tests := []struct {
		limit, offset int
		want          []string
	}{
		{-1, 0, want},
		{10, 0, want[:10]},
		{10, 95, want[95:]},
		{5, 50, want[50:55]},
		{0, 0, nil},
		{10, 100, nil},
		{-1, 90, want[90:]},
	}
	for _, tt := range tests {
		if got := keysOf(s.Keys(tt.limit, tt.offset)); !slices.Equal(got, tt.want) {
			t.Errorf("Keys(%d, %d)=%v, want %v", tt.limit, tt.offset, got, tt.want)
		}
	}
	k := s.Keys(1, 0)[0]
	if k.Key != "key0" || k.Size != itemSize(4, 10) || k.Fetched || k.Exp != 0 {
		t.Errorf("Keys(1, 0)[0]=%+v", k)
	}
	var walked []string
	s.Walk(func(k KeyInfo) bool { walked = append(walked, k.Key); return len(walked) < 3 })
	if !slices.Equal(walked, want[:3]) {
		t.Errorf("Walk stopped at %v, want %v", walked, want[:3])
	}
}

func TestStore_RREviction(t *testing.T) {
	// Fill 200 equal items into room for 200, then add 200 more. LRU would
	// evict exactly the first 200; RR must spread its evictions over old
	// and new items alike. The bounds are many standard deviations wide.
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("Seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			s := NewStore(StoreConfig{Capacity: 200 * itemSize(4, 10), Policy: RR, Seed: seed})
			for i := range 400 {
				if err := s.Set(Item{Key: fmt.Sprintf("%04d", i), Value: val(i)}); err != nil {
					t.Fatal(err)
				}
				if i%50 == 0 {
					checkInvariants(t, s)
				}
			}
			checkInvariants(t, s)
			if got, want := s.Len(), 200; got != want {
				t.Fatalf("Len()=%d, want %d", got, want)
			}
			if got, want := s.Stats().Evictions, uint64(200); got != want {
				t.Fatalf("Evictions=%d, want %d", got, want)
			}
			oldKept := 0
			for i := range 200 {
				if _, ok := s.Get(fmt.Sprintf("%04d", i)); ok {
					oldKept++
				}
			}
			// Each of the first 200 survives each later insertion with
			// probability 199/200 or so; about 200*(199/200)^200 ~ 73 stay.
			if oldKept < 35 || oldKept > 115 {
				t.Errorf("%d of the 200 oldest items kept, want about 73 (RR must not evict oldest first)", oldKept)
			}
			newKept := 200 - oldKept
			if newKept == 200 {
				t.Errorf("no new item evicted")
			}
			// The last 100 insertions faced fewer evictions: about 79 of
			// them stay, against about 37 per 100 of the first 200.
			newest := 0
			for i := 300; i < 400; i++ {
				if _, ok := s.Get(fmt.Sprintf("%04d", i)); ok {
					newest++
				}
			}
			if newest-oldKept/2 < 20 {
				t.Errorf("%d of the newest 100 kept against %d of the oldest 200: want far more of the newest", newest, oldKept)
			}
		})
	}
}

func TestStore_RREvictionUniform(t *testing.T) {
	// Evict one item at a time from a full store of 100 and count which
	// positions (by insertion) go first: with RR each should be first
	// about equally often.
	hits := make([]int, 10)
	const runs = 400
	for r := range runs {
		s := NewStore(StoreConfig{Capacity: 100 * itemSize(4, 10), Policy: RR, Seed: uint64(r + 1)})
		for i := range 100 {
			s.Set(Item{Key: fmt.Sprintf("%04d", i), Value: val(i)})
		}
		s.Set(Item{Key: "more", Value: val(0)})
		for i := range 100 {
			if _, ok := s.Get(fmt.Sprintf("%04d", i)); !ok {
				hits[i/10]++
			}
		}
	}
	// Expect runs/10 = 40 per decile; binomial sd ~6.
	for d, n := range hits {
		if n < 10 || n > 80 {
			t.Errorf("decile %d evicted first %d times of %d, want about %d: %v", d, n, runs, runs/10, hits)
		}
	}
}

func TestStore_RandomWorkload(t *testing.T) {
	// A property test: thousands of random operations, with the invariants
	// (bytes <= capacity, accounting = recomputed sum, consistent shards)
	// checked after each one, and the store compared with a model map for
	// the keys that must still be there.
	for _, seed := range []uint64{7, 8} {
		t.Run("Seed"+strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			clk := newFakeClock(1_700_000_000)
			s := NewStore(StoreConfig{Capacity: 8 << 10, MaxItemBytes: 6 << 10, Seed: seed, Now: clk.now})
			for i := range 6000 {
				k := "k" + strconv.Itoa(rng.IntN(60))
				v := bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(900))
				if rng.IntN(30) == 0 {
					v = make([]byte, 2<<10+rng.IntN(6<<10)) // sometimes large or too large
				}
				before, had := s.Get(k)
				switch op := rng.IntN(14); op {
				case 0, 1, 2, 3:
					err := s.Set(Item{Key: k, Value: v, Flags: uint32(i)})
					if s.tooBig(itemSize(len(k), len(v))) {
						if err != ErrTooLarge {
							t.Fatalf("op %d: Set too large: %v", i, err)
						}
						if it, ok := s.Get(k); had != ok || ok && !bytes.Equal(it.Value, before.Value) {
							t.Fatalf("op %d: refused Set changed the old value", i)
						}
					} else if err != nil {
						t.Fatalf("op %d: Set: %v", i, err)
					} else if it, ok := s.Get(k); !ok || !bytes.Equal(it.Value, v) || it.Flags != uint32(i) {
						t.Fatalf("op %d: Get after Set: %v %v", i, ok, len(it.Value))
					}
				case 4:
					s.Add(Item{Key: k, Value: v})
				case 5:
					s.Replace(Item{Key: k, Value: v})
				case 6:
					s.Append(k, v[:min(len(v), 100)])
				case 7:
					s.Prepend(k, v[:min(len(v), 100)])
				case 8:
					s.Delete(k)
					if _, ok := s.Get(k); ok {
						t.Fatalf("op %d: Get after Delete found %q", i, k)
					}
				case 9:
					s.Set(Item{Key: k, Value: []byte(strconv.Itoa(rng.IntN(1000)))})
					s.Incr(k, uint64(rng.IntN(1<<20)))
					s.Decr(k, uint64(rng.IntN(1<<10)))
				case 10:
					s.Touch(k, clk.now().Unix()+int64(rng.IntN(5)))
				case 11:
					clk.add(int64(rng.IntN(3)))
				case 12:
					switch rng.IntN(8) {
					case 0:
						s.SetCapacity(int64(1<<10 + rng.IntN(12<<10)))
					case 1:
						s.SetPolicy(Policy(rng.IntN(2)))
					case 2:
						if rng.IntN(10) == 0 {
							s.Flush()
						}
					}
				case 13:
					if it, ok := s.Get(k); ok {
						w := v[:min(len(v), 10)]
						if err := s.CompareAndSwap(Item{Key: k, Value: w, CAS: it.CAS}); err != nil {
							t.Fatalf("op %d: CompareAndSwap: %v", i, err)
						}
						if err := s.CompareAndSwap(Item{Key: k, Value: w, CAS: it.CAS}); err != ErrExists {
							t.Fatalf("op %d: second CompareAndSwap: %v, want ErrExists", i, err)
						}
					}
				}
				checkInvariants(t, s)
			}
			st := s.Stats()
			if st.Evictions == 0 || st.Items == 0 {
				t.Fatalf("workload too gentle: %+v", st)
			}
		})
	}
}

func TestStore_Concurrent(t *testing.T) {
	// Many goroutines on few keys and a small capacity, with policy and
	// capacity changes; afterwards the structure must be intact.
	s := NewStore(StoreConfig{Capacity: 64 << 10, Seed: 1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 3000 {
				k := "k" + strconv.Itoa(rng.IntN(300))
				if g == 0 && i%500 == 0 {
					s.SetCapacity(int64(32<<10 + rng.IntN(64<<10)))
					s.SetPolicy(Policy(i / 500 % 2))
				}
				switch rng.IntN(10) {
				case 0, 1, 2:
					s.Set(Item{Key: k, Value: make([]byte, rng.IntN(4<<10))})
				case 3:
					s.Append(k, []byte("xyz"))
				case 4:
					s.Delete(k)
				case 5:
					s.Incr(k, 1)
				case 6:
					s.Touch(k, 0)
				default:
					if it, ok := s.Get(k); ok {
						_ = it.Value[len(it.Value)/2:] // read the shared value
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			s.Keys(10, 0)
			s.Stats()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	checkInvariants(t, s)
}

func TestStore_PolicySwitchKeepsContents(t *testing.T) {
	s := NewStore(StoreConfig{Capacity: 50 * size1})
	for i := range 50 {
		s.Set(Item{Key: fmt.Sprintf("%02d", i), Value: val(i)})
	}
	s.Get("07")
	before := keysOf(s.Keys(-1, 0))
	for _, p := range []Policy{RR, LRU, RR} {
		if err := s.SetPolicy(p); err != nil {
			t.Fatal(err)
		}
		if got := s.Policy(); got != p {
			t.Fatalf("Policy()=%v, want %v", got, p)
		}
		if got := keysOf(s.Keys(-1, 0)); !slices.Equal(got, before) {
			t.Fatalf("after SetPolicy(%v): Keys()=%v, want %v", p, got, before)
		}
		for i := range 50 {
			if it, ok := s.Get(fmt.Sprintf("%02d", i)); !ok || !bytes.Equal(it.Value, val(i)) {
				t.Fatalf("after SetPolicy(%v): item %d lost", p, i)
			}
		}
		before = keysOf(s.Keys(-1, 0)) // the Gets reordered it
		checkInvariants(t, s)
	}
	if err := s.SetPolicy(Policy(7)); err == nil {
		t.Fatal("SetPolicy(7) accepted")
	}
	// Back to LRU, a new item evicts the least recently used.
	s.SetPolicy(LRU)
	s.Set(Item{Key: "new", Value: val(0)})
	if _, ok := s.Get(before[0]); ok {
		t.Fatalf("LRU after switching back kept %q", before[0])
	}
}

func TestStore_SetCapacity(t *testing.T) {
	for _, p := range []Policy{LRU, RR} {
		t.Run(p.String(), func(t *testing.T) {
			s := NewStore(StoreConfig{Capacity: 100 * size1, Policy: p, Seed: 3})
			for i := range 100 {
				s.Set(Item{Key: fmt.Sprintf("%02d", i), Value: val(i)})
			}
			if err := s.SetCapacity(30 * size1); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, s)
			if got, want := s.Len(), 30; got != want {
				t.Fatalf("Len() after shrink=%d, want %d", got, want)
			}
			if got := s.Bytes(); got > 30*size1 {
				t.Fatalf("Bytes()=%d over the new capacity", got)
			}
			if got, want := s.Stats().Evictions, uint64(70); got != want {
				t.Fatalf("Evictions=%d, want %d", got, want)
			}
			if p == LRU {
				want := make([]string, 0, 30)
				for i := 70; i < 100; i++ {
					want = append(want, fmt.Sprintf("%02d", i))
				}
				if got := keysOf(s.Keys(-1, 0)); !slices.Equal(got, want) {
					t.Fatalf("LRU shrink kept %v, want the 30 newest", got)
				}
			}
			// Growing evicts nothing and makes room.
			s.SetCapacity(200 * size1)
			for i := range 150 {
				s.Set(Item{Key: fmt.Sprintf("n%d", i), Value: val(i)})
			}
			if got, want := s.Len(), 180; got != want {
				t.Fatalf("Len() after growth=%d, want %d", got, want)
			}
			checkInvariants(t, s)
			if err := s.SetCapacity(0); err == nil {
				t.Fatal("SetCapacity(0) accepted")
			}
		})
	}
}

func TestStore_TooLarge(t *testing.T) {
	s := NewStore(StoreConfig{Capacity: 1 << 20, MaxItemBytes: 512 << 10})
	old := []byte("old value")
	s.Set(Item{Key: "k", Value: old})
	s.Set(Item{Key: "other", Value: old})
	tests := []struct {
		name string
		size int
	}{
		{"OverItemMax", 512 << 10},
		{"OverCapacity", 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, write := range []func(Item) error{s.Set, s.Replace, s.Add, s.CompareAndSwap} {
				if err := write(Item{Key: "k", Value: make([]byte, tt.size)}); err != ErrTooLarge {
					t.Fatalf("write of %d bytes: %v, want ErrTooLarge", tt.size, err)
				}
			}
			if it, ok := s.Get("k"); !ok || !bytes.Equal(it.Value, old) {
				t.Fatalf("old value lost after refused write: %v %q", ok, it.Value)
			}
			if s.Len() != 2 {
				t.Fatalf("refused write evicted: Len()=%d", s.Len())
			}
			checkInvariants(t, s)
		})
	}
	// Append past the limit is refused too, and keeps the value.
	s.Set(Item{Key: "a", Value: make([]byte, 300<<10)})
	if err := s.Append("a", make([]byte, 300<<10)); err != ErrTooLarge {
		t.Fatalf("Append past the item limit: %v, want ErrTooLarge", err)
	}
	if it, _ := s.Get("a"); len(it.Value) != 300<<10 {
		t.Fatalf("Append refused but value now %d bytes", len(it.Value))
	}
	// An item of exactly the limit fits, and may take the whole capacity.
	s2 := NewStore(StoreConfig{Capacity: 1 << 20, MaxItemBytes: 1 << 20})
	s2.Set(Item{Key: "x", Value: []byte("x")})
	if err := s2.Set(Item{Key: "big", Value: make([]byte, 1<<20-3-ItemOverhead)}); err != nil {
		t.Fatalf("item of exactly the capacity: %v", err)
	}
	if _, ok := s2.Get("x"); ok || s2.Len() != 1 {
		t.Fatalf("whole-capacity item did not evict the rest")
	}
	checkInvariants(t, s2)
	if got, want := s.Stats().TooLarge, uint64(9); got != want {
		t.Fatalf("TooLarge=%d, want %d", got, want)
	}
}

func TestStore_ReplaceLargeWithinCapacity(t *testing.T) {
	// Replacing a value that holds most of the capacity must not fail:
	// the old value's room is reused.
	s := NewStore(StoreConfig{Capacity: 1 << 20})
	big := make([]byte, 700<<10)
	for i := range 5 {
		if err := s.Set(Item{Key: "k", Value: big}); err != nil {
			t.Fatalf("Set %d: %v", i, err)
		}
	}
	checkInvariants(t, s)
	if s.Stats().Evictions != 0 {
		t.Fatal("overwriting one key evicted")
	}
}

func TestStore_Conditional(t *testing.T) {
	s := NewStore(StoreConfig{})
	if err := s.Replace(Item{Key: "k", Value: []byte("1")}); err != ErrNotStored {
		t.Fatalf("Replace missing: %v", err)
	}
	if err := s.Add(Item{Key: "k", Value: []byte("1"), Flags: 5}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := s.Add(Item{Key: "k", Value: []byte("2")}); err != ErrNotStored {
		t.Fatalf("Add existing: %v", err)
	}
	if err := s.Append("k", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Prepend("k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	it, _ := s.Get("k")
	if string(it.Value) != "a1b" || it.Flags != 5 {
		t.Fatalf("after append/prepend: %q flags %d", it.Value, it.Flags)
	}
	if err := s.Append("missing", []byte("x")); err != ErrNotStored {
		t.Fatalf("Append missing: %v", err)
	}
	if err := s.CompareAndSwap(Item{Key: "k", Value: []byte("c"), CAS: it.CAS + 100}); err != ErrExists {
		t.Fatalf("CAS stale: %v", err)
	}
	if err := s.CompareAndSwap(Item{Key: "k", Value: []byte("c"), CAS: it.CAS}); err != nil {
		t.Fatalf("CAS: %v", err)
	}
	if err := s.CompareAndSwap(Item{Key: "nope", Value: []byte("c"), CAS: 1}); err != ErrNotFound {
		t.Fatalf("CAS missing: %v", err)
	}
	it2, _ := s.Get("k")
	if it2.CAS == it.CAS || string(it2.Value) != "c" {
		t.Fatalf("CAS did not store or keep unique: %+v", it2)
	}
	if err := s.Set(Item{Key: "bad key"}); err != ErrBadKey {
		t.Fatalf("Set with space in key: %v", err)
	}
	if err := s.Set(Item{Key: string(make([]byte, 251))}); err != ErrBadKey {
		t.Fatalf("Set with 251-byte key: %v", err)
	}
	st := s.Stats()
	if st.CasHits != 1 || st.CasBadval != 1 || st.CasMisses != 1 {
		t.Fatalf("cas stats %+v", st)
	}
}

func TestStore_IncrDecr(t *testing.T) {
	s := NewStore(StoreConfig{})
	tests := []struct {
		start string
		incr  bool
		delta uint64
		want  uint64
		err   error
	}{
		{"10", true, 5, 15, nil},
		{"10", false, 3, 7, nil},
		{"3", false, 10, 0, nil},
		{"18446744073709551615", true, 2, 1, nil},
		{" 12 ", true, 1, 13, nil},
		{"+12", true, 1, 13, nil},
		{"9", true, 1, 10, nil},
		{"-12", true, 1, 0, ErrNonNumeric},
		{"abc", true, 1, 0, ErrNonNumeric},
		{"", true, 1, 0, ErrNonNumeric},
		{"123456789012345678901", true, 1, 0, ErrNonNumeric},
	}
	for _, tt := range tests {
		s.Set(Item{Key: "n", Value: []byte(tt.start), Flags: 9})
		f := s.Decr
		if tt.incr {
			f = s.Incr
		}
		got, err := f("n", tt.delta)
		if err != tt.err || got != tt.want {
			t.Errorf("%q incr=%v %d: %d, %v; want %d, %v", tt.start, tt.incr, tt.delta, got, err, tt.want, tt.err)
		}
		if err == nil {
			it, _ := s.Get("n")
			if string(it.Value) != strconv.FormatUint(tt.want, 10) || it.Flags != 9 {
				t.Errorf("stored %q flags %d", it.Value, it.Flags)
			}
		}
		checkInvariants(t, s)
	}
	if _, err := s.Incr("missing", 1); err != ErrNotFound {
		t.Fatalf("Incr missing: %v", err)
	}
}

func TestStore_Expiry(t *testing.T) {
	clk := newFakeClock(1_000_000)
	s := NewStore(StoreConfig{Now: clk.now})
	s.Set(Item{Key: "never", Value: []byte("v")})
	s.Set(Item{Key: "soon", Value: []byte("v"), Exp: 1_000_010})
	s.Set(Item{Key: "past", Value: []byte("v"), Exp: 999_999})
	if _, ok := s.Get("past"); ok {
		t.Fatal("item stored already expired is visible")
	}
	if _, ok := s.Get("soon"); !ok {
		t.Fatal("item expired early")
	}
	clk.add(9)
	if _, ok := s.Get("soon"); !ok {
		t.Fatal("item expired a second early")
	}
	clk.add(1)
	if _, ok := s.Get("soon"); ok {
		t.Fatal("item not expired at its exptime")
	}
	if _, ok := s.Get("never"); !ok {
		t.Fatal("item without expiry expired")
	}
	// Touch extends; Touch into the past removes.
	s.Set(Item{Key: "t", Value: []byte("v"), Exp: 1_000_015})
	if !s.Touch("t", 1_000_100) {
		t.Fatal("Touch existing reported false")
	}
	clk.add(50)
	if _, ok := s.Get("t"); !ok {
		t.Fatal("Touch did not extend the expiry")
	}
	if !s.Touch("t", 1) {
		t.Fatal("Touch into the past reported false")
	}
	if _, ok := s.Get("t"); ok {
		t.Fatal("Touch into the past kept the item")
	}
	if s.Touch("missing", 0) {
		t.Fatal("Touch missing reported true")
	}
	it, ok := s.GetAndTouch("never", 1_000_200)
	if !ok || it.Exp != 1_000_200 {
		t.Fatalf("GetAndTouch: %v %+v", ok, it)
	}
	// Expired items are not listed, and are reclaimed when met.
	clk.add(1000)
	if got := keysOf(s.Keys(-1, 0)); len(got) != 0 {
		t.Fatalf("Keys lists expired items: %v", got)
	}
	s.Get("never")
	checkInvariants(t, s)
	if st := s.Stats(); st.GetExpired < 2 || st.Reclaimed < 2 {
		t.Fatalf("expiry stats %+v", st)
	}
}

func TestStore_FlushAfter(t *testing.T) {
	s := NewStore(StoreConfig{})
	s.Set(Item{Key: "k", Value: []byte("v")})
	s.FlushAfter(50 * time.Millisecond)
	if _, ok := s.Get("k"); !ok {
		t.Fatal("delayed flush removed at once")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Len() != 0 {
		t.Fatal("delayed flush did not happen")
	}
	// A later flush replaces a pending one.
	s.Set(Item{Key: "k", Value: []byte("v")})
	s.FlushAfter(20 * time.Millisecond)
	s.FlushAfter(time.Hour)
	time.Sleep(60 * time.Millisecond)
	if _, ok := s.Get("k"); !ok {
		t.Fatal("replaced delayed flush still ran")
	}
	s.FlushAfter(0)
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatal("FlushAfter(0) left items")
	}
	checkInvariants(t, s)
}

func TestStore_Stats(t *testing.T) {
	clk := newFakeClock(2_000_000)
	s := NewStore(StoreConfig{Capacity: 3 * size1, Now: clk.now})
	for i := range 4 {
		s.Set(Item{Key: fmt.Sprintf("k%d", i), Value: val(i)})
	}
	s.Get("k3")
	s.Get("k0")
	s.Delete("k2")
	s.Delete("k2")
	st := s.Stats()
	want := Stats{
		Items: 2, Bytes: 2 * size1, Capacity: 3 * size1, MaxItem: DefaultMaxItemBytes, Policy: LRU,
		Gets: 2, Hits: 1, Misses: 1, Sets: 4, TotalItems: 4, DeleteHits: 1, DeleteMisses: 1,
		Evictions: 1, EvictedUnfetched: 1, RequestsLast5s: 8,
	}
	if st != want {
		t.Fatalf("Stats()=%+v\nwant     %+v", st, want)
	}
	clk.add(3)
	s.Get("k1")
	if got := s.Stats().RequestsLast5s; got != 9 {
		t.Fatalf("RequestsLast5s 3s later=%d, want 9", got)
	}
	clk.add(2)
	if got := s.Stats().RequestsLast5s; got != 1 {
		t.Fatalf("RequestsLast5s 5s later=%d, want 1", got)
	}
	clk.add(100)
	if got := s.Stats().RequestsLast5s; got != 0 {
		t.Fatalf("RequestsLast5s long after=%d, want 0", got)
	}
	s.ResetStats()
	if st := s.Stats(); st.Gets != 0 || st.Items != 2 {
		t.Fatalf("after ResetStats: %+v", st)
	}
}

func TestRateRing(t *testing.T) {
	var r rateRing
	for sec := int64(100); sec < 110; sec++ {
		for range sec - 99 { // 1 request at 100, 2 at 101, ...
			r.add(sec)
		}
	}
	// Seconds 105..109 hold 6+7+8+9+10.
	if got, want := r.sum(109), uint64(40); got != want {
		t.Fatalf("sum(109)=%d, want %d", got, want)
	}
	if got, want := r.sum(111), uint64(8+9+10); got != want {
		t.Fatalf("sum(111)=%d, want %d", got, want)
	}
	if got := r.sum(200); got != 0 {
		t.Fatalf("sum(200)=%d, want 0", got)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Policy
		ok   bool
	}{{"lru", LRU, true}, {"rr", RR, true}, {"RR", RR, true}, {"fifo", 0, false}, {"", 0, false}} {
		got, err := ParsePolicy(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePolicy(%q)=%v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != strings.ToLower(tt.in) {
			t.Errorf("%v.String()=%q", got, got.String())
		}
	}
}

func TestParseNumbers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		bits uint
		want uint64
		ok   bool
	}{
		{"0", 32, 0, true}, {"4294967295", 32, math.MaxUint32, true}, {"4294967296", 32, 0, false},
		{"18446744073709551615", 64, math.MaxUint64, true}, {"18446744073709551616", 64, 0, false},
		{"", 64, 0, false}, {"-1", 64, 0, false}, {"+1", 64, 0, false}, {"1x", 64, 0, false}, {"007", 64, 7, true},
	} {
		if got, ok := parseUint([]byte(tt.in), tt.bits); got != tt.want || ok != tt.ok {
			t.Errorf("parseUint(%q, %d)=%d, %v", tt.in, tt.bits, got, ok)
		}
	}
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"-1", -1, true}, {"+5", 5, true}, {"2147483647", math.MaxInt32, true},
		{"2147483648", 0, false}, {"-2147483648", math.MinInt32, true}, {"-2147483649", 0, false}, {"-", 0, false},
	} {
		if got, ok := parseInt([]byte(tt.in), 32); got != tt.want || ok != tt.ok {
			t.Errorf("parseInt(%q)=%d, %v", tt.in, got, ok)
		}
	}
}
