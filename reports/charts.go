package reports

import (
	"fmt"
	"math"
	"strings"
)

// The charts are small hand-written SVGs rather than gonum/plot output:
// they need bars, a step line, two axes and a few labels; written here they
// are a few kilobytes, take the page's fonts and colours, are identical on
// every machine (golden tests), and add no dependency.

const (
	chartW, chartH     = 420, 220
	chartL, chartR     = 56, 16 // margins
	chartT, chartB     = 28, 40
	chartBarColour     = "#2563eb"
	chartLineColour    = "#0f172a"
	chartAxisColour    = "#94a3b8"
	chartQuantileColor = "#b45309"
)

// axisNum formats an axis label briefly.
func axisNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

func chartStart(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`,
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title><rect width="%d" height="%d" fill="#ffffff"/>`, esc(title), chartW, chartH)
	fmt.Fprintf(b, `<text x="%d" y="16" font-weight="bold" fill="#0f172a">%s</text>`, chartL, esc(title))
}

// axes draws the x and y axes with end labels.
func axes(b *strings.Builder, xlo, xhi string, ylo, yhi string, xlabel, ylabel string) {
	x0, x1 := chartL, chartW-chartR
	y0, y1 := chartH-chartB, chartT
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, x0, y0, x1, y0, chartAxisColour)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s"/>`, x0, y0, x0, y1, chartAxisColour)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#475569">%s</text>`, x0, y0+14, esc(xlo))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#475569">%s</text>`, x1, y0+14, esc(xhi))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" fill="#475569">%s</text>`, x0-4, y0+4, esc(ylo))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end" fill="#475569">%s</text>`, x0-4, y1+4, esc(yhi))
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" fill="#475569">%s</text>`, (x0+x1)/2, chartH-8, esc(xlabel))
	fmt.Fprintf(b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle" fill="#475569">%s</text>`, (y0+y1)/2, (y0+y1)/2, esc(ylabel))
}

// histogramSVG draws a metric's histogram on a linear scale: one bar per
// integer when the values are integers spanning at most 40, else 30 equal
// bins from the minimum to the maximum.
func histogramSVG(m MetricDist) string {
	var b strings.Builder
	chartStart(&b, m.Name+": histogram")
	type bin struct {
		lo, hi float64 // [lo, hi); hi == lo+1 for integer bins
		n      float64
	}
	lo, hi := m.Min, m.Max
	integers := true
	for _, h := range m.Hist {
		integers = integers && h[0] == math.Trunc(h[0])
	}
	var bins []bin
	switch {
	case integers && hi-lo <= 40:
		for v := lo; v <= hi; v++ {
			bins = append(bins, bin{v, v + 1, 0})
		}
		for _, h := range m.Hist {
			bins[int(h[0]-lo)].n += h[1]
		}
	case hi == lo:
		bins = []bin{{lo, lo, 0}}
		for _, h := range m.Hist {
			bins[0].n += h[1]
		}
	default:
		const n = 30
		width := (hi - lo) / n
		bins = make([]bin, n)
		for i := range bins {
			bins[i].lo, bins[i].hi = lo+float64(i)*width, lo+float64(i+1)*width
		}
		for _, h := range m.Hist {
			i := int((h[0] - lo) / width)
			i = min(max(i, 0), n-1)
			bins[i].n += h[1]
		}
	}
	maxN := 0.0
	for _, bn := range bins {
		maxN = math.Max(maxN, bn.n)
	}
	plotW := float64(chartW - chartL - chartR)
	plotH := float64(chartH - chartT - chartB)
	bw := plotW / float64(len(bins))
	for i, bn := range bins {
		h := 0.0
		if maxN > 0 {
			h = plotH * bn.n / maxN
		}
		x := float64(chartL) + float64(i)*bw
		label := axisNum(bn.lo)
		if integers && bn.hi == bn.lo+1 {
			label = axisNum(bn.lo)
		} else if bn.hi != bn.lo {
			label = "[" + axisNum(bn.lo) + ", " + axisNum(bn.hi) + ")"
		}
		fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s runs</title></rect>`,
			num(x+1), num(float64(chartH-chartB)-h), num(math.Max(bw-2, 1)), num(h), chartBarColour, esc(label), axisNum(bn.n))
	}
	if len(bins) > 1 && bins[0].hi == bins[0].lo+1 && integers {
		// One bar per integer: label the first and last bars' middles, not
		// the axis ends (which are the bars' edges).
		axes(&b, "", "", "0", axisNum(maxN), "value", "runs")
		for _, i := range []int{0, len(bins) - 1} {
			fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" fill="#475569">%s</text>`,
				num(float64(chartL)+(float64(i)+0.5)*bw), chartH-chartB+14, esc(axisNum(bins[i].lo)))
		}
	} else {
		axes(&b, axisNum(lo), axisNum(hi), "0", axisNum(maxN), "value", "runs")
	}
	b.WriteString("</svg>")
	return b.String()
}

// cdfSVG draws a metric's empirical distribution function, with the median
// and the 99th percentile marked.
func cdfSVG(m MetricDist) string {
	var b strings.Builder
	chartStart(&b, m.Name+": cumulative distribution")
	lo, hi := m.Min, m.Max
	span := hi - lo
	plotW := float64(chartW - chartL - chartR)
	plotH := float64(chartH - chartT - chartB)
	xOf := func(v float64) float64 {
		if span == 0 {
			return float64(chartL) + plotW/2
		}
		return float64(chartL) + plotW*(v-lo)/span
	}
	yOf := func(f float64) float64 { return float64(chartH-chartB) - plotH*f }
	total := float64(m.Count)
	var path strings.Builder
	cum := 0.0
	fmt.Fprintf(&path, "M%s,%s", num(float64(chartL)), num(yOf(0)))
	for _, h := range m.Hist {
		x := xOf(h[0])
		fmt.Fprintf(&path, " L%s,%s", num(x), num(yOf(cum/total)))
		cum += h[1]
		fmt.Fprintf(&path, " L%s,%s", num(x), num(yOf(cum/total)))
	}
	fmt.Fprintf(&path, " L%s,%s", num(float64(chartW-chartR)), num(yOf(1)))
	fmt.Fprintf(&b, `<path class="cdf" d="%s" fill="none" stroke="%s" stroke-width="1.8"/>`, path.String(), chartLineColour)
	for _, q := range []struct {
		name string
		v    float64
	}{{"p50", m.P50}, {"p99", m.P99}} {
		x := xOf(q.v)
		tx, anchor := x+3, "start"
		if x > chartW-chartR-70 {
			tx, anchor = x-3, "end"
		}
		y := chartT + 10
		if q.name == "p99" {
			y += 12 // below p50's label when they are close
		}
		fmt.Fprintf(&b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-dasharray="4 3"/><text x="%s" y="%d" text-anchor="%s" fill="%s">%s=%s</text>`,
			num(x), chartT, num(x), chartH-chartB, chartQuantileColor, num(tx), y, anchor, chartQuantileColor, q.name, axisNum(q.v))
	}
	axes(&b, axisNum(lo), axisNum(hi), "0", "1", "value", "fraction of runs ≤ value")
	b.WriteString("</svg>")
	return b.String()
}

// rateSVG draws the failure rate with its 95% interval on a scale from 0 to
// a little above the interval's top (the zero-failure bound when no seed
// failed).
func rateSVG(s *Sweep) string {
	var b strings.Builder
	const w, h, l, r = 520, 70, 20, 20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="rate-svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, w, h, w, h)
	fmt.Fprintf(&b, `<title>failure rate with its 95%% interval</title><rect width="%d" height="%d" fill="#ffffff"/>`, w, h)
	top := s.CI95[1]
	if s.ZeroFailureUpper95 != nil {
		top = *s.ZeroFailureUpper95
	}
	scale := math.Min(1, math.Max(top*1.25, 1e-12))
	xOf := func(v float64) float64 { return l + (w-l-r)*v/scale }
	y := 30.0
	fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s"/>`, l, num(y+14), w-r, num(y+14), chartAxisColour)
	fmt.Fprintf(&b, `<text x="%d" y="%s" fill="#475569">0</text><text x="%d" y="%s" text-anchor="end" fill="#475569">%s</text>`,
		l, num(y+28), w-r, num(y+28), esc(Sci(scale)))
	lo, hi := s.CI95[0], s.CI95[1]
	if s.ZeroFailureUpper95 != nil {
		lo, hi = 0, *s.ZeroFailureUpper95
	}
	fmt.Fprintf(&b, `<rect class="interval" x="%s" y="%s" width="%s" height="12" fill="#bfdbfe"><title>95%% interval %s</title></rect>`,
		num(xOf(lo)), num(y), num(math.Max(xOf(hi)-xOf(lo), 1)), esc(ci([2]float64{lo, hi})))
	fmt.Fprintf(&b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/>`, num(xOf(s.FailureRate)), num(y-4), num(xOf(s.FailureRate)), num(y+16), colFail)
	label := fmt.Sprintf("failure rate %s, 95%% interval %s", Sci(s.FailureRate), ci([2]float64{lo, hi}))
	if s.ZeroFailureUpper95 != nil {
		label = fmt.Sprintf("no failure: the rate is below %s at 95%% confidence", Sci(hi))
	}
	fmt.Fprintf(&b, `<text x="%d" y="18" fill="#0f172a">%s</text>`, l, esc(label))
	b.WriteString("</svg>")
	return b.String()
}
