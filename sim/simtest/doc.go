// Package simtest runs simulations inside go test: seed sweeps over a
// registered scenario (Scenario) or any World program (Program), a
// failing-seed corpus replayed first on every run (like go test -fuzz's
// testdata/fuzz), and adapters for property-based testing with rapid
// (RapidScenario, RapidSource) and for coverage-guided fuzzing
// (FuzzScenario, FuzzSource).
//
// A sweep in a test:
//
//	func TestCounterRace(t *testing.T) {
//		simtest.Scenario(t, "counter-race")                     // every seed of the budget must pass
//	}
//
//	func TestCounterRaceBuggy(t *testing.T) {
//		simtest.Scenario(t, "counter-race", simtest.Variant("buggy"),
//			simtest.Seeds(0, 500), simtest.ExpectFailure()) // some seed must fail
//	}
//
//	func TestMyProgram(t *testing.T) {
//		simtest.Program(t, func(w *sim.World) { ... w.Violate("prop", "...") ... },
//			simtest.Strategy("pct:3:50"), simtest.Seeds(0, 1000))
//	}
//
// When a seed fails, the test fails with the seed, the failure and how to
// replay it: `go test -run '^TestName$' -sim.seed=N` in the test's package,
// and, for scenarios, `simrun replay <file>` and the equivalent `simrun run`
// command line.
//
// # Flags
//
// Importing the package registers these flags on the standard flag set (as
// package testing registers -test.*); go test parses them before the tests
// run and the helpers read them at each call:
//
//	-sim.seed N        run only seed N (no corpus replay) and log the run's
//	                   trace if it fails
//	-sim.seeds A:B     sweep seeds A..B-1 instead of the test's range
//	-sim.strategy S    schedule with S (random, fifo, pct:D[:K], +permute)
//	                   instead of the test's strategy
//	-sim.record        reported by Recording: run the tests that write
//	                   regression corpora with RecordCorpus
//
// A bad value fails the test that reads it, naming the flag. The flags apply
// to Scenario and Program; the rapid and fuzz adapters, whose inputs are
// chosen by their engines, ignore them.
//
// # The failing-seed corpus
//
// Scenario and Program keep the seeds they found failing under
// testdata/sim/<TestName>/ in the package directory (CorpusDir overrides
// it, NoCorpus disables it). Every recorded seed is replayed before the
// sweep:
//
//   - without options, a replay that still fails fails the test (the bug is
//     still there) and the sweep is skipped; a replay that no longer fails
//     with its recorded failure kind also fails the test: "the simulator
//     lost the bug or the bug is fixed";
//   - with ExpectFailure (a buggy variant), each replay must still fail with
//     its recorded kind;
//   - with ExpectFixed (the recorded bugs were fixed), each replay must pass.
//
// A failure found by the sweep and not yet recorded is written there as
// <seed>.json: for scenarios a replay file (scenario.Replay, readable by
// simrun replay), for programs {"seed":N,"strategy":"...","kind":"..."}.
// Commit these files like a fuzz corpus. A test should make one Program
// call per corpus directory: program records name only a seed.
//
// # TB
//
// The helpers take a TB, a small subset of testing.TB that *testing.T
// satisfies, so they can be tested with a recording fake.
package simtest
