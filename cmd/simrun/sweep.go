package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// maxSweepSeeds bounds one sweep's seeds (each run's record is kept until
// the summary); larger sweeps are split with -shard.
const maxSweepSeeds = 10_000_000

// maxReplayFiles is how many failing seeds get a replay file per sweep.
const maxReplayFiles = 5

func cmdSweep(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sweep", "SCENARIO [flags]", `
Runs seeds A to B-1 of a scenario in parallel, each in its own World, and
prints a summary: runs, failures, the failure rate with its 95% Clopper-Pearson
interval (or, with no failure, the one-sided upper bound), the first failing
seeds, speed, metric distributions, probe hit rates, and the command that
replays the first failure. A replay file is written for each of the first 5
failing seeds. The summary is the same whatever the number of workers.

With -report DIR the summary is also written as report.md, report.json and
report.html (self-contained: charts of every metric's distribution, failures
grouped by kind and message with their first seeds and replay commands,
probe hit rates with intervals, speed and virtual-time acceleration).

Progress goes to stderr: one updating line on a terminal, otherwise a line at
every 10% once the sweep has run for a second.

Exit status: 0 no failure, 1 at least one failure, 2 bad usage or input.`)
	variant := fs.String("variant", "", "variant `V` to run (default: the scenario's default, fixed if it has one)")
	seeds := fs.String("seeds", "", "seed range `A:B` (seeds A to B-1), or a count N for 0:N (default: 0 to the scenario's seed budget)")
	strategy := fs.String("strategy", "", "scheduling strategy `S`: random, pct:D[:K] or fifo, optionally +permute, +delay[:D[:odds]] and +swarm[:N] (default: the scenario's)")
	params := paramFlag{}
	fs.Var(params, "param", "set a parameter for every seed, `name=value` (repeatable); the others are defaulted or drawn per seed")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "run `N` seeds in parallel")
	shardSpec := fs.String("shard", "", "run only shard `I/N` (0 <= I < N): the seeds with seed%N == I; combine shards with simrun merge")
	untilFail := fs.Bool("until-fail", false, "stop at the first failing seed (the lowest one: seeds are judged in order)")
	jsonOut := fs.String("json", "", "also write the summary as JSON to `FILE` (for simrun merge and other tools)")
	replayDir := fs.String("replay-dir", ".", "write the replay files of the first failing seeds into `DIR`")
	reportDir := fs.String("report", "", "write report.md, report.json and report.html into `DIR` (created if missing; its parent must exist)")
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	t, err := resolveTarget(pos[0], *variant, *strategy, params)
	if err != nil {
		return failf(stderr, "sweep: %v", err)
	}
	rng := seedRange{0, uint64(t.sc.SeedBudget())}
	if *seeds != "" {
		if rng, err = parseSeedRange(*seeds); err != nil {
			return failf(stderr, "sweep: %v", err)
		}
	}
	sh, err := parseShard(*shardSpec)
	if err != nil {
		return failf(stderr, "sweep: %v", err)
	}
	if *workers < 1 {
		return failf(stderr, "sweep: -workers %d: must be at least 1", *workers)
	}
	if rng.To-rng.From > maxSweepSeeds {
		return failf(stderr, "sweep: -seeds %s: more than %d seeds in one sweep; split it with -shard", rng, maxSweepSeeds)
	}
	if *jsonOut != "" {
		if err := checkWritableFile("-json", *jsonOut); err != nil {
			return failf(stderr, "sweep: %v", err)
		}
	}
	checkReplayDir := checkDir // the default, ".", is written only on failure
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "replay-dir" {
			checkReplayDir = checkWritableDir
		}
	})
	if err := checkReplayDir("-replay-dir", *replayDir); err != nil {
		return failf(stderr, "sweep: %v", err)
	}
	if *reportDir != "" {
		if err := checkReportDir("-report", *reportDir); err != nil {
			return failf(stderr, "sweep: %v", err)
		}
	}

	sw := sweepConfig{target: t, seeds: rng, shard: sh, workers: *workers, untilFail: *untilFail}
	list := newSeedList(rng, sh)
	label := "sweep " + t.String()
	prog := startProgress(stderr, label, list.n)
	res := sw.run(prog)
	prog.finish()
	sum := summarize(sw, res)

	fmt.Fprintf(stdout, "sweep %s: seeds %s", t, rng)
	if sh != nil {
		fmt.Fprintf(stdout, " shard %s", sh)
	}
	fmt.Fprintf(stdout, ", strategy %s, %d workers", t.strategy, sw.workers)
	if len(t.params) > 0 {
		fmt.Fprintf(stdout, ", %s", paramFlag(t.params))
	}
	if sw.untilFail {
		fmt.Fprint(stdout, ", until the first failure")
	}
	fmt.Fprintln(stdout)
	sum.print(stdout)
	writeReplays(stdout, t, res.failed(maxReplayFiles), *replayDir)
	if *jsonOut != "" {
		if err := sum.writeJSON(*jsonOut); err != nil {
			return failf(stderr, "sweep: writing -json: %v", err)
		}
		fmt.Fprintf(stdout, "summary written to %s\n", *jsonOut)
	}
	if *reportDir != "" {
		if err := writeSweepReport(*reportDir, sum.report(t.variant.Buggy)); err != nil {
			return failf(stderr, "sweep: writing -report: %v", err)
		}
		fmt.Fprintf(stdout, "report: %s (and report.md, report.json)\n", filepath.Join(*reportDir, "report.html"))
	}
	if sum.Failures > 0 {
		return exitFail
	}
	return exitPass
}

// sweepConfig is one sweep: a target over a seed range (or one shard of
// it) on a number of workers.
type sweepConfig struct {
	target
	seeds     seedRange
	shard     *shard
	workers   int
	untilFail bool
}

// seedRun is what a sweep keeps of one run.
type seedRun struct {
	seed        uint64
	failure     *sim.Failure // nil: passed
	outside     bool         // the failure happened outside the simulation
	fingerprint uint64
	steps       int64
	simNs       int64
	params      []scenario.KV // kept for failures only
	metrics     []scenario.Metric
	probes      []scenario.Probe
}

// sweepResult holds a sweep's runs in seed order.
type sweepResult struct {
	cfg  sweepConfig
	runs []seedRun
	wall time.Duration
}

// failed returns up to n failing runs, lowest seeds first.
func (r sweepResult) failed(n int) []seedRun {
	var out []seedRun
	for _, s := range r.runs {
		if s.failure != nil && len(out) < n {
			out = append(out, s)
		}
	}
	return out
}

// run executes the sweep. Workers take seed indexes in increasing order and
// store each result at its index, so the aggregate, computed afterwards in
// seed order, does not depend on the number of workers or on timing. With
// untilFail no index beyond the lowest failing one found so far is
// started, and results beyond the lowest failing index are discarded: every
// index below it has been started (indexes are handed out in order) and is
// waited for, so the outcome is the same as a sequential sweep's.
func (c sweepConfig) run(prog *progress) sweepResult {
	list := newSeedList(c.seeds, c.shard)
	runs := make([]seedRun, list.n)
	var next atomic.Int64
	var stop atomic.Int64 // lowest failing index seen (list.n: none)
	stop.Store(int64(list.n))
	var wg sync.WaitGroup
	began := time.Now()
	for range min(c.workers, max(list.n, 1)) {
		wg.Go(func() {
			// The worker's runs reuse each other's coroutines.
			pool := sim.NewPool(0)
			defer pool.Close()
			for {
				i := next.Add(1) - 1
				if i >= int64(list.n) || (c.untilFail && i > stop.Load()) {
					return
				}
				cfg := c.config(list.at(int(i)))
				cfg.Pool = pool
				o, outside := execute(cfg)
				r := seedRun{
					seed: o.Seed, failure: o.Result.Failure, outside: outside, fingerprint: o.Result.Fingerprint,
					steps: o.Result.Steps, simNs: int64(o.Result.Elapsed), metrics: o.Metrics, probes: o.Probes,
				}
				if r.failure != nil {
					r.params = o.Params
					for cur := stop.Load(); i < cur && !stop.CompareAndSwap(cur, i); cur = stop.Load() {
					}
				}
				runs[i] = r
				prog.add(r.failure != nil)
			}
		})
	}
	wg.Wait()
	wall := time.Since(began)
	if c.untilFail && stop.Load() < int64(list.n) {
		runs = runs[:stop.Load()+1]
	}
	return sweepResult{cfg: c, runs: runs, wall: wall}
}

// writeReplays writes a replay file for each run (failing runs) into dir
// and prints their names; it returns the files written.
func writeReplays(w io.Writer, t target, runs []seedRun, dir string) []string {
	var files []string
	for _, r := range runs {
		if r.outside {
			fmt.Fprintf(w, "no replay file for seed %d: it failed outside the simulation\n", r.seed)
			continue
		}
		o := scenario.Outcome{
			Scenario: t.sc.Name, Variant: t.variant.Name, Seed: r.seed, Strategy: t.strategy, Params: r.params,
			Result: sim.Result{Seed: r.seed, Strategy: t.strategy, Steps: r.steps, Elapsed: time.Duration(r.simNs),
				Fingerprint: r.fingerprint, Failure: r.failure},
		}
		rp, err := newReplay(o)
		if err == nil {
			path := filepath.Join(dir, replayName(t.sc.Name, t.variant.Name, r.seed))
			if err = rp.Write(path); err == nil {
				files = append(files, path)
				continue
			}
		}
		fmt.Fprintf(w, "no replay file for seed %d: %v\n", r.seed, err)
	}
	if len(files) > 0 {
		fmt.Fprintf(w, "replay files:")
		for _, f := range files {
			fmt.Fprintf(w, " %s", f)
		}
		fmt.Fprintln(w)
	}
	return files
}

// writeJSON writes the summary as indented JSON.
func (s *sweepSummary) writeJSON(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}
