package scenarios_test

import (
	"path/filepath"
	"testing"

	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim/scenario"
	"github.com/detsim/detsim/sim/simtest"
)

// corpusSize is how many failing seeds TestRecordCorpus records for each
// buggy variant.
const corpusSize = 4

// recordCommand is how to create a missing regression corpus.
const recordCommand = "go test ./scenarios/ -run '^TestRecordCorpus$' -sim.record"

// TestRegression covers every registered scenario, so a new scenario is
// covered as soon as it is registered:
//
//   - every buggy variant replays its recorded failing seeds,
//     testdata/<scenario>/<variant>-<seed>.json, each of which must still
//     fail with its recorded failure kind: the simulator must not lose the
//     bug. A buggy variant without recorded seeds fails the test.
//   - every other variant replays its recorded seeds, if any (they must
//     pass), and sweeps the scenario's seed budget: no seed may fail.
func TestRegression(t *testing.T) {
	for _, sc := range scenario.All() {
		t.Run(sc.Name, func(t *testing.T) {
			dir := filepath.Join("testdata", sc.Name)
			for _, v := range sc.Variants {
				t.Run(v.Name, func(t *testing.T) {
					n := simtest.ReplayCorpus(t, dir, sc.Name, v.Name)
					if v.Buggy {
						if n == 0 {
							t.Fatalf("buggy variant %s/%s has no recorded failing seeds (%s/%s-<seed>.json): "+
								"record them with\n  %s\nand commit the files", sc.Name, v.Name, dir, v.Name, recordCommand)
						}
						return
					}
					simtest.Scenario(t, sc.Name, simtest.Variant(v.Name), simtest.Seeds(0, uint64(sc.SeedBudget())))
				})
			}
		})
	}
}

// TestRecordCorpus writes the regression corpus that TestRegression
// replays: the first corpusSize failing seeds of every buggy variant, as
// testdata/<scenario>/<variant>-<seed>.json. Seeds already recorded are
// kept. It runs only with -sim.record, since it writes into the source
// tree:
//
//	go test ./scenarios/ -run '^TestRecordCorpus$' -sim.record
func TestRecordCorpus(t *testing.T) {
	if !simtest.Recording() {
		t.Skip("writes testdata/<scenario>/<variant>-<seed>.json: run with -sim.record")
	}
	for _, sc := range scenario.All() {
		for _, v := range sc.Variants {
			if !v.Buggy {
				continue
			}
			t.Run(sc.Name+"/"+v.Name, func(t *testing.T) {
				simtest.RecordCorpus(t, filepath.Join("testdata", sc.Name), sc.Name, v.Name, corpusSize)
			})
		}
	}
}
