package netmodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/detsim/detsim/sim"
)

// conn is one endpoint of a simulated TCP connection: net.Conn.
//
// Each direction is a pipe carrying segments in order, exactly once: a
// segment that is lost or cannot cross the link (partition, crashed peer) is
// retransmitted after an RTO that doubles from Options.MinRTO, and when the
// oldest unacknowledged segment has waited longer than Options.UserTimeout
// the connection breaks with "connection timed out".
type conn struct {
	h      *Host
	epoch  int
	local  netip.AddrPort
	remote netip.AddrPort
	out    *pipe // what this endpoint sends
	in     *pipe // what this endpoint receives
	sig    *sim.Signal

	dialing     bool
	established bool
	closed      bool  // Close was called here
	wclosed     bool  // CloseWrite was called here (FIN sent)
	err         error // reset or timed out: terminal
	rdl, wdl    time.Time
}

var _ net.Conn = (*conn)(nil)

// pipe is one direction of a connection, from src's endpoint to dst's.
type pipe struct {
	n        *Network
	src, dst *conn
	link     *linkState

	// Sender side: queue[0:next] are in flight (arrivals scheduled with
	// generation gen); queue[next:] wait. A failed delivery bumps gen (the
	// scheduled arrivals become stale) and resends from queue[0].
	queue      fifo[tcpSegment]
	next       int
	gen        int
	lastArrive time.Duration // arrival time of the last scheduled segment
	rto        time.Duration
	stallSince time.Duration // when the head first failed; -1 if not stalled
	retrying   bool
	dead       bool // connection over: send nothing more
	// ackStallSince is when a segment arrived while the reverse path was
	// unusable (its ACK cannot come back); -1 if acknowledgements flow.
	ackStallSince time.Duration
	ackProbe      bool
	// stalls counts retransmission timers still pending (a failed
	// arrival can schedule one while another waits): a pipe with one
	// pending is not finished, a crash must still kill it.
	stalls int

	// Receiver side: segments received and not yet read, in order (the
	// first one partly read up to off), so data is never copied twice.
	rq     fifo[[]byte]
	off    int
	unread int // bytes sent and not yet read by dst: the send buffer's fill
	fin    bool
}

type tcpSegment struct {
	data []byte
	fin  bool
}

func newPipe(n *Network, src, dst *conn) *pipe {
	p := &pipe{n: n, src: src, dst: dst, link: n.link(src.h, dst.h), rto: n.opts.MinRTO, stallSince: -1, ackStallSince: -1}
	h := src.h
	// Keep the pipes that may still send (a crash must kill them): not
	// dead, and not finished (FIN delivered, nothing queued, no ACK probe
	// or retransmission timer pending), so that a host that made many
	// connections does not keep every one of them alive.
	live := h.pipes[:0]
	for _, q := range h.pipes {
		if !q.dead && !(q.fin && q.queue.len() == 0 && !q.ackProbe && q.stalls == 0) {
			live = append(live, q)
		}
	}
	clear(h.pipes[len(live):])
	h.pipes = append(live, p)
	return p
}

func (h *Host) newConn(local, remote netip.AddrPort) *conn {
	c := &conn{h: h, epoch: h.epoch, local: local, remote: remote}
	c.sig = h.n.w.NewSignalOf((*connLabel)(c))
	h.conns = append(h.conns, c)
	h.tcpPorts[local.Port()]++
	return c
}

// connLabel describes a conn's signal in reports (made only if needed).
type connLabel conn

func (l *connLabel) String() string {
	return fmt.Sprintf("Conn %s %s<->%s", l.h.name, l.local, l.remote)
}

// release frees the endpoint's port and its place in the host's table.
func (c *conn) release() {
	h := c.h
	if c.epoch != h.epoch {
		return
	}
	for i, x := range h.conns {
		if x == c {
			h.conns = append(h.conns[:i], h.conns[i+1:]...)
			h.tcpPorts[c.local.Port()]--
			return
		}
	}
}

// push queues a segment and transmits what it can.
func (p *pipe) push(s tcpSegment) {
	if p.dead {
		return
	}
	p.queue.push(s)
	p.transmit()
}

// transmit sends every waiting segment it can; on the first that cannot
// go (lost, or the link unusable) it stalls and schedules a retransmission.
func (p *pipe) transmit() {
	n, l := p.n, p.link
	for !p.dead && p.next < p.queue.len() && !p.retrying {
		l.stats.Sent++
		seg := *p.queue.at(p.next)
		pk := seg.kind()
		id := n.observeSend(l, pk, p.src.local, p.src.remote, len(seg.data))
		ok, cause := n.reachable(l.from, l.to)
		if ok && l.cfg.Loss > 0 && l.rnd.Float64() < l.cfg.Loss {
			ok, cause = false, DropLoss
		}
		if !ok {
			l.stats.Dropped[cause]++
			p.dropped(id, pk, cause, "")
			p.stall()
			return
		}
		now := n.w.Elapsed()
		arrive := max(now+l.cfg.Latency.Sample(&l.rnd), p.lastArrive)
		p.lastArrive = arrive
		gen := p.gen
		p.next++
		a := n.newSegArrival()
		a.p, a.gen, a.sentAt, a.id = p, gen, now, id
		n.w.ScheduleCall(&a.ev, arrive-now, a)
	}
}

// segArrival is the arrival of one stream segment: p.arrive(gen, sentAt,
// id) at the end of its flight. Pooled by the Network.
type segArrival struct {
	ev     sim.Event
	p      *pipe
	gen    int
	sentAt time.Duration
	id     uint64
}

func (n *Network) newSegArrival() *segArrival { return popFree(&n.segFree) }

// popFree takes a value from a free list, or makes a new one.
func popFree[T any](free *[]*T) *T {
	if k := len(*free); k > 0 {
		v := (*free)[k-1]
		(*free)[k-1] = nil
		*free = (*free)[:k-1]
		return v
	}
	return new(T)
}

// Fire implements sim.Firer.
func (a *segArrival) Fire() {
	p, gen, sentAt, id := a.p, a.gen, a.sentAt, a.id
	a.p = nil
	p.n.segFree = append(p.n.segFree, a)
	p.arrive(gen, sentAt, id)
}

// stall schedules a retransmission from queue[next] after the RTO, or breaks
// the connection when the head has waited past the user timeout.
func (p *pipe) stall() {
	n := p.n
	now := n.w.Elapsed()
	if p.stallSince < 0 {
		p.stallSince = now
	}
	if now-p.stallSince >= n.opts.UserTimeout {
		p.src.fail(errTimedOut("write"))
		return
	}
	p.retrying = true
	// The next try comes after the RTO, or when the user timeout expires
	// if that is sooner (TCP_USER_TIMEOUT fires on time).
	d := min(p.rto, p.stallSince+n.opts.UserTimeout-now)
	p.rto = min(2*p.rto, n.opts.MaxRTO)
	p.stalls++
	n.w.ScheduleFunc(d, func() {
		p.stalls--
		p.retrying = false
		if !p.dead {
			p.link.stats.Retransmits++
			p.transmit()
		}
	})
}

// arrive delivers queue[0] at the end of its flight. If the link became
// unusable meanwhile the segment (and everything behind it) is resent.
func (p *pipe) arrive(gen int, sentAt time.Duration, id uint64) {
	n, l := p.n, p.link
	if p.dead || gen != p.gen {
		if n.obs != nil {
			why := "connection over"
			if !p.dead {
				why = "resent after an earlier segment failed"
			}
			p.dropped(id, PacketData, 0, why)
		}
		return
	}
	if l.held {
		l.heldQ = append(l.heldQ, func() { p.arrive(gen, sentAt, id) })
		return
	}
	if ok, cause := n.reachable(l.from, l.to); !ok {
		l.stats.Dropped[cause]++
		p.dropped(id, p.queue.at(0).kind(), cause, "")
		p.gen++
		p.next = 0
		p.lastArrive = n.w.Elapsed()
		p.stall()
		return
	}
	seg := p.queue.pop()
	p.next--
	p.stallSince, p.rto = -1, n.opts.MinRTO
	l.stats.Delivered++
	l.stats.Latency.Add(n.w.Elapsed() - sentAt)
	if n.obs != nil {
		n.emitPacket(EventDeliver, id, l, seg.kind(), 0, "")
	}
	p.checkAckPath()

	dst := p.dst
	if dst.epoch != dst.h.epoch || dst.err != nil {
		// The endpoint is gone (its host restarted) or reset: answer RST.
		n.sendReset(dst, p.src)
		return
	}
	if seg.fin {
		p.fin = true
		dst.sig.Broadcast()
		return
	}
	if dst.closed {
		// Data for an endpoint that has closed: RST, as TCP does.
		p.unread -= len(seg.data)
		n.sendReset(dst, p.src)
		return
	}
	if len(seg.data) > 0 {
		p.rq.push(seg.data)
	}
	dst.sig.Broadcast()
}

// checkAckPath models acknowledgements: data that arrives while the path
// back to the sender is unusable is delivered, but the sender never hears
// of it and keeps retransmitting; if no acknowledgement can come back for
// UserTimeout, the sender's connection times out, as with TCP_USER_TIMEOUT.
func (p *pipe) checkAckPath() {
	n := p.n
	if ok, _ := n.reachable(p.link.to, p.link.from); ok {
		p.ackStallSince = -1
		return
	}
	if p.ackStallSince < 0 {
		p.ackStallSince = n.w.Elapsed()
	}
	if !p.ackProbe {
		p.ackProbe = true
		p.probeAck(n.opts.MinRTO)
	}
}

// probeAck retransmits unacknowledged data after rto until the reverse path
// works again or the user timeout expires.
func (p *pipe) probeAck(rto time.Duration) {
	n := p.n
	now := n.w.Elapsed()
	d := min(rto, p.ackStallSince+n.opts.UserTimeout-now)
	n.w.ScheduleFunc(max(d, 0), func() {
		if p.dead || p.ackStallSince < 0 {
			p.ackProbe = false
			return
		}
		if ok, _ := n.reachable(p.link.to, p.link.from); ok {
			p.ackStallSince, p.ackProbe = -1, false
			return
		}
		if n.w.Elapsed()-p.ackStallSince >= n.opts.UserTimeout {
			p.ackProbe = false
			p.src.fail(errTimedOut("write"))
			return
		}
		p.link.stats.Retransmits++
		p.probeAck(min(2*rto, n.opts.MaxRTO))
	})
}

// sendReset sends an RST from endpoint "from" to endpoint "to": a single
// control packet that is lost if the link is unusable.
func (n *Network) sendReset(from, to *conn) {
	l := n.link(from.h, to.h)
	l.stats.Sent++
	id := n.observeSend(l, PacketRST, from.local, from.remote, 0)
	if ok, cause := n.reachable(from.h, to.h); !ok {
		l.stats.Dropped[cause]++
		n.dropControl(id, l, PacketRST, cause)
		return
	}
	sentAt := n.w.Elapsed()
	n.w.ScheduleFunc(l.cfg.Latency.Sample(&l.rnd), func() {
		if ok, cause := n.reachable(from.h, to.h); !ok {
			l.stats.Dropped[cause]++
			n.dropControl(id, l, PacketRST, cause)
			return
		}
		l.stats.Delivered++
		l.stats.Latency.Add(n.w.Elapsed() - sentAt)
		if n.obs != nil {
			n.emitPacket(EventDeliver, id, l, PacketRST, 0, "")
		}
		if to.dialing {
			to.fail(errRefused)
			return
		}
		to.fail(errReset("read"))
	})
}

// fail ends the connection at this endpoint with a terminal error.
func (c *conn) fail(err error) {
	if c.err != nil || c.epoch != c.h.epoch {
		return
	}
	c.err = err
	c.out.kill()
	c.sig.Broadcast()
}

func (p *pipe) kill() {
	if p == nil {
		return
	}
	p.dead = true
	p.queue.reset()
	p.gen++
}

// control sends a connection-setup packet (kind SYN or SYN-ACK, for the
// dialing endpoint c) from host a to host b and runs onArrive if it gets
// there; it is lost otherwise.
func (n *Network) control(a, b *Host, kind PacketKind, c *conn, onArrive func()) {
	l := n.link(a, b)
	l.stats.Sent++
	src, dst := c.local, c.remote
	if kind == PacketSYNACK {
		src, dst = dst, src
	}
	id := n.observeSend(l, kind, src, dst, 0)
	ok, cause := n.reachable(a, b)
	if ok && l.cfg.Loss > 0 && l.rnd.Float64() < l.cfg.Loss {
		ok, cause = false, DropLoss
	}
	if !ok {
		l.stats.Dropped[cause]++
		n.dropControl(id, l, kind, cause)
		return
	}
	sentAt := n.w.Elapsed()
	n.w.ScheduleFunc(l.cfg.Latency.Sample(&l.rnd), func() {
		if ok, cause := n.reachable(a, b); !ok {
			l.stats.Dropped[cause]++
			n.dropControl(id, l, kind, cause)
			return
		}
		l.stats.Delivered++
		l.stats.Latency.Add(n.w.Elapsed() - sentAt)
		if n.obs != nil {
			n.emitPacket(EventDeliver, id, l, kind, 0, "")
		}
		onArrive()
	})
}

func (e *hostEnv) Dial(network, address string) (net.Conn, error) {
	return e.DialContext(nil, network, address)
}

func (e *hostEnv) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		return e.DialContext(nil, network, address)
	}
	ctx, cancel := e.WithTimeout(e.Background(), timeout)
	defer cancel()
	return e.DialContext(ctx, network, address)
}

// DialContext opens a stream connection: one round trip (SYN, SYN-ACK) when
// the path is clear; "connection refused" if nothing listens; SYNs are
// retransmitted after 1s, 2s, 4s, ... until the context's deadline or
// Options.ConnectTimeout, then "i/o timeout". ctx may be nil; it must be a
// sim.Context to be waited on (any context's deadline is honoured).
func (e *hostEnv) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	h, n := e.h, e.h.n
	n.w.Yield()
	if err := checkNetwork(network, "tcp"); err != nil {
		return nil, opError("dial", network, nil, nil, err)
	}
	host, port, err := splitHostPort(address)
	if err != nil {
		return nil, opError("dial", network, nil, nil, err)
	}
	ip, err := n.resolve(host)
	if err != nil {
		return nil, opError("dial", network, nil, nil, err)
	}
	remote := netip.AddrPortFrom(ip, port)
	if !h.up {
		return nil, opError("dial", network, nil, tcpAddr(remote), errNetUnreach)
	}
	lport, err := h.ephemeral(h.tcpPorts)
	if err != nil {
		return nil, opError("dial", network, nil, tcpAddr(remote), err)
	}
	c := h.newConn(netip.AddrPortFrom(h.sourceFor(ip), lport), remote)
	c.dialing = true

	deadline := e.Now().Add(n.opts.ConnectTimeout)
	var done sim.Chan[struct{}]
	if ctx != nil {
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if sc, ok := ctx.(sim.Context); ok {
			done = sc.DoneChan()
		}
	}
	dst := n.hostFor(ip)
	n.sendSYN(c, dst, time.Second)
	for {
		switch {
		case c.established:
			c.dialing = false
			return c, nil
		case c.err != nil:
			err := c.err
			c.abandon()
			return nil, opError("dial", network, tcpAddr(c.local), tcpAddr(remote), err)
		case ctx != nil && ctx.Err() != nil:
			c.abandon()
			err := ctx.Err()
			if errors.Is(err, context.DeadlineExceeded) {
				err = errDeadline
			}
			return nil, opError("dial", network, tcpAddr(c.local), tcpAddr(remote), err)
		case h.passed(deadline):
			c.abandon()
			return nil, opError("dial", network, tcpAddr(c.local), tcpAddr(remote), errDeadline)
		}
		h.wait(c.sig, deadline, done)
	}
}

// abandon gives up a dial.
func (c *conn) abandon() {
	c.dialing = false
	c.closed = true
	c.out.kill()
	c.release()
}

// sendSYN sends a SYN for c to dst (nil: no such host, so it goes nowhere)
// and schedules its retransmission after rto.
func (n *Network) sendSYN(c *conn, dst *Host, rto time.Duration) {
	if !c.dialing || c.established || c.err != nil {
		return
	}
	if dst != nil {
		n.control(c.h, dst, PacketSYN, c, func() { n.acceptSYN(c, dst) })
	}
	n.w.ScheduleFunc(rto, func() { n.sendSYN(c, dst, 2*rto) })
}

// acceptSYN handles a SYN from client c arriving at host dst.
func (n *Network) acceptSYN(c *conn, dst *Host) {
	to := c.remote
	for _, sc := range dst.conns {
		if sc.remote == c.local && sc.local == to && sc.in != nil && sc.in.src == c {
			// A retransmitted SYN: the SYN-ACK was lost; answer again.
			n.control(dst, c.h, PacketSYNACK, c, func() { c.synAcked() })
			return
		}
	}
	ln := dst.listeners[sockKey{to.Addr(), to.Port()}]
	if ln == nil {
		ln = dst.listeners[sockKey{netip.Addr{}, to.Port()}]
	}
	if ln == nil || ln.closed {
		// Nothing listens: RST, which the client sees as refused.
		sc := &conn{h: dst, epoch: dst.epoch, local: to, remote: c.local}
		n.sendReset(sc, c)
		return
	}
	if len(ln.queue) >= n.opts.Backlog {
		return // SYN dropped; the client retransmits
	}
	sc := dst.newConn(to, c.local)
	sc.established = true
	c.out = newPipe(n, c, sc)
	sc.in = c.out
	sc.out = newPipe(n, sc, c)
	c.in = sc.out
	ln.queue = append(ln.queue, sc)
	ln.sig.Broadcast()
	n.control(dst, c.h, PacketSYNACK, c, func() { c.synAcked() })
}

func (c *conn) synAcked() {
	if c.dialing && !c.established && c.err == nil && c.epoch == c.h.epoch {
		c.established = true
		c.sig.Broadcast()
	}
}

func (c *conn) gone() bool { return c.epoch != c.h.epoch }

func (c *conn) Read(b []byte) (int, error) {
	h := c.h
	// A scheduling point before a read that completes at once; a read that
	// must wait has its wait as the scheduling point (a Signal wait takes
	// its round before it, so nothing that happens there is missed).
	if c.readNow(b) != readWait {
		h.n.w.Yield()
	}
	for {
		switch c.readNow(b) {
		case readClosed:
			return 0, c.opErr("read", net.ErrClosed)
		case readData:
			k := c.in.read(b)
			c.in.src.sig.Broadcast() // the peer's writer may have room now
			return k, nil
		case readEmpty:
			return 0, nil
		case readEOF:
			return 0, io.EOF
		case readFailed:
			return 0, c.opErr("read", c.err)
		case readDeadline:
			return 0, c.opErr("read", errDeadline)
		}
		h.wait(c.sig, c.rdl, nil)
	}
}

// readOutcome is what a Read does at a given moment.
type readOutcome uint8

const (
	readWait     readOutcome = iota // nothing yet: wait
	readClosed                      // the conn is closed (or its host crashed)
	readData                        // bytes to copy
	readEmpty                       // a zero-length read on a healthy conn
	readEOF                         // the peer's FIN, all data read
	readFailed                      // the conn failed (reset, timed out)
	readDeadline                    // the read deadline passed
)

// readNow says what a Read of b would do now, in the order Read checks.
func (c *conn) readNow(b []byte) readOutcome {
	switch {
	case c.closed || c.gone():
		return readClosed
	case c.in.rq.len() > 0 && len(b) > 0:
		return readData
	case len(b) == 0 && c.err == nil:
		return readEmpty
	case c.in.fin:
		return readEOF
	case c.err != nil:
		return readFailed
	case c.h.passed(c.rdl):
		return readDeadline
	}
	return readWait
}

// read copies received bytes into b, across segments.
func (p *pipe) read(b []byte) int {
	k := 0
	for k < len(b) && p.rq.len() > 0 {
		front := *p.rq.at(0)
		n := copy(b[k:], front[p.off:])
		k += n
		p.off += n
		if p.off == len(front) {
			p.rq.pop()
			p.off = 0
		}
	}
	p.unread -= k
	return k
}

func (c *conn) Write(b []byte) (int, error) {
	h, n := c.h, c.h.n
	n.w.Yield()
	total := 0
	for {
		switch {
		case c.closed || c.gone():
			return total, c.opErr("write", net.ErrClosed)
		case c.wclosed:
			return total, c.opErr("write", errWriteShutdown)
		case c.err != nil:
			return total, c.opErr("write", c.err)
		case len(b) == 0:
			return total, nil
		case h.passed(c.wdl):
			return total, c.opErr("write", errDeadline)
		}
		if room := n.opts.SendBuffer - c.out.unread; room > 0 {
			k := min(room, len(b))
			c.out.unread += k
			c.out.push(tcpSegment{data: append([]byte(nil), b[:k]...)})
			b = b[k:]
			total += k
			continue
		}
		h.wait(c.sig, c.wdl, nil)
	}
}

// Close sends a FIN after any data still queued: the peer reads what was
// written, then io.EOF. Blocked readers and writers here get net.ErrClosed.
func (c *conn) Close() error {
	c.h.n.w.Yield()
	if c.closed {
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	if c.err == nil && !c.gone() {
		if c.in != nil && c.in.rq.len() > 0 {
			// Closing with unread data aborts the connection (Linux sends
			// an RST, not a FIN): the peer's writes fail at once instead
			// of blocking on a buffer nobody will drain.
			c.out.kill()
			c.h.n.sendReset(c, c.in.src)
		} else if !c.wclosed {
			c.out.push(tcpSegment{fin: true})
		}
	}
	c.release()
	c.sig.Broadcast()
	return nil
}

// CloseWrite shuts down the sending side, as shutdown(SHUT_WR) and
// net.TCPConn.CloseWrite do: a FIN follows the data already written, the
// peer reads that data and then io.EOF, and this side can still read.
// Later writes fail. Close is still needed to release the connection.
func (c *conn) CloseWrite() error {
	c.h.n.w.Yield()
	if c.closed || c.gone() {
		return c.opErr("close", net.ErrClosed)
	}
	if c.wclosed {
		return nil
	}
	c.wclosed = true
	if c.err == nil {
		c.out.push(tcpSegment{fin: true})
	}
	c.sig.Broadcast()
	return nil
}

func (c *conn) opErr(op string, err error) error {
	return opError(op, "tcp", tcpAddr(c.local), tcpAddr(c.remote), err)
}

func (c *conn) LocalAddr() net.Addr  { return tcpAddr(c.local) }
func (c *conn) RemoteAddr() net.Addr { return tcpAddr(c.remote) }

func (c *conn) SetDeadline(t time.Time) error {
	c.rdl, c.wdl = t, t
	c.sig.Broadcast()
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rdl = t
	c.sig.Broadcast()
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wdl = t
	c.sig.Broadcast()
	return nil
}

// listener is a stream listening socket: net.Listener.
type listener struct {
	h      *Host
	epoch  int
	key    sockKey
	queue  []*conn
	closed bool
	sig    *sim.Signal
}

var _ net.Listener = (*listener)(nil)

// Listen opens a stream listener ("tcp" or "tcp4"; port 0 picks an
// ephemeral port).
func (e *hostEnv) Listen(network, address string) (net.Listener, error) {
	h := e.h
	e.w.Yield()
	key, err := h.bind(network, "tcp", address, h.tcpPorts, func(k sockKey) bool { return h.listeners[k] != nil })
	if err != nil {
		return nil, err
	}
	ln := &listener{h: h, epoch: h.epoch, key: key}
	ln.sig = e.w.NewSignal(fmt.Sprintf("Listener.Accept on %s %s", h.name, ln.Addr()))
	h.listeners[key] = ln
	h.tcpPorts[key.port]++
	return ln, nil
}

func (ln *listener) Accept() (net.Conn, error) {
	h := ln.h
	if ln.closed || ln.epoch != h.epoch || len(ln.queue) > 0 {
		h.n.w.Yield() // as Read: an Accept that waits has its wait as the point
	}
	for {
		if ln.closed || ln.epoch != h.epoch {
			return nil, opError("accept", "tcp", ln.Addr(), nil, net.ErrClosed)
		}
		if len(ln.queue) > 0 {
			c := ln.queue[0]
			ln.queue[0] = nil
			ln.queue = ln.queue[1:]
			return c, nil
		}
		h.wait(ln.sig, time.Time{}, nil)
	}
}

// Close stops listening; connections not yet accepted are reset.
func (ln *listener) Close() error {
	h := ln.h
	h.n.w.Yield()
	if ln.closed {
		return opError("close", "tcp", ln.Addr(), nil, net.ErrClosed)
	}
	ln.closed = true
	if ln.epoch == h.epoch {
		delete(h.listeners, ln.key)
		h.tcpPorts[ln.key.port]--
		for _, c := range ln.queue {
			c.closed = true
			c.out.kill()
			c.release()
			h.n.sendReset(c, c.in.src)
		}
	}
	ln.queue = nil
	ln.sig.Broadcast()
	return nil
}

func (ln *listener) Addr() net.Addr {
	return tcpAddr(netip.AddrPortFrom(ln.key.addr, ln.key.port))
}
