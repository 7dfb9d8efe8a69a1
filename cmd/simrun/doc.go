// Command simrun runs the project's deterministic simulation scenarios
// (package scenarios, registered with sim/scenario): one seed, a parallel
// sweep over seeds, a replay of a recorded run, a determinism self-check, a
// shrinker for failing runs, the suite that `make run` prints, and live
// runs of the same protocol code on real goroutines and loopback sockets.
//
// Usage:
//
//	simrun list [-json]
//	simrun run SCENARIO [-variant V] [-seed N] [-strategy S] [-param k=v]... [-trace FILE] [-html FILE] [-perfetto FILE] [-json] [-v] [-replay-out FILE]
//	simrun sweep SCENARIO [-variant V] [-seeds A:B] [-strategy S] [-param k=v]... [-workers N] [-shard I/N] [-until-fail] [-json FILE] [-replay-dir DIR] [-report DIR]
//	simrun merge FILE... [-json FILE]
//	simrun replay FILE
//	simrun check SCENARIO [-variant V] [-seeds A:B] [-strategy S] [-param k=v]...
//	simrun shrink FILE [-out FILE] [-budget N]
//	simrun suite [-seeds N] [-workers N] [-json FILE] [-replay-dir DIR] [-report DIR]
//	simrun live SCENARIO [-nodes N] [-duration D] [-seed N] [-prefix P] [-json]
//
// Strategies are random, pct:D[:K] (probabilistic concurrency testing with
// depth D and step horizon K; without K it is calibrated from the seed's own
// run) and fifo, each optionally followed by +permute (permute equal-time
// events), +delay[:D[:odds]] (preempt tasks for up to D with probability
// 1/odds per scheduling point) and, after +delay, +swarm[:N] (preempt only
// the tasks that joined the swarm, each with probability 1/N). Parameters not given with -param take their default or are
// drawn from the seed; every run prints them beside the seed, drawn ones
// marked.
//
// A failing run prints the command that reruns it, for example
//
//	simrun run counter-race -variant buggy -seed 2 -strategy random -param rounds=1 -param workers=4
//
// and writes a replay file (scenario, variant, strategy, seed, every
// parameter, fingerprint, steps, failure and fingerprint checkpoints) that
// `simrun replay` reruns and compares, naming the first divergent step or
// window on a mismatch, and that `simrun shrink` minimises.
//
// simrun runs with GOGC=400 unless GOGC is set, and with a soft memory
// limit of 60% of the machine's RAM (or of the container's cgroup limit,
// if lower) unless GOMEMLIMIT is set: simulated runs allocate much
// short-lived garbage over a small live heap, and the default collector
// took a core from a 2-worker sweep's workers (priority: 3,100 -> 4,100
// seeds/s on 2 cores).
//
// A sweep's summary gives the failure rate with its exact 95%
// Clopper-Pearson interval or, with no failure, the one-sided bound ("0
// failures in 100,000 seeds: the failure rate is below 3.0e-5 at 95%
// confidence"), and is the same for any number of workers. Large sweeps can
// be split with -shard I/N -json FILE and combined with `simrun merge`.
//
// Reports (package reports) never change a run: its fingerprint is the
// same with or without them. `run -html FILE` writes a self-contained page
// with the run's parameters, result, failure, replay command and a
// space-time diagram (a lane per host and task, packets as arrows, drops,
// duplicates, partitions and other faults marked, the failure at the
// moment it fired; a long run is drawn as a window of events leading up to
// the failure, and the page says so). `run -perfetto FILE` writes Chrome
// trace-event JSON for ui.perfetto.dev or chrome://tracing (hosts as
// processes, tasks as threads, packets as flow arrows, virtual time as
// timestamps). `run -trace FILE` writes every kernel and network event as
// JSON lines, documented field by field in `simrun run -h`. `sweep -report
// DIR` writes report.md, report.json and report.html (rate and interval,
// failures grouped by kind and message with their first seeds and replay
// commands, probe hit rates, metric histograms and CDFs, speed); `suite
// -report DIR` writes one per row and an index.html. Output paths are
// checked before anything runs: a missing or read-only directory is bad
// input.
//
// Exit status: 0 pass (no failure; a replay reproduced; a suite as
// expected), 1 a failure was found (or a replay or check mismatch, or an
// unexpected suite row), 2 bad usage or input, with a one-line reason on
// stderr and nothing written.
package main
