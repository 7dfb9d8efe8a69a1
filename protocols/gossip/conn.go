package gossip

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/protocols/gossip/wire"
	"github.com/detsim/detsim/sim"
)

// One connection per peer pair. Both sides send a Hello first; no data
// frame is written on a connection before its handshake has been decided,
// so a duplicate can be refused without losing anything:
//
//   - the acceptor's actor decides: it refuses the connection (closes it
//     without answering) if it already has a connection to the dialer, or
//     if it is dialing the dialer itself and has the smaller id (the
//     connection dialled by the smaller id wins); otherwise it answers
//     with its Hello and the connection is installed at once;
//   - an acceptor that already has the connection the tie-break prefers
//     (dialled by the smaller id) refuses too: the dial crossed it, or the
//     dialer closed its end and the FIN is still on its way;
//   - a refused dialer keeps its queued frames and dials again after
//     dialRetryDelay (up to dialRetries times) unless a connection from
//     the peer is installed meanwhile; a dial that fails otherwise is an
//     IO-level disconnect.

// peerConn is an installed connection: a reader task feeding the actor and
// a writer task draining a queue of frames.
type peerConn struct {
	n      *Node
	peer   proto.PeerID
	raw    net.Conn
	dialed bool
	out    sim.Chan[[]byte]
	closed bool // actor-side: no more sends
	tasks  int  // reader and writer still running (the last closes raw)
	mu     sim.Mutex
}

func newPeerConn(n *Node, peer proto.PeerID, raw net.Conn, dialed bool) *peerConn {
	return &peerConn{n: n, peer: peer, raw: raw, dialed: dialed, out: sim.NewChan[[]byte](n.env, SendQueueCap), mu: n.env.NewMutex()}
}

// start runs the reader and writer tasks; hello, if set, is written first
// (the acceptor's answer).
func (pc *peerConn) start(hello []byte) {
	n := pc.n
	n.wg.Add(2)
	pc.tasks = 2
	n.liveMu.Lock()
	n.live = append(n.live, pc)
	n.liveMu.Unlock()
	n.env.Go(n.name+"/conn.writer", func() {
		defer n.wg.Done()
		defer pc.taskDone()
		pc.writeLoop(hello)
	})
	n.env.Go(n.name+"/conn.reader", func() {
		defer n.wg.Done()
		defer pc.taskDone()
		pc.readLoop()
	})
}

// taskDone closes the connection when both the writer (after its FIN) and
// the reader (after the peer's FIN) are done: nothing is left unread, so
// the close is clean.
func (pc *peerConn) taskDone() {
	pc.mu.Lock()
	pc.tasks--
	last := pc.tasks == 0
	pc.mu.Unlock()
	if last {
		_ = pc.raw.Close()
		n := pc.n
		n.liveMu.Lock()
		if i := slices.Index(n.live, pc); i >= 0 {
			n.live = slices.Delete(n.live, i, i+1)
		}
		n.liveMu.Unlock()
	}
}

// send queues a frame body; a full queue closes the connection as failed.
func (pc *peerConn) send(body []byte) {
	if pc.closed {
		return
	}
	if !pc.out.TrySend(body) {
		pc.n.connError(pc.peer, fmt.Errorf("send queue full (%d frames)", SendQueueCap))
		pc.abort()
	}
}

// closeGracefully stops sending: the writer writes what is queued, then
// closes the connection (the peer reads everything, then EOF).
func (pc *peerConn) closeGracefully() {
	if !pc.closed {
		pc.closed = true
		pc.out.Close()
	}
}

// abort closes the connection at once (node shutdown, a full queue).
func (pc *peerConn) abort() {
	pc.closeGracefully()
	_ = pc.raw.Close()
}

func (pc *peerConn) writeLoop(hello []byte) {
	var fw wire.FrameWriter
	if hello != nil {
		if err := fw.Write(pc.raw, hello); err != nil {
			_ = pc.raw.Close()
			return
		}
	}
	for body := range pc.out.All() {
		if err := fw.Write(pc.raw, body); err != nil {
			_ = pc.raw.Close()
			return
		}
	}
	// Queue closed: send our FIN and let the reader drain the peer's data.
	if cw, ok := pc.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = pc.raw.Close()
	}
}

func (pc *peerConn) readLoop() {
	n := pc.n
	fr := wire.NewFrameReader(pc.raw, wire.MaxFrameSize)
	in := n.newInSender()
	var cause error
	for {
		body, err := fr.Next()
		if err != nil {
			cause = err
			if errors.Is(err, wire.ErrFrameTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
				n.connError(pc.peer, fmt.Errorf("bad frame: %w", err))
				_ = pc.raw.Close()
			}
			break
		}
		f, err := wire.Decode(body)
		if err == nil && f.Msg == nil {
			err = errors.New("unexpected hello after the handshake")
		}
		if err != nil {
			// A malformed frame closes this connection, never the node.
			n.connError(pc.peer, fmt.Errorf("malformed frame: %w", err))
			cause = err
			_ = pc.raw.Close()
			break
		}
		if !in.send(n, inEvent{kind: inMessage, peer: pc.peer, conn: pc, msg: *f.Msg}) {
			return
		}
	}
	in.send(n, inEvent{kind: inConnClosed, peer: pc.peer, conn: pc, err: cause})
	// The peer is done sending; if this side still has a writer running,
	// the actor closes its queue on inConnClosed (or already did).
}

func (n *Node) connError(peer proto.PeerID, err error) {
	n.env.Logger().Info("gossip: closing connection", "node", n.opts.ID.String(), "peer", peer.String(), "reason", err.Error())
	if n.opts.OnConnError != nil {
		n.opts.OnConnError(peer, err)
	}
}

func (n *Node) helloBody() []byte {
	b, err := wire.AppendHello(nil, wire.Hello{Version: wire.Version, ID: n.opts.ID, Data: n.me.Data})
	if err != nil {
		panic(fmt.Sprintf("gossip: own hello does not encode: %v", err)) // Data is our own address
	}
	return b
}

// readHello reads the first frame of a connection within the dial timeout.
func (n *Node) readHello(raw net.Conn) (*wire.Hello, error) {
	_ = raw.SetReadDeadline(n.env.Now().Add(n.opts.DialTimeout))
	defer func() { _ = raw.SetReadDeadline(zeroTime) }()
	fr := wire.NewFrameReader(raw, wire.MaxFrameSize)
	body, err := fr.Next()
	if err != nil {
		return nil, err
	}
	f, err := wire.Decode(body)
	if err != nil {
		return nil, err
	}
	if f.Hello == nil {
		return nil, errors.New("first frame is not a hello")
	}
	if f.Hello.Version != wire.Version {
		return nil, fmt.Errorf("hello version %d, want %d", f.Hello.Version, wire.Version)
	}
	return f.Hello, nil
}

// dial is a dial task: connect, hello, wait for the answer, report.
func (n *Node) dial(peer proto.PeerID, addr string, gen uint64) {
	fail := func(err error) {
		n.sendIn(inEvent{kind: inDialFailed, peer: peer, gen: gen, err: err})
	}
	raw, err := n.env.Net().DialTimeout("tcp", addr, n.opts.DialTimeout)
	if err != nil {
		fail(err)
		return
	}
	if err := wire.WriteFrame(raw, n.helloBody()); err != nil {
		_ = raw.Close()
		fail(err)
		return
	}
	h, err := n.readHello(raw)
	if err != nil {
		_ = raw.Close()
		if errors.Is(err, errEOF) {
			// Refused by the tie-break: pause, then let the actor decide
			// whether to dial again (the peer's connection may come).
			n.sendIn(inEvent{kind: inDialRefused, peer: peer, gen: gen})
			tm := n.env.NewTimer(dialRetryDelay)
			defer tm.Stop()
			if sim.Select(n.env, sim.RecvCase(tm.C(), nil, nil), sim.RecvCase(n.quit, nil, nil)) == 0 {
				n.sendIn(inEvent{kind: inDialRetry, peer: peer, gen: gen})
			}
			return
		}
		fail(err)
		return
	}
	if h.ID != peer {
		_ = raw.Close()
		n.connError(peer, fmt.Errorf("dialled %s at %s but it is %s", peer, addr, h.ID))
		fail(fmt.Errorf("peer at %s is %s", addr, h.ID))
		return
	}
	if !n.sendIn(inEvent{kind: inConnected, peer: peer, raw: raw, dialed: true, data: h.Data, gen: gen}) {
		_ = raw.Close()
	}
}

func (n *Node) acceptLoop() {
	for {
		raw, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.wg.Add(1)
		n.env.Go(n.name+"/handshake", func() {
			defer n.wg.Done()
			n.handshake(raw)
		})
	}
}

// handshake is an accepted connection's first step: read the dialer's
// hello and let the actor decide.
func (n *Node) handshake(raw net.Conn) {
	h, err := n.readHello(raw)
	if err != nil {
		_ = raw.Close()
		if !errors.Is(err, errEOF) {
			n.connError(proto.PeerID{}, fmt.Errorf("handshake with %v: %w", raw.RemoteAddr(), err))
		}
		return
	}
	if h.ID == n.opts.ID || h.ID == (proto.PeerID{}) {
		_ = raw.Close()
		n.connError(h.ID, fmt.Errorf("handshake with %v: bad peer id %s", raw.RemoteAddr(), h.ID))
		return
	}
	if !n.sendIn(inEvent{kind: inAccepted, peer: h.ID, raw: raw, data: h.Data}) {
		_ = raw.Close()
	}
}
