package gossip

import (
	"bytes"
	"container/heap"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/protocols/gossip/wire"
	"github.com/detsim/detsim/sim"
)

// Node is one gossip node: iroh-gossip's net::Gossip actor. Its actor task
// owns the protocol state, the connections and the timers; the API talks
// to it through a bounded command channel, the connection tasks through a
// bounded event channel.
type Node struct {
	env  netmodel.Env
	opts Options
	me   proto.PeerInfo
	name string // task name prefix

	toActor  sim.Chan[command]
	inEvents sim.Chan[inEvent]
	quit     sim.Chan[struct{}] // closed by Close: every task leaves
	done     sim.Chan[struct{}] // closed when the actor has cleaned up
	wg       sim.WaitGroup      // every task of the node but the actor
	all      *bcast[topicEvent] // subscribers_all

	mu      sim.Mutex // closing
	closing bool

	liveMu sim.Mutex // live

	ln net.Listener

	// Actor-owned from here on.
	state    *proto.State
	topics   map[proto.TopicID]*bcast[proto.Event] // subscribers_topic
	conns    map[proto.PeerID]*peerConn
	live     []*peerConn // every connection whose tasks still run (current or closing)
	dialing  map[proto.PeerID]*dialState
	addrs    map[proto.PeerID]string // address book
	dialGen  uint64
	timers   timerHeap
	timerSeq uint64
	tm       sim.Timer
	armed    bool          // tm is running (or fired and not yet received)
	armedAt  time.Time     // its deadline while armed
	deferred []proto.Input // inputs the actor generated for itself
	out      []proto.Output
	frame    []byte
}

type topicEvent struct {
	topic proto.TopicID
	ev    proto.Event
}

// command is an API request to the actor.
type command struct {
	kind      cmdKind
	topic     proto.TopicID
	peers     []proto.PeerID
	content   []byte
	neighbors bool
	addr      string
	peer      proto.PeerID
	reply     sim.Chan[cmdReply]
	inspect   func(*proto.State)
}

type cmdKind uint8

const (
	cmdJoin cmdKind = iota + 1
	cmdBroadcast
	cmdQuit
	cmdAddPeer
	cmdInspect
)

type cmdReply struct {
	err     error
	joinFut sim.Chan[struct{}] // closed when the topic has a neighbour
}

// inEvent is a connection task's report to the actor.
type inEvent struct {
	kind   inKind
	peer   proto.PeerID
	conn   *peerConn
	raw    net.Conn
	dialed bool
	data   []byte
	msg    proto.Message
	err    error
	gen    uint64 // the dial's generation
}

type inKind uint8

const (
	inAccepted    inKind = iota + 1 // a dialer's hello arrived: decide
	inConnected                     // our dial was answered
	inDialRefused                   // our dial was refused by the tie-break
	inDialRetry                     // a refused dial's pause is over
	inDialFailed
	inMessage
	inConnClosed
)

// dialState is a dial in progress and the frames waiting for it.
type dialState struct {
	gen     uint64
	refused bool     // refused: waiting for the peer's own connection
	retries int      // dials made again after a refusal
	pending [][]byte // frames queued until a connection is up
}

// dialRetries and dialRetryDelay: a refused dial is made again after a
// pause, up to dialRetries times, unless the peer's own connection is
// installed meanwhile.
const (
	dialRetries    = 5
	dialRetryDelay = 20 * time.Millisecond
)

var zeroTime time.Time

// errEOF is a connection closed at a frame boundary (a refused handshake).
var errEOF = io.EOF

// New checks opts and returns a node that is not yet listening (call
// Start). Its peer data is its listen address "ip:port" on the host's
// first interface.
func New(env netmodel.Env, opts Options) (*Node, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	ifs := env.Net().Interfaces()
	if len(ifs) == 0 {
		return nil, fmt.Errorf("gossip: host %s has no network interface", env.HostName())
	}
	addr := netip.AddrPortFrom(ifs[0].Addr, uint16(opts.Port)).String()
	me := proto.PeerInfo{ID: opts.ID, Data: []byte(addr)}
	st, err := proto.NewState(me, opts.Proto, env.Rand("gossip/proto/"+opts.ID.String()))
	if err != nil {
		return nil, err
	}
	n := &Node{
		env: env, opts: opts, me: me, name: "gossip/" + opts.ID.String(),
		toActor: sim.NewChan[command](env, ToActorCap), inEvents: sim.NewChan[inEvent](env, InEventCap),
		quit: sim.NewChan[struct{}](env, 0), done: sim.NewChan[struct{}](env, 0),
		wg: env.NewWaitGroup(), all: newBcast[topicEvent](env, TopicEventCap), mu: env.NewMutex(), liveMu: env.NewMutex(),
		state: st, topics: map[proto.TopicID]*bcast[proto.Event]{}, conns: map[proto.PeerID]*peerConn{},
		dialing: map[proto.PeerID]*dialState{}, addrs: map[proto.PeerID]string{},
	}
	return n, nil
}

// ID is the node's peer id.
func (n *Node) ID() proto.PeerID { return n.opts.ID }

// Addr is the node's listen address (its peer data).
func (n *Node) Addr() string { return string(n.me.Data) }

// Start listens on the node's port and starts the actor and accept tasks.
func (n *Node) Start() error {
	ln, err := n.env.Net().Listen("tcp", ":"+strconv.Itoa(n.opts.Port))
	if err != nil {
		return fmt.Errorf("gossip: node %s: listen: %w", n.opts.ID, err)
	}
	n.ln = ln
	n.tm = n.env.NewTimer(time.Hour)
	n.tm.Stop()
	n.env.Go(n.name+"/actor", n.run)
	n.wg.Add(1)
	n.env.Go(n.name+"/accept", func() {
		defer n.wg.Done()
		n.acceptLoop()
	})
	return nil
}

// AddPeer records how to reach a peer (iroh: the endpoint's address book).
func (n *Node) AddPeer(id proto.PeerID, addr string) error {
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return fmt.Errorf("gossip: AddPeer %s: bad address %q: %w", id, addr, err)
	}
	_, err := n.call(command{kind: cmdAddPeer, peer: id, addr: addr})
	return err
}

// Join joins topic through peers. It returns once the actor has taken the
// command; the returned channel is closed when the topic has a neighbour
// (at once if it already has one): iroh's JoinTopicFut.
func (n *Node) Join(topic proto.TopicID, peers []proto.PeerID) (sim.Chan[struct{}], error) {
	if topic == (proto.TopicID{}) {
		return nil, ErrInvalidTopic
	}
	r, err := n.call(command{kind: cmdJoin, topic: topic, peers: append([]proto.PeerID(nil), peers...)})
	if err != nil {
		return nil, err
	}
	return r.joinFut, nil
}

// Broadcast broadcasts content to the topic's swarm (or, with neighbors,
// only to the direct neighbours). Content larger than the configured
// maximum is an error wrapping proto.ErrMessageTooLarge.
func (n *Node) Broadcast(topic proto.TopicID, content []byte, neighbors bool) error {
	if topic == (proto.TopicID{}) {
		return ErrInvalidTopic
	}
	if len(content) > n.opts.Proto.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", proto.ErrMessageTooLarge, len(content), n.opts.Proto.MaxMessageSize)
	}
	_, err := n.call(command{kind: cmdBroadcast, topic: topic, content: append([]byte(nil), content...), neighbors: neighbors})
	return err
}

// Quit leaves the topic.
func (n *Node) Quit(topic proto.TopicID) error {
	_, err := n.call(command{kind: cmdQuit, topic: topic})
	return err
}

// Inspect runs f on the actor task with the protocol state (for
// properties: views, stats). It returns ErrClosed after Close.
func (n *Node) Inspect(f func(*proto.State)) error {
	_, err := n.call(command{kind: cmdInspect, inspect: f})
	return err
}

func (n *Node) call(c command) (cmdReply, error) {
	c.reply = sim.NewChan[cmdReply](n.env, 1)
	if sim.Select(n.env, sim.SendCase(n.toActor, c), sim.RecvCase(n.quit, nil, nil)) == 1 {
		return cmdReply{}, ErrClosed
	}
	var r cmdReply
	if sim.Select(n.env, sim.RecvCase(c.reply, &r, nil), sim.RecvCase(n.quit, nil, nil)) == 1 {
		return cmdReply{}, ErrClosed
	}
	return r, r.err
}

// subscribeAll returns a receiver of every event the actor emits from now
// on (iroh: Gossip::subscribe_all).
func (n *Node) subscribeAll() *bcastRx[topicEvent] { return n.all.Subscribe() }

// Close stops the node: the listener and every connection close, every
// task of the node ends and no timer is left when it returns. It is
// idempotent.
func (n *Node) Close() {
	n.mu.Lock()
	first := !n.closing
	n.closing = true
	n.mu.Unlock()
	if first {
		n.quit.Close()
		if n.ln != nil {
			_ = n.ln.Close()
		}
	}
	if n.ln != nil {
		n.done.Recv()
	}
	n.wg.Wait()
}

// run is the actor.
func (n *Node) run() {
	defer n.shutdown()
	var (
		c  command
		ev inEvent
	)
	// The same four cases every turn (tokio::select! over the same
	// futures), made once.
	cases := []sim.Case{
		sim.RecvCase(n.quit, nil, nil),
		sim.RecvCase(n.toActor, &c, nil),
		sim.RecvCase(n.inEvents, &ev, nil),
		sim.RecvCase(n.tm.C(), nil, nil),
	}
	for {
		switch sim.Select(n.env, cases...) {
		case 0:
			return
		case 1:
			n.handleCommand(c)
			c = command{}
		case 2:
			n.handleInEvent(ev)
			ev = inEvent{}
		case 3:
			n.armed = false
			n.fireTimers()
		}
		n.armTimer()
	}
}

func (n *Node) shutdown() {
	n.tm.Stop()
	n.liveMu.Lock()
	live := slices.Clone(n.live)
	n.liveMu.Unlock()
	for _, pc := range live {
		pc.abort()
	}
	n.all.Close()
	for _, t := range sortedTopics(n.topics) {
		n.topics[t].Close()
	}
	n.done.Close()
}

// handle feeds one input to the protocol, then any inputs the outputs
// generated, and carries out the outputs.
func (n *Node) handle(in proto.Input) error {
	var err error
	n.out, err = n.state.Handle(n.env.Now(), in, n.out[:0])
	n.process()
	for len(n.deferred) > 0 {
		in := n.deferred[0]
		n.deferred = n.deferred[1:]
		n.out, _ = n.state.Handle(n.env.Now(), in, n.out[:0])
		n.process()
	}
	return err
}

func (n *Node) handleCommand(c command) {
	var r cmdReply
	switch c.kind {
	case cmdJoin:
		tb := n.topicBcast(c.topic)
		r.err = n.handle(proto.InCommand{Topic: c.topic, Cmd: proto.CmdJoin{Peers: c.peers}})
		fut := sim.NewChan[struct{}](n.env, 0)
		if v, ok := n.state.View(c.topic); ok && len(v.Active) > 0 {
			fut.Close()
		} else {
			// wait_for_neighbor_up: a task on the topic's channel that
			// completes the join future at the first NeighborUp.
			rx := tb.Subscribe()
			n.wg.Add(1)
			n.env.Go(n.name+"/wait_for_neighbor_up", func() {
				defer n.wg.Done()
				for {
					ev, _, ok := rx.Recv()
					if !ok {
						return
					}
					if _, up := ev.(proto.EvNeighborUp); up {
						fut.Close()
						return
					}
				}
			})
		}
		r.joinFut = fut
	case cmdBroadcast:
		r.err = n.handle(proto.InCommand{Topic: c.topic, Cmd: proto.CmdBroadcast{Content: c.content, Neighbors: c.neighbors}})
	case cmdQuit:
		r.err = n.handle(proto.InCommand{Topic: c.topic, Cmd: proto.CmdQuit{}})
		if tb := n.topics[c.topic]; tb != nil {
			tb.Close()
			delete(n.topics, c.topic)
		}
	case cmdAddPeer:
		n.addrs[c.peer] = c.addr
	case cmdInspect:
		c.inspect(n.state)
	}
	c.reply.Send(r)
}

func (n *Node) topicBcast(t proto.TopicID) *bcast[proto.Event] {
	tb := n.topics[t]
	if tb == nil {
		tb = newBcast[proto.Event](n.env, TopicEventCap)
		n.topics[t] = tb
	}
	return tb
}

func (n *Node) handleInEvent(ev inEvent) {
	switch ev.kind {
	case inAccepted:
		n.learnAddr(ev.peer, ev.data)
		if pc := n.conns[ev.peer]; pc != nil && n.dialer(pc) == minID(n.opts.ID, ev.peer) {
			// We have the connection the tie-break prefers (dialled by the
			// smaller id): this dial crossed it, or the peer redials after
			// closing its end and we have not read its FIN yet. Refuse; the
			// dialer retries shortly and finds out which.
			_ = ev.raw.Close()
			return
		}
		if d := n.dialing[ev.peer]; d != nil && !d.refused && less(n.opts.ID, ev.peer) {
			// Both dialling: the connection dialled by the smaller id (ours)
			// wins. Closing without a hello refuses theirs.
			_ = ev.raw.Close()
			return
		}
		// A dialer with a connection here (dialled by the larger id) has
		// given up on it: the newest connection wins.
		n.install(newPeerConn(n, ev.peer, ev.raw, false), n.helloBody())
	case inConnected:
		// Our dial was answered. If a connection from the peer was
		// installed meanwhile (our queued frames went there), the peer
		// answered our hello, so it counts ours as its newest: so do we.
		n.learnAddr(ev.peer, ev.data)
		n.install(newPeerConn(n, ev.peer, ev.raw, true), nil)
	case inDialRefused:
		if d := n.dialing[ev.peer]; d != nil && d.gen == ev.gen {
			d.refused = true
		}
	case inDialRetry:
		d := n.dialing[ev.peer]
		if d == nil || d.gen != ev.gen {
			return // a connection was installed meanwhile
		}
		addr, ok := n.addrs[ev.peer]
		if d.retries >= dialRetries || !ok {
			delete(n.dialing, ev.peer)
			_ = n.handle(proto.InPeerDisconnected{Peer: ev.peer})
			return
		}
		d.retries++
		d.refused = false
		n.startDial(ev.peer, addr, d)
	case inDialFailed:
		d := n.dialing[ev.peer]
		if d == nil || d.gen != ev.gen {
			return
		}
		delete(n.dialing, ev.peer)
		if n.conns[ev.peer] == nil {
			_ = n.handle(proto.InPeerDisconnected{Peer: ev.peer})
		}
	case inMessage:
		_ = n.handle(proto.InMessage{From: ev.peer, Msg: ev.msg})
	case inConnClosed:
		ev.conn.closeGracefully() // the peer is done: send our FIN too
		if n.conns[ev.peer] == ev.conn {
			delete(n.conns, ev.peer)
			_ = n.handle(proto.InPeerDisconnected{Peer: ev.peer})
		}
	}
}

// install makes pc the connection to its peer: an older one is closed
// gracefully (its queued frames are written, and it is read to the end),
// and frames queued for a dial go out on pc.
func (n *Node) install(pc *peerConn, hello []byte) {
	if old := n.conns[pc.peer]; old != nil {
		old.closeGracefully()
	}
	n.conns[pc.peer] = pc
	pc.start(hello)
	if d := n.dialing[pc.peer]; d != nil {
		delete(n.dialing, pc.peer)
		for _, f := range d.pending {
			pc.send(f)
		}
	}
}

func (n *Node) learnAddr(peer proto.PeerID, data []byte) {
	if old, ok := n.addrs[peer]; ok && old == string(data) {
		return // known already (most messages carry the same data)
	}
	if _, err := netip.ParseAddrPort(string(data)); err == nil {
		n.addrs[peer] = string(data)
	}
}

func less(a, b proto.PeerID) bool { return bytes.Compare(a[:], b[:]) < 0 }

// process carries out the protocol's outputs in order.
func (n *Node) process() {
	now := n.env.Now()
	for _, o := range n.out {
		switch o := o.(type) {
		case proto.OutSend:
			n.sendTo(o.To, o.Msg)
		case proto.OutEvent:
			if n.opts.OnEmit != nil {
				n.opts.OnEmit(o.Topic, o.Event)
			}
			n.all.Send(topicEvent{o.Topic, o.Event})
			if tb := n.topics[o.Topic]; tb != nil {
				tb.Send(o.Event)
			}
		case proto.OutTimer:
			n.timerSeq++
			heap.Push(&n.timers, timerEntry{at: now.Add(o.After), seq: n.timerSeq, t: o.Timer})
		case proto.OutDisconnect:
			if pc := n.conns[o.Peer]; pc != nil {
				delete(n.conns, o.Peer)
				pc.closeGracefully()
			}
		case proto.OutPeerData:
			n.learnAddr(o.Peer, o.Data)
		}
	}
}

func (n *Node) sendTo(peer proto.PeerID, m proto.Message) {
	// Room for the frame type, the topic and a small body at once (from
	// nil the encoding grew the slice three times).
	body, err := wire.AppendMessage(make([]byte, 0, 128), m)
	if err != nil {
		n.env.Logger().Warn("gossip: cannot encode message", "peer", peer.String(), "err", err)
		return
	}
	if pc := n.conns[peer]; pc != nil {
		pc.send(body)
		return
	}
	if d := n.dialing[peer]; d != nil {
		d.pending = append(d.pending, body)
		return
	}
	addr, ok := n.addrs[peer]
	if !ok {
		// No way to reach it: as a failed dial.
		n.deferred = append(n.deferred, proto.InPeerDisconnected{Peer: peer})
		return
	}
	d := &dialState{pending: [][]byte{body}}
	n.dialing[peer] = d
	n.startDial(peer, addr, d)
}

// startDial starts a dial task for d under a new generation.
func (n *Node) startDial(peer proto.PeerID, addr string, d *dialState) {
	n.dialGen++
	d.gen = n.dialGen
	gen := d.gen
	n.wg.Add(1)
	n.env.Go(n.name+"/dial", func() {
		defer n.wg.Done()
		n.dial(peer, addr, gen)
	})
}

// dialer is the id of the node that dialled pc.
func (n *Node) dialer(pc *peerConn) proto.PeerID {
	if pc.dialed {
		return n.opts.ID
	}
	return pc.peer
}

func minID(a, b proto.PeerID) proto.PeerID {
	if less(a, b) {
		return a
	}
	return b
}

func (n *Node) fireTimers() {
	now := n.env.Now()
	for len(n.timers) > 0 && !n.timers[0].at.After(now) {
		e := heap.Pop(&n.timers).(timerEntry)
		_ = n.handle(proto.InTimer{Timer: e.t})
	}
}

// armTimer points the actor's timer at the earliest protocol timer. Like
// iroh-gossip's Timers, which makes a new sleep only when a timer is
// inserted or popped, it touches the timer only when that deadline changed,
// not on every turn of the loop.
func (n *Node) armTimer() {
	if len(n.timers) == 0 {
		if n.armed {
			n.tm.Stop()
			n.armed = false
		}
		return
	}
	at := n.timers[0].at
	if n.armed && at.Equal(n.armedAt) {
		return
	}
	n.tm.Reset(max(n.env.Until(at), 0))
	n.armed, n.armedAt = true, at
}

// sendIn delivers a connection task's event to the actor unless the node
// is closing; it reports whether it was delivered.
func (n *Node) sendIn(ev inEvent) bool {
	return sim.Select(n.env, sim.SendCase(n.inEvents, ev), sim.RecvCase(n.quit, nil, nil)) == 0
}

// inSender is sendIn for a task that sends many events (a connection's
// reader): its Select cases are made once.
type inSender struct {
	ev    inEvent
	cases [2]sim.Case
}

func (n *Node) newInSender() *inSender {
	s := &inSender{}
	s.cases = [2]sim.Case{sim.SendCaseOf(n.inEvents, &s.ev), sim.RecvCase(n.quit, nil, nil)}
	return s
}

func (s *inSender) send(n *Node, ev inEvent) bool {
	s.ev = ev
	ok := sim.Select(n.env, s.cases[:]...) == 0
	s.ev = inEvent{}
	return ok
}

type timerEntry struct {
	at  time.Time
	seq uint64
	t   proto.Timer
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func sortedPeers[V any](m map[proto.PeerID]V) []proto.PeerID {
	return slices.SortedFunc(maps.Keys(m), func(a, b proto.PeerID) int { return bytes.Compare(a[:], b[:]) })
}

func sortedTopics[V any](m map[proto.TopicID]V) []proto.TopicID {
	return slices.SortedFunc(maps.Keys(m), func(a, b proto.TopicID) int { return bytes.Compare(a[:], b[:]) })
}
