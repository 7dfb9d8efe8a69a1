package scenarios

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// Live modes run a scenario's fixed variant for real: the same protocol
// packages, built the same way, on whatever Env and network they are given.
// cmd/simrun live gives them the OS runtime (sim/osrt) and real loopback
// sockets (netmodel/osnet); the tests also give them a World and netmodel,
// where the very same workload code runs in virtual time. A live workload is
// therefore written like the rest of this package: against sim.Env and
// netmodel.Env only (tasks, clock, locks and channels from the Env), and it
// is checked by the determinism linter like any scenario.
//
// Unlike a simulated run, a live run is not reproducible (the schedule and
// the clock are the machine's): properties are checked as they apply to one
// real run, timing properties with a tolerance (LiveTolerance), and the
// outcome is a LiveReport rather than a replayable failure.

// LiveNet is where a live workload gets its nodes.
type LiveNet interface {
	// AddNode adds a node called name on the workload's segment and returns
	// its environment (tasks, clock, and the node's network stack).
	AddNode(name string) (netmodel.Env, error)
}

// LiveNetFunc adapts a function to LiveNet.
type LiveNetFunc func(name string) (netmodel.Env, error)

// AddNode calls f.
func (f LiveNetFunc) AddNode(name string) (netmodel.Env, error) { return f(name) }

// LiveConfig configures a live run.
type LiveConfig struct {
	// Env is the workload's own environment: its clock, its tasks (the
	// monitor, RPC loops) and its locks. It must be the runtime the
	// nodes of Net run on.
	Env sim.Env
	// Net provides the nodes.
	Net LiveNet
	// Nodes is the number of nodes (0: the mode's default; see LiveMode).
	Nodes int
	// Duration is how long the workload runs (0: the mode's default).
	// Workloads made of phases (pickfirst, priority) use it as their
	// budget and may end sooner.
	Duration time.Duration
	// Out, if set, receives the run's events as they happen, one line
	// each: the time since the start and what happened. Writes are
	// serialised by the workload.
	Out io.Writer
	// Variant is the protocol variant to run ("": fixed). Modes that
	// take others list them in LiveMode.Variants (the stress harness of
	// package bench runs buggy variants for real).
	Variant string
}

// LiveTolerance is added to the bound of every timing property of a live
// run: a real scheduler on a loaded machine can hold a runnable goroutine
// for tens of milliseconds, and loopback sockets are not instantaneous.
const LiveTolerance = time.Second

// LiveCheck is one property's outcome in a live run.
type LiveCheck struct {
	Property string `json:"property"`
	Passed   bool   `json:"passed"`
	// Detail says what was measured (passed) or the first violation and
	// how many followed (failed).
	Detail string `json:"detail"`
}

// LiveReport is a live run's outcome.
type LiveReport struct {
	Scenario string            `json:"scenario"`
	Variant  string            `json:"variant"`
	Nodes    int               `json:"nodes"`
	Duration time.Duration     `json:"duration_ns"` // the configured duration
	Elapsed  time.Duration     `json:"elapsed_ns"`  // how long the run took
	Events   int               `json:"events"`
	Checks   []LiveCheck       `json:"checks"`
	Metrics  []scenario.Metric `json:"metrics"`
}

// Passed reports whether every property held.
func (r LiveReport) Passed() bool {
	for _, c := range r.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// Failed lists the properties that did not hold.
func (r LiveReport) Failed() []LiveCheck {
	var out []LiveCheck
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the named property's outcome.
func (r LiveReport) Check(property string) (LiveCheck, bool) {
	for _, c := range r.Checks {
		if c.Property == property {
			return c, true
		}
	}
	return LiveCheck{}, false
}

// Metric returns the named metric.
func (r LiveReport) Metric(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// LiveMode is a scenario's live workload.
type LiveMode struct {
	// Scenario is the registered scenario it belongs to.
	Scenario string
	// Doc says what the workload does and checks.
	Doc string
	// Nodes: the default, and the range accepted. Modes whose cast is
	// fixed (a client and its servers) have MinNodes == MaxNodes.
	DefaultNodes, MinNodes, MaxNodes int
	// DefaultDuration and MinDuration bound LiveConfig.Duration.
	DefaultDuration, MinDuration time.Duration
	// Properties are the properties the workload checks, in report order.
	Properties []string
	// Variants are the variants it can run besides "fixed".
	Variants []string

	run func(l *liveRun) error
}

// ErrNoLiveMode is wrapped by Live for a scenario that has no live mode.
var ErrNoLiveMode = errors.New("no live mode")

var liveModes []*LiveMode

// registerLive adds a live mode (from an init function: files initialise
// in name order, so the scenario itself may not be registered yet; a test
// checks that every live mode names a registered scenario).
func registerLive(m *LiveMode) {
	liveModes = append(liveModes, m)
	slices.SortFunc(liveModes, func(a, b *LiveMode) int { return strings.Compare(a.Scenario, b.Scenario) })
}

// LiveModes lists the live modes by scenario name.
func LiveModes() []*LiveMode { return slices.Clone(liveModes) }

// Live returns the live mode of the named scenario. An unknown scenario is
// scenario.Lookup's error; a scenario without a live mode is an error
// wrapping ErrNoLiveMode that says which scenarios have one.
func Live(name string) (*LiveMode, error) {
	for _, m := range liveModes {
		if m.Scenario == name {
			return m, nil
		}
	}
	if _, err := scenario.Lookup(name); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range liveModes {
		names = append(names, m.Scenario)
	}
	return nil, fmt.Errorf("scenario %s has %w: it runs only in simulation (live modes: %s)", name, ErrNoLiveMode, strings.Join(names, ", "))
}

// Validate checks cfg against the mode and fills its defaults.
func (m *LiveMode) Validate(cfg *LiveConfig) error {
	if cfg.Env == nil || cfg.Net == nil {
		return fmt.Errorf("live %s: LiveConfig.Env and LiveConfig.Net are required", m.Scenario)
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = m.DefaultNodes
	}
	if cfg.Nodes < m.MinNodes || cfg.Nodes > m.MaxNodes {
		if m.MinNodes == m.MaxNodes {
			return fmt.Errorf("live %s: -nodes %d: this workload always runs %d nodes", m.Scenario, cfg.Nodes, m.MinNodes)
		}
		return fmt.Errorf("live %s: -nodes %d out of range %d-%d", m.Scenario, cfg.Nodes, m.MinNodes, m.MaxNodes)
	}
	if cfg.Duration == 0 {
		cfg.Duration = m.DefaultDuration
	}
	if cfg.Duration < m.MinDuration {
		return fmt.Errorf("live %s: -duration %v is shorter than the workload's minimum %v", m.Scenario, cfg.Duration, m.MinDuration)
	}
	if cfg.Variant == "" {
		cfg.Variant = "fixed"
	}
	if cfg.Variant != "fixed" && !slices.Contains(m.Variants, cfg.Variant) {
		return fmt.Errorf("live %s: variant %q has no live mode (variants: %s)", m.Scenario, cfg.Variant, strings.Join(append([]string{"fixed"}, m.Variants...), ", "))
	}
	return nil
}

// Run runs the workload and returns its report. The error is for bad
// configuration and for a setup that could not be made (a node that could
// not be added, a socket that could not be bound: the error names it);
// properties that fail are in the report. Run returns once every protocol
// object it built is closed.
func (m *LiveMode) Run(cfg LiveConfig) (LiveReport, error) {
	if err := m.Validate(&cfg); err != nil {
		return LiveReport{}, err
	}
	l := &liveRun{
		cfg: cfg, env: cfg.Env, mu: cfg.Env.NewMutex(), start: cfg.Env.Now(),
		report: LiveReport{Scenario: m.Scenario, Variant: cfg.Variant, Nodes: cfg.Nodes, Duration: cfg.Duration},
	}
	for _, p := range m.Properties {
		l.report.Checks = append(l.report.Checks, LiveCheck{Property: p, Passed: true})
		l.violations = append(l.violations, 0)
	}
	err := m.run(l)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.report.Elapsed = l.env.Since(l.start)
	for i, c := range l.report.Checks {
		if n := l.violations[i]; n > 1 {
			l.report.Checks[i].Detail = fmt.Sprintf("%s (and %d more violations)", c.Detail, n-1)
		}
	}
	if err != nil {
		return l.report, fmt.Errorf("live %s: %w", m.Scenario, err)
	}
	return l.report, nil
}

// liveRun is one live run's record: events, properties and metrics, safe
// for the workload's concurrent tasks.
type liveRun struct {
	cfg   LiveConfig
	env   sim.Env
	start time.Time

	mu         sim.Mutex // everything below
	report     LiveReport
	violations []int // per check
}

// since is the time since the run started.
func (l *liveRun) since() time.Duration { return l.env.Since(l.start) }

// event records one event line.
func (l *liveRun) event(format string, args ...any) {
	at := l.since()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.report.Events++
	if l.cfg.Out != nil {
		fmt.Fprintf(l.cfg.Out, "%9.3fs  %s\n", at.Seconds(), fmt.Sprintf(format, args...))
	}
}

func (l *liveRun) check(property string) int {
	for i, c := range l.report.Checks {
		if c.Property == property {
			return i
		}
	}
	panic("scenarios: live property " + property + " is not declared in its LiveMode")
}

// violate records a violation of property; the first one's message is the
// check's detail. It is also an event.
func (l *liveRun) violate(property, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	i := l.check(property)
	if l.violations[i] == 0 {
		l.report.Checks[i].Passed = false
		l.report.Checks[i].Detail = msg
	}
	l.violations[i]++
	first := l.violations[i] == 1
	l.mu.Unlock()
	if first {
		l.event("VIOLATION %s: %s", property, msg)
	}
}

// held records what a property that held measured (a violation's detail
// is kept instead).
func (l *liveRun) held(property, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.check(property)
	if l.violations[i] == 0 {
		l.report.Checks[i].Detail = fmt.Sprintf(format, args...)
	}
}

// metric sets a metric.
func (l *liveRun) metric(name string, v float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.report.Metrics {
		if l.report.Metrics[i].Name == name {
			l.report.Metrics[i].Value = v
			return
		}
	}
	l.report.Metrics = append(l.report.Metrics, scenario.Metric{Name: name, Value: v})
}

// waitUntil polls cond every step until it holds or timeout passes, and
// reports whether it held. Live runs poll on the real clock: there is no
// quiescence to wait for.
func (l *liveRun) waitUntil(timeout, step time.Duration, cond func() bool) bool {
	deadline := l.env.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		left := l.env.Until(deadline)
		if left <= 0 {
			return false
		}
		l.env.Sleep(min(step, left))
	}
}

// sortedNames returns the keys of a set of names, sorted.
func sortedNames(m map[string]bool) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] {
			out = append(out, k)
		}
	}
	return out
}
