package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/pixpooltest"
	"github.com/pixpool/pixpool/recognize/labels"
)

// BenchmarkServeCachedUnderAnalysis measures what background recognition
// costs serving: the latency of GETs of cached images (about 20 KB) from 8
// concurrent clients, in rounds of 3 s that alternate idle (nothing to
// analyse) and busy (the analyzer kept analysing darknet's photos, one
// always under way). One op is one idle and one busy round, so both see
// the same noise from a shared machine; run several (-benchtime 8x).
//
// Reported: p50 and p99 of all idle and of all busy requests; p50-ratio
// and p99-ratio, the median over the ops of busy/idle, which one noisy
// round cannot sway; requests per second; and analyses/round, the analyses
// that finished during busy rounds.
//
// Load=full has every client send its next request as soon as the last is
// answered: serving wants every core. Load=paced sends 2000 requests/s in
// all, timed from when each was due, which on 2 cores leaves the analyzer
// room.
//
// Measures=on runs analysis as serve does: on a thread niced by 10
// (Tesseract inherits it), the detector computing only there (Threads=1),
// GOMAXPROCS raised by one for it. Measures=off keeps the process's
// priority, lets the detector use every core (Threads=0) and leaves
// GOMAXPROCS alone: what the measures buy.
func BenchmarkServeCachedUnderAnalysis(b *testing.B) {
	dir := os.Getenv("PIXPOOL_RECOGNITION_DIR")
	if dir == "" {
		b.Skip("PIXPOOL_RECOGNITION_DIR is not set; run scripts/setup-recognition.sh DIR and set it")
	}
	for _, load := range []struct {
		name string
		pace time.Duration // between one client's requests
	}{{"full", 0}, {"paced", benchClients * time.Second / 2000}} {
		for _, measures := range []string{"on", "off"} {
			b.Run("Load="+load.name+"/Measures="+measures, func(b *testing.B) {
				e := startAnalysisBench(b, dir, measures == "on")
				e.pace = load.pace
				var idle, busy []time.Duration
				var idleTime, busyTime time.Duration
				var p50s, p99s []float64 // busy/idle of each op
				var analyses int64
				for b.Loop() {
					il, id := e.round(b, 0)
					bl, bd, n := e.busyRound(b)
					i50, i99, b50, b99 := percentile(il, 50), percentile(il, 99), percentile(bl, 50), percentile(bl, 99)
					b.Logf("idle p50 %v p99 %v, %.0f/s; busy p50 %v p99 %v, %.0f/s, %d analysed",
						i50, i99, float64(len(il))/id.Seconds(), b50, b99, float64(len(bl))/bd.Seconds(), n)
					p50s, p99s = append(p50s, float64(b50)/float64(i50)), append(p99s, float64(b99)/float64(i99))
					idle, idleTime = append(idle, il...), idleTime+id
					busy, busyTime, analyses = append(busy, bl...), busyTime+bd, analyses+n
				}
				if got := e.m.Pool.Counters().Misses; got != e.misses {
					b.Fatalf("%d cache misses while measuring; every GET should be a hit", got-e.misses)
				}
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
				b.ReportMetric(ms(percentile(idle, 50)), "p50-idle-ms")
				b.ReportMetric(ms(percentile(busy, 50)), "p50-busy-ms")
				b.ReportMetric(ms(percentile(idle, 99)), "p99-idle-ms")
				b.ReportMetric(ms(percentile(busy, 99)), "p99-busy-ms")
				b.ReportMetric(median(p50s), "p50-ratio")
				b.ReportMetric(median(p99s), "p99-ratio")
				b.ReportMetric(float64(len(idle))/idleTime.Seconds(), "idle-req/s")
				b.ReportMetric(float64(len(busy))/busyTime.Seconds(), "busy-req/s")
				b.ReportMetric(float64(analyses)/float64(b.N), "analyses/round")
			})
		}
	}
}

// benchRoundTime is how long one idle or busy round lasts:
// PIXPOOL_BENCH_ROUND (a duration), or 3 s. Rounds longer than
// service.Activity's MaxWait (5 s) include the slices analysis gets under
// a load that never lets up.
var benchRoundTime = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("PIXPOOL_BENCH_ROUND")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Second
}()

const (
	benchClients  = 8
	benchImages   = 50
	benchRoundMax = 200_000 // requests in one round, whatever the time
)

// analysisBench is a server with a cache pool and analysis on, holding
// benchImages small images (about 20 KB) and darknet's photos.
type analysisBench struct {
	m      *Main
	url    string
	key    string // ada's API key
	http   *http.Client
	small  []string // keys of the cached images read
	photos []string // keys of the photos analysed
	misses int64    // the pool's misses before measuring
	// pace is the time between a client's requests; zero sends the next
	// as soon as the last is answered.
	pace time.Duration

	begun, ended atomic.Int64 // analyses that reached the detector; that finished
}

func startAnalysisBench(b *testing.B, dir string, measures bool) *analysisBench {
	b.Helper()
	if measures {
		// As runServe does: a scheduler slot for the one worker.
		n := runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(n + 1)
		b.Cleanup(func() { runtime.GOMAXPROCS(n) })
	}
	data := b.TempDir()
	if err := os.Symlink(filepath.Join(dir, "recognition"), filepath.Join(data, "recognition")); err != nil {
		b.Fatal(err)
	}
	m := &Main{
		Config: Config{Addr: "127.0.0.1:0", Data: data, MaxUpload: 20 << 20, Analyze: true,
			CacheSize: 1, CacheCapacity: 64, CachePolicy: "lru"},
		Logger: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		b.Fatal(err)
	}
	e := &analysisBench{m: m, url: m.URL()}
	if m.Analyzer.Labels == nil || m.Analyzer.Text == nil {
		m.Close()
		cancel()
		b.Fatalf("recognition not installed: %s", m.Analyzer.Installed())
	}
	// Uploads are not analysed here: the benchmark queues what it wants.
	m.Images.Stored = nil
	detect, read := m.Analyzer.Labels, m.Analyzer.Text
	if !measures {
		m.HTTP.Activity = nil // requests go unnoticed: analysis never pauses
		m.Analyzer.Nice = -1
		det, err := labels.Open(data)
		if err != nil {
			m.Close()
			cancel()
			b.Fatal(err)
		}
		detect = labelFunc(det) // Threads 0: every core
	}
	m.Analyzer.Labels = func(ctx context.Context, img image.Image) ([]pixpool.Label, error) {
		e.begun.Add(1)
		return detect(ctx, img)
	}
	m.Analyzer.Text = func(ctx context.Context, img image.Image) ([]pixpool.TextLine, error) {
		defer e.ended.Add(1)
		return read(ctx, img)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})

	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"user", "create", "--data", data, "ada"}, {"apikey", "create", "--data", data, "ada"}} {
		out.Reset()
		if err := run(ctx, args, strings.NewReader("password123\n"), &out, &errOut); err != nil {
			b.Fatalf("pixpool %s: %v %s", strings.Join(args, " "), err, errOut.String())
		}
	}
	e.key = strings.TrimSpace(out.String())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * benchClients // keep-alive for every client
	e.http = &http.Client{Transport: tr, Timeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)

	for i := range benchImages {
		key := fmt.Sprintf("small/%02d.png", i)
		e.put(b, key, pixpooltest.NoisyPNG(b, 72, 64+i%16)) // 18-23 KB
		e.small = append(e.small, key)
	}
	for _, name := range []string{"dog.jpg", "horses.jpg", "person.jpg", "giraffe.jpg", "eagle.jpg", "kite.jpg"} {
		photo, err := os.ReadFile(filepath.Join(dir, "recognition", "testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		e.put(b, "photos/"+name, photo)
		e.photos = append(e.photos, "photos/"+name)
	}
	m.Images.Wait() // thumbnails
	// Uploads write through to the pool: these are hits already.
	e.misses = m.Pool.Counters().Misses
	e.round(b, benchRoundTime/3) // warm up connections and caches
	return e
}

func (e *analysisBench) do(method, key string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, e.url+keyPath(key), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if method == "POST" {
		req.URL.Path += "/analysis"
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	return e.http.Do(req)
}

func (e *analysisBench) put(b *testing.B, key string, body []byte) {
	resp, err := e.do("PUT", key, body)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("PUT %s: status %d", key, resp.StatusCode)
	}
}

// round GETs the small images from benchClients clients for
// benchRoundTime (or d if not zero) and returns each request's latency and
// how long the round took.
func (e *analysisBench) round(b *testing.B, d time.Duration) ([]time.Duration, time.Duration) {
	if d == 0 {
		d = benchRoundTime
	}
	var (
		mu  sync.Mutex // guards all
		all []time.Duration
		n   atomic.Int64
		wg  sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for c := range benchClients {
		wg.Go(func() {
			var lat []time.Duration
			next := start.Add(e.pace * time.Duration(c) / benchClients) // spread the paced clients
			for i := c * 7; time.Now().Before(end) && n.Add(1) <= benchRoundMax; i++ {
				t0 := time.Now()
				if e.pace > 0 {
					// Timed from when it was due, so a stall that delays the
					// requests after it counts against them too.
					time.Sleep(time.Until(next))
					t0, next = next, next.Add(e.pace)
				}
				resp, err := e.do("GET", e.small[i%len(e.small)], nil)
				if err != nil {
					b.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("GET: status %d, %v", resp.StatusCode, err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return all, time.Since(start)
}

// busyRound is a round while the analyzer works: once an analysis has
// reached the detector, it measures a round while keeping one analysis
// queued behind the running one, then waits for both to finish, so the next
// idle round is idle. n is the analyses finished during the round.
func (e *analysisBench) busyRound(b *testing.B) (lat []time.Duration, d time.Duration, n int64) {
	begun, ended := e.begun.Load(), e.ended.Load()
	stop := make(chan struct{})
	queued := make(chan int64)
	go func() {
		var q int64
		defer func() { queued <- q }()
		for i := 0; ; {
			if q-(e.ended.Load()-ended) < 2 {
				resp, err := e.do("POST", e.photos[i%len(e.photos)], nil)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("POST analysis: status %d", resp.StatusCode)
					return
				}
				q, i = q+1, i+1
				continue
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	benchWait(b, 30*time.Second, "no analysis began", func() bool { return e.begun.Load() > begun })
	before := e.ended.Load()
	lat, d = e.round(b, 0)
	n = e.ended.Load() - before
	close(stop)
	q := <-queued
	benchWait(b, 5*time.Minute, "analyses not finished", func() bool { return e.ended.Load()-ended >= q })
	return lat, d, n
}

func benchWait(b *testing.B, limit time.Duration, msg string, cond func() bool) {
	b.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
		if b.Failed() {
			b.FailNow()
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s after %v", msg, limit)
		}
	}
}

// percentile is the p-th percentile of lat (sorted in place), nearest rank.
func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[(len(lat)*p+99)/100-1]
}

// median of xs (reordered in place).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
