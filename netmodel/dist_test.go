package netmodel

import (
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
)

const distMs = time.Millisecond

func TestDistValidate(t *testing.T) {
	valid := []Dist{
		{}, Constant(10 * distMs), Uniform(distMs, 5*distMs), Uniform(3*distMs, 3*distMs), Normal(10*distMs, 0),
		Normal(0, 2*distMs), LogNormal(10*distMs, 0), LogNormal(10*distMs, 1.5), Pareto(5*distMs, 1.5),
		Pareto(distMs, 0.5).Capped(time.Second), Constant(distMs).Capped(0),
	}
	for _, d := range valid {
		if err := d.Validate(); err != nil {
			t.Errorf("%v.Validate() = %v, want nil", d, err)
		}
	}
	for _, tc := range []struct {
		d    Dist
		want string
	}{
		{Constant(-distMs), "constant latency = -1ms: must be >= 0"},
		{Uniform(-distMs, distMs), "uniform latency min = -1ms: must be >= 0"},
		{Uniform(distMs, -distMs), "uniform latency max = -1ms: must be >= 0"},
		{Uniform(5*distMs, distMs), "uniform latency range 5ms-1ms is inverted (min > max)"},
		{Normal(-distMs, distMs), "normal mean = -1ms: must be >= 0"},
		{Normal(10*distMs, -2*distMs), "normal stddev = -2ms: must be >= 0"},
		{LogNormal(0, 0.5), "lognormal median = 0s: must be > 0"},
		{LogNormal(-distMs, 0.5), "lognormal median = -1ms: must be > 0"},
		{LogNormal(distMs, -0.5), "lognormal sigma = -0.5: must be >= 0"},
		{LogNormal(distMs, math.NaN()), "lognormal sigma = NaN: must be a finite number"},
		{LogNormal(distMs, math.Inf(1)), "lognormal sigma = +Inf: must be a finite number"},
		{Pareto(0, 1.5), "pareto min = 0s: must be > 0"},
		{Pareto(-distMs, 1.5), "pareto min = -1ms: must be > 0"},
		{Pareto(distMs, 0), "pareto alpha = 0: must be > 0"},
		{Pareto(distMs, -1), "pareto alpha = -1: must be > 0"},
		{Pareto(distMs, math.NaN()), "pareto alpha = NaN: must be a finite number"},
		{Pareto(distMs, math.Inf(1)), "pareto alpha = +Inf: must be a finite number"},
		{Dist{Kind: DistConstant, A: distMs, B: -distMs}, "const B = -1ms: must be >= 0"},
		{Constant(distMs).Capped(-time.Second), "max = -1s: must be >= 0"},
		{Pareto(distMs, 1).Capped(-1), "max = -1ns"},
		{Dist{Kind: 7}, "unknown distribution kind 7"},
	} {
		err := tc.d.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%#v.Validate() = %v, want an error containing %q", tc.d, err, tc.want)
		}
	}
}

// distSamples draws n samples of d from a fixed seed, in float64 nanoseconds.
func distSamples(d Dist, n int) []float64 {
	r := sim.NewRand(1)
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(d.Sample(r))
	}
	return out
}

func distMeanStd(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func distMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func distWithin(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s = %.6g, want %.6g ± %g%%", what, got, want, rel*100)
	}
}

const distN = 200_000

func TestDistSampleConstant(t *testing.T) {
	for _, x := range distSamples(Constant(7*distMs), 1000) {
		if x != float64(7*distMs) {
			t.Fatalf("Constant(7ms) sampled %v", time.Duration(x))
		}
	}
}

func TestDistSampleUniform(t *testing.T) {
	xs := distSamples(Uniform(distMs, 5*distMs), distN)
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo < float64(distMs) || hi > float64(5*distMs) {
		t.Errorf("Uniform(1ms, 5ms) sampled outside the range: [%v, %v]", time.Duration(lo), time.Duration(hi))
	}
	// The extremes are approached (the expected gap is 4ms/200000 = 20ns).
	if lo > float64(distMs+2*time.Microsecond) || hi < float64(5*distMs-2*time.Microsecond) {
		t.Errorf("Uniform(1ms, 5ms) range [%v, %v] does not approach the bounds", time.Duration(lo), time.Duration(hi))
	}
	m, s := distMeanStd(xs)
	distWithin(t, "Uniform mean", m, float64(3*distMs), 0.01)
	distWithin(t, "Uniform stddev", s, float64(4*distMs)/math.Sqrt(12), 0.01)

	// A degenerate range, and a range whose width+1 overflows int64.
	r := sim.NewRand(3)
	for range 100 {
		if v := Uniform(3*distMs, 3*distMs).Sample(r); v != 3*distMs {
			t.Fatalf("Uniform(3ms, 3ms) sampled %v", v)
		}
		if v := Uniform(0, math.MaxInt64).Sample(r); v < 0 {
			t.Fatalf("Uniform(0, MaxInt64) sampled %v", v)
		}
	}
}

func TestDistSampleNormal(t *testing.T) {
	xs := distSamples(Normal(10*distMs, 2*distMs), distN)
	m, s := distMeanStd(xs)
	distWithin(t, "Normal mean", m, float64(10*distMs), 0.02)
	distWithin(t, "Normal stddev", s, float64(2*distMs), 0.02)
	// Irwin–Hall is bounded at ±6σ.
	if lo, hi := slices.Min(xs), slices.Max(xs); lo < float64(-2*distMs) || hi > float64(22*distMs) {
		t.Errorf("Normal(10ms, 2ms) sampled [%v, %v], beyond ±6σ", time.Duration(lo), time.Duration(hi))
	}
	// Truncation at 0: a mean of one stddev clamps about 16% of samples.
	zeros := 0
	for _, x := range distSamples(Normal(distMs, distMs), distN) {
		if x < 0 {
			t.Fatalf("Normal(1ms, 1ms) sampled %v", time.Duration(x))
		}
		if x == 0 {
			zeros++
		}
	}
	distWithin(t, "Normal(1ms, 1ms) fraction at 0", float64(zeros)/distN, 0.1587, 0.03)
}

func TestDistSampleLogNormal(t *testing.T) {
	for _, sigma := range []float64{0.25, 0.5, 1} {
		xs := distSamples(LogNormal(10*distMs, sigma), distN)
		distWithin(t, "LogNormal median", distMedian(xs), float64(10*distMs), 0.02)
		m, _ := distMeanStd(xs)
		distWithin(t, "LogNormal mean", m, float64(10*distMs)*math.Exp(sigma*sigma/2), 0.01)
		if slices.Min(xs) <= 0 {
			t.Errorf("LogNormal sampled %v", time.Duration(slices.Min(xs)))
		}
	}
	for _, x := range distSamples(LogNormal(10*distMs, 0), 100) {
		if x != float64(10*distMs) {
			t.Fatalf("LogNormal(10ms, 0) sampled %v", time.Duration(x))
		}
	}
}

func TestDistSamplePareto(t *testing.T) {
	for _, alpha := range []float64{0.5, 1, 1.5, 3} {
		xs := distSamples(Pareto(5*distMs, alpha), distN)
		if lo := slices.Min(xs); lo < float64(5*distMs) {
			t.Errorf("Pareto(5ms, %v) sampled %v below its minimum", alpha, time.Duration(lo))
		}
		distWithin(t, "Pareto median", distMedian(xs), float64(5*distMs)*math.Exp2(1/alpha), 0.02)
		if alpha > 2 { // finite variance: the sample mean converges
			m, _ := distMeanStd(xs)
			distWithin(t, "Pareto mean", m, float64(5*distMs)*alpha/(alpha-1), 0.02)
		}
	}
}

func TestDistSampleMaxAndSaturation(t *testing.T) {
	for _, tc := range []struct {
		d     Dist
		limit time.Duration
	}{
		{Pareto(distMs, 0.5).Capped(100 * distMs), 100 * distMs},
		{LogNormal(10*distMs, 2).Capped(50 * distMs), 50 * distMs},
		{Normal(10*distMs, 5*distMs).Capped(12 * distMs), 12 * distMs},
		{Uniform(distMs, 9*distMs).Capped(2 * distMs), 2 * distMs},
		{Constant(5 * distMs).Capped(2 * distMs), 2 * distMs},
		// Unbounded kinds saturate at sampleLimit rather than overflow.
		{Pareto(time.Hour, 0.05), sampleLimit},
		{Pareto(time.Second, 1e-12), sampleLimit},
		{LogNormal(time.Hour, 40), sampleLimit},
		{LogNormal(time.Hour, 1e300), sampleLimit},
		{Normal(900*time.Hour, 100*time.Hour), sampleLimit},
		{Normal(math.MaxInt64, math.MaxInt64), sampleLimit},
		{Pareto(time.Hour, 0.05).Capped(2000 * time.Hour), sampleLimit},
	} {
		hits := 0
		for _, x := range distSamples(tc.d, 20_000) {
			if x < 0 || x > float64(tc.limit) {
				t.Fatalf("%v sampled %v, outside [0, %v]", tc.d, time.Duration(x), tc.limit)
			}
			if x == float64(tc.limit) {
				hits++
			}
		}
		if hits == 0 {
			t.Errorf("%v never reached its limit %v", tc.d, tc.limit)
		}
	}
}

// Invalid distributions still sample deterministically, within [0, Max].
func TestDistSampleInvalid(t *testing.T) {
	for _, d := range []Dist{
		Constant(-distMs), Uniform(5*distMs, distMs), Uniform(-5*distMs, -distMs), Normal(-distMs, -distMs),
		LogNormal(-distMs, 1), LogNormal(distMs, math.NaN()), LogNormal(distMs, -1), LogNormal(distMs, math.Inf(1)),
		Pareto(-distMs, 1), Pareto(0, 1), Pareto(distMs, 0), Pareto(distMs, math.NaN()), Pareto(distMs, math.Inf(-1)),
		Pareto(distMs, math.Inf(1)), Pareto(distMs, 1e300), {Kind: 99, A: distMs},
	} {
		r1, r2 := sim.NewRand(5), sim.NewRand(5)
		for range 1000 {
			v := d.Sample(r1)
			if v < 0 || v > sampleLimit && d.Kind != DistConstant {
				t.Fatalf("%v sampled %v", d, v)
			}
			if w := d.Sample(r2); w != v {
				t.Fatalf("%v: same seed sampled %v and %v", d, v, w)
			}
		}
	}
	// alpha -> infinity tends to the minimum.
	if v := Pareto(distMs, 1e300).Sample(sim.NewRand(1)); v != distMs {
		t.Errorf("Pareto(1ms, 1e300) sampled %v, want 1ms", v)
	}
}

// Each kind draws a fixed number of values (Sample's documentation).
func TestDistSampleDrawCount(t *testing.T) {
	for _, tc := range []struct {
		d     Dist
		draws int
	}{
		{Constant(distMs), 0}, {Uniform(distMs, 2*distMs), 1}, {Uniform(distMs, distMs), 1}, {Normal(distMs, distMs), 6},
		{Normal(distMs, 0), 6}, {LogNormal(distMs, 1), 6}, {Pareto(distMs, 1), 1},
	} {
		r1, r2 := sim.NewRand(9), sim.NewRand(9)
		tc.d.Sample(r1)
		for range tc.draws {
			r2.Uint64()
		}
		if r1.Uint64() != r2.Uint64() {
			t.Errorf("%v did not draw exactly %d values", tc.d, tc.draws)
		}
	}
}

// The fixed-point samples agree with the float formula on the same draws.
func TestDistSampleMatchesFloat(t *testing.T) {
	const n = 50_000
	worst := 0.0
	check := func(d Dist, got time.Duration, want float64) {
		t.Helper()
		want = math.Min(want, float64(sampleLimit))
		// Beyond the rounding to whole nanoseconds, the error is relative.
		err := max(0, math.Abs(float64(got)-want)-0.5) / want
		if err > 1e-8 {
			t.Fatalf("%v sampled %v, float formula %.3f: relative error %.3g", d, got, want, err)
		}
		worst = max(worst, err)
	}
	for _, sigma := range []float64{0.1, 0.5, 1, 2.5, 4} {
		d := LogNormal(10*distMs, sigma)
		r := sim.NewRand(11)
		for range n {
			r2 := *r
			var s uint64
			for range 6 {
				x := r2.Uint64()
				s += x>>32 + x&(1<<32-1)
			}
			z := (float64(s) + 6 - 6*(1<<32)) / (1 << 32)
			check(d, d.Sample(r), float64(d.A)*math.Exp(sigma*z))
		}
	}
	for _, alpha := range []float64{0.1, 0.3, 0.5, 1, 1.5, 4, 100, 1e6} {
		d := Pareto(5*distMs, alpha)
		r := sim.NewRand(12)
		for range n {
			r2 := *r
			u := float64(r2.Uint64()>>1+1) / (1 << 63)
			check(d, d.Sample(r), float64(d.A)*math.Pow(u, -1/alpha))
		}
	}
	t.Logf("worst relative error beyond rounding to 1ns: %.3g", worst)
}

// distGolden holds the first samples from sim.NewRand(42), as computed by this
// implementation. They must never change: a change here alters every
// simulation's latencies, and a mismatch on some GOARCH means the
// arithmetic is not architecture-independent.
var distGolden = []struct {
	d    Dist
	want []time.Duration
}{
	{Constant(10 * distMs), []time.Duration{10000000, 10000000, 10000000, 10000000, 10000000, 10000000, 10000000, 10000000}},
	{Uniform(distMs, 5*distMs), []time.Duration{3966260, 1639641, 2114404, 2376763, 1152120, 4472913, 1873620, 4202528}},
	{Normal(10*distMs, 2*distMs), []time.Duration{5645898, 7014867, 9013317, 6703909, 9735814, 10706905, 7559860, 11096120}},
	{Normal(distMs, distMs), []time.Duration{0, 0, 506659, 0, 867907, 1353452, 0, 1548060}},
	{LogNormal(10*distMs, 0.5), []time.Duration{3367126, 4741254, 7813980, 4386634, 9360873, 11933044, 5433319, 13152542}},
	{LogNormal(10*distMs, 3), []time.Duration{14573, 113595, 2276322, 71251, 6728187, 28874029, 257271, 51767620}},
	{Pareto(5*distMs, 1.5), []time.Duration{6102914, 16971447, 11721452, 10180534, 44213121, 5493900, 13786733, 5798933}},
	{Pareto(distMs, 0.7).Capped(50 * distMs), []time.Duration{1532855, 13718891, 6206998, 4588973, 50000000, 1223675, 8788405, 1373893}},
	{Pareto(time.Second, 0.1), []time.Duration{19884215887, 3600000000000000, 354953334109707, 42855688440890, 3600000000000000, 4108296143, 3600000000000000, 9239984167}},
}

func TestDistSampleGolden(t *testing.T) {
	for _, g := range distGolden {
		r := sim.NewRand(42)
		got := make([]time.Duration, len(g.want))
		for i := range got {
			got[i] = g.d.Sample(r)
		}
		if !slices.Equal(got, g.want) {
			t.Errorf("%v from NewRand(42):\n got %d\nwant %d", g.d, got, g.want)
		}
	}
}

func TestDistSampleAllocs(t *testing.T) {
	r := sim.NewRand(1)
	for _, g := range distGolden {
		if a := testing.AllocsPerRun(100, func() { g.d.Sample(r) }); a != 0 {
			t.Errorf("%v.Sample allocates %v times", g.d, a)
		}
	}
}

func TestDistMean(t *testing.T) {
	for _, tc := range []struct {
		d   Dist
		rel float64
	}{
		{Constant(7 * distMs), 0},
		{Constant(7 * distMs).Capped(5 * distMs), 0},
		{Uniform(distMs, 5*distMs), 0.01},
		{Uniform(distMs, 5*distMs).Capped(2 * distMs), 0.01},
		{Normal(10*distMs, 2*distMs), 0.01},
		{Normal(distMs, distMs), 0.01},
		{Normal(10*distMs, 2*distMs).Capped(11 * distMs), 0.01},
		{LogNormal(10*distMs, 0.5), 0.01},
		{LogNormal(10*distMs, 1).Capped(30 * distMs), 0.01},
		{Pareto(5*distMs, 3), 0.02},
		{Pareto(distMs, 1).Capped(time.Second), 0.03},
		{Pareto(distMs, 0.7).Capped(50 * distMs), 0.02},
	} {
		m, _ := distMeanStd(distSamples(tc.d, distN))
		distWithin(t, tc.d.String()+" sample mean vs Mean()", m, float64(tc.d.Mean()), tc.rel+1e-9)
	}
	if m := Pareto(distMs, 0.5).Mean(); m <= 0 || m > sampleLimit {
		t.Errorf("uncapped Pareto(1ms, 0.5).Mean() = %v, want in (0, %v]", m, sampleLimit)
	}
}

func TestParseDistRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		d Dist
		s string
	}{
		{Dist{}, "const:0s"},
		{Constant(10 * distMs), "const:10ms"},
		{Uniform(distMs, 5*distMs), "uniform:1ms-5ms"},
		{Uniform(1500*time.Microsecond, time.Hour), "uniform:1.5ms-1h0m0s"},
		{Normal(10*distMs, 2*distMs), "normal:10ms,2ms"},
		{LogNormal(10*distMs, 0.5), "lognormal:10ms,0.5"},
		{LogNormal(distMs, 0.1), "lognormal:1ms,0.1"},
		{Pareto(5*distMs, 1.5), "pareto:5ms,1.5"},
		{Pareto(5*distMs, 1.5).Capped(2 * time.Second), "pareto:5ms,1.5,max=2s"},
		{Normal(10*distMs, 3*distMs).Capped(15 * distMs), "normal:10ms,3ms,max=15ms"},
		{Pareto(time.Nanosecond, 1.0/3), "pareto:1ns,0.3333333333333333"},
	} {
		if got := tc.d.String(); got != tc.s {
			t.Errorf("%#v.String() = %q, want %q", tc.d, got, tc.s)
		}
		got, err := ParseDist(tc.s)
		if err != nil || got != tc.d {
			t.Errorf("ParseDist(%q) = %#v, %v; want %#v", tc.s, got, err, tc.d)
		}
	}
	// Lenient spellings.
	for s, want := range map[string]Dist{ //detsim:allow independent cases; order does not matter
		"10ms":                            Constant(10 * distMs),
		" Pareto : 5ms , 1.5 , max = 2s ": Pareto(5*distMs, 1.5).Capped(2 * time.Second),
		"constant:3ms":                    Constant(3 * distMs),
		"uniform:0s-1s":                   Uniform(0, time.Second),
		"LogNormal:1s,2e-1":               LogNormal(time.Second, 0.2),
	} {
		got, err := ParseDist(s)
		if err != nil || got != want {
			t.Errorf("ParseDist(%q) = %#v, %v; want %#v", s, got, err, want)
		}
	}
}

func TestParseDistErrors(t *testing.T) {
	for _, tc := range []struct{ s, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"uniform:5ms-1ms", "uniform latency range 5ms-1ms is inverted"},
		{"normal:x", `"x"`},
		{"normal:x,1ms", `bad mean "x"`},
		{"normal:1ms,y", `bad stddev "y"`},
		{"zipf:1ms", `unknown kind "zipf"`},
		{"pareto:1ms,0", "pareto alpha = 0: must be > 0"},
		{"pareto:1ms,NaN", "pareto alpha = NaN: must be a finite number"},
		{"pareto:0s,1", "pareto min = 0s: must be > 0"},
		{"pareto:1ms", `pareto takes MIN,ALPHA, got "1ms"`},
		{"const:-1ms", "constant latency = -1ms: must be >= 0"},
		{"const:", `bad latency ""`},
		{"const:1ms,2ms", `const takes one duration, got "1ms,2ms"`},
		{"10", "missing kind prefix"},
		{"uniform:1ms", `uniform range "1ms": want MIN-MAX`},
		{"uniform:1ms-", `bad max ""`},
		{"uniform:abc-1ms", `bad min "abc"`},
		{"uniform:-1ms-5ms", "uniform latency min = -1ms"},
		{"lognormal:10ms,abc", `bad sigma "abc"`},
		{"lognormal:10ms,-1", "lognormal sigma = -1: must be >= 0"},
		{"const:10ms,max=abc", `bad max "abc"`},
		{"const:10ms,max=-1s", "max = -1s: must be >= 0"},
		{"const:10ms,foo=1", `unknown option "foo=1"`},
		{"const:10ms,max=1s,max=2s", `duplicate option "max=2s"`},
		{"normal:1ms,max=1s,2ms", `parameter "2ms" after max=`},
	} {
		d, err := ParseDist(tc.s)
		if err == nil {
			t.Errorf("ParseDist(%q) = %v, want an error", tc.s, d)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "distribution ") {
			t.Errorf("ParseDist(%q) error %q, want it to contain %q", tc.s, err, tc.want)
		}
	}
}

// Fixed-point helpers.

// fixedTestInputs returns n values spread over all magnitudes, plus edge cases.
func fixedTestInputs(n int) []uint64 {
	xs := []uint64{1, 2, 3, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1 << 33, math.MaxUint64, math.MaxUint64 - 1, 1 << 63}
	for i := range 64 {
		xs = append(xs, 1<<i, 1<<i|1<<i>>1, (1<<i)*65/64, (1<<i)*127/64)
	}
	r := sim.NewRand(77)
	for len(xs) < n {
		if x := r.Uint64() >> r.Intn(64); x != 0 {
			xs = append(xs, x)
		}
	}
	return xs
}

func TestFixedLog2(t *testing.T) {
	worst := 0.0
	for _, x := range fixedTestInputs(500_000) {
		got := float64(log2Fixed(x)) / (1 << 32)
		want := math.Log2(float64(x)) - 32
		err := math.Abs(got - want)
		worst = max(worst, err)
		// Rounding to Q32.32 contributes 2^-33; the rest is below 2^-37.
		if err > 0x1p-33+0x1p-36 {
			t.Fatalf("log2Fixed(%#x) = %v, want %v (error %.3g)", x, got, want, err)
		}
		if math.Abs(want) > 1e-3 && err > 1e-6*math.Abs(want) {
			t.Fatalf("log2Fixed(%#x): relative error %.3g", x, err/math.Abs(want))
		}
	}
	t.Logf("log2Fixed: worst absolute error %.3g (2^%.1f)", worst, math.Log2(worst))
	for i := range 64 { // powers of two are exact
		if got, want := log2Fixed(1<<i), int64(i-32)<<32; got != want {
			t.Errorf("log2Fixed(1<<%d) = %#x, want %#x", i, got, want)
		}
	}
	if log2Fixed(0) != math.MinInt64 {
		t.Errorf("log2Fixed(0) = %d", log2Fixed(0))
	}
}

// log2Mant's Q2.62 core is much more precise than the Q32.32 result.
func TestFixedLog2Mant(t *testing.T) {
	worst := 0.0
	for _, x := range fixedTestInputs(200_000) {
		m := x << bits.LeadingZeros64(x)
		got := float64(log2Mant(m)) / (1 << 62)
		want := math.Log2(float64(m) / (1 << 63))
		worst = max(worst, math.Abs(got-want))
	}
	t.Logf("log2Mant: worst absolute error %.3g (2^%.1f)", worst, math.Log2(worst))
	if worst > 0x1p-36 {
		t.Errorf("log2Mant: worst absolute error %.3g, want < 2^-36", worst)
	}
}

func TestFixedExp2Frac(t *testing.T) {
	worst := 0.0
	r := sim.NewRand(5)
	for i := range 500_000 {
		f := uint32(r.Uint64())
		if i < 1<<12 {
			f = uint32(i) << 20 // a regular grid, including every table point
		}
		got := float64(exp2Frac(f)) / (1 << 62)
		want := math.Exp2(float64(f) / (1 << 32))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if got := exp2Frac(math.MaxUint32); got >= 2<<62 {
		t.Errorf("exp2Frac(max) = %#x, not below 2", got)
	}
	t.Logf("exp2Frac: worst relative error %.3g (2^%.1f)", worst, math.Log2(worst))
	if worst > 1e-13 {
		t.Errorf("exp2Frac: worst relative error %.3g, want < 1e-13", worst)
	}
}

func TestFixedExp2(t *testing.T) {
	worst := 0.0
	r := sim.NewRand(6)
	for range 500_000 {
		x := int64(r.Uint64n(52<<32)) - 20<<32 // [-20, 32)
		got := float64(exp2Fixed(x)) / (1 << 32)
		want := math.Exp2(float64(x) / (1 << 32))
		err := math.Abs(got - want)
		if err > 0x1p-33+1e-12*want {
			t.Fatalf("exp2Fixed(%v) = %v, want %v", float64(x)/(1<<32), got, want)
		}
		if want >= 1.0/4096 {
			if err/want > 1e-6 {
				t.Fatalf("exp2Fixed(%v): relative error %.3g", float64(x)/(1<<32), err/want)
			}
			if want >= 1 {
				worst = max(worst, err/want)
			}
		}
	}
	t.Logf("exp2Fixed: worst relative error for results >= 1: %.3g", worst)
	for i := -32; i < 32; i++ { // powers of two are exact
		if got, want := exp2Fixed(int64(i)<<32), uint64(1)<<(32+i); got != want {
			t.Errorf("exp2Fixed(%d) = %#x, want %#x", i, got, want)
		}
	}
	for _, tc := range []struct {
		x    int64
		want uint64
	}{
		{32 << 32, math.MaxUint64},
		{math.MaxInt64, math.MaxUint64},
		{-33 << 32, 1}, // 2^-33 in Q32.32 is half a unit: rounds up
		{-33<<32 - 1, 0},
		{-34 << 32, 0},
		{math.MinInt64, 0},
	} {
		if got := exp2Fixed(tc.x); got != tc.want {
			t.Errorf("exp2Fixed(%#x) = %#x, want %#x", tc.x, got, tc.want)
		}
	}
}

func TestFixedMulExp2(t *testing.T) {
	const max64 = math.MaxUint64
	for _, tc := range []struct {
		a    uint64
		e    int64
		want uint64
		ok   bool
	}{
		{0, 1000 << 32, 0, true},
		{1, 0, 1, true},
		{max64, 0, max64, true},
		{1 << 62, 1 << 32, 1 << 63, true},
		{1 << 63, 1 << 32, 0, false},
		{1, 63 << 32, 1 << 63, true},
		{1, 64 << 32, 0, false},
		{3, 62 << 32, 3 << 62, true},
		{5, 62 << 32, 0, false},
		{3, 63 << 32, 0, false},
		{3, -1 << 32, 2, true}, // 1.5 rounds half up
		{1, -1 << 32, 1, true}, // 0.5 rounds half up
		{1, -2 << 32, 0, true},
		{max64, -64 << 32, 1, true},
		{max64, -65 << 32, 0, true},   // just below 1/2
		{max64, -64<<32 - 1, 1, true}, // k = -65: just below 1
		{max64, -66 << 32, 0, true},
		{1000, 1 << 31, 1414, true}, // 1000 * sqrt(2) = 1414.2
	} {
		got, ok := mulExp2(tc.a, tc.e)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("mulExp2(%#x, %#x) = %#x, %v; want %#x, %v", tc.a, tc.e, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFixedDivFloat(t *testing.T) {
	check := func(n uint64, f float64) {
		t.Helper()
		got, ok := divFloat(n, f)
		// Reference: floor(n / f) with exact rationals.
		var q big.Int
		var want uint64
		wantOK := f > 0
		if wantOK && !math.IsInf(f, 1) {
			r := new(big.Rat).Quo(new(big.Rat).SetUint64(n), new(big.Rat).SetFloat64(f))
			q.Quo(r.Num(), r.Denom())
			wantOK = q.IsUint64()
			want = q.Uint64()
		}
		if ok != wantOK || ok && got != want {
			t.Fatalf("divFloat(%d, %g) = %d, %v; want %d, %v", n, f, got, ok, want, wantOK)
		}
	}
	specials := []float64{
		0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 5e-324, 1e-300, 1e-20, 0x1p-32, 0.3, 0.5, 1,
		1.5, 3, 1e6, 0x1p62, 0x1p63, 0x1p64, 0x1p65, 1e300, math.MaxFloat64,
	}
	for _, f := range specials {
		for _, n := range []uint64{0, 1, 3, 1 << 32, 63 << 32, 1<<63 + 5, math.MaxUint64} {
			check(n, f)
		}
	}
	r := sim.NewRand(8)
	for range 20_000 {
		f := math.Float64frombits(r.Uint64() &^ (1 << 63)) // any positive value, NaN or +Inf
		f = math.Ldexp(f, -int(math.Float64bits(f)>>52)+1023+r.Intn(160)-80)
		check(r.Uint64()>>r.Intn(64), f)
	}
}

var distSink time.Duration

func BenchmarkDistSample(b *testing.B) {
	for _, d := range []Dist{
		Constant(10 * distMs), Uniform(distMs, 5*distMs), Normal(10*distMs, 2*distMs),
		LogNormal(10*distMs, 0.5), Pareto(5*distMs, 1.5),
	} {
		b.Run(kindName(d.Kind), func(b *testing.B) {
			r := sim.NewRand(1)
			b.ReportAllocs()
			for b.Loop() {
				distSink = d.Sample(r)
			}
		})
	}
}

var fixedSink uint64

func BenchmarkFixedLog2(b *testing.B) {
	x := uint64(0x123456789abcdef)
	for b.Loop() {
		fixedSink += uint64(log2Fixed(x))
		x += 0x9e3779b97f4a7c15
		x |= 1
	}
}

func BenchmarkFixedExp2(b *testing.B) {
	x := int64(0)
	for b.Loop() {
		fixedSink += exp2Fixed(x)
		x = (x + 0x9e3779b9) & (1<<36 - 1)
	}
}
