package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/detsim/detsim/reports"
	"github.com/detsim/detsim/sim/scenario"
)

// sweepSummary is a sweep's result, for people (print) and machines (the
// -json file). Everything but the wall-clock fields (wall_ns,
// seeds_per_sec) is a function of the seeds run, so it is the same for any
// number of workers, and merging shards gives what one sweep would. The
// fields failing (with each failure's resolved parameters), metrics[].hist
// and probe_runs carry what merge needs to recompute the rest exactly.
type sweepSummary struct {
	Scenario string            `json:"scenario"`
	Variant  string            `json:"variant"`
	Strategy string            `json:"strategy"`
	Params   map[string]string `json:"params"` // given with -param
	Seeds    seedRange         `json:"seeds"`
	Shard    *shard            `json:"shard,omitempty"`
	// UntilFail: the sweep stopped at its first failing seed, so it ran
	// only the seeds up to that one.
	UntilFail bool `json:"until_fail,omitempty"`

	Runs        int      `json:"runs"`
	Failures    int      `json:"failures"`
	FailureRate float64  `json:"failure_rate"`
	CI95        interval `json:"ci95"`
	// ZeroFailureUpper95 is the one-sided 95% upper bound on the failure
	// rate, present when no run failed.
	ZeroFailureUpper95 *float64 `json:"zero_failure_upper95,omitempty"`
	// Failing lists every failing seed in seed order.
	Failing []failingSeed `json:"failing"`

	SeedsPerSec float64 `json:"seeds_per_sec"`
	// SimNs is the virtual time of all runs; WallNs the sweep's real time
	// (for a merge: the sum of the shards').
	SimNs  int64 `json:"sim_ns"`
	WallNs int64 `json:"wall_ns"`

	Metrics map[string]*metricDist `json:"metrics"`
	// Probes is the fraction of runs where each probe was reached at
	// least once; ProbeRuns the number of those runs.
	Probes    map[string]float64 `json:"probes"`
	ProbeRuns map[string]int     `json:"probe_runs"`

	workers int // for print only: not part of the result
}

type interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// failingSeed is one failing run of a sweep, with what rerunning it needs.
type failingSeed struct {
	Seed        uint64            `json:"seed"`
	Kind        string            `json:"kind"`
	Message     string            `json:"message"`
	Fingerprint string            `json:"fingerprint"`
	Steps       int64             `json:"steps"`
	SimTimeNs   int64             `json:"sim_time_ns"`
	Params      map[string]string `json:"params"` // every parameter, resolved
	Command     string            `json:"command"`
}

// metricDist is a metric's distribution over the runs that recorded it.
type metricDist struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Mean  float64 `json:"mean"`
	Max   float64 `json:"max"`
	// Hist lists [value, runs] pairs by increasing value: the exact
	// distribution, so shards merge exactly.
	Hist [][2]float64 `json:"hist"`
	// NonFinite counts NaN and infinite values, left out of the rest.
	NonFinite int `json:"nonfinite,omitempty"`
}

// summarize aggregates a sweep's runs, in seed order.
func summarize(c sweepConfig, res sweepResult) *sweepSummary {
	s := &sweepSummary{
		Scenario: c.sc.Name, Variant: c.variant.Name, Strategy: c.strategy.String(),
		Params: c.params, Seeds: c.seeds, Shard: c.shard, UntilFail: c.untilFail,
		Runs: len(res.runs), WallNs: int64(res.wall), Failing: []failingSeed{},
		Metrics: map[string]*metricDist{}, ProbeRuns: map[string]int{},
		workers: c.workers,
	}
	values := map[string][]float64{}
	for _, r := range res.runs {
		s.SimNs += r.simNs
		for _, m := range r.metrics {
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				d := s.metric(m.Name)
				d.NonFinite++
				continue
			}
			s.metric(m.Name)
			values[m.Name] = append(values[m.Name], m.Value)
		}
		for _, p := range r.probes {
			s.ProbeRuns[p.Name] += 0 // declared probes show as 0%
			if p.Hits > 0 {
				s.ProbeRuns[p.Name]++
			}
		}
		if r.failure == nil {
			continue
		}
		s.Failures++
		params := map[string]string{}
		for _, kv := range r.params {
			params[kv.Name] = kv.Value
		}
		rp := scenario.Replay{Scenario: c.sc.Name, Variant: c.variant.Name, Seed: r.seed, Strategy: s.Strategy, Params: params}
		s.Failing = append(s.Failing, failingSeed{
			Seed: r.seed, Kind: r.failure.Kind.String(), Message: r.failure.Message,
			Fingerprint: scenario.Fingerprint(r.fingerprint), Steps: r.steps, SimTimeNs: r.simNs,
			Params: params, Command: rp.Command(),
		})
	}
	for name, vs := range values {
		slices.Sort(vs)
		d := s.Metrics[name]
		for i := 0; i < len(vs); {
			j := i
			for j < len(vs) && vs[j] == vs[i] {
				j++
			}
			d.Hist = append(d.Hist, [2]float64{vs[i], float64(j - i)})
			i = j
		}
	}
	s.finish()
	return s
}

func (s *sweepSummary) metric(name string) *metricDist {
	d, ok := s.Metrics[name]
	if !ok {
		d = &metricDist{Hist: [][2]float64{}}
		s.Metrics[name] = d
	}
	return d
}

// finish computes the derived fields from the counts, histograms and
// times; sweep and merge share it, so they agree to the bit.
func (s *sweepSummary) finish() {
	s.FailureRate = 0
	if s.Runs > 0 {
		s.FailureRate = float64(s.Failures) / float64(s.Runs)
	}
	lo, hi := reports.ClopperPearson(s.Failures, s.Runs, 0.95)
	s.CI95 = interval{lo, hi}
	s.ZeroFailureUpper95 = nil
	if s.Failures == 0 {
		u := reports.ZeroFailureUpper(s.Runs, 0.95)
		s.ZeroFailureUpper95 = &u
	}
	s.SeedsPerSec = 0
	if s.WallNs > 0 {
		s.SeedsPerSec = float64(s.Runs) / time.Duration(s.WallNs).Seconds()
	}
	for _, d := range s.Metrics {
		sum := reports.SummarizeHist(d.Hist)
		d.Count, d.P50, d.P99, d.Mean, d.Max = sum.Count, sum.P50, sum.P99, sum.Mean, sum.Max
		if sum.Count == 0 { // only non-finite values: keep the JSON encodable
			d.P50, d.P99, d.Mean, d.Max = 0, 0, 0, 0
		}
	}
	s.Probes = map[string]float64{}
	for name, n := range s.ProbeRuns {
		s.Probes[name] = 0
		if s.Runs > 0 {
			s.Probes[name] = float64(n) / float64(s.Runs)
		}
	}
}

// shownFailures is how many failing seeds the text summary lists.
const shownFailures = 5

// print writes the summary for people.
func (s *sweepSummary) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "runs\t%s\n", reports.Count(s.Runs))
	if s.Failures == 0 {
		fmt.Fprintf(tw, "failures\t0\n")
	} else {
		fmt.Fprintf(tw, "failures\t%s, rate %s, 95%% CI [%s, %s] (Clopper-Pearson)\n", reports.Count(s.Failures),
			reports.Sci(s.FailureRate), reports.Sci(s.CI95.Lo), reports.Sci(s.CI95.Hi))
	}
	tw.Flush()
	if s.Failures == 0 && s.Runs > 0 {
		fmt.Fprintln(w, reports.ZeroFailureSentence(s.Runs, 0.95))
	}
	if s.Failures > 0 {
		fmt.Fprintln(w, "first failing seeds:")
		for _, f := range s.Failing[:min(len(s.Failing), shownFailures)] {
			fmt.Fprintf(w, "  seed %d: %s: %s\n", f.Seed, f.Kind, f.Message)
		}
		if more := len(s.Failing) - shownFailures; more > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", more)
		}
	}
	wall := time.Duration(s.WallNs)
	speed := fmt.Sprintf("%s seeds/s (%s runs in %v", reports.Count(int(math.Round(s.SeedsPerSec))), reports.Count(s.Runs), roundWall(wall))
	if s.workers > 0 {
		speed += fmt.Sprintf(" on %d workers", s.workers)
	}
	speed += ")"
	if s.WallNs > 0 {
		speed += fmt.Sprintf("; virtual/wall time %.3g", float64(s.SimNs)/float64(s.WallNs))
	}
	fmt.Fprintf(w, "speed     %s\n", speed)
	if len(s.Metrics) > 0 {
		fmt.Fprintln(w, "metrics:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  name\tp50\tp99\tmean\tmax\truns")
		for _, name := range slices.Sorted(maps.Keys(s.Metrics)) {
			d := s.Metrics[name]
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", name, num(d.P50), num(d.P99), num(d.Mean), num(d.Max), reports.Count(d.Count))
		}
		tw.Flush()
	}
	if len(s.Probes) > 0 {
		fmt.Fprintln(w, "probes (fraction of runs that reached each):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, name := range slices.Sorted(maps.Keys(s.Probes)) {
			note := ""
			if s.ProbeRuns[name] == 0 {
				note = "\tnever reached"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\n", name, reports.Sci(s.Probes[name]), note)
		}
		tw.Flush()
	}
	if s.Failures > 0 {
		fmt.Fprintf(w, "replay the first failure:\n  %s\n", s.Failing[0].Command)
	}
}

// roundWall rounds a wall time for display: to the millisecond, or the
// microsecond below one.
func roundWall(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// num renders a metric value briefly.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// report turns the summary into the reports package's sweep report (for
// -report DIR); buggy is the variant's mark.
func (s *sweepSummary) report(buggy bool) *reports.Sweep {
	in := reports.SweepInput{
		Scenario: s.Scenario, Variant: s.Variant, Strategy: s.Strategy, Buggy: buggy,
		Params: s.Params, Seeds: s.Seeds.String(), UntilFail: s.UntilFail, Workers: s.workers,
		Runs: s.Runs, SimNs: s.SimNs, WallNs: s.WallNs,
		Metrics: map[string]reports.MetricInput{}, ProbeRuns: s.ProbeRuns,
	}
	if s.Shard != nil {
		in.Shard = s.Shard.String()
	}
	for _, f := range s.Failing {
		in.Failing = append(in.Failing, reports.FailingSeed{
			Seed: f.Seed, Kind: f.Kind, Message: f.Message, Fingerprint: f.Fingerprint,
			Steps: f.Steps, SimTimeNs: f.SimTimeNs, Replay: f.Command,
		})
	}
	for name, d := range s.Metrics {
		in.Metrics[name] = reports.MetricInput{Hist: d.Hist, NonFinite: d.NonFinite}
	}
	return reports.NewSweep(in)
}

// checkReportDir reports whether a report can be written into dir: an
// existing, writable directory, or a new one in an existing, writable
// parent (created when the report is written). Checked before running.
func checkReportDir(flagName, dir string) error {
	if dir == "" {
		return fmt.Errorf("%s: empty directory name", flagName)
	}
	probe := dir
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s %s: not a directory", flagName, dir)
		}
	} else {
		probe = filepath.Dir(dir)
		if fi, err := os.Stat(probe); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s %s: directory %s does not exist", flagName, dir, probe)
		}
	}
	if !writable(probe) {
		return fmt.Errorf("%s %s: directory %s is not writable", flagName, dir, probe)
	}
	return nil
}

// checkWritableDir reports whether files can be written into dir: an
// existing directory that accepts a new file. Checked before running.
func checkWritableDir(flagName, dir string) error {
	if err := checkDir(flagName, dir); err != nil {
		return err
	}
	if !writable(dir) {
		return fmt.Errorf("%s %s: directory %s is not writable", flagName, dir, dir)
	}
	return nil
}

// writable reports whether a new file can be created in dir (by creating
// and removing one: permission bits do not tell for root or read-only
// mounts).
func writable(dir string) bool {
	f, err := os.CreateTemp(dir, ".simrun-check-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

// writeSweepReport writes a sweep's report.md, report.json and report.html
// into dir, creating it if needed.
func writeSweepReport(dir string, r *reports.Sweep) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return reports.WriteSweepReport(dir, r)
}
