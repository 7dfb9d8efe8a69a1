package netmodel_test

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// observedWorkload runs datagrams over a lossy, duplicating link, a stream
// with a partition in the middle, and a crash and restart, with an
// observer if obs is not nil. It returns the result and the link counters.
func observedWorkload(t *testing.T, seed uint64, obs func(netmodel.Event)) (sim.Result, netmodel.LinkStats) {
	t.Helper()
	w, err := sim.New(sim.Options{Seed: seed})
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	if obs != nil {
		n.SetObserver(obs)
	}
	link := netmodel.Link{Latency: netmodel.Uniform(time.Millisecond, 3*time.Millisecond), Loss: 0.2, Duplicate: 0.2}
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), link))
	hosts := map[string]*netmodel.Host{}
	for i, name := range []string{"a", "b", "c"} {
		h, err := n.AddHost(name, nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})})
		require.NoError(t, err)
		hosts[name] = h
	}
	res, err := w.Run(func() {
		a, b := hosts["a"].Env(), hosts["b"].Env()
		pb, err := b.Net().ListenPacket("udp", ":7")
		require.NoError(t, err)
		ln, err := b.Net().Listen("tcp", ":80")
		require.NoError(t, err)
		b.Go("echo", func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		})
		pa, err := a.Net().ListenPacket("udp", ":0")
		require.NoError(t, err)
		for range 20 {
			pa.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 7})
			w.Sleep(time.Millisecond)
		}
		c, err := a.Net().Dial("tcp", "10.0.0.2:80")
		require.NoError(t, err)
		c.Write([]byte("before"))
		require.NoError(t, n.Partition([]string{"a"}, []string{"b"}))
		c.Write([]byte("during"))
		w.Sleep(500 * time.Millisecond)
		n.Heal()
		c.Write([]byte("after"))
		c.Close()
		w.Sleep(2 * time.Second)
		require.NoError(t, n.Crash("c"))
		require.NoError(t, n.Restart("c"))
		pb.Close()
		ln.Close()
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	return res, n.Totals()
}

func TestObserverChangesNothingAndSeesEveryPacket(t *testing.T) {
	for seed := range uint64(5) {
		plain, plainStats := observedWorkload(t, seed, nil)
		var evs []netmodel.Event
		seen, seenStats := observedWorkload(t, seed, func(e netmodel.Event) { evs = append(evs, e) })
		require.Equal(t, plain.Fingerprint, seen.Fingerprint, "seed %d: observing changed the run", seed)
		require.Equal(t, plain.Steps, seen.Steps)
		require.Equal(t, plainStats, seenStats, "seed %d: observing changed the counters", seed)

		count := map[netmodel.EventKind]uint64{}
		var drops [8]uint64
		open := map[uint64]int{} // deliveries or drops still due per packet
		var faults, hosts []string
		var last time.Duration
		for _, e := range evs {
			count[e.Kind]++
			assert.GreaterOrEqual(t, e.Time, last, "events in time order")
			last = e.Time
			switch e.Kind {
			case netmodel.EventHost:
				hosts = append(hosts, e.From)
			case netmodel.EventFault:
				faults = append(faults, e.Fault)
			case netmodel.EventSend:
				require.NotZero(t, e.ID)
				require.NotContains(t, open, e.ID, "packet ids are not reused")
				open[e.ID] = 1
				assert.NotEmpty(t, e.From)
				assert.NotEmpty(t, e.To)
			case netmodel.EventDuplicate:
				open[e.ID]++
			case netmodel.EventDeliver, netmodel.EventDrop:
				require.Positive(t, open[e.ID], "event %+v ends a packet that is not in flight", e)
				open[e.ID]--
				if e.Kind == netmodel.EventDrop {
					if e.Cause != 0 {
						drops[e.Cause]++
					} else {
						assert.NotEmpty(t, e.Detail, "a drop without a cause says why")
					}
				}
			}
		}
		assert.Equal(t, []string{"a", "b", "c"}, hosts)
		assert.Equal(t, []string{"partition", "heal", "crash", "restart"}, faults)
		assert.Equal(t, seenStats.Sent, count[netmodel.EventSend], "one send per packet counted")
		assert.Equal(t, seenStats.Delivered, count[netmodel.EventDeliver])
		assert.Equal(t, seenStats.Duplicated, count[netmodel.EventDuplicate])
		for _, c := range netmodel.DropCauses() {
			assert.Equal(t, seenStats.DroppedBy(c), drops[c], "drops by %v", c)
		}
		assert.Positive(t, count[netmodel.EventDuplicate]+drops[netmodel.DropLoss], "the workload exercises loss or duplication")
	}
}
