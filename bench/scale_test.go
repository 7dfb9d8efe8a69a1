package bench

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/detsim/detsim/sim/scenario"
	"github.com/stretchr/testify/require"
)

var scale = flag.Bool("scale", false, "run the scale measurements (minutes each; make bench-scale)")

// scaleCase is one large run, made in a child process so that its peak
// memory is its own.
type scaleCase struct {
	Name     string            `json:"name"`
	Scenario string            `json:"scenario"`
	Params   map[string]string `json:"params"`
	// GC is the collector setting of the child process.
	GC []string `json:"gc"`
	// Runs is how many times the case runs (each in a fresh child): the
	// table gives the median wall time and the range, because this kind of
	// VM varies by 10-20% from one run to the next.
	Runs int `json:"runs"`
}

// scaleCases: 60 s of virtual time each for gossip-swarm (a 15 s join
// window, 13 s of warm-up, 1% of the nodes crashing in the next 10 s and
// 10 s of healing, 10 broadcasts, the shutdown), with iroh-gossip's
// simulator's bootstrap (every node joins through one of 5 contacts) and
// with ours (up to 5 random earlier nodes: about 7x the connections).
var scaleCases = []scaleCase{
	{"gossip-swarm, 1,000 nodes, iroh bootstrap", "gossip-swarm", swarmParams("1000", "iroh"), swarmGC, 3},
	{"gossip-swarm, 1,000 nodes, 5-contact bootstrap", "gossip-swarm", swarmParams("1000", "random"), swarmGC, 3},
	{"gossip-swarm, 10,000 nodes, iroh bootstrap", "gossip-swarm", swarmParams("10000", "iroh"), swarmGC, 5},
	{"gossip-swarm, 10,000 nodes, 5-contact bootstrap", "gossip-swarm", swarmParams("10000", "random"), swarmGC, 1},
	// exo health-checks every presence: 500 nodes make about 250,000
	// stream dials per 2.5 s round, and need more than 3 GiB.
	{"discovery, 500 nodes", "discovery", map[string]string{"nodes": "500", "duration": "12s", "late-percent": "0"}, []string{"GOGC=400"}, 1},
}

func swarmParams(nodes, bootstrap string) map[string]string {
	return map[string]string{"nodes": nodes, "bootstrap": bootstrap, "join-window": "15s", "warmup": "13s", "crash-percent": "1", "loss-permille": "5"}
}

// swarmGC is the collector setting of the swarm cases: simrun's GOGC=400
// with a soft memory limit of 3 GiB, under the 4 GiB the scale goal sets
// (simrun's own default limit is 60% of RAM).
var swarmGC = []string{"GOGC=400", "GOMEMLIMIT=3GiB"}

type scaleResult struct {
	Steps   int64         `json:"steps"`
	Virtual time.Duration `json:"virtual"`
	Wall    time.Duration `json:"wall"`
	Passed  bool          `json:"passed"`
	Failure string        `json:"failure"`
}

const scaleChildEnv = "DETSIM_BENCH_SCALE_CHILD"

// runScaleChild runs the case named by the environment and prints its
// result as JSON (called from TestMain in the child process).
func runScaleChild(name string) {
	for _, c := range scaleCases {
		if c.Name != name {
			continue
		}
		sc, err := scenario.Lookup(c.Scenario)
		if err != nil {
			panic(err)
		}
		start := time.Now()
		o, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: "fixed", Seed: 1, Params: c.Params})
		if err != nil {
			panic(err)
		}
		r := scaleResult{Steps: o.Result.Steps, Virtual: o.Result.Elapsed, Wall: time.Since(start), Passed: o.Passed()}
		if !o.Passed() {
			r.Failure = o.Result.Failure.Error()
		}
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	panic("no scale case " + name)
}

type scaleRun struct {
	scaleResult
	rss int64 // peak resident bytes
}

// runScaleCase runs c once in a child process.
func runScaleCase(t *testing.T, c scaleCase) scaleRun {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), c.GC...), scaleChildEnv+"="+c.Name)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, c.Name)
	var r scaleResult
	require.NoError(t, json.Unmarshal(out, &r), "%s: %s", c.Name, out)
	t.Logf("%s: %v, %d steps", c.Name, r.Wall.Round(time.Millisecond), r.Steps)
	return scaleRun{r, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024} // Linux: KiB
}

// TestCompareScale runs each scale case in a child process: wall time,
// peak resident memory, steps per second and virtual-time acceleration.
func TestCompareScale(t *testing.T) {
	if !*scale {
		t.Skip("minutes per case: run with -scale (make bench-scale)")
	}
	var rows [][]string
	for _, c := range scaleCases {
		var runs []scaleRun
		for range max(c.Runs, 1) {
			runs = append(runs, runScaleCase(t, c))
		}
		// The median run by wall time gives the row; the range is beside it.
		slices.SortFunc(runs, func(a, b scaleRun) int { return cmp.Compare(a.Wall, b.Wall) })
		r, rss := runs[len(runs)/2].scaleResult, runs[len(runs)/2].rss
		for _, x := range runs {
			require.Equal(t, r.Steps, x.Steps, "%s: every run of a seed takes the same steps", c.Name)
			rss = max(rss, x.rss)
		}
		wall := r.Wall.Round(time.Second).String()
		if len(runs) > 1 {
			var all []string
			for _, x := range runs {
				all = append(all, fmt.Sprintf("%.1f", x.Wall.Seconds()))
			}
			wall = fmt.Sprintf("%.1fs (runs, fastest first: %s s)", r.Wall.Seconds(), strings.Join(all, ", "))
		}
		result := "pass"
		if !r.Passed {
			result = "FAIL: " + r.Failure
		}
		var params []string
		for _, k := range []string{"nodes", "bootstrap", "join-window", "warmup", "crash-percent", "loss-permille", "duration", "late-percent"} {
			if v, ok := c.Params[k]; ok {
				params = append(params, k+"="+v)
			}
		}
		rows = append(rows, []string{c.Name, strings.Join(params, " "), strings.Join(c.GC, " "), r.Virtual.Round(time.Second).String(), wall,
			fmt.Sprintf("%.2f GiB", float64(rss)/(1<<30)), fmt.Sprintf("%.1fM", float64(r.Steps)/1e6),
			fmt.Sprintf("%.2fM", float64(r.Steps)/r.Wall.Seconds()/1e6), fmt.Sprintf("%.2fx", r.Virtual.Seconds()/r.Wall.Seconds()),
			fmt.Sprintf("%v", time.Duration(float64(60*time.Second)*r.Wall.Seconds()/r.Virtual.Seconds()).Round(time.Second)), result})
		t.Logf("%s: %v", c.Name, rows[len(rows)-1])
	}
	summary.add("Scale",
		"Seed 1 of each fixed variant, each run in a child process of its own (peak RSS is the largest of the runs). A case that runs more than once shows the median wall time and every run's, the other columns from the median run. Steps are the kernel's scheduling steps.",
		[]string{"run", "parameters", "collector", "virtual time", "wall time", "peak RSS", "steps", "steps/s", "virtual/wall", "wall per 60s virtual", "result"},
		rows)
}
