package simtest

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// Scenario sweeps the registered scenario name over seeds and fails t when
// a seed fails (or, with ExpectFailure, when none does). Recorded failing
// seeds (the corpus, see the package doc) are replayed first. Options:
// Variant, Strategy, Param, Seeds (default: the scenario's SeedBudget from
// 0), ExpectFailure, ExpectFixed, Parallel, CorpusDir, NoCorpus.
func Scenario(t TB, name string, opts ...Option) {
	t.Helper()
	c, err := parseOptions(forScenario, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	fl, err := readFlags()
	if err != nil {
		t.Fatalf("%v", err)
	}
	sc, err := scenario.Lookup(name)
	if err != nil {
		t.Fatalf("simtest.Scenario: %v", err)
	}
	base := scenario.Config{Scenario: sc, Variant: c.variant, Params: c.params}
	spec := c.strategy
	if fl.strategy != "" {
		spec = fl.strategy
	}
	if spec != "" {
		s, _ := sim.ParseStrategy(spec) // validated by Strategy or readFlags
		base.Strategy = &s
	}
	if err := base.Check(); err != nil {
		t.Fatalf("simtest.Scenario: %v", err)
	}
	v, _ := sc.Variant(c.variant)
	base.Variant = v.Name
	strat, _ := base.StrategyOf()
	s := newSweep(t, c, fl, uint64(sc.SeedBudget()), fmt.Sprintf("%s/%s (strategy %s)", sc.Name, v.Name, strat))

	if s.dir != "" && !s.single {
		if stop := s.replayScenarioCorpus(sc.Name, v.Name); stop {
			return
		}
	}

	start := time.Now()
	pool := sim.NewPool(0) // the sweep's runs reuse each other's coroutines
	defer pool.Close()
	base.Pool = pool
	seed, o, found, err := sweepSeeds(s.first, s.end, c.parallel, func(seed uint64) (scenario.Outcome, bool, error) {
		cfg := base
		cfg.Seed = seed
		cfg.Trace = s.single
		o, err := scenario.Execute(cfg)
		return o, err == nil && !o.Passed(), err
	})
	if err != nil {
		t.Fatalf("simtest.Scenario: seed %d: %v", seed, err)
	}
	if !found {
		s.passed(time.Since(start))
		return
	}
	rp := scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Strategy: o.Strategy.String(), Seed: o.Seed, Params: o.ParamMap()}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: seed %d failed (sweeping seeds %s in %v):\n  %s\n  params: %s\n",
		s.what, seed, s.rangeDesc(), roundDur(time.Since(start)), indent(o.Result.Failure.Error()), paramsDesc(o.Params))
	if st := o.Result.Failure.Stack; st != "" && o.Result.Failure.Kind == sim.Panic {
		fmt.Fprintf(&b, "  stack:\n%s\n", indent("  "+st))
	}
	var files []string
	if s.dir != "" {
		path, isNew, err := writeScenarioRecord(s.dir, fmt.Sprint(seed), o)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "could not record the seed in the corpus: %v\n", err)
		case isNew:
			fmt.Fprintf(&b, "recorded in %s (new: commit it; it is replayed first on every run)\n", path)
			files = append(files, path)
		default:
			fmt.Fprintf(&b, "already recorded in %s\n", path)
			files = append(files, path)
		}
	}
	b.WriteString("replay:\n")
	fmt.Fprintf(&b, "  %s\n", s.goTestCommand(seed))
	for _, f := range files {
		fmt.Fprintf(&b, "  simrun replay %s\n", absPath(f))
	}
	fmt.Fprintf(&b, "  %s", rp.Command())
	if s.single {
		logTrace(t, seed, o.Result.Trace)
	}
	s.failed(b.String(), v.Buggy)
}

// Program sweeps prog, the main task of a World, over seeds and fails t
// when a seed fails (prog calls w.Violate, a task panics, deadlocks, ...)
// or, with ExpectFailure, when none does. Recorded failing seeds are
// replayed first. Options: Strategy, Seeds (default 0..199), ExpectFailure,
// ExpectFixed, Parallel, CorpusDir, NoCorpus, WorldOptions. With Parallel,
// prog runs concurrently in different Worlds: it must not share mutable
// state between runs.
func Program(t TB, prog func(w *sim.World), opts ...Option) {
	t.Helper()
	c, err := parseOptions(forProgram, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if prog == nil {
		t.Fatalf("simtest.Program: prog is nil")
	}
	fl, err := readFlags()
	if err != nil {
		t.Fatalf("%v", err)
	}
	spec := c.strategy
	if fl.strategy != "" {
		spec = fl.strategy
	}
	strat, _ := sim.ParseStrategy(cmpOr(spec, "random"))
	s := newSweep(t, c, fl, DefaultProgramSeeds, fmt.Sprintf("program (strategy %s)", strat))

	if s.dir != "" && !s.single {
		if stop := s.replayProgramCorpus(prog); stop {
			return
		}
	}

	start := time.Now()
	seed, res, found, err := sweepSeeds(s.first, s.end, c.parallel, func(seed uint64) (sim.Result, bool, error) {
		res, err := runProgram(prog, c.world, seed, strat, s.single)
		return res, err == nil && !res.Passed(), err
	})
	if err != nil {
		t.Fatalf("simtest.Program: seed %d: %v", seed, err)
	}
	if !found {
		s.passed(time.Since(start))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: seed %d failed (sweeping seeds %s in %v):\n  %s\n",
		s.what, seed, s.rangeDesc(), roundDur(time.Since(start)), indent(res.Failure.Error()))
	if st := res.Failure.Stack; st != "" && res.Failure.Kind == sim.Panic {
		fmt.Fprintf(&b, "  stack:\n%s\n", indent("  "+st))
	}
	if s.dir != "" {
		rec := programRecord{Seed: seed, Strategy: strat.String(), Kind: res.Failure.Kind.String()}
		path, isNew, err := writeProgramRecord(s.dir, rec)
		switch {
		case err != nil:
			fmt.Fprintf(&b, "could not record the seed in the corpus: %v\n", err)
		case isNew:
			fmt.Fprintf(&b, "recorded in %s (new: commit it; it is replayed first on every run)\n", path)
		default:
			fmt.Fprintf(&b, "already recorded in %s\n", path)
		}
	}
	fmt.Fprintf(&b, "replay: %s", s.goTestCommand(seed))
	if s.single {
		logTrace(t, seed, res.Trace)
	}
	s.failed(b.String(), false)
}

// runProgram runs prog once in a new World.
func runProgram(prog func(*sim.World), base sim.Options, seed uint64, strat sim.Strategy, trace bool) (sim.Result, error) {
	o := base
	o.Seed, o.Strategy, o.Source, o.Trace = seed, strat, nil, trace
	w, err := sim.New(o)
	if err != nil {
		return sim.Result{}, err
	}
	return w.Run(func() { prog(w) })
}

// sweep is the state shared by Scenario and Program.
type sweep struct {
	t          TB
	c          *config
	fl         flagValues
	what       string
	first, end uint64
	single     bool   // -sim.seed
	dir        string // corpus directory, "" for none
}

func newSweep(t TB, c *config, fl flagValues, budget uint64, what string) *sweep {
	s := &sweep{t: t, c: c, fl: fl, what: what, first: 0, end: budget}
	switch {
	case fl.seedSet:
		if fl.seed == math.MaxUint64 {
			t.Fatalf("simtest: -sim.seed=%d: seed too large (the largest is %d)", fl.seed, uint64(math.MaxUint64-1))
		}
		s.first, s.end, s.single = fl.seed, fl.seed+1, true
	case fl.seedsSet:
		s.first, s.end = fl.first, fl.end
	case c.seedsSet:
		s.first, s.end = c.first, c.end
	}
	if !c.noCorpus {
		s.dir = c.corpusDir
		if s.dir == "" {
			s.dir = defaultCorpusDir(t.Name())
		}
	}
	return s
}

func (s *sweep) rangeDesc() string {
	if s.end-s.first == 1 {
		return fmt.Sprint(s.first)
	}
	return fmt.Sprintf("%d..%d", s.first, s.end-1)
}

// goTestCommand is the go test command line that reruns seed alone.
func (s *sweep) goTestCommand(seed uint64) string {
	return s.goTestCommandWith(seed, s.fl.strategy)
}

// goTestCommandWith is goTestCommand with -sim.strategy=strategy, unless
// strategy is "".
func (s *sweep) goTestCommandWith(seed uint64, strategy string) string {
	cmd := fmt.Sprintf("go test -run %s -sim.seed=%d", shellQuote(runPattern(s.t.Name())), seed)
	if strategy != "" {
		cmd += " -sim.strategy=" + shellQuote(strategy)
	}
	return cmd + " (in this package)"
}

// passed ends a sweep in which no seed failed.
func (s *sweep) passed(d time.Duration) {
	s.t.Helper()
	n := s.end - s.first
	if s.c.expectFailure {
		s.t.Errorf("%s: expected a failure (ExpectFailure), but all %d seed(s) %s passed in %v: "+
			"the simulator no longer finds the bug, or the bug is fixed (then drop ExpectFailure)",
			s.what, n, s.rangeDesc(), roundDur(d))
		return
	}
	s.t.Logf("%s: %d seed(s) %s passed in %v", s.what, n, s.rangeDesc(), roundDur(d))
}

// failed ends a sweep that found a failure described by report.
func (s *sweep) failed(report string, buggy bool) {
	s.t.Helper()
	if s.c.expectFailure {
		s.t.Logf("found the expected failure (ExpectFailure): %s", report)
		return
	}
	if buggy && !s.c.expectFixed {
		report += "\n(the variant is marked buggy: if this failure is expected, add simtest.ExpectFailure())"
	}
	s.t.Errorf("%s", report)
}

// sweepSeeds runs seeds first..end-1 on par goroutines and returns the
// lowest seed whose run failed or returned an error, with its result. In
// parallel, seeds are handed out in increasing order and every seed below
// the lowest failure found so far is still run, so the answer does not
// depend on timing.
func sweepSeeds[R any](first, end uint64, par int, run func(seed uint64) (R, bool, error)) (uint64, R, bool, error) {
	if par <= 1 || end-first == 1 {
		for seed := first; seed < end; seed++ {
			r, failed, err := run(seed)
			if failed || err != nil {
				return seed, r, err == nil, err
			}
		}
		var zero R
		return 0, zero, false, nil
	}
	type hit struct {
		r   R
		err error
	}
	var (
		next  atomic.Uint64
		best  atomic.Uint64
		mu    sync.Mutex
		hits  = map[uint64]hit{}
		wg    sync.WaitGroup
		count = min(uint64(par), end-first)
	)
	next.Store(first)
	best.Store(math.MaxUint64)
	for range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seed := next.Add(1) - 1
				if seed >= end || seed < first || seed > best.Load() {
					return
				}
				r, failed, err := run(seed)
				if !failed && err == nil {
					continue
				}
				mu.Lock()
				hits[seed] = hit{r, err}
				mu.Unlock()
				for {
					b := best.Load()
					if seed >= b || best.CompareAndSwap(b, seed) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	b := best.Load()
	if b == math.MaxUint64 {
		var zero R
		return 0, zero, false, nil
	}
	h := hits[b]
	return b, h.r, h.err == nil, h.err
}

// logTrace logs a failing run's trace (its last maxTraceLog events).
func logTrace(t TB, seed uint64, tr []sim.TraceEvent) {
	t.Helper()
	const maxTraceLog = 10000
	var b strings.Builder
	from := 0
	if len(tr) > maxTraceLog {
		from = len(tr) - maxTraceLog
		fmt.Fprintf(&b, "(the first %d events are not shown)\n", from)
	}
	for _, e := range tr[from:] {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	t.Logf("trace of seed %d (%d events):\n%s", seed, len(tr), b.String())
}

// runPattern is a go test -run pattern matching exactly the test (or
// subtest) name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") }

func paramsDesc(ps []scenario.KV) string {
	if len(ps) == 0 {
		return "(none)"
	}
	var parts []string
	for _, kv := range ps {
		d := kv.Name + "=" + kv.Value
		if kv.Drawn {
			d += " (drawn)"
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, " ")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// roundDur rounds a sweep's wall time for reports.
func roundDur(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(100 * time.Microsecond)
}
