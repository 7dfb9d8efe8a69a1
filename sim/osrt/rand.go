package osrt

// DeriveSeed returns the seed of the random stream called name in a run
// with the given seed: FNV-1a over the name mixed with the seed through
// SplitMix64's finaliser, which is how sim.World derives its streams (a
// test checks the two agree), so that Runtime.Rand(name) draws the same
// numbers as World.Rand(name).
func DeriveSeed(seed uint64, name string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 0x100000001b3
	}
	return mix64(seed ^ mix64(h))
}

// mix64 is the SplitMix64 finaliser (sim/rand.go's).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
