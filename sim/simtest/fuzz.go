package simtest

import (
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// FuzzSource returns a decision source that reads the scheduling decisions
// from data, so that go test -fuzz's coverage guidance mutates the schedule
// itself. A decision among n alternatives reads as few bytes as hold n-1
// (one byte for n <= 256, two for n <= 65536, four for n <= 2^32, ...),
// big-endian, and takes the value modulo n. When data runs out (in the
// middle of a value too), the remaining bytes count as zero: every later
// decision is 0. A source is for one run.
func FuzzSource(data []byte) sim.Source { return &fuzzSource{data: data} }

type fuzzSource struct {
	data []byte
	used int // bytes consumed
}

func (s *fuzzSource) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	k := (bits.Len64(uint64(n-1)) + 7) / 8
	var v uint64
	for i := 0; i < k; i++ {
		v <<= 8
		if s.used < len(s.data) {
			v |= uint64(s.data[s.used])
			s.used++
		}
	}
	return int(v % uint64(n))
}

// FuzzScenario registers a fuzz target on f that runs the registered
// scenario name with a fuzzed seed and a fuzzed schedule:
//
//	f.Fuzz(func(t *testing.T, seed uint64, data []byte) { ... })
//
// The seed picks drawn parameters and the scenario's random streams;
// data is the decision source (FuzzSource). Add seed corpus entries with
// f.Add(uint64(seed), []byte{...}) before calling it. A failing run fails
// with the seed, the failure and the decision bytes used; Go's fuzzing
// saves the input under testdata/fuzz/<FuzzName>/ and prints the go test
// command that reruns it. Options: Variant, Strategy, Param.
func FuzzScenario(f *testing.F, name string, opts ...Option) {
	f.Helper()
	base, err := fuzzConfig(name, opts)
	if err != nil {
		f.Fatalf("%v", err)
	}
	f.Fuzz(func(t *testing.T, seed uint64, data []byte) {
		t.Helper()
		fuzzOne(t, base, seed, data)
	})
}

func fuzzConfig(name string, opts []Option) (scenario.Config, error) {
	c, err := parseOptions(forFuzz, opts)
	if err != nil {
		return scenario.Config{}, err
	}
	sc, err := scenario.Lookup(name)
	if err != nil {
		return scenario.Config{}, fmt.Errorf("simtest.FuzzScenario: %w", err)
	}
	cfg := scenario.Config{Scenario: sc, Variant: c.variant, Params: c.params}
	if c.strategy != "" {
		s, _ := sim.ParseStrategy(c.strategy)
		cfg.Strategy = &s
	}
	if err := cfg.Check(); err != nil {
		return scenario.Config{}, fmt.Errorf("simtest.FuzzScenario: %w", err)
	}
	v, _ := sc.Variant(c.variant)
	cfg.Variant = v.Name
	return cfg, nil
}

// fuzzOne is one fuzz input's run.
func fuzzOne(t TB, base scenario.Config, seed uint64, data []byte) {
	t.Helper()
	src := &fuzzSource{data: data}
	cfg := base
	cfg.Seed, cfg.Source = seed, src
	o, err := scenario.Execute(cfg)
	if err != nil {
		t.Fatalf("simtest.FuzzScenario: %v", err)
	}
	if o.Passed() {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s (strategy %s) failed with seed %d and a fuzzed schedule (%d of %d decision bytes used):\n  %s\n  params: %s\n",
		o.Scenario, o.Variant, o.Strategy, seed, src.used, len(data), indent(o.Result.Failure.Error()), paramsDesc(o.Params))
	used := data[:src.used]
	if len(used) == 0 {
		fmt.Fprintf(&b, "  decision bytes: none (every decision was 0)\n")
	} else if len(used) > 64 {
		fmt.Fprintf(&b, "  decision bytes: %x... (first 64)\n", used[:64])
	} else {
		fmt.Fprintf(&b, "  decision bytes: %x\n", used)
	}
	fuzzName, _, _ := strings.Cut(t.Name(), "/")
	if strings.Contains(t.Name(), "/") {
		fmt.Fprintf(&b, "replay: go test -run %s (in this package)\n", shellQuote(runPattern(t.Name())))
	} else {
		fmt.Fprintf(&b, "replay: Go saves this input under testdata/fuzz/%s/ and prints the go test -run command that reruns it\n", fuzzName)
	}
	// The schedule came from the fuzz input; say whether the seed alone
	// (with the seeded decision source) also fails, i.e. replays with simrun.
	plain := base
	plain.Seed = seed
	rp := scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Strategy: o.Strategy.String(), Seed: seed, Params: o.ParamMap()}
	if po, err := scenario.Execute(plain); err == nil && !po.Passed() {
		fmt.Fprintf(&b, "the seed alone fails too (%s): %s", po.Result.Failure.Kind, rp.Command())
	} else {
		fmt.Fprintf(&b, "the seed alone, with the seeded schedule, passes: the failing schedule is in the fuzz input only")
	}
	t.Fatalf("%s", b.String())
}
