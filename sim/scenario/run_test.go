package scenario_test

import (
	"errors"
	"testing"
	"time"

	"github.com/detsim/detsim/sim/scenario"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveness is a test scenario: a "service" comes back at recoverAt; the
// liveness property requires it within 5s of the heal at t=10s.
var liveness = &scenario.Scenario{
	Name:        "zz-liveness",
	Description: "test scenario for Within and Safety",
	Variants:    []scenario.Variant{{Name: "fixed"}, {Name: "slow", Buggy: true}},
	Params:      []scenario.Param{scenario.Duration("duration", "how long to run", 30*time.Second, time.Second, time.Hour)},
	Probes:      []string{"recovered", "never"},
	Main: func(r *scenario.Run) {
		up := false
		counter := 0
		r.Safety("counter-nonnegative", func() error {
			if counter < 0 {
				return errors.New("counter went negative")
			}
			return nil
		})
		r.Within("service-back", 10*time.Second, 5*time.Second, func() bool { return up })
		recoverAt := 12 * time.Second
		if r.Is("slow") {
			recoverAt = 20 * time.Second
		}
		r.W.AfterFunc(recoverAt, func() { up = true; r.Sometimes("recovered", true) })
		for r.W.Elapsed() < r.Params.Duration("duration") {
			r.W.Sleep(time.Second)
			counter++
			r.Add("ticks", 1)
		}
		r.Metric("final", float64(counter))
	},
}

func init() { scenario.Register(liveness) }

func TestWithinAndSafety(t *testing.T) {
	o, err := scenario.Execute(scenario.Config{Scenario: liveness, Seed: 1})
	require.NoError(t, err)
	require.True(t, o.Passed(), "%v", o.Result.Failure)
	assert.Equal(t, []scenario.Probe{{Name: "recovered", Hits: 1}, {Name: "never", Hits: 0}}, o.Probes)
	assert.Equal(t, []scenario.Metric{{Name: "ticks", Value: 30}, {Name: "final", Value: 30}}, o.Metrics)

	o, err = scenario.Execute(scenario.Config{Scenario: liveness, Variant: "slow", Seed: 1})
	require.NoError(t, err)
	require.NotNil(t, o.Result.Failure)
	assert.Equal(t, "service-back: not reached within 5s after t=10s", o.Result.Failure.Message)
	assert.Equal(t, 15*time.Second, o.Result.Failure.Time)

	_, err = scenario.Execute(scenario.Config{Scenario: liveness, Variant: "nope"})
	assert.ErrorContains(t, err, `unknown variant "nope" (variants: fixed, slow)`)
	_, err = scenario.Execute(scenario.Config{Scenario: liveness, Params: map[string]string{"duration": "2h"}})
	assert.ErrorContains(t, err, "parameter duration: 2h0m0s is outside [1s, 1h0m0s]")
	_, err = scenario.Execute(scenario.Config{Scenario: liveness, Params: map[string]string{"nodes": "3"}})
	assert.ErrorContains(t, err, `unknown parameter "nodes" (parameters: duration)`)
	kvs, err := scenario.Config{Scenario: liveness, Params: map[string]string{"duration": "5s"}}.Resolve()
	require.NoError(t, err)
	assert.Equal(t, []scenario.KV{{Name: "duration", Value: "5s"}}, kvs)
}
