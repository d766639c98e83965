package imaging

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

func TestBudget(t *testing.T) {
	t.Run("FullWaitsThenUnavailable", func(t *testing.T) {
		b := &Budget{Bytes: 100, Wait: 20 * time.Millisecond, FreeEvery: -1}
		release, err := b.Acquire(t.Context(), 60, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		_, err = b.Acquire(t.Context(), 50, 0)
		if got, want := pixpool.ErrorCode(err), pixpool.EUNAVAILABLE; got != want {
			t.Fatalf("Acquire over a full budget: %v, want code %s", err, want)
		}
		if pixpool.ErrorMessage(err) == "" {
			t.Fatal("no message")
		}
	})
	t.Run("WaitsForRelease", func(t *testing.T) {
		b := &Budget{Bytes: 100, FreeEvery: -1}
		release, err := b.Acquire(t.Context(), 60, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			r, err := b.Acquire(t.Context(), 50, time.Minute)
			if err == nil {
				r()
			}
			done <- err
		}()
		release()
		release() // harmless: the second call does nothing
		if err := <-done; err != nil {
			t.Fatalf("Acquire after a release: %v", err)
		}
		// Both are back: the whole budget can be taken at once.
		r, err := b.Acquire(t.Context(), 100, 20*time.Millisecond)
		if err != nil {
			t.Fatalf("Acquire(all) after every release: %v", err)
		}
		r()
	})
	t.Run("LargerThanBudget", func(t *testing.T) {
		b := &Budget{Bytes: 100 << 20}
		_, err := b.Acquire(t.Context(), 100<<20+1, time.Hour)
		if got, want := pixpool.ErrorCode(err), pixpool.EINVALID; got != want {
			t.Fatalf("Acquire over the whole budget: %v, want code %s", err, want)
		}
		if got, want := pixpool.ErrorMessage(err), "The image is too large to decode: it needs 101 MiB of memory, more than this server's limit of 100 MiB for all images being decoded at once."; got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	})
	t.Run("ContextEnds", func(t *testing.T) {
		b := &Budget{Bytes: 100, FreeEvery: -1}
		release, _ := b.Acquire(t.Context(), 100, 0)
		defer release()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := b.Acquire(ctx, 1, -1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire with an ended context: %v", err)
		}
	})
	t.Run("DefaultSize", func(t *testing.T) {
		var b Budget
		if got, want := b.Size(), int64(DefaultBudget); got != want {
			t.Fatalf("Size()=%d, want %d", got, want)
		}
	})
	t.Run("GivesMemoryBack", func(t *testing.T) {
		freed := make(chan struct{}, 1)
		b := &Budget{Bytes: 1 << 30, FreeEvery: time.Hour}
		b.freed = func() { freed <- struct{}{} }
		release, err := b.Acquire(t.Context(), freeAfter, 0)
		if err != nil {
			t.Fatal(err)
		}
		release()
		<-freed // the first time at once
		// The next one waits for FreeEvery: none is run meanwhile.
		release, _ = b.Acquire(t.Context(), freeAfter, 0)
		release()
		select {
		case <-freed:
			t.Fatal("freed again within FreeEvery")
		case <-time.After(50 * time.Millisecond):
		}
	})
}

// The Decoder reserves before decoding and gives the reservation back on
// every failure, and on Release.
func TestDecoder_Budget(t *testing.T) {
	data := png16(100, 100, pngRGBA, false, nil, sample16(4)) // costs 40000 bytes
	t.Run("Full", func(t *testing.T) {
		b := &Budget{Bytes: 50_000, Wait: 10 * time.Millisecond, FreeEvery: -1}
		hold, _ := b.Acquire(t.Context(), 20_000, 0)
		_, err := (&Decoder{Budget: b}).Decode(t.Context(), data)
		if got, want := pixpool.ErrorCode(err), pixpool.EUNAVAILABLE; got != want {
			t.Fatalf("Decode over a full budget: %v, want code %s", err, want)
		}
		hold()
		d, err := (&Decoder{Budget: b}).Decode(t.Context(), data)
		if err != nil {
			t.Fatalf("Decode after the release: %v", err)
		}
		if d.Cost != 40_000 || d.Image == nil {
			t.Fatalf("Decoded Cost=%d Image=%v", d.Cost, d.Image)
		}
		// Held until released.
		if _, err := b.Acquire(t.Context(), 20_000, 10*time.Millisecond); pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
			t.Fatalf("Acquire while the image is held: %v", err)
		}
		d.Release()
		assertFree(t, b)
	})
	t.Run("TooLargeForBudget", func(t *testing.T) {
		b := &Budget{Bytes: 30_000}
		_, err := (&Decoder{Budget: b}).Decode(t.Context(), data)
		if got, want := pixpool.ErrorCode(err), pixpool.EINVALID; got != want {
			t.Fatalf("Decode of an image over the budget: %v, want code %s", err, want)
		}
	})
	t.Run("Extra", func(t *testing.T) {
		b := &Budget{Bytes: 50_000}
		d := &Decoder{Budget: b, Extra: func(w, h int) int64 { return int64(2 * w * h) }}
		if _, err := d.Decode(t.Context(), data); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("Decode with 20000 extra bytes over a 50000 budget: %v", err)
		}
	})
	t.Run("ReleasedOnErrors", func(t *testing.T) {
		b := &Budget{Bytes: 50_000, Wait: 10 * time.Millisecond, FreeEvery: -1}
		for _, bad := range [][]byte{cut(data, 20), flip(data, len(data)-30)} {
			if _, err := (&Decoder{Budget: b}).Decode(t.Context(), bad); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Fatalf("Decode of a damaged image: %v", err)
			}
			assertFree(t, b)
		}
	})
}

// assertFree checks that all of b can be reserved at once.
func assertFree(t *testing.T, b *Budget) {
	t.Helper()
	r, err := b.Acquire(t.Context(), b.Size(), 10*time.Millisecond)
	if err != nil {
		t.Fatalf("the budget is not all free: %v", err)
	}
	r()
}

func TestBudget_AcquireSpare(t *testing.T) {
	b := &Budget{Bytes: 100, FreeEvery: -1}
	if _, err := b.AcquireSpare(t.Context(), 51); pixpool.ErrorCode(err) != pixpool.EINVALID {
		t.Fatalf("AcquireSpare over half the budget: %v", err)
	}
	hold, _ := b.Acquire(t.Context(), 100, 0)
	got := make(chan func())
	go func() {
		r, err := b.AcquireSpare(t.Context(), 50)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	hold()
	// A request after the waiting background work is not held up by it.
	r, err := b.Acquire(t.Context(), 80, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r()
	(<-got)()
	assertFree(t, b)

	ctx, cancel := context.WithCancel(t.Context())
	hold, _ = b.Acquire(t.Context(), 100, 0)
	defer hold()
	cancel()
	if _, err := b.AcquireSpare(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("AcquireSpare with an ended context: %v", err)
	}
}
