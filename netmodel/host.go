package netmodel

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/detsim/detsim/sim"
)

// Env is the environment handle protocol code on a host receives: the
// kernel's Env (clock, timers, tasks, sync, random streams, logger) plus the
// host's network stack. In simulation tasks started through it belong to the
// host (a crash kills them), its clock includes the host's clock offset, its
// random streams are named after the host, and its logger tags the host.
type Env interface {
	sim.Env
	// Net is the host's network stack.
	Net() Stack
	// HostName is the host's name.
	HostName() string
}

// Stack is a host's network stack as protocol code sees it. Its sockets
// satisfy the standard net interfaces, so code written against net.Conn,
// net.Listener and net.PacketConn runs unchanged on the OS network.
//
// Addresses are "ip:port", ":port" (every local address) or "host:port"
// with a simulated host name; networks are "udp"/"udp4" and "tcp"/"tcp4".
type Stack interface {
	ListenPacket(network, address string) (net.PacketConn, error)
	Listen(network, address string) (net.Listener, error)
	Dial(network, address string) (net.Conn, error)
	DialTimeout(network, address string, timeout time.Duration) (net.Conn, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	// Interfaces lists the host's interfaces (one per segment).
	Interfaces() []Interface
}

// Interface is one of a host's addresses and the segment it is on.
type Interface struct {
	// Name is the segment's name.
	Name      string
	Addr      netip.Addr
	Prefix    netip.Prefix
	Broadcast netip.Addr
}

// Host is a simulated machine.
type Host struct {
	n      *Network
	name   string
	idx    int
	ifaces []Interface
	start  func(env Env)
	env    *hostEnv

	up     bool
	epoch  int
	offset time.Duration
	boots  int

	udp       map[sockKey]*packetConn
	listeners map[sockKey]*listener
	conns     []*conn // live stream endpoints, in creation order
	pipes     []*pipe // every outgoing stream direction still sending
	tcpPorts  map[uint16]int
	udpPorts  map[uint16]int
	nextEph   uint16
}

type sockKey struct {
	addr netip.Addr // the zero Addr is the wildcard
	port uint16
}

// Name is the host's name.
func (h *Host) Name() string { return h.name }

// Env is the host's environment handle.
func (h *Host) Env() Env { return h.env }

// Up reports whether the host is running (not crashed).
func (h *Host) Up() bool { return h.up }

// Boots counts how many times the host's start function has been started.
func (h *Host) Boots() int { return h.boots }

// Addr is the host's first address.
func (h *Host) Addr() netip.Addr { return h.ifaces[0].Addr }

// Interfaces lists the host's interfaces.
func (h *Host) Interfaces() []Interface { return slices.Clone(h.ifaces) }

func (h *Host) onSegment(name string) bool {
	for _, i := range h.ifaces {
		if i.Name == name {
			return true
		}
	}
	return false
}

func (h *Host) hasAddr(a netip.Addr) bool {
	for _, i := range h.ifaces {
		if i.Addr == a {
			return true
		}
	}
	return false
}

// reset gives the host fresh socket tables (at creation and restart).
func (h *Host) reset() {
	h.udp = map[sockKey]*packetConn{}
	h.listeners = map[sockKey]*listener{}
	h.conns = nil
	h.pipes = nil
	h.tcpPorts = map[uint16]int{}
	h.udpPorts = map[uint16]int{}
	h.nextEph = h.n.opts.EphemeralMin
}

func (h *Host) boot() {
	h.boots++
	h.n.w.Spawn(h.name+"/main", h, func() { h.start(h.env) })
}

// ephemeral returns a free port from the ephemeral range, scanning from
// where the last allocation stopped, as Linux does.
func (h *Host) ephemeral(used map[uint16]int) (uint16, error) {
	lo, hi := h.n.opts.EphemeralMin, h.n.opts.EphemeralMax
	span := int(hi-lo) + 1
	for i := 0; i < span; i++ {
		p := h.nextEph
		if h.nextEph == hi {
			h.nextEph = lo
		} else {
			h.nextEph++
		}
		if used[p] == 0 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free ephemeral port in %d-%d", lo, hi)
}

// hostEnv is a host's Env: the World's, with host ownership, clock offset,
// host-scoped random streams and logger, and the network stack.
type hostEnv struct {
	sim.Env
	h   *Host
	w   *sim.World
	log *slog.Logger
}

var _ Env = (*hostEnv)(nil)

func newHostEnv(h *Host) *hostEnv {
	return &hostEnv{Env: h.n.w, h: h, w: h.n.w, log: h.n.w.Logger().With("host", h.name)}
}

func (e *hostEnv) Net() Stack       { return e }
func (e *hostEnv) HostName() string { return e.h.name }

func (e *hostEnv) Go(name string, fn func()) {
	e.w.Spawn(e.h.name+"/"+name, e.h, fn)
}

func (e *hostEnv) Now() time.Time                  { return e.w.Now().Add(e.h.offset) }
func (e *hostEnv) Since(t time.Time) time.Duration { return e.Now().Sub(t) }
func (e *hostEnv) Until(t time.Time) time.Duration { return t.Sub(e.Now()) }
func (e *hostEnv) Rand(name string) *sim.Rand      { return e.w.Rand(e.h.name + "/" + name) }
func (e *hostEnv) Logger() *slog.Logger            { return e.log }

// WithDeadline takes a deadline on the host's clock.
func (e *hostEnv) WithDeadline(parent sim.Context, d time.Time) (sim.Context, context.CancelFunc) {
	return e.w.WithDeadline(parent, d.Add(-e.h.offset))
}

func (e *hostEnv) Interfaces() []Interface { return e.h.Interfaces() }
