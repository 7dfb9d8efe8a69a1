package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/detsim/detsim/sim/scenario"
)

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", "FILE", `
Reads a replay file (written by simrun run, sweep or shrink), reruns the run
it records and compares fingerprint, steps and failure with the recording.
On a mismatch it says where the runs diverged: the first divergent step, or
the window of steps between two fingerprint checkpoints.

A replay file that is missing, truncated, hand-edited into something invalid
or names an unknown scenario, variant or parameter is bad input.

Exit status: 0 the rerun matches the recording exactly (a recorded failure
reproduced, or a recorded pass passed again), 1 it does not match, 2 bad
usage or input.`)
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	rp, err := scenario.ReadReplay(pos[0])
	if err != nil {
		return failf(stderr, "replay: %v", err)
	}
	v, err := rerun(rp)
	if err != nil {
		return failf(stderr, "replay: %s: %v", pos[0], err)
	}
	fmt.Fprintf(stdout, "replay %s: %s/%s seed %d, strategy %s, params:%s\n", pos[0], rp.Scenario, rp.Variant, rp.Seed, rp.Strategy, sortedParams(rp.Params))
	res := v.Outcome.Result
	got, want := scenario.FailureOf(res), rp.Failure
	fmt.Fprintf(stdout, "fingerprint  %s, recorded %s: %s\n", scenario.Fingerprint(res.Fingerprint), rp.Fingerprint, same(scenario.Fingerprint(res.Fingerprint) == rp.Fingerprint))
	fmt.Fprintf(stdout, "steps        %d, recorded %d: %s\n", res.Steps, rp.Steps, same(res.Steps == rp.Steps))
	fmt.Fprintf(stdout, "failure      %s, recorded %s: %s\n", failureText(got), failureText(want), same(sameFailure(got, want)))
	if !v.Same {
		fmt.Fprintf(stdout, "MISMATCH: %s\n", v.Diff)
		return exitFail
	}
	if want != nil {
		fmt.Fprintf(stdout, "reproduced: the recorded %s failure happens again, step for step\n", want.Kind)
	} else {
		fmt.Fprintln(stdout, "reproduced: the recorded pass passes again, step for step")
	}
	return exitPass
}

// rerun is Replay.Rerun that cannot crash the process.
func rerun(rp scenario.Replay) (v scenario.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the rerun panicked outside the simulation: %v", r)
		}
	}()
	return rp.Rerun()
}

func same(ok bool) string {
	if ok {
		return "match"
	}
	return "DIFFERENT"
}

func sameFailure(a, b *scenario.FailureInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func failureText(f *scenario.FailureInfo) string {
	if f == nil {
		return "pass"
	}
	return fmt.Sprintf("%s (%s)", f.Kind, f.Message)
}

func sortedParams(m map[string]string) string {
	if len(m) == 0 {
		return " (none)"
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, " %s=%s", k, m[k])
	}
	return b.String()
}
