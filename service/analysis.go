package service

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// LabelFunc finds the objects in an image (recognize/labels).
type LabelFunc func(ctx context.Context, img image.Image) ([]pixpool.Label, error)

// TextFunc reads the text in an image (recognize/text).
type TextFunc func(ctx context.Context, img image.Image) ([]pixpool.TextLine, error)

// Analyzer analyses images in the background from the queue in the store:
// a bounded number of workers claim jobs with a lease, so a job whose
// worker crashed is claimed again when the lease runs out, and a job that
// keeps failing is given up after MaxAttempts with its error kept.
//
// Serving comes first. With Serving set, analysis pauses while requests
// are served. And each worker runs on an OS thread of its own whose
// nice value it raises by Nice (the programs it starts, such as Tesseract,
// inherit it), so the kernel gives serving threads the CPU whenever they
// want it. For that to hold, the recognizers must compute on the calling
// goroutine (labels.Detector.Threads = 1), and the process should have a
// GOMAXPROCS slot per worker on top of serving's (cmd/pixpool does both).
type Analyzer struct {
	Store pixpool.Store
	Blobs pixpool.BlobStore
	// Labels and Text do the recognition; nil means not installed (the
	// other half still runs). Missing, the reason shown to users.
	Labels        LabelFunc
	Text          TextFunc
	LabelsMissing string
	TextMissing   string
	// Workers analyse at once. If zero, 1: recognition is CPU-heavy and
	// serving comes first.
	Workers int
	// Serving, if set, tracks the requests being served: workers wait for
	// a quiet moment before each image, and the recognizers should pause
	// through busy moments too (cmd/pixpool wires labels.Detector.Yield
	// and text.Reader.Pause to it).
	Serving *Activity
	// Nice is added to the workers' threads' nice value. If zero, 10; if
	// negative, workers keep the process's priority.
	Nice int
	// Timeout bounds the time one image is worked on, not counting pauses
	// for serving, up to 1.75 times it in all. If zero, 2 minutes. A job's
	// lease runs twice it, so a crashed worker's job is claimed again
	// then.
	Timeout time.Duration
	// MaxAttempts before a job is given up. If zero, 3.
	MaxAttempts int
	// Poll is how often idle workers look for work. If zero, 1 s.
	Poll time.Duration
	// MaxPixels bounds decoded images, as for uploads. If zero, imaging's.
	MaxPixels int
	// Budget bounds the memory of the images decoded at once; share the
	// Images' one. Workers take only spare room, waiting for it as long as
	// their time limit allows, and at most half of it: an image that needs
	// more fails at once. If nil, decoding is not bounded.
	Budget *imaging.Budget
	// TextMemory, if set, returns what Text allocates for a w×h image on
	// top of the decoded image (recognize/text.Memory); it is reserved in
	// Budget with the decoding.
	TextMemory func(w, h int) int64
	Logger     *slog.Logger

	wake chan struct{} // nudges idle workers after an enqueue
	once sync.Once
}

func (a *Analyzer) init() {
	a.once.Do(func() { a.wake = make(chan struct{}, 1) })
}

func (a *Analyzer) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// Installed reports, as a user-facing message, what recognition lacks;
// "" when both labels and text work.
func (a *Analyzer) Installed() string {
	switch {
	case a.Labels == nil && a.Text == nil:
		return "Recognition is not installed: " + a.LabelsMissing + " " + a.TextMissing
	case a.Labels == nil:
		return "Labels are not installed: " + a.LabelsMissing
	case a.Text == nil:
		return "Text recognition is not installed: " + a.TextMissing
	}
	return ""
}

// Enqueue queues an image for analysis (again).
func (a *Analyzer) Enqueue(ctx context.Context, img *pixpool.Image) {
	a.init()
	if err := a.Store.EnqueueAnalysis(ctx, img.ID); err != nil {
		a.logger().Warn("enqueue analysis", "image", img.ID, "err", err)
		return
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Result returns an owner's image by key and its analysis (nil if it was
// never queued).
func (a *Analyzer) Result(ctx context.Context, ownerID int64, key string) (*pixpool.Image, *pixpool.Analysis, error) {
	if err := pixpool.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	img, err := a.Store.Image(ctx, ownerID, key)
	if err != nil {
		return nil, nil, err
	}
	an, err := a.Store.Analysis(ctx, img.ID)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return img, nil, nil
	}
	return img, an, err
}

// Reanalyze queues an owner's image for analysis again.
func (a *Analyzer) Reanalyze(ctx context.Context, ownerID int64, key string) error {
	if err := pixpool.ValidateKey(key); err != nil {
		return err
	}
	img, err := a.Store.Image(ctx, ownerID, key)
	if err != nil {
		return err
	}
	a.Enqueue(ctx, img)
	return nil
}

// Run analyses queued images until ctx ends.
func (a *Analyzer) Run(ctx context.Context) {
	a.init()
	var wg sync.WaitGroup
	for range max(a.Workers, 1) {
		wg.Go(func() { a.work(ctx) })
	}
	wg.Wait()
}

func (a *Analyzer) work(ctx context.Context) {
	// Never unlocked: the thread, niced, ends with the goroutine rather
	// than going back to serve requests.
	runtime.LockOSThread()
	nice := a.Nice
	if nice == 0 {
		nice = 10
	}
	if nice > 0 {
		if err := lowerThreadPriority(nice); err != nil {
			a.logger().Warn("analysis keeps the process's priority", "err", err)
		}
	}
	poll := a.Poll
	if poll <= 0 {
		poll = time.Second
	}
	for ctx.Err() == nil {
		if a.Serving != nil && a.Serving.Wait(ctx) != nil {
			return
		}
		if !a.Step(ctx) {
			select {
			case <-ctx.Done():
			case <-a.wake:
			case <-time.After(poll):
			}
		}
	}
}

// Step analyses one queued image, if there is one, and reports whether it
// found work.
func (a *Analyzer) Step(ctx context.Context) bool {
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	// The lease outlasts the work, pauses for serving included (the wall
	// clock bounds it to lease-timeout/4), so only a crashed worker's job
	// is claimed again.
	lease := 2 * timeout
	img, attempts, err := a.Store.ClaimAnalysis(ctx, lease)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return false
	} else if err != nil {
		if ctx.Err() == nil {
			a.logger().Warn("claim analysis", "err", err)
		}
		return false
	}
	result := &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Attempts: attempts}
	maxAttempts := a.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 3
	}
	if attempts > maxAttempts {
		result.Status, result.Error = pixpool.AnalysisFailed, fmt.Sprintf("Given up after %d attempts that did not finish.", maxAttempts)
	} else {
		actx, cancel := a.limit(ctx, timeout, lease-timeout/4)
		err = a.analyze(actx, img, result)
		if errors.Is(context.Cause(actx), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("analysis took longer than the limit of %v per image", timeout)
		}
		cancel()
		switch {
		case err == nil:
			result.Status = pixpool.AnalysisDone
		case ctx.Err() != nil:
			return true // shutting down: the lease runs out and another takes it
		case attempts >= maxAttempts || pixpool.ErrorCode(err) != pixpool.EINTERNAL:
			result.Status, result.Error = pixpool.AnalysisFailed, pixpool.ErrorMessage(err)
			if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
				result.Error = err.Error()
			}
		default:
			a.logger().Warn("analysis failed; will retry", "image", img.ID, "attempt", attempts, "err", err)
			return true // retried when the lease runs out
		}
	}
	if err := a.Store.SaveAnalysis(context.WithoutCancel(ctx), result); err != nil && pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		a.logger().Error("save analysis", "image", img.ID, "err", err)
	}
	a.logger().Info("image analysed", "image", img.ID, "status", result.Status, "labels", len(result.Labels), "lines", len(result.Lines))
	return true
}

// limit returns a context that ends, with cause DeadlineExceeded, once
// the work has run for timeout, leaving out the time it was paused for
// serving (an image should not fail because the server was busy), or
// once wall has passed, pauses included (so the work ends before its
// lease does).
func (a *Analyzer) limit(ctx context.Context, timeout, wall time.Duration) (context.Context, context.CancelFunc) {
	if a.Serving == nil {
		return context.WithTimeout(ctx, timeout)
	}
	ctx, stop := context.WithTimeout(ctx, wall)
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var ran time.Duration
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if !a.Serving.Busy() {
					ran += now.Sub(last)
				}
				last = now
				if ran >= timeout {
					cancel(context.DeadlineExceeded)
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled); stop() }
}

func (a *Analyzer) analyze(ctx context.Context, img *pixpool.Image, out *pixpool.Analysis) (err error) {
	// A recognizer that panics on some image fails that image, not the
	// server; the job is retried and then given up like any other failure.
	defer func() {
		if p := recover(); p != nil {
			a.logger().Error("analysis panicked", "image", img.ID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("recognition crashed: %v", p)
		}
	}()
	rc, err := a.Blobs.Get(ctx, img.BlobKey)
	if err != nil {
		return err
	}
	data, err := readAllLimited(rc)
	if err != nil {
		return err
	}
	dec := &imaging.Decoder{MaxPixels: a.MaxPixels, Budget: a.Budget, Background: true}
	if a.Text != nil {
		dec.Extra = a.TextMemory
	}
	d, err := dec.Decode(ctx, data)
	if err != nil {
		return err
	}
	defer d.Release()
	decoded := d.Image
	var errs []error
	if a.Labels != nil {
		if out.Labels, err = a.Labels(ctx, decoded); err != nil {
			errs = append(errs, fmt.Errorf("labels: %w", err))
		}
	}
	if a.Text != nil {
		if out.Lines, err = a.Text(ctx, decoded); err != nil {
			errs = append(errs, fmt.Errorf("text: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Search finds an owner's images by label or by words of their text. A
// query over pixpool.MaxSearchQueryBytes is EINVALID.
func (a *Analyzer) Search(ctx context.Context, ownerID int64, query string, limit int) ([]*pixpool.Image, error) {
	if err := pixpool.ValidateSearchQuery(query); err != nil {
		return nil, err
	}
	return a.Store.SearchImages(ctx, ownerID, query, limit)
}
