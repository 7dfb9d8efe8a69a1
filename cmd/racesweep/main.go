// Command racesweep sweeps seeds over the kernel's example races and prints
// what it found, with the command that replays each failure. It is what
// `make run` runs until the simrun CLI and its scenarios exist.
//
// Usage:
//
//	racesweep [-program lost-update|depth-three] [-strategy S] [-seeds N] [-start N]
//	racesweep -program P -strategy S -seed N [-trace]   # replay one seed
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/detsim/detsim/examples/races"
	"github.com/detsim/detsim/sim"
)

type program struct {
	doc string
	run func(w *sim.World)
}

var programs = map[string]program{
	"lost-update": {
		doc: "two workers increment a counter behind a check-then-act flag",
		run: races.CheckLostUpdate,
	},
	"depth-three": {
		doc: "a bug that needs two specific preemptions (PCT depth 3)",
		run: func(w *sim.World) { races.CheckDepthThree(w, 12) },
	},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("racesweep", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors get one line below; -h prints usage
	prog := fs.String("program", "lost-update", "example race to run: lost-update or depth-three")
	stratSpec := fs.String("strategy", "random", "scheduling strategy: random, pct:D[:K] or fifo, optionally +permute, +delay[:D[:odds]] and +swarm[:N]")
	seeds := fs.Int("seeds", 1000, "number of seeds to sweep")
	start := fs.Uint64("start", 0, "first seed of the sweep")
	seed := fs.Int64("seed", -1, "replay this one seed instead of sweeping")
	trace := fs.Bool("trace", false, "with -seed: print the run's trace")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: racesweep [flags]\n\nSweeps seeds over one of the kernel's example races and prints the failures it\nfinds with the command that replays each. Programs:\n")
		for _, name := range []string{"lost-update", "depth-three"} {
			fmt.Fprintf(out, "  %-12s %s\n", name, programs[name].doc)
		}
		fmt.Fprintf(out, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "racesweep: %v (see racesweep -h)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "racesweep: unexpected argument %q (see racesweep -h)\n", fs.Arg(0))
		return 2
	}
	p, ok := programs[*prog]
	if !ok {
		fmt.Fprintf(stderr, "racesweep: unknown program %q (want lost-update or depth-three)\n", *prog)
		return 2
	}
	strat, err := sim.ParseStrategy(*stratSpec)
	if err != nil {
		fmt.Fprintf(stderr, "racesweep: -strategy: %v\n", err)
		return 2
	}
	if *seeds < 1 {
		fmt.Fprintf(stderr, "racesweep: -seeds %d: must be at least 1\n", *seeds)
		return 2
	}
	replay := func(s uint64) string {
		return fmt.Sprintf("go run ./cmd/racesweep -program %s -strategy %s -seed %d", *prog, strat, s)
	}
	once := func(s uint64, tr bool) sim.Result {
		w, err := sim.New(sim.Options{Seed: s, Strategy: strat, Trace: tr})
		if err != nil {
			panic(err) // options were validated above
		}
		res, err := w.Run(func() { p.run(w) })
		if err != nil {
			panic(err)
		}
		return res
	}

	if *seed >= 0 {
		res := once(uint64(*seed), *trace)
		for _, e := range res.Trace {
			fmt.Fprintln(stdout, e)
		}
		fmt.Fprintln(stdout, res)
		if res.Failure != nil {
			fmt.Fprintln(stdout, res.Failure)
			return 1
		}
		return 0
	}

	fmt.Fprintf(stdout, "sweeping %d seeds from %d: program %s, strategy %s\n", *seeds, *start, *prog, strat)
	began := time.Now()
	failures, first := 0, uint64(0)
	var firstRes sim.Result
	for i := 0; i < *seeds; i++ {
		s := *start + uint64(i)
		res := once(s, false)
		if res.Failure == nil {
			continue
		}
		if failures == 0 {
			first, firstRes = s, res
		}
		failures++
	}
	wall := time.Since(began)
	fmt.Fprintf(stdout, "%d of %d seeds failed (%.2f%%) in %v (%.0f seeds/s)\n",
		failures, *seeds, 100*float64(failures)/float64(*seeds), wall.Round(time.Millisecond), float64(*seeds)/wall.Seconds())
	if failures == 0 {
		return 0
	}
	again := once(first, false)
	fmt.Fprintf(stdout, "first failing seed %d: %s\n", first, firstRes.Failure.Message)
	fmt.Fprintf(stdout, "replayed seed %d: fingerprint %016x, same as the sweep: %v\n",
		first, again.Fingerprint, again.Fingerprint == firstRes.Fingerprint && again.Failure != nil)
	fmt.Fprintf(stdout, "replay: %s\n", replay(first))
	return 1
}
