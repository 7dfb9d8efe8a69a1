package reports_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/detsim/detsim/reports"
)

func TestClopperPearsonKnownValues(t *testing.T) {
	// Reference values from R's binom.test(x, n)$conf.int.
	for _, c := range []struct {
		x, n   int
		lo, hi float64
	}{
		{5, 100, 0.01643187, 0.11283491},
		{0, 10, 0, 0.30849710},
		{10, 10, 0.69150290, 1},
		{1, 1000, 0.0000253, 0.00555811},
		{50, 100, 0.39832113, 0.60167887},
	} {
		lo, hi := reports.ClopperPearson(c.x, c.n, 0.95)
		assert.InDelta(t, c.lo, lo, 1e-6, "lo of %d/%d", c.x, c.n)
		assert.InDelta(t, c.hi, hi, 1e-6, "hi of %d/%d", c.x, c.n)
	}
	lo, hi := reports.ClopperPearson(0, 0, 0.95)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{lo, hi}, "no runs: nothing is known")
	lo, _ = reports.ClopperPearson(0, 500, 0.95)
	assert.Equal(t, 0.0, lo, "x = 0: lower bound is exactly 0")
	_, hi = reports.ClopperPearson(500, 500, 0.95)
	assert.Equal(t, 1.0, hi, "x = n: upper bound is exactly 1")
}

func TestClopperPearsonPanicsOnBadCounts(t *testing.T) {
	assert.Panics(t, func() { reports.ClopperPearson(5, 3, 0.95) })
	assert.Panics(t, func() { reports.ClopperPearson(-1, 3, 0.95) })
	assert.Panics(t, func() { reports.ClopperPearson(1, 3, 1) })
}

func TestZeroFailureUpper(t *testing.T) {
	u := reports.ZeroFailureUpper(100_000, 0.95)
	assert.InDelta(t, 2.9957e-5, u, 1e-9)
	// The one-sided bound at 95% is the two-sided 90% Clopper-Pearson hi.
	_, hi := reports.ClopperPearson(0, 300, 0.90)
	assert.InDelta(t, hi, reports.ZeroFailureUpper(300, 0.95), 1e-12)
	assert.Equal(t, 1.0, reports.ZeroFailureUpper(0, 0.95))
	assert.Equal(t,
		"0 failures in 100,000 seeds: the failure rate is below 3.0e-5 at 95% confidence",
		reports.ZeroFailureSentence(100_000, 0.95))
}

func TestQuantilesNearestRank(t *testing.T) {
	vals := []float64{15, 20, 35, 40, 50}
	// The textbook nearest-rank example (Wikipedia "Percentile").
	assert.Equal(t, []float64{15, 15, 20, 35, 50, 50}, reports.Quantiles(vals, 0, 0.05, 0.3, 0.5, 0.99, 1))
	shuffled := []float64{50, 15, 40, 20, 35}
	assert.Equal(t, reports.Quantiles(vals, 0.4), reports.Quantiles(shuffled, 0.4))
	assert.Equal(t, []float64{50, 15, 40, 20, 35}, shuffled, "input not modified")
	q := reports.Quantiles(nil, 0.5)
	assert.True(t, math.IsNaN(q[0]))
	assert.Panics(t, func() { reports.Quantiles(vals, 1.5) })
}

func TestSummarize(t *testing.T) {
	vals := make([]float64, 0, 200)
	for i := 200; i >= 1; i-- {
		vals = append(vals, float64(i))
	}
	s := reports.Summarize(vals)
	assert.Equal(t, reports.Summary{Count: 200, Mean: 100.5, P50: 100, P99: 198, Max: 200}, s)
	empty := reports.Summarize(nil)
	assert.Equal(t, 0, empty.Count)
	assert.True(t, math.IsNaN(empty.Mean) && math.IsNaN(empty.P50) && math.IsNaN(empty.Max))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "3.0e-5", reports.Sci(2.9957e-5))
	assert.Equal(t, "1.2e-4", reports.Sci(1.2e-4))
	assert.Equal(t, "19.40%", reports.Sci(0.194))
	assert.Equal(t, "0", reports.Sci(0))
	assert.Equal(t, "1", reports.Sci(1))
	assert.Equal(t, "100,000", reports.Count(100000))
	assert.Equal(t, "999", reports.Count(999))
	assert.Equal(t, "1,000,000", reports.Count(1000000))
	assert.Equal(t, "5.00% [1.64%, 11.28%]", reports.Rate(5, 100))
	assert.Equal(t, "no runs", reports.Rate(0, 0))
}

func TestHistogramSummariesMatchTheExpandedValues(t *testing.T) {
	// Integer values (metric counts): every field equals Summarize's on
	// the expanded values, the mean included; any order of pairs.
	hist := [][2]float64{{7, 3}, {0, 120}, {2, 41}, {1, 77}, {3, 9}, {12, 1}}
	var vals []float64
	for _, h := range hist {
		for range int(h[1]) {
			vals = append(vals, h[0])
		}
	}
	assert.Equal(t, reports.Summarize(vals), reports.SummarizeHist(hist))
	qs := []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1}
	assert.Equal(t, reports.Quantiles(vals, qs...), reports.HistQuantiles(hist, qs...))

	// Arbitrary values: the quantiles are the same values, at every rank.
	hist = hist[:0]
	vals = vals[:0]
	for i := range 300 {
		v, n := math.Sqrt(float64(i*7919%1000))/3, 1+i%5
		hist = append(hist, [2]float64{v, float64(n)})
		for range n {
			vals = append(vals, v)
		}
	}
	for k := 0; k <= 1000; k++ {
		q := float64(k) / 1000
		assert.Equal(t, reports.Quantiles(vals, q), reports.HistQuantiles(hist, q), "q=%v", q)
	}
	s, want := reports.SummarizeHist(hist), reports.Summarize(vals)
	assert.Equal(t, want.Count, s.Count)
	assert.InDelta(t, want.Mean, s.Mean, 1e-12)

	empty := reports.SummarizeHist(nil)
	assert.Zero(t, empty.Count)
	assert.True(t, math.IsNaN(empty.Mean) && math.IsNaN(empty.P50) && math.IsNaN(empty.Max))

	// A sweep of ten million seeds summarises without expanding its counts.
	big := reports.SummarizeHist([][2]float64{{0, 9_999_000}, {1, 1000}})
	assert.Equal(t, reports.Summary{Count: 10_000_000, Mean: 1e-4, P50: 0, P99: 0, Max: 1}, big)
}
