package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/detsim/detsim/sim"
)

// ReplayVersion is the replay file format's version.
const ReplayVersion = 1

// Replay is a failing (or any) run written down so that it can be rerun
// exactly: scenario, variant, strategy, every parameter, the seed, and what
// happened (fingerprint, steps, failure, fingerprint checkpoints).
type Replay struct {
	Version     int               `json:"version"`
	Scenario    string            `json:"scenario"`
	Variant     string            `json:"variant"`
	Strategy    string            `json:"strategy"`
	Seed        uint64            `json:"seed"`
	Params      map[string]string `json:"params"`
	Fingerprint string            `json:"fingerprint"`
	Steps       int64             `json:"steps"`
	SimTimeNs   int64             `json:"sim_time_ns"`
	Failure     *FailureInfo      `json:"failure,omitempty"`
	// CheckpointEvery and Checkpoints (fingerprints after every
	// CheckpointEvery steps, hex) let a replay name where a rerun diverged.
	CheckpointEvery int64    `json:"checkpoint_every,omitempty"`
	Checkpoints     []string `json:"checkpoints,omitempty"`
}

// FailureInfo is the part of a failure that a replay must reproduce.
type FailureInfo struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Fingerprint renders a fingerprint as 16 hex digits.
func Fingerprint(fp uint64) string { return fmt.Sprintf("%016x", fp) }

// FailureOf summarises a result's failure (nil if it passed).
func FailureOf(res sim.Result) *FailureInfo {
	if res.Failure == nil {
		return nil
	}
	return &FailureInfo{Kind: res.Failure.Kind.String(), Message: res.Failure.Message}
}

// maxCheckpoints bounds the checkpoints kept in a replay file.
const maxCheckpoints = 1024

// NewReplay describes an outcome for replay. It reruns the outcome once with
// fingerprint checkpoints (about maxCheckpoints of them), which is
// deterministic, so that a later replay can name where it diverged.
func NewReplay(o Outcome) (Replay, error) {
	s, err := Lookup(o.Scenario)
	if err != nil {
		return Replay{}, err
	}
	every := max(1, (o.Result.Steps+maxCheckpoints-1)/maxCheckpoints)
	strat := o.Strategy
	again, err := Execute(Config{Scenario: s, Variant: o.Variant, Seed: o.Seed, Strategy: &strat, Params: o.ParamMap(), CheckpointEvery: every})
	if err != nil {
		return Replay{}, err
	}
	rp := Replay{
		Version: ReplayVersion, Scenario: o.Scenario, Variant: o.Variant, Strategy: o.Strategy.String(),
		Seed: o.Seed, Params: o.ParamMap(), Fingerprint: Fingerprint(o.Result.Fingerprint),
		Steps: o.Result.Steps, SimTimeNs: int64(o.Result.Elapsed), Failure: FailureOf(o.Result),
		CheckpointEvery: every,
	}
	for _, c := range again.Result.Checkpoints {
		rp.Checkpoints = append(rp.Checkpoints, Fingerprint(c))
	}
	return rp, nil
}

// Command is the simrun command line that reruns this run.
func (rp Replay) Command() string {
	var b strings.Builder
	fmt.Fprintf(&b, "simrun run %s -variant %s -seed %d -strategy %s", rp.Scenario, rp.Variant, rp.Seed, rp.Strategy)
	for _, k := range slices.Sorted(maps.Keys(rp.Params)) {
		fmt.Fprintf(&b, " -param %s=%s", k, rp.Params[k])
	}
	return b.String()
}

// Write writes the replay file as indented JSON (atomically: a partial
// file is never left behind).
func (rp Replay) Write(path string) error {
	data, err := json.MarshalIndent(rp, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadReplay reads and validates a replay file: it must parse completely,
// have the known version, name a registered scenario, variant and known
// parameters, a valid strategy and fingerprint.
func ReadReplay(path string) (Replay, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Replay{}, err
	}
	return ParseReplay(data, path)
}

// ParseReplay is ReadReplay on bytes; name is used in errors.
func ParseReplay(data []byte, name string) (Replay, error) {
	var rp Replay
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rp); err != nil {
		return Replay{}, fmt.Errorf("replay file %s: not a valid replay file: %v", name, err)
	}
	if dec.More() {
		return Replay{}, fmt.Errorf("replay file %s: trailing data after the JSON object", name)
	}
	if err := rp.validate(); err != nil {
		return Replay{}, fmt.Errorf("replay file %s: %w", name, err)
	}
	return rp, nil
}

func (rp Replay) validate() error {
	if rp.Version != ReplayVersion {
		return fmt.Errorf("version %d, want %d", rp.Version, ReplayVersion)
	}
	s, err := Lookup(rp.Scenario)
	if err != nil {
		return err
	}
	if _, err := s.Variant(rp.Variant); err != nil || rp.Variant == "" {
		return fmt.Errorf("scenario %s: unknown variant %q", rp.Scenario, rp.Variant)
	}
	if _, err := sim.ParseStrategy(rp.Strategy); err != nil {
		return err
	}
	if _, err := strconv.ParseUint(rp.Fingerprint, 16, 64); err != nil || len(rp.Fingerprint) != 16 {
		return fmt.Errorf("fingerprint %q is not 16 hex digits", rp.Fingerprint)
	}
	if _, err := resolve(s, rp.Params, sim.NewRand(0)); err != nil {
		return err
	}
	for _, p := range s.Params {
		if _, ok := rp.Params[p.Name]; !ok {
			return fmt.Errorf("parameter %s is missing (a replay must pin every parameter)", p.Name)
		}
	}
	if rp.Steps < 0 || rp.CheckpointEvery < 0 {
		return errors.New("negative steps or checkpoint interval")
	}
	for _, c := range rp.Checkpoints {
		if _, err := strconv.ParseUint(c, 16, 64); err != nil {
			return fmt.Errorf("checkpoint %q is not hex", c)
		}
	}
	return nil
}

// Config returns the run configuration the replay describes.
func (rp Replay) Config() (Config, error) {
	s, err := Lookup(rp.Scenario)
	if err != nil {
		return Config{}, err
	}
	strat, err := sim.ParseStrategy(rp.Strategy)
	if err != nil {
		return Config{}, err
	}
	return Config{Scenario: s, Variant: rp.Variant, Seed: rp.Seed, Strategy: &strat, Params: rp.Params, CheckpointEvery: rp.CheckpointEvery}, nil
}

// Verdict is the result of replaying a replay file.
type Verdict struct {
	Outcome Outcome
	// Same is true when fingerprint, steps and failure all match.
	Same bool
	// Diff explains a mismatch, naming where the runs diverged when the
	// checkpoints allow it.
	Diff string
}

// Rerun replays rp and compares the new run with the recorded one.
func (rp Replay) Rerun() (Verdict, error) {
	cfg, err := rp.Config()
	if err != nil {
		return Verdict{}, err
	}
	o, err := Execute(cfg)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Outcome: o, Same: true}
	var diffs []string
	if got := Fingerprint(o.Result.Fingerprint); got != rp.Fingerprint {
		diffs = append(diffs, fmt.Sprintf("fingerprint %s, recorded %s", got, rp.Fingerprint))
	}
	if o.Result.Steps != rp.Steps {
		diffs = append(diffs, fmt.Sprintf("%d steps, recorded %d", o.Result.Steps, rp.Steps))
	}
	got, want := FailureOf(o.Result), rp.Failure
	switch {
	case got == nil && want != nil:
		diffs = append(diffs, fmt.Sprintf("passed, recorded %s: %s", want.Kind, want.Message))
	case got != nil && want == nil:
		diffs = append(diffs, fmt.Sprintf("failed with %s: %s, recorded a pass", got.Kind, got.Message))
	case got != nil && (got.Kind != want.Kind || got.Message != want.Message):
		diffs = append(diffs, fmt.Sprintf("failed with %s: %s, recorded %s: %s", got.Kind, got.Message, want.Kind, want.Message))
	}
	if len(diffs) > 0 {
		v.Same = false
		v.Diff = strings.Join(diffs, "; ")
		if where := rp.divergence(o.Result.Checkpoints); where != "" {
			v.Diff += "; " + where
		}
	}
	return v, nil
}

// divergence names the first checkpoint window where two runs differ.
func (rp Replay) divergence(got []uint64) string {
	k := rp.CheckpointEvery
	if k == 0 || len(rp.Checkpoints) == 0 {
		return ""
	}
	for i := 0; i < len(rp.Checkpoints) && i < len(got); i++ {
		if Fingerprint(got[i]) != rp.Checkpoints[i] {
			if k == 1 {
				return fmt.Sprintf("first divergent step: %d", int64(i+1))
			}
			return fmt.Sprintf("runs diverged between steps %d and %d", int64(i)*k+1, int64(i+1)*k)
		}
	}
	n := min(len(rp.Checkpoints), len(got))
	return fmt.Sprintf("runs agree up to step %d", int64(n)*k)
}
