package simtest

import (
	"fmt"
	"strings"

	"github.com/detsim/detsim/sim"
)

// TB is the part of testing.TB the helpers use. *testing.T satisfies it.
// Fatalf must not return (testing.T's calls runtime.Goexit).
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
}

// DefaultProgramSeeds is the number of seeds Program sweeps (from 0) when
// neither Seeds nor -sim.seeds is given. Scenario sweeps the scenario's own
// budget (scenario.Scenario.SeedBudget).
const DefaultProgramSeeds = 200

// helper kinds, for options that apply to some helpers only.
type use uint8

const (
	forScenario use = 1 << iota
	forProgram
	forRapid
	forFuzz
	forRecord

	forSweeps = forScenario | forProgram
	forRuns   = forScenario | forRapid | forFuzz | forRecord
	forAll    = forScenario | forProgram | forRapid | forFuzz | forRecord
)

func (u use) String() string {
	var names []string
	for _, x := range []struct {
		u    use
		name string
	}{{forScenario, "Scenario"}, {forProgram, "Program"}, {forRapid, "RapidScenario"}, {forFuzz, "FuzzScenario"}, {forRecord, "RecordCorpus"}} {
		if u&x.u != 0 {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ", ")
}

// Option configures Scenario, Program, RapidScenario, FuzzScenario or
// RecordCorpus. An option given to a helper it does not apply to fails the
// test, as does an invalid value.
type Option struct {
	name  string
	uses  use
	apply func(*config) error
}

type config struct {
	variant       string
	strategy      string // "" is the default (the scenario's, or random)
	params        map[string]string
	first, end    uint64
	seedsSet      bool
	expectFailure bool
	expectFixed   bool
	parallel      int
	corpusDir     string
	noCorpus      bool
	world         sim.Options
}

// Variant selects the scenario's variant ("" is its default).
func Variant(name string) Option {
	return Option{"Variant", forScenario | forRapid | forFuzz, func(c *config) error { c.variant = name; return nil }}
}

// Strategy selects the scheduling strategy (random, fifo, pct, pct:D,
// pct:D:K, optionally followed by +permute). The -sim.strategy flag
// overrides it in Scenario and Program.
func Strategy(spec string) Option {
	return Option{"Strategy", forAll, func(c *config) error {
		if _, err := sim.ParseStrategy(spec); err != nil {
			return err
		}
		c.strategy = spec
		return nil
	}}
}

// Param fixes a scenario parameter's value (otherwise it is drawn per seed
// or defaulted).
func Param(name, value string) Option {
	return Option{"Param", forRuns, func(c *config) error {
		if c.params == nil {
			c.params = map[string]string{}
		}
		c.params[name] = value
		return nil
	}}
}

// Seeds sweeps the seeds first..end-1 (a half-open range, like -sim.seeds
// first:end). The -sim.seeds and -sim.seed flags override it.
func Seeds(first, end uint64) Option {
	return Option{"Seeds", forSweeps | forRecord, func(c *config) error {
		if end <= first {
			return fmt.Errorf("Seeds(%d, %d): the range first..end-1 is empty (want first < end)", first, end)
		}
		c.first, c.end, c.seedsSet = first, end, true
		return nil
	}}
}

// ExpectFailure says the swept code has a known bug (a buggy variant): the
// test fails if no seed fails, and passes as soon as one does. Recorded
// corpus replays must still fail with their recorded failure kind.
func ExpectFailure() Option {
	return Option{"ExpectFailure", forSweeps, func(c *config) error { c.expectFailure = true; return nil }}
}

// ExpectFixed says the bugs recorded in the corpus have been fixed: every
// replay must pass (instead of reproducing its failure), and so must the
// sweep.
func ExpectFixed() Option {
	return Option{"ExpectFixed", forSweeps, func(c *config) error { c.expectFixed = true; return nil }}
}

// Parallel runs the sweep on n goroutines (each run is its own World). The
// lowest failing seed is reported, as in a sequential sweep, so the report
// does not depend on timing.
func Parallel(n int) Option {
	return Option{"Parallel", forSweeps, func(c *config) error {
		if n < 1 {
			return fmt.Errorf("Parallel(%d): want at least 1 goroutine", n)
		}
		c.parallel = n
		return nil
	}}
}

// CorpusDir keeps the failing-seed corpus in dir instead of
// testdata/sim/<TestName>.
func CorpusDir(dir string) Option {
	return Option{"CorpusDir", forSweeps, func(c *config) error {
		if dir == "" {
			return fmt.Errorf("CorpusDir(\"\"): empty directory (use NoCorpus to disable the corpus)")
		}
		c.corpusDir = dir
		return nil
	}}
}

// NoCorpus neither replays nor records failing seeds.
func NoCorpus() Option {
	return Option{"NoCorpus", forSweeps, func(c *config) error { c.noCorpus = true; return nil }}
}

// WorldOptions are the base options of every World that Program makes
// (budgets, CheckLeaks, EscapeGrace, Log, ...). Seed, Strategy, Source and
// Trace are set by Program.
func WorldOptions(o sim.Options) Option {
	return Option{"WorldOptions", forProgram, func(c *config) error {
		if err := o.Validate(); err != nil {
			return err
		}
		c.world = o
		return nil
	}}
}

// parseOptions applies opts for the helper u.
func parseOptions(u use, opts []Option) (*config, error) {
	c := &config{parallel: 1}
	for _, o := range opts {
		if o.apply == nil {
			return nil, fmt.Errorf("simtest: zero Option (build options with simtest.Variant, simtest.Seeds, ...)")
		}
		if o.uses&u == 0 {
			return nil, fmt.Errorf("simtest: option %s does not apply to %s (it applies to %s)", o.name, u, o.uses)
		}
		if err := o.apply(c); err != nil {
			return nil, fmt.Errorf("simtest: option %s: %w", o.name, err)
		}
	}
	if c.expectFailure && c.expectFixed {
		return nil, fmt.Errorf("simtest: options ExpectFailure and ExpectFixed contradict each other")
	}
	return c, nil
}
