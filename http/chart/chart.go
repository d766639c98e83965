// Package chart draws the admin dashboard's charts: one value per time
// slot (a minute), drawn on the server as SVG so the page needs no script. Colours are SVG
// presentation attributes, which the page's CSP allows and its stylesheet
// can override (dark theme); a style attribute would be refused. The
// drawing is in viewBox units, so a chart scales to any width.
package chart

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

// Unit says how a chart's values read.
type Unit int

const (
	Count   Unit = iota // whole things: nodes, items, requests
	Percent             // 0 to 100
	Bytes               // sizes, shown in KiB, MiB, GiB
)

// Point is one slot's value; OK is false for a slot without data,
// which the chart leaves as a gap.
type Point struct {
	V  float64
	OK bool
}

// Chart is one series of equal time slots, oldest first.
type Chart struct {
	ID     string // prefixes the ids of its elements; unique in a page
	Title  string
	Unit   Unit
	Step   bool // draw as steps (a level held for the slot), else a line through slot centres
	Start  time.Time
	Slot   time.Duration // if zero, a minute
	Points []Point
}

// Geometry, in viewBox units.
const (
	width  = 420
	height = 240
	padL   = 62 // y tick labels
	padR   = 20 // half an x label
	padT   = 46 // title
	padB   = 32 // x labels
)

// Colours of a standalone chart; the page's stylesheet overrides them
// through the classes.
const (
	ink    = "#1b1d29"
	muted  = "#5d6275"
	grid   = "#dcdeea"
	accent = "#4f46e5"
)

func (c *Chart) slot() time.Duration {
	if c.Slot > 0 {
		return c.Slot
	}
	return time.Minute
}

func (c *Chart) end() time.Time { return c.Start.Add(time.Duration(len(c.Points)) * c.slot()) }

// x maps a time to its horizontal position.
func (c *Chart) x(t time.Time) float64 {
	span := c.end().Sub(c.Start)
	if span <= 0 {
		return padL
	}
	return padL + float64(t.Sub(c.Start))/float64(span)*(width-padL-padR)
}

// y maps a value to its vertical position on an axis from 0 to top.
func yOf(v, top float64) float64 {
	v = min(max(v, 0), top)
	return height - padB - v/top*(height-padT-padB)
}

// yAxis returns the top of the value axis and the distance between its
// ticks: round numbers (in the unit's scale for bytes) from zero to at
// least the largest value.
func (c *Chart) yAxis() (top, step float64) {
	if c.Unit == Percent {
		return 100, 25
	}
	var hi float64
	for _, p := range c.Points {
		if p.OK {
			hi = max(hi, p.V)
		}
	}
	scale := 1.0
	if c.Unit == Bytes {
		scale, _ = byteScale(hi)
	}
	hi /= scale
	if hi <= 0 {
		hi = 1
	}
	step = niceStep(hi / 4)
	if c.Unit != Percent && step < 1 && scale == 1 {
		step = 1 // counts and bytes are whole
	}
	top = math.Ceil(hi/step-1e-9) * step
	return top * scale, step * scale
}

// niceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// byteScale picks the binary unit that sizes up to hi are written in.
func byteScale(hi float64) (float64, string) {
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
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// tickLabel writes an axis value; top is the axis's top, which picks the
// byte unit, so every label of an axis has the same one.
func (c *Chart) tickLabel(v, top float64) string {
	switch c.Unit {
	case Percent:
		return num(v) + "%"
	case Bytes:
		if v == 0 {
			return "0"
		}
		scale, unit := byteScale(top)
		return num(v/scale) + " " + unit
	}
	return compact(v)
}

// compact writes a count briefly: 950, 1.5k, 20k, 3.2M.
func compact(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return num(v/1e9) + "G"
	case a >= 1e6:
		return num(v/1e6) + "M"
	case a >= 1e4 || (a >= 1e3 && math.Mod(a, 100) == 0):
		return num(v/1e3) + "k"
	}
	return num(v)
}

// valueLabel writes a value precisely, as the latest value and in the
// description.
func (c *Chart) valueLabel(v float64) string {
	switch c.Unit {
	case Percent:
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + "%"
	case Bytes:
		return service.FormatBytes(int64(v))
	}
	if math.Abs(v) < 1e4 {
		return num(v)
	}
	return compact(v)
}

// xTicks returns the times the x axis labels: round clock times, at most
// seven of them.
func (c *Chart) xTicks() []time.Time {
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
func (c *Chart) segments() [][2]int {
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
func (c *Chart) description() string {
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
	s := fmt.Sprintf("%s over the last %s, one value per %s, from %s to %s UTC.", c.Title, spanText(span),
		spanText(c.slot()), c.Start.UTC().Format("15:04"), c.end().UTC().Format("15:04"))
	if n == 0 {
		return s + " No data in this period."
	}
	s += fmt.Sprintf(" Latest %s, lowest %s, highest %s.", c.valueLabel(last), c.valueLabel(lo), c.valueLabel(hi))
	if gaps := len(c.Points) - n; gaps > 0 {
		s += fmt.Sprintf(" No data for %d of the %d slots.", gaps, len(c.Points))
	}
	return s
}

// spanText writes a duration as "30 minutes", "minute", "2 hours".
func spanText(d time.Duration) string {
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
func (c *Chart) latest() (float64, bool) {
	for i := len(c.Points) - 1; i >= 0; i-- {
		if c.Points[i].OK {
			return c.Points[i].V, true
		}
	}
	return 0, false
}

// SVG draws the chart. A standalone file gets an XML declaration; inside
// a page the same element works as inline SVG.
func (c *Chart) SVG(standalone bool) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	size := "" // inline, the page's stylesheet sizes the chart
	if standalone {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		size = fmt.Sprintf(` width="%d" height="%d"`, width, height)
	}
	pf(`<svg xmlns="http://www.w3.org/2000/svg" class="chart"%s viewBox="0 0 %d %d" role="img" aria-label="%s" aria-describedby="%s-desc" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif">`,
		size, width, height, esc(c.Title), esc(c.ID))
	pf(`<title id="%s-title">%s</title>`, esc(c.ID), esc(c.Title))
	pf(`<desc id="%s-desc">%s</desc>`, esc(c.ID), esc(c.description()))
	pf(`<rect class="chart-bg" width="%d" height="%d" rx="10" fill="#ffffff"/>`, width, height)
	pf(`<text class="chart-title" x="16" y="26" font-size="15" font-weight="600" fill="%s">%s</text>`, ink, esc(c.Title))
	if v, ok := c.latest(); ok {
		pf(`<text class="chart-latest" x="%d" y="26" font-size="15" font-weight="700" text-anchor="end" fill="%s">%s</text>`,
			width-padR, accent, esc(c.valueLabel(v)))
	}

	// Value axis: gridlines with labels.
	top, step := c.yAxis()
	b.WriteString(`<g class="chart-axis chart-y">`)
	for i := 0; ; i++ {
		v := float64(i) * step
		if v > top*(1+1e-9) {
			break
		}
		yy := yOf(v, top)
		pf(`<line class="chart-grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`,
			padL, yy, width-padR, yy, grid)
		pf(`<text class="chart-tick" x="%d" y="%.1f" dy="0.35em" font-size="12" text-anchor="end" fill="%s">%s</text>`,
			padL-8, yy, muted, esc(c.tickLabel(v, top)))
	}
	b.WriteString(`</g>`)

	// Time axis: ticks at round clock times, labelled in UTC.
	base := float64(height - padB)
	b.WriteString(`<g class="chart-axis chart-x">`)
	pf(`<line class="chart-baseline" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`,
		padL, base, width-padR, base, muted)
	for _, t := range c.xTicks() {
		xx := c.x(t)
		pf(`<line class="chart-tickmark" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`,
			xx, base, xx, base+5, muted)
		pf(`<text class="chart-tick" x="%.1f" y="%.1f" font-size="12" text-anchor="middle" fill="%s">%s</text>`,
			xx, base+20, muted, t.UTC().Format("15:04"))
	}
	pf(`<text class="chart-tick chart-tz" x="6" y="%.1f" font-size="11" fill="%s">UTC</text>`, base+20, muted)
	b.WriteString(`</g>`)

	// The series.
	segs := c.segments()
	if len(segs) == 0 {
		pf(`<text class="chart-empty" x="%.1f" y="%.1f" font-size="14" text-anchor="middle" fill="%s">No data yet</text>`,
			(padL+width-padR)/2.0, (padT+height-padB)/2.0, muted)
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
		pf(`<path class="chart-area" d="%s" fill="%s" fill-opacity="0.12" stroke="none"/>`, bytes.TrimSpace(area.Bytes()), accent)
	}
	pf(`<path class="chart-line" d="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>`,
		bytes.TrimSpace(line.Bytes()), accent)
	for _, d := range dots {
		pf(`<circle class="chart-dot" cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, d[0], d[1], accent)
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// vertices returns the drawn points of one run of slots: slot centres for
// a line; for steps, each slot's level held from its start to its end.
func (c *Chart) vertices(sg [2]int, top float64) [][2]float64 {
	var pts [][2]float64
	for i := sg[0]; i < sg[1]; i++ {
		start := c.Start.Add(time.Duration(i) * c.slot())
		yy := yOf(c.Points[i].V, top)
		if c.Step {
			pts = append(pts, [2]float64{c.x(start), yy}, [2]float64{c.x(start.Add(c.slot())), yy})
		} else {
			pts = append(pts, [2]float64{c.x(start.Add(c.slot() / 2)), yy})
		}
	}
	return pts
}

// Metric is one of the dashboard's charts, served alone at
// /admin/charts/{Name}.svg.
type Metric struct {
	Name  string
	Title string
	Unit  Unit
	Step  bool
	// Whole says the value counts a whole minute, so the current minute,
	// not over yet, is left out rather than drawn as a drop.
	Whole bool
	// Value reads the Metric from a minute; ok is false when the minute
	// says nothing about it.
	Value func(b manager.Bucket) (v float64, ok bool)
}

// Metrics are the dashboard's charts, in order.
var Metrics = []Metric{
	{Name: "nodes", Title: "Nodes", Unit: Count, Step: true, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Nodes), b.Samples > 0
	}},
	// A rate is unknown, not 0, in a minute without lookups.
	{Name: "miss-rate", Title: "Miss rate (%)", Unit: Percent, Value: func(b manager.Bucket) (float64, bool) {
		return 100 * b.MissRate, b.Samples > 0 && b.MissRate+b.HitRate > 0
	}},
	{Name: "hit-rate", Title: "Hit rate (%)", Unit: Percent, Value: func(b manager.Bucket) (float64, bool) {
		return 100 * b.HitRate, b.Samples > 0 && b.MissRate+b.HitRate > 0
	}},
	{Name: "items", Title: "Items in cache", Unit: Count, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Items), b.Samples > 0
	}},
	{Name: "bytes", Title: "Size of items", Unit: Bytes, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Bytes), b.Samples > 0
	}},
	{Name: "requests", Title: "Requests per minute", Unit: Count, Whole: true, Value: func(b manager.Bucket) (float64, bool) {
		return float64(b.Requests), b.Samples > 0
	}},
}

// MetricByName finds a Metric of the dashboard.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// OfMetric charts a Metric over one-minute buckets (oldest first).
func OfMetric(m Metric, buckets []manager.Bucket) *Chart {
	c := &Chart{ID: "chart-" + m.Name, Title: m.Title, Unit: m.Unit, Step: m.Step, Slot: time.Minute}
	if len(buckets) > 0 {
		c.Start = buckets[0].Start
	}
	c.Points = make([]Point, len(buckets))
	for i, b := range buckets {
		c.Points[i].V, c.Points[i].OK = m.Value(b)
	}
	if m.Whole && len(c.Points) > 0 {
		c.Points[len(c.Points)-1].OK = false
	}
	return c
}
