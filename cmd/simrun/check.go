package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// shownMismatches is how many differing seeds check describes in detail.
const shownMismatches = 5

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check", "SCENARIO [flags]", `
Determinism self-check: runs every seed twice with the trace on, the second
time under a different GOMAXPROCS, and compares fingerprints, steps,
failures and traces. For a seed that differs it names the first divergent
step and prints both runs' events there. Seeds run one at a time (GOMAXPROCS
is process-wide).

Exit status: 0 every seed ran identically twice, 1 some seed did not, 2 bad
usage or input.`)
	variant := fs.String("variant", "", "variant `V` to run (default: the scenario's default, fixed if it has one)")
	seeds := fs.String("seeds", "", "seed range `A:B` (seeds A to B-1), or a count N for 0:N (default: 0 to the scenario's seed budget)")
	strategy := fs.String("strategy", "", "scheduling strategy `S`: random, pct:D[:K] or fifo, optionally +permute, +delay[:D[:odds]] and +swarm[:N] (default: the scenario's)")
	params := paramFlag{}
	fs.Var(params, "param", "set a parameter, `name=value` (repeatable)")
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	t, err := resolveTarget(pos[0], *variant, *strategy, params)
	if err != nil {
		return failf(stderr, "check: %v", err)
	}
	rng := seedRange{0, uint64(t.sc.SeedBudget())}
	if *seeds != "" {
		if rng, err = parseSeedRange(*seeds); err != nil {
			return failf(stderr, "check: %v", err)
		}
	}
	if rng.To-rng.From > maxSweepSeeds {
		return failf(stderr, "check: -seeds %s: more than %d seeds", rng, maxSweepSeeds)
	}

	procsA := runtime.GOMAXPROCS(0)
	procsB := 1
	if procsA == 1 {
		procsB = 2
	}
	n := int(rng.To - rng.From)
	fmt.Fprintf(stdout, "check %s: seeds %s, strategy %s: each seed twice, under GOMAXPROCS %d then %d\n", t, rng, t.strategy, procsA, procsB)
	prog := startProgress(stderr, "check "+t.String(), n)
	bad := 0
	for i := range n {
		seed := rng.From + uint64(i)
		a, b := checkSeed(t.config(seed), procsB)
		diff := compareRuns(a, b)
		prog.add(diff != "")
		if diff == "" {
			continue
		}
		bad++
		if bad <= shownMismatches {
			prog.pause(func() {
				fmt.Fprintf(stdout, "seed %d DIFFERS (GOMAXPROCS %d vs %d): %s\n", seed, procsA, procsB, diff)
			})
		}
	}
	prog.finish()
	if bad > 0 {
		if bad > shownMismatches {
			fmt.Fprintf(stdout, "... and %d more\n", bad-shownMismatches)
		}
		fmt.Fprintf(stdout, "NONDETERMINISTIC: %d of %d seeds ran differently the second time\n", bad, n)
		return exitFail
	}
	fmt.Fprintf(stdout, "deterministic: all %d seeds gave the same fingerprint, steps, failure and trace twice\n", n)
	return exitPass
}

// checkSeed runs cfg with the trace on, then again under GOMAXPROCS
// procs (restored afterwards).
func checkSeed(cfg scenario.Config, procs int) (a, b scenario.Outcome) {
	cfg.Trace = true
	a, _ = execute(cfg)
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)
	b, _ = execute(cfg)
	return a, b
}

// compareRuns describes how two runs of the same config differ ("" if
// they do not), naming the first divergent trace event.
func compareRuns(a, b scenario.Outcome) string {
	ra, rb := a.Result, b.Result
	var diff string
	switch fa, fb := scenario.FailureOf(ra), scenario.FailureOf(rb); {
	case ra.Fingerprint != rb.Fingerprint:
		diff = fmt.Sprintf("fingerprint %s vs %s", scenario.Fingerprint(ra.Fingerprint), scenario.Fingerprint(rb.Fingerprint))
	case ra.Steps != rb.Steps:
		diff = fmt.Sprintf("%d steps vs %d", ra.Steps, rb.Steps)
	case !sameFailure(fa, fb):
		diff = fmt.Sprintf("%s vs %s", failureText(fa), failureText(fb))
	}
	i, ok := firstDivergence(ra.Trace, rb.Trace)
	if diff == "" && ok {
		diff = "traces differ"
	}
	if diff == "" {
		return ""
	}
	if !ok {
		return diff + "; the traces are identical"
	}
	step := int64(0)
	if i < len(ra.Trace) {
		step = ra.Trace[i].Step
	} else {
		step = rb.Trace[i].Step
	}
	return fmt.Sprintf("%s\n  first divergent step %d (trace event %d):\n    first run:  %s\n    second run: %s",
		diff, step, i+1, eventAt(ra.Trace, i), eventAt(rb.Trace, i))
}

// firstDivergence returns the index of the first event where two traces
// differ (including where one ends first), and false if they are equal.
func firstDivergence(a, b []sim.TraceEvent) (int, bool) {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i, true
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b)), true
	}
	return 0, false
}

func eventAt(tr []sim.TraceEvent, i int) string {
	if i >= len(tr) {
		return fmt.Sprintf("(trace ended after %d events)", len(tr))
	}
	return tr[i].String()
}
