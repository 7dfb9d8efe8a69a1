package simtest

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

func TestRunPatternAndQuoting(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"TestX", "'^TestX$'"},
		{"TestRegression/counter-race/fixed", "'^TestRegression$/^counter-race$/^fixed$'"},
		{"TestA/x+y_(1)", `'^TestA$/^x\+y_\(1\)$'`},
		{"TestA/it's", `'^TestA$/^it'\''s$'`},
	} {
		if got := shellQuote(runPattern(c.name)); got != c.want {
			t.Errorf("pattern for %q = %s, want %s", c.name, got, c.want)
		}
	}
	if got := shellQuote("pct:3+permute"); got != "pct:3+permute" {
		t.Errorf("shellQuote quoted a plain word: %s", got)
	}
}

func TestDefaultCorpusDir(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"TestX", "testdata/sim/TestX"},
		{"TestRegression/counter-race/fixed", "testdata/sim/TestRegression/counter-race/fixed"},
		{"TestX/a b:c#01", "testdata/sim/TestX/a_b_c_01"},
		{"TestX/../..", "testdata/sim/TestX/_/_"},
	} {
		if got := defaultCorpusDir(c.name); got != filepath.FromSlash(c.want) {
			t.Errorf("defaultCorpusDir(%q) = %s, want %s", c.name, got, c.want)
		}
	}
}

func TestParamCandidates(t *testing.T) {
	sc, err := scenario.Lookup("counter-race")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"workers": {"2", "3", "4"}, "rounds": {"1"}}
	for _, p := range sc.Params {
		if got := paramCandidates(sc.Name, p); !slices.Equal(got, want[p.Name]) {
			t.Errorf("candidates of %s = %q, want %q", p.Name, got, want[p.Name])
		}
	}
	// Smallest first by shrinking: a parameter whose default shrinks.
	p := scenario.Int("n", "", 10, 0, 100)
	got := paramCandidates("test", p)
	if got[0] != "0" || got[len(got)-1] != "10" || len(got) != 11 {
		t.Errorf("candidates of Int(10 in [0, 100]) = %q, want 0 first and 10 last", got)
	}
	c := scenario.Choice("mode", "", "b", "a", "b", "c")
	if got := paramCandidates("test", c); !slices.Equal(got, []string{"b"}) {
		t.Errorf("candidates of an undrawn choice = %q, want its default", got)
	}
}

// recorder is a minimal TB for the internal tests.
type recorder struct {
	name       string
	logs, errs []string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return r.name }
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Failed() bool                      { return len(r.errs) > 0 }

func (r *recorder) run(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	<-done
}

func TestFuzzOne(t *testing.T) {
	fixed, err := fuzzConfig("counter-race", nil)
	if err != nil {
		t.Fatal(err)
	}
	buggy, err := fuzzConfig("counter-race", []Option{Variant("buggy")})
	if err != nil {
		t.Fatal(err)
	}
	r := sim.NewRand(3)
	failures := 0
	for i := range 300 {
		data := make([]byte, r.Intn(40))
		for j := range data {
			data[j] = byte(r.Intn(256))
		}
		rec := &recorder{name: "FuzzX"}
		rec.run(func() { fuzzOne(rec, fixed, uint64(i), data) })
		if rec.Failed() {
			t.Fatalf("the fixed variant failed: %s", rec.errs)
		}
		rec = &recorder{name: "FuzzX/seed#3"}
		rec.run(func() { fuzzOne(rec, buggy, uint64(i), data) })
		if !rec.Failed() {
			continue
		}
		failures++
		msg := rec.errs[0]
		for _, want := range []string{
			fmt.Sprintf("counter-race/buggy (strategy random) failed with seed %d and a fuzzed schedule", i),
			"no-lost-update", "decision bytes: ", "replay: go test -run '^FuzzX$/^seed#3$' (in this package)", "the seed alone",
		} {
			if !strings.Contains(msg, want) {
				t.Fatalf("fuzz report lacks %q:\n%s", want, msg)
			}
		}
	}
	if failures == 0 {
		t.Fatalf("no fuzz input made the buggy variant fail")
	}
	if _, err := fuzzConfig("counter-race", []Option{ExpectFailure()}); err == nil || !strings.Contains(err.Error(), "does not apply to FuzzScenario") {
		t.Errorf("ExpectFailure accepted by FuzzScenario: %v", err)
	}
}

func TestCorpusHelpers(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{name: "TestRecord"}
	var paths []string
	rec.run(func() { paths = RecordCorpus(rec, dir, "counter-race", "buggy", 3) })
	if rec.Failed() || len(paths) != 3 {
		t.Fatalf("RecordCorpus: %d files, errors %s", len(paths), rec.errs)
	}
	for _, p := range paths {
		if !strings.HasPrefix(filepath.Base(p), "buggy-") {
			t.Errorf("file %s is not named buggy-<seed>.json", p)
		}
	}
	rec = &recorder{name: "TestRecord"}
	rec.run(func() { RecordCorpus(rec, dir, "counter-race", "buggy", 3) })
	if rec.Failed() || !strings.Contains(strings.Join(rec.logs, "\n"), "already recorded") {
		t.Errorf("recording again: %s %s", rec.errs, rec.logs)
	}

	n := 0
	rec = &recorder{name: "TestReplay"}
	rec.run(func() { n = ReplayCorpus(rec, dir, "counter-race", "buggy") })
	if rec.Failed() || n != 3 {
		t.Fatalf("ReplayCorpus replayed %d, errors %s", n, rec.errs)
	}
	rec.run(func() { n = ReplayCorpus(rec, dir, "counter-race", "fixed") })
	if n != 0 {
		t.Fatalf("ReplayCorpus(fixed) replayed %d files", n)
	}

	// A recorded seed that now passes: the simulator lost the bug.
	rp, err := scenario.ReadReplay(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := scenario.Lookup("counter-race")
	for seed := uint64(0); ; seed++ {
		o, _ := scenario.Execute(scenario.Config{Scenario: sc, Variant: "buggy", Seed: seed, Params: rp.Params})
		if o.Passed() {
			rp.Seed = seed
			break
		}
	}
	lost := filepath.Join(dir, "buggy-lost.json")
	if err := rp.Write(lost); err != nil {
		t.Fatal(err)
	}
	rp2, err := scenario.ReadReplay(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	rec = &recorder{name: "TestReplay"}
	rec.run(func() { n = ReplayCorpus(rec, dir, "counter-race", "buggy") })
	if n != 4 || len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "the simulator lost the bug: "+lost) {
		t.Fatalf("ReplayCorpus with a lost seed: n=%d errors %q", n, rec.errs)
	}
	misnamed := filepath.Join(dir, "fixed-1.json")
	if err := rp2.Write(misnamed); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{name: "TestReplay"}
	rec.run(func() { n = ReplayCorpus(rec, dir, "counter-race", "fixed") })
	if n != 1 || len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "records counter-race/buggy, but files named fixed-*.json") {
		t.Fatalf("ReplayCorpus with a misnamed file: n=%d errors %q", n, rec.errs)
	}
	rp2.Variant = "fixed"
	if err := rp2.Write(misnamed); err != nil {
		t.Fatal(err)
	}
	rec = &recorder{name: "TestReplay"}
	rec.run(func() { n = ReplayCorpus(rec, dir, "counter-race", "fixed") })
	if n != 1 || len(rec.errs) != 0 {
		t.Fatalf("a recorded failure of the fixed variant that now passes: n=%d errors %q", n, rec.errs)
	}

	rec = &recorder{name: "TestRecord"}
	rec.run(func() { RecordCorpus(rec, t.TempDir(), "counter-race", "fixed", 3, Seeds(0, 20)) })
	if !rec.Failed() || !strings.Contains(rec.errs[0], "no seed in 0..19 failed") {
		t.Errorf("RecordCorpus on the fixed variant: %q", rec.errs)
	}
}
