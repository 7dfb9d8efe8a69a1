package netmodel_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// lan is a test network: hosts a (10.0.0.1), b (10.0.0.2), c (10.0.0.3) on
// segment "lan" with a constant 1ms link unless a link is given.
type lan struct {
	w       *sim.World
	n       *netmodel.Network
	a, b, c *netmodel.Host
}

func newLAN(t testing.TB, opts sim.Options, nopts netmodel.Options, link ...netmodel.Link) *lan {
	t.Helper()
	w, err := sim.New(opts)
	require.NoError(t, err)
	n, err := netmodel.New(w, nopts)
	require.NoError(t, err)
	l := netmodel.Link{Latency: netmodel.Constant(time.Millisecond)}
	if len(link) > 0 {
		l = link[0]
	}
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), l))
	add := func(name, ip string) *netmodel.Host {
		h, err := n.AddHost(name, nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr(ip)})
		require.NoError(t, err)
		return h
	}
	return &lan{w: w, n: n, a: add("a", "10.0.0.1"), b: add("b", "10.0.0.2"), c: add("c", "10.0.0.3")}
}

// run runs main as the World's main task and fails the test on a failure.
func (l *lan) run(t testing.TB, main func()) sim.Result {
	t.Helper()
	res, err := l.w.Run(main)
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}
