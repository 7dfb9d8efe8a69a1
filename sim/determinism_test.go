package sim_test

// Determinism: the same program, seed and strategy give the same run, step
// for step, whatever the GOMAXPROCS, the race detector, the build or the
// architecture. The programs come from the generators in prop_test.go, fed
// by sim.Rand (whose algorithm is part of the sim package), so the program
// set itself is the same everywhere.

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// detPrograms returns n programs generated from one fixed seed: arbitrary
// programs (which often deadlock or panic), mixed ones and deadlock-free
// ones, in turn.
func detPrograms(n int) []*program {
	r := sim.NewRand(0x5eed_de7e_2a11)
	ps := make([]*program, n)
	for i := range ps {
		switch i % 3 {
		case 0:
			ps[i] = genGeneral(r, 6, 12)
		case 1:
			ps[i] = genMixed(r, 6, 15)
		default:
			ps[i] = genSafe(r, 6, 15)
		}
	}
	return ps
}

var detStrategies = []string{"random", "pct:2:50", "pct:3:200", "fifo", "random+permute"}

func mustStrategy(t testing.TB, s string) sim.Strategy {
	st, err := sim.ParseStrategy(s)
	require.NoError(t, err)
	return st
}

// summary is what must be equal between two runs of the same inputs.
type summary struct {
	fingerprint uint64
	steps       int64
	elapsed     int64
	failure     string // kind, or "pass"
	message     string
	blocked     string
}

func summarize(res sim.Result) summary {
	s := summary{fingerprint: res.Fingerprint, steps: res.Steps, elapsed: int64(res.Elapsed), failure: "pass"}
	if f := res.Failure; f != nil {
		s.failure = f.Kind.String()
		s.message = f.Message
		s.blocked = fmt.Sprint(f.Blocked)
	}
	return s
}

func detRun(t testing.TB, p *program, opts sim.Options) sim.Result {
	res, _, _ := runProgram(t, p, opts)
	return res
}

// TestDeterminismSameInputsSameRun runs each of 200 programs twice with the
// same options: same fingerprint, steps, elapsed time and failure, and the
// traces are equal event by event. A third run without a trace has the same
// fingerprint (the fingerprint does not depend on keeping the trace). The
// first run's observations are also checked against the model, as in the
// property tests.
func TestDeterminismSameInputsSameRun(t *testing.T) {
	for i, p := range detPrograms(200) {
		opts := sim.Options{Seed: uint64(i) * 7919, Strategy: mustStrategy(t, detStrategies[i%len(detStrategies)]), Trace: true}
		a, m, r := runProgram(t, p, opts)
		require.Empty(t, checkOutcome(p, a, m, r), "program %d\n%s", i, p)
		b := detRun(t, p, opts)
		require.Equal(t, summarize(a), summarize(b), "program %d\n%s", i, p)
		require.Equal(t, len(a.Trace), len(b.Trace), "program %d", i)
		for k := range a.Trace {
			require.Equal(t, a.Trace[k], b.Trace[k], "program %d: trace event %d differs", i, k)
		}
		opts.Trace = false
		c := detRun(t, p, opts)
		require.Equal(t, summarize(a), summarize(c), "program %d: the trace changed the run", i)
		require.Nil(t, c.Trace)
	}
}

// TestDeterminismAcrossGOMAXPROCS: the same runs under GOMAXPROCS 1, 2 and 8,
// and with many Worlds running at once, give the same results.
func TestDeterminismAcrossGOMAXPROCS(t *testing.T) {
	ps := detPrograms(100)
	runAll := func() []summary {
		out := make([]summary, len(ps))
		for i, p := range ps {
			out[i] = summarize(detRun(t, p, sim.Options{Seed: uint64(i), Strategy: mustStrategy(t, detStrategies[i%len(detStrategies)])}))
		}
		return out
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	var want []summary
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		got := runAll()
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			require.Equal(t, want[i], got[i], "program %d differs under GOMAXPROCS=%d", i, procs)
		}
	}
	runtime.GOMAXPROCS(old)

	// Worlds running in parallel do not disturb each other.
	got := make([]summary, len(ps))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < len(ps); i += 4 {
				res, _, _ := runProgram(t, ps[i], sim.Options{Seed: uint64(i), Strategy: mustStrategy(t, detStrategies[i%len(detStrategies)])})
				got[i] = summarize(res)
			}
		})
	}
	wg.Wait()
	for i := range want {
		require.Equal(t, want[i], got[i], "program %d differs when Worlds run in parallel", i)
	}
}

const goldenPath = "testdata/fingerprints.golden"

func goldenLines(t *testing.T) []string {
	var lines []string
	for i, p := range detPrograms(100) {
		for k, s := range detStrategies {
			seed := uint64(i*len(detStrategies)+k) + 1
			res := detRun(t, p, sim.Options{Seed: seed, Strategy: mustStrategy(t, s)})
			kind := "pass"
			if res.Failure != nil {
				kind = res.Failure.Kind.String()
			}
			lines = append(lines, fmt.Sprintf("%d %d %s %016x %d %d %s", i, seed, s, res.Fingerprint, res.Steps, int64(res.Elapsed), kind))
		}
	}
	return lines
}

// TestFingerprintGolden compares the runs of 100 programs under five
// strategies with testdata/fingerprints.golden, one line per run:
//
//	program-index seed strategy fingerprint steps elapsed-ns failure-kind
//
// The sim tests run with and without -race, so matching one golden file
// proves race/non-race equality, and likewise across GOARCH and Go builds.
// Nothing in a run depends on map iteration, pointers or the wall clock.
// After an intended change to the kernel or to the program generator,
// rewrite the file with
//
//	go test ./sim/ -run TestFingerprintGolden -update
func TestFingerprintGolden(t *testing.T) {
	lines := goldenLines(t)
	if *update {
		var b bytes.Buffer
		b.WriteString("# program-index seed strategy fingerprint steps elapsed-ns failure-kind\n")
		b.WriteString("# generated by: go test ./sim/ -run TestFingerprintGolden -update\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
		require.NoError(t, os.WriteFile(goldenPath, b.Bytes(), 0o644))
		t.Logf("wrote %d lines to %s", len(lines), goldenPath)
		return
	}
	f, err := os.Open(goldenPath)
	require.NoError(t, err, "run go test ./sim/ -run TestFingerprintGolden -update to create it")
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	require.NoError(t, sc.Err())
	var diffs []string
	for i := range max(len(want), len(lines)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(lines) {
			g = lines[i]
		}
		if w != g {
			diffs = append(diffs, fmt.Sprintf("  want %q\n   got %q", w, g))
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("%d of %d runs differ from %s (first ones below); if the change is intended, rerun with -update\n%s",
			len(diffs), len(want), goldenPath, strings.Join(diffs[:min(len(diffs), 10)], "\n"))
	}
}

// TestDeterminismSeedsChangeTheRun checks that the fingerprint depends on the
// schedule, not just on the inputs.
//
// The seed is folded into the fingerprint first, and each fold is a
// bijection of the running hash, so two seeds always give different
// fingerprints whatever the schedule: the seed-1-vs-seed-2 check below is
// required to hold for every program (the 90% bound of the brief holds with
// 10 points of margin, at 100%), but it is vacuous as a test of schedule
// dependence. The meaningful check keeps the seed and changes only the
// decision source (Options.Source): the fingerprints must then differ
// exactly when the recorded schedules (trace kinds, tasks and args) differ,
// and most multi-task programs must get a different schedule from a
// different source. Of the 100 programs, 92 have 2 or more tasks, and the
// schedules differ for 84 of them (91%, measured when this test was written;
// the others finish, or deadlock, after so few scheduling points that both
// sources happen to make the same choices). The bound is 70%: 21 points of
// margin, yet far above what a fingerprint ignoring the schedule would give
// (0%).
func TestDeterminismSeedsChangeTheRun(t *testing.T) {
	multi, seedDiff, schedDiff := 0, 0, 0
	for i, p := range detPrograms(100) {
		if len(p.tasks) < 2 {
			continue
		}
		multi++
		a := detRun(t, p, sim.Options{Seed: 1})
		b := detRun(t, p, sim.Options{Seed: 2})
		if a.Fingerprint != b.Fingerprint {
			seedDiff++
		}

		x := detRun(t, p, sim.Options{Seed: 1, Source: sim.NewRand(101), Trace: true})
		y := detRun(t, p, sim.Options{Seed: 1, Source: sim.NewRand(202), Trace: true})
		same := sameSchedule(x.Trace, y.Trace)
		require.Equal(t, same, x.Fingerprint == y.Fingerprint,
			"program %d: schedules equal=%v but fingerprints %016x, %016x", i, same, x.Fingerprint, y.Fingerprint)
		if !same {
			schedDiff++
		}
	}
	t.Logf("%d multi-task programs: %d fingerprints differ across seeds, %d schedules differ across sources", multi, seedDiff, schedDiff)
	require.Greater(t, multi, 50)
	require.Equal(t, multi, seedDiff, "seed 1 and seed 2 gave the same fingerprint")
	require.GreaterOrEqual(t, schedDiff*100, multi*70, "too few programs had their schedule changed by the decision source")
}

// sameSchedule compares what the fingerprint folds: each event's kind, task
// and argument.
func sameSchedule(a, b []sim.TraceEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k].Kind != b[k].Kind || a[k].Task != b[k].Task || a[k].Arg != b[k].Arg {
			return false
		}
	}
	return true
}
