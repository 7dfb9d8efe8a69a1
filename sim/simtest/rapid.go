package simtest

import (
	"cmp"
	"slices"
	"sync"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
	"pgregory.net/rapid"
)

// RapidScenario runs the registered scenario name once with inputs drawn
// from t, for use inside rapid.Check: a seed (0..2^20) and every parameter
// not fixed by Param. A parameter with a Draw function takes one of the
// values that Draw produces, or one of their Shrink candidates; one without
// takes its default or a Shrink candidate of it. Values are offered
// smallest first (a value reachable by Shrink from another comes before
// it), so rapid shrinks a failure toward small parameters and seed 0. On
// failure it calls t.Fatalf with the failure, the parameters and the simrun
// command line that replays it; otherwise it returns the outcome for
// further checks. Options: Variant, Strategy, Param.
func RapidScenario(t *rapid.T, name string, opts ...Option) scenario.Outcome {
	t.Helper()
	c, err := parseOptions(forRapid, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	sc, err := scenario.Lookup(name)
	if err != nil {
		t.Fatalf("simtest.RapidScenario: %v", err)
	}
	cfg := scenario.Config{Scenario: sc, Variant: c.variant, Params: c.params}
	if c.strategy != "" {
		s, _ := sim.ParseStrategy(c.strategy)
		cfg.Strategy = &s
	}
	if err := cfg.Check(); err != nil {
		t.Fatalf("simtest.RapidScenario: %v", err)
	}
	params := make(map[string]string, len(sc.Params))
	for _, p := range sc.Params {
		if v, ok := c.params[p.Name]; ok {
			params[p.Name] = v
			continue
		}
		cands := paramCandidates(sc.Name, p)
		if len(cands) == 1 {
			params[p.Name] = cands[0]
			continue
		}
		params[p.Name] = rapid.SampledFrom(cands).Draw(t, p.Name)
	}
	cfg.Params = params
	cfg.Seed = rapid.Uint64Range(0, 1<<20).Draw(t, "seed")
	o, err := scenario.Execute(cfg)
	if err != nil {
		t.Fatalf("simtest.RapidScenario: %v", err)
	}
	if !o.Passed() {
		rp := scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Strategy: o.Strategy.String(), Seed: o.Seed, Params: o.ParamMap()}
		t.Fatalf("%s/%s (strategy %s) failed at seed %d, params %s:\n  %s\nreplay: %s",
			o.Scenario, o.Variant, o.Strategy, o.Seed, paramsDesc(o.Params), indent(o.Result.Failure.Error()), rp.Command())
	}
	return o
}

// maxCandidates bounds the values offered for one parameter.
const maxCandidates = 256

var candidateCache sync.Map // scenario name + "\x00" + param name -> []string

// paramCandidates lists the values RapidScenario offers for p, smallest
// first.
func paramCandidates(scenarioName string, p scenario.Param) []string {
	key := scenarioName + "\x00" + p.Name
	if v, ok := candidateCache.Load(key); ok {
		return v.([]string)
	}
	var vals []string
	index := map[string]int{}
	add := func(v string) {
		if _, ok := index[v]; ok || len(vals) >= maxCandidates {
			return
		}
		if p.Check != nil && p.Check(v) != nil {
			return
		}
		index[v] = len(vals)
		vals = append(vals, v)
	}
	add(p.Default)
	if p.Draw != nil {
		r := sim.NewRand(0x5eed)
		for range 64 {
			add(p.Draw(r))
		}
	}
	if p.Shrink != nil {
		for i := 0; i < len(vals); i++ {
			for _, s := range p.Shrink(vals[i]) {
				add(s)
			}
		}
	}
	// rank: how many candidates are reachable from a value by shrinking.
	rank := make([]int, len(vals))
	if p.Shrink != nil {
		for i, v := range vals {
			seen := map[string]bool{v: true}
			queue := []string{v}
			for len(queue) > 0 {
				x := queue[0]
				queue = queue[1:]
				for _, s := range p.Shrink(x) {
					if _, ok := index[s]; ok && !seen[s] {
						seen[s] = true
						queue = append(queue, s)
					}
				}
			}
			rank[i] = len(seen) - 1
		}
	}
	order := make([]int, len(vals))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank[a], rank[b]) })
	out := make([]string, len(vals))
	for i, j := range order {
		out[i] = vals[j]
	}
	if len(out) == 0 {
		out = []string{p.Default} // let Execute report the bad default
	}
	candidateCache.Store(key, out)
	return out
}

// RapidSource returns a decision source that draws every scheduling
// decision from t (rapid.IntRange(0, n-1)), so that rapid explores
// schedules and, on failure, shrinks the schedule itself toward earlier
// choices. Use it with sim.Options.Source (or scenario.Config.Source) in
// short programs: every decision is one draw.
//
// The World draws from its own goroutine, where rapid's control panics
// (e.g. "this input is exhausted") must not escape; such a panic is held,
// every later decision is 0, and the panic is raised again when the
// property returns (through t.Cleanup), so rapid sees it as usual.
func RapidSource(t *rapid.T) sim.Source {
	s := &rapidSource{t: t}
	t.Cleanup(func() {
		if s.held != nil {
			panic(s.held)
		}
	})
	return s
}

type rapidSource struct {
	t    *rapid.T
	held any
}

func (s *rapidSource) Intn(n int) (v int) {
	if n <= 1 || s.held != nil {
		return 0
	}
	defer func() {
		if p := recover(); p != nil {
			s.held, v = p, 0
		}
	}()
	return rapid.IntRange(0, n-1).Draw(s.t, "decision")
}
