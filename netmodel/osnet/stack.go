package osnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/detsim/detsim/netmodel"
)

// errNetClosed is returned for a socket opened after Network.Close.
var errNetClosed = errors.New("osnet: network closed")

// stack is a node's netmodel.Stack.
type stack struct{ nd *Node }

var _ netmodel.Stack = stack{}

// Interfaces is the node's one interface on the segment.
func (s stack) Interfaces() []netmodel.Interface {
	n := s.nd.n
	return []netmodel.Interface{{Name: n.segment, Addr: s.nd.addr, Prefix: n.prefix, Broadcast: n.broadcast}}
}

// checkNetwork accepts "udp"/"udp4" or "tcp"/"tcp4" for proto.
func checkNetwork(network, proto string) error {
	if network == proto || network == proto+"4" {
		return nil
	}
	return net.UnknownNetworkError(network + " (the OS network supports " + proto + " and " + proto + "4 on loopback)")
}

func splitHostPort(address string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %s: invalid port %q", address, port)
	}
	return host, uint16(p), nil
}

// localAddr parses a listen address: "", 0.0.0.0, the node's address or
// its name mean the node's address; any other address is not the node's.
func (s stack) localAddr(address string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch host {
	case "", "0.0.0.0", s.nd.name:
		return netip.AddrPortFrom(s.nd.addr, port), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		if _, ok := s.nd.n.lookup(host); ok {
			return netip.AddrPort{}, &os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL}
		}
		return netip.AddrPort{}, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if a.Unmap() != s.nd.addr {
		return netip.AddrPort{}, &os.SyscallError{Syscall: "bind", Err: syscall.EADDRNOTAVAIL}
	}
	return netip.AddrPortFrom(s.nd.addr, port), nil
}

// remoteAddr resolves a destination "ip:port" or "node:port"; it must be
// on loopback.
func (s stack) remoteAddr(address string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return s.remote(host, port)
}

func (s stack) remote(host string, port uint16) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		var ok bool
		if a, ok = s.nd.n.lookup(host); !ok {
			return netip.AddrPort{}, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
	}
	a = a.Unmap()
	if !a.Is4() || (!loopback.Contains(a) && a != limitedBroadcast) {
		return netip.AddrPort{}, fmt.Errorf("%v is not a loopback address (the OS network stays on loopback): %w", a,
			&os.SyscallError{Syscall: "connect", Err: syscall.ENETUNREACH})
	}
	return netip.AddrPortFrom(a, port), nil
}

func opError(op, network string, src, dst net.Addr, err error) error {
	return &net.OpError{Op: op, Net: network, Source: src, Addr: dst, Err: err}
}

// ListenPacket binds a datagram socket to the node's address ("udp" or
// "udp4"; ":port", "ip:port" or "node:port"; port 0 picks one).
func (s stack) ListenPacket(network, address string) (net.PacketConn, error) {
	if err := checkNetwork(network, "udp"); err != nil {
		return nil, opError("listen", network, nil, nil, err)
	}
	la, err := s.localAddr(address)
	if err != nil {
		return nil, opError("listen", network, nil, nil, err)
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(la))
	if err != nil {
		return nil, err
	}
	pc := &packetConn{UDPConn: c, s: s}
	if err := s.nd.track(pc, c.Close); err != nil {
		_ = c.Close()
		return nil, opError("listen", network, nil, c.LocalAddr(), err)
	}
	return pc, nil
}

// Listen opens a stream listener on the node's address ("tcp"/"tcp4").
func (s stack) Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork(network, "tcp"); err != nil {
		return nil, opError("listen", network, nil, nil, err)
	}
	la, err := s.localAddr(address)
	if err != nil {
		return nil, opError("listen", network, nil, nil, err)
	}
	l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(la))
	if err != nil {
		return nil, err
	}
	ln := &listener{TCPListener: l, s: s}
	if err := s.nd.track(ln, l.Close); err != nil {
		_ = l.Close()
		return nil, opError("listen", network, nil, l.Addr(), err)
	}
	return ln, nil
}

// Dial connects from the node's address.
func (s stack) Dial(network, address string) (net.Conn, error) {
	return s.dial(context.Background(), network, address, 0)
}

// DialTimeout is Dial with a timeout.
func (s stack) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	return s.dial(context.Background(), network, address, timeout)
}

// DialContext is Dial, abandoned when ctx is done.
func (s stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return s.dial(ctx, network, address, 0)
}

func (s stack) dial(ctx context.Context, network, address string, timeout time.Duration) (net.Conn, error) {
	src := &net.TCPAddr{IP: s.nd.addr.AsSlice()}
	if err := checkNetwork(network, "tcp"); err != nil {
		return nil, opError("dial", network, src, nil, err)
	}
	ra, err := s.remoteAddr(address)
	if err != nil {
		return nil, opError("dial", network, src, nil, err)
	}
	d := net.Dialer{LocalAddr: src, Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp4", ra.String())
	if err != nil {
		return nil, err
	}
	return s.nd.wrapConn(c.(*net.TCPConn))
}

// wrapConn tracks a connected stream (dialled or accepted).
func (nd *Node) wrapConn(c *net.TCPConn) (net.Conn, error) {
	cn := &conn{TCPConn: c, nd: nd}
	if err := nd.track(cn, c.Close); err != nil {
		_ = c.Close()
		return nil, opError("dial", "tcp", c.LocalAddr(), c.RemoteAddr(), err)
	}
	return cn, nil
}

// conn is a stream: *net.TCPConn (CloseWrite, deadlines, the kernel's
// errors) whose Close also forgets it.
type conn struct {
	*net.TCPConn
	nd *Node
}

var _ net.Conn = (*conn)(nil)

func (c *conn) Close() error {
	c.nd.untrack(c)
	return c.TCPConn.Close()
}

// listener is a stream listener whose accepted streams are tracked.
type listener struct {
	*net.TCPListener
	s stack
}

var _ net.Listener = (*listener)(nil)

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return l.s.nd.wrapConn(c)
}

func (l *listener) Close() error {
	l.s.nd.untrack(l)
	return l.TCPListener.Close()
}

// packetConn is a datagram socket: *net.UDPConn with the segment's
// broadcast emulated by WriteTo.
type packetConn struct {
	*net.UDPConn
	s stack
}

var _ net.PacketConn = (*packetConn)(nil)

func (pc *packetConn) Close() error {
	pc.s.nd.untrack(pc)
	return pc.UDPConn.Close()
}

// WriteTo sends b to addr. A datagram to the segment's broadcast address or
// to 255.255.255.255 goes to the same port of every node of the network,
// the sender included (see the package doc); others are sent as they are.
func (pc *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	dst, err := pc.udpDest(addr)
	if err != nil {
		return 0, opError("write", "udp", pc.LocalAddr(), addr, err)
	}
	n := pc.s.nd.n
	if dst.Addr() != n.broadcast && dst.Addr() != limitedBroadcast {
		return pc.UDPConn.WriteToUDPAddrPort(b, dst)
	}
	for _, a := range n.addrs() {
		if _, err := pc.UDPConn.WriteToUDPAddrPort(b, netip.AddrPortFrom(a, dst.Port())); err != nil {
			var ne net.Error
			if errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
				return 0, err
			}
			// Anything else concerns one receiver: its copy is lost,
			// as on a LAN.
		}
	}
	return len(b), nil
}

func (pc *packetConn) udpDest(addr net.Addr) (netip.AddrPort, error) {
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("address %v: not an IP address", addr)
		}
		return pc.s.remote(ip.Unmap().String(), uint16(a.Port))
	case nil:
		return netip.AddrPort{}, errors.New("nil address")
	default:
		return pc.s.remoteAddr(a.String())
	}
}
