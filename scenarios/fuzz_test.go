package scenarios_test

import (
	"testing"

	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim/simtest"
)

// FuzzCounterRaceFixed fuzzes the fixed counter-race: the seed (which draws
// the number of workers) and the schedule (one byte per scheduling
// decision). No input may lose an update. Without -fuzz it runs the seed
// corpus below (and any saved input under testdata/fuzz/); to fuzz:
//
//	go test ./scenarios/ -run '^$' -fuzz '^FuzzCounterRaceFixed$' -fuzztime 30s
func FuzzCounterRaceFixed(f *testing.F) {
	f.Add(uint64(0), []byte{})
	f.Add(uint64(1), []byte{1, 0, 1, 1, 0, 1, 0, 0, 1})
	f.Add(uint64(2), []byte{0xff, 0x00, 0x7f, 0x80, 3, 1, 2, 0xfe})
	f.Add(uint64(6), []byte("interleave the workers"))
	simtest.FuzzScenario(f, "counter-race")
}
