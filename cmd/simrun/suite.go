package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/detsim/detsim/reports"
	"github.com/detsim/detsim/sim/scenario"
)

func cmdSuite(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("suite", "[-seeds N] [-workers N] [-json FILE] [-replay-dir DIR] [-report DIR]", `
Sweeps every registered scenario, every variant, over the scenario's seed
budget (or -seeds N: seeds 0 to N-1) with its default strategy, and prints
one table: runs, failures, the failure rate with its 95% Clopper-Pearson
interval, and the first failing seed with the command that replays it.

The expected outcome is that every fixed variant never fails and every buggy
variant (one that reproduces a known bug) fails at least once.

With -report DIR each row's sweep report (report.md, report.json,
report.html) goes into DIR/SCENARIO-VARIANT/, and DIR/index.html (and
index.md) links them all.

Exit status: 0 every row is as expected, 1 some row is not (named at the
end), 2 bad usage or input.`)
	seeds := fs.Int("seeds", 0, "sweep seeds 0 to `N`-1 in every row (default: each scenario's seed budget)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "run `N` seeds in parallel in each sweep")
	jsonOut := fs.String("json", "", "also write every row's sweep summary as JSON to `FILE`")
	replayDir := fs.String("replay-dir", "", "write a replay file for the first failing seed of each row into `DIR`")
	reportDir := fs.String("report", "", "write every row's sweep report and an index.html into `DIR` (created if missing; its parent must exist)")
	if _, code, ok := parse(fs, args, 0, 0, stderr); !ok {
		return code
	}
	if *seeds < 0 || *seeds > maxSweepSeeds {
		return failf(stderr, "suite: -seeds %d: want 1 to %d (0: each scenario's budget)", *seeds, maxSweepSeeds)
	}
	if *workers < 1 {
		return failf(stderr, "suite: -workers %d: must be at least 1", *workers)
	}
	if *jsonOut != "" {
		if err := checkWritableFile("-json", *jsonOut); err != nil {
			return failf(stderr, "suite: %v", err)
		}
	}
	if *replayDir != "" {
		if err := checkWritableDir("-replay-dir", *replayDir); err != nil {
			return failf(stderr, "suite: %v", err)
		}
	}
	if *reportDir != "" {
		if err := checkReportDir("-report", *reportDir); err != nil {
			return failf(stderr, "suite: %v", err)
		}
	}

	began := time.Now()
	var rows []suiteRow
	for _, sc := range scenario.All() {
		for _, v := range sc.Variants {
			t, err := resolveTarget(sc.Name, v.Name, "", nil)
			if err != nil {
				return failf(stderr, "suite: %v", err)
			}
			n := uint64(sc.SeedBudget())
			if *seeds > 0 {
				n = uint64(*seeds)
			}
			cfg := sweepConfig{target: t, seeds: seedRange{0, n}, workers: *workers}
			prog := startProgress(stderr, "suite "+t.String(), int(n))
			res := cfg.run(prog)
			prog.finish()
			sum := summarize(cfg, res)
			row := suiteRow{sweepSummary: sum, Buggy: v.Buggy}
			row.Expected = (v.Buggy && sum.Failures > 0) || (!v.Buggy && sum.Failures == 0)
			if *replayDir != "" {
				row.files = writeReplays(io.Discard, t, res.failed(1), *replayDir)
			}
			rows = append(rows, row)
		}
	}
	wall := time.Since(began)

	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tVARIANT\tEXPECT\tRUNS\tFAILURES\tRATE [95% CI]\tRESULT\tFIRST FAILING SEED")
	for _, r := range rows {
		expect, result := "no failure", "ok"
		if r.Buggy {
			expect = "failures"
		}
		if !r.Expected {
			result = "UNEXPECTED"
		}
		first := "-"
		if len(r.Failing) > 0 {
			first = fmt.Sprintf("%d: %s", r.Failing[0].Seed, r.Failing[0].Command)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Variant, expect, reports.Count(r.Runs),
			reports.Count(r.Failures), reports.Rate(r.Failures, r.Runs), result, first)
	}
	tw.Flush()
	for _, r := range rows {
		for _, f := range r.files {
			fmt.Fprintf(stdout, "replay file for %s/%s: %s\n", r.Scenario, r.Variant, f)
		}
	}
	var unexpected []string
	for _, r := range rows {
		if r.Expected {
			continue
		}
		if r.Buggy {
			unexpected = append(unexpected, fmt.Sprintf("%s/%s is buggy but no seed failed", r.Scenario, r.Variant))
		} else {
			unexpected = append(unexpected, fmt.Sprintf("%s/%s failed %d times (first: seed %d, %s: %s)",
				r.Scenario, r.Variant, r.Failures, r.Failing[0].Seed, r.Failing[0].Kind, r.Failing[0].Message))
		}
	}
	if *jsonOut != "" {
		data, err := json.MarshalIndent(suiteJSON{Rows: rows, OK: len(unexpected) == 0, WallNs: int64(wall)}, "", "  ")
		if err == nil {
			err = writeFileAtomic(*jsonOut, append(data, '\n'))
		}
		if err != nil {
			return failf(stderr, "suite: writing -json: %v", err)
		}
	}
	if *reportDir != "" {
		var idx []reports.IndexRow
		for _, r := range rows {
			sub := r.Scenario + "-" + r.Variant
			rep := r.report(r.Buggy)
			if err := writeSweepReport(filepath.Join(*reportDir, sub), rep); err != nil {
				return failf(stderr, "suite: writing -report: %v", err)
			}
			idx = append(idx, reports.IndexRow{Sweep: rep, Dir: sub})
		}
		if err := reports.WriteIndex(*reportDir, idx, wall); err != nil {
			return failf(stderr, "suite: writing -report: %v", err)
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(*reportDir, "index.html"))
	}
	if len(unexpected) > 0 {
		fmt.Fprintf(stdout, "suite: UNEXPECTED: %s\n", strings.Join(unexpected, "; "))
		return exitFail
	}
	fmt.Fprintf(stdout, "suite: all %d rows as expected (fixed variants never failed, buggy variants failed) in %v\n",
		len(rows), wall.Round(time.Millisecond))
	return exitPass
}

type suiteRow struct {
	*sweepSummary
	// Buggy is the variant's mark; Expected is whether the row came out as
	// a buggy (some failure) or fixed (no failure) variant should.
	Buggy    bool `json:"buggy"`
	Expected bool `json:"expected"`
	files    []string
}

type suiteJSON struct {
	Rows   []suiteRow `json:"rows"`
	OK     bool       `json:"ok"`
	WallNs int64      `json:"wall_ns"`
}
