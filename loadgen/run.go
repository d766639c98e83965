// Package loadgen drives a pixpool server with a mix of image reads and
// writes over its JSON API and measures what it sees: throughput, latency
// quantiles from a log-bucketed histogram, errors by kind, and, given the
// server's cache counters, the hit rate. `pixpool bench` is its command
// line.
//
// # The load model
//
// Workers are closed-loop: each of Options.Concurrency workers sends one
// request, waits for the answer, then sends the next. Without a rate
// (Options.Rate zero) they send as fast as the server answers, which
// measures the server's capacity; the latency recorded is each request's
// own, from just before it is sent to the end of its body.
//
// A closed loop hides stalls (coordinated omission): while the server
// stalls, the workers send nothing, so the requests a steady stream of
// users would have sent during the stall, and that would have waited,
// are never measured. With Options.Rate each worker instead follows a
// fixed schedule of Rate/Concurrency requests per second and measures
// each request from when the schedule said it was due, as wrk2 does: a
// worker that falls behind sends the late requests at once and each
// counts the time it waited for its turn. Latency quantiles at a given
// rate are then those a user arriving at that rate sees.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options shape a load; zero values are the documented defaults.
type Options struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// APIKey authenticates every request (Authorization: Bearer).
	APIKey string
	// Keys is the number of distinct image keys read and written. If zero, 100.
	Keys int
	// Prefix starts every key. If empty, "bench-".
	Prefix string
	// Size is the approximate size of each image in bytes. If zero, 100 KiB.
	Size int
	// Format of the images written: "jpeg" or "png". If empty, "jpeg".
	Format string
	// Images is the number of distinct images written, chosen in turn. If zero, 8.
	Images int
	// ReadFraction is the share of operations that are reads, 0 to 1;
	// the rest are writes (PUT of an existing key).
	ReadFraction float64
	// Concurrency is the number of workers. If zero, 8.
	Concurrency int
	// Warmup runs the load unmeasured first. Zero: none.
	Warmup time.Duration
	// Duration of the measurement. If zero, 10 s.
	Duration time.Duration
	// Rate is the total requests per second to send on a fixed schedule,
	// measuring latency from when each was due (see the package doc).
	// Zero: closed loop, as fast as the server answers.
	Rate float64
	// Timeout bounds one request. If zero, 30 s.
	Timeout time.Duration
	// Client sends the requests. If nil, one with a connection per worker.
	Client *http.Client
	// Progress, if set, is called about once a second while loading.
	Progress func(Progress)
	// Counters, if set, reads the server's cache counters; Run calls it
	// when the measurement starts and ends, and reports the hit rate of
	// the lookups in between.
	Counters func(ctx context.Context) (CacheCounters, error)
}

func (o *Options) keys() int        { return positiveOr(o.Keys, 100) }
func (o *Options) size() int        { return positiveOr(o.Size, 100<<10) }
func (o *Options) images() int      { return positiveOr(o.Images, 8) }
func (o *Options) concurrency() int { return positiveOr(o.Concurrency, 8) }
func (o *Options) duration() time.Duration {
	return positiveOr(o.Duration, 10*time.Second)
}
func (o *Options) timeout() time.Duration { return positiveOr(o.Timeout, 30*time.Second) }

func (o *Options) prefix() string { return cmp.Or(o.Prefix, "bench-") }
func (o *Options) format() string { return cmp.Or(o.Format, "jpeg") }

// positiveOr returns v if it is positive, else def: unlike cmp.Or, a
// negative option also takes its default.
func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// CacheCounters are a server's cache lookups since some start.
type CacheCounters struct {
	Hits, Misses int64
	// Failures are lookups and stores that failed (a node down or too slow
	// to answer), each served from the stores instead; -1 where unknown.
	Failures int64
}

// Progress is a snapshot of a load in progress.
type Progress struct {
	Phase   string        // "preload", "warm-up" or "measure"
	Elapsed time.Duration // in this phase
	Total   time.Duration // the phase's length; zero for preload
	Done    int64         // operations finished in this phase (preload: keys written)
	Of      int64         // preload: keys to write; else zero
	Errors  int64         // failed operations in this phase
	Rate    float64       // operations per second over the last second
	Final   bool          // the phase is over: this is its last snapshot
}

// Runner loads one server. Make one with New.
type Runner struct {
	opts   Options
	client *http.Client
	images [][]byte
	ctype  string
}

// New checks opts and generates the images to write.
func New(opts Options) (*Runner, error) {
	switch {
	case opts.URL == "":
		return nil, errors.New("loadgen: no URL")
	case opts.ReadFraction < 0 || opts.ReadFraction > 1:
		return nil, fmt.Errorf("loadgen: read fraction %v: want 0 to 1", opts.ReadFraction)
	case opts.Rate < 0:
		return nil, fmt.Errorf("loadgen: rate %v: want 0 or more", opts.Rate)
	}
	r := &Runner{opts: opts, client: opts.Client, ctype: "image/" + opts.format()}
	for i := range opts.images() {
		b, err := Image(opts.format(), opts.size(), uint64(i)+1)
		if err != nil {
			return nil, err
		}
		r.images = append(r.images, b)
	}
	if r.client == nil {
		n := opts.concurrency()
		r.client = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // a benchmark measures the server, not a proxy
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			MaxConnsPerHost:     n,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		}}
	}
	return r, nil
}

// Close releases the runner's idle connections.
func (r *Runner) Close() { r.client.CloseIdleConnections() }

// ImageBytes is the mean size of the images written.
func (r *Runner) ImageBytes() int {
	n := 0
	for _, b := range r.images {
		n += len(b)
	}
	return n / len(r.images)
}

// Key returns the i-th key.
func (r *Runner) Key(i int) string { return fmt.Sprintf("%s%06d", r.opts.prefix(), i) }

// Preload writes every key once, with Concurrency writers; it stops at the
// first failure.
func (r *Runner) Preload(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	keys := r.opts.keys()
	var next, done atomic.Int64
	stop := r.report(ctx, "preload", 0, func() (int64, int64) { return done.Load(), 0 }, int64(keys))
	defer stop()
	var wg sync.WaitGroup
	for range min(r.opts.concurrency(), keys) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= keys {
					return
				}
				if err := r.put(ctx, i, r.images[i%len(r.images)]); err != nil {
					cancel(fmt.Errorf("preload %s: %w", r.Key(i), err))
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Delete removes every key for good, ignoring keys already gone; it
// returns the first other failure. A delete moves an image to the
// owner's trash: that entry is then deleted too (only it, not the rest
// of the trash), so a run leaves nothing behind.
func (r *Runner) Delete(ctx context.Context) error {
	var first error
	for i := range r.opts.keys() {
		if err := r.deleteKey(ctx, i); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// deleteKey deletes key i and the trash entry the delete made, if any.
func (r *Runner) deleteKey(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout())
	defer cancel()
	do := func(method, path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, r.opts.URL+path, nil)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+r.opts.APIKey)
		resp, err := r.client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, b, err
	}
	status, b, err := do(http.MethodDelete, "/api/v1/images/"+url.PathEscape(r.Key(i)))
	switch {
	case err != nil:
		return err
	case status == http.StatusNotFound || status == http.StatusNoContent: // gone, or a server without a trash
		return nil
	case status != http.StatusOK:
		return statusError{status}
	}
	var answer struct {
		TrashID int64 `json:"trash_id"`
	}
	if json.Unmarshal(b, &answer) != nil || answer.TrashID == 0 {
		return nil // deleted for good already
	}
	status, _, err = do(http.MethodDelete, "/api/v1/trash/"+strconv.FormatInt(answer.TrashID, 10))
	if err == nil && status != http.StatusNoContent && status != http.StatusNotFound {
		err = statusError{status}
	}
	return err
}

// Result is what one Run measured.
type Result struct {
	// Seconds is the length of the measurement.
	Seconds float64
	// Reads and Writes hold the latencies of the operations that succeeded.
	Reads, Writes Histogram
	// Errors counts the failed operations by kind: "http 503", "timeout",
	// "connection refused", "connection reset", "eof" or "other".
	Errors map[string]int64
	// Hits and Misses are the server's cache lookups during the
	// measurement; HitRateKnown is false without Options.Counters, or if
	// they could not be read, or if there were no lookups.
	Hits, Misses int64
	HitRateKnown bool
	// CacheFailures are the server's failed cache operations during the
	// measurement; -1 where unknown.
	CacheFailures int64
}

// HitRate is Hits/(Hits+Misses), or 0 when unknown.
func (res *Result) HitRate() float64 {
	if !res.HitRateKnown {
		return 0
	}
	return float64(res.Hits) / float64(res.Hits+res.Misses)
}

// worker is one worker's tallies; only it writes them until Run merges.
type worker struct {
	reads, writes Histogram
	errors        map[string]int64
}

// Run applies the load: Warmup unmeasured, then Duration measured.
func (r *Runner) Run(ctx context.Context) (*Result, error) {
	o := &r.opts
	conc := o.concurrency()
	var interval time.Duration // between one worker's requests
	if o.Rate > 0 {
		interval = time.Duration(float64(conc) / o.Rate * float64(time.Second))
	}
	start := time.Now()
	measure := start.Add(o.Warmup)
	end := measure.Add(o.duration())
	ws := make([]*worker, conc)
	var ops, errs atomic.Int64 // of the current phase, for progress
	var wg sync.WaitGroup
	for id := range conc {
		w := &worker{errors: map[string]int64{}}
		ws[id] = w
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(id)+1, uint64(start.UnixNano())))
			next := start.Add(time.Duration(id) * interval / time.Duration(conc)) // stagger the schedules
			for ctx.Err() == nil {
				now := time.Now()
				due := now
				if interval > 0 {
					if wait := next.Sub(now); wait > 0 {
						if !sleep(ctx, wait) {
							return
						}
					}
					due, next = next, next.Add(interval)
				}
				if !due.Before(end) || !time.Now().Before(end) {
					return
				}
				read := rng.Float64() < o.ReadFraction
				i := rng.IntN(o.keys())
				var err error
				if read {
					err = r.send(ctx, http.MethodGet, i, nil, http.StatusOK)
				} else {
					err = r.put(ctx, i, r.images[rng.IntN(len(r.images))])
				}
				done := time.Now()
				if err != nil {
					errs.Add(1)
				} else {
					ops.Add(1)
				}
				if due.Before(measure) || done.After(end) || ctx.Err() != nil {
					continue // warm-up, or past the end
				}
				switch {
				case err != nil:
					w.errors[errorKind(err)]++
				case read:
					w.reads.Record(done.Sub(due))
				default:
					w.writes.Record(done.Sub(due))
				}
			}
		})
	}

	// Phases: progress, and the cache counters at the edges of the
	// measurement.
	res := &Result{Errors: map[string]int64{}, CacheFailures: -1}
	var c0 CacheCounters
	var cerr error
	phase := func(name string, until time.Time, length time.Duration) {
		ops.Store(0)
		errs.Store(0)
		stop := r.report(ctx, name, length, func() (int64, int64) { return ops.Load(), errs.Load() }, 0)
		sleep(ctx, time.Until(until))
		stop()
	}
	if o.Warmup > 0 {
		phase("warm-up", measure, o.Warmup)
	}
	if o.Counters != nil && ctx.Err() == nil {
		c0, cerr = o.Counters(ctx)
	}
	phase("measure", end, o.duration())
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Counters != nil && cerr == nil {
		c1, err := o.Counters(ctx)
		if err == nil {
			res.Hits, res.Misses = max(c1.Hits-c0.Hits, 0), max(c1.Misses-c0.Misses, 0)
			res.HitRateKnown = res.Hits+res.Misses > 0
			res.CacheFailures = -1
			if c0.Failures >= 0 && c1.Failures >= 0 {
				res.CacheFailures = max(c1.Failures-c0.Failures, 0)
			}
		}
	}
	res.Seconds = end.Sub(measure).Seconds()
	for _, w := range ws {
		res.Reads.Merge(&w.reads)
		res.Writes.Merge(&w.writes)
		for k, v := range w.errors {
			res.Errors[k] += v
		}
	}
	return res, nil
}

// report calls Options.Progress about once a second until stop is called.
func (r *Runner) report(ctx context.Context, phase string, total time.Duration, counts func() (done, errs int64), of int64) (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		began, last, lastAt := time.Now(), int64(0), time.Now()
		snap := func(now time.Time, final bool) {
			done, errs := counts()
			rate := float64(done-last) / now.Sub(lastAt).Seconds()
			if final { // the phase's mean
				rate = float64(done) / now.Sub(began).Seconds()
			}
			last, lastAt = done, now
			r.opts.Progress(Progress{Phase: phase, Elapsed: now.Sub(began), Total: total, Done: done, Of: of, Errors: errs, Rate: rate, Final: final})
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-quit:
				snap(time.Now(), true)
				return
			case now := <-t.C:
				snap(now, false)
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *Runner) put(ctx context.Context, i int, body []byte) error {
	return r.send(ctx, http.MethodPut, i, body, http.StatusCreated, http.StatusOK)
}

// statusError is an answer with an unexpected status.
type statusError struct{ status int }

func (e statusError) Error() string { return fmt.Sprintf("http %d", e.status) }

// send makes one request on key i and reads the whole answer; a status
// other than want is an error.
func (r *Runner) send(ctx context.Context, method string, i int, body []byte, want ...int) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.timeout())
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.opts.URL+"/api/v1/images/"+url.PathEscape(r.Key(i)), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.opts.APIKey)
	if body != nil {
		req.Header.Set("Content-Type", r.ctype)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, w := range want {
		if resp.StatusCode == w {
			return err
		}
	}
	return statusError{resp.StatusCode}
}

// errorKind names the kind of a failed operation.
func errorKind(err error) string {
	var se statusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return "other"
}
