package netmodel

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/detsim/detsim/sim"
)

// sampleLimit bounds the samples of the unbounded kinds (Normal, LogNormal,
// Pareto): a tail sample saturates here instead of overflowing, and it stays
// far enough below math.MaxInt64 that a caller may add it (and a few more
// like it) to a virtual clock without wrapping. Constant and Uniform return
// their parameters as given.
const sampleLimit = 1000 * time.Hour

// maxSigma bounds a LogNormal's Shape before its conversion to Q32.32, so
// that the conversion never leaves the uint64 range. Beyond it a sample no
// longer changes in practice: with sigma = 2^20 every sample saturates at
// sampleLimit or 0 unless Z is exactly 0.
const maxSigma = 1 << 20

// Validate reports the first invalid parameter of d, naming it and its value.
func (d Dist) Validate() error {
	switch d.Kind {
	case DistConstant:
		if d.A < 0 {
			return fmt.Errorf("constant latency = %v: must be >= 0", d.A)
		}
	case DistUniform:
		if d.A < 0 {
			return fmt.Errorf("uniform latency min = %v: must be >= 0", d.A)
		}
		if d.B < 0 {
			return fmt.Errorf("uniform latency max = %v: must be >= 0", d.B)
		}
		if d.B < d.A {
			return fmt.Errorf("uniform latency range %v-%v is inverted (min > max)", d.A, d.B)
		}
	case DistNormal:
		if d.A < 0 {
			return fmt.Errorf("normal mean = %v: must be >= 0", d.A)
		}
		if d.B < 0 {
			return fmt.Errorf("normal stddev = %v: must be >= 0", d.B)
		}
	case DistLogNormal:
		if d.A <= 0 {
			return fmt.Errorf("lognormal median = %v: must be > 0", d.A)
		}
		if math.IsNaN(d.Shape) || math.IsInf(d.Shape, 0) {
			return fmt.Errorf("lognormal sigma = %v: must be a finite number >= 0", d.Shape)
		}
		if d.Shape < 0 {
			return fmt.Errorf("lognormal sigma = %v: must be >= 0", d.Shape)
		}
	case DistPareto:
		if d.A <= 0 {
			return fmt.Errorf("pareto min = %v: must be > 0", d.A)
		}
		if math.IsNaN(d.Shape) || math.IsInf(d.Shape, 0) {
			return fmt.Errorf("pareto alpha = %v: must be a finite number > 0", d.Shape)
		}
		if d.Shape <= 0 {
			return fmt.Errorf("pareto alpha = %v: must be > 0", d.Shape)
		}
	default:
		return fmt.Errorf("unknown distribution kind %d", d.Kind)
	}
	if d.B < 0 { // B is unused by this kind, but a negative one is a mistake
		return fmt.Errorf("%s B = %v: must be >= 0", kindName(d.Kind), d.B)
	}
	if d.Max < 0 {
		return fmt.Errorf("max = %v: must be >= 0 (0 means no cap)", d.Max)
	}
	return nil
}

// Sample draws one duration from d using r. The result is always >= 0 and,
// when Max > 0, at most Max.
//
// Sampling uses integer and fixed-point arithmetic only (see fixedpoint.go),
// so a given Rand state yields bit-identical samples on every architecture
// and Go release. Shape is the only float64 input: a LogNormal's sigma is
// converted to Q32.32 by an exact multiplication by 2^32 and a truncating
// conversion, and a Pareto's alpha is read from its IEEE 754 bits as an
// integer mantissa and exponent. The number of values drawn from r depends
// only on the kind: Constant none, Uniform one (Rand.Uint64n rarely rejects
// and draws again), Normal and LogNormal six, Pareto one.
//
//   - Constant: A.
//   - Uniform: an integer number of nanoseconds uniform over [A, B].
//   - Normal: A + B*Z, clamped at 0 (so a small mean gives an atom at 0),
//     where Z is the Irwin–Hall approximation of a standard normal: the sum
//     of twelve uniform 32-bit fractions minus 6. Its mean is 0 and its
//     variance 1, but it is bounded: |Z| < 6, so tails beyond ±6σ (which
//     have probability 2e-9 for a true normal) never occur, and the tails
//     inside are slightly thinner than a normal's.
//   - LogNormal: A * exp(Shape*Z) with the same Z, computed as
//     A * 2^(Shape*log2(e)*Z); samples lie within A*exp(±6*Shape).
//   - Pareto: A * U^(-1/Shape) = A * 2^(-log2(U)/Shape), U uniform on
//     (0, 1] with 63-bit resolution (so the tail ends at U = 2^-63).
//
// Normal, LogNormal and Pareto samples saturate at 1000h instead of
// overflowing; set Max for a tighter cap. LogNormal and Pareto samples are
// within about 1e-9 relative (plus rounding to the nanosecond) of the exact
// formula applied to the same uniform draws: the Q32.32 logarithm and
// exponent are accurate to 2^-33, an error divided by alpha in the Pareto
// exponent, and sigma is quantised to 2^-32.
//
// Sample does not validate d: negative durations are treated as 0, a NaN
// or negative Shape as 0 (so a Pareto alpha <= 0 saturates every sample
// except at U = 1), a LogNormal sigma above 2^20 as 2^20, and an unknown
// Kind as Constant.
func (d Dist) Sample(r *sim.Rand) time.Duration {
	a := max(d.A, 0)
	var v time.Duration
	switch d.Kind {
	case DistUniform:
		b := max(d.B, a)
		v = a + time.Duration(r.Uint64n(uint64(b-a)+1))
	case DistNormal:
		v = sampleNormal(a, max(d.B, 0), irwinHall(r))
	case DistLogNormal:
		v = sampleLogNormal(a, shapeQ32(d.Shape, maxSigma), irwinHall(r))
	case DistPareto:
		v = samplePareto(a, d.Shape, r.Uint64())
	default: // DistConstant, or an unknown kind
		v = a
	}
	if d.Max > 0 && v > d.Max {
		v = d.Max
	}
	return v
}

// shapeQ32 converts a shape parameter to Q32.32, mapping NaN and values <= 0
// to 0 and clamping at limit (which must be below 2^32). x * 2^32 is exact,
// and the conversion of an in-range value truncates, so this is the same on
// every architecture.
func shapeQ32(x, limit float64) uint64 {
	if !(x > 0) {
		return 0
	}
	if x > limit {
		x = limit
	}
	return uint64(x * (1 << 32))
}

// irwinHall returns an approximately standard normal value in Q32.32: the sum
// of twelve uniform 32-bit fractions (each taken at the centre of its 2^-32
// cell, so the sum is exactly symmetric about 6) minus 6. The result lies in
// [-6 + 6*2^-32, 6 - 6*2^-32]; its mean is 0 and its variance 1 - 2^-64.
func irwinHall(r *sim.Rand) int64 {
	var s uint64 // at most 12 * (2^32-1)
	for range 6 {
		x := r.Uint64()
		s += x>>32 + x&(1<<32-1)
	}
	return int64(s) - 6<<32 + 6
}

// mulQ32 returns x * |q| for a Q32.32 value q, rounded to nearest (halves
// away from zero), and whether it fits in 63 bits.
func mulQ32(x uint64, q int64) (uint64, bool) {
	if q < 0 {
		q = -q // q is never math.MinInt64 here
	}
	hi, lo := bits.Mul64(x, uint64(q))
	lo, c := bits.Add64(lo, 1<<31, 0)
	hi += c
	if hi >= 1<<31 {
		return 0, false
	}
	return hi<<32 | lo>>32, true
}

// sampleNormal returns mean + stddev*z (z in Q32.32), clamped to
// [0, sampleLimit].
func sampleNormal(mean, stddev time.Duration, z int64) time.Duration {
	delta, ok := mulQ32(uint64(stddev), z)
	var v time.Duration
	switch {
	case z < 0:
		if !ok || delta >= uint64(mean) {
			return 0
		}
		v = mean - time.Duration(delta)
	case !ok || delta >= uint64(sampleLimit):
		return sampleLimit
	default:
		if uint64(mean)+delta > uint64(sampleLimit) { // both < 2^63: no wrap
			return sampleLimit
		}
		v = mean + time.Duration(delta)
	}
	return min(v, sampleLimit)
}

// sampleLogNormal returns median * 2^(sigma*log2(e)*z) for sigma and z in
// Q32.32, clamped to [0, sampleLimit].
func sampleLogNormal(median time.Duration, sigma uint64, z int64) time.Duration {
	// k = sigma * log2(e) in Q32.32; sigma <= 2^52, so k < 2^53.
	hi, lo := bits.Mul64(sigma, log2E)
	k := hi<<2 | lo>>62
	e, ok := mulQ32(k, z) // k*|z|/2^32 < 2^53 * 6: always fits
	if !ok {
		e = math.MaxInt64 >> 1 // unreachable with sigma <= 2^20
	}
	exp := int64(e)
	if z < 0 {
		exp = -exp
	}
	return scaleSaturate(median, exp)
}

// samplePareto returns xm * 2^(-log2(U)/alpha) for U = (x>>1 + 1) / 2^63,
// clamped to [0, sampleLimit].
func samplePareto(xm time.Duration, alpha float64, x uint64) time.Duration {
	m := x>>1 + 1 // [1, 2^63]
	// -log2(U) = 63 - log2(m) = 31 - log2Fixed(m), since log2Fixed reads m
	// as Q32.32 (m / 2^32). It lies in [0, 63].
	l := int64(31<<32) - log2Fixed(m)
	if l <= 0 {
		return xm
	}
	e, ok := divFloat(uint64(l), alpha)
	if !ok {
		return scaleSaturate(xm, math.MaxInt64)
	}
	return scaleSaturate(xm, int64(min(e, math.MaxInt64)))
}

// divFloat returns the quotient n / f, truncated, for f > 0, and false when
// it is 2^64 or more (including f == 0, a NaN or a negative f). It reads f's
// bits directly (f = mant * 2^exp exactly), so no floating-point arithmetic
// is involved and alpha keeps its full 53-bit precision.
func divFloat(n uint64, f float64) (uint64, bool) {
	if !(f > 0) {
		return 0, false
	}
	if n == 0 || math.IsInf(f, 1) {
		return 0, true
	}
	fb := math.Float64bits(f)
	mant := fb & (1<<52 - 1)
	exp := int(fb>>52) - 1075 // f = mant * 2^exp, for a normal f
	if fb>>52 != 0 {
		mant |= 1 << 52
	} else {
		exp = -1074 // subnormal
	}
	lz := bits.LeadingZeros64(mant)
	mant <<= lz // top bit set
	exp -= lz
	// n / f = (n << -exp) / mant.
	sh := -exp
	var hi, lo uint64
	switch {
	case sh < 0:
		return 0, true // f >= 2^64 > n
	case sh == 0:
		lo = n
	case sh < 64:
		hi, lo = n>>(64-sh), n<<sh
	case sh < 128:
		if sh > 64 && n>>(128-sh) != 0 {
			return 0, false
		}
		hi = n << (sh - 64)
	default:
		return 0, false
	}
	if hi >= mant {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, mant)
	return q, true
}

// scaleSaturate returns a * 2^e (e in Q32.32) rounded to the nearest
// nanosecond and clamped to [0, sampleLimit].
func scaleSaturate(a time.Duration, e int64) time.Duration {
	v, ok := mulExp2(uint64(a), e)
	if !ok || v > uint64(sampleLimit) {
		return sampleLimit
	}
	return time.Duration(v)
}

// Mean returns the approximate mean of d's samples, for reports: it uses
// the exact continuous distribution (a true normal rather than Irwin–Hall's,
// no 2^-63 end to the Pareto tail) with the clamping at 0, the Max cap and
// the 1000h saturation of Sample. It is computed in floating point, so it
// may differ in the last digits between architectures; nothing in a
// simulation may depend on it. A Pareto with alpha <= 1 and no Max has an
// infinite mean; Mean then reports the mean of the samples saturated at
// 1000h. Mean assumes a valid d.
func (d Dist) Mean() time.Duration {
	a, b := float64(d.A), float64(d.B)
	capV := math.Inf(1)
	if d.Max > 0 {
		capV = float64(d.Max)
	}
	var m float64
	switch d.Kind {
	case DistConstant:
		m = math.Min(a, capV)
	case DistUniform:
		switch {
		case capV >= b:
			m = (a + b) / 2
		case capV <= a:
			m = capV
		default:
			m = ((capV*capV-a*a)/2 + capV*(b-capV)) / (b - a)
		}
	case DistNormal:
		c := math.Min(capV, float64(sampleLimit))
		if b == 0 {
			m = math.Max(0, math.Min(a, c))
			break
		}
		// E[clamp(X, 0, c)] = E[(X-0)+] - E[(X-c)+], with
		// E[(X-t)+] = (μ-t)Φ((μ-t)/σ) + σφ((μ-t)/σ).
		excess := func(t float64) float64 {
			u := (a - t) / b
			return (a-t)*normCDF(u) + b*math.Exp(-u*u/2)/math.Sqrt(2*math.Pi)
		}
		m = excess(0) - excess(c)
	case DistLogNormal:
		c := math.Min(capV, float64(sampleLimit))
		s := d.Shape
		if a <= 0 || s <= 0 {
			m = math.Min(a, c)
			break
		}
		// E[min(X, c)] = median e^(σ²/2) Φ((ln(c/median) - σ²)/σ) + c (1 - Φ(ln(c/median)/σ)).
		lc := math.Log(c / a)
		m = a*math.Exp(s*s/2)*normCDF((lc-s*s)/s) + c*(1-normCDF(lc/s))
	case DistPareto:
		c := math.Min(capV, float64(sampleLimit))
		al := d.Shape
		switch {
		case c <= a:
			m = c
		case al == 1:
			m = a + a*math.Log(c/a)
		default:
			// E[min(X, c)] = xm + ∫[xm, c] (xm/x)^α dx.
			m = a + a*(math.Pow(c/a, 1-al)-1)/(1-al)
		}
	default:
		m = a
	}
	switch {
	case !(m > 0):
		return 0
	case m >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(math.Round(m))
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// kindName is the ParseDist name of a kind.
func kindName(k DistKind) string {
	switch k {
	case DistConstant:
		return "const"
	case DistUniform:
		return "uniform"
	case DistNormal:
		return "normal"
	case DistLogNormal:
		return "lognormal"
	case DistPareto:
		return "pareto"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// String formats d in the syntax ParseDist reads: const:10ms,
// uniform:1ms-5ms, normal:10ms,2ms (mean, stddev), lognormal:10ms,0.5
// (median, sigma), pareto:5ms,1.5 (min, alpha), each followed by ,max=2s
// when Max is not 0. ParseDist(d.String()) == d for every d of a known kind
// whose unused fields are 0 (the shape is printed with the fewest digits
// that read back exactly).
func (d Dist) String() string {
	var s string
	switch d.Kind {
	case DistConstant:
		s = "const:" + d.A.String()
	case DistUniform:
		s = "uniform:" + d.A.String() + "-" + d.B.String()
	case DistNormal:
		s = "normal:" + d.A.String() + "," + d.B.String()
	case DistLogNormal, DistPareto:
		s = kindName(d.Kind) + ":" + d.A.String() + "," + strconv.FormatFloat(d.Shape, 'g', -1, 64)
	default:
		return fmt.Sprintf("Dist{Kind: %d, A: %v, B: %v, Shape: %v, Max: %v}", d.Kind, d.A, d.B, d.Shape, d.Max)
	}
	if d.Max != 0 {
		s += ",max=" + d.Max.String()
	}
	return s
}

// ParseDist parses the syntax of Dist.String:
//
//	const:10ms            always 10ms
//	uniform:1ms-5ms       uniform over [1ms, 5ms]
//	normal:10ms,2ms       mean 10ms, stddev 2ms (truncated at 0)
//	lognormal:10ms,0.5    median 10ms, sigma 0.5
//	pareto:5ms,1.5        minimum 5ms, alpha 1.5
//
// each optionally followed by ,max=2s to cap the samples. A bare duration
// ("10ms") is a constant. Durations use time.ParseDuration; the kind name
// is case-insensitive and spaces around tokens are ignored. The result is
// validated; errors name the offending token.
func ParseDist(s string) (Dist, error) {
	d, err := parseDist(s)
	if err == nil {
		err = d.Validate()
	}
	if err != nil {
		return Dist{}, fmt.Errorf("distribution %q: %w", s, err)
	}
	return d, nil
}

const distSyntax = "want const:D, uniform:D-D, normal:D,D, lognormal:D,SIGMA or pareto:D,ALPHA, optionally followed by ,max=D"

func parseDist(s string) (Dist, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Dist{}, errors.New("empty (" + distSyntax + ")")
	}
	name, rest, ok := strings.Cut(s, ":")
	if !ok {
		if v, err := time.ParseDuration(s); err == nil {
			return Constant(v), nil
		}
		return Dist{}, fmt.Errorf("missing kind prefix (%s)", distSyntax)
	}
	name = strings.ToLower(strings.TrimSpace(name))

	// Split the parameters from the trailing key=value options.
	var params []string
	var d Dist
	sawMax := false
	for _, f := range strings.Split(rest, ",") {
		f = strings.TrimSpace(f)
		key, val, isOpt := strings.Cut(f, "=")
		if !isOpt {
			if sawMax {
				return Dist{}, fmt.Errorf("parameter %q after max=", f)
			}
			params = append(params, f)
			continue
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if key != "max" {
			return Dist{}, fmt.Errorf("unknown option %q (want max=D)", f)
		}
		if sawMax {
			return Dist{}, fmt.Errorf("duplicate option %q", f)
		}
		sawMax = true
		v, err := parseDur("max", strings.TrimSpace(val))
		if err != nil {
			return Dist{}, err
		}
		d.Max = v
	}

	want := func(n int, names string) error {
		if len(params) != n {
			return fmt.Errorf("%s takes %s, got %q", name, names, strings.Join(params, ","))
		}
		return nil
	}
	var err error
	switch name {
	case "const", "constant":
		d.Kind = DistConstant
		if err = want(1, "one duration"); err == nil {
			d.A, err = parseDur("latency", params[0])
		}
	case "uniform":
		d.Kind = DistUniform
		if err = want(1, "a range MIN-MAX"); err != nil {
			break
		}
		// The separator is the first '-' after the first character, so a
		// negative min ("-1ms-5ms") still splits (and fails validation).
		p := params[0]
		i := strings.Index(p[min(1, len(p)):], "-")
		if i < 0 {
			err = fmt.Errorf("uniform range %q: want MIN-MAX, e.g. 1ms-5ms", p)
			break
		}
		i += min(1, len(p))
		if d.A, err = parseDur("min", strings.TrimSpace(p[:i])); err == nil {
			d.B, err = parseDur("max", strings.TrimSpace(p[i+1:]))
		}
	case "normal":
		d.Kind = DistNormal
		if err = want(2, "MEAN,STDDEV"); err == nil {
			if d.A, err = parseDur("mean", params[0]); err == nil {
				d.B, err = parseDur("stddev", params[1])
			}
		}
	case "lognormal":
		d.Kind = DistLogNormal
		if err = want(2, "MEDIAN,SIGMA"); err == nil {
			if d.A, err = parseDur("median", params[0]); err == nil {
				d.Shape, err = parseShape("sigma", params[1])
			}
		}
	case "pareto":
		d.Kind = DistPareto
		if err = want(2, "MIN,ALPHA"); err == nil {
			if d.A, err = parseDur("min", params[0]); err == nil {
				d.Shape, err = parseShape("alpha", params[1])
			}
		}
	default:
		err = fmt.Errorf("unknown kind %q (%s)", name, distSyntax)
	}
	return d, err
}

func parseDur(what, s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: not a duration (like 10ms)", what, s)
	}
	return v, nil
}

func parseShape(what, s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad %s %q: not a number", what, s)
	}
	return v, nil
}
