package http

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"time"

	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/service"
)

// The admin dashboard's charts: one value per time slot (a minute), drawn
// on the server as SVG so the page needs no script. Colours are SVG
// presentation attributes, which the page's CSP allows and its stylesheet
// can override (dark theme); a style attribute would be refused. The
// drawing is in viewBox units, so a chart scales to any width.

// chartUnit says how a chart's values read.
type chartUnit int

const (
	chartCount   chartUnit = iota // whole things: nodes, items, requests
	chartPercent                  // 0 to 100
	chartBytes                    // sizes, shown in KiB, MiB, GiB
)

// chartPoint is one slot's value; OK is false for a slot without data,
// which the chart leaves as a gap.
type chartPoint struct {
	V  float64
	OK bool
}

// chart is one series of equal time slots, oldest first.
type chart struct {
	ID     string // prefixes the ids of its elements; unique in a page
	Title  string
	Unit   chartUnit
	Step   bool // draw as steps (a level held for the slot), else a line through slot centres
	Start  time.Time
	Slot   time.Duration // if zero, a minute
	Points []chartPoint
}

// Geometry, in viewBox units.
const (
	chartW    = 420
	chartH    = 240
	chartPadL = 62 // y tick labels
	chartPadR = 20 // half an x label
	chartPadT = 46 // title
	chartPadB = 32 // x labels
)

// Colours of a standalone chart; the page's stylesheet overrides them
// through the classes.
const (
	chartInk    = "#1b1d29"
	chartMuted  = "#5d6275"
	chartGrid   = "#dcdeea"
	chartAccent = "#4f46e5"
)

func (c *chart) slot() time.Duration {
	if c.Slot > 0 {
		return c.Slot
	}
	return time.Minute
}

func (c *chart) end() time.Time { return c.Start.Add(time.Duration(len(c.Points)) * c.slot()) }

// x maps a time to its horizontal position.
func (c *chart) x(t time.Time) float64 {
	span := c.end().Sub(c.Start)
	if span <= 0 {
		return chartPadL
	}
	return chartPadL + float64(t.Sub(c.Start))/float64(span)*(chartW-chartPadL-chartPadR)
}

// y maps a value to its vertical position on an axis from 0 to top.
func chartY(v, top float64) float64 {
	v = min(max(v, 0), top)
	return chartH - chartPadB - v/top*(chartH-chartPadT-chartPadB)
}

// yAxis returns the top of the value axis and the distance between its
// ticks: round numbers (in the unit's scale for bytes) from zero to at
// least the largest value.
func (c *chart) yAxis() (top, step float64) {
	if c.Unit == chartPercent {
		return 100, 25
	}
	var hi float64
	for _, p := range c.Points {
		if p.OK {
			hi = max(hi, p.V)
		}
	}
	scale := 1.0
	if c.Unit == chartBytes {
		scale, _ = chartByteScale(hi)
	}
	hi /= scale
	if hi <= 0 {
		hi = 1
	}
	step = chartNiceStep(hi / 4)
	if c.Unit != chartPercent && step < 1 && scale == 1 {
		step = 1 // counts and bytes are whole
	}
	top = math.Ceil(hi/step-1e-9) * step
	return top * scale, step * scale
}

// chartNiceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten.
func chartNiceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// chartByteScale picks the binary unit that sizes up to hi are written in.
func chartByteScale(hi float64) (float64, string) {
	switch {
	case hi >= 1<<30:
		return 1 << 30, "GiB"
	case hi >= 1<<20:
		return 1 << 20, "MiB"
	case hi >= 1<<10:
		return 1 << 10, "KiB"
	}
	return 1, "B"
}

// num writes v with at most two decimals and none that are zero.
func chartNum(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// tickLabel writes an axis value; top is the axis's top, which picks the
// byte unit, so every label of an axis has the same one.
func (c *chart) tickLabel(v, top float64) string {
	switch c.Unit {
	case chartPercent:
		return chartNum(v) + "%"
	case chartBytes:
		if v == 0 {
			return "0"
		}
		scale, unit := chartByteScale(top)
		return chartNum(v/scale) + " " + unit
	}
	return chartCompact(v)
}

// compact writes a count briefly: 950, 1.5k, 20k, 3.2M.
func chartCompact(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return chartNum(v/1e9) + "G"
	case a >= 1e6:
		return chartNum(v/1e6) + "M"
	case a >= 1e4 || (a >= 1e3 && math.Mod(a, 100) == 0):
		return chartNum(v/1e3) + "k"
	}
	return chartNum(v)
}

// valueLabel writes a value precisely, as the latest value and in the
// description.
func (c *chart) valueLabel(v float64) string {
	switch c.Unit {
	case chartPercent:
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "%"
	case chartBytes:
		return service.FormatBytes(int64(v))
	}
	if math.Abs(v) < 1e4 {
		return chartNum(v)
	}
	return chartCompact(v)
}

// xTicks returns the times the x axis labels: round clock times, at most
// seven of them.
func (c *chart) xTicks() []time.Time {
	span := c.end().Sub(c.Start)
	every := time.Minute
	for _, d := range []time.Duration{1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440} {
		every = d * time.Minute
		if span/every <= 6 {
			break
		}
	}
	var ticks []time.Time
	t := c.Start.Truncate(every)
	if t.Before(c.Start) {
		t = t.Add(every)
	}
	for ; !t.After(c.end()); t = t.Add(every) {
		ticks = append(ticks, t)
	}
	return ticks
}

// segments splits the points into runs without gaps, as index ranges.
func (c *chart) segments() [][2]int {
	var segs [][2]int
	for i := 0; i < len(c.Points); {
		if !c.Points[i].OK {
			i++
			continue
		}
		j := i
		for j < len(c.Points) && c.Points[j].OK {
			j++
		}
		segs = append(segs, [2]int{i, j})
		i = j
	}
	return segs
}

// description says in words what the chart shows, for screen readers.
func (c *chart) description() string {
	var lo, hi, last float64
	n := 0
	for _, p := range c.Points {
		if !p.OK {
			continue
		}
		if n == 0 || p.V < lo {
			lo = p.V
		}
		if n == 0 || p.V > hi {
			hi = p.V
		}
		last = p.V
		n++
	}
	span := c.end().Sub(c.Start)
	s := fmt.Sprintf("%s over the last %s, one value per %s, from %s to %s UTC.", c.Title, chartSpan(span),
		chartSpan(c.slot()), c.Start.UTC().Format("15:04"), c.end().UTC().Format("15:04"))
	if n == 0 {
		return s + " No data in this period."
	}
	s += fmt.Sprintf(" Latest %s, lowest %s, highest %s.", c.valueLabel(last), c.valueLabel(lo), c.valueLabel(hi))
	if gaps := len(c.Points) - n; gaps > 0 {
		s += fmt.Sprintf(" No data for %d of the %d slots.", gaps, len(c.Points))
	}
	return s
}

// chartSpan writes a duration as "30 minutes", "minute", "2 hours".
func chartSpan(d time.Duration) string {
	switch {
	case d == time.Minute:
		return "minute"
	case d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return strconv.Itoa(int(d/time.Minute)) + " minutes"
}

// latest is the newest value that has data.
func (c *chart) latest() (float64, bool) {
	for i := len(c.Points) - 1; i >= 0; i-- {
		if c.Points[i].OK {
			return c.Points[i].V, true
		}
	}
	return 0, false
}

// SVG draws the chart. A standalone file gets an XML declaration; inside
// a page the same element works as inline SVG.
func (c *chart) SVG(standalone bool) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	size := "" // inline, the page's stylesheet sizes the chart
	if standalone {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		size = fmt.Sprintf(` width="%d" height="%d"`, chartW, chartH)
	}
	pf(`<svg xmlns="http://www.w3.org/2000/svg" class="chart"%s viewBox="0 0 %d %d" role="img" aria-label="%s" aria-describedby="%s-desc" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif">`,
		size, chartW, chartH, esc(c.Title), esc(c.ID))
	pf(`<title id="%s-title">%s</title>`, esc(c.ID), esc(c.Title))
	pf(`<desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.description()))
	pf(`<rect class="chart-bg" width="%d" height="%d" rx="10" fill="#ffffff"/>`, chartW, chartH)
	pf(`<text class="chart-title" x="16" y="26" font-size="15" font-weight="600" fill="%s">%s</text>`, chartInk, esc(c.Title))
	if v, ok := c.latest(); ok {
		pf(`<text class="chart-latest" x="%d" y="26" font-size="15" font-weight="700" text-anchor="end" fill="%s">%s</text>`,
			chartW-chartPadR, chartAccent, esc(c.valueLabel(v)))
	}

	// Value axis: gridlines with labels.
	top, step := c.yAxis()
	b.WriteString(`<g class="chart-axis chart-y">`)
	for i := 0; ; i++ {
		v := float64(i) * step
		if v > top*(1+1e-9) {
			break
		}
		yy := chartY(v, top)
		pf(`<line class="chart-grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`,
			chartPadL, yy, chartW-chartPadR, yy, chartGrid)
		pf(`<text class="chart-tick" x="%d" y="%.1f" dy="0.35em" font-size="12" text-anchor="end" fill="%s">%s</text>`,
			chartPadL-8, yy, chartMuted, esc(c.tickLabel(v, top)))
	}
	b.WriteString(`</g>`)

	// Time axis: ticks at round clock times, labelled in UTC.
	base := float64(chartH - chartPadB)
	b.WriteString(`<g class="chart-axis chart-x">`)
	pf(`<line class="chart-baseline" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`,
		chartPadL, base, chartW-chartPadR, base, chartMuted)
	for _, t := range c.xTicks() {
		xx := c.x(t)
		pf(`<line class="chart-tickmark" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`,
			xx, base, xx, base+5, chartMuted)
		pf(`<text class="chart-tick" x="%.1f" y="%.1f" font-size="12" text-anchor="middle" fill="%s">%s</text>`,
			xx, base+20, chartMuted, t.UTC().Format("15:04"))
	}
	pf(`<text class="chart-tick chart-tz" x="6" y="%.1f" font-size="11" fill="%s">UTC</text>`, base+20, chartMuted)
	b.WriteString(`</g>`)

	// The series.
	segs := c.segments()
	if len(segs) == 0 {
		pf(`<text class="chart-empty" x="%.1f" y="%.1f" font-size="14" text-anchor="middle" fill="%s">No data yet</text>`,
			(chartPadL+chartW-chartPadR)/2.0, (chartPadT+chartH-chartPadB)/2.0, chartMuted)
		b.WriteString(`</svg>`)
		return b.Bytes()
	}
	var line, area bytes.Buffer
	var dots [][2]float64
	for _, sg := range segs {
		pts := c.vertices(sg, top)
		for k, p := range pts {
			cmd := "L"
			if k == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&line, "%s%.1f %.1f ", cmd, p[0], p[1])
		}
		if len(pts) == 1 {
			dots = append(dots, pts[0])
			continue
		}
		fmt.Fprintf(&area, "M%.1f %.1f ", pts[0][0], base)
		for _, p := range pts {
			fmt.Fprintf(&area, "L%.1f %.1f ", p[0], p[1])
		}
		fmt.Fprintf(&area, "L%.1f %.1f Z ", pts[len(pts)-1][0], base)
	}
	if area.Len() > 0 {
		pf(`<path class="chart-area" d="%s" fill="%s" fill-opacity="0.12" stroke="none"/>`, bytes.TrimSpace(area.Bytes()), chartAccent)
	}
	pf(`<path class="chart-line" d="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>`,
		bytes.TrimSpace(line.Bytes()), chartAccent)
	for _, d := range dots {
		pf(`<circle class="chart-dot" cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, d[0], d[1], chartAccent)
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// vertices returns the drawn points of one run of slots: slot centres for
// a line; for steps, each slot's level held from its start to its end.
func (c *chart) vertices(sg [2]int, top float64) [][2]float64 {
	var pts [][2]float64
	for i := sg[0]; i < sg[1]; i++ {
		start := c.Start.Add(time.Duration(i) * c.slot())
		yy := chartY(c.Points[i].V, top)
		if c.Step {
			pts = append(pts, [2]float64{c.x(start), yy}, [2]float64{c.x(start.Add(c.slot())), yy})
		} else {
			pts = append(pts, [2]float64{c.x(start.Add(c.slot() / 2)), yy})
		}
	}
	return pts
}

// chartMetric is one of the dashboard's charts, served alone at
// /admin/charts/{Name}.svg.
type chartMetric struct {
	Name  string
	Title string
	Unit  chartUnit
	Step  bool
	// Whole says the value counts a whole minute, so the current minute,
	// not over yet, is left out rather than drawn as a drop.
	Whole bool
	// Value reads the chartMetric from a minute; ok is false when the minute
	// says nothing about it.
	Value func(b manager.Bucket) (v float64, ok bool)
}

// chartMetrics are the dashboard's charts, in order.
var chartMetrics = []chartMetric{
	{Name: "nodes", Title: "Nodes", Unit: chartCount, Step: true, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Nodes), b.Samples > 0
	}},
	// A rate is unknown, not 0, in a minute without lookups.
	{Name: "miss-rate", Title: "Miss rate (%)", Unit: chartPercent, Value: func(b manager.Bucket) (float64, bool) {
		return 100 * b.MissRate, b.Samples > 0 && b.MissRate+b.HitRate > 0
	}},
	{Name: "hit-rate", Title: "Hit rate (%)", Unit: chartPercent, Value: func(b manager.Bucket) (float64, bool) {
		return 100 * b.HitRate, b.Samples > 0 && b.MissRate+b.HitRate > 0
	}},
	{Name: "items", Title: "Items in cache", Unit: chartCount, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Items), b.Samples > 0
	}},
	{Name: "bytes", Title: "Size of items", Unit: chartBytes, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Bytes), b.Samples > 0
	}},
	{Name: "requests", Title: "Requests per minute", Unit: chartCount, Whole: true, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Requests), b.Samples > 0
	}},
}

// chartMetricByName finds a chartMetric of the dashboard.
func chartMetricByName(name string) (chartMetric, bool) {
	for _, m := range chartMetrics {
		if m.Name == name {
			return m, true
		}
	}
	return chartMetric{}, false
}

// chartOfMetric charts a chartMetric over one-minute buckets (oldest first).
func chartOfMetric(m chartMetric, buckets []manager.Bucket) *chart {
	c := &chart{ID: "chart-" + m.Name, Title: m.Title, Unit: m.Unit, Step: m.Step, Slot: time.Minute}
	if len(buckets) > 0 {
		c.Start = buckets[0].Start
	}
	c.Points = make([]chartPoint, len(buckets))
	for i, b := range buckets {
		c.Points[i].V, c.Points[i].OK = m.Value(b)
	}
	if m.Whole && len(c.Points) > 0 {
		c.Points[len(c.Points)-1].OK = false
	}
	return c
}
