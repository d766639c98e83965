package pixpooltest

import (
	"runtime/metrics"
	"time"
)

// HeapBytes is the Go heap in use: live objects and those not yet swept.
// Unlike runtime.ReadMemStats it does not stop the world, so benchmarks can
// sample it often without slowing what they measure.
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// SampleHeapPeak samples HeapBytes every 5 ms until the returned func is
// called, which returns the largest sample.
func SampleHeapPeak() (stop func() uint64) {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		p := HeapBytes()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				peak <- max(p, HeapBytes())
				return
			case <-tick.C:
				p = max(p, HeapBytes())
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-peak
	}
}
