package scenarios

import (
	"github.com/detsim/detsim/examples/races"
	"github.com/detsim/detsim/sim/scenario"
)

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "counter-race",
		Description: "Workers increment a shared counter. The buggy variant guards it with a " +
			"check-then-act flag (check busy, a scheduling point, then set busy), so two workers " +
			"can both pass the check and one increment is lost; the fixed variant uses a Mutex. " +
			"Source: the kernel's example race (examples/races), the classic lost update.",
		Variants: []scenario.Variant{
			{Name: "fixed", Doc: "the counter is guarded by a Mutex"},
			{Name: "buggy", Doc: "the counter is guarded by a check-then-act flag", Buggy: true},
		},
		Params: []scenario.Param{
			scenario.IntDrawn("workers", "number of concurrent workers", 2, 4),
			scenario.Int("rounds", "increments per worker", 1, 1, 100),
		},
		Probes: []string{"overlap"},
		Seeds:  500,
		Main: func(r *scenario.Run) {
			workers, rounds := r.Params.Int("workers"), r.Params.Int("rounds")
			got := races.Counter(r.W, workers, rounds, r.Is("fixed"), r.Sometimes)
			want := workers * rounds
			r.Metric("lost_updates", float64(want-got))
			if got != want {
				r.Violate("no-lost-update", "counter = %d after %d increments", got, want)
			}
		},
	})
}
