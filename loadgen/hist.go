package loadgen

import (
	"math/bits"
	"time"
)

// Histogram records latencies in log-spaced buckets, as HdrHistogram does:
// each power of two is split into subBuckets equal parts, so a recorded
// value is known to within 1/subBuckets (under 0.8%) whatever its size,
// from a nanosecond to hours, in a fixed 64 KiB. A quantile is therefore
// exact to that precision, with no sampling and no memory growing with
// the run's length.
//
// A Histogram is not safe for concurrent use: each worker records into its
// own and the runner merges them.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

const (
	subBits     = 7
	subBuckets  = 1 << subBits // per power of two
	histBuckets = (64 - subBits) * subBuckets
)

// bucket returns the index of the bucket holding v (v >= 0). Values below
// 2*subBuckets have a bucket each; above, bucket (e+1)*subBuckets+m-subBuckets
// holds [m<<e, (m+1)<<e) for m in [subBuckets, 2*subBuckets).
func bucket(v uint64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1)
	m := v >> e
	return (e+1)*subBuckets + int(m) - subBuckets
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i)
	}
	e := i/subBuckets - 1
	m := uint64(i%subBuckets + subBuckets)
	return m << e, (m+1)<<e - 1
}

// Record adds one latency; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the mean of the values recorded, exactly.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the value below which a fraction q (0 to 1) of the
// recorded values fall: the middle of the bucket holding the value of rank
// ceil(q*n), clamped to the exact minimum and maximum. Zero if empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++
	}
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
