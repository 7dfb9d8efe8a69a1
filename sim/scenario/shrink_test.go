package scenario_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// failingReplay finds the first seed from 0 where the counter-race runs with
// params fail, and returns its replay.
func failingReplay(t *testing.T, variant, strategy string, params map[string]string) scenario.Replay {
	t.Helper()
	s, err := scenario.Lookup("counter-race")
	require.NoError(t, err)
	strat, err := sim.ParseStrategy(strategy)
	require.NoError(t, err)
	for seed := uint64(0); seed < 500; seed++ {
		o, err := scenario.Execute(scenario.Config{Scenario: s, Variant: variant, Seed: seed, Strategy: &strat, Params: params})
		require.NoError(t, err)
		if !o.Passed() {
			rp, err := scenario.NewReplay(o)
			require.NoError(t, err)
			return rp
		}
	}
	t.Fatalf("no failing seed in 0..499 for %s %v", variant, params)
	return scenario.Replay{}
}

func TestShrinkCounterRace(t *testing.T) {
	rp := failingReplay(t, "buggy", "random", map[string]string{"workers": "4", "rounds": "5"})
	var log []string
	small, err := scenario.Shrink(rp, 500, func(s string) { log = append(log, s) })
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"workers": "2", "rounds": "1"}, small.Params, "shrunk to the smallest configuration; log:\n%s", strings.Join(log, "\n"))
	require.NotNil(t, small.Failure)
	assert.Equal(t, "violation", small.Failure.Kind, "the failure kind is kept")
	assert.Less(t, small.Steps, rp.Steps, "the shrunk run is shorter")
	assert.Equal(t, "counter-race", small.Scenario)
	assert.Equal(t, "buggy", small.Variant)
	assert.NotEmpty(t, small.Checkpoints, "built with NewReplay")
	assert.Contains(t, log[len(log)-1], "shrink used")
	t.Logf("shrink log:\n%s", strings.Join(log, "\n"))

	v, err := small.Rerun()
	require.NoError(t, err)
	assert.True(t, v.Same, "the shrunk replay reproduces: %s", v.Diff)
}

func TestShrinkSimplifiesStrategy(t *testing.T) {
	rp := failingReplay(t, "buggy", "random+permute", map[string]string{"workers": "4", "rounds": "2"})
	small, err := scenario.Shrink(rp, 300, nil)
	require.NoError(t, err)
	// Dropping +permute keeps the lost update; fifo never loses one with
	// two workers, so random stays.
	assert.Equal(t, "random", small.Strategy)
	assert.Equal(t, map[string]string{"workers": "2", "rounds": "1"}, small.Params)
	assert.Equal(t, "violation", small.Failure.Kind)
}

// alwaysFails fails with a violation on every schedule, so every
// simplification Shrink tries is accepted on the same seed.
var alwaysFails = &scenario.Scenario{
	Name:        "shrink-test-always-fails",
	Description: "A test scenario for Shrink: tasks take turns, then a violation, whatever the schedule.",
	Variants:    []scenario.Variant{{Name: "buggy", Buggy: true}},
	Params: []scenario.Param{
		scenario.Int("tasks", "tasks taking turns", 2, 1, 10),
		scenario.Duration("for", "how long they take turns", time.Second, time.Millisecond, time.Minute),
	},
	Main: func(r *scenario.Run) {
		for i := 0; i < r.Params.Int("tasks"); i++ {
			r.W.Go("turn", func() { r.W.Yield() })
		}
		r.W.Sleep(r.Params.Duration("for"))
		r.Violate("always", "fails")
	},
}

func init() { scenario.Register(alwaysFails) }

func TestShrinkSimplifiesPCTToDepthOne(t *testing.T) {
	strat, err := sim.ParseStrategy("pct:5:100+permute")
	require.NoError(t, err)
	o, err := scenario.Execute(scenario.Config{Scenario: alwaysFails, Seed: 7, Strategy: &strat, Params: map[string]string{"tasks": "9", "for": "40s"}})
	require.NoError(t, err)
	rp, err := scenario.NewReplay(o)
	require.NoError(t, err)
	var log []string
	small, err := scenario.Shrink(rp, 100, func(s string) { log = append(log, s) })
	require.NoError(t, err)
	assert.Equal(t, "pct:1:100", small.Strategy, "+permute dropped, then the lowest depth; log:\n%s", strings.Join(log, "\n"))
	assert.Equal(t, map[string]string{"tasks": "1", "for": "1ms"}, small.Params)
	assert.Equal(t, uint64(7), small.Seed, "every step succeeded on the same seed")
	assert.Equal(t, int64(time.Millisecond), small.SimTimeNs, "the duration parameter made the run stop earlier")

	o, err = scenario.Execute(scenario.Config{Scenario: alwaysFails, Seed: 7, Params: rp.Params})
	require.NoError(t, err)
	rp, err = scenario.NewReplay(o)
	require.NoError(t, err)
	small, err = scenario.Shrink(rp, 100, nil)
	require.NoError(t, err)
	assert.Equal(t, "fifo", small.Strategy, "random becomes fifo when fifo still fails")

	_, err = scenario.Shrink(rp, 3, nil)
	require.NoError(t, err, "a small budget still returns the best found so far")
}

func TestShrinkIsDeterministic(t *testing.T) {
	rp := failingReplay(t, "buggy", "random", map[string]string{"workers": "3", "rounds": "4"})
	a, err := scenario.Shrink(rp, 200, nil)
	require.NoError(t, err)
	b, err := scenario.Shrink(rp, 200, nil)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestShrinkRejects(t *testing.T) {
	s, err := scenario.Lookup("counter-race")
	require.NoError(t, err)
	o, err := scenario.Execute(scenario.Config{Scenario: s, Variant: "fixed", Seed: 1})
	require.NoError(t, err)
	require.True(t, o.Passed())
	pass, err := scenario.NewReplay(o)
	require.NoError(t, err)
	_, err = scenario.Shrink(pass, 100, nil)
	assert.ErrorContains(t, err, "records a pass")

	rp := failingReplay(t, "buggy", "random", map[string]string{"workers": "2", "rounds": "1"})
	_, err = scenario.Shrink(rp, 0, nil)
	assert.ErrorContains(t, err, "budget 0")

	wrong := rp
	wrong.Failure = &scenario.FailureInfo{Kind: "deadlock", Message: "made up"}
	_, err = scenario.Shrink(wrong, 100, nil)
	assert.ErrorContains(t, err, "does not reproduce")
}
