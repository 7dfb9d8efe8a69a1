package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/netmodel/osnet"
	"github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim/osrt"
)

// liveTeardown bounds how long the tasks of a finished live run may take
// to end once its sockets are closed.
const liveTeardown = 5 * time.Second

func cmdLive(args []string, stdout, stderr io.Writer) int {
	var modes strings.Builder
	tw := tabwriter.NewWriter(&modes, 0, 0, 2, ' ', 0)
	for _, m := range scenarios.LiveModes() {
		nodes := fmt.Sprintf("%d nodes", m.DefaultNodes)
		if m.MinNodes != m.MaxNodes {
			nodes = fmt.Sprintf("%d nodes (%d-%d)", m.DefaultNodes, m.MinNodes, m.MaxNodes)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\n", m.Scenario, nodes, m.DefaultDuration, strings.Join(m.Properties, ", "))
	}
	tw.Flush()
	fs := newFlagSet("live", "SCENARIO [-nodes N] [-duration D] [flags]", `
Runs a scenario's fixed variant (or -variant) for real: the same protocol packages that
the simulator runs, on goroutines, the real clock (sim/osrt) and real UDP
and TCP sockets on loopback (netmodel/osnet: one 127.x address per node,
broadcast emulated by a unicast to every node). It prints the run's events
as they happen, then each property the workload checks (timing properties
with a tolerance) and its metrics. A live run is not reproducible: the seed
fixes the values of the random streams, not the schedule.

Scenarios with a live mode (default nodes and duration, properties):

`+strings.TrimRight(modes.String(), "\n")+`

Exit status: 0 every property held and the run tore down cleanly (every
task ended), 1 a property failed (or a task panicked or outlived the run),
2 bad usage or input, including a scenario without a live mode, a port
already in use and no loopback address available.`)
	variant := fs.String("variant", "fixed", "the protocol variant `V` (priority and gossip-smoke also run buggy live: a real run seldom hits the race)")
	nodes := fs.Int("nodes", 0, "number of nodes `N` (default: the scenario's)")
	duration := fs.Duration("duration", 0, "how long the workload runs, `D` (default: the scenario's; pickfirst repeats its restart cycle while D allows, priority takes D as the time limit of each phase and ends when they are done)")
	seed := fs.Uint64("seed", 0, "seed `N` of the random streams")
	prefix := fs.String("prefix", osnet.DefaultPrefix.String(), "loopback `PREFIX` the nodes' addresses come from, in order")
	asJSON := fs.Bool("json", false, "print the report as one JSON object instead of events and a table")
	verbose := fs.Bool("v", false, "log the protocols' records (debug level) to stderr")
	pos, code, ok := parse(fs, args, 1, 1, stderr)
	if !ok {
		return code
	}
	m, err := scenarios.Live(pos[0])
	if err != nil {
		return failf(stderr, "live: %v", err)
	}
	p, err := netip.ParsePrefix(*prefix)
	if err != nil {
		return failf(stderr, "live: -prefix %q: %v", *prefix, err)
	}
	cfg := scenarios.LiveConfig{Nodes: *nodes, Duration: *duration, Variant: *variant}
	if cfg.Nodes < 0 || cfg.Duration < 0 {
		return failf(stderr, "live: -nodes and -duration must not be negative")
	}

	var mu sync.Mutex
	var panics []string
	opts := osrt.Options{Seed: *seed, OnPanic: func(tp osrt.TaskPanic) {
		mu.Lock()
		defer mu.Unlock()
		panics = append(panics, fmt.Sprintf("%v\n%s", tp, tp.Stack))
	}}
	if *verbose {
		opts.Log, opts.LogLevel = stderr, slog.LevelDebug
	}
	rt := osrt.New(opts)
	nw, err := osnet.New(rt, osnet.Options{Prefix: p})
	if err != nil {
		return failf(stderr, "live: -prefix: %v", err)
	}
	cfg.Env = rt
	cfg.Net = scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
		nd, err := nw.AddNode(name)
		if err != nil {
			return nil, err
		}
		return nd.Env(), nil
	})
	if err := m.Validate(&cfg); err != nil {
		return failf(stderr, "%v", err)
	}
	if free := nw.Available(); cfg.Nodes > free {
		return failf(stderr, "live %s: no loopback address available: %d nodes need %d addresses, -prefix %v has %d", m.Scenario, cfg.Nodes, cfg.Nodes, nw.Prefix(), free)
	}
	if !*asJSON {
		cfg.Out = stdout
		fmt.Fprintf(stdout, "live %s (%s): %d nodes on %v (%s), %v, seed %d\n", m.Scenario, cfg.Variant, cfg.Nodes, nw.Prefix(), "lo", cfg.Duration, *seed)
	}

	var rep scenarios.LiveReport
	var runErr error
	start := time.Now()
	if err := rt.Run(func() { rep, runErr = m.Run(cfg) }); err != nil && runErr == nil {
		runErr = err
	}
	leftOpen := nw.Close()
	waitErr := rt.Wait(liveTeardown)
	wall := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	if runErr != nil && len(panics) == 0 {
		// The workload could not be set up: a port in use, no address.
		return failf(stderr, "%v", runErr)
	}

	var problems []string
	problems = append(problems, panics...)
	if runErr != nil {
		problems = append(problems, runErr.Error())
	}
	if waitErr != nil {
		problems = append(problems, waitErr.Error())
	}
	passed := rep.Passed() && len(problems) == 0
	if *asJSON {
		out := struct {
			scenarios.LiveReport
			Passed     bool     `json:"passed"`
			Problems   []string `json:"problems,omitempty"`
			LeftOpen   int      `json:"sockets_left_open"`
			WallMillis int64    `json:"wall_ms"`
		}{rep, passed, problems, leftOpen, wall.Milliseconds()}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printLiveReport(stdout, rep, problems, leftOpen, wall, passed)
	}
	if !passed {
		return exitFail
	}
	return exitPass
}

func printLiveReport(w io.Writer, rep scenarios.LiveReport, problems []string, leftOpen int, wall time.Duration, passed bool) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROPERTY\tRESULT\tDETAIL")
	for _, c := range rep.Checks {
		res := "ok"
		if !c.Passed {
			res = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Property, res, c.Detail)
	}
	tw.Flush()
	if len(rep.Metrics) > 0 {
		var ms []string
		for _, m := range rep.Metrics {
			ms = append(ms, fmt.Sprintf("%s=%.4g", m.Name, m.Value))
		}
		fmt.Fprintf(w, "metrics: %s\n", strings.Join(ms, " "))
	}
	teardown := "every task ended"
	if leftOpen > 0 {
		teardown += fmt.Sprintf(" (%d sockets the workload left open were closed)", leftOpen)
	}
	for _, p := range problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	if len(problems) > 0 {
		teardown = "see the problems above"
	}
	fmt.Fprintf(w, "teardown: %s\n", teardown)
	verdict := "pass"
	if !passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "live %s: %s (%d events, %s wall)\n", rep.Scenario, verdict, rep.Events, wall.Round(time.Millisecond))
}
