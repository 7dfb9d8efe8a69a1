package simtest_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/detsim/detsim/examples/races"
	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
	"github.com/detsim/detsim/sim/simtest"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

// TestMain checks that no World leaves a goroutine behind, including the
// parallel sweeps'.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var demo = flag.Bool("sim.demo", false, "run the demonstration tests, which fail on purpose to show simtest's reports")

// fakeTB records what a helper reports. Fatalf and FailNow end the
// goroutine, as testing.T's do, so helpers run in run's goroutine. It
// satisfies simtest.TB and rapid.TB.
type fakeTB struct {
	name string

	mu     sync.Mutex
	logs   []string
	errs   []string
	failed bool
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Log(args ...any) { f.Logf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.failed = true
}
func (f *fakeTB) Error(args ...any) { f.Errorf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}
func (f *fakeTB) FailNow() { f.Fail(); runtime.Goexit() }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.Logf("SKIP: "+format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) { f.Skipf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) SkipNow()         { f.Skipf("skipped") }

func (f *fakeTB) errors() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.errs, "\n---\n")
}
func (f *fakeTB) logText() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n---\n")
}

// run runs fn with a fake TB named name in its own goroutine.
func run(name string, fn func(tb *fakeTB)) *fakeTB {
	tb := &fakeTB{name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(tb)
	}()
	<-done
	return tb
}

func mustFail(t *testing.T, tb *fakeTB, want ...string) {
	t.Helper()
	if !tb.Failed() {
		t.Fatalf("the helper passed; want a failure containing %q\nlogs:\n%s", want, tb.logText())
	}
	for _, w := range want {
		if !strings.Contains(tb.errors(), w) {
			t.Errorf("failure report lacks %q:\n%s", w, tb.errors())
		}
	}
}

func mustPass(t *testing.T, tb *fakeTB, wantLog ...string) {
	t.Helper()
	if tb.Failed() {
		t.Fatalf("the helper failed:\n%s", tb.errors())
	}
	for _, w := range wantLog {
		if !strings.Contains(tb.logText(), w) {
			t.Errorf("log lacks %q:\n%s", w, tb.logText())
		}
	}
}

// firstFailing finds the first failing seed of a counter-race variant
// directly with scenario.Execute, independently of simtest.
func firstFailing(t *testing.T, variant, strategy string) uint64 {
	t.Helper()
	sc, err := scenario.Lookup("counter-race")
	if err != nil {
		t.Fatal(err)
	}
	cfg := scenario.Config{Scenario: sc, Variant: variant}
	if strategy != "" {
		s, err := sim.ParseStrategy(strategy)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Strategy = &s
	}
	for seed := uint64(0); seed < 1000; seed++ {
		cfg.Seed = seed
		o, err := scenario.Execute(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Passed() {
			return seed
		}
	}
	t.Fatalf("no failing seed of counter-race/%s in 0..999", variant)
	return 0
}

// setFlag sets a command-line flag for the rest of the test.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	f := flag.Lookup(name)
	if f == nil {
		t.Fatalf("flag -%s is not registered", name)
	}
	old := f.Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set(name, old) })
}

func TestScenarioFixedPasses(t *testing.T) {
	tb := run("TestFixed", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus()) })
	mustPass(t, tb, "counter-race/fixed (strategy random): 500 seed(s) 0..499 passed")
}

func TestScenarioBuggyFailsRecordsAndReplaysFirst(t *testing.T) {
	seed := firstFailing(t, "buggy", "")
	dir := t.TempDir()
	file := filepath.Join(dir, fmt.Sprintf("%d.json", seed))

	tb := run("TestBuggy", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir))
	})
	mustFail(t, tb,
		fmt.Sprintf("seed %d failed (sweeping seeds 0..499", seed),
		"violation at step",
		"no-lost-update: counter =",
		"recorded in "+file+" (new",
		fmt.Sprintf("go test -run '^TestBuggy$' -sim.seed=%d (in this package)", seed),
		"simrun replay "+file,
		fmt.Sprintf("simrun run counter-race -variant buggy -seed %d -strategy random -param rounds=1 -param workers=", seed),
		"add simtest.ExpectFailure()",
	)
	rp, err := scenario.ReadReplay(file)
	if err != nil {
		t.Fatalf("the corpus file is not a valid replay: %v", err)
	}
	if rp.Seed != seed || rp.Variant != "buggy" || rp.Failure == nil || rp.Failure.Kind != "violation" {
		t.Fatalf("corpus file records %+v", rp)
	}
	if v, err := rp.Rerun(); err != nil || !v.Same {
		t.Fatalf("the corpus file does not replay exactly: %v %+v", err, v)
	}

	// The second run replays the corpus first, reports the recorded
	// failure and skips the sweep.
	tb = run("TestBuggy", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir))
	})
	mustFail(t, tb, "a recorded failure still reproduces: "+file, "simrun replay "+file)
	if strings.Contains(tb.errors(), "sweeping seeds") {
		t.Errorf("the sweep ran although the corpus reproduced:\n%s", tb.errors())
	}

	// With ExpectFailure the reproducing corpus is what is expected, and
	// the sweep finds the same (already recorded) seed.
	tb = run("TestBuggy", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir), simtest.ExpectFailure())
	})
	mustPass(t, tb, "corpus "+file+" still fails as recorded: violation", "found the expected failure", "already recorded in "+file)

	// With ExpectFixed a reproducing corpus fails the test.
	tb = run("TestBuggy", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir), simtest.ExpectFixed())
	})
	mustFail(t, tb, "the bug is not fixed (ExpectFixed): "+file)

	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("corpus holds %d files, want the one recorded seed", len(entries))
	}
}

func TestScenarioLostBug(t *testing.T) {
	// A recorded failure of the fixed variant no longer reproduces: the
	// test fails unless ExpectFixed says the bug was fixed.
	seed := firstFailing(t, "buggy", "")
	dir := t.TempDir()
	tb := run("TestRecord", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir), simtest.ExpectFailure())
	})
	mustPass(t, tb)
	rp, err := scenario.ReadReplay(filepath.Join(dir, fmt.Sprintf("%d.json", seed)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%d.json", seed))); err != nil {
		t.Fatal(err)
	}
	rp.Variant = "fixed" // as if the buggy code had been fixed in place
	file := filepath.Join(dir, "lost.json")
	if err := rp.Write(file); err != nil {
		t.Fatal(err)
	}

	tb = run("TestLost", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.CorpusDir(dir)) })
	mustFail(t, tb, "the simulator lost the bug or the bug is fixed: "+file+" recorded violation: no-lost-update", "simtest.ExpectFixed()")

	tb = run("TestLost", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.CorpusDir(dir), simtest.ExpectFixed())
	})
	mustPass(t, tb, "corpus "+file+" passes (ExpectFixed", "500 seed(s) 0..499 passed")

	// With ExpectFailure the lost bug fails the test too.
	tb = run("TestLost", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.CorpusDir(dir), simtest.ExpectFailure(), simtest.Seeds(0, 10))
	})
	mustFail(t, tb, "the simulator lost the bug or the bug is fixed", "expected a failure (ExpectFailure), but all 10 seed(s) 0..9 passed")
}

func TestScenarioExpectFailure(t *testing.T) {
	tb := run("TestFixedExpectingFailure", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.NoCorpus(), simtest.Seeds(0, 50), simtest.ExpectFailure())
	})
	mustFail(t, tb, "counter-race/fixed (strategy random): expected a failure (ExpectFailure), but all 50 seed(s) 0..49 passed")

	seed := firstFailing(t, "buggy", "pct:3:20")
	tb = run("TestBuggyExpected", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.Strategy("pct:3:20"), simtest.NoCorpus(), simtest.ExpectFailure())
	})
	mustPass(t, tb, fmt.Sprintf("counter-race/buggy (strategy pct:3:20): seed %d failed", seed))
}

func TestScenarioParallelReportsLowestSeed(t *testing.T) {
	seed := firstFailing(t, "buggy", "")
	for i := range 20 {
		tb := run("TestParallel", func(tb *fakeTB) {
			simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.NoCorpus(), simtest.Parallel(8))
		})
		mustFail(t, tb, fmt.Sprintf("seed %d failed", seed))
		if t.Failed() {
			t.Fatalf("run %d", i)
		}
	}
	// Seeds 3..10 fail, and seed 3 takes far longer than the others: a
	// sweep that reported the first failure to finish would name another.
	key := map[uint64]uint64{}
	for seed := uint64(0); seed < 16; seed++ {
		w, _ := sim.New(sim.Options{Seed: seed})
		key[w.Rand("which").Uint64()] = seed
	}
	prog := func(w *sim.World) {
		seed := key[w.Rand("which").Uint64()]
		if seed == 3 {
			for range 20000 {
				w.Yield()
			}
		}
		if seed >= 3 && seed <= 10 {
			w.Violate("slow-or-fast", "seed %d", seed)
		}
	}
	for range 5 {
		tb := run("TestParallelSlow", func(tb *fakeTB) { simtest.Program(tb, prog, simtest.NoCorpus(), simtest.Parallel(8)) })
		mustFail(t, tb, "seed 3 failed", "slow-or-fast: seed 3")
	}
	tb := run("TestParallelFixed", func(tb *fakeTB) {
		simtest.Scenario(tb, "counter-race", simtest.NoCorpus(), simtest.Parallel(4))
	})
	mustPass(t, tb, "500 seed(s) 0..499 passed")
}

func TestFlags(t *testing.T) {
	seed := firstFailing(t, "buggy", "")
	t.Run("seed", func(t *testing.T) {
		// -sim.seed runs that seed only, skips the corpus (whose other
		// recorded seed would fail) and logs the trace.
		dir := t.TempDir()
		mustPass(t, run("TestX", func(tb *fakeTB) {
			simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir), simtest.ExpectFailure(), simtest.Seeds(seed+1, 1000))
		}))
		setFlag(t, "sim.seed", fmt.Sprint(seed))
		tb := run("TestX", func(tb *fakeTB) {
			simtest.Scenario(tb, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(dir))
		})
		mustFail(t, tb, fmt.Sprintf("seed %d failed (sweeping seeds %d in", seed, seed), fmt.Sprintf("-sim.seed=%d (in this package)", seed))
		if strings.Contains(tb.errors(), "recorded failure still reproduces") {
			t.Errorf("-sim.seed replayed the corpus:\n%s", tb.errors())
		}
		if log := tb.logText(); !strings.Contains(log, fmt.Sprintf("trace of seed %d (", seed)) || !strings.Contains(log, `run     task 1 "main"`) {
			t.Errorf("no trace logged:\n%s", log)
		}
		tb = run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus()) })
		mustPass(t, tb, fmt.Sprintf("1 seed(s) %d passed", seed))
	})
	t.Run("seeds", func(t *testing.T) {
		setFlag(t, "sim.seeds", "3:13")
		tb := run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus(), simtest.Seeds(0, 3)) })
		mustPass(t, tb, "10 seed(s) 3..12 passed")
		tb = run("TestX", func(tb *fakeTB) { simtest.Program(tb, races.CheckLostUpdate, simtest.NoCorpus(), simtest.Seeds(0, 3)) })
		mustFail(t, tb, "seed 6 failed (sweeping seeds 3..12")
	})
	t.Run("strategy", func(t *testing.T) {
		setFlag(t, "sim.strategy", "pct:3:25")
		tb := run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus(), simtest.Strategy("fifo")) })
		mustPass(t, tb, "counter-race/fixed (strategy pct:3:25): 500 seed(s)")
		pseed := firstFailing(t, "buggy", "pct:3:25")
		tb = run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus(), simtest.Variant("buggy")) })
		mustFail(t, tb, fmt.Sprintf("-sim.seed=%d -sim.strategy=pct:3:25 (in this package)", pseed), "-strategy pct:3:25")
	})
	for _, bad := range []struct{ flag, value, want string }{
		{"sim.seed", "x", `-sim.seed="x": want a non-negative integer seed`},
		{"sim.seed", "-1", `-sim.seed="-1"`},
		{"sim.seeds", "5", `-sim.seeds="5": want A:B with integers 0 <= A < B`},
		{"sim.seeds", "5:5", `-sim.seeds="5:5"`},
		{"sim.seeds", "a:9", `-sim.seeds="a:9"`},
		{"sim.strategy", "bogus", `-sim.strategy="bogus": strategy "bogus": unknown kind`},
	} {
		t.Run("bad-"+bad.flag+"="+bad.value, func(t *testing.T) {
			setFlag(t, bad.flag, bad.value)
			mustFail(t, run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.NoCorpus()) }), bad.want)
			mustFail(t, run("TestX", func(tb *fakeTB) { simtest.Program(tb, func(*sim.World) {}, simtest.NoCorpus()) }), bad.want)
		})
	}
	t.Run("seed-and-seeds", func(t *testing.T) {
		setFlag(t, "sim.seed", "3")
		setFlag(t, "sim.seeds", "0:9")
		mustFail(t, run("TestX", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race") }), "give one or the other")
	})
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(tb *fakeTB)
		want string
	}{
		{"unknown scenario", func(tb *fakeTB) { simtest.Scenario(tb, "no-such") }, `unknown scenario "no-such"`},
		{"unknown variant", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Variant("x")) }, `unknown variant "x"`},
		{"unknown param", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Param("x", "1")) }, `unknown parameter "x"`},
		{"bad param", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Param("workers", "9")) }, "parameter workers: 9 is outside [2, 4]"},
		{"bad strategy", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Strategy("pct:0")) }, "option Strategy: strategy \"pct:0\""},
		{"empty seeds", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Seeds(5, 5)) }, "Seeds(5, 5): the range first..end-1 is empty"},
		{"parallel 0", func(tb *fakeTB) { simtest.Program(tb, races.CheckLostUpdate, simtest.Parallel(0)) }, "Parallel(0)"},
		{"world options for a scenario", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.WorldOptions(sim.Options{})) }, "option WorldOptions does not apply to Scenario (it applies to Program)"},
		{"variant for a program", func(tb *fakeTB) { simtest.Program(tb, races.CheckLostUpdate, simtest.Variant("buggy")) }, "option Variant does not apply to Program"},
		{"contradiction", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.ExpectFailure(), simtest.ExpectFixed()) }, "contradict"},
		{"zero option", func(tb *fakeTB) { simtest.Scenario(tb, "counter-race", simtest.Option{}) }, "zero Option"},
		{"bad world options", func(tb *fakeTB) {
			simtest.Program(tb, races.CheckLostUpdate, simtest.WorldOptions(sim.Options{MaxSteps: -1}))
		}, "Options.MaxSteps = -1"},
		{"nil program", func(tb *fakeTB) { simtest.Program(tb, nil) }, "prog is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) { mustFail(t, run("TestX", tc.fn), tc.want) })
	}
}

func TestProgram(t *testing.T) {
	// Example_sweepAndReplay in package sim: seed 6 is the first to lose
	// an update with the random strategy.
	dir := t.TempDir()
	tb := run("TestLostUpdate", func(tb *fakeTB) { simtest.Program(tb, races.CheckLostUpdate, simtest.CorpusDir(dir)) })
	file := filepath.Join(dir, "6.json")
	mustFail(t, tb,
		"program (strategy random): seed 6 failed (sweeping seeds 0..199",
		"no-lost-update: counter = 1 after two increments",
		"recorded in "+file,
		"replay: go test -run '^TestLostUpdate$' -sim.seed=6 (in this package)")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rec) != "map[kind:violation seed:6 strategy:random]" {
		t.Errorf("corpus record %s", data)
	}

	// Replayed first on the next run.
	tb = run("TestLostUpdate", func(tb *fakeTB) { simtest.Program(tb, races.CheckLostUpdate, simtest.CorpusDir(dir)) })
	mustFail(t, tb, "a recorded failure still reproduces: "+file, "-sim.seed=6 -sim.strategy=random")
	tb = run("TestLostUpdate", func(tb *fakeTB) {
		simtest.Program(tb, races.CheckLostUpdate, simtest.CorpusDir(dir), simtest.ExpectFailure(), simtest.Parallel(4))
	})
	mustPass(t, tb, "corpus "+file+" still fails as recorded: a violation", "seed 6 failed", "already recorded")

	// The fixed program: the recorded seed must pass with ExpectFixed.
	fixed := func(w *sim.World) {
		mu := w.NewMutex()
		counter := 0
		wg := w.NewWaitGroup()
		wg.Add(2)
		for range 2 {
			w.Go("worker", func() {
				defer wg.Done()
				mu.Lock()
				v := counter
				w.Yield()
				counter = v + 1
				mu.Unlock()
			})
		}
		wg.Wait()
		if counter != 2 {
			w.Violate("no-lost-update", "counter = %d", counter)
		}
	}
	mustFail(t, run("TestLostUpdate", func(tb *fakeTB) { simtest.Program(tb, fixed, simtest.CorpusDir(dir)) }),
		"the simulator lost the bug or the bug is fixed: "+file)
	mustPass(t, run("TestLostUpdate", func(tb *fakeTB) { simtest.Program(tb, fixed, simtest.CorpusDir(dir), simtest.ExpectFixed()) }),
		"200 seed(s) 0..199 passed")

	// A panic is a failure, reported with its stack; WorldOptions apply.
	tb = run("TestPanics", func(tb *fakeTB) {
		simtest.Program(tb, func(w *sim.World) {
			if w.Rand("x").Intn(4) == 3 {
				panic("boom")
			}
		}, simtest.NoCorpus(), simtest.Strategy("fifo"))
	})
	mustFail(t, tb, "panic at step", "boom", "stack:")
	tb = run("TestLeaks", func(tb *fakeTB) {
		simtest.Program(tb, func(w *sim.World) { w.Go("forever", func() { w.Sleep(1e9) }) },
			simtest.NoCorpus(), simtest.WorldOptions(sim.Options{CheckLeaks: true}))
	})
	mustFail(t, tb, "seed 0 failed", "leak at step")
}

func TestFuzzSource(t *testing.T) {
	src := simtest.FuzzSource([]byte{7, 0x01, 0x02, 200, 0xff, 0xff, 0xff, 0xff, 9})
	for _, c := range []struct{ n, want int }{
		{1, 0},             // one choice: no byte read
		{10, 7},            // one byte
		{1000, 258 % 1000}, // two bytes, big-endian: 0x0102
		{256, 200},         // n <= 256: one byte
		{1 << 30, (1<<32 - 1) % (1 << 30)},
		{65536, 9 << 8}, // one byte left: the missing byte counts as 0
		{3, 0},          // exhausted: 0 forever
		{1 << 20, 0},
	} {
		if got := src.Intn(c.n); got != c.want {
			t.Errorf("Intn(%d) = %d, want %d", c.n, got, c.want)
		}
	}

	// The bytes drive the schedule: no bytes is the all-zeros schedule,
	// and some byte string loses an update.
	lost := func(data []byte) bool {
		w, err := sim.New(sim.Options{Source: simtest.FuzzSource(data)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.Run(func() { races.CheckLostUpdate(w) })
		if err != nil {
			t.Fatal(err)
		}
		return !res.Passed()
	}
	if lost(nil) {
		t.Fatalf("the all-zeros schedule loses an update; the search below proves nothing")
	}
	r := sim.NewRand(1)
	found := false
	for i := 0; i < 200 && !found; i++ {
		data := make([]byte, 16)
		for j := range data {
			data[j] = byte(r.Intn(256))
		}
		found = lost(data)
		if found && !lost(data) {
			t.Fatalf("input %x is not deterministic", data)
		}
	}
	if !found {
		t.Fatalf("no byte string among 200 lost an update")
	}
}

func TestRapidScenarioFixedPasses(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		o := simtest.RapidScenario(rt, "counter-race")
		if o.Variant != "fixed" || !o.Passed() {
			rt.Fatalf("outcome %+v", o)
		}
	})
}

// noFailFile keeps rapid from writing testdata/rapid/ fail files for the
// failures these tests provoke on purpose.
func noFailFile(t *testing.T) { setFlag(t, "rapid.nofailfile", "true") }

func TestRapidScenarioFindsTheBug(t *testing.T) {
	noFailFile(t)
	tb := run("TestRapidBuggy", func(tb *fakeTB) {
		rapid.Check(tb, func(rt *rapid.T) { simtest.RapidScenario(rt, "counter-race", simtest.Variant("buggy")) })
	})
	mustFail(t, tb, "[rapid] failed after", "counter-race/buggy (strategy random) failed at seed", "simrun run counter-race -variant buggy -seed ")
	// The reported (shrunk) run is a real failure: its replay command
	// reproduces it.
	_, after, _ := strings.Cut(tb.errors(), "replay: simrun run counter-race -variant buggy ")
	var seed uint64
	var strategy, rounds, workers string
	if _, err := fmt.Sscanf(after, "-seed %d -strategy %s -param rounds=%s -param workers=%s", &seed, &strategy, &rounds, &workers); err != nil {
		t.Fatalf("cannot parse the replay command: %v\n%s", err, tb.errors())
	}
	sc, _ := scenario.Lookup("counter-race")
	o, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: "buggy", Seed: seed,
		Params: map[string]string{"rounds": rounds, "workers": workers}})
	if err != nil || o.Passed() || strategy != "random" {
		t.Fatalf("the reported replay (seed %d, %s, rounds=%s workers=%s) does not fail: %v", seed, strategy, rounds, workers, err)
	}
}

// counterProgram is races.Counter with two workers and one round as a
// World main task.
func counterProgram(guarded bool) func(w *sim.World) {
	return func(w *sim.World) {
		if got := races.Counter(w, 2, 1, guarded, func(string, bool) bool { return false }); got != 2 {
			w.Violate("no-lost-update", "counter = %d after two increments", got)
		}
	}
}

func TestRapidSource(t *testing.T) {
	runWith := func(rt *rapid.T, prog func(w *sim.World)) sim.Result {
		w, err := sim.New(sim.Options{Source: simtest.RapidSource(rt)})
		if err != nil {
			rt.Fatal(err)
		}
		res, err := w.Run(func() { prog(w) })
		if err != nil {
			rt.Fatal(err)
		}
		return res
	}
	// The guarded counter passes every schedule rapid tries.
	rapid.Check(t, func(rt *rapid.T) {
		if res := runWith(rt, counterProgram(true)); !res.Passed() {
			rt.Fatalf("%v", res.Failure)
		}
	})
	// rapid finds a schedule of the lost update, and shrinks it.
	noFailFile(t)
	tb := run("TestRapidSource", func(tb *fakeTB) {
		rapid.Check(tb, func(rt *rapid.T) {
			if res := runWith(rt, races.CheckLostUpdate); !res.Passed() {
				rt.Fatalf("%v", res.Failure)
			}
		})
	})
	mustFail(t, tb, "[rapid] failed after", "no-lost-update: counter = 1 after two increments")
}

// TestDemo shows what the reports look like: it fails on purpose, and runs
// only with -sim.demo:
//
//	go test ./sim/simtest/ -run TestDemo -sim.demo -v
func TestDemo(t *testing.T) {
	if !*demo {
		t.Skip("a demonstration that fails on purpose: run with -sim.demo")
	}
	noFailFile(t)
	t.Run("sweep", func(t *testing.T) {
		simtest.Scenario(t, "counter-race", simtest.Variant("buggy"), simtest.CorpusDir(t.TempDir()))
	})
	t.Run("rapid", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) { simtest.RapidScenario(rt, "counter-race", simtest.Variant("buggy")) })
	})
	t.Run("program", func(t *testing.T) {
		simtest.Program(t, races.CheckLostUpdate, simtest.NoCorpus())
	})
}
