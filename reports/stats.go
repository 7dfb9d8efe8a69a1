// Package reports turns the results of simulation runs into statistics and
// text: exact binomial confidence intervals for failure rates, the
// zero-failure upper bound, and quantile summaries of per-run metrics.
//
// The functions are pure: equal inputs give equal outputs, whatever order
// the runs finished in, so a sweep's report is the same for any number of
// workers and a merge of shards equals the unsharded sweep.
package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// ClopperPearson returns the two-sided exact (Clopper-Pearson) confidence
// interval at level conf (e.g. 0.95) for a failure probability, having seen
// failures in runs independent runs. With no failures lo is 0; with every
// run failing hi is 1; with no runs the interval is [0, 1].
//
// It panics if failures is outside [0, runs] or conf outside (0, 1): those
// are programming errors, not data.
func ClopperPearson(failures, runs int, conf float64) (lo, hi float64) {
	checkCounts(failures, runs)
	checkConf(conf)
	if runs == 0 {
		return 0, 1
	}
	alpha := 1 - conf
	x, n := float64(failures), float64(runs)
	lo, hi = 0, 1
	if failures > 0 {
		lo = distuv.Beta{Alpha: x, Beta: n - x + 1}.Quantile(alpha / 2)
	}
	if failures < runs {
		hi = distuv.Beta{Alpha: x + 1, Beta: n - x}.Quantile(1 - alpha/2)
	}
	return lo, hi
}

// ZeroFailureUpper is the one-sided upper confidence bound at level conf on
// the failure probability when none of runs runs failed: the p for which
// seeing no failure in runs runs has probability 1-conf, 1-(1-conf)^(1/runs).
// For 100,000 runs at 95% it is about 3.0e-5 (the "rule of three": 3/n).
// With no runs it is 1.
func ZeroFailureUpper(runs int, conf float64) float64 {
	checkCounts(0, runs)
	checkConf(conf)
	if runs == 0 {
		return 1
	}
	// -expm1(log(1-conf)/n) is 1-(1-conf)^(1/n) without cancellation for
	// large n.
	return -math.Expm1(math.Log1p(-conf) / float64(runs))
}

// ZeroFailureSentence states the zero-failure bound for people, e.g.
// "0 failures in 100,000 seeds: the failure rate is below 3.0e-5 at 95%
// confidence".
func ZeroFailureSentence(runs int, conf float64) string {
	return fmt.Sprintf("0 failures in %s seeds: the failure rate is below %s at %s confidence",
		Count(runs), Sci(ZeroFailureUpper(runs, conf)), strconv.FormatFloat(conf*100, 'f', -1, 64)+"%")
}

func checkCounts(failures, runs int) {
	if runs < 0 || failures < 0 || failures > runs {
		panic(fmt.Sprintf("reports: %d failures in %d runs", failures, runs))
	}
}

func checkConf(conf float64) {
	if !(conf > 0 && conf < 1) {
		panic(fmt.Sprintf("reports: confidence level %v is not in (0, 1)", conf))
	}
}

// Quantiles returns the nearest-rank quantiles qs (each in [0, 1]) of
// values: for q, the smallest value v such that at least a fraction q of the
// values are <= v (q = 0 gives the minimum, q = 1 the maximum). values is
// not modified; with no values every quantile is NaN.
func Quantiles(values []float64, qs ...float64) []float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return quantilesSorted(sorted, qs)
}

func quantilesSorted(sorted []float64, qs []float64) []float64 {
	return weightedQuantiles(sorted, nil, qs)
}

// weightedQuantiles returns the nearest-rank quantiles of sorted values x,
// each counted weights[i] times (once with nil weights): gonum's empirical
// quantile, the lowest x whose cumulative weight reaches q of the total,
// which is the nearest-rank definition.
func weightedQuantiles(x, weights []float64, qs []float64) []float64 {
	out := make([]float64, len(qs))
	for i, q := range qs {
		if q < 0 || q > 1 || math.IsNaN(q) {
			panic(fmt.Sprintf("reports: quantile %v is not in [0, 1]", q))
		}
		if len(x) == 0 {
			out[i] = math.NaN()
			continue
		}
		out[i] = stat.Quantile(q, stat.Empirical, x, weights)
	}
	return out
}

// HistQuantiles returns the nearest-rank quantiles qs of a distribution
// given as [value, count] pairs (counts positive), without expanding it:
// the same numbers Quantiles gives for the expanded values. With no pairs
// every quantile is NaN.
func HistQuantiles(hist [][2]float64, qs ...float64) []float64 {
	x, w := splitHist(hist)
	return weightedQuantiles(x, w, qs)
}

// SummarizeHist is Summarize for a distribution given as [value, count]
// pairs (counts positive; any order): count, weighted mean (gonum's
// stat.Mean), nearest-rank p50 and p99, and maximum. Its cost does not grow
// with the counts, so a sweep of millions of seeds summarises as fast as a
// small one. With no pairs every field but Count is NaN.
func SummarizeHist(hist [][2]float64) Summary {
	x, w := splitHist(hist)
	s := Summary{Mean: math.NaN(), Max: math.NaN()}
	for _, c := range w {
		s.Count += int(c)
	}
	q := weightedQuantiles(x, w, []float64{0.5, 0.99})
	s.P50, s.P99 = q[0], q[1]
	if len(x) > 0 {
		s.Mean = stat.Mean(x, w)
		s.Max = x[len(x)-1]
	}
	return s
}

// splitHist returns a histogram's values and counts, sorted by value.
func splitHist(hist [][2]float64) (x, w []float64) {
	sorted := slices.Clone(hist)
	slices.SortStableFunc(sorted, func(a, b [2]float64) int { return cmp.Compare(a[0], b[0]) })
	x, w = make([]float64, len(sorted)), make([]float64, len(sorted))
	for i, h := range sorted {
		x[i], w[i] = h[0], h[1]
	}
	return x, w
}

// Summary describes the distribution of one metric over a sweep's runs.
type Summary struct {
	// Count is the number of runs that recorded the metric.
	Count int
	// Mean is the arithmetic mean; P50 and P99 are nearest-rank quantiles.
	Mean, P50, P99, Max float64
}

// Summarize computes a metric's Summary. The mean is summed in sorted
// order, so it does not depend on the order of values (a sweep with any
// number of workers, or a merge of shards, gives the same bits). With no
// values every field but Count is NaN.
func Summarize(values []float64) Summary {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	s := Summary{Count: len(sorted), Mean: math.NaN(), Max: math.NaN()}
	q := quantilesSorted(sorted, []float64{0.5, 0.99})
	s.P50, s.P99 = q[0], q[1]
	if len(sorted) > 0 {
		sum := 0.0
		for _, v := range sorted {
			sum += v
		}
		s.Mean = sum / float64(len(sorted))
		s.Max = sorted[len(sorted)-1]
	}
	return s
}

// Sci renders a probability compactly: "0", "1", two significant digits in
// scientific notation below 1e-3 ("3.0e-5"), else a percentage with up to
// two decimals ("0.74%", "19.40%").
func Sci(p float64) string {
	switch {
	case p == 0:
		return "0"
	case p == 1:
		return "1"
	case p < 1e-3:
		s := strconv.FormatFloat(p, 'e', 1, 64) // "3.0e-05"
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		if sign == "+" {
			sign = ""
		}
		return mant + "e" + sign + strings.TrimLeft(exp[1:], "0")
	default:
		return strconv.FormatFloat(100*p, 'f', 2, 64) + "%"
	}
}

// Count renders a non-negative count with thousands separators: 100000 is
// "100,000".
func Count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Rate renders failures out of runs with the two-sided 95% Clopper-Pearson
// interval: "19.40% [16.0%, 23.1%]" style (see Sci for the number format).
func Rate(failures, runs int) string {
	if runs == 0 {
		return "no runs"
	}
	lo, hi := ClopperPearson(failures, runs, 0.95)
	return fmt.Sprintf("%s [%s, %s]", Sci(float64(failures)/float64(runs)), Sci(lo), Sci(hi))
}
