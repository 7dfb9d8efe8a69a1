package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	_ "github.com/detsim/detsim/scenarios" // registers the project's scenarios
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// Exit statuses.
const (
	exitPass  = 0 // no failure found, or a replay matched
	exitFail  = 1 // a failure was found, or a replay or check did not match
	exitUsage = 2 // bad usage or input; one line on stderr says why
)

type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands are listed in this order by simrun -h.
var commands []command

func init() {
	commands = []command{
		{"list", "[-json]", "list the scenarios, their variants and parameters", cmdList},
		{"run", "SCENARIO [flags]", "run one seed and print the result (and how to replay a failure)", cmdRun},
		{"sweep", "SCENARIO [flags]", "run a range of seeds in parallel and summarise the failures", cmdSweep},
		{"merge", "FILE... [-json FILE]", "combine the -json files of sharded sweeps into one summary", cmdMerge},
		{"replay", "FILE", "rerun a replay file and check that it reproduces exactly", cmdReplay},
		{"check", "SCENARIO [flags]", "determinism self-check: run each seed twice and compare", cmdCheck},
		{"shrink", "FILE [-out FILE] [-budget N]", "minimise a failing replay, keeping its failure kind", cmdShrink},
		{"suite", "[-seeds N] [-workers N] [-json FILE] [-report DIR]", "sweep every scenario and variant: the expected-outcome table", cmdSuite},
		{"live", "SCENARIO [-nodes N] [-duration D]", "run a scenario's fixed variant for real, on loopback sockets", cmdLive},
	}
}

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it parses args, writes results to stdout and
// progress and errors to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		usage(stderr)
		return exitPass
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	return failf(stderr, "unknown command %q (commands: %s; see simrun -h)", args[0], strings.Join(commandNames(), ", "))
}

func commandNames() []string {
	var out []string
	for _, c := range commands {
		out = append(out, c.name)
	}
	return out
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: simrun COMMAND [arguments]

simrun runs the project's deterministic simulation scenarios: one seed, a
sweep over seeds, a replay of a recorded failure, a determinism check, and
the suite of every scenario and variant that 'make run' prints.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Exit status: 0 pass (or a replay reproduced), 1 a failure was found (or a
mismatch), 2 bad usage or input, with a one-line reason on stderr.

simrun runs with GOGC=400 unless GOGC is set (sweeps are about 30%
faster: runs allocate much short-lived garbage over a small heap), and with
a soft memory limit of 60% of the machine's RAM or of the container's
memory limit unless GOMEMLIMIT is set, so that a large run's heap cannot
grow five-fold.

Run 'simrun COMMAND -h' for a command's flags.
`)
}

// failf prints a one-line reason for bad usage or input and returns 2.
func failf(stderr io.Writer, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
	fmt.Fprintf(stderr, "simrun: %s\n", msg)
	return exitUsage
}

// newFlagSet returns a subcommand's flag set; synopsis and about make its
// -h text.
func newFlagSet(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("simrun "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors get one line from parse; -h prints usage
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: simrun %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(about))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags interspersed with positional arguments (so that
// `simrun run counter-race -seed 3` works) and checks the number of
// positional arguments is in [minPos, maxPos] (maxPos < 0: no limit). It
// returns ok=false with the exit status to return: 0 after -h, 2 after an
// error (reported on one line).
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int, stderr io.Writer) (pos []string, code int, ok bool) {
	name := fs.Name()
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stderr)
				fs.Usage()
				return nil, exitPass, false
			}
			return nil, failf(stderr, "%s: %v (see %s -h)", strings.TrimPrefix(name, "simrun "), err, name), false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	sub := strings.TrimPrefix(name, "simrun ")
	switch {
	case len(pos) < minPos:
		missing := "argument"
		for _, c := range commands {
			if c.name == sub && len(strings.Fields(c.args)) > len(pos) {
				missing = strings.Fields(c.args)[len(pos)]
			}
		}
		return nil, failf(stderr, "%s: missing %s (see %s -h)", sub, strings.TrimSuffix(missing, "..."), name), false
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, failf(stderr, "%s: unexpected argument %q (see %s -h)", sub, pos[maxPos], name), false
	}
	return pos, 0, true
}

// paramFlag collects repeated -param name=value flags.
type paramFlag map[string]string

func (p paramFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, k+"="+p[k])
	}
	return strings.Join(parts, " ")
}

func (p paramFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", v)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("%s given twice", k)
	}
	p[k] = val
	return nil
}

// target is a validated scenario, variant, strategy and given parameters.
type target struct {
	sc       *scenario.Scenario
	variant  scenario.Variant
	strategy sim.Strategy
	params   map[string]string // given with -param (never nil)
}

// resolveTarget validates the names and values a user gave.
func resolveTarget(name, variant, strategy string, params map[string]string) (target, error) {
	sc, err := scenario.Lookup(name)
	if err != nil {
		return target{}, err
	}
	v, err := sc.Variant(variant)
	if err != nil {
		return target{}, err
	}
	if params == nil {
		params = map[string]string{}
	}
	cfg := scenario.Config{Scenario: sc, Variant: v.Name, Params: params}
	if strategy != "" {
		st, err := sim.ParseStrategy(strategy)
		if err != nil {
			return target{}, fmt.Errorf("-strategy: %w", err)
		}
		cfg.Strategy = &st
	}
	if err := cfg.Check(); err != nil {
		return target{}, err
	}
	st, _ := cfg.StrategyOf()
	return target{sc: sc, variant: v, strategy: st, params: params}, nil
}

func (t target) config(seed uint64) scenario.Config {
	st := t.strategy
	return scenario.Config{Scenario: t.sc, Variant: t.variant.Name, Seed: seed, Strategy: &st, Params: t.params}
}

func (t target) String() string { return t.sc.Name + "/" + t.variant.Name }

// execute runs one seed. A panic outside the simulated program (a bug in
// the framework rather than in the scenario, which Execute already turns
// into a failure) becomes that seed's failure, so a sweep goes on.
// outside reports such a failure, which has no replay.
func execute(cfg scenario.Config) (o scenario.Outcome, outside bool) {
	defer func() {
		if r := recover(); r != nil {
			o, outside = outsideFailure(cfg, fmt.Sprintf("simrun: the run panicked outside the simulation: %v", r)), true
		}
	}()
	o, err := scenario.Execute(cfg)
	if err != nil {
		// The config was validated before the first run, so this is not
		// bad input: report it as this seed's failure.
		return outsideFailure(cfg, "simrun: "+err.Error()), true
	}
	return o, false
}

func outsideFailure(cfg scenario.Config, msg string) scenario.Outcome {
	o := scenario.Outcome{Scenario: cfg.Scenario.Name, Variant: cfg.Variant, Seed: cfg.Seed}
	if cfg.Strategy != nil {
		o.Strategy = *cfg.Strategy
	}
	o.Result = sim.Result{Seed: cfg.Seed, Strategy: o.Strategy, Failure: &sim.Failure{Kind: sim.Panic, Message: msg}}
	return o
}

// newReplay is scenario.NewReplay that cannot crash the process.
func newReplay(o scenario.Outcome) (rp scenario.Replay, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("recording the replay panicked: %v", r)
		}
	}()
	return scenario.NewReplay(o)
}

// replayName is the default replay file name for a run.
func replayName(sc, variant string, seed uint64) string {
	return fmt.Sprintf("simrun-%s-%s-%d.replay.json", sc, variant, seed)
}

// checkDir reports whether dir is an existing directory.
func checkDir(flagName, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %v", flagName, dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s %s: not a directory", flagName, dir)
	}
	return nil
}

// checkOutFile reports whether path can be created: its directory exists
// and it is not a directory itself. Checked before running, so that bad
// input writes nothing.
func checkOutFile(flagName, path string) error {
	if path == "" {
		return fmt.Errorf("%s: empty file name", flagName)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s %s: is a directory", flagName, path)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s %s: directory %s does not exist", flagName, path, dir)
	}
	return nil
}

// writeFileAtomic writes data to path via a temporary file and a rename, so
// a partial file is never left behind.
func writeFileAtomic(path string, data []byte) error {
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

// seedRange is the half-open range [from, to) of seeds to run.
type seedRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

func (r seedRange) String() string { return fmt.Sprintf("%d:%d", r.From, r.To) }

// parseSeedRange parses "A:B" (seeds A to B-1, A < B) or "N" (0:N).
func parseSeedRange(s string) (seedRange, error) {
	a, b, colon := strings.Cut(s, ":")
	if !colon {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return seedRange{}, fmt.Errorf("-seeds %q: want A:B (seeds A to B-1) or a count N >= 1", s)
		}
		return seedRange{0, n}, nil
	}
	from, err1 := strconv.ParseUint(a, 10, 64)
	to, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return seedRange{}, fmt.Errorf("-seeds %q: want A:B with non-negative integers A < B", s)
	}
	if from >= to {
		return seedRange{}, fmt.Errorf("-seeds %q: empty range (want A < B; B is excluded)", s)
	}
	return seedRange{from, to}, nil
}

// shard selects the seeds with seed % Count == Index.
type shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

func (s shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

func parseShard(s string) (*shard, error) {
	if s == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return nil, fmt.Errorf("-shard %q: want I/N with 0 <= I < N (shard I of N runs the seeds with seed%%N == I)", s)
	}
	return &shard{i, n}, nil
}

// seedList enumerates the seeds of a range, restricted to a shard.
type seedList struct {
	first, step uint64
	n           int
}

func newSeedList(r seedRange, sh *shard) seedList {
	if sh == nil {
		return seedList{first: r.From, step: 1, n: int(r.To - r.From)}
	}
	count, index := uint64(sh.Count), uint64(sh.Index)
	first := r.From + (index+count-r.From%count)%count
	if first >= r.To {
		return seedList{first: first, step: count}
	}
	return seedList{first: first, step: count, n: int((r.To-first-1)/count + 1)}
}

func (l seedList) at(i int) uint64 { return l.first + uint64(i)*l.step }
