package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/http/chart/charttest"
	"github.com/pixpool/pixpool/manager"
)

// testStart is a round time, so the axis labels are predictable.
var testStart = time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)

// testSamples are 30 minutes of 5-second samples starting at testStart,
// with minutes 10 to 14 missing (the collector was down). In minute i the
// pool has 1 + i/10 nodes holding 100×i items of i × 256 KiB in all; each
// sample has 10×i lookups, a tenth of them misses, and i sets.
func testSamples() []pixpool.PoolSample {
	var out []pixpool.PoolSample
	for i := range 30 {
		if i >= 10 && i < 15 {
			continue
		}
		for k := range 12 {
			out = append(out, pixpool.PoolSample{
				At: testStart.Add(time.Duration(i)*time.Minute + time.Duration(k)*5*time.Second), Nodes: 1 + i/10, Up: 1 + i/10,
				Items: int64(100 * i), Bytes: int64(i) << 18, Gets: int64(10 * i), Hits: int64(9 * i), Misses: int64(i), Sets: int64(i),
			})
		}
	}
	return out
}

func testBuckets(t *testing.T) []manager.Bucket {
	t.Helper()
	b := manager.Buckets(testSamples(), testStart.Add(29*time.Minute+30*time.Second), 30)
	if len(b) != 30 || !b[0].Start.Equal(testStart) {
		t.Fatalf("buckets start %v (%d), want %v (30)", b[0].Start, len(b), testStart)
	}
	return b
}

func TestChart_Series(t *testing.T) {
	buckets := testBuckets(t)
	for _, m := range Metrics {
		t.Run(m.Name, func(t *testing.T) {
			c := OfMetric(m, buckets)
			root := charttest.ParseSVG(t, c.SVG(true))

			if got := root.All("title", ""); len(got) != 1 || got[0].Text != m.Title {
				t.Fatalf("title %+v, want %q", got, m.Title)
			}
			if got := root.Attr("aria-label"); got != m.Title {
				t.Fatalf("aria-label %q, want %q", got, m.Title)
			}
			if got, want := root.Attr("viewBox"), fmt.Sprintf("0 0 %d %d", width, height); got != want {
				t.Fatalf("viewBox %q", got)
			}
			desc := root.All("desc", "")
			if len(desc) != 1 || !strings.Contains(desc[0].Text, "from 15:00 to 15:30 UTC") || !strings.Contains(desc[0].Text, "No data for") {
				t.Fatalf("desc %+v", desc)
			}
			if id := root.Attr("aria-describedby"); desc[0].Attr("id") != id {
				t.Fatalf("aria-describedby %q, desc id %q", id, desc[0].Attr("id"))
			}
			if got := root.All("text", "chart-title"); len(got) != 1 || got[0].Text != m.Title {
				t.Fatalf("visible title %+v", got)
			}
			if len(root.All("", "")) == 0 || strings.Contains(string(c.SVG(true)), "style=") {
				t.Fatal("the chart uses style attributes, which the page's CSP refuses")
			}

			// The line: one run on each side of the 5-minute gap.
			lines := root.All("path", "chart-line")
			if len(lines) != 1 {
				t.Fatalf("%d chart-line paths", len(lines))
			}
			runs := charttest.PathRuns(t, lines[0].Attr("d"))
			if len(runs) != 2 {
				t.Fatalf("%d runs, want 2 (a gap for minutes 10-14): %s", len(runs), lines[0].Attr("d"))
			}
			var want []float64 // the values drawn, oldest first
			for i, b := range buckets {
				if m.Whole && i == len(buckets)-1 {
					continue // the current minute is not over
				}
				if v, ok := m.Value(b); ok {
					want = append(want, v)
					if m.Step {
						want = append(want, v) // a step is drawn from its start to its end
					}
				}
			}
			pts := append(slices.Clone(runs[0]), runs[1]...)
			if len(pts) != len(want) {
				t.Fatalf("%d points, want %d", len(pts), len(want))
			}
			gapStart, gapEnd := runs[0][len(runs[0])-1][0], runs[1][0][0]
			if gapEnd-gapStart < 4*(width-padL-padR)/30.0 {
				t.Fatalf("gap from x=%.1f to %.1f is too narrow for 5 minutes", gapStart, gapEnd)
			}
			for i := 1; i < len(pts); i++ {
				if pts[i][0] < pts[i-1][0] || (!m.Step && pts[i][0] == pts[i-1][0]) {
					t.Fatalf("x goes back at point %d: %v", i, pts)
				}
				// Up the page is more: y orders the points as the values do.
				if dv, dy := want[i]-want[i-1], pts[i][1]-pts[i-1][1]; (dv > 0) != (dy < 0) || (dv == 0) != (dy == 0) {
					t.Fatalf("points %d-%d: values %v→%v drawn at y %v→%v", i-1, i, want[i-1], want[i], pts[i-1][1], pts[i][1])
				}
			}
			// Points lie in the plot area.
			for _, p := range pts {
				if p[0] < padL || p[0] > width-padR || p[1] < padT || p[1] > height-padB {
					t.Fatalf("point %v outside the plot", p)
				}
			}
		})
	}
}

// ticks returns a chart's axis labels: the y axis's bottom up, then the
// x axis's left to right.
func ticks(root *charttest.Node) (ys, xs []string) {
	for _, g := range root.All("g", "chart-y") {
		for _, e := range g.All("text", "chart-tick") {
			ys = append(ys, e.Text)
		}
	}
	for _, g := range root.All("g", "chart-x") {
		for _, e := range g.All("text", "chart-tick") {
			if !strings.Contains(e.Attr("class"), "chart-tz") {
				xs = append(xs, e.Text)
			}
		}
	}
	return ys, xs
}

func TestChart_Axes(t *testing.T) {
	buckets := testBuckets(t)
	wantX := []string{"15:00", "15:05", "15:10", "15:15", "15:20", "15:25", "15:30"}
	tests := []struct {
		metric string
		wantY  []string
	}{
		{"nodes", []string{"0", "1", "2", "3"}},
		{"miss-rate", []string{"0%", "25%", "50%", "75%", "100%"}},
		{"items", []string{"0", "1k", "2k", "3k"}},                   // max 2900
		{"bytes", []string{"0", "2 MiB", "4 MiB", "6 MiB", "8 MiB"}}, // max 29 × 256 KiB = 7.25 MiB
		{"requests", []string{"0", "1k", "2k", "3k", "4k"}},          // max 12 × 11 × 29 = 3828
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			m, _ := MetricByName(tt.metric)
			root := charttest.ParseSVG(t, OfMetric(m, buckets).SVG(false))
			ys, xs := ticks(root)
			if !slices.Equal(ys, tt.wantY) {
				t.Errorf("y labels %q, want %q", ys, tt.wantY)
			}
			if !slices.Equal(xs, wantX) {
				t.Errorf("x labels %q, want %q", xs, wantX)
			}
			if tz := root.All("text", "chart-tz"); len(tz) != 1 || tz[0].Text != "UTC" {
				t.Errorf("no UTC label: %+v", tz)
			}
		})
	}
}

func TestChart_Latest(t *testing.T) {
	buckets := testBuckets(t)
	tests := map[string]string{"nodes": "3", "miss-rate": "10%", "hit-rate": "90%", "items": "2900", "bytes": "7.2 MiB", "requests": "3696"}
	for name, want := range tests {
		m, _ := MetricByName(name)
		root := charttest.ParseSVG(t, OfMetric(m, buckets).SVG(false))
		if got := root.All("text", "chart-latest"); len(got) != 1 || got[0].Text != want {
			t.Errorf("%s: latest %+v, want %q", name, got, want)
		}
	}
}

func TestChart_Empty(t *testing.T) {
	buckets := manager.Buckets(nil, testStart, 30)
	for _, m := range Metrics {
		root := charttest.ParseSVG(t, OfMetric(m, buckets).SVG(true))
		if got := root.All("text", "chart-empty"); len(got) != 1 {
			t.Fatalf("%s: no empty-chart message", m.Name)
		}
		if got := root.All("path", ""); len(got) != 0 {
			t.Fatalf("%s: %d paths without data", m.Name, len(got))
		}
		if d := root.All("desc", ""); !strings.Contains(d[0].Text, "No data") {
			t.Fatalf("%s: desc %q", m.Name, d[0].Text)
		}
	}
}

func TestChart_RatesWithoutLookups(t *testing.T) {
	// Samples but no lookups: nodes and items are known, the rates are not.
	s := []pixpool.PoolSample{{At: testStart.Add(30 * time.Second), Nodes: 2, Items: 5}}
	buckets := manager.Buckets(s, testStart.Add(time.Minute), 2)
	for name, wantPoints := range map[string]int{"nodes": 2, "items": 1, "miss-rate": 0, "hit-rate": 0} {
		m, _ := MetricByName(name)
		root := charttest.ParseSVG(t, OfMetric(m, buckets).SVG(false))
		n := 0
		for _, p := range root.All("path", "chart-line") {
			for _, r := range charttest.PathRuns(t, p.Attr("d")) {
				n += len(r)
			}
		}
		if n != wantPoints {
			t.Errorf("%s: %d points, want %d", name, n, wantPoints)
		}
	}
}

func TestChart_IsolatedPoint(t *testing.T) {
	c := &Chart{ID: "c", Title: "T", Start: testStart, Points: []Point{{}, {V: 3, OK: true}, {}}}
	root := charttest.ParseSVG(t, c.SVG(false))
	if got := root.All("circle", "chart-dot"); len(got) != 1 {
		t.Fatalf("%d dots for one isolated point, want 1", len(got))
	}
}

func TestChart_Escapes(t *testing.T) {
	c := &Chart{ID: `a"b`, Title: `Tom & "Jerry" <3`, Start: testStart, Points: []Point{{V: 1, OK: true}}}
	root := charttest.ParseSVG(t, c.SVG(false))
	if got := root.All("title", ""); got[0].Text != c.Title {
		t.Fatalf("title %q", got[0].Text)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct{ raw, want float64 }{
		{0.3, 0.5}, {1, 1}, {1.1, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {12, 20}, {725, 1000}, {0.07, 0.1},
	}
	for _, tt := range tests {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v)=%v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestCompact(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {950, "950"}, {1000, "1k"}, {1500, "1.5k"}, {2500, "2.5k"}, {1250, "1250"}, {20000, "20k"}, {3.2e6, "3.2M"},
	}
	for _, tt := range tests {
		if got := compact(tt.v); got != tt.want {
			t.Errorf("compact(%v)=%q, want %q", tt.v, got, tt.want)
		}
	}
}
