package scenarios_test

import (
	"testing"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// BenchmarkScenario runs one seed per iteration (seeds 0, 1, 2, ...) of
// every registered scenario and variant under its default strategy, one
// core: ns/op is the wall time of one seed, seeds/s the rate per core,
// steps/seed the scheduling steps of a run.
func BenchmarkScenario(b *testing.B) {
	for _, sc := range scenario.All() {
		for _, v := range sc.Variants {
			b.Run(sc.Name+"/"+v.Name, func(b *testing.B) {
				var steps int64
				b.ReportAllocs()
				pool := sim.NewPool(0) // as a sweep worker runs its seeds
				defer pool.Close()
				for i := 0; i < b.N; i++ {
					o, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: v.Name, Seed: uint64(i), Pool: pool})
					if err != nil {
						b.Fatal(err)
					}
					steps += o.Result.Steps
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
				b.ReportMetric(float64(steps)/float64(b.N), "steps/seed")
			})
		}
	}
}
