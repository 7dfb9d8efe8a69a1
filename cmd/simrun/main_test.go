package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/sim/scenario"
)

// Two scenarios only this test binary registers: one whose runs differ
// from one execution to the next (for check), one that panics on some
// seeds (a sweep goes on).
var nondetRuns atomic.Int64

func init() {
	scenario.Register(&scenario.Scenario{
		Name:        "zz-test-nondeterministic",
		Description: "Test only: the number of yields depends on a process-wide counter, so no two runs are alike.",
		Variants:    []scenario.Variant{{Name: "fixed"}},
		Seeds:       20,
		Main: func(r *scenario.Run) {
			for range nondetRuns.Add(1) % 3 {
				r.W.Yield()
			}
		},
	})
	scenario.Register(&scenario.Scenario{
		Name:        "zz-test-panics",
		Description: "Test only: the main task panics on every fourth seed.",
		Variants:    []scenario.Variant{{Name: "buggy", Buggy: true}},
		Seeds:       40,
		Main: func(r *scenario.Run) {
			r.Metric("seed", float64(r.Seed))
			if r.Seed%4 == 1 {
				panic(fmt.Sprintf("boom at seed %d", r.Seed))
			}
		},
	})
}

type result struct {
	code           int
	stdout, stderr string
}

func cli(args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// firstFailingSeed sweeps the buggy counter-race and returns its lowest
// failing seed.
func firstFailingSeed(t *testing.T, extra ...string) uint64 {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"sweep", "counter-race", "-variant", "buggy", "-seeds", "0:200", "-json", filepath.Join(dir, "s.json"), "-replay-dir", dir}, extra...)
	r := cli(args...)
	require.Equal(t, exitFail, r.code, r)
	failing := readJSON(t, filepath.Join(dir, "s.json"))["failing"].([]any)
	require.NotEmpty(t, failing)
	return uint64(failing[0].(map[string]any)["seed"].(float64))
}

func TestUsage(t *testing.T) {
	r := cli()
	assert.Equal(t, exitUsage, r.code)
	for _, c := range commands {
		assert.Contains(t, r.stderr, "  "+c.name+" ", "no-args usage lists %s", c.name)
	}
	r = cli("-h")
	assert.Equal(t, exitPass, r.code)
	assert.Contains(t, r.stderr, "Exit status")
	for _, c := range commands {
		r := cli(c.name, "-h")
		assert.Equal(t, exitPass, r.code, c.name)
		assert.Contains(t, r.stderr, "usage: simrun "+c.name, c.name)
		assert.Contains(t, r.stderr, "Exit status", "%s -h documents its exit status", c.name)
		assert.Empty(t, r.stdout)
	}
	assert.Contains(t, cli("replay", "-h").stderr, "0 the rerun matches the recording exactly")
	assert.Contains(t, cli("help", "sweep").stderr, "usage: simrun sweep")
}

func TestList(t *testing.T) {
	r := cli("list")
	require.Equal(t, exitPass, r.code, r)
	var line string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "counter-race ") {
			line = l
		}
	}
	require.NotEmpty(t, line, r.stdout)
	assert.Contains(t, line, "fixed*, buggy (bug)")
	assert.Contains(t, line, "workers=drawn 2..4 rounds=1")
	assert.Contains(t, line, "overlap")
	assert.Contains(t, line, "500")

	r = cli("list", "-json")
	require.Equal(t, exitPass, r.code, r)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	var cr map[string]any
	for _, s := range list {
		if s["name"] == "counter-race" {
			cr = s
		}
	}
	require.NotNil(t, cr)
	assert.Equal(t, "fixed", cr["default_variant"])
	assert.Equal(t, []any{
		map[string]any{"name": "fixed", "doc": "the counter is guarded by a Mutex", "buggy": false},
		map[string]any{"name": "buggy", "doc": "the counter is guarded by a check-then-act flag", "buggy": true},
	}, cr["variants"])
	params := cr["params"].([]any)
	assert.Equal(t, map[string]any{"name": "workers", "doc": "number of concurrent workers", "default": "2..4", "drawn": true}, params[0])
	assert.NotEmpty(t, cr["description"])
}

func TestRunFailingSeedPrintsReplayAndWritesFile(t *testing.T) {
	seed := firstFailingSeed(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "fail.replay.json")
	r := cli("run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-replay-out", path)
	require.Equal(t, exitFail, r.code, r)
	out := r.stdout
	params := strings.Index(out, "params: workers=")
	fail := strings.Index(out, "FAIL violation: no-lost-update")
	require.True(t, params >= 0 && fail >= 0, out)
	assert.Less(t, params, fail, "parameters are printed before the result")
	assert.Regexp(t, `params: workers=[234] \(drawn\) rounds=1\n`, out)
	assert.Regexp(t, `fingerprint [0-9a-f]{16}, \d+ steps, virtual time \S+, wall time \S+`, out)
	assert.Contains(t, out, "metrics: lost_updates=")
	assert.Contains(t, out, "probes: overlap=")
	assert.Contains(t, out, "failure: violation at step")
	wantCmd := fmt.Sprintf("replay: simrun run counter-race -variant buggy -seed %d -strategy random -param rounds=1 -param workers=", seed)
	assert.Contains(t, out, wantCmd)

	rp, err := scenario.ReadReplay(path)
	require.NoError(t, err, "the replay file is valid")
	assert.Equal(t, seed, rp.Seed)
	assert.Equal(t, "violation", rp.Failure.Kind)
	assert.Contains(t, out, "replay: "+rp.Command())

	// The printed command, run as given, reproduces the same fingerprint.
	args := strings.Fields(strings.TrimPrefix(rp.Command(), "simrun "))
	args = append(args, "-replay-out", filepath.Join(dir, "again.json"))
	again := cli(args...)
	assert.Equal(t, exitFail, again.code)
	assert.Contains(t, again.stdout, "fingerprint "+rp.Fingerprint)

	pass := cli("run", "counter-race", "-seed", fmt.Sprint(seed), "-replay-out", filepath.Join(dir, "pass.json"))
	assert.Equal(t, exitPass, pass.code, pass)
	assert.Contains(t, pass.stdout, "PASS")
	assert.NoFileExists(t, filepath.Join(dir, "pass.json"), "no replay file for a pass")
}

func TestRunJSON(t *testing.T) {
	seed := firstFailingSeed(t)
	dir := t.TempDir()
	r := cli("run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-json", "-replay-out", filepath.Join(dir, "r.json"))
	require.Equal(t, exitFail, r.code, r)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON object on one line")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m))
	assert.Equal(t, "counter-race", m["scenario"])
	assert.Equal(t, "buggy", m["variant"])
	assert.Equal(t, float64(seed), m["seed"])
	assert.Equal(t, "random", m["strategy"])
	assert.IsType(t, map[string]any{}, m["params"])
	assert.Equal(t, "1", m["params"].(map[string]any)["rounds"])
	assert.Equal(t, []any{"workers"}, m["drawn"])
	assert.Equal(t, false, m["passed"])
	f := m["failure"].(map[string]any)
	assert.Equal(t, "violation", f["kind"])
	assert.IsType(t, "", f["message"])
	assert.Regexp(t, `^[0-9a-f]{16}$`, m["fingerprint"])
	for _, k := range []string{"steps", "sim_time_ns", "wall_ns"} {
		assert.IsType(t, float64(0), m[k], k)
	}
	assert.IsType(t, float64(0), m["metrics"].(map[string]any)["lost_updates"])
	assert.IsType(t, float64(0), m["probes"].(map[string]any)["overlap"])
	assert.Equal(t, filepath.Join(dir, "r.json"), m["replay_file"])
	assert.Contains(t, m["replay_command"], "simrun run counter-race -variant buggy")

	r = cli("run", "counter-race", "-seed", "1", "-json")
	require.Equal(t, exitPass, r.code, r)
	m = nil
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &m))
	assert.Equal(t, true, m["passed"])
	v, present := m["failure"]
	assert.True(t, present && v == nil, "failure is null when passed")
}

func TestRunTrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "trace.jsonl")
	r := cli("run", "counter-race", "-seed", "3", "-trace", path)
	require.Equal(t, exitPass, r.code, r)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Greater(t, len(lines), 5)
	assert.Contains(t, r.stdout, fmt.Sprintf("trace: %d events written to %s", len(lines), path))
	kinds := map[string]bool{}
	for _, l := range lines {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		for _, k := range []string{"step", "time_ns", "kind", "task", "task_name", "arg", "detail"} {
			assert.Contains(t, e, k)
		}
		kinds[e["kind"].(string)] = true
	}
	assert.True(t, kinds["run"] && kinds["spawn"], "%v", kinds)

	v := cli("run", "counter-race", "-seed", "3", "-v")
	require.Equal(t, exitPass, v.code, v)
	assert.Contains(t, v.stdout, `run     task 1 "main"`)
	traced := regexp.MustCompile(`(?m)^ *\d+ +\S+ (run|spawn|block|wake|exit|timer|advance|choice|note) `)
	assert.Len(t, traced.FindAllString(v.stdout, -1), len(lines), "one printed line per traced event")
}

// sweepJSON runs a sweep with -json and returns the file's contents.
func sweepJSON(t *testing.T, args ...string) (map[string]any, result) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "sweep.json")
	r := cli(append(append([]string{"sweep"}, args...), "-json", path, "-replay-dir", dir)...)
	require.Contains(t, []int{exitPass, exitFail}, r.code, r)
	return readJSON(t, path), r
}

func TestSweepSummaryIsIndependentOfWorkers(t *testing.T) {
	one, r1 := sweepJSON(t, "counter-race", "-variant", "buggy", "-workers", "1")
	four, r4 := sweepJSON(t, "counter-race", "-variant", "buggy", "-workers", "4")
	assert.Equal(t, exitFail, r1.code)
	for _, m := range []map[string]any{one, four} {
		assert.Greater(t, m["wall_ns"], 0.0)
		assert.Greater(t, m["seeds_per_sec"], 0.0)
		delete(m, "wall_ns")
		delete(m, "seeds_per_sec")
	}
	assert.Equal(t, one, four)

	speed := regexp.MustCompile(`(?m)^(sweep .*|speed .*|replay files: .*|summary written to .*)$`)
	assert.Equal(t, speed.ReplaceAllString(r1.stdout, ""), speed.ReplaceAllString(r4.stdout, ""), "the text summary too")

	assert.Equal(t, float64(500), one["runs"])
	failing := one["failing"].([]any)
	assert.Equal(t, one["failures"], float64(len(failing)))
	prev := -1.0
	for _, f := range failing {
		f := f.(map[string]any)
		assert.Greater(t, f["seed"], prev, "failing seeds in seed order")
		prev = f["seed"].(float64)
		assert.Equal(t, "violation", f["kind"])
		assert.Regexp(t, `^[0-9a-f]{16}$`, f["fingerprint"])
		assert.Contains(t, f["command"], fmt.Sprintf("-seed %d ", int(prev)))
	}
	ci := one["ci95"].(map[string]any)
	assert.Less(t, ci["lo"], one["failure_rate"])
	assert.Greater(t, ci["hi"], one["failure_rate"])
	assert.NotContains(t, one, "zero_failure_upper95")
	lu := one["metrics"].(map[string]any)["lost_updates"].(map[string]any)
	for _, k := range []string{"p50", "p99", "mean", "max"} {
		assert.IsType(t, float64(0), lu[k], k)
	}
	assert.Equal(t, one["failure_rate"], one["probes"].(map[string]any)["overlap"], "in counter-race a lost update needs an overlap")

	for _, want := range []string{"runs      500", "rate ", "95% CI [", "first failing seeds:\n  seed ", "seeds/s", "virtual/wall time",
		"lost_updates", "overlap", "replay the first failure:\n  simrun run counter-race -variant buggy -seed "} {
		assert.Contains(t, r1.stdout, want)
	}
	files := regexp.MustCompile(`simrun-counter-race-buggy-\d+\.replay\.json`).FindAllString(r1.stdout, -1)
	assert.Len(t, files, 5, "replay files for the first 5 failures")
}

func TestSweepFixedPrintsZeroFailureBound(t *testing.T) {
	m, r := sweepJSON(t, "counter-race", "-seeds", "1000:2000")
	assert.Equal(t, exitPass, r.code, r)
	assert.Contains(t, r.stdout, "0 failures in 1,000 seeds: the failure rate is below 0.30% at 95% confidence")
	assert.InDelta(t, 0.002991, m["zero_failure_upper95"], 1e-6)
	assert.Equal(t, map[string]any{"from": 1000.0, "to": 2000.0}, m["seeds"])
	assert.Equal(t, 0.0, m["probes"].(map[string]any)["overlap"], "declared probes never reached show as 0")
	assert.Contains(t, r.stdout, "overlap  0  never reached")
}

func TestShardsMergeToTheUnshardedSweep(t *testing.T) {
	dir := t.TempDir()
	full, _ := sweepJSON(t, "counter-race", "-variant", "buggy", "-seeds", "10:310", "-param", "rounds=2")
	var files []string
	for i := range 3 {
		f := filepath.Join(dir, fmt.Sprintf("shard%d.json", i))
		files = append(files, f)
		r := cli("sweep", "counter-race", "-variant", "buggy", "-seeds", "10:310", "-param", "rounds=2",
			"-shard", fmt.Sprintf("%d/3", i), "-json", f, "-replay-dir", dir)
		require.Equal(t, exitFail, r.code, r)
		assert.Contains(t, r.stdout, fmt.Sprintf("shard %d/3", i))
		s := readJSON(t, f)
		assert.Equal(t, 100.0, s["runs"])
		for _, x := range s["failing"].([]any) {
			assert.Equal(t, i, int(x.(map[string]any)["seed"].(float64))%3, "shard %d runs seeds %% 3 == %d", i, i)
		}
	}
	out := filepath.Join(dir, "merged.json")
	r := cli(append(append([]string{"merge"}, files[2], files[0], files[1]), "-json", out)...)
	require.Equal(t, exitFail, r.code, r)
	merged := readJSON(t, out)
	for _, k := range []string{"runs", "failures", "failing", "failure_rate", "ci95", "metrics", "probes", "sim_ns", "seeds", "params", "strategy"} {
		assert.Equal(t, full[k], merged[k], k)
	}
	assert.NotContains(t, merged, "shard")
	assert.Contains(t, r.stdout, "replay the first failure:")

	// Incomplete or mismatched sets are refused.
	assert.Contains(t, cli("merge", files[0], files[1]).stderr, "shard 2/3 is missing")
	other := filepath.Join(dir, "other.json")
	require.Equal(t, exitPass, cli("sweep", "counter-race", "-seeds", "10:310", "-shard", "2/3", "-json", other).code)
	assert.Contains(t, cli("merge", files[0], files[1], other).stderr, "is a sweep of counter-race/fixed")
}

func TestUntilFailStopsAtTheLowestFailingSeed(t *testing.T) {
	for _, from := range []int{0, 3, 40} {
		dir := t.TempDir()
		full, _ := sweepJSON(t, "counter-race", "-variant", "buggy", "-seeds", fmt.Sprintf("%d:500", from))
		first := full["failing"].([]any)[0].(map[string]any)["seed"].(float64)
		for _, workers := range []string{"1", "4"} {
			path := filepath.Join(dir, "u"+workers+".json")
			r := cli("sweep", "counter-race", "-variant", "buggy", "-seeds", fmt.Sprintf("%d:500", from), "-until-fail",
				"-workers", workers, "-json", path, "-replay-dir", dir)
			require.Equal(t, exitFail, r.code, r)
			u := readJSON(t, path)
			assert.Equal(t, first-float64(from)+1, u["runs"], "ran seeds %d..%v", from, first)
			assert.Equal(t, 1.0, u["failures"])
			assert.Equal(t, first, u["failing"].([]any)[0].(map[string]any)["seed"])
			assert.Equal(t, true, u["until_fail"])
		}
	}
}

func TestSweepGoesOnAfterPanics(t *testing.T) {
	m, r := sweepJSON(t, "zz-test-panics", "-workers", "3")
	require.Equal(t, exitFail, r.code, r)
	assert.Equal(t, 40.0, m["runs"])
	assert.Equal(t, 10.0, m["failures"], "seeds 1, 5, ..., 37 panic")
	f := m["failing"].([]any)[0].(map[string]any)
	assert.Equal(t, "panic", f["kind"])
	assert.Contains(t, f["message"], "boom at seed 1")
	assert.Equal(t, 39.0, m["metrics"].(map[string]any)["seed"].(map[string]any)["max"])
}

func TestSweepProgressLines(t *testing.T) {
	defer func(d time.Duration) { plainProgressAfter = d }(plainProgressAfter)
	plainProgressAfter = 0
	r := cli("sweep", "counter-race", "-seeds", "100", "-replay-dir", t.TempDir())
	require.Equal(t, exitPass, r.code, r)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	assert.Len(t, lines, 10, "a plain line every 10%% when stderr is not a terminal:\n%s", r.stderr)
	assert.Contains(t, lines[9], "sweep counter-race/fixed: 100/100 runs, 0 failures")
	assert.NotContains(t, r.stderr, "\r")
}

func TestTerminalProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, tty: true, label: "sweep x/buggy", total: 1000, start: time.Now().Add(-time.Second), stop: make(chan struct{})}
	for i := range 250 { // the ticker goroutine is not started: draw is called below
		p.add(i%50 == 0)
	}
	p.draw()
	line := strings.TrimPrefix(buf.String(), "\r")
	assert.Regexp(t, `^sweep x/buggy: 250/1,000 runs, 5 failures, \d+ seeds/s, ETA \d+s$`, line)
	p.pause(func() { buf.WriteString("[stdout]") })
	p.finish()
	assert.True(t, strings.HasSuffix(buf.String(), "[stdout]"), "pause blanks the line; finish leaves nothing when blank: %q", buf.String())
	assert.Contains(t, buf.String(), "\r"+strings.Repeat(" ", len(line))+"\r[stdout]")

	var nilp *progress
	nilp.add(true)
	nilp.finish()
}

func TestReplay(t *testing.T) {
	seed := firstFailingSeed(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "x.replay.json")
	require.Equal(t, exitFail, cli("run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-replay-out", path).code)

	r := cli("replay", path)
	assert.Equal(t, exitPass, r.code, r)
	assert.Contains(t, r.stdout, "reproduced: the recorded violation failure happens again")
	assert.Regexp(t, `fingerprint  ([0-9a-f]{16}), recorded ([0-9a-f]{16}): match`, r.stdout)
	assert.Regexp(t, `steps        \d+, recorded \d+: match`, r.stdout)

	rp, err := scenario.ReadReplay(path)
	require.NoError(t, err)

	// A fingerprint edited to another valid one: the run is the same up to
	// the end, so the checkpoints all agree.
	edited := rp
	edited.Fingerprint = "0123456789abcdef"
	editedPath := filepath.Join(dir, "edited.json")
	require.NoError(t, edited.Write(editedPath))
	r = cli("replay", editedPath)
	assert.Equal(t, exitFail, r.code, r)
	assert.Contains(t, r.stdout, "fingerprint  "+rp.Fingerprint+", recorded 0123456789abcdef: DIFFERENT")
	assert.Contains(t, r.stdout, "MISMATCH: fingerprint "+rp.Fingerprint+", recorded 0123456789abcdef; runs agree up to step")

	// An edited checkpoint (with fewer steps recorded) names where the
	// runs diverged.
	edited = rp
	edited.Steps--
	edited.Checkpoints = append([]string(nil), rp.Checkpoints...)
	edited.Checkpoints[2] = "00000000000000ff"
	require.NoError(t, edited.Write(editedPath))
	r = cli("replay", editedPath)
	assert.Equal(t, exitFail, r.code, r)
	assert.Regexp(t, `MISMATCH: \d+ steps, recorded \d+; (first divergent step: 3|runs diverged between steps \d+ and \d+)`, r.stdout)
}

func TestCheck(t *testing.T) {
	r := cli("check", "counter-race", "-variant", "buggy", "-seeds", "0:100")
	assert.Equal(t, exitPass, r.code, r)
	assert.Contains(t, r.stdout, "deterministic: all 100 seeds gave the same fingerprint")
	assert.Regexp(t, `under GOMAXPROCS \d+ then \d+`, r.stdout)

	r = cli("check", "zz-test-nondeterministic", "-seeds", "0:3")
	assert.Equal(t, exitFail, r.code, r)
	assert.Contains(t, r.stdout, "seed 0 DIFFERS")
	assert.Regexp(t, `first divergent step \d+ \(trace event \d+\):\n    first run:  .+\n    second run: .+`, r.stdout)
	assert.Contains(t, r.stdout, "NONDETERMINISTIC: 3 of 3 seeds")
}

func TestShrink(t *testing.T) {
	dir := t.TempDir()
	// Find a failing seed with the largest configuration, then shrink it.
	m, _ := sweepJSON(t, "counter-race", "-variant", "buggy", "-param", "workers=4", "-param", "rounds=5", "-seeds", "50")
	seed := m["failing"].([]any)[0].(map[string]any)["seed"].(float64)
	in := filepath.Join(dir, "big.replay.json")
	require.Equal(t, exitFail, cli("run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed),
		"-param", "workers=4", "-param", "rounds=5", "-replay-out", in).code)

	r := cli("shrink", in)
	require.Equal(t, exitPass, r.code, r)
	out := filepath.Join(dir, "big.replay.shrunk.json")
	small, err := scenario.ReadReplay(out)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"workers": "2", "rounds": "1"}, small.Params)
	assert.Equal(t, "violation", small.Failure.Kind)
	assert.Regexp(t, `params +rounds=5 workers=4 +rounds=1 workers=2`, r.stdout)
	assert.Regexp(t, `steps +\d+ +\d+`, r.stdout)
	assert.Contains(t, r.stdout, "wrote "+out)
	assert.Equal(t, exitPass, cli("replay", out).code, "the shrunk replay reproduces")

	custom := filepath.Join(dir, "custom.json")
	require.Equal(t, exitPass, cli("shrink", in, "-out", custom, "-budget", "3").code)
	assert.FileExists(t, custom)
}

func TestSuite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "suite.json")
	r := cli("suite", "-json", path)
	require.Equal(t, exitPass, r.code, r)
	var fixed, buggy string
	for _, l := range strings.Split(r.stdout, "\n") {
		switch {
		case regexp.MustCompile(`^counter-race +fixed `).MatchString(l):
			fixed = l
		case regexp.MustCompile(`^counter-race +buggy `).MatchString(l):
			buggy = l
		}
	}
	require.NotEmpty(t, fixed, r.stdout)
	require.NotEmpty(t, buggy, r.stdout)
	assert.Regexp(t, `no failure +500 +0 +0 \[0, 0.74%\] +ok +-$`, fixed)
	assert.Regexp(t, `failures +500 +\d+ +\S+% \[\S+%, \S+%\] +ok +\d+: simrun run counter-race -variant buggy -seed \d+ -strategy random`, buggy)
	rows := 0
	for _, sc := range scenario.All() {
		rows += len(sc.Variants)
	}
	assert.Contains(t, r.stdout, fmt.Sprintf("suite: all %d rows as expected", rows))
	s := readJSON(t, path)
	assert.Equal(t, true, s["ok"])
	assert.Len(t, s["rows"], rows)

	small := cli("suite", "-seeds", "5")
	assert.Regexp(t, `counter-race +buggy +failures +5 `, small.stdout)
}

func TestSuiteNamesUnexpectedRows(t *testing.T) {
	// With one seed per row, the buggy counter-race's seed 0 passes.
	r := cli("suite", "-seeds", "1")
	require.Equal(t, exitFail, r.code, r)
	assert.Contains(t, r.stdout, "UNEXPECTED")
	assert.Contains(t, r.stdout, "suite: UNEXPECTED: counter-race/buggy is buggy but no seed failed")
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.replay.json")
	seed := firstFailingSeed(t)
	require.Equal(t, exitFail, cli("run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-replay-out", good).code)
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	bad := map[string]string{
		"truncated.json":    string(data[:len(data)/2]),
		"nonhex.json":       regexp.MustCompile(`"fingerprint": "[0-9a-f]+"`).ReplaceAllString(string(data), `"fingerprint": "not-hex-at-all!!"`),
		"unknownfield.json": strings.Replace(string(data), `"version": 1,`, `"version": 1, "colour": "red",`, 1),
		"otherscen.json":    strings.Replace(string(data), `"scenario": "counter-race"`, `"scenario": "raft-election"`, 1),
		"otherparams.json":  strings.Replace(string(data), `"scenario": "counter-race"`, `"scenario": "zz-test-panics"`, 1),
		"empty.json":        "",
		"passing.json":      "",
	}
	inputs := t.TempDir()
	for name, content := range bad {
		require.NoError(t, os.WriteFile(filepath.Join(inputs, name), []byte(content), 0o644))
	}
	pass := cli("run", "counter-race", "-seed", "1", "-json")
	require.Equal(t, exitPass, pass.code)
	// A replay of a passing run (shrink refuses it).
	o, err := scenario.Execute(scenario.Config{Scenario: mustLookup(t, "counter-race"), Seed: 1})
	require.NoError(t, err)
	prp, err := scenario.NewReplay(o)
	require.NoError(t, err)
	require.NoError(t, prp.Write(filepath.Join(inputs, "passing.json")))

	out := t.TempDir() // every output flag points here; it must stay empty
	o1 := filepath.Join(out, "a.json")
	in := func(name string) string { return filepath.Join(inputs, name) }
	for _, args := range [][]string{
		{"frobnicate"},
		{"run"},
		{"run", "counter-race", "extra"},
		{"run", "nope", "-replay-out", o1},
		{"run", "counter-race", "-variant", "nope", "-replay-out", o1},
		{"run", "counter-race", "-strategy", "bogus", "-replay-out", o1},
		{"run", "counter-race", "-strategy", "pct:0", "-replay-out", o1},
		{"run", "counter-race", "-param", "nodes=3", "-replay-out", o1},
		{"run", "counter-race", "-param", "workers=x", "-replay-out", o1},
		{"run", "counter-race", "-param", "workers=99", "-replay-out", o1},
		{"run", "counter-race", "-param", "workers", "-replay-out", o1},
		{"run", "counter-race", "-param", "workers=2", "-param", "workers=3"},
		{"run", "counter-race", "-seed", "-1"},
		{"run", "counter-race", "-bogus"},
		{"run", "counter-race", "-v", "-json"},
		{"run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-trace", filepath.Join(out, "no", "t.jsonl")},
		{"run", "counter-race", "-variant", "buggy", "-seed", fmt.Sprint(seed), "-replay-out", filepath.Join(out, "no", "r.json")},
		{"sweep", "counter-race", "-seeds", "5:3", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-seeds", "5:5", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-seeds", "x:y", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-seeds", "1:", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-seeds", "0", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-shard", "3/2", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-shard", "-1/2", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-shard", "1/0", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-shard", "x", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-workers", "0", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-param", "nodes=3", "-json", o1, "-replay-dir", out},
		{"sweep", "nope", "-json", o1, "-replay-dir", out},
		{"sweep", "counter-race", "-variant", "buggy", "-json", o1, "-replay-dir", filepath.Join(out, "missing")},
		{"sweep", "counter-race", "-variant", "buggy", "-json", filepath.Join(out, "missing", "x.json"), "-replay-dir", out},
		{"check", "counter-race", "-seeds", "5:3"},
		{"check", "counter-race", "-strategy", "nope"},
		{"replay"},
		{"replay", in("missing.json")},
		{"replay", in("truncated.json")},
		{"replay", in("nonhex.json")},
		{"replay", in("unknownfield.json")},
		{"replay", in("otherscen.json")},
		{"replay", in("otherparams.json")},
		{"replay", in("empty.json")},
		{"replay", good, good},
		{"shrink", in("truncated.json"), "-out", o1},
		{"shrink", in("passing.json"), "-out", o1},
		{"shrink", good, "-budget", "0", "-out", o1},
		{"shrink", good, "-out", filepath.Join(out, "missing", "x.json")},
		{"merge", in("missing.json"), "-json", o1},
		{"merge", good, "-json", o1},
		{"suite", "-seeds", "-1", "-json", o1},
		{"suite", "-workers", "0", "-json", o1},
		{"suite", "extra"},
		{"list", "extra"},
	} {
		r := cli(args...)
		assert.Equal(t, exitUsage, r.code, "%v\n%s", args, r)
		assert.True(t, strings.HasPrefix(r.stderr, "simrun: "), "%v: %q", args, r.stderr)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one-line reason for %v: %q", args, r.stderr)
		assert.Empty(t, r.stdout, "%v writes nothing to stdout", args)
		entries, err := os.ReadDir(out)
		require.NoError(t, err)
		assert.Empty(t, entries, "%v wrote no file", args)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "counter-race", "-param", "nodes=3"}, `unknown parameter "nodes" (parameters: workers, rounds)`},
		{[]string{"run", "counter-race", "-param", "workers=x"}, `parameter workers: "x" is not an integer`},
		{[]string{"sweep", "counter-race", "-seeds", "5:3"}, `-seeds "5:3": empty range`},
		{[]string{"sweep", "counter-race", "-shard", "3/2"}, `-shard "3/2": want I/N with 0 <= I < N`},
		{[]string{"replay", in("nonhex.json")}, `is not 16 hex digits`},
		{[]string{"replay", in("unknownfield.json")}, `unknown field "colour"`},
		{[]string{"replay", in("truncated.json")}, `not a valid replay file`},
		{[]string{"replay", in("otherscen.json")}, `unknown scenario "raft-election"`},
		{[]string{"replay", in("missing.json")}, `no such file`},
		{[]string{"shrink", in("passing.json")}, `records a passing run`},
		{[]string{"run"}, `missing SCENARIO`},
	} {
		assert.Contains(t, cli(c.args...).stderr, c.want, c.args)
	}
}

func mustLookup(t *testing.T, name string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Lookup(name)
	require.NoError(t, err)
	return s
}

func TestSeedLists(t *testing.T) {
	collect := func(r seedRange, sh *shard) []uint64 {
		l := newSeedList(r, sh)
		var out []uint64
		for i := range l.n {
			out = append(out, l.at(i))
		}
		return out
	}
	assert.Equal(t, []uint64{3, 4, 5}, collect(seedRange{3, 6}, nil))
	assert.Equal(t, []uint64{4, 7}, collect(seedRange{3, 9}, &shard{1, 3}))
	assert.Equal(t, []uint64{3, 6}, collect(seedRange{3, 9}, &shard{0, 3}))
	assert.Equal(t, []uint64{5, 8}, collect(seedRange{3, 9}, &shard{2, 3}))
	assert.Empty(t, collect(seedRange{0, 1}, &shard{1, 2}))
	// Shards partition the range.
	var all []uint64
	for i := range 4 {
		all = append(all, collect(seedRange{5, 27}, &shard{i, 4})...)
	}
	assert.ElementsMatch(t, collect(seedRange{5, 27}, nil), all)
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fingerprintOf returns the fingerprint a run printed.
func fingerprintOf(t *testing.T, stdout string) string {
	t.Helper()
	m := regexp.MustCompile(`fingerprint ([0-9a-f]{16}),`).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	return m[1]
}

// wellFormed parses data as strict XML (the pages are XHTML-compatible)
// and returns the names of its elements with their class attribute.
func wellFormed(t *testing.T, data []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	var els []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return els
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			cls := ""
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					cls = a.Value
				}
			}
			els = append(els, se.Name.Local+"."+cls)
		}
	}
}

func TestRunReportsKeepTheFingerprint(t *testing.T) {
	dir := t.TempDir()
	plain := cli("run", "gossip-smoke", "-variant", "buggy", "-seed", "8", "-replay-out", filepath.Join(dir, "a.json"))
	require.Equal(t, exitFail, plain.code, plain)
	html, perfetto, trace := filepath.Join(dir, "run.html"), filepath.Join(dir, "run.perfetto.json"), filepath.Join(dir, "run.jsonl")
	rep := cli("run", "gossip-smoke", "-variant", "buggy", "-seed", "8", "-replay-out", filepath.Join(dir, "b.json"),
		"-html", html, "-perfetto", perfetto, "-trace", trace)
	require.Equal(t, exitFail, rep.code, rep)
	assert.Equal(t, fingerprintOf(t, plain.stdout), fingerprintOf(t, rep.stdout), "reports change nothing in the run")
	assert.Contains(t, rep.stdout, "html: "+html)
	assert.Contains(t, rep.stdout, "perfetto: "+perfetto)

	page, err := os.ReadFile(html)
	require.NoError(t, err)
	els := wellFormed(t, page)
	assert.Contains(t, els, "svg.spacetime")
	assert.Contains(t, els, "g.lane lane-host")
	assert.Contains(t, els, "line.msg tcp")
	assert.Contains(t, els, "g.failure")
	assert.Contains(t, string(page), "simrun run gossip-smoke -variant buggy -seed 8")

	var tr map[string]any
	data, err := os.ReadFile(perfetto)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &tr))
	assert.NotEmpty(t, tr["traceEvents"])

	data, err = os.ReadFile(trace)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	assert.Contains(t, rep.stdout, fmt.Sprintf("trace: %d events written to %s", len(lines), trace))
	kinds := map[string]bool{}
	for _, l := range lines {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &e))
		kinds[e["kind"].(string)] = true
	}
	assert.True(t, kinds["send"] && kinds["deliver"] && kinds["run"] && kinds["failure"], "%v", kinds)

	// -json names the files.
	j := cli("run", "gossip-smoke", "-variant", "buggy", "-seed", "8", "-json", "-replay-out", filepath.Join(dir, "c.json"), "-html", html)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(j.stdout), &m), j)
	assert.Equal(t, html, m["html_file"])
	assert.Equal(t, fingerprintOf(t, plain.stdout), m["fingerprint"])

	h := cli("run", "-h")
	for _, f := range []string{"-html", "-perfetto", "-trace", "time_ns", "task_name", "packet", "cause"} {
		assert.Contains(t, h.stderr, f, "run -h documents %s", f)
	}
}

// normalizeSpeed blanks the wall-clock fields of a sweep report.
func normalizeSpeed(s string) string {
	for _, re := range []struct{ re, with string }{
		{`("wall_ns": )\d+`, "${1}0"},
		{`("seeds_per_sec": )[0-9.e+-]+`, "${1}0"},
		{`("acceleration": )[0-9.e+-]+`, "${1}0"},
		{`(- wall time: ).*`, "${1}WALL"},
		{`(- seeds per second: ).*`, "${1}WALL"},
		{`(- virtual time / wall time: ).*`, "${1}WALL"},
	} {
		s = regexp.MustCompile(re.re).ReplaceAllString(s, re.with)
	}
	return s
}

func TestSweepReportGolden(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	r := cli("sweep", "counter-race", "-variant", "buggy", "-seeds", "0:200", "-workers", "2", "-replay-dir", dir, "-report", report)
	require.Equal(t, exitFail, r.code, r)
	assert.Contains(t, r.stdout, "report: "+filepath.Join(report, "report.html"))
	for _, name := range []string{"report.md", "report.json"} {
		data, err := os.ReadFile(filepath.Join(report, name))
		require.NoError(t, err)
		got := normalizeSpeed(string(data))
		path := filepath.Join("testdata", "counter-race-buggy-0-200."+name+".golden")
		if *update {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "go test ./cmd/simrun/ -run TestSweepReportGolden -update creates it")
		assert.Equal(t, string(want), got, "%s differs from %s (rerun with -update if intended)", name, path)
	}
	page, err := os.ReadFile(filepath.Join(report, "report.html"))
	require.NoError(t, err)
	els := wellFormed(t, page)
	assert.Contains(t, els, "path.cdf")
	assert.Contains(t, els, "rect.bar")

	// The same sweep on another number of workers writes the same report.
	again := filepath.Join(dir, "again")
	require.Equal(t, exitFail, cli("sweep", "counter-race", "-variant", "buggy", "-seeds", "0:200", "-workers", "1", "-replay-dir", dir, "-report", again).code)
	a, _ := os.ReadFile(filepath.Join(report, "report.md"))
	b, _ := os.ReadFile(filepath.Join(again, "report.md"))
	assert.Equal(t, strings.Replace(normalizeSpeed(string(a)), "2 workers", "1 workers", 1), normalizeSpeed(string(b)))
}

func TestSuiteReport(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	r := cli("suite", "-seeds", "2", "-report", report)
	require.Contains(t, []int{exitPass, exitFail}, r.code, r)
	assert.Contains(t, r.stdout, "report: "+filepath.Join(report, "index.html"))
	page, err := os.ReadFile(filepath.Join(report, "index.html"))
	require.NoError(t, err)
	wellFormed(t, page)
	rows := 0
	for _, sc := range scenario.All() {
		for _, v := range sc.Variants {
			rows++
			sub := filepath.Join(report, sc.Name+"-"+v.Name)
			assert.FileExists(t, filepath.Join(sub, "report.html"))
			assert.FileExists(t, filepath.Join(sub, "report.md"))
			assert.Contains(t, string(page), fmt.Sprintf(`href="%s-%s/report.html"`, sc.Name, v.Name))
		}
	}
	assert.Equal(t, rows, strings.Count(string(page), "/report.html\""))
}

// readOnlyDir returns a directory no file can be created in: /proc for
// root (who may write anywhere else), else a directory made read-only.
func readOnlyDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() == 0 {
		return "/proc"
	}
	d := t.TempDir()
	require.NoError(t, os.Chmod(d, 0o555))
	t.Cleanup(func() { os.Chmod(d, 0o755) })
	return d
}

func TestReportOutputsAreCheckedBeforeRunning(t *testing.T) {
	out := t.TempDir()
	ro := readOnlyDir(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "gossip-smoke", "-html", filepath.Join(out, "missing", "r.html")}, "does not exist"},
		{[]string{"run", "gossip-smoke", "-perfetto", filepath.Join(out, "missing", "p.json")}, "does not exist"},
		{[]string{"run", "gossip-smoke", "-html", filepath.Join(ro, "r.html")}, "not writable"},
		{[]string{"run", "gossip-smoke", "-perfetto", filepath.Join(ro, "p.json")}, "not writable"},
		{[]string{"run", "gossip-smoke", "-trace", filepath.Join(ro, "t.jsonl")}, "not writable"},
		{[]string{"run", "gossip-smoke", "-html", out}, "is a directory"},
		{[]string{"run", "gossip-smoke", "-perfetto", out}, "is a directory"},
		{[]string{"run", "gossip-smoke", "-trace", filepath.Join(out, "missing", "t.jsonl")}, "does not exist"},
		{[]string{"run", "gossip-smoke", "-replay-out", filepath.Join(ro, "r.json")}, "not writable"},
		{[]string{"run", "gossip-smoke", "-html", filepath.Join(out, "x"), "-perfetto", filepath.Join(out, ".", "x")}, "-html and -perfetto both name"},
		{[]string{"sweep", "counter-race", "-seeds", "0:5", "-replay-dir", out, "-json", filepath.Join(ro, "s.json")}, "not writable"},
		{[]string{"sweep", "counter-race", "-seeds", "0:5", "-replay-dir", ro}, "not writable"},
		{[]string{"sweep", "counter-race", "-seeds", "0:5", "-replay-dir", out, "-report", "/dev/null"}, "not a directory"},
		{[]string{"suite", "-seeds", "1", "-json", filepath.Join(ro, "s.json")}, "not writable"},
		{[]string{"suite", "-seeds", "1", "-replay-dir", ro}, "not writable"},
		{[]string{"sweep", "counter-race", "-seeds", "0:5", "-replay-dir", out, "-report", filepath.Join(out, "missing", "r")}, "does not exist"},
		{[]string{"sweep", "counter-race", "-seeds", "0:5", "-replay-dir", out, "-report", filepath.Join(ro, "r")}, "not writable"},
		{[]string{"suite", "-seeds", "1", "-report", filepath.Join(out, "missing", "r")}, "does not exist"},
		{[]string{"suite", "-seeds", "1", "-report", ro}, "not writable"},
	} {
		r := cli(c.args...)
		assert.Equal(t, exitUsage, r.code, "%v\n%s", c.args, r)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		assert.Contains(t, r.stderr, c.want, c.args)
		assert.Empty(t, r.stdout, "%v ran: checked before running, nothing is printed", c.args)
		entries, err := os.ReadDir(out)
		require.NoError(t, err)
		assert.Empty(t, entries, "%v wrote nothing", c.args)
	}
}
