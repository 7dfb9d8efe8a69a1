package netmodel

import "time"

// DistKind names a latency distribution.
type DistKind uint8

const (
	// DistConstant is always A.
	DistConstant DistKind = iota
	// DistUniform is uniform over [A, B].
	DistUniform
	// DistNormal has mean A and standard deviation B, clamped at 0 (an
	// integer Irwin-Hall approximation: no tails beyond ±6 sigma).
	DistNormal
	// DistLogNormal has median A and shape Shape (sigma of the underlying
	// normal): a long right tail.
	DistLogNormal
	// DistPareto has scale (minimum) A and shape Shape (alpha): a heavy
	// tail; smaller alpha, heavier tail.
	DistPareto
)

// Dist is a distribution of durations (a link's one-way latency). Samples are
// computed with integer and fixed-point arithmetic only, so a seed gives the
// same latencies on every CPU architecture. The zero value is Constant(0).
type Dist struct {
	Kind DistKind
	// A and B are the kind's duration parameters (see DistKind).
	A, B time.Duration
	// Shape is LogNormal's sigma or Pareto's alpha.
	Shape float64
	// Max, if positive, caps samples (useful for heavy tails).
	Max time.Duration
}

// Constant returns a distribution that is always d.
func Constant(d time.Duration) Dist { return Dist{Kind: DistConstant, A: d} }

// Uniform returns a distribution uniform over [lo, hi].
func Uniform(lo, hi time.Duration) Dist { return Dist{Kind: DistUniform, A: lo, B: hi} }

// Normal returns a normal distribution truncated at 0.
func Normal(mean, stddev time.Duration) Dist {
	return Dist{Kind: DistNormal, A: mean, B: stddev}
}

// LogNormal returns a log-normal distribution with the given median and
// sigma (e.g. 0.5 is a moderate tail, 1.5 a long one).
func LogNormal(median time.Duration, sigma float64) Dist {
	return Dist{Kind: DistLogNormal, A: median, Shape: sigma}
}

// Pareto returns a Pareto distribution with the given minimum and alpha.
func Pareto(min time.Duration, alpha float64) Dist {
	return Dist{Kind: DistPareto, A: min, Shape: alpha}
}

// Capped returns d with samples capped at max.
func (d Dist) Capped(max time.Duration) Dist { d.Max = max; return d }
