package netmodel_test

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDatagramUnicastAndDeadline(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		pa, err := l.a.Env().Net().ListenPacket("udp", ":0")
		require.NoError(t, err)
		pb, err := l.b.Env().Net().ListenPacket("udp4", "10.0.0.2:5000")
		require.NoError(t, err)
		_, err = pa.WriteTo([]byte("hi"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5000})
		require.NoError(t, err)
		buf := make([]byte, 64)
		n, from, err := pb.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "hi", string(buf[:n]))
		assert.Equal(t, "10.0.0.1:32768", from.String(), "first ephemeral port, address of the shared segment")
		assert.Equal(t, time.Millisecond, l.w.Elapsed())

		require.NoError(t, pb.SetReadDeadline(l.b.Env().Now().Add(time.Second)))
		_, _, err = pb.ReadFrom(buf)
		assert.True(t, isTimeout(err), "%v", err)

		// Close unblocks a blocked reader with net.ErrClosed.
		errc := sim.NewChan[error](l.w, 1)
		pb.SetReadDeadline(time.Time{})
		l.b.Env().Go("reader", func() { _, _, err := pb.ReadFrom(buf); errc.Send(err) })
		l.w.Sleep(time.Second)
		require.NoError(t, pb.Close())
		assert.ErrorIs(t, errc.Recv(), net.ErrClosed)

		// Too large: an error at the sender.
		_, err = pa.WriteTo(make([]byte, 65508), from)
		assert.ErrorIs(t, err, syscall.EMSGSIZE)
		pa.Close()
	})
}

func TestBroadcastReachesEverySocketOnThePortIncludingSender(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		var socks []net.PacketConn
		for _, h := range []*netmodel.Host{l.a, l.b, l.c} {
			pc, err := h.Env().Net().ListenPacket("udp", ":5678")
			require.NoError(t, err)
			socks = append(socks, pc)
		}
		other, err := l.c.Env().Net().ListenPacket("udp", ":9999")
		require.NoError(t, err)
		for _, dst := range []string{"10.0.0.255", "255.255.255.255"} {
			_, err := socks[0].WriteTo([]byte(dst), &net.UDPAddr{IP: net.ParseIP(dst), Port: 5678})
			require.NoError(t, err)
			for _, pc := range socks {
				buf := make([]byte, 32)
				n, from, err := pc.ReadFrom(buf)
				require.NoError(t, err)
				assert.Equal(t, dst, string(buf[:n]))
				assert.Equal(t, "10.0.0.1:5678", from.String())
			}
		}
		other.SetReadDeadline(l.c.Env().Now())
		_, _, err = other.ReadFrom(make([]byte, 8))
		assert.True(t, isTimeout(err), "other ports get nothing")
	})
}

func TestDatagramLossDuplicationCapacityCounted(t *testing.T) {
	link := netmodel.Link{Latency: netmodel.Constant(time.Millisecond), Loss: 0.2, Duplicate: 0.1, Capacity: 50}
	l := newLAN(t, sim.Options{Seed: 3}, netmodel.Options{SocketQueue: 5000}, link)
	l.run(t, func() {
		pa, _ := l.a.Env().Net().ListenPacket("udp", ":0")
		pb, _ := l.b.Env().Net().ListenPacket("udp", ":6000")
		to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 6000}
		// Spaced out: loss and duplication, never capacity.
		for i := 0; i < 1000; i++ {
			pa.WriteTo([]byte{byte(i)}, to)
			l.w.Sleep(2 * time.Millisecond)
		}
		spaced := l.n.Stats()[0]
		assert.InDelta(t, 200, spaced.DroppedBy(netmodel.DropLoss), 50)
		assert.InDelta(t, 80, spaced.Duplicated, 30)
		assert.Zero(t, spaced.DroppedBy(netmodel.DropCapacity))
		// A burst of 300 at one instant: at most 50 in flight.
		for i := 0; i < 300; i++ {
			pa.WriteTo([]byte{byte(i)}, to)
		}
		got := 0
		pb.SetReadDeadline(l.b.Env().Now().Add(time.Second))
		for {
			if _, _, err := pb.ReadFrom(make([]byte, 4)); err != nil {
				break
			}
			got++
		}
		ab := l.n.Stats()[0]
		assert.Equal(t, "a", ab.From)
		assert.Equal(t, uint64(1300), ab.Sent)
		assert.Equal(t, uint64(got), ab.Delivered)
		assert.Greater(t, ab.DroppedBy(netmodel.DropCapacity), uint64(200), "a burst over capacity 50 is cut")
		assert.Equal(t, ab.Sent+ab.Duplicated, ab.Delivered+ab.TotalDropped(), "every packet is accounted for")
		assert.Equal(t, time.Millisecond, ab.Latency.Max)
	})
}

func TestHoldAndRelease(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	l.run(t, func() {
		pa, _ := l.a.Env().Net().ListenPacket("udp", ":0")
		pb, _ := l.b.Env().Net().ListenPacket("udp", ":6000")
		require.NoError(t, l.n.Hold("a", "b"))
		to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 6000}
		for _, s := range []string{"1", "2", "3"} {
			pa.WriteTo([]byte(s), to)
		}
		l.w.Sleep(time.Hour)
		pb.SetReadDeadline(l.b.Env().Now())
		_, _, err := pb.ReadFrom(make([]byte, 4))
		assert.True(t, isTimeout(err), "held: nothing arrives")
		require.NoError(t, l.n.Release("a", "b"))
		pb.SetReadDeadline(time.Time{})
		for _, want := range []string{"1", "2", "3"} {
			buf := make([]byte, 4)
			n, _, err := pb.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, want, string(buf[:n]))
		}
	})
}

func TestBadInputIsAnErrorNamingWhatIsWrong(t *testing.T) {
	l := newLAN(t, sim.Options{}, netmodel.Options{})
	n := l.n
	assert.ErrorContains(t, n.AddSegment("lan", netip.MustParsePrefix("10.1.0.0/24"), netmodel.Link{}), `segment "lan" already exists`)
	assert.ErrorContains(t, n.AddSegment("x", netip.MustParsePrefix("10.0.0.0/16"), netmodel.Link{}), "overlaps segment")
	assert.ErrorContains(t, n.AddSegment("y", netip.MustParsePrefix("10.2.0.0/24"), netmodel.Link{Latency: netmodel.Uniform(5*time.Millisecond, time.Millisecond)}), "inverted")
	assert.ErrorContains(t, n.AddSegment("z", netip.MustParsePrefix("10.3.0.0/24"), netmodel.Link{Latency: netmodel.Constant(-time.Second)}), "Latency")
	assert.ErrorContains(t, n.AddSegment("p", netip.MustParsePrefix("10.4.0.0/24"), netmodel.Link{Loss: 1.5}), "Loss = 1.5")
	_, err := n.AddHost("a", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.9")})
	assert.ErrorContains(t, err, `host "a" already exists`)
	_, err = n.AddHost("d", nil, netmodel.Iface{Segment: "wan", Addr: netip.MustParseAddr("10.0.0.9")})
	assert.ErrorContains(t, err, `unknown segment "wan"`)
	_, err = n.AddHost("d", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.2")})
	assert.ErrorContains(t, err, `already used by host "b"`)
	_, err = n.AddHost("d", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.9.0.2")})
	assert.ErrorContains(t, err, "not a host address")
	assert.ErrorContains(t, n.Partition([]string{"a"}, []string{"zz"}), `unknown host "zz"`)
	assert.ErrorContains(t, n.Partition([]string{"a"}, []string{"a"}), "in groups 1 and 2")
	assert.ErrorContains(t, n.SetLink("a", "b", netmodel.Link{Duplicate: -1}), "Duplicate = -1")
	_, err = netmodel.New(l.w, netmodel.Options{EphemeralMin: 9, EphemeralMax: 3})
	assert.ErrorContains(t, err, "inverted")

	l.run(t, func() {
		net := l.a.Env().Net()
		_, err := net.ListenPacket("udp", ":5000")
		require.NoError(t, err)
		_, err = net.ListenPacket("udp", "10.0.0.1:5000")
		assert.ErrorIs(t, err, syscall.EADDRINUSE)
		_, err = net.ListenPacket("udp", "10.0.0.2:5001")
		assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
		_, err = net.Listen("tcp", "nohost:80")
		assert.ErrorContains(t, err, "no such host")
		_, err = net.Dial("tcp", "nohost:80")
		assert.ErrorContains(t, err, "no such host")
		_, err = net.Dial("unix", "/tmp/x")
		assert.ErrorContains(t, err, "unknown network unix")
		_, err = net.Dial("tcp", "10.0.0.2")
		assert.ErrorContains(t, err, "missing port")
		_, err = net.Listen("tcp", ":70000")
		assert.ErrorContains(t, err, "invalid port")
	})
}

func TestReorderingOnlyWhenEnabled(t *testing.T) {
	order := func(reorder float64) []int {
		link := netmodel.Link{Latency: netmodel.Constant(time.Millisecond), Reorder: reorder, ReorderDelay: netmodel.Uniform(time.Millisecond, 5*time.Millisecond)}
		l := newLAN(t, sim.Options{Seed: 5}, netmodel.Options{}, link)
		var got []int
		l.run(t, func() {
			pa, _ := l.a.Env().Net().ListenPacket("udp", ":0")
			pb, _ := l.b.Env().Net().ListenPacket("udp", ":9")
			for i := 0; i < 50; i++ {
				pa.WriteTo([]byte{byte(i)}, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9})
				l.w.Sleep(500 * time.Microsecond)
			}
			buf := make([]byte, 4)
			for range 50 {
				_, _, err := pb.ReadFrom(buf)
				require.NoError(t, err)
				got = append(got, int(buf[0]))
			}
		})
		return got
	}
	inOrder := order(0)
	for i, v := range inOrder {
		require.Equal(t, i, v)
	}
	shuffled := order(0.5)
	outOfOrder := 0
	for i := 1; i < len(shuffled); i++ {
		if shuffled[i] < shuffled[i-1] {
			outOfOrder++
		}
	}
	assert.Greater(t, outOfOrder, 5, "%v", shuffled)
	assert.ElementsMatch(t, inOrder, shuffled, "reordered, not lost")
}
