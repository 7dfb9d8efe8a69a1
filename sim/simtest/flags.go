package simtest

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/detsim/detsim/sim"
)

// The flags are strings so that "not given" is distinguishable from every
// value and a bad value can be reported by the test that reads it.
var (
	flagSeed     = flag.String("sim.seed", "", "simtest: run only this `seed` (skipping the corpus) and log its trace if it fails")
	flagSeeds    = flag.String("sim.seeds", "", "simtest: sweep seeds `A:B` (A..B-1) instead of each test's range")
	flagStrategy = flag.String("sim.strategy", "", "simtest: scheduling `strategy` (random, fifo, pct:D[:K], +permute) instead of each test's")
	flagRecord   = flag.Bool("sim.record", false, "simtest: run the tests that record regression corpora (see Recording)")
)

// Recording reports whether -sim.record was given: tests that write
// regression corpora (RecordCorpus) run only then.
func Recording() bool { return *flagRecord }

// flagValues are the parsed -sim.* flags.
type flagValues struct {
	seed       uint64
	seedSet    bool
	first, end uint64
	seedsSet   bool
	strategy   string
}

// readFlags parses the -sim.* flags. It is called by every helper, after
// go test has parsed the command line (or a test has called flag.Set).
func readFlags() (flagValues, error) {
	var f flagValues
	if s := *flagSeed; s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return f, fmt.Errorf("simtest: -sim.seed=%q: want a non-negative integer seed", s)
		}
		f.seed, f.seedSet = n, true
	}
	if s := *flagSeeds; s != "" {
		a, b, ok := strings.Cut(s, ":")
		first, err1 := strconv.ParseUint(a, 10, 64)
		end, err2 := strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || end <= first {
			return f, fmt.Errorf("simtest: -sim.seeds=%q: want A:B with integers 0 <= A < B (sweeps seeds A..B-1)", s)
		}
		f.first, f.end, f.seedsSet = first, end, true
	}
	if s := *flagStrategy; s != "" {
		if _, err := sim.ParseStrategy(s); err != nil {
			return f, fmt.Errorf("simtest: -sim.strategy=%q: %v", s, err)
		}
		f.strategy = s
	}
	if f.seedSet && f.seedsSet {
		return f, fmt.Errorf("simtest: -sim.seed=%s and -sim.seeds=%s: give one or the other", *flagSeed, *flagSeeds)
	}
	return f, nil
}
