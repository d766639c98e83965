package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a whole benchmark: its settings and one Point per pool size
// (or one Point when the pool size was not swept).
type Report struct {
	Target          string  `json:"target"` // "embedded" or the server's URL
	Format          string  `json:"format"`
	SizeBytes       int     `json:"size_bytes"` // mean size of the images written
	Mix             string  `json:"mix"`        // reads:writes, e.g. "50:50"
	Keys            int     `json:"keys"`
	Concurrency     int     `json:"concurrency"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	Rate            float64 `json:"rate,omitempty"` // requests/s on a schedule; absent for a closed loop
	Model           string  `json:"model"`
	Points          []Point `json:"points"`
}

// Point is one measurement.
type Point struct {
	Nodes      int     `json:"nodes,omitempty"` // cache nodes; 0: not set by the benchmark
	Policy     string  `json:"policy,omitempty"`
	CapacityMB int     `json:"capacity_mb,omitempty"` // per node
	Seconds    float64 `json:"seconds"`
	// Throughput is the operations per second that succeeded.
	Throughput float64 `json:"throughput"`
	Reads      OpStats `json:"reads"`
	Writes     OpStats `json:"writes"`
	// HitRate is the share of the server's cache lookups that hit during
	// the measurement, 0 to 1; null when unknown.
	HitRate *float64         `json:"hit_rate"`
	Hits    int64            `json:"hits"`
	Misses  int64            `json:"misses"`
	Errors  map[string]int64 `json:"errors"` // by kind; empty without errors
	// Load1 is the machine's 1-minute load average at the end of the
	// measurement (0 where unknown): a high one means noisy figures.
	Load1 float64 `json:"load1,omitempty"`
}

// OpStats summarises the successful operations of one kind; latencies in
// milliseconds.
type OpStats struct {
	Count      uint64  `json:"count"`
	Throughput float64 `json:"throughput"`
	MeanMS     float64 `json:"mean_ms"`
	P50MS      float64 `json:"p50_ms"`
	P95MS      float64 `json:"p95_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
}

// Model describes the load model, for reports.
func (o *Options) Model() string {
	if o.Rate > 0 {
		return fmt.Sprintf("fixed schedule of %g requests/s over %d workers; latency from when each request was due (coordinated omission corrected)", o.Rate, o.concurrency())
	}
	return fmt.Sprintf("closed loop, %d workers each sending its next request when the last is answered; latency of each request from send to last byte", o.concurrency())
}

// Point summarises a Result.
func (res *Result) Point() Point {
	p := Point{Seconds: res.Seconds, Reads: opStats(&res.Reads, res.Seconds), Writes: opStats(&res.Writes, res.Seconds),
		Hits: res.Hits, Misses: res.Misses, Errors: res.Errors}
	if p.Errors == nil {
		p.Errors = map[string]int64{}
	}
	if res.Seconds > 0 {
		p.Throughput = float64(res.Reads.Count()+res.Writes.Count()) / res.Seconds
	}
	if res.HitRateKnown {
		v := res.HitRate()
		p.HitRate = &v
	}
	return p
}

func opStats(h *Histogram, seconds float64) OpStats {
	s := OpStats{Count: h.Count(), MeanMS: ms(h.Mean()), P50MS: ms(h.Quantile(0.5)), P95MS: ms(h.Quantile(0.95)),
		P99MS: ms(h.Quantile(0.99)), MaxMS: ms(h.Max())}
	if seconds > 0 {
		s.Throughput = float64(h.Count()) / seconds
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteTable writes the settings and a table of the points.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "target %s; %s images of %s, %s reads:writes over %d keys, %d connections, %gs warm-up, %gs measured\n",
		r.Target, r.Format, sizeLabel(r.SizeBytes), r.Mix, r.Keys, r.Concurrency, r.WarmupSeconds, r.DurationSeconds)
	fmt.Fprintf(w, "load model: %s\n\n", r.Model)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "nodes\tpolicy\tMB/node\tops/s\treads/s\tread p50\tp95\tp99\twrites/s\twrite p50\tp95\tp99\thit rate\terrors\tload\t")
	for _, p := range r.Points {
		hit := "-"
		if p.HitRate != nil {
			hit = fmt.Sprintf("%.1f%%", 100**p.HitRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			intOrDash(p.Nodes), cmp.Or(p.Policy, "-"), intOrDash(p.CapacityMB), p.Throughput,
			p.Reads.Throughput, msLabel(p.Reads.P50MS), msLabel(p.Reads.P95MS), msLabel(p.Reads.P99MS),
			p.Writes.Throughput, msLabel(p.Writes.P50MS), msLabel(p.Writes.P95MS), msLabel(p.Writes.P99MS),
			hit, errorsLabel(p.Errors), loadLabel(p.Load1))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nlatencies in ms; hit rate: the server's cache lookups during the measurement; load: 1-minute load average at its end")
	return err
}

func intOrDash(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func msLabel(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func loadLabel(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func sizeLabel(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}

// errorsLabel writes errors by kind, most frequent first: "0", or
// "12 (http 503: 10, timeout: 2)".
func errorsLabel(errs map[string]int64) string {
	var total int64
	for _, n := range errs {
		total += n
	}
	if total == 0 {
		return "0"
	}
	kinds := slices.SortedFunc(maps.Keys(errs), func(a, b string) int {
		return cmp.Or(cmp.Compare(errs[b], errs[a]), strings.Compare(a, b))
	})
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s: %d", k, errs[k]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// ProgressPrinter returns an Options.Progress that writes to w: on a
// terminal one line rewritten in place, kept at the end of a measurement
// (clear it with "\r\033[K" before writing anything else); otherwise a line every `every`, and one at the
// end of each phase.
func ProgressPrinter(w io.Writer, terminal bool, label string, every time.Duration) func(Progress) {
	var last time.Time
	var lastPhase string
	return func(p Progress) {
		var s string
		if p.Phase == "preload" {
			s = fmt.Sprintf("%s preload: %d/%d keys written, %.0f/s, %s", label, p.Done, p.Of, p.Rate, p.Elapsed.Round(time.Second))
		} else {
			s = fmt.Sprintf("%s %s: %s/%s, %.0f ops/s, %d done, %d errors", label, p.Phase,
				p.Elapsed.Round(time.Second), p.Total.Round(time.Second), p.Rate, p.Done, p.Errors)
		}
		if terminal {
			end := ""
			if p.Final && p.Phase == "measure" {
				end = "\n" // keep each measurement's summary
			}
			fmt.Fprintf(w, "\r\033[K%s%s", s, end)
			return
		}
		if now := time.Now(); p.Final || p.Phase != lastPhase || now.Sub(last) >= every {
			last, lastPhase = now, p.Phase
			fmt.Fprintln(w, s)
		}
	}
}
