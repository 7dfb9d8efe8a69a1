package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is simrun's GOGC unless the environment sets one. A simulated
// run allocates a lot of short-lived garbage over a small live heap, so with
// GOGC=100 the collector runs every few dozen seeds and its mark workers
// take a core from the sweep's workers: 400 makes 2-worker sweeps of the
// priority scenario about 30% faster for a few megabytes more.
const gcPercent = 400

// memoryShare is the share of the machine's memory (or of the container's
// cgroup limit, if lower) that simrun's soft memory limit allows (unless
// GOMEMLIMIT is set), so that the larger GOGC cannot let a
// large run (a 10,000-node swarm) grow its heap five-fold: near the limit
// the collector works harder instead.
const memoryShare = 0.6

// tuneGC applies gcPercent and the memory limit, each unless the
// environment already sets it.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := physicalMemory(); total > 0 {
			debug.SetMemoryLimit(int64(float64(total) * memoryShare))
		}
	}
}
