package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/detsim/detsim/reports"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "SCENARIO [flags]", `
Runs one seed of a scenario and prints every parameter (drawn ones marked)
beside the seed, then the result: pass or fail, fingerprint, steps, virtual
and wall time, metrics and probes. A failure is printed with its details
(blocked tasks, stack) and the command that replays it, and a replay file is
written (see simrun replay and simrun shrink).

Reports of the run (none changes it: the fingerprint is the same with or
without them):

  -html FILE      a self-contained page (no script, font or request):
                  parameters, result, failure, replay command, network
                  counters and a space-time diagram (one lane per host and
                  task, packets as arrows, drops, duplicates, faults and the
                  failure marked, quiet stretches shortened). A run of more
                  than 600 drawable events is drawn as the 600 leading up to
                  the failure (the first 600 of a passing run), and beyond 16
                  hosts the least busy share one lane; the page says so.
  -perfetto FILE  Chrome trace-event JSON for ui.perfetto.dev or
                  chrome://tracing: hosts as processes, tasks as threads,
                  packets as flow arrows, virtual time as timestamps
  -trace FILE     every kernel and network event as JSON lines

`+reports.TraceFormat+`

Output files are checked before the run: a missing or read-only directory,
a directory given as a file, or two flags naming one file is bad input.

Exit status: 0 the run passed, 1 it failed, 2 bad usage or input.`)
	variant := fs.String("variant", "", "variant `V` to run (default: the scenario's default, fixed if it has one)")
	seed := fs.Uint64("seed", 0, "the run's seed `N`")
	strategy := fs.String("strategy", "", "scheduling strategy `S`: random, pct:D[:K] or fifo, optionally +permute, +delay[:D[:odds]] and +swarm[:N] (default: the scenario's)")
	params := paramFlag{}
	fs.Var(params, "param", "set a parameter, `name=value` (repeatable); the others are defaulted or drawn from the seed")
	traceOut := fs.String("trace", "", "write every kernel and network event to `FILE`, one JSON object per line (fields above)")
	htmlOut := fs.String("html", "", "write a self-contained HTML report with a space-time diagram to `FILE`")
	perfettoOut := fs.String("perfetto", "", "write a Chrome trace-event JSON file for the Perfetto UI to `FILE`")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	verbose := fs.Bool("v", false, "print the kernel trace before the result")
	replayOut := fs.String("replay-out", "", "on failure, write the replay file to `FILE` (default simrun-SCENARIO-VARIANT-SEED.replay.json in the current directory)")
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	t, err := resolveTarget(pos[0], *variant, *strategy, params)
	if err != nil {
		return failf(stderr, "run: %v", err)
	}
	if *asJSON && *verbose {
		return failf(stderr, "run: -v and -json cannot be combined (use -trace FILE with -json)")
	}
	for _, out := range []struct{ flag, path string }{{"-trace", *traceOut}, {"-html", *htmlOut}, {"-perfetto", *perfettoOut}} {
		if out.path == "" {
			continue
		}
		if err := checkWritableFile(out.flag, out.path); err != nil {
			return failf(stderr, "run: %v", err)
		}
	}
	replayPath := replayName(t.sc.Name, t.variant.Name, *seed)
	check := checkOutFile // the default, in the current directory, is written only on failure
	if *replayOut != "" {
		replayPath, check = *replayOut, checkWritableFile
	}
	if err := check("-replay-out", replayPath); err != nil {
		return failf(stderr, "run: %v", err)
	}
	if err := checkDistinctOutputs([2]string{"-trace", *traceOut}, [2]string{"-html", *htmlOut},
		[2]string{"-perfetto", *perfettoOut}, [2]string{"-replay-out", replayPath}); err != nil {
		return failf(stderr, "run: %v", err)
	}

	cfg := t.config(*seed)
	var rec *reports.Recorder
	if *traceOut != "" || *htmlOut != "" || *perfettoOut != "" {
		rec = &reports.Recorder{}
		cfg = rec.Instrument(cfg)
	}
	cfg.Trace = cfg.Trace || *verbose
	if !*asJSON {
		// Every parameter beside the seed, before the run starts.
		kvs, err := cfg.Resolve()
		if err != nil {
			return failf(stderr, "run: %v", err)
		}
		strat, _ := cfg.StrategyOf()
		fmt.Fprintf(stdout, "run %s/%s seed %d, strategy %s\n", t.sc.Name, t.variant.Name, *seed, strat)
		fmt.Fprintf(stdout, "params:%s\n", paramsLine(kvs))
	}
	o, outside := execute(cfg)
	var rp *scenario.Replay
	var replayErr error
	if !o.Passed() && !outside {
		r, err := newReplay(o)
		if err == nil {
			err = r.Write(replayPath)
		}
		if err == nil {
			rp = &r
		}
		replayErr = err
	}
	var written []string
	if rec != nil {
		rep := reports.NewRun(o, rec.Network())
		outs := []struct {
			flag, path string
			write      func(io.Writer) error
			what       string
		}{
			{"-trace", *traceOut, func(w io.Writer) error { return reports.WriteTrace(w, rep) },
				fmt.Sprintf("trace: %d events written to %s", len(rep.Events), *traceOut)},
			{"-perfetto", *perfettoOut, func(w io.Writer) error { return reports.WritePerfetto(w, rep) },
				fmt.Sprintf("perfetto: %s (open it in https://ui.perfetto.dev or chrome://tracing)", *perfettoOut)},
			{"-html", *htmlOut, func(w io.Writer) error {
				d, err := reports.WriteRunHTML(w, rep, reports.DiagramOptions{})
				if d.Windowed {
					written = append(written, "html: "+d.Note())
				}
				return err
			}, fmt.Sprintf("html: %s", *htmlOut)},
		}
		for _, out := range outs {
			if out.path == "" {
				continue
			}
			if err := writeAtomic(out.path, out.write); err != nil {
				return failf(stderr, "run: %s: %v", out.flag, err)
			}
			written = append(written, out.what)
		}
	}
	if *asJSON {
		printRunJSON(stdout, o, rp, replayPath, *traceOut, *htmlOut, *perfettoOut)
	} else {
		printRun(stdout, o, *verbose)
		for _, line := range written {
			fmt.Fprintln(stdout, line)
		}
		if !o.Passed() {
			cmd := scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Seed: o.Seed, Strategy: o.Strategy.String(), Params: o.ParamMap()}.Command()
			switch {
			case rp != nil:
				fmt.Fprintf(stdout, "replay file: %s (rerun and compare: simrun replay %s)\n", replayPath, replayPath)
				cmd = rp.Command()
			case outside:
				fmt.Fprintln(stdout, "no replay file: the run failed outside the simulation")
			default:
				fmt.Fprintf(stdout, "no replay file: %v\n", replayErr)
			}
			fmt.Fprintf(stdout, "replay: %s\n", cmd)
		}
	}
	if !o.Passed() {
		return exitFail
	}
	return exitPass
}

// printRun prints one run for people: the parameters first, the result
// after.
func printRun(w io.Writer, o scenario.Outcome, verbose bool) {
	if o.Strategy.Kind == sim.PCT {
		fmt.Fprintf(w, "strategy as run: %s (horizon calibrated from the seed's random-strategy run)\n", o.Strategy)
	}
	if verbose {
		for _, e := range o.Result.Trace {
			fmt.Fprintln(w, e)
		}
	}
	res := o.Result
	if res.Failure == nil {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintf(w, "FAIL %s: %s\n", res.Failure.Kind, res.Failure.Message)
	}
	fmt.Fprintf(w, "fingerprint %s, %d steps, virtual time %v, wall time %v\n",
		scenario.Fingerprint(res.Fingerprint), res.Steps, res.Elapsed, o.Wall.Round(time.Microsecond))
	if len(o.Metrics) > 0 {
		fmt.Fprint(w, "metrics:")
		for _, m := range o.Metrics {
			fmt.Fprintf(w, " %s=%s", m.Name, num(m.Value))
		}
		fmt.Fprintln(w)
	}
	if len(o.Probes) > 0 {
		fmt.Fprint(w, "probes:")
		for _, p := range o.Probes {
			fmt.Fprintf(w, " %s=%d", p.Name, p.Hits)
		}
		fmt.Fprintln(w)
	}
	if f := res.Failure; f != nil {
		fmt.Fprintf(w, "failure: %s\n", indent(f.Error(), "  "))
		if f.Property != "" {
			fmt.Fprintf(w, "  property: %s\n", f.Property)
		}
		if f.Task != "" {
			fmt.Fprintf(w, "  task: %s\n", f.Task)
		}
		if f.Stack != "" {
			fmt.Fprintf(w, "  stack:\n    %s\n", indent(strings.TrimSpace(f.Stack), "    "))
		}
	}
}

func paramsLine(kvs []scenario.KV) string {
	if len(kvs) == 0 {
		return " (none)"
	}
	var b strings.Builder
	for _, kv := range kvs {
		fmt.Fprintf(&b, " %s=%s", kv.Name, kv.Value)
		if kv.Drawn {
			b.WriteString(" (drawn)")
		}
	}
	return b.String()
}

func indent(s, prefix string) string { return strings.ReplaceAll(s, "\n", "\n"+prefix) }

// runJSON is `simrun run -json`'s output.
type runJSON struct {
	Scenario      string              `json:"scenario"`
	Variant       string              `json:"variant"`
	Seed          uint64              `json:"seed"`
	Strategy      string              `json:"strategy"`
	Params        map[string]string   `json:"params"`
	Drawn         []string            `json:"drawn"` // parameters drawn from the seed
	Passed        bool                `json:"passed"`
	Failure       *failureJSON        `json:"failure"`
	Fingerprint   string              `json:"fingerprint"`
	Steps         int64               `json:"steps"`
	SimTimeNs     int64               `json:"sim_time_ns"`
	WallNs        int64               `json:"wall_ns"`
	Metrics       map[string]*float64 `json:"metrics"` // null for NaN or infinite
	Probes        map[string]int      `json:"probes"`
	ReplayFile    string              `json:"replay_file,omitempty"`
	ReplayCommand string              `json:"replay_command,omitempty"`
	TraceFile     string              `json:"trace_file,omitempty"`
	HTMLFile      string              `json:"html_file,omitempty"`
	PerfettoFile  string              `json:"perfetto_file,omitempty"`
}

type failureJSON struct {
	Kind     string        `json:"kind"`
	Message  string        `json:"message"`
	Property string        `json:"property,omitempty"`
	Task     string        `json:"task,omitempty"`
	Step     int64         `json:"step"`
	TimeNs   int64         `json:"time_ns"`
	Blocked  []blockedJSON `json:"blocked,omitempty"`
	Timers   []string      `json:"timers,omitempty"`
	Stack    string        `json:"stack,omitempty"`
}

type blockedJSON struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	WaitsOn string `json:"waits_on"`
}

func printRunJSON(w io.Writer, o scenario.Outcome, rp *scenario.Replay, replayPath, tracePath, htmlPath, perfettoPath string) {
	res := o.Result
	out := runJSON{
		Scenario: o.Scenario, Variant: o.Variant, Seed: o.Seed, Strategy: o.Strategy.String(),
		Params: o.ParamMap(), Drawn: []string{}, Passed: o.Passed(),
		Fingerprint: scenario.Fingerprint(res.Fingerprint), Steps: res.Steps,
		SimTimeNs: int64(res.Elapsed), WallNs: int64(o.Wall),
		Metrics: map[string]*float64{}, Probes: map[string]int{}, TraceFile: tracePath,
		HTMLFile: htmlPath, PerfettoFile: perfettoPath,
	}
	for _, kv := range o.Params {
		if kv.Drawn {
			out.Drawn = append(out.Drawn, kv.Name)
		}
	}
	for _, m := range o.Metrics {
		v := m.Value
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out.Metrics[m.Name] = nil
		} else {
			out.Metrics[m.Name] = &v
		}
	}
	for _, p := range o.Probes {
		out.Probes[p.Name] = p.Hits
	}
	if f := res.Failure; f != nil {
		fj := &failureJSON{Kind: f.Kind.String(), Message: f.Message, Property: f.Property, Task: f.Task,
			Step: f.Step, TimeNs: int64(f.Time), Timers: f.Timers, Stack: f.Stack}
		for _, b := range f.Blocked {
			fj.Blocked = append(fj.Blocked, blockedJSON{b.ID, b.Name, b.WaitsOn})
		}
		out.Failure = fj
		out.ReplayCommand = scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Seed: o.Seed, Strategy: o.Strategy.String(), Params: o.ParamMap()}.Command()
	}
	if rp != nil {
		out.ReplayFile = replayPath
	}
	data, _ := json.Marshal(out) // every field is encodable
	fmt.Fprintf(w, "%s\n", data)
}

// checkWritableFile reports whether path can be written: its directory
// exists and accepts a new file (checked by creating and removing one), and
// path is not a directory. Checked before running, so that no work is lost
// to a bad path.
func checkWritableFile(flagName, path string) error {
	if err := checkOutFile(flagName, path); err != nil {
		return err
	}
	if dir := filepath.Dir(path); !writable(dir) {
		return fmt.Errorf("%s %s: directory %s is not writable", flagName, path, dir)
	}
	return nil
}

// checkDistinctOutputs reports two output flags naming the same file: the
// second would silently overwrite the first.
func checkDistinctOutputs(outs ...[2]string) error {
	seen := map[string]string{}
	for _, o := range outs {
		flagName, path := o[0], o[1]
		if path == "" {
			continue
		}
		key := filepath.Clean(path)
		if abs, err := filepath.Abs(path); err == nil {
			key = abs
		}
		if other, ok := seen[key]; ok {
			return fmt.Errorf("%s and %s both name %s", other, flagName, path)
		}
		seen[key] = flagName
	}
	return nil
}

// writeAtomic writes a file through write, via a temporary file and a
// rename, so that a partial file is never left behind.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
