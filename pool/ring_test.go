package pool

import (
	"fmt"
	"math"
	"testing"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("i:%d:key-%d", i%7, i)
	}
	return out
}

func nodeIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node-%d", i+1)
	}
	return out
}

func TestRing_Get(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		if got := NewRing().Get("k"); got != "" {
			t.Fatalf("Get()=%q, want \"\"", got)
		}
	})
	t.Run("Stable", func(t *testing.T) {
		a, b := NewRing("x", "y", "z"), NewRing("z", "x", "y", "x")
		if got, want := b.Len(), 3; got != want {
			t.Fatalf("Len()=%d, want %d", got, want)
		}
		for _, k := range keys(1000) {
			if a.Get(k) != b.Get(k) {
				t.Fatalf("the same nodes in another order map %q differently", k)
			}
		}
	})
	t.Run("Balance", func(t *testing.T) {
		for n := 1; n <= 8; n++ {
			r := NewRing(nodeIDs(n)...)
			count := map[string]int{}
			ks := keys(40000)
			for _, k := range ks {
				count[r.Get(k)]++
			}
			want := float64(len(ks)) / float64(n)
			for id, c := range count {
				if math.Abs(float64(c)-want) > 0.1*want {
					t.Errorf("n=%d: node %s has %d keys, want %.0f ± 10%%", n, id, c, want)
				}
			}
		}
	})
}

// TestRing_Movement: going from N to N+1 nodes moves about 1/(N+1) of the
// keys, all to the new node; going from N to N-1 moves only the removed
// node's keys.
func TestRing_Movement(t *testing.T) {
	ks := keys(20000)
	for n := 1; n < 8; n++ {
		small, big := NewRing(nodeIDs(n)...), NewRing(nodeIDs(n+1)...)
		newID := nodeIDs(n + 1)[n]
		moved := 0
		for _, k := range ks {
			from, to := small.Get(k), big.Get(k)
			if from != to {
				moved++
				if to != newID {
					t.Fatalf("%d->%d: key %q moved from %s to %s, not to the new node", n, n+1, k, from, to)
				}
			}
		}
		frac, want := float64(moved)/float64(len(ks)), 1/float64(n+1)
		if math.Abs(frac-want) > 0.02 {
			t.Errorf("%d->%d nodes moved %.3f of the keys, want about %.3f", n, n+1, frac, want)
		}

		// Shrinking back moves only the removed node's keys.
		for _, k := range ks {
			if from, to := big.Get(k), small.Get(k); from != to && from != newID {
				t.Fatalf("%d->%d: key %q moved off %s, which stays", n+1, n, k, from)
			}
		}
	}
	// Removing a node from the middle moves only that node's keys.
	all, less := NewRing("a", "b", "c", "d"), NewRing("a", "b", "d")
	for _, k := range ks {
		if from, to := all.Get(k), less.Get(k); from != to && from != "c" {
			t.Fatalf("key %q moved off %s", k, from)
		}
	}
}

func BenchmarkRing_Get8(b *testing.B) {
	r := NewRing(nodeIDs(8)...)
	for b.Loop() {
		r.Get("i:42:some/image/key.jpg")
	}
}
