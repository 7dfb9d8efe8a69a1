package sim

import "math/bits"

// Rand is a small, fast, seeded pseudo-random generator (SplitMix64). Its
// algorithm is part of this package, not of the Go release, so a seed gives
// the same numbers on every Go version and CPU architecture. A Rand is not
// safe for concurrent use; in simulation only one task runs at a time.
type Rand struct {
	state uint64
}

// NewRand returns a generator seeded with seed.
func NewRand(seed uint64) *Rand { return &Rand{state: seed} }

// Uint64 returns a uniformly distributed 64-bit value.
func (r *Rand) Uint64() uint64 {
	r.state += 0x9e3779b97f4a7c15
	return mix64(r.state)
}

// mix64 is the SplitMix64 finaliser: a bijective avalanche of 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Intn returns a uniform value in [0, n). It panics if n <= 0.
// It uses Lemire's multiply-and-reject method, so it is unbiased.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("sim: Rand.Intn: n must be positive")
	}
	return int(r.Uint64n(uint64(n)))
}

// Uint64n returns a uniform value in [0, n). It panics if n == 0.
func (r *Rand) Uint64n(n uint64) uint64 {
	if n == 0 {
		panic("sim: Rand.Uint64n: n must be positive")
	}
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// Int63n returns a uniform value in [0, n) as an int64. It panics if n <= 0.
func (r *Rand) Int63n(n int64) int64 {
	if n <= 0 {
		panic("sim: Rand.Int63n: n must be positive")
	}
	return int64(r.Uint64n(uint64(n)))
}

// Float64 returns a uniform value in [0, 1) with 53 bits of precision. The
// computation is exact (an integer scaled by a power of two), so it is the
// same on every architecture.
func (r *Rand) Float64() float64 {
	return float64(r.Uint64()>>11) * (1.0 / (1 << 53))
}

// Bool returns true with probability 1/2.
func (r *Rand) Bool() bool { return r.Uint64()&1 == 1 }

// Chance returns true with probability num/den, decided with integers only.
func (r *Rand) Chance(num, den uint64) bool {
	if den == 0 {
		panic("sim: Rand.Chance: den must be positive")
	}
	return r.Uint64n(den) < num
}

// Perm returns a uniform random permutation of [0, n).
func (r *Rand) Perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// Shuffle permutes n elements with Fisher-Yates, calling swap for each move.
func (r *Rand) Shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		swap(i, j)
	}
}

// Source is where a World's strategy draws every scheduling decision: which
// runnable task goes next, PCT priorities and change points, which ready
// Select case wins, and equal-time event tie-breaks. By default it is a Rand
// seeded from the run's seed; a caller may substitute its own (for example one
// fed by rapid or by go test -fuzz bytes).
//
// Intn must return a value in [0, n) for n >= 2; the World never asks when
// there is only one choice, so a byte-driven source is not wasted on them.
// Values outside the range are reduced modulo n.
type Source interface {
	Intn(n int) int
}

// DeriveSeed returns the seed of the child stream called name: the same
// (seed, name) pair always gives the same child, and adding a stream with a
// new name does not shift what the others draw. World.Rand(name) is
// NewRand(DeriveSeed(seed, name)); other runtimes use it to draw the same
// numbers.
func DeriveSeed(seed uint64, name string) uint64 { return deriveSeed(seed, name) }

func deriveSeed(seed uint64, name string) uint64 {
	// FNV-1a over the name, then mixed with the parent seed.
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 0x100000001b3
	}
	return mix64(seed ^ mix64(h))
}
