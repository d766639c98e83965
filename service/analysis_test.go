package service

import (
	"context"
	"errors"
	"image"
	"image/color"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// analyzerFixture is an Analyzer over a fixture's stores, with fake
// recognizers (the real ones are tested in recognize/ and cmd/pixpool).
func analyzerFixture(t *testing.T, labels LabelFunc) (*fixture, *Analyzer) {
	t.Helper()
	f := open(t, t.TempDir())
	a := &Analyzer{Store: f.store, Blobs: f.blobs, Labels: labels, Logger: slog.New(slog.DiscardHandler),
		Timeout: 100 * time.Millisecond, MaxAttempts: 3}
	f.images.Stored = a.Enqueue
	return f, a
}

func (f *fixture) put(t *testing.T, key string) {
	t.Helper()
	if _, err := f.images.Put(context.Background(), f.owner, key, pngOf(t, 8, 8, color.White)); err != nil {
		t.Fatal(err)
	}
}

// drain steps a until the image's analysis has ended, waiting out leases.
func drain(t *testing.T, f *fixture, a *Analyzer, key string) *pixpool.Analysis {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, an, err := a.Result(ctx, f.owner, key)
		if err != nil {
			t.Fatal(err)
		}
		if an != nil && an.Status != pixpool.AnalysisPending {
			return an
		}
		if !a.Step(ctx) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Fatalf("%s not analysed in 10 s", key)
	return nil
}

func TestAnalyzer_Done(t *testing.T) {
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		return []pixpool.Label{{Name: "dog", Confidence: 80}}, nil
	})
	f.put(t, "k")
	an := drain(t, f, a, "k")
	if an.Status != pixpool.AnalysisDone || len(an.Labels) != 1 || an.Labels[0].Name != "dog" || an.Attempts != 1 {
		t.Fatalf("analysis %+v", an)
	}
	imgs, err := a.Search(context.Background(), f.owner, "dog", 10)
	if err != nil || len(imgs) != 1 || imgs[0].Key != "k" {
		t.Fatalf("Search(dog) = %v, %v", imgs, err)
	}
}

// TestAnalyzer_PoisonImage: a recognizer that panics, hangs past the time
// limit or fails on an image has it retried, then given up with the error
// kept; the worker goes on with the next image.
func TestAnalyzer_PoisonImage(t *testing.T) {
	for _, tt := range []struct {
		name string
		fail func(ctx context.Context) error
		want string
	}{
		{"panic", func(context.Context) error { panic("index out of range") }, "recognition crashed: index out of range"},
		{"hang", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, "took longer than the limit of 100ms"},
		{"error", func(context.Context) error { return errors.New("tesseract: exit status 1") }, "tesseract: exit status 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
				if img.Bounds().Dx() == 8 {
					calls.Add(1)
					return nil, tt.fail(ctx)
				}
				return []pixpool.Label{{Name: "cat", Confidence: 50}}, nil
			})
			f.put(t, "poison")
			if _, err := f.images.Put(context.Background(), f.owner, "fine", pngOf(t, 9, 9, color.White)); err != nil {
				t.Fatal(err)
			}
			an := drain(t, f, a, "poison")
			if an.Status != pixpool.AnalysisFailed || !strings.Contains(an.Error, tt.want) || calls.Load() != 3 {
				t.Fatalf("analysis %+v after %d calls; want failed with %q after 3", an, calls.Load(), tt.want)
			}
			if an := drain(t, f, a, "fine"); an.Status != pixpool.AnalysisDone {
				t.Fatalf("next image: %+v", an)
			}
		})
	}
}

// TestAnalyzer_CrashMidAnalysis: a worker that dies holding a job leaves
// it leased; once the lease runs out another worker analyses it.
func TestAnalyzer_CrashMidAnalysis(t *testing.T) {
	started := make(chan struct{})
	var first atomic.Bool
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-ctx.Done() // the "crash": the worker never saves a result
			return nil, ctx.Err()
		}
		return []pixpool.Label{{Name: "dog", Confidence: 80}}, nil
	})
	f.put(t, "k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- a.Step(ctx) }()
	<-started
	cancel()
	<-done
	_, an, _ := a.Result(context.Background(), f.owner, "k")
	if an.Status != pixpool.AnalysisPending {
		t.Fatalf("after the crash: %+v", an)
	}
	if an := drain(t, f, a, "k"); an.Status != pixpool.AnalysisDone || an.Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", an)
	}
}

// TestAnalyzer_PausesWhileServing: no image is analysed while a request
// is being served; once serving is quiet, it is.
func TestAnalyzer_PausesWhileServing(t *testing.T) {
	var calls atomic.Int32
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		calls.Add(1)
		return nil, nil
	})
	a.Serving = &Activity{Quiet: time.Millisecond, MaxWait: time.Hour}
	a.Poll = 10 * time.Millisecond
	end := a.Serving.Begin()
	f.put(t, "k")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d analyses while a request was served", n)
	}
	end()
	for deadline := time.Now().Add(10 * time.Second); calls.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not analysed once serving was quiet")
		}
	}
}

// TestAnalyzer_PausesDoNotCount: the time limit leaves out the time an
// image waits for serving to be quiet.
func TestAnalyzer_PausesDoNotCount(t *testing.T) {
	var serving *Activity
	f, a := analyzerFixture(t, func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		// Work 30 ms, then a request comes and lasts 200 ms, then 30 ms
		// more work: 60 ms of work, within the 200 ms limit, in 260 ms
		// (within the 350 ms bound on the wall clock).
		time.Sleep(30 * time.Millisecond)
		end := serving.Begin()
		time.Sleep(200 * time.Millisecond)
		end()
		if err := serving.Wait(ctx); err != nil {
			return nil, err
		}
		time.Sleep(30 * time.Millisecond)
		return nil, ctx.Err()
	})
	serving = &Activity{Quiet: time.Millisecond, MaxWait: time.Hour}
	a.Serving, a.Timeout = serving, 200*time.Millisecond
	f.put(t, "k")
	if an := drain(t, f, a, "k"); an.Status != pixpool.AnalysisDone {
		t.Fatalf("analysis %+v", an)
	}
}
