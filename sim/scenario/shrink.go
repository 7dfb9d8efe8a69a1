package scenario

import (
	"fmt"
	"maps"

	"github.com/detsim/detsim/sim"
)

// ShrinkNeighbours is how many seeds after the current one Shrink tries for
// a smaller candidate that no longer fails with the current seed: a smaller
// configuration draws different schedules, so the same bug usually needs a
// different seed to show.
const ShrinkNeighbours = 8

// Shrink minimises a failing run: it looks for a run of the same scenario
// and variant with smaller parameters and a simpler strategy that still
// fails with the same failure kind, and returns its replay (built with
// NewReplay, so it can be rerun and checked like any other).
//
// The search is greedy and stops when a whole pass makes no progress or
// budget runs have been used:
//
//  1. For each parameter with a Shrink function, in the scenario's order,
//     its candidates (most aggressive first) are tried with the current
//     seed, then with up to ShrinkNeighbours following seeds; the first
//     candidate that still fails with the same kind is kept (so the seed may
//     change). Duration-like parameters shrinking is how a run is made to
//     stop earlier.
//  2. The strategy is simplified the same way: pct:D to pct:D-1 down to
//     pct:1, random to fifo, and +permute dropped.
//
// rp must describe a failing run that reproduces: the rerun must fail with
// the recorded kind. log, if not nil, receives one line per accepted step.
func Shrink(rp Replay, budget int, log func(string)) (Replay, error) {
	if log == nil {
		log = func(string) {}
	}
	if rp.Failure == nil {
		return Replay{}, fmt.Errorf("shrink: the replay of %s seed %d records a pass: nothing to shrink", rp.Scenario, rp.Seed)
	}
	if budget < 1 {
		return Replay{}, fmt.Errorf("shrink: budget %d: must be at least 1 run", budget)
	}
	cfg, err := rp.Config()
	if err != nil {
		return Replay{}, err
	}
	sh := shrinker{s: cfg.Scenario, variant: rp.Variant, kind: rp.Failure.Kind, budget: budget}
	cur, ok, err := sh.try(rp.Seed, *cfg.Strategy, rp.Params)
	if err != nil {
		return Replay{}, err
	}
	if !ok {
		got := "it passed"
		if f := FailureOf(cur.Result); f != nil {
			got = "it failed with " + f.Kind + ": " + f.Message
		}
		return Replay{}, fmt.Errorf("shrink: the replay does not reproduce: recorded %s, %s", rp.Failure.Kind, got)
	}

	for progress := true; progress && sh.runs < sh.budget; {
		progress = false
		for _, p := range sh.s.Params {
			if p.Shrink == nil {
				continue
			}
			params := cur.ParamMap()
			for _, cand := range p.Shrink(params[p.Name]) {
				next := maps.Clone(params)
				next[p.Name] = cand
				if o, ok := sh.search(cur.Seed, cur.Strategy, next); ok {
					log(fmt.Sprintf("%s %s -> %s (seed %d, %d steps)", p.Name, params[p.Name], cand, o.Seed, o.Result.Steps))
					cur, progress = o, true
					break
				}
			}
		}
		for _, strat := range simpler(cur.Strategy) {
			if o, ok := sh.search(cur.Seed, strat, cur.ParamMap()); ok {
				log(fmt.Sprintf("strategy %s -> %s (seed %d, %d steps)", cur.Strategy, strat, o.Seed, o.Result.Steps))
				cur, progress = o, true
				break
			}
		}
	}
	log(fmt.Sprintf("shrink used %d runs", sh.runs))
	return NewReplay(cur)
}

// simpler lists simplifications of a strategy, most aggressive first.
func simpler(s sim.Strategy) []sim.Strategy {
	var out []sim.Strategy
	if s.PermuteEqualTime {
		t := s
		t.PermuteEqualTime = false
		out = append(out, t)
	}
	switch s.Kind {
	case sim.PCT:
		d := s.Depth
		if d == 0 {
			d = 3 // the kernel's default depth
		}
		for nd := 1; nd < d; nd++ {
			t := s
			t.Depth = nd
			out = append(out, t)
		}
	case sim.Random:
		out = append(out, sim.Strategy{Kind: sim.FIFO, PermuteEqualTime: s.PermuteEqualTime})
	}
	return out
}

type shrinker struct {
	s       *Scenario
	variant string
	kind    string
	budget  int
	runs    int
}

// try runs one candidate and reports whether it fails with the kind being
// kept. An invalid candidate (a parameter the scenario rejects) is not an
// error: it just does not count.
func (sh *shrinker) try(seed uint64, strat sim.Strategy, params map[string]string) (Outcome, bool, error) {
	sh.runs++
	o, err := Execute(Config{Scenario: sh.s, Variant: sh.variant, Seed: seed, Strategy: &strat, Params: params})
	if err != nil {
		return Outcome{}, false, err
	}
	f := FailureOf(o.Result)
	return o, f != nil && f.Kind == sh.kind, nil
}

// search tries a candidate with seed, then with the following
// ShrinkNeighbours seeds, within the budget.
func (sh *shrinker) search(seed uint64, strat sim.Strategy, params map[string]string) (Outcome, bool) {
	for i := uint64(0); i <= ShrinkNeighbours && sh.runs < sh.budget; i++ {
		o, ok, err := sh.try(seed+i, strat, params)
		if err != nil {
			return Outcome{}, false
		}
		if ok {
			return o, true
		}
	}
	return Outcome{}, false
}
