package loadgen

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The plot of a sweep: throughput, latency and hit rate against the
// number of cache nodes, one panel each, as a standalone SVG file. The
// admin dashboard's charts (package http/chart) plot against time; this
// one plots against a handful of categories, so it is drawn here, in the
// same spirit: plain SVG elements, presentation attributes, viewBox units.

// Geometry, in viewBox units.
const (
	svgW      = 640
	svgTitleH = 56
	panelH    = 230
	padL      = 70
	padR      = 150 // legend
	padT      = 34
	padB      = 40
)

// series is one line of a panel.
type series struct {
	Name   string
	Colour string
	Dash   bool
	Value  func(p Point) (float64, bool)
	// Range, if set, gives a point's lowest and highest value over its
	// rounds, drawn as a bar.
	Range func(p Point) (lo, hi float64, ok bool)
}

type panel struct {
	Title   string
	Percent bool // axis 0 to 100
	Series  []series
}

const (
	colRead  = "#2563eb"
	colWrite = "#dc2626"
	colAll   = "#1b1d29"
	colHit   = "#059669"
	colGrid  = "#dcdeea"
	colMuted = "#5d6275"
)

// SVG draws the report's points against their node counts.
func (r *Report) SVG() []byte {
	panels := []panel{
		{Title: "Throughput (operations/s)", Series: []series{
			{Name: "all", Colour: colAll, Value: func(p Point) (float64, bool) { return p.Throughput, true },
				Range: func(p Point) (float64, float64, bool) {
					if len(p.ThroughputRounds) < 2 {
						return 0, 0, false
					}
					return slices.Min(p.ThroughputRounds), slices.Max(p.ThroughputRounds), true
				}},
			{Name: "reads", Colour: colRead, Value: func(p Point) (float64, bool) { return p.Reads.Throughput, p.Reads.Count > 0 }},
			{Name: "writes", Colour: colWrite, Value: func(p Point) (float64, bool) { return p.Writes.Throughput, p.Writes.Count > 0 }},
		}},
		{Title: "Latency (ms)", Series: []series{
			{Name: "read p50", Colour: colRead, Dash: false, Value: func(p Point) (float64, bool) { return p.Reads.P50MS, p.Reads.Count > 0 }},
			{Name: "read p99", Colour: colRead, Dash: true, Value: func(p Point) (float64, bool) { return p.Reads.P99MS, p.Reads.Count > 0 }},
			{Name: "write p50", Colour: colWrite, Dash: false, Value: func(p Point) (float64, bool) { return p.Writes.P50MS, p.Writes.Count > 0 }},
			{Name: "write p99", Colour: colWrite, Dash: true, Value: func(p Point) (float64, bool) { return p.Writes.P99MS, p.Writes.Count > 0 }},
		}},
		{Title: "Cache hit rate (%)", Percent: true, Series: []series{
			{Name: "hit rate", Colour: colHit, Value: func(p Point) (float64, bool) {
				if p.HitRate == nil {
					return 0, false
				}
				return 100 * *p.HitRate, true
			}},
		}},
	}
	h := svgTitleH + len(panels)*panelH
	var b bytes.Buffer
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := fmt.Sprintf("pixpool bench: %s reads:writes, %s", r.Mix, sizeLabel(r.SizeBytes))
	if len(r.Points) > 0 && r.Points[0].Policy != "" {
		title += ", " + r.Points[0].Policy
	}
	if len(r.Points) > 0 && r.Points[0].CapacityMB != 0 {
		title += fmt.Sprintf(", %d MB/node", r.Points[0].CapacityMB)
	}
	target, _, _ := strings.Cut(r.Target, " (")
	sub := fmt.Sprintf("%s; %d keys, %d connections, %gs per point after %gs warm-up", target, r.Keys, r.Concurrency, r.DurationSeconds, r.WarmupSeconds)
	if r.Rounds > 1 {
		sub += fmt.Sprintf("; medians of %d rounds, bars: range", r.Rounds)
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	pf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif">`+"\n",
		svgW, h, svgW, h, esc(title))
	pf("<title>%s</title>\n", esc(title))
	pf(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, h)
	pf(`<text x="16" y="26" font-size="16" font-weight="600" fill="%s">%s</text>`+"\n", colAll, esc(title))
	pf(`<text x="16" y="46" font-size="11" fill="%s">%s</text>`+"\n", colMuted, esc(sub))
	for i, p := range panels {
		r.drawPanel(&b, p, float64(svgTitleH+i*panelH))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// x is the horizontal position of point i of n: evenly spaced, as the
// node counts of a sweep usually double.
func pointX(i, n int) float64 {
	if n == 1 {
		return (padL + svgW - padR) / 2
	}
	const inset = 24
	return padL + inset + float64(i)/float64(n-1)*(svgW-padL-padR-2*inset)
}

func (r *Report) drawPanel(b *bytes.Buffer, p panel, top float64) {
	pf := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	n := len(r.Points)
	var hi float64
	for _, s := range p.Series {
		for _, pt := range r.Points {
			if v, ok := s.Value(pt); ok {
				hi = max(hi, v)
			}
			if s.Range != nil {
				if _, v, ok := s.Range(pt); ok {
					hi = max(hi, v)
				}
			}
		}
	}
	axisTop, step := 100.0, 25.0
	if !p.Percent {
		if hi <= 0 {
			hi = 1
		}
		step = niceStep(hi / 4)
		axisTop = math.Ceil(hi/step-1e-9) * step
	}
	y0, y1 := top+panelH-padB, top+padT // value 0, value axisTop
	y := func(v float64) float64 { return y0 - min(max(v, 0), axisTop)/axisTop*(y0-y1) }
	pf(`<g class="panel">` + "\n")
	pf(`<text x="16" y="%.1f" font-size="14" font-weight="600" fill="%s">%s</text>`+"\n", top+20, colAll, esc(p.Title))
	for v := 0.0; v <= axisTop*(1+1e-9); v += step {
		pf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`, padL, y(v), svgW-padR, y(v), colGrid)
		pf(`<text x="%d" y="%.1f" dy="0.35em" font-size="11" text-anchor="end" fill="%s">%s</text>`+"\n", padL-8, y(v), colMuted, num(v))
	}
	for i, pt := range r.Points {
		pf(`<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">%s</text>`+"\n", pointX(i, n), y0+16, colMuted, intOrDash(pt.Nodes))
	}
	pf(`<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">cache nodes</text>`+"\n", (padL+svgW-padR)/2.0, y0+32, colMuted)
	for k, s := range p.Series {
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="6 4"`
		}
		var path bytes.Buffer
		cmd := "M"
		for i, pt := range r.Points {
			v, ok := s.Value(pt)
			if !ok {
				cmd = "M" // a gap
				continue
			}
			fmt.Fprintf(&path, "%s%.1f %.1f ", cmd, pointX(i, n), y(v))
			if s.Range != nil {
				if lo, hi, ok := s.Range(pt); ok {
					x := pointX(i, n)
					pf(`<path d="M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f" stroke="%s" stroke-width="1.5" fill="none"/>`+"\n",
						x, y(lo), x, y(hi), x-4, y(lo), x+4, y(lo), x-4, y(hi), x+4, y(hi), s.Colour)
				}
			}
			cmd = "L"
			pf(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, %s nodes: %s</title></circle>`+"\n",
				pointX(i, n), y(v), s.Colour, esc(s.Name), intOrDash(pt.Nodes), num(v))
		}
		if path.Len() > 0 {
			pf(`<path d="%s" fill="none" stroke="%s" stroke-width="2"%s stroke-linejoin="round"/>`+"\n", bytes.TrimSpace(path.Bytes()), s.Colour, dash)
		}
		ly := top + padT + 8 + float64(k)*20
		lx := float64(svgW - padR + 16)
		pf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, lx, ly, lx+24, ly, s.Colour, dash)
		pf(`<text x="%.1f" y="%.1f" dy="0.35em" font-size="12" fill="%s">%s</text>`+"\n", lx+30, ly, colAll, esc(s.Name))
	}
	pf("</g>\n")
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

func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e4:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func esc(s string) string { return html.EscapeString(s) }
