package service

import (
	"context"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// assertFree checks that all of b can be reserved at once: nothing holds a
// share of it.
func assertFree(t *testing.T, b *imaging.Budget) {
	t.Helper()
	r, err := b.Acquire(context.Background(), b.Size(), 100*time.Millisecond)
	if err != nil {
		t.Fatalf("the decode budget is not all free: %v", err)
	}
	r()
}

// Uploads and on-demand thumbnails decode within the budget: over a full
// one they wait, then fail with EUNAVAILABLE, storing nothing; an image
// over the whole budget is refused; every path gives its share back.
func TestImages_Budget(t *testing.T) {
	ctx := context.Background()
	data := pngOf(t, 1000, 500, color.White) // 8-bit RGB: 2 MB decoded
	newFixture := func(t *testing.T, bytes int64) (*fixture, *imaging.Budget) {
		f := open(t, t.TempDir())
		b := &imaging.Budget{Bytes: bytes, Wait: 20 * time.Millisecond, FreeEvery: -1}
		f.images.Budget = b
		return f, b
	}
	t.Run("Full", func(t *testing.T) {
		f, b := newFixture(t, 3_000_000)
		hold, err := b.Acquire(ctx, 2_000_000, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.images.Put(ctx, f.owner, "k", data)
		if got, want := pixpool.ErrorCode(err), pixpool.EUNAVAILABLE; got != want {
			t.Fatalf("Put over a full budget: %v, want code %s", err, want)
		}
		if _, err := f.images.Info(ctx, f.owner, "k"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
			t.Fatalf("refused upload stored: %v", err)
		}
		hold()
		img, err := f.images.Put(ctx, f.owner, "k", data)
		if err != nil {
			t.Fatalf("Put after the release: %v", err)
		}
		f.images.Wait()
		assertFree(t, b) // the background thumbnail gave it back

		// On demand, a thumbnail waits for room just the same.
		if err := f.blobs.Delete(ctx, img.ThumbKey); err != nil {
			t.Fatal(err)
		}
		hold, _ = b.Acquire(ctx, 2_000_000, 0)
		if _, _, err := f.images.Thumbnail(ctx, f.owner, "k"); pixpool.ErrorCode(err) != pixpool.EUNAVAILABLE {
			t.Fatalf("Thumbnail over a full budget: %v, want code %s", err, pixpool.EUNAVAILABLE)
		}
		hold()
		if _, _, err := f.images.Thumbnail(ctx, f.owner, "k"); err != nil {
			t.Fatalf("Thumbnail after the release: %v", err)
		}
		assertFree(t, b)
	})
	t.Run("LargerThanBudget", func(t *testing.T) {
		f, b := newFixture(t, 1_000_000)
		_, err := f.images.Put(ctx, f.owner, "k", data)
		if got, want := pixpool.ErrorCode(err), pixpool.EINVALID; got != want {
			t.Fatalf("Put of an image over the whole budget: %v, want code %s", err, want)
		}
		if !strings.Contains(pixpool.ErrorMessage(err), "too large to decode") {
			t.Fatalf("message %q", pixpool.ErrorMessage(err))
		}
		assertFree(t, b)
	})
	t.Run("ReleasedAfterErrors", func(t *testing.T) {
		f, b := newFixture(t, 3_000_000)
		if _, err := f.images.Put(ctx, f.owner, "k", data[:len(data)-20]); pixpool.ErrorCode(err) != pixpool.EINVALID {
			t.Fatalf("Put of a truncated image: %v", err)
		}
		assertFree(t, b)
		// No room for a background thumbnail: Put gives the share back
		// itself.
		for range cap(f.images.thumbSlots()) {
			f.images.thumbSlots() <- struct{}{}
		}
		if _, err := f.images.Put(ctx, f.owner, "k", data); err != nil {
			t.Fatal(err)
		}
		assertFree(t, b)
		for range cap(f.images.thumbSlots()) {
			<-f.images.thumbSlots()
		}
	})
}

// Analysis decodes within the budget too, reserving recognition's own
// copies, and gives its share back even when a recognizer panics.
func TestAnalyzer_Budget(t *testing.T) {
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		panic("index out of range")
	})
	b := &imaging.Budget{Bytes: 1 << 20, FreeEvery: -1}
	a.Budget = b
	f.put(t, "panics")
	if an := drain(t, f, a, "panics"); an.Status != pixpool.AnalysisFailed {
		t.Fatalf("analysis %+v", an)
	}
	assertFree(t, b)

	// Text's copies are reserved with the image: over half the budget,
	// the image is refused at once (its analysis fails with the reason).
	a.Labels = nil
	a.Text = func(ctx context.Context, img image.Image) ([]pixpool.TextLine, error) { return nil, nil }
	a.TextMemory = func(w, h int) int64 { return 600 << 10 }
	f.put(t, "text")
	an := drain(t, f, a, "text")
	if an.Status != pixpool.AnalysisFailed || !strings.Contains(an.Error, "too large to analyse") || an.Attempts != 1 {
		t.Fatalf("analysis %+v, want failed at once for its memory", an)
	}
	assertFree(t, b)

	// Analysis waits for spare room rather than fail, and never queues
	// ahead of requests: an upload that comes after it goes first.
	a.TextMemory = func(w, h int) int64 { return 400 << 10 }
	a.Timeout = time.Minute // the wait must not run into the time limit
	hold, _ := b.Acquire(context.Background(), b.Size(), 0)
	f.put(t, "waits") // 8×8, but with text's 400 KiB
	done := make(chan bool)
	go func() { done <- a.Step(context.Background()) }()
	time.Sleep(20 * time.Millisecond) // let it start waiting (no timing is checked)
	hold()
	upload, err := b.Acquire(context.Background(), 800<<10, time.Minute)
	if err != nil {
		t.Fatalf("an upload behind a waiting analysis: %v", err)
	}
	select {
	case <-done:
		t.Fatal("the analysis went ahead of the upload")
	default:
	}
	upload()
	<-done
	if an := drain(t, f, a, "waits"); an.Status != pixpool.AnalysisDone {
		t.Fatalf("analysis %+v, want done after waiting", an)
	}
	assertFree(t, b)
}
