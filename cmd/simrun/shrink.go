package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/detsim/detsim/sim/scenario"
)

func cmdShrink(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("shrink", "FILE [-out FILE] [-budget N]", `
Minimises the failing run a replay file records: greedily lowers each
parameter (trying the same seed, then the next few seeds, since a smaller
run needs its own schedule to show the bug), then simplifies the strategy
(pct:D to lower depths, random to fifo, +permute dropped), keeping the
failure kind. Writes the smallest failing run found as a new replay file and
prints the sizes before and after.

Exit status: 0 a (possibly unchanged) smallest failing replay was written, 2
bad usage or input (including a replay that records a pass or no longer
reproduces).`)
	out := fs.String("out", "", "write the shrunk replay to `FILE` (default: the input name with .json replaced by .shrunk.json)")
	budget := fs.Int("budget", 500, "try at most `N` runs")
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	in := pos[0]
	rp, err := scenario.ReadReplay(in)
	if err != nil {
		return failf(stderr, "shrink: %v", err)
	}
	if rp.Failure == nil {
		return failf(stderr, "shrink: %s records a passing run: nothing to shrink", in)
	}
	if *budget < 1 {
		return failf(stderr, "shrink: -budget %d: must be at least 1", *budget)
	}
	path := *out
	if path == "" {
		path = strings.TrimSuffix(in, ".json") + ".shrunk.json"
	}
	if err := checkWritableFile("-out", path); err != nil {
		return failf(stderr, "shrink: %v", err)
	}
	var steps []string
	small, err := shrink(rp, *budget, func(s string) { steps = append(steps, s) })
	if err != nil {
		return failf(stderr, "shrink: %s: %v", in, err)
	}
	if err := small.Write(path); err != nil {
		return failf(stderr, "shrink: writing %s: %v", path, err)
	}
	fmt.Fprintf(stdout, "shrink %s: %s/%s, keeping the %s failure, budget %d runs\n", in, rp.Scenario, rp.Variant, rp.Failure.Kind, *budget)
	for _, s := range steps {
		fmt.Fprintf(stdout, "  %s\n", s)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbefore\tafter")
	fmt.Fprintf(tw, "params\t%s\t%s\n", strings.TrimSpace(sortedParams(rp.Params)), strings.TrimSpace(sortedParams(small.Params)))
	fmt.Fprintf(tw, "seed\t%d\t%d\n", rp.Seed, small.Seed)
	fmt.Fprintf(tw, "strategy\t%s\t%s\n", rp.Strategy, small.Strategy)
	fmt.Fprintf(tw, "steps\t%d\t%d\n", rp.Steps, small.Steps)
	fmt.Fprintf(tw, "virtual time\t%v\t%v\n", time.Duration(rp.SimTimeNs), time.Duration(small.SimTimeNs))
	fmt.Fprintf(tw, "failure\t%s\t%s\n", rp.Failure.Message, small.Failure.Message)
	tw.Flush()
	fmt.Fprintf(stdout, "wrote %s\nreplay: %s\n", path, small.Command())
	return exitPass
}

// shrink is scenario.Shrink that cannot crash the process.
func shrink(rp scenario.Replay, budget int, log func(string)) (small scenario.Replay, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("shrinking panicked outside the simulation: %v", r)
		}
	}()
	return scenario.Shrink(rp, budget, log)
}
