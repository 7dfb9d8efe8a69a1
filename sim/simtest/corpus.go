package simtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// defaultCorpusDir is testdata/sim/<test name>, relative to the package
// directory (go test's working directory). Subtests nest, as in
// testdata/fuzz.
func defaultCorpusDir(testName string) string {
	parts := strings.Split(testName, "/")
	for i, p := range parts {
		p = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
				return r
			}
			return '_'
		}, p)
		if p == "" || strings.Trim(p, ".") == "" {
			p = "_"
		}
		parts[i] = p
	}
	return filepath.Join(append([]string{"testdata", "sim"}, parts...)...)
}

// listCorpus returns the .json files in dir, shortest name first, then by
// name (so <seed>.json files come in numeric order). A missing directory
// is an empty corpus.
func listCorpus(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	for i, n := range names {
		names[i] = filepath.Join(dir, n)
	}
	return names, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// recordName returns the path for a new record named base (base.json, or
// base-2.json, ... if that name holds a different run), and whether the
// same run is already recorded there. same tells whether an existing file
// records the run.
func recordName(dir, base string, same func(path string) bool) (path string, exists bool, err error) {
	for i := 1; i <= 100; i++ {
		name := base + ".json"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.json", base, i)
		}
		path = filepath.Join(dir, name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return path, false, nil
		}
		if same(path) {
			return path, true, nil
		}
	}
	return "", false, fmt.Errorf("%s: 100 files named %s*.json already hold other runs", dir, base)
}

// writeScenarioRecord records the failing outcome o in dir as base.json (a
// replay file) unless the same run is already recorded there.
func writeScenarioRecord(dir, base string, o scenario.Outcome) (path string, isNew bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	path, exists, err := recordName(dir, base, func(p string) bool {
		rp, err := scenario.ReadReplay(p)
		return err == nil && rp.Scenario == o.Scenario && rp.Variant == o.Variant && rp.Seed == o.Seed &&
			rp.Strategy == o.Strategy.String() && maps.Equal(rp.Params, o.ParamMap())
	})
	if err != nil || exists {
		return path, false, err
	}
	rp, err := scenario.NewReplay(o)
	if err != nil {
		return "", false, err
	}
	if err := rp.Write(path); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// programRecord is a Program corpus entry: the seed and strategy rerun the
// program; kind is the failure kind the rerun must reproduce ("" for any).
type programRecord struct {
	Seed     uint64 `json:"seed"`
	Strategy string `json:"strategy"`
	Kind     string `json:"kind,omitempty"`
}

func readProgramRecord(path string) (rec programRecord, isProgram bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, false, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return rec, true, fmt.Errorf("corpus file %s: not JSON: %v", path, err)
	}
	if _, ok := probe["scenario"]; ok {
		return rec, false, nil // a scenario replay: not Program's
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, true, fmt.Errorf("corpus file %s: want {\"seed\":N,\"strategy\":\"...\",\"kind\":\"...\"}: %v", path, err)
	}
	if _, err := sim.ParseStrategy(rec.Strategy); err != nil {
		return rec, true, fmt.Errorf("corpus file %s: %v", path, err)
	}
	return rec, true, nil
}

func writeProgramRecord(dir string, rec programRecord) (path string, isNew bool, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	path, exists, err := recordName(dir, fmt.Sprint(rec.Seed), func(p string) bool {
		old, ok, err := readProgramRecord(p)
		return err == nil && ok && old.Seed == rec.Seed && old.Strategy == rec.Strategy
	})
	if err != nil || exists {
		return path, false, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return "", false, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return "", false, err
	}
	return path, true, os.Rename(tmp, path)
}

// verdict classifies a replay's rerun against its recorded failure kind.
type verdict int

const (
	replayPassed    verdict = iota // the rerun passed
	replaySameKind                 // failed with the recorded kind
	replayOtherKind                // failed with another kind
)

func classify(recordedKind string, got *sim.Failure) verdict {
	switch {
	case got == nil:
		return replayPassed
	case recordedKind == "" || got.Kind.String() == recordedKind:
		return replaySameKind
	}
	return replayOtherKind
}

// judge reports one corpus replay according to the sweep's expectation and
// returns whether the sweep should be skipped (the recorded bug is still
// there and the test expects none). recorded is "kind: message".
func (s *sweep) judge(file, recorded string, v verdict, got *sim.Failure, diff, replay string) (stop bool) {
	t := s.t
	t.Helper()
	now := "passes"
	if got != nil {
		now = "fails with " + got.Kind.String() + ": " + got.Message
	}
	switch {
	case v == replayPassed && s.c.expectFixed:
		t.Logf("corpus %s passes (ExpectFixed; it recorded %s)", file, recorded)
	case v == replayPassed:
		msg := fmt.Sprintf("the simulator lost the bug or the bug is fixed: %s recorded %s, and now passes", file, recorded)
		if diff != "" {
			msg += " (" + diff + ")"
		}
		t.Errorf("%s\nIf the bug is fixed, add simtest.ExpectFixed() (the replay must then pass) or delete the file; "+
			"otherwise the simulator changed in a way that hides it.\nreplay:\n%s", msg, replay)
	case v == replaySameKind && s.c.expectFailure:
		note := ""
		if diff != "" {
			note = " (the run differs from the recording: " + diff + ")"
		}
		t.Logf("corpus %s still fails as recorded: %s%s", file, recorded, note)
	case v == replaySameKind && s.c.expectFixed:
		t.Errorf("the bug is not fixed (ExpectFixed): %s still %s\nreplay:\n%s", file, now, replay)
	case v == replaySameKind:
		t.Errorf("a recorded failure still reproduces: %s %s\nreplay:\n%s", file, now, replay)
		return true
	default:
		t.Errorf("%s recorded %s, and now %s\nreplay:\n%s", file, recorded, now, replay)
		return !s.c.expectFailure && !s.c.expectFixed
	}
	return false
}

// replayScenarioCorpus replays the corpus files of this scenario and
// variant, returning whether to skip the sweep.
func (s *sweep) replayScenarioCorpus(name, variant string) (stop bool) {
	t := s.t
	t.Helper()
	files, err := listCorpus(s.dir)
	if err != nil {
		t.Errorf("simtest: reading the corpus: %v", err)
		return true
	}
	for _, f := range files {
		rp, err := scenario.ReadReplay(f)
		if err != nil {
			t.Errorf("simtest: corpus: %v (fix or delete the file)", err)
			stop = true
			continue
		}
		if rp.Scenario != name || rp.Variant != variant {
			continue // recorded by another Scenario call of the same test
		}
		if rp.Failure == nil {
			t.Errorf("simtest: corpus file %s records a passing run (a corpus holds failures): delete it", f)
			continue
		}
		v, err := rp.Rerun()
		if err != nil {
			t.Errorf("simtest: corpus file %s: %v", f, err)
			stop = true
			continue
		}
		diff := ""
		if !v.Same {
			diff = v.Diff
		}
		replay := fmt.Sprintf("  %s\n  simrun replay %s\n  %s", s.goTestCommandWith(rp.Seed, rp.Strategy), absPath(f), rp.Command())
		if s.judge(f, rp.Failure.Kind+": "+rp.Failure.Message, classify(rp.Failure.Kind, v.Outcome.Result.Failure), v.Outcome.Result.Failure, diff, replay) {
			stop = true
		}
	}
	return stop
}

// replayProgramCorpus replays Program's corpus, returning whether to skip
// the sweep.
func (s *sweep) replayProgramCorpus(prog func(*sim.World)) (stop bool) {
	t := s.t
	t.Helper()
	files, err := listCorpus(s.dir)
	if err != nil {
		t.Errorf("simtest: reading the corpus: %v", err)
		return true
	}
	for _, f := range files {
		rec, ok, err := readProgramRecord(f)
		if err != nil {
			t.Errorf("simtest: %v (fix or delete the file)", err)
			stop = true
			continue
		}
		if !ok {
			continue
		}
		strat, _ := sim.ParseStrategy(rec.Strategy)
		res, err := runProgram(prog, s.c.world, rec.Seed, strat, false)
		if err != nil {
			t.Fatalf("simtest.Program: corpus file %s: %v", f, err)
		}
		cmd := s.goTestCommandWith(rec.Seed, rec.Strategy)
		recorded := "a failure"
		if rec.Kind != "" {
			recorded = "a " + rec.Kind
		}
		if s.judge(f, recorded, classify(rec.Kind, res.Failure), res.Failure, "", "  "+cmd) {
			stop = true
		}
	}
	return stop
}

// ReplayCorpus replays the regression corpus of one variant of a
// registered scenario: every replay file in dir named <variant>-*.json
// (as RecordCorpus writes them). If the variant is buggy, each replay must
// still fail with its recorded failure kind (the simulator must not lose
// the bug); otherwise each must pass (a fixed bug stays fixed). Each file
// that does not is reported with t.Errorf. It returns the number of files
// replayed, so a caller can require a corpus for buggy variants.
func ReplayCorpus(t TB, dir, name, variant string) int {
	t.Helper()
	sc, err := scenario.Lookup(name)
	if err != nil {
		t.Fatalf("simtest.ReplayCorpus: %v", err)
	}
	v, err := sc.Variant(variant)
	if err != nil {
		t.Fatalf("simtest.ReplayCorpus: %v", err)
	}
	files, err := listCorpus(dir)
	if err != nil {
		t.Fatalf("simtest.ReplayCorpus: %v", err)
	}
	n := 0
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), v.Name+"-") {
			continue
		}
		n++
		rp, err := scenario.ReadReplay(f)
		if err != nil {
			t.Errorf("simtest.ReplayCorpus: %v", err)
			continue
		}
		if rp.Scenario == sc.Name && rp.Variant != v.Name && len(rp.Variant) > len(v.Name) &&
			strings.HasPrefix(filepath.Base(f), rp.Variant+"-") {
			n--
			continue // <longer-variant>-<seed>.json, e.g. buggy-2-7.json beside buggy-7.json
		}
		if rp.Scenario != sc.Name || rp.Variant != v.Name {
			t.Errorf("simtest.ReplayCorpus: %s records %s/%s, but files named %s-*.json in %s must record %s/%s",
				f, rp.Scenario, rp.Variant, v.Name, dir, sc.Name, v.Name)
			continue
		}
		vd, err := rp.Rerun()
		if err != nil {
			t.Errorf("simtest.ReplayCorpus: %s: %v", f, err)
			continue
		}
		got := vd.Outcome.Result.Failure
		recorded := "a pass"
		kind := ""
		if rp.Failure != nil {
			recorded, kind = rp.Failure.Kind+": "+rp.Failure.Message, rp.Failure.Kind
		}
		replay := fmt.Sprintf("replay: simrun replay %s\n        %s", absPath(f), rp.Command())
		switch {
		case v.Buggy && rp.Failure == nil:
			t.Errorf("%s records a passing run of buggy variant %s: a regression corpus holds failing seeds; delete it", f, v.Name)
		case v.Buggy && got == nil:
			t.Errorf("the simulator lost the bug: %s recorded %s, and now passes (%s)\n%s", f, recorded, vd.Diff, replay)
		case v.Buggy && classify(kind, got) != replaySameKind:
			t.Errorf("%s recorded %s, and now fails with %s: %s\n%s", f, recorded, got.Kind, got.Message, replay)
		case !v.Buggy && got != nil:
			t.Errorf("%s: variant %s is not buggy, yet the replay fails with %s: %s\n%s", f, v.Name, got.Kind, got.Message, replay)
		case !vd.Same:
			t.Logf("%s: reproduces, though the run differs from the recording (the simulator changed?): %s", f, vd.Diff)
		}
	}
	t.Logf("%s/%s: replayed %d recorded seed(s) from %s", sc.Name, v.Name, n, dir)
	return n
}

// RecordCorpus sweeps a variant of a registered scenario and records its
// first n failing seeds in dir as <variant>-<seed>.json replay files, for
// ReplayCorpus; a seed already recorded there is left as it is. Options:
// Seeds (default: the scenario's SeedBudget from 0), Strategy, Param. It
// returns the files' paths and fails t if no seed fails. Gate its callers
// on Recording (-sim.record): it writes into the source tree.
func RecordCorpus(t TB, dir, name, variant string, n int, opts ...Option) []string {
	t.Helper()
	c, err := parseOptions(forRecord, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	sc, err := scenario.Lookup(name)
	if err != nil {
		t.Fatalf("simtest.RecordCorpus: %v", err)
	}
	cfg := scenario.Config{Scenario: sc, Variant: variant, Params: c.params}
	if c.strategy != "" {
		s, _ := sim.ParseStrategy(c.strategy)
		cfg.Strategy = &s
	}
	if err := cfg.Check(); err != nil {
		t.Fatalf("simtest.RecordCorpus: %v", err)
	}
	v, _ := sc.Variant(variant)
	cfg.Variant = v.Name
	first, end := uint64(0), uint64(sc.SeedBudget())
	if c.seedsSet {
		first, end = c.first, c.end
	}
	var paths []string
	for seed := first; seed < end && len(paths) < n; seed++ {
		cfg.Seed = seed
		o, err := scenario.Execute(cfg)
		if err != nil {
			t.Fatalf("simtest.RecordCorpus: seed %d: %v", seed, err)
		}
		if o.Passed() {
			continue
		}
		path, isNew, err := writeScenarioRecord(dir, fmt.Sprintf("%s-%d", v.Name, seed), o)
		if err != nil {
			t.Fatalf("simtest.RecordCorpus: %v", err)
		}
		state := "already recorded"
		if isNew {
			state = "recorded"
		}
		t.Logf("%s %s: seed %d: %s: %s", state, path, seed, o.Result.Failure.Kind, o.Result.Failure.Message)
		paths = append(paths, path)
	}
	if len(paths) == 0 {
		t.Errorf("simtest.RecordCorpus: %s/%s: no seed in %d..%d failed: nothing to record", sc.Name, v.Name, first, end-1)
	}
	return paths
}
