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
	Rate            float64 `json:"rate,omitempty"`   // requests/s on a schedule; absent for a closed loop
	Rounds          int     `json:"rounds,omitempty"` // each point the median of this many measurements
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
	// ThroughputRounds is each round's Throughput, in order, when the
	// point is the median of several (see Median).
	ThroughputRounds []float64 `json:"throughput_rounds,omitempty"`
	Reads            OpStats   `json:"reads"`
	Writes           OpStats   `json:"writes"`
	// HitRate is the share of the server's cache lookups that hit during
	// the measurement, 0 to 1; null when unknown.
	HitRate *float64         `json:"hit_rate"`
	Hits    int64            `json:"hits"`
	Misses  int64            `json:"misses"`
	Errors  map[string]int64 `json:"errors"` // by kind; empty without errors
	// CacheFailures are the server's cache operations that failed (a node
	// down or too slow), served from the stores instead; null if unknown.
	CacheFailures *int64 `json:"cache_failures"`
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
	if res.CacheFailures >= 0 {
		v := res.CacheFailures
		p.CacheFailures = &v
	}
	return p
}

func valueOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
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

// Median combines the measurements of one point made in several rounds:
// each rate, latency and the hit rate is the median of the rounds' (the
// middle two's mean for an even number); counts, hits, misses and errors
// are summed; ThroughputRounds keeps each round's throughput.
func Median(ps []Point) Point {
	if len(ps) == 1 {
		return ps[0]
	}
	m := ps[0]
	med := func(get func(p *Point) float64) float64 {
		v := make([]float64, len(ps))
		for i := range ps {
			v[i] = get(&ps[i])
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m.Seconds = med(func(p *Point) float64 { return p.Seconds })
	m.Throughput = med(func(p *Point) float64 { return p.Throughput })
	m.Load1 = med(func(p *Point) float64 { return p.Load1 })
	m.ThroughputRounds = nil
	m.Hits, m.Misses, m.Errors, m.CacheFailures = 0, 0, map[string]int64{}, nil
	var rates []float64
	for i := range ps {
		p := &ps[i]
		m.ThroughputRounds = append(m.ThroughputRounds, p.Throughput)
		m.Hits, m.Misses = m.Hits+p.Hits, m.Misses+p.Misses
		for k, n := range p.Errors {
			m.Errors[k] += n
		}
		if p.HitRate != nil {
			rates = append(rates, *p.HitRate)
		}
		if p.CacheFailures != nil {
			m.CacheFailures = new(int64(valueOr(m.CacheFailures) + *p.CacheFailures))
		}
	}
	if len(rates) > 0 {
		slices.Sort(rates)
		v := rates[len(rates)/2]
		if len(rates)%2 == 0 {
			v = (rates[len(rates)/2-1] + v) / 2
		}
		m.HitRate = &v
	}
	for _, op := range []func(p *Point) *OpStats{func(p *Point) *OpStats { return &p.Reads }, func(p *Point) *OpStats { return &p.Writes }} {
		o := op(&m)
		o.Count = 0
		for i := range ps {
			o.Count += op(&ps[i]).Count
		}
		o.Throughput = med(func(p *Point) float64 { return op(p).Throughput })
		o.MeanMS = med(func(p *Point) float64 { return op(p).MeanMS })
		o.P50MS = med(func(p *Point) float64 { return op(p).P50MS })
		o.P95MS = med(func(p *Point) float64 { return op(p).P95MS })
		o.P99MS = med(func(p *Point) float64 { return op(p).P99MS })
		o.MaxMS = med(func(p *Point) float64 { return op(p).MaxMS })
	}
	return m
}

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
	fmt.Fprintf(w, "load model: %s\n", r.Model)
	rounds := r.Rounds > 1
	if rounds {
		fmt.Fprintf(w, "each point: the median of %d rounds that went through the pool sizes in turn; ops/s range: the rounds' lowest and highest\n", r.Rounds)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	rangeCol := ""
	if rounds {
		rangeCol = "ops/s range\t"
	}
	fmt.Fprintln(tw, "nodes\tpolicy\tMB/node\tops/s\t"+rangeCol+"reads/s\tread p50\tp95\tp99\twrites/s\twrite p50\tp95\tp99\thit rate\tcache fails\terrors\tload\t")
	for _, p := range r.Points {
		hit := "-"
		if p.HitRate != nil {
			hit = fmt.Sprintf("%.1f%%", 100**p.HitRate)
		}
		ops := fmt.Sprintf("%.0f\t", p.Throughput)
		if rounds {
			lo, hi := p.Throughput, p.Throughput
			if len(p.ThroughputRounds) > 0 {
				lo, hi = slices.Min(p.ThroughputRounds), slices.Max(p.ThroughputRounds)
			}
			ops += fmt.Sprintf("%.0f-%.0f\t", lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%.0f\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			intOrDash(p.Nodes), cmp.Or(p.Policy, "-"), intOrDash(p.CapacityMB), ops,
			p.Reads.Throughput, msLabel(p.Reads.P50MS), msLabel(p.Reads.P95MS), msLabel(p.Reads.P99MS),
			p.Writes.Throughput, msLabel(p.Writes.P50MS), msLabel(p.Writes.P95MS), msLabel(p.Writes.P99MS),
			hit, failuresLabel(p.CacheFailures), errorsLabel(p.Errors), loadLabel(p.Load1))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nlatencies in ms; hit rate: the server's cache lookups during the measurement; cache fails: cache operations that failed (node down or too slow) and went to the stores; load: 1-minute load average at its end")
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

func failuresLabel(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
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
