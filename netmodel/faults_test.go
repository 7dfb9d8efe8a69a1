package netmodel_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer is a host's start function: a UDP echo on port 7.
func echoServer(boots *[]string) func(env netmodel.Env) {
	return func(env netmodel.Env) {
		*boots = append(*boots, env.HostName())
		pc, err := env.Net().ListenPacket("udp", ":7")
		if err != nil {
			panic(err)
		}
		defer pc.Close()
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}
}

func TestRestartRunsStartAgainWithFreshState(t *testing.T) {
	w, err := sim.New(sim.Options{CheckLeaks: false})
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("192.168.1.0/24"), netmodel.Link{Latency: netmodel.Constant(time.Millisecond)}))
	var boots []string
	_, err = n.AddHost("server", echoServer(&boots), netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("192.168.1.10")})
	require.NoError(t, err)
	client, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("192.168.1.20")})
	require.NoError(t, err)
	res, err := w.Run(func() {
		pc, err := client.Env().Net().ListenPacket("udp", ":0")
		require.NoError(t, err)
		ask := func() error {
			pc.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.ParseIP("192.168.1.10"), Port: 7})
			pc.SetReadDeadline(client.Env().Now().Add(100 * time.Millisecond))
			_, _, err := pc.ReadFrom(make([]byte, 8))
			return err
		}
		w.Sleep(time.Millisecond)
		require.NoError(t, ask())
		require.NoError(t, n.Crash("server"))
		assert.True(t, isTimeout(ask()), "a crashed host answers nothing")
		require.NoError(t, n.Restart("server"))
		w.Sleep(time.Millisecond)
		require.NoError(t, ask(), "the restarted server binds port 7 again")
		assert.Equal(t, 2, n.Host("server").Boots())
		assert.Error(t, n.Restart("server"), "restarting a running host is an error")
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	assert.Equal(t, []string{"server", "server"}, boots)
	assert.Greater(t, n.Totals().DroppedBy(netmodel.DropCrash), uint64(0))
}

func TestEnvIsScopedToItsHost(t *testing.T) {
	l := newLAN(t, sim.Options{Seed: 4}, netmodel.Options{})
	l.run(t, func() {
		require.NoError(t, l.n.SetClockOffset("b", -5*time.Second))
		ea, eb := l.a.Env(), l.b.Env()
		assert.Equal(t, ea.Now().Add(-5*time.Second), eb.Now())
		assert.NotEqual(t, ea.Rand("jitter").Uint64(), eb.Rand("jitter").Uint64(), "streams are per host")
		assert.Equal(t, "b", eb.HostName())
		assert.Len(t, eb.Net().Interfaces(), 1)

		// A deadline on b's slow clock still means "in 1s".
		pc, _ := eb.Net().ListenPacket("udp", ":1")
		start := l.w.Elapsed()
		pc.SetReadDeadline(eb.Now().Add(time.Second))
		_, _, err := pc.ReadFrom(make([]byte, 1))
		assert.True(t, isTimeout(err))
		assert.Equal(t, time.Second, l.w.Elapsed()-start)

		// Tasks started through b's Env die with b.
		ran := false
		eb.Go("worker", func() { l.w.Sleep(time.Hour); ran = true })
		l.w.Sleep(time.Second)
		require.NoError(t, l.n.Crash("b"))
		l.w.Sleep(2 * time.Hour)
		assert.False(t, ran)
	})
}

func TestOneWayPartition(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		pa, _ := l.a.Env().Net().ListenPacket("udp", ":9")
		pb, _ := l.b.Env().Net().ListenPacket("udp", ":9")
		require.NoError(t, l.n.PartitionOneWay([]string{"a"}, []string{"b"}))
		pa.WriteTo([]byte("lost"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9})
		pb.WriteTo([]byte("gets through"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9})
		buf := make([]byte, 32)
		n, _, err := pa.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "gets through", string(buf[:n]))
		pb.SetReadDeadline(l.b.Env().Now().Add(time.Second))
		_, _, err = pb.ReadFrom(buf)
		assert.True(t, isTimeout(err))
		l.n.Heal()
		pa.WriteTo([]byte("healed"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9})
		pb.SetReadDeadline(time.Time{})
		n, _, err = pb.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "healed", string(buf[:n]))
	})
}

func TestFlapAlternatesUntilTheEnd(t *testing.T) {
	l := newLAN(t, sim.Options{Seed: 11}, netmodel.Options{})
	l.run(t, func() {
		pa, _ := l.a.Env().Net().ListenPacket("udp", ":9")
		l.b.Env().Net().ListenPacket("udp", ":9")
		require.NoError(t, l.n.Flap("a", "b", netmodel.Constant(time.Second), netmodel.Constant(time.Second), 10*time.Second))
		for i := 0; i < 120; i++ {
			pa.WriteTo([]byte{1}, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9})
			l.w.Sleep(100 * time.Millisecond)
		}
		s := l.n.Stats()[0]
		// Down during [1s,2s), [3s,4s), ... [9s,10s): half of the first 10s.
		assert.InDelta(t, 50, s.DroppedBy(netmodel.DropPartition), 3)
		assert.InDelta(t, 70, s.Delivered, 3)
	})
}

func TestApplyRunsAPlanInVirtualTime(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	plan, err := netmodel.ParsePlan("at 1s partition a|b,c; at 3s heal; at 4s crash c; at 6s restart c")
	require.NoError(t, err)
	require.NoError(t, l.n.Apply(plan))
	bad, err := netmodel.ParsePlan("at 1s isolate zz")
	require.NoError(t, err)
	assert.ErrorContains(t, l.n.Apply(bad), `unknown host "zz"`)
	_, err = l.n.AddHost("bad name", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.50")})
	assert.ErrorContains(t, err, "bad host name")

	var log []string
	l.run(t, func() {
		pa, _ := l.a.Env().Net().ListenPacket("udp", ":9")
		l.b.Env().Net().ListenPacket("udp", ":9")
		for i := 0; i < 8; i++ {
			before := l.n.Totals().Delivered
			pa.WriteTo([]byte{1}, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9})
			l.w.Sleep(500 * time.Millisecond)
			up := "down"
			if l.n.Totals().Delivered > before {
				up = "up"
			}
			log = append(log, up+"/c:"+map[bool]string{true: "up", false: "down"}[l.c.Up()])
			l.w.Sleep(500 * time.Millisecond)
		}
	})
	assert.Equal(t, []string{"up/c:up", "down/c:up", "down/c:up", "up/c:up", "up/c:down", "up/c:down", "up/c:up", "up/c:up"}, log)

	// A step that cannot run fails the run, naming it.
	l2 := newLAN(t, sim.Options{}, netmodel.Options{})
	p2, _ := netmodel.ParsePlan("at 1s restart a")
	require.NoError(t, l2.n.Apply(p2))
	res, err := l2.w.Run(func() { l2.w.Sleep(2 * time.Second) })
	require.NoError(t, err)
	require.NotNil(t, res.Failure)
	assert.Contains(t, res.Failure.Message, "fault-plan: step 1 (at 1s restart a)")
}
