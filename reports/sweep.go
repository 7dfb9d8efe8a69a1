package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// SweepInput is what a sweep measured, as simrun's summary holds it.
type SweepInput struct {
	Scenario, Variant, Strategy string
	// Buggy marks a variant that reproduces a known bug (failures are
	// expected).
	Buggy bool
	// Params are the parameters given for every seed.
	Params map[string]string
	// Seeds is the range "A:B"; Shard "I/N" or "".
	Seeds, Shard string
	UntilFail    bool
	Workers      int
	Runs         int
	// Failing lists every failing seed, in seed order.
	Failing []FailingSeed
	// SimNs is the virtual time of all runs; WallNs the sweep's real time.
	SimNs, WallNs int64
	// Metrics maps a metric to its exact distribution: [value, runs] pairs
	// by increasing value, and the count of NaN or infinite values.
	Metrics map[string]MetricInput
	// ProbeRuns maps each probe to the runs that reached it.
	ProbeRuns map[string]int
}

// MetricInput is one metric's distribution over a sweep's runs.
type MetricInput struct {
	Hist      [][2]float64
	NonFinite int
}

// Sweep is a sweep's report: report.json is this, marshalled.
type Sweep struct {
	Scenario  string            `json:"scenario"`
	Variant   string            `json:"variant"`
	Buggy     bool              `json:"buggy"`
	Strategy  string            `json:"strategy"`
	Params    map[string]string `json:"params"`
	Seeds     string            `json:"seeds"`
	Shard     string            `json:"shard,omitempty"`
	UntilFail bool              `json:"until_fail,omitempty"`
	Workers   int               `json:"workers"`

	Runs        int     `json:"runs"`
	Failures    int     `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
	// CI95 is the two-sided 95% Clopper-Pearson interval of the rate.
	CI95 [2]float64 `json:"ci95"`
	// ZeroFailureUpper95 is the one-sided 95% upper bound when no run
	// failed.
	ZeroFailureUpper95 *float64 `json:"zero_failure_upper95,omitempty"`
	// Verdict says the result in one sentence.
	Verdict string `json:"verdict"`

	// Groups are the failures grouped by kind and message (numbers in the
	// message are ignored), most frequent first.
	Groups []FailureGroup `json:"failure_groups"`
	// Failing lists the first failing seeds (MaxFailingListed); the others
	// are counted in MoreFailing.
	Failing     []FailingSeed `json:"failing"`
	MoreFailing int           `json:"more_failing,omitempty"`

	Probes  []ProbeRate  `json:"probes"`
	Metrics []MetricDist `json:"metrics"`
	Speed   Speed        `json:"speed"`
}

// FailingSeed is one failing run of a sweep.
type FailingSeed struct {
	Seed        uint64 `json:"seed"`
	Kind        string `json:"kind"`
	Message     string `json:"message"`
	Fingerprint string `json:"fingerprint"`
	Steps       int64  `json:"steps"`
	SimTimeNs   int64  `json:"sim_time_ns"`
	// Replay is the command that reruns it.
	Replay string `json:"replay"`
}

// FailureGroup is the failures of one kind whose messages differ only in
// their numbers.
type FailureGroup struct {
	Kind string `json:"kind"`
	// Pattern is the message with every number replaced by N.
	Pattern string `json:"pattern"`
	// Example is the message of the group's lowest failing seed.
	Example string `json:"example"`
	Count   int    `json:"count"`
	// Rate is Count over the sweep's runs, with its 95% interval.
	Rate float64    `json:"rate"`
	CI95 [2]float64 `json:"ci95"`
	// FirstSeeds are the group's lowest failing seeds (up to 5); Replay
	// reruns the first.
	FirstSeeds []uint64 `json:"first_seeds"`
	Replay     string   `json:"replay"`
}

// ProbeRate is how often a "sometimes" probe was reached.
type ProbeRate struct {
	Name string     `json:"name"`
	Runs int        `json:"runs"`
	Rate float64    `json:"rate"`
	CI95 [2]float64 `json:"ci95"`
}

// MetricDist is a metric's distribution over the runs that recorded it.
type MetricDist struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Mean  float64 `json:"mean"`
	Max   float64 `json:"max"`
	// NonFinite counts NaN and infinite values, left out of the rest.
	NonFinite int `json:"nonfinite,omitempty"`
	// Hist lists [value, runs] pairs by increasing value.
	Hist [][2]float64 `json:"hist"`
}

// Speed is how fast the sweep ran; every field depends on the machine.
type Speed struct {
	WallNs      int64   `json:"wall_ns"`
	SimNs       int64   `json:"sim_ns"`
	SeedsPerSec float64 `json:"seeds_per_sec"`
	// Acceleration is virtual time over wall time (all runs).
	Acceleration float64 `json:"acceleration"`
}

// MaxFailingListed is how many failing seeds report.json and report.html
// list; report.md lists mdFailingListed.
const (
	MaxFailingListed = 100
	mdFailingListed  = 20
)

// NewSweep computes a sweep's report.
func NewSweep(in SweepInput) *Sweep {
	s := &Sweep{
		Scenario: in.Scenario, Variant: in.Variant, Buggy: in.Buggy, Strategy: in.Strategy,
		Params: in.Params, Seeds: in.Seeds, Shard: in.Shard, UntilFail: in.UntilFail, Workers: in.Workers,
		Runs: in.Runs, Failures: len(in.Failing),
		Groups: []FailureGroup{}, Failing: []FailingSeed{}, Probes: []ProbeRate{}, Metrics: []MetricDist{},
	}
	if s.Params == nil {
		s.Params = map[string]string{}
	}
	if s.Runs > 0 {
		s.FailureRate = float64(s.Failures) / float64(s.Runs)
	}
	lo, hi := ClopperPearson(s.Failures, s.Runs, 0.95)
	s.CI95 = [2]float64{lo, hi}
	switch {
	case s.Runs == 0:
		s.Verdict = "No seed was run."
	case s.Failures == 0:
		u := ZeroFailureUpper(s.Runs, 0.95)
		s.ZeroFailureUpper95 = &u
		s.Verdict = ZeroFailureSentence(s.Runs, 0.95)
	default:
		s.Verdict = fmt.Sprintf("%s of %s seeds failed: the failure rate is %s, between %s and %s at 95%% confidence (Clopper-Pearson).",
			Count(s.Failures), Count(s.Runs), Sci(s.FailureRate), Sci(lo), Sci(hi))
	}
	s.Groups = groupFailures(in.Failing, s.Runs)
	n := min(len(in.Failing), MaxFailingListed)
	s.Failing = append(s.Failing, in.Failing[:n]...)
	s.MoreFailing = len(in.Failing) - n
	for _, name := range slices.Sorted(maps.Keys(in.ProbeRuns)) {
		runs := in.ProbeRuns[name]
		p := ProbeRate{Name: name, Runs: runs}
		if s.Runs > 0 {
			p.Rate = float64(runs) / float64(s.Runs)
		}
		lo, hi := ClopperPearson(runs, s.Runs, 0.95)
		p.CI95 = [2]float64{lo, hi}
		s.Probes = append(s.Probes, p)
	}
	for _, name := range slices.Sorted(maps.Keys(in.Metrics)) {
		s.Metrics = append(s.Metrics, metricDist(name, in.Metrics[name]))
	}
	s.Speed = Speed{WallNs: in.WallNs, SimNs: in.SimNs}
	if in.WallNs > 0 {
		s.Speed.SeedsPerSec = float64(s.Runs) / time.Duration(in.WallNs).Seconds()
		s.Speed.Acceleration = float64(in.SimNs) / float64(in.WallNs)
	}
	return s
}

func metricDist(name string, m MetricInput) MetricDist {
	sum := SummarizeHist(m.Hist)
	d := MetricDist{Name: name, NonFinite: m.NonFinite, Hist: m.Hist, Count: sum.Count}
	if d.Hist == nil {
		d.Hist = [][2]float64{}
	}
	if sum.Count == 0 {
		return d // zeros: keep the JSON encodable
	}
	q := HistQuantiles(m.Hist, 0, 0.9)
	d.Min, d.P50, d.P90, d.P99, d.Mean, d.Max = q[0], sum.P50, q[1], sum.P99, sum.Mean, sum.Max
	return d
}

// numberRun matches the numbers a failure message varies in: Go durations
// with their units (so "27µs" and "1.5s" group together), hex and decimal
// numbers.
var numberRun = regexp.MustCompile(`(?:[0-9]+(?:\.[0-9]+)?(?:ns|µs|us|ms|h|m|s))+\b|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?`)

// groupFailures groups failing seeds by kind and message pattern.
func groupFailures(failing []FailingSeed, runs int) []FailureGroup {
	type key struct{ kind, pattern string }
	groups := map[key]*FailureGroup{}
	var order []key
	for _, f := range failing {
		k := key{f.Kind, numberRun.ReplaceAllString(f.Message, "N")}
		g := groups[k]
		if g == nil {
			g = &FailureGroup{Kind: f.Kind, Pattern: k.pattern, Example: f.Message, Replay: f.Replay}
			groups[k] = g
			order = append(order, k)
		}
		g.Count++
		if len(g.FirstSeeds) < 5 {
			g.FirstSeeds = append(g.FirstSeeds, f.Seed)
		}
	}
	out := make([]FailureGroup, 0, len(order))
	for _, k := range order {
		g := groups[k]
		if runs > 0 {
			g.Rate = float64(g.Count) / float64(runs)
			lo, hi := ClopperPearson(g.Count, runs, 0.95)
			g.CI95 = [2]float64{lo, hi}
		}
		out = append(out, *g)
	}
	// Most frequent first; ties by lowest first seed (the order seen).
	slices.SortStableFunc(out, func(a, b FailureGroup) int { return cmp.Compare(b.Count, a.Count) })
	return out
}

// Title names the sweep.
func (s *Sweep) Title() string { return s.Scenario + "/" + s.Variant }

// Expected reports whether the sweep came out as its variant should: a
// buggy variant fails at least once, a fixed one never.
func (s *Sweep) Expected() bool { return (s.Buggy && s.Failures > 0) || (!s.Buggy && s.Failures == 0) }

func (s *Sweep) header() string {
	h := fmt.Sprintf("Seeds %s (%s runs)", s.Seeds, Count(s.Runs))
	if s.Shard != "" {
		h += ", shard " + s.Shard
	}
	h += fmt.Sprintf(", strategy %s, %d workers", s.Strategy, s.Workers)
	if len(s.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(s.Params)) {
			ps = append(ps, k+"="+s.Params[k])
		}
		h += ", parameters " + strings.Join(ps, " ")
	}
	if s.UntilFail {
		h += ", stopped at the first failure"
	}
	kind := "fixed variant: no seed should fail"
	if s.Buggy {
		kind = "buggy variant: seeds are expected to fail"
	}
	return h + " (" + kind + ")."
}

func ci(c [2]float64) string { return "[" + Sci(c[0]) + ", " + Sci(c[1]) + "]" }

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Markdown renders the report as Markdown.
func (s *Sweep) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Sweep %s\n\n%s\n\n", s.Title(), s.header())
	w("| runs | failures | failure rate | 95%% interval (Clopper-Pearson) | zero-failure upper bound (95%%) |\n|---:|---:|---:|---|---|\n")
	upper := "-"
	if s.ZeroFailureUpper95 != nil {
		upper = Sci(*s.ZeroFailureUpper95)
	}
	w("| %s | %s | %s | %s | %s |\n\n%s\n", Count(s.Runs), Count(s.Failures), Sci(s.FailureRate), ci(s.CI95), upper, s.Verdict)

	if len(s.Groups) > 0 {
		w("\n## Failures by kind and message\n\n| kind | message (numbers as N) | runs | rate [95%% interval] | first seeds |\n|---|---|---:|---|---|\n")
		for _, g := range s.Groups {
			w("| %s | %s | %s | %s %s | %s |\n", g.Kind, mdCell(g.Pattern), Count(g.Count), Sci(g.Rate), ci(g.CI95), seedList(g.FirstSeeds))
		}
		w("\nReplay the first seed of each group:\n\n```sh\n")
		for _, g := range s.Groups {
			w("%s\n", g.Replay)
		}
		w("```\n")
		w("\n## Failing seeds\n\n| seed | kind | message | steps | virtual time | fingerprint |\n|---:|---|---|---:|---:|---|\n")
		shown := min(len(s.Failing), mdFailingListed)
		for _, f := range s.Failing[:shown] {
			w("| %d | %s | %s | %s | %v | `%s` |\n", f.Seed, f.Kind, mdCell(f.Message), Count(int(f.Steps)), time.Duration(f.SimTimeNs), f.Fingerprint)
		}
		if more := s.Failures - shown; more > 0 {
			w("\n... and %s more (report.json lists the first %d; the sweep's -json file all).\n", Count(more), MaxFailingListed)
		}
	}
	if len(s.Probes) > 0 {
		w("\n## Probes\n\nHow often each \"sometimes\" probe was reached: the interesting window was explored.\n\n| probe | runs | rate | 95%% interval |\n|---|---:|---:|---|\n")
		for _, p := range s.Probes {
			note := ""
			if p.Runs == 0 {
				note = " (never reached)"
			}
			w("| %s | %s | %s%s | %s |\n", p.Name, Count(p.Runs), Sci(p.Rate), note, ci(p.CI95))
		}
	}
	if len(s.Metrics) > 0 {
		w("\n## Metrics\n\n| metric | runs | min | p50 | p90 | p99 | mean | max |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, m := range s.Metrics {
			w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Name, Count(m.Count), fmtNum(m.Min), fmtNum(m.P50), fmtNum(m.P90),
				fmtNum(m.P99), fmtNum(m.Mean), fmtNum(m.Max))
		}
	}
	w("\n## Speed\n\n")
	w("- wall time: %v\n", time.Duration(s.Speed.WallNs).Round(time.Millisecond))
	w("- seeds per second: %s\n", Count(int(math.Round(s.Speed.SeedsPerSec))))
	w("- virtual time: %v\n", time.Duration(s.Speed.SimNs))
	w("- virtual time / wall time: %.3g\n", s.Speed.Acceleration)
	return b.String()
}

func seedList(seeds []uint64) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}

// JSON renders the report as indented JSON.
func (s *Sweep) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// HTML renders the report as a self-contained page with charts.
func (s *Sweep) HTML() string {
	p := newPage("simrun sweep " + s.Title())
	badge := `<span class="badge pass">no failure</span>`
	if s.Failures > 0 {
		badge = fmt.Sprintf(`<span class="badge fail">%s failures</span>`, esc(Count(s.Failures)))
	}
	if !s.Expected() {
		badge += ` <span class="badge warn">UNEXPECTED</span>`
	}
	p.f("<h1>Sweep %s %s</h1>\n<p>%s</p>\n", esc(s.Title()), badge, esc(s.header()))
	upper := "-"
	if s.ZeroFailureUpper95 != nil {
		upper = Sci(*s.ZeroFailureUpper95)
	}
	p.table([]string{"runs", "failures", "failure rate", "95% interval (Clopper-Pearson)", "zero-failure upper bound (95%)"},
		[]bool{true, true, true, false, false},
		[][]string{{Count(s.Runs), Count(s.Failures), Sci(s.FailureRate), ci(s.CI95), upper}})
	p.f("<p><b>%s</b></p>\n", esc(s.Verdict))
	p.WriteString(`<div class="chart">` + rateSVG(s) + "</div>\n")

	if len(s.Groups) > 0 {
		p.WriteString("<h2>Failures by kind and message</h2>\n")
		var rows [][]string
		for _, g := range s.Groups {
			rows = append(rows, []string{g.Kind, g.Pattern, Count(g.Count), Sci(g.Rate) + " " + ci(g.CI95), seedList(g.FirstSeeds)})
		}
		p.table([]string{"kind", "message (numbers as N)", "runs", "rate [95% interval]", "first seeds"}, []bool{false, false, true}, rows)
		p.WriteString("<p>Replay the first seed of each group (add <code>-html FILE</code> for its space-time diagram):</p>\n<pre>")
		for _, g := range s.Groups {
			p.f("%s\n", esc(g.Replay))
		}
		p.WriteString("</pre>\n")
		p.f("<details><summary>Failing seeds (%s listed)</summary>\n", esc(Count(len(s.Failing))))
		var frows [][]string
		for _, f := range s.Failing {
			frows = append(frows, []string{fmt.Sprint(f.Seed), f.Kind, f.Message, Count(int(f.Steps)), time.Duration(f.SimTimeNs).String(), f.Fingerprint})
		}
		p.table([]string{"seed", "kind", "message", "steps", "virtual time", "fingerprint"}, []bool{true, false, false, true, true}, frows)
		if s.MoreFailing > 0 {
			p.f("<p>... and %s more.</p>\n", esc(Count(s.MoreFailing)))
		}
		p.WriteString("</details>\n")
	}
	if len(s.Probes) > 0 {
		p.WriteString("<h2>Probes</h2>\n<p class=\"note\">How often each \"sometimes\" probe was reached: the interesting window was explored.</p>\n")
		var rows [][]string
		for _, pr := range s.Probes {
			rate := Sci(pr.Rate)
			if pr.Runs == 0 {
				rate += " (never reached)"
			}
			rows = append(rows, []string{pr.Name, Count(pr.Runs), rate, ci(pr.CI95)})
		}
		p.table([]string{"probe", "runs", "rate", "95% interval"}, []bool{false, true, true}, rows)
	}
	if len(s.Metrics) > 0 {
		p.WriteString("<h2>Metrics</h2>\n")
		var rows [][]string
		for _, m := range s.Metrics {
			rows = append(rows, []string{m.Name, Count(m.Count), fmtNum(m.Min), fmtNum(m.P50), fmtNum(m.P90), fmtNum(m.P99), fmtNum(m.Mean), fmtNum(m.Max)})
		}
		p.table([]string{"metric", "runs", "min", "p50", "p90", "p99", "mean", "max"}, []bool{false, true, true, true, true, true, true, true}, rows)
		p.WriteString(`<div class="charts">` + "\n")
		for _, m := range s.Metrics {
			if m.Count == 0 {
				continue
			}
			p.f(`<div class="chart">%s</div>`+"\n", histogramSVG(m))
			p.f(`<div class="chart">%s</div>`+"\n", cdfSVG(m))
		}
		p.WriteString("</div>\n")
	}
	p.WriteString("<h2>Speed</h2>\n")
	p.table([]string{"wall time", "seeds per second", "virtual time", "virtual time / wall time"}, []bool{true, true, true, true},
		[][]string{{time.Duration(s.Speed.WallNs).Round(time.Millisecond).String(), Count(int(math.Round(s.Speed.SeedsPerSec))),
			time.Duration(s.Speed.SimNs).String(), fmt.Sprintf("%.3g", s.Speed.Acceleration)}})
	return p.end()
}

// WriteSweepReport writes report.md, report.json and report.html into dir
// (which must exist), each atomically.
func WriteSweepReport(dir string, s *Sweep) error {
	data, err := s.JSON()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{"report.md", []byte(s.Markdown())}, {"report.json", data}, {"report.html", []byte(s.HTML())}} {
		if err := writeFile(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data to path via a temporary file and a rename.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
