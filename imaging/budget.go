package imaging

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/pixpool/pixpool"
)

// DefaultBudget is a Budget's size when its Bytes is zero: room for three
// color images of DefaultMaxPixels at once (256 MB each).
const DefaultBudget = 768 << 20

// Budget bounds the memory that decoded images hold at once, across every
// decode that shares it: uploads' checks, thumbnails and analysis. A small
// file can claim a huge size, and its pixels, not its bytes, are what cost
// memory; without a bound, a few such files at once take gigabytes.
//
// The zero value is ready to use. A Budget must not be copied after first
// use.
type Budget struct {
	// Bytes is the budget. If zero, DefaultBudget.
	Bytes int64
	// Wait is how long a decode waits for room before it is refused with
	// EUNAVAILABLE (the client should retry). If zero, 5 s.
	Wait time.Duration
	// FreeEvery bounds how often memory is given back to the operating
	// system (debug.FreeOSMemory) after a large decode's bytes are
	// released: Go's runtime would otherwise keep the pages for a while,
	// and under a burst of bombs the process's RSS would stay at its peak.
	// If zero, 5 s; if negative, never.
	FreeEvery time.Duration

	once sync.Once
	sem  *semaphore.Weighted

	mu       sync.Mutex // guards released, lastFree, freeing
	released int64      // bytes released since the last FreeOSMemory was scheduled
	lastFree time.Time
	freeing  bool // a FreeOSMemory is scheduled
	// freed, if set, is called after each FreeOSMemory (tests).
	freed func()
}

// freeAfter is how many bytes of decodes must be released before memory
// is given back to the operating system.
const freeAfter = 64 << 20

func (b *Budget) init() {
	b.once.Do(func() { b.sem = semaphore.NewWeighted(b.size()) })
}

func (b *Budget) size() int64 {
	if b.Bytes > 0 {
		return b.Bytes
	}
	return DefaultBudget
}

// Size returns the budget in bytes.
func (b *Budget) Size() int64 { return b.size() }

// Acquire reserves n bytes, waiting for others to release theirs for up to
// wait (if zero, b.Wait; if negative, until ctx ends). The returned func
// gives them back; it must be called exactly once, and calling it again is
// harmless. The error is EINVALID when n exceeds the whole budget (no
// waiting helps), EUNAVAILABLE when the wait ran out, or ctx's error.
func (b *Budget) Acquire(ctx context.Context, n int64, wait time.Duration) (release func(), err error) {
	b.init()
	if n <= 0 {
		return func() {}, nil
	}
	if n > b.size() {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The image is too large to decode: it needs %s of memory, more than this server's limit of %s for all images being decoded at once.", mib(n), mib(b.size()))
	}
	if !b.sem.TryAcquire(n) {
		if wait == 0 {
			wait = b.Wait
		}
		if wait == 0 {
			wait = 5 * time.Second
		}
		wctx := ctx
		if wait > 0 {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeoutCause(ctx, wait, errBusy)
			defer cancel()
		}
		if err := b.sem.Acquire(wctx, n); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(context.Cause(wctx), errBusy) {
				return nil, pixpool.Errorf(pixpool.EUNAVAILABLE, "The server is busy decoding other images; try again in a few seconds.")
			}
			return nil, err
		}
	}
	return b.releaser(n), nil
}

var errBusy = errors.New("decode budget busy")

// spareEvery is how often AcquireSpare looks for room.
const spareEvery = 100 * time.Millisecond

// AcquireSpare reserves n bytes for background work (analysis) out of
// what is spare: it never queues ahead of Acquire's callers, whom a
// waiting request would hold up, but looks for room every 100 ms until
// ctx ends. It refuses, with EINVALID, n over half the budget, so that
// background work, which may hold its share for minutes, always leaves
// room for requests.
func (b *Budget) AcquireSpare(ctx context.Context, n int64) (release func(), err error) {
	b.init()
	if n <= 0 {
		return func() {}, nil
	}
	if n > b.size()/2 {
		return nil, pixpool.Errorf(pixpool.EINVALID, "The image is too large to analyse: it needs %s of memory, more than half of this server's limit of %s for all images being decoded at once.", mib(n), mib(b.size()))
	}
	t := time.NewTicker(spareEvery)
	defer t.Stop()
	for !b.sem.TryAcquire(n) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return b.releaser(n), nil
}

// releaser returns the func that gives n reserved bytes back, once.
func (b *Budget) releaser(n int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			b.sem.Release(n)
			b.freeLater(n)
		})
	}
}

// freeLater notes n bytes released and, once they add up to freeAfter,
// gives memory back to the operating system: at once if the last time was
// FreeEvery ago, else when that much time has passed, at most one call
// being pending.
func (b *Budget) freeLater(n int64) {
	every := b.FreeEvery
	if every < 0 {
		return
	}
	if every == 0 {
		every = 5 * time.Second
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released += n
	if b.freeing || b.released < freeAfter {
		return
	}
	b.freeing, b.released = true, 0
	delay := max(time.Until(b.lastFree.Add(every)), 0)
	time.AfterFunc(delay, func() {
		debug.FreeOSMemory()
		b.mu.Lock()
		b.freeing, b.released = false, 0 // what was released meanwhile is freed too
		b.lastFree = time.Now()
		freed := b.freed
		b.mu.Unlock()
		if freed != nil {
			freed()
		}
	})
}

// mib formats n bytes as a whole number of MiB, rounded up.
func mib(n int64) string {
	return strconv.FormatInt((n+(1<<20)-1)>>20, 10) + " MiB"
}
