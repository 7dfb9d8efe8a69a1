package osnet_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/detsim/detsim/netmodel/osnet"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prefix is the i-th /28 (i < 16) of a /24 that belongs to this test
// process (derived from its pid; other packages' live tests use other
// ranges), so that concurrent test processes never share an address.
func prefix(i int) netip.Prefix {
	pid := os.Getpid()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(96 + (pid>>8)%16), byte(pid), byte(16 * i)}), 28)
}

// host is the k-th address of p (node k-1's).
func host(p netip.Prefix, k int) netip.Addr {
	a := p.Addr().As4()
	a[3] += byte(k)
	return netip.AddrFrom4(a)
}

// newNet makes a network of n nodes called n0, n1, ... and closes it when
// the test ends.
func newNet(t *testing.T, i, n int) (*osrt.Runtime, *osnet.Network, []*osnet.Node) {
	t.Helper()
	rt := osrt.New(osrt.Options{Seed: 1})
	nw, err := osnet.New(rt, osnet.Options{Prefix: prefix(i)})
	require.NoError(t, err)
	var nodes []*osnet.Node
	for k := range n {
		nd, err := nw.AddNode(fmt.Sprintf("n%d", k))
		require.NoError(t, err)
		nodes = append(nodes, nd)
	}
	t.Cleanup(func() {
		nw.Close()
		assert.NoError(t, rt.Wait(5*time.Second))
	})
	return rt, nw, nodes
}

func TestNodesGetConsecutiveLoopbackAddresses(t *testing.T) {
	_, nw, nodes := newNet(t, 1, 3)
	for k, nd := range nodes {
		assert.Equal(t, host(prefix(1), k+1), nd.Addr())
		ifs := nd.Env().Net().Interfaces()
		require.Len(t, ifs, 1)
		assert.Equal(t, "lo", ifs[0].Name)
		assert.Equal(t, nd.Addr(), ifs[0].Addr)
		assert.Equal(t, prefix(1), ifs[0].Prefix)
		assert.Equal(t, host(prefix(1), 15), ifs[0].Broadcast)
		assert.Equal(t, nd.Name(), nd.Env().HostName())
	}
	assert.Same(t, nodes[1], nw.Node("n1"))
	assert.Nil(t, nw.Node("nope"))
	assert.Equal(t, nodes, nw.Nodes())
}

// TestBroadcastReachesEveryNode: a datagram to the segment's broadcast
// address, and one to 255.255.255.255, reach the port on every node, the
// sender included, from the sender's address.
func TestBroadcastReachesEveryNode(t *testing.T) {
	_, nw, nodes := newNet(t, 2, 4)
	var pcs []net.PacketConn
	for _, nd := range nodes {
		pc, err := nd.Env().Net().ListenPacket("udp", ":5678")
		require.NoError(t, err, "every node binds the same port on its own address")
		pcs = append(pcs, pc)
	}
	src, err := nodes[1].Env().Net().ListenPacket("udp", netip.AddrPortFrom(nodes[1].Addr(), 0).String())
	require.NoError(t, err)
	for _, dst := range []netip.Addr{nw.Broadcast(), netip.MustParseAddr("255.255.255.255")} {
		n, err := src.WriteTo([]byte("presence "+dst.String()), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 5678)))
		require.NoError(t, err)
		assert.Equal(t, len("presence ")+len(dst.String()), n)
		for k, pc := range pcs {
			buf := make([]byte, 100)
			require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
			n, from, err := pc.ReadFrom(buf)
			require.NoError(t, err, "node %d", k)
			assert.Equal(t, "presence "+dst.String(), string(buf[:n]))
			ua := from.(*net.UDPAddr)
			assert.Equal(t, nodes[1].Addr(), ua.AddrPort().Addr().Unmap(), "the source is the sender's address")
			assert.Equal(t, src.LocalAddr().(*net.UDPAddr).Port, ua.Port)
		}
	}
	// Unicast goes to one node only, addressed by IP or by node name.
	_, err = src.WriteTo([]byte("to n3"), &net.UDPAddr{IP: nodes[3].Addr().AsSlice(), Port: 5678})
	require.NoError(t, err)
	_, err = src.WriteTo([]byte("to n2"), nameAddr("n2:5678"))
	require.NoError(t, err)
	for k, want := range map[int]string{3: "to n3", 2: "to n2"} {
		buf := make([]byte, 100)
		n, _, err := pcs[k].ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:n]))
	}
	require.NoError(t, pcs[0].SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err = pcs[0].ReadFrom(make([]byte, 10))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "node 0 got nothing: %v", err)
}

type nameAddr string

func (a nameAddr) Network() string { return "udp" }
func (a nameAddr) String() string  { return string(a) }

func TestStreamsBetweenNodes(t *testing.T) {
	rt, _, nodes := newNet(t, 3, 2)
	ln, err := nodes[0].Env().Net().Listen("tcp", ":4919")
	require.NoError(t, err)
	assert.Equal(t, host(prefix(3), 1).String()+":4919", ln.Addr().String())
	accepted := make(chan net.Conn, 1)
	rt.Go("accept", func() {
		c, err := ln.Accept()
		assert.NoError(t, err)
		accepted <- c
	})
	c, err := nodes[1].Env().Net().DialTimeout("tcp", "n0:4919", 5*time.Second)
	require.NoError(t, err)
	s := <-accepted
	assert.Equal(t, nodes[1].Addr().String(), s.RemoteAddr().(*net.TCPAddr).IP.String(), "dials come from the node's address")
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	cw, ok := c.(interface{ CloseWrite() error })
	require.True(t, ok, "streams have CloseWrite")
	require.NoError(t, cw.CloseWrite())
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(got))
	assert.Equal(t, 3, nodes[0].OpenSockets()+nodes[1].OpenSockets(), "listener and two stream ends")
	require.NoError(t, s.Close())
	require.NoError(t, c.Close())
	require.NoError(t, ln.Close())
	assert.Equal(t, 0, nodes[0].OpenSockets()+nodes[1].OpenSockets())

	// No listener: refused, as the kernel says.
	_, err = nodes[1].Env().Net().Dial("tcp", host(prefix(3), 1).String()+":4920")
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	ctx, cancel := rt.WithCancel(rt.Background())
	cancel()
	_, err = nodes[1].Env().Net().DialContext(ctx, "tcp", "n0:4919")
	assert.Error(t, err, "a cancelled dial")
}

func TestBadAddressesAreTheKernelsErrors(t *testing.T) {
	_, _, nodes := newNet(t, 4, 2)
	st := nodes[0].Env().Net()
	ln, err := st.Listen("tcp", ":7000")
	require.NoError(t, err)
	defer ln.Close()
	_, err = st.Listen("tcp", host(prefix(4), 1).String()+":7000")
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "port already in use")
	assert.ErrorContains(t, err, host(prefix(4), 1).String()+":7000")
	_, err = st.Listen("tcp", "n1:7001")
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL, "another node's address")
	_, err = st.ListenPacket("udp", "127.0.0.1:7001")
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)
	_, err = st.ListenPacket("udp", "nosuchhost:7001")
	var dns *net.DNSError
	assert.ErrorAs(t, err, &dns)
	_, err = st.Listen("ip", ":1")
	assert.ErrorContains(t, err, "unknown network ip")
	_, err = st.Dial("tcp", "10.0.0.1:80")
	assert.ErrorIs(t, err, syscall.ENETUNREACH, "traffic stays on loopback")
	assert.ErrorContains(t, err, "not a loopback address")
	_, err = st.Dial("tcp", "nosuchhost:80")
	assert.ErrorAs(t, err, &dns)
	pc, err := st.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9})
	assert.ErrorIs(t, err, syscall.ENETUNREACH)
}

func TestCloseSocketsUnblocksTasks(t *testing.T) {
	rt, nw, nodes := newNet(t, 5, 1)
	st := nodes[0].Env().Net()
	ln, err := st.Listen("tcp", ":0")
	require.NoError(t, err)
	pc, err := st.ListenPacket("udp", ":0")
	require.NoError(t, err)
	errs := sim.NewChan[error](rt, 2)
	nodes[0].Env().Go("accept", func() { _, err := ln.Accept(); errs.Send(err) })
	nodes[0].Env().Go("read", func() { _, _, err := pc.ReadFrom(make([]byte, 10)); errs.Send(err) })
	// Go registers a task before it returns; whether the two have reached
	// Accept and ReadFrom yet does not matter: a closed socket fails both.
	assert.Equal(t, []string{"n0/accept", "n0/read"}, rt.Tasks(), "node tasks are named after the node")
	assert.Equal(t, 2, nodes[0].CloseSockets())
	for range 2 {
		assert.ErrorIs(t, errs.Recv(), net.ErrClosed)
	}
	// The node can open sockets again; after Network.Close nothing can.
	ln2, err := st.Listen("tcp", ":0")
	require.NoError(t, err)
	assert.Equal(t, 1, nw.OpenSockets())
	assert.Equal(t, 1, nw.Close())
	_, err = ln2.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = st.Listen("tcp", ":0")
	assert.ErrorContains(t, err, "network closed")
	_, err = nw.AddNode("late")
	assert.ErrorContains(t, err, "network closed")
}

func TestBadOptionsAndNodes(t *testing.T) {
	rt := osrt.New(osrt.Options{})
	for _, c := range []struct{ prefix, want string }{
		{"10.0.0.0/24", "Options.Prefix 10.0.0.0/24 is not inside the loopback range 127.0.0.0/8"},
		{"0.0.0.0/0", "not inside the loopback range"},
		{"127.0.0.0/31", "has room for no two hosts"},
		{"::1/128", "is not IPv4"},
	} {
		_, err := osnet.New(rt, osnet.Options{Prefix: netip.MustParsePrefix(c.prefix)})
		assert.ErrorContains(t, err, c.want, c.prefix)
	}
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	_, err = osnet.New(w, osnet.Options{})
	assert.ErrorContains(t, err, "simulated World")

	small := netip.PrefixFrom(prefix(10).Addr(), 30)
	nw, err := osnet.New(rt, osnet.Options{Prefix: small})
	require.NoError(t, err)
	defer nw.Close()
	_, err = nw.AddNode("a")
	require.NoError(t, err)
	_, err = nw.AddNode("a")
	assert.ErrorContains(t, err, `"a": a node with that name exists`)
	_, err = nw.AddNode("127.0.0.1")
	assert.ErrorContains(t, err, "must not be an IP address")
	_, err = nw.AddNode("b")
	require.NoError(t, err)
	_, err = nw.AddNode("c")
	assert.EqualError(t, err, `osnet: no loopback address available for node "c": the 2 host addresses of `+small.String()+` are taken (use a larger prefix)`)
}

// TestRuntimeNamesOnNodes: a node's tasks and random streams carry its
// name, as a netmodel host's do.
func TestRuntimeNamesOnNodes(t *testing.T) {
	rt, _, nodes := newNet(t, 6, 2)
	assert.Same(t, rt.Rand("n1/x"), nodes[1].Env().Rand("x"))
	assert.NotSame(t, nodes[0].Env().Rand("x"), nodes[1].Env().Rand("x"))
	assert.Nil(t, nodes[0].Env().Sim())
}
