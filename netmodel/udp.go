package netmodel

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/detsim/detsim/sim"
)

// packetConn is a datagram socket: net.PacketConn over the simulated network.
type packetConn struct {
	h      *Host
	epoch  int
	local  sockKey
	queue  fifo[datagram]
	closed bool
	sig    *sim.Signal
	rdl    time.Time
	wdl    time.Time
}

type datagram struct {
	from netip.AddrPort
	data []byte
}

var _ net.PacketConn = (*packetConn)(nil)

// ListenPacket binds a datagram socket ("udp" or "udp4"; address ":port",
// "ip:port" or "host:port"; port 0 picks an ephemeral port).
func (e *hostEnv) ListenPacket(network, address string) (net.PacketConn, error) {
	h := e.h
	e.w.Yield()
	key, err := h.bind(network, "udp", address, h.udpPorts, func(k sockKey) bool { return h.udp[k] != nil })
	if err != nil {
		return nil, err
	}
	pc := &packetConn{h: h, epoch: h.epoch, local: key}
	pc.sig = e.w.NewSignal(fmt.Sprintf("PacketConn.ReadFrom on %s %s", h.name, pc.LocalAddr()))
	h.udp[key] = pc
	h.udpPorts[key.port]++
	return pc, nil
}

// bind checks a listen request for proto ("udp" or "tcp") and picks the
// socket's key: a free ephemeral port for port 0, else the requested one if
// no socket in the table (has) conflicts with it. Errors are as the OS's.
func (h *Host) bind(network, proto, address string, used map[uint16]int, has func(sockKey) bool) (sockKey, error) {
	if err := checkNetwork(network, proto); err != nil {
		return sockKey{}, opError("listen", network, nil, nil, err)
	}
	addr, port, err := h.localBind(address)
	if err != nil {
		return sockKey{}, opError("listen", network, nil, nil, err)
	}
	if !h.up {
		return sockKey{}, opError("listen", network, nil, nil, errNetUnreach)
	}
	if port == 0 {
		if port, err = h.ephemeral(used); err != nil {
			return sockKey{}, opError("listen", network, nil, nil, err)
		}
	} else if h.portTaken(has, addr, port) {
		ap := netip.AddrPortFrom(addr, port)
		var shown net.Addr = udpAddr(ap)
		if proto == "tcp" {
			shown = tcpAddr(ap)
		}
		return sockKey{}, opError("listen", network, nil, shown, errAddrInUse)
	}
	return sockKey{addr, port}, nil
}

// portTaken reports whether binding (addr, port) conflicts with a socket
// for which has is true: the same address, or either side the wildcard.
func (h *Host) portTaken(has func(sockKey) bool, addr netip.Addr, port uint16) bool {
	if has(sockKey{addr, port}) || has(sockKey{netip.Addr{}, port}) {
		return true
	}
	if !addr.IsValid() {
		for _, i := range h.ifaces {
			if has(sockKey{i.Addr, port}) {
				return true
			}
		}
	}
	return false
}

func (pc *packetConn) dead() bool { return pc.closed || pc.epoch != pc.h.epoch }

func (pc *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	h := pc.h
	if pc.dead() || pc.queue.len() > 0 || h.passed(pc.rdl) {
		h.n.w.Yield() // as conn.Read: a read that waits has its wait as the point
	}
	for {
		if pc.dead() {
			return 0, nil, opError("read", "udp", pc.LocalAddr(), nil, net.ErrClosed)
		}
		if pc.queue.len() > 0 {
			d := pc.queue.pop()
			n := copy(b, d.data) // a short buffer truncates, as with UDP
			return n, udpAddr(d.from), nil
		}
		if h.passed(pc.rdl) {
			return 0, nil, opError("read", "udp", pc.LocalAddr(), nil, errDeadline)
		}
		h.wait(pc.sig, pc.rdl, nil)
	}
}

func (pc *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	h, n := pc.h, pc.h.n
	n.w.Yield()
	if pc.dead() {
		return 0, opError("write", "udp", pc.LocalAddr(), addr, net.ErrClosed)
	}
	if h.passed(pc.wdl) {
		return 0, opError("write", "udp", pc.LocalAddr(), addr, errDeadline)
	}
	dst, err := n.addrPortOf(addr)
	if err != nil {
		return 0, opError("write", "udp", pc.LocalAddr(), addr, err)
	}
	if len(b) > n.opts.MaxDatagram {
		return 0, opError("write", "udp", pc.LocalAddr(), addr, errMsgSize)
	}
	data := append([]byte(nil), b...)
	src := pc.local.addr
	if !src.IsValid() {
		src = h.sourceFor(dst.Addr())
	}
	from := netip.AddrPortFrom(src, pc.local.port)
	targets := n.broadcastTargets(h, dst.Addr())
	if targets == nil {
		to := n.hostFor(dst.Addr())
		if to == nil {
			// Nobody has the address: the datagram vanishes, as on a LAN.
			return len(b), nil
		}
		targets = []*Host{to}
	}
	for _, to := range targets {
		n.sendDatagram(h, from, to, dst, data)
	}
	return len(b), nil
}

// broadcastTargets returns the hosts a datagram to dst reaches when dst is
// the limited broadcast address (every segment h is on) or a segment's
// broadcast address, the sender included; nil when dst is unicast.
func (n *Network) broadcastTargets(h *Host, dst netip.Addr) []*Host {
	var out []*Host
	isBcast := false
	for _, i := range h.ifaces {
		if dst == limitedBroadcast || dst == i.Broadcast {
			isBcast = true
			for _, t := range n.segment(i.Name).hosts {
				if !containsHost(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	if !isBcast {
		return nil
	}
	return out
}

func containsHost(hs []*Host, h *Host) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// sendDatagram puts one datagram on the link from src to dst host, applying
// the link's capacity, loss, duplication, reordering and latency.
func (n *Network) sendDatagram(src *Host, from netip.AddrPort, dst *Host, to netip.AddrPort, data []byte) {
	l := n.link(src, dst)
	l.stats.Sent++
	id := n.observeSend(l, PacketDatagram, from, to, len(data))
	if ok, cause := n.reachable(src, dst); !ok {
		l.stats.Dropped[cause]++
		n.dropDatagram(id, l, cause)
		return
	}
	if l.inflight >= l.cfg.capacity() {
		l.stats.Dropped[DropCapacity]++
		n.dropDatagram(id, l, DropCapacity)
		return
	}
	if l.cfg.Loss > 0 && l.rnd.Float64() < l.cfg.Loss {
		l.stats.Dropped[DropLoss]++
		n.dropDatagram(id, l, DropLoss)
		return
	}
	copies := 1
	if l.cfg.Duplicate > 0 && l.rnd.Float64() < l.cfg.Duplicate {
		copies = 2
		l.stats.Duplicated++
		if n.obs != nil {
			n.emitPacket(EventDuplicate, id, l, PacketDatagram, 0, "")
		}
	}
	sentAt := n.w.Elapsed()
	for c := 0; c < copies; c++ {
		lat := l.cfg.Latency.Sample(&l.rnd)
		if l.cfg.Reorder > 0 && l.rnd.Float64() < l.cfg.Reorder {
			lat += l.cfg.ReorderDelay.Sample(&l.rnd)
		}
		l.inflight++
		a := n.newDgArrival()
		a.n, a.l, a.from, a.to, a.data, a.sentAt, a.id = n, l, from, to, data, sentAt, id
		n.w.ScheduleCall(&a.ev, lat, a)
	}
}

// dgArrival is the arrival of one datagram copy at the end of its flight.
// Pooled by the Network.
type dgArrival struct {
	ev       sim.Event
	n        *Network
	l        *linkState
	from, to netip.AddrPort
	data     []byte
	sentAt   time.Duration
	id       uint64
}

func (n *Network) newDgArrival() *dgArrival { return popFree(&n.dgFree) }

// Fire implements sim.Firer.
func (a *dgArrival) Fire() {
	n, l, from, to, data, sentAt, id := a.n, a.l, a.from, a.to, a.data, a.sentAt, a.id
	a.l, a.data = nil, nil
	n.dgFree = append(n.dgFree, a)
	n.arriveDatagram(l, from, to, data, sentAt, id)
}

// arriveDatagram delivers a datagram at the end of its flight, unless the
// link became unusable meanwhile or is holding traffic.
func (n *Network) arriveDatagram(l *linkState, from, to netip.AddrPort, data []byte, sentAt time.Duration, id uint64) {
	if l.held {
		l.heldQ = append(l.heldQ, func() { n.arriveDatagram(l, from, to, data, sentAt, id) })
		return
	}
	l.inflight--
	if ok, cause := n.reachable(l.from, l.to); !ok {
		l.stats.Dropped[cause]++
		n.dropDatagram(id, l, cause)
		return
	}
	dst := l.to
	pc := dst.udp[sockKey{to.Addr(), to.Port()}]
	if pc == nil {
		pc = dst.udp[sockKey{netip.Addr{}, to.Port()}]
	}
	if pc == nil {
		l.stats.Dropped[DropUnreachable]++
		n.dropDatagram(id, l, DropUnreachable)
		return
	}
	if pc.queue.len() >= n.opts.SocketQueue {
		l.stats.Dropped[DropQueueFull]++
		n.dropDatagram(id, l, DropQueueFull)
		return
	}
	pc.queue.push(datagram{from: from, data: data})
	l.stats.Delivered++
	l.stats.Latency.Add(n.w.Elapsed() - sentAt)
	if n.obs != nil {
		n.emitPacket(EventDeliver, id, l, PacketDatagram, 0, "")
	}
	pc.sig.Broadcast()
}

func (pc *packetConn) Close() error {
	h := pc.h
	h.n.w.Yield()
	if pc.closed {
		return opError("close", "udp", pc.LocalAddr(), nil, net.ErrClosed)
	}
	pc.closed = true
	pc.queue.reset()
	if pc.epoch == h.epoch && h.udp[pc.local] == pc {
		delete(h.udp, pc.local)
		h.udpPorts[pc.local.port]--
	}
	pc.sig.Broadcast()
	return nil
}

func (pc *packetConn) LocalAddr() net.Addr {
	return udpAddr(netip.AddrPortFrom(pc.local.addr, pc.local.port))
}

func (pc *packetConn) SetDeadline(t time.Time) error {
	pc.rdl, pc.wdl = t, t
	pc.sig.Broadcast()
	return nil
}

func (pc *packetConn) SetReadDeadline(t time.Time) error {
	pc.rdl = t
	pc.sig.Broadcast()
	return nil
}

func (pc *packetConn) SetWriteDeadline(t time.Time) error {
	pc.wdl = t
	pc.sig.Broadcast()
	return nil
}
