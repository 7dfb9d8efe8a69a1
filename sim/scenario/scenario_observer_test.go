package scenario_test

import (
	"net/netip"
	"testing"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The network observer of a Config sees the run's network and changes
// nothing; a PCT calibration run does not report to it.
func TestNetObserverWatchesOnlyTheRun(t *testing.T) {
	sc := &scenario.Scenario{
		Name:     "observed",
		Variants: []scenario.Variant{{Name: "fixed"}},
		Main: func(r *scenario.Run) {
			nw := r.Network(netmodel.Options{})
			require.NoError(t, nw.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{}))
			for i, name := range []string{"a", "b"} {
				_, err := nw.AddHost(name, nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})})
				require.NoError(t, err)
			}
			r.W.Sleep(1)
		},
	}
	pct, err := sim.ParseStrategy("pct:3")
	require.NoError(t, err)
	plain, err := scenario.Execute(scenario.Config{Scenario: sc, Seed: 3, Strategy: &pct})
	require.NoError(t, err)
	var hosts []string
	watched, err := scenario.Execute(scenario.Config{Scenario: sc, Seed: 3, Strategy: &pct,
		NetObserver: func(e netmodel.Event) {
			if e.Kind == netmodel.EventHost {
				hosts = append(hosts, e.From)
			}
		}})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, hosts, "the run's hosts, once (not the calibration run's)")
	assert.Equal(t, plain.Result.Fingerprint, watched.Result.Fingerprint)
}
