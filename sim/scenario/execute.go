package scenario

import (
	"errors"
	"fmt"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// Config selects one run of a scenario.
type Config struct {
	Scenario *Scenario
	// Variant "" is the scenario's default.
	Variant string
	Seed    uint64
	// Strategy nil is the scenario's default.
	Strategy *sim.Strategy
	// Params are given values; the others are drawn or defaulted.
	Params map[string]string
	// Trace records the kernel trace; CheckpointEvery records fingerprint
	// checkpoints (see sim.Options).
	Trace           bool
	CheckpointEvery int64
	// Source replaces the decision source (rapid, fuzz).
	Source sim.Source
	// Pool lends the run coroutines kept from earlier runs (sim.Pool):
	// give a sweep's runs one. It changes no result.
	Pool *sim.Pool
	// NetObserver, if set, watches the run's network (see
	// netmodel.Network.SetObserver): every packet and fault, for reports.
	// It changes no result.
	NetObserver func(netmodel.Event)
}

// Outcome is one run's result with the scenario's view of it.
type Outcome struct {
	Scenario string
	Variant  string
	Seed     uint64
	Strategy sim.Strategy
	Params   []KV
	Result   sim.Result
	Metrics  []Metric
	// Probes lists every declared probe (and any other reached), with hits.
	Probes []Probe
	Wall   time.Duration
}

// Passed reports whether the run passed.
func (o Outcome) Passed() bool { return o.Result.Failure == nil }

// ParamMap returns the resolved parameters as a map.
func (o Outcome) ParamMap() map[string]string {
	m := make(map[string]string, len(o.Params))
	for _, kv := range o.Params {
		m[kv.Name] = kv.Value
	}
	return m
}

// StrategyOf returns the strategy a config runs with.
func (c Config) StrategyOf() (sim.Strategy, error) {
	if c.Strategy != nil {
		return *c.Strategy, nil
	}
	if c.Scenario.Strategy == "" {
		return sim.Strategy{}, nil
	}
	return sim.ParseStrategy(c.Scenario.Strategy)
}

// Check validates the config (variant and parameters) without running.
func (c Config) Check() error {
	if c.Scenario == nil {
		return errors.New("scenario: Config.Scenario is nil")
	}
	if _, err := c.Scenario.Variant(c.Variant); err != nil {
		return err
	}
	if _, err := c.StrategyOf(); err != nil {
		return err
	}
	_, err := resolve(c.Scenario, c.Params, sim.NewRand(0))
	return err
}

// Resolve returns the parameters a run of this config uses (given, drawn for
// its seed, or default), without running it, so they can be printed before
// the run starts.
func (c Config) Resolve() ([]KV, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	w, err := sim.New(sim.Options{Seed: c.Seed})
	if err != nil {
		return nil, err
	}
	ps, err := resolve(c.Scenario, c.Params, w.Rand("scenario/params"))
	return ps.List(), err
}

// calibrate gives a PCT strategy without a horizon (K) one: the number of
// steps the same seed takes under the random strategy, so that PCT's change
// points fall inside the run (a default K much larger than the run would
// make PCT almost never preempt). The outcome records the explicit horizon,
// so replays do not calibrate again.
func calibrate(c Config, strat sim.Strategy) (sim.Strategy, error) {
	if strat.Kind != sim.PCT || strat.Horizon != 0 {
		return strat, nil
	}
	if strat.Depth == 1 {
		// No change points: the horizon does not matter.
		strat.Horizon = 1
		return strat, nil
	}
	cal := c
	rs := sim.Strategy{Kind: sim.Random, PermuteEqualTime: strat.PermuteEqualTime}
	cal.Strategy, cal.Trace, cal.CheckpointEvery, cal.Source, cal.NetObserver = &rs, false, 0, nil, nil
	o, err := Execute(cal)
	if err != nil {
		return strat, err
	}
	strat.Horizon = int(max(1, o.Result.Steps))
	if strat.Depth == 0 {
		strat.Depth = 3
	}
	return strat, nil
}

// Execute runs the configured scenario once. A PCT strategy without a
// horizon is first calibrated (see calibrate). The error is for bad input
// only; a failing run (including a panic in the scenario) is an Outcome
// whose Result has a Failure.
func Execute(c Config) (Outcome, error) {
	if err := c.Check(); err != nil {
		return Outcome{}, err
	}
	s := c.Scenario
	v, _ := s.Variant(c.Variant)
	strat, _ := c.StrategyOf()
	strat, err := calibrate(c, strat)
	if err != nil {
		return Outcome{}, err
	}
	w, err := sim.New(sim.Options{
		Seed: c.Seed, Strategy: strat, Source: c.Source,
		MaxSteps: s.MaxSteps, MaxTime: s.MaxTime, CheckLeaks: s.CheckLeaks,
		Trace: c.Trace, CheckpointEvery: c.CheckpointEvery, Pool: c.Pool,
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("scenario %s: %w", s.Name, err)
	}
	params, err := resolve(s, c.Params, w.Rand("scenario/params"))
	if err != nil {
		return Outcome{}, err
	}
	r := &Run{W: w, Variant: v.Name, Params: params, Seed: c.Seed, scenario: s, netObserver: c.NetObserver}
	for _, p := range s.Probes {
		r.probes = append(r.probes, Probe{Name: p})
	}
	start := time.Now()
	res, err := w.Run(func() { s.Main(r) })
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{
		Scenario: s.Name, Variant: v.Name, Seed: c.Seed, Strategy: strat,
		Params: params.List(), Result: res, Metrics: r.metrics, Probes: r.probes,
		Wall: time.Since(start),
	}, nil
}
