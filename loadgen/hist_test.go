package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	// Every value falls in the bucket whose range holds it, and buckets
	// are contiguous.
	var prevHi uint64
	for i := 0; i < 40*subBuckets; i++ {
		lo, hi := bucketRange(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, prevHi+1)
		}
		if got := bucket(lo); got != i {
			t.Fatalf("bucket(%d)=%d, want %d", lo, got, i)
		}
		if got := bucket(hi); got != i {
			t.Fatalf("bucket(%d)=%d, want %d", hi, got, i)
		}
		if lo >= 2*subBuckets {
			if err := float64(hi-lo+1) / float64(lo); err > 1.0/subBuckets+1e-9 {
				t.Fatalf("bucket %d [%d,%d] is %.4f wide, over 1/%d", i, lo, hi, err, subBuckets)
			}
		}
		prevHi = hi
	}
	if got := bucket(1<<63 - 1); got >= histBuckets {
		t.Fatalf("bucket(max int64)=%d, out of %d", got, histBuckets)
	}
}

func TestHistogram_Quantile(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		var h Histogram
		if got := h.Quantile(0.99); got != 0 {
			t.Fatalf("Quantile(0.99)=%v, want 0", got)
		}
	})
	t.Run("AgainstSorted", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		var h, a, b Histogram
		var all []time.Duration
		for i := range 100000 {
			// Log-normal-ish: microseconds to seconds.
			d := time.Duration(float64(time.Microsecond) * (1 + r.ExpFloat64()*r.ExpFloat64()*2000))
			all = append(all, d)
			h.Record(d)
			if i%2 == 0 {
				a.Record(d)
			} else {
				b.Record(d)
			}
		}
		a.Merge(&b)
		slices.Sort(all)
		for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999, 1} {
			want := all[max(int(q*float64(len(all)))-1, 0)]
			for name, hh := range map[string]*Histogram{"one": &h, "merged": &a} {
				got := hh.Quantile(q)
				if rel := float64(got-want) / float64(want); rel > 0.01 || rel < -0.01 {
					t.Errorf("%s: Quantile(%v)=%v, want %v within 1%%", name, q, got, want)
				}
			}
		}
		if got, want := h.Max(), all[len(all)-1]; got != want {
			t.Errorf("Max()=%v, want %v", got, want)
		}
		if got, want := a.Count(), uint64(len(all)); got != want {
			t.Errorf("merged Count()=%d, want %d", got, want)
		}
	})
}
