package loadgen

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer stores images by key as pixpool's API does; failGets makes
// every GET answer 503.
func fakeServer(t *testing.T, failGets bool) *httptest.Server {
	var mu sync.Mutex
	images := map[string][]byte{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pp_test" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, "/api/v1/images/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			images[key] = b
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet:
			if failGets {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			b, ok := images[key]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(b)
		case http.MethodDelete:
			delete(images, key)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRunner(t *testing.T) {
	opts := Options{APIKey: "pp_test", Keys: 10, Size: 4 << 10, Images: 2, ReadFraction: 0.7, Concurrency: 3,
		Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond}
	t.Run("ReadsAndWrites", func(t *testing.T) {
		o := opts
		o.URL = fakeServer(t, false).URL
		var calls atomic.Int64
		o.Counters = func(context.Context) (CacheCounters, error) {
			n := calls.Add(1)
			return CacheCounters{Hits: 30 * n, Misses: 10 * n, Failures: 2 * n}, nil // 30 hits, 10 misses, 2 failures between the calls
		}
		var phases sync.Map
		o.Progress = func(p Progress) { phases.Store(p.Phase, true) }
		r, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Preload(context.Background()); err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Reads.Count() == 0 || res.Writes.Count() == 0 {
			t.Errorf("%d reads, %d writes; want some of each", res.Reads.Count(), res.Writes.Count())
		}
		if len(res.Errors) != 0 {
			t.Errorf("errors: %v", res.Errors)
		}
		if got, want := res.HitRate(), 0.75; !res.HitRateKnown || got != want {
			t.Errorf("HitRate()=%v (known %v), want %v", got, res.HitRateKnown, want)
		}
		if got, want := res.CacheFailures, int64(2); got != want {
			t.Errorf("CacheFailures=%d, want %d", got, want)
		}
		for _, ph := range []string{"preload", "warm-up", "measure"} {
			if _, ok := phases.Load(ph); !ok {
				t.Errorf("no progress for phase %s", ph)
			}
		}
		if err := r.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrorsByKind", func(t *testing.T) {
		o := opts
		o.URL = fakeServer(t, true).URL
		o.Rate = 200 // the scheduled model too
		r, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Preload(context.Background()); err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors["http 503"] == 0 || len(res.Errors) != 1 || res.Reads.Count() != 0 {
			t.Errorf("errors %v, %d reads; want only http 503 for every read", res.Errors, res.Reads.Count())
		}
		if res.HitRateKnown || res.CacheFailures != -1 {
			t.Errorf("hit rate known (%v), cache failures %d without Counters", res.HitRateKnown, res.CacheFailures)
		}
	})
	t.Run("PreloadFails", func(t *testing.T) {
		o := opts
		o.URL = fakeServer(t, false).URL
		o.APIKey = "pp_wrong"
		r, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.Preload(context.Background()); err == nil || !strings.Contains(err.Error(), "http 401") {
			t.Fatalf("Preload with a wrong key: %v, want http 401", err)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		s := fakeServer(t, false)
		o := opts
		o.URL = s.URL
		s.Close()
		r, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors["connection refused"] == 0 {
			t.Errorf("errors %v, want connection refused", res.Errors)
		}
	})
}

func TestNew_Invalid(t *testing.T) {
	for _, o := range []Options{
		{},
		{URL: "http://127.0.0.1:1", ReadFraction: 1.5},
		{URL: "http://127.0.0.1:1", Rate: -1},
		{URL: "http://127.0.0.1:1", Format: "gif"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func testReport() *Report {
	half := 0.5
	return &Report{Target: "embedded (here)", Format: "jpeg", SizeBytes: 100 << 10, Mix: "50:50", Keys: 200, Concurrency: 16,
		WarmupSeconds: 5, DurationSeconds: 15, Model: "closed loop",
		Points: []Point{
			{Nodes: 1, Policy: "lru", CapacityMB: 4, Throughput: 120, HitRate: &half,
				Reads:  OpStats{Count: 900, Throughput: 60, P50MS: 5, P95MS: 20, P99MS: 40, MaxMS: 90},
				Writes: OpStats{Count: 900, Throughput: 60, P50MS: 50, P95MS: 200, P99MS: 400, MaxMS: 900},
				Errors: map[string]int64{}, Load1: 2.5},
			{Nodes: 2, Policy: "lru", CapacityMB: 4, Throughput: 10,
				Reads:  OpStats{Count: 150, Throughput: 10, P50MS: 0.5, P95MS: 1, P99MS: 2, MaxMS: 3},
				Errors: map[string]int64{"timeout": 1, "http 503": 2}},
		}}
}

func TestReport_WriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := testReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"50:50 reads:writes over 200 keys", "50.0%", "3 (http 503: 2, timeout: 1)", "2.50", "load model: closed loop"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestReport_SVG(t *testing.T) {
	for name, r := range map[string]*Report{"Two": testReport(), "None": {Mix: "90:10"}} {
		t.Run(name, func(t *testing.T) {
			d := xml.NewDecoder(bytes.NewReader(r.SVG()))
			paths := 0
			for {
				tok, err := d.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
					paths++
				}
			}
			// Two points: all, reads, writes; read p50, p99; hit rate (writes
			// missing in the second point still draw from the first).
			if name == "Two" && paths < 6 {
				t.Errorf("%d paths, want at least 6", paths)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	three := int64(3)
	ps := []Point{
		{Nodes: 2, Throughput: 100, HitRate: f(0.5), CacheFailures: &three, Hits: 5, Misses: 5, Reads: OpStats{Count: 10, P99MS: 30}, Errors: map[string]int64{"timeout": 1}, Load1: 3},
		{Nodes: 2, Throughput: 300, HitRate: f(0.9), CacheFailures: &three, Hits: 9, Misses: 1, Reads: OpStats{Count: 20, P99MS: 10}, Errors: map[string]int64{}, Load1: 1},
		{Nodes: 2, Throughput: 200, HitRate: nil, Reads: OpStats{Count: 30, P99MS: 20}, Errors: map[string]int64{"timeout": 2, "eof": 1}, Load1: 2},
	}
	m := Median(ps)
	if m.Nodes != 2 || m.Throughput != 200 || m.Reads.P99MS != 20 || m.Reads.Count != 60 || m.Load1 != 2 {
		t.Errorf("Median: %+v", m)
	}
	if m.HitRate == nil || *m.HitRate != 0.7 { // the two known: 0.5 and 0.9
		t.Errorf("HitRate %v, want 0.7", m.HitRate)
	}
	if m.Hits != 14 || m.Misses != 6 || m.Errors["timeout"] != 3 || m.Errors["eof"] != 1 {
		t.Errorf("sums: hits %d misses %d errors %v", m.Hits, m.Misses, m.Errors)
	}
	if got := m.ThroughputRounds; len(got) != 3 || got[0] != 100 || got[2] != 200 {
		t.Errorf("ThroughputRounds %v, want each round's in order", got)
	}
	if m.CacheFailures == nil || *m.CacheFailures != 6 {
		t.Errorf("CacheFailures %v, want the sum 6", m.CacheFailures)
	}
	if ps[0].Errors["timeout"] != 1 || *ps[0].CacheFailures != 3 {
		t.Error("Median changed its input")
	}
	if one := Median(ps[:1]); one.Throughput != 100 || one.ThroughputRounds != nil {
		t.Errorf("Median of one: %+v", one)
	}
}
