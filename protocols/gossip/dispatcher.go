package gossip

import (
	"errors"
	"fmt"

	"github.com/detsim/detsim/protocols/gossip/proto"
	"github.com/detsim/detsim/sim"
)

// EventKind is the kind of a subscription event.
type EventKind uint8

const (
	NeighborUp EventKind = iota + 1
	NeighborDown
	Received
	// Lagged: the subscriber fell behind; the subscription was dropped
	// after this event (iroh closes a sink that is at capacity).
	Lagged
)

func (k EventKind) String() string {
	switch k {
	case NeighborUp:
		return "NeighborUp"
	case NeighborDown:
		return "NeighborDown"
	case Received:
		return "Received"
	case Lagged:
		return "Lagged"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is what a subscription's event stream carries.
type Event struct {
	Kind EventKind
	// Peer is the neighbour (NeighborUp, NeighborDown) or the peer that
	// delivered the message (Received).
	Peer    proto.PeerID
	Content []byte
	Scope   proto.DeliveryScope
}

func toEvent(ev proto.Event) Event {
	switch ev := ev.(type) {
	case proto.EvNeighborUp:
		return Event{Kind: NeighborUp, Peer: ev.Peer}
	case proto.EvNeighborDown:
		return Event{Kind: NeighborDown, Peer: ev.Peer}
	case proto.EvReceived:
		return Event{Kind: Received, Peer: ev.DeliveredFrom, Content: ev.Content, Scope: ev.Scope}
	}
	panic(fmt.Sprintf("gossip: unknown event %T", ev))
}

// Dispatcher is iroh-gossip's GossipDispatcher (dispatcher.rs, 2024-07):
// per-topic subscriptions on top of a Node. Two tasks consume the actor's
// events: dispatch_loop (every event, delivered to the topic's sinks when
// the topic is Live) and, per topic, join_task (Node.Join, then the join
// future; then it marks the topic Live and starts the subscriptions'
// update tasks). Which gets there first is the race of iroh #2460.
type Dispatcher struct {
	node    *Node
	variant Variant
	mu      sim.Mutex
	topics  map[proto.TopicID]*topicState
	rx      *bcastRx[topicEvent]
	closed  bool
	early   int // events that arrived for a topic still Joining
}

// JoiningEvents counts the events that reached dispatch_loop while their
// topic was still Joining: dropped by Buggy, delivered by Fixed.
func (d *Dispatcher) JoiningEvents() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.early
}

type topicPhase uint8

const (
	joining topicPhase = iota + 1
	live
	quitting
)

func (p topicPhase) String() string {
	return [...]string{"", "Joining", "Live", "Quitting"}[p]
}

type topicState struct {
	phase     topicPhase
	bootstrap []proto.PeerID
	waiting   []*Subscription // Joining, Quitting: not yet live
	sinks     []*Subscription // Live
}

// NewDispatcher returns the node's dispatcher and starts its dispatch
// loop. Make it before the first Join on the node.
func NewDispatcher(n *Node) *Dispatcher {
	d := &Dispatcher{node: n, variant: n.opts.Variant, mu: n.env.NewMutex(), topics: map[proto.TopicID]*topicState{}, rx: n.subscribeAll()}
	n.wg.Add(1)
	n.env.Go(n.name+"/dispatch_loop", func() {
		defer n.wg.Done()
		d.dispatchLoop()
	})
	return d
}

// Subscription is one subscriber of a topic: a bounded stream of events
// and a sender of broadcasts.
type Subscription struct {
	d      *Dispatcher
	topic  proto.TopicID
	events sim.Chan[Event]
	cmds   sim.Chan[subCmd]
	// Guarded by d.mu.
	sinkOpen  bool // events still open (not closed by lag or Close)
	cmdsOpen  bool
	updateRun bool
}

type subCmd struct {
	content   []byte
	neighbors bool
}

// Subscribe subscribes to topic, joining its swarm through bootstrap if
// the node has not joined it yet. Events arrive on Events(); broadcasts
// sent before the join completes are sent once it has. An all-zero topic
// is an error.
func (d *Dispatcher) Subscribe(topic proto.TopicID, bootstrap []proto.PeerID) (*Subscription, error) {
	if topic == (proto.TopicID{}) {
		return nil, ErrInvalidTopic
	}
	n := d.node
	s := &Subscription{
		d: d, topic: topic,
		events:   sim.NewChan[Event](n.env, n.opts.SubscriptionCapacity),
		cmds:     sim.NewChan[subCmd](n.env, 64),
		sinkOpen: true, cmdsOpen: true,
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	st := d.topics[topic]
	switch {
	case st == nil:
		st = &topicState{phase: joining, bootstrap: append([]proto.PeerID(nil), bootstrap...), waiting: []*Subscription{s}}
		d.topics[topic] = st
		d.spawnJoin(topic, st.bootstrap)
	case st.phase == joining || st.phase == quitting:
		st.waiting = append(st.waiting, s)
	default:
		d.spawnUpdate(s)
		st.sinks = append(st.sinks, s)
	}
	return s, nil
}

// Events is the subscription's event stream; it is closed when the
// subscription ends (Close, a Lagged drop, a failed join, node close).
func (s *Subscription) Events() sim.Chan[Event] { return s.events }

// Topic is the subscription's topic.
func (s *Subscription) Topic() proto.TopicID { return s.topic }

// Broadcast queues content for the topic's swarm. Content over the
// node's maximum message size is an error wrapping
// proto.ErrMessageTooLarge; so is a closed subscription (ErrClosed).
func (s *Subscription) Broadcast(content []byte) error { return s.send(content, false) }

// BroadcastNeighbors queues content for the direct neighbours only.
func (s *Subscription) BroadcastNeighbors(content []byte) error { return s.send(content, true) }

func (s *Subscription) send(content []byte, neighbors bool) error {
	n := s.d.node
	if max := n.opts.Proto.MaxMessageSize; len(content) > max {
		return fmt.Errorf("%w: %d bytes, the limit is %d", proto.ErrMessageTooLarge, len(content), max)
	}
	s.d.mu.Lock()
	open := s.cmdsOpen
	s.d.mu.Unlock()
	if _, _, closed := n.quit.TryRecv(); closed || !open {
		return ErrClosed
	}
	c := subCmd{content: append([]byte(nil), content...), neighbors: neighbors}
	if sim.Select(n.env, sim.SendCase(s.cmds, c), sim.RecvCase(n.quit, nil, nil)) == 1 {
		return ErrClosed
	}
	return nil
}

// Close ends the subscription: its stream closes and its broadcasts stop;
// when it was the topic's last subscriber, the node quits the topic.
func (s *Subscription) Close() {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	s.closeSinkLocked()
	if s.cmdsOpen {
		s.cmdsOpen = false
		s.cmds.Close()
	}
	st := d.topics[s.topic]
	if st == nil {
		return
	}
	st.waiting = removeSub(st.waiting, s)
	st.sinks = removeSub(st.sinks, s)
	if st.phase == live && len(st.sinks) == 0 {
		d.startQuitLocked(s.topic, st)
	}
}

func (s *Subscription) closeSinkLocked() {
	if s.sinkOpen {
		s.sinkOpen = false
		s.events.Close()
	}
}

func removeSub(list []*Subscription, s *Subscription) []*Subscription {
	for i, x := range list {
		if x == s {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// trySend is iroh's try_send on a sink: with one free slot or less, the
// subscriber gets Lagged and the sink is dropped. It reports whether the
// sink is still open.
func (s *Subscription) trySendLocked(ev Event) bool {
	if !s.sinkOpen {
		return false
	}
	if s.events.Cap()-s.events.Len() <= 1 {
		s.events.TrySend(Event{Kind: Lagged})
		s.closeSinkLocked()
		return false
	}
	s.events.TrySend(ev)
	return true
}

func (d *Dispatcher) spawnJoin(topic proto.TopicID, bootstrap []proto.PeerID) {
	n := d.node
	n.wg.Add(1)
	n.env.Go(n.name+"/join_task", func() {
		defer n.wg.Done()
		d.joinTask(topic, bootstrap)
	})
}

// joinTask is iroh's join_task: join, wait for the first neighbour, then
// make the topic Live.
func (d *Dispatcher) joinTask(topic proto.TopicID, bootstrap []proto.PeerID) {
	n := d.node
	fut, err := n.Join(topic, bootstrap)
	if err == nil {
		if sim.Select(n.env, sim.RecvCase(fut, nil, nil), sim.RecvCase(n.quit, nil, nil)) == 1 {
			err = ErrClosed
		}
	}
	if err != nil {
		d.mu.Lock()
		if st := d.topics[topic]; st != nil && st.phase == joining {
			for _, s := range st.waiting {
				s.closeSinkLocked()
			}
			delete(d.topics, topic)
		}
		d.mu.Unlock()
		return
	}
	d.onJoin(topic)
}

// onJoin turns a Joining topic Live: an update task for every waiting
// subscription. A no-op for a topic that is not Joining.
func (d *Dispatcher) onJoin(topic proto.TopicID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.topics[topic]
	if st == nil || st.phase != joining {
		return
	}
	for _, s := range st.waiting {
		if s.sinkOpen || s.cmdsOpen {
			d.spawnUpdate(s)
			st.sinks = append(st.sinks, s)
		}
	}
	st.waiting = nil
	st.phase = live
	if len(st.sinks) == 0 {
		d.startQuitLocked(topic, st)
	}
}

func (d *Dispatcher) spawnUpdate(s *Subscription) {
	n := d.node
	s.updateRun = true
	n.wg.Add(1)
	n.env.Go(n.name+"/update_task", func() {
		defer n.wg.Done()
		for {
			var c subCmd
			var ok bool
			if sim.Select(n.env, sim.RecvCase(s.cmds, &c, &ok), sim.RecvCase(n.quit, nil, nil)) == 1 || !ok {
				return
			}
			if err := n.Broadcast(s.topic, c.content, c.neighbors); err != nil && !errors.Is(err, ErrClosed) {
				n.env.Logger().Warn("gossip: broadcast failed", "topic", s.topic.String(), "err", err.Error())
			}
		}
	})
}

func (d *Dispatcher) startQuitLocked(topic proto.TopicID, st *topicState) {
	st.phase = quitting
	n := d.node
	n.wg.Add(1)
	n.env.Go(n.name+"/quit_task", func() {
		defer n.wg.Done()
		_ = n.Quit(topic)
		d.mu.Lock()
		defer d.mu.Unlock()
		cur := d.topics[topic]
		if cur != st {
			return
		}
		delete(d.topics, topic)
		if len(st.waiting) > 0 {
			// Subscribed while quitting: join again.
			nst := &topicState{phase: joining, bootstrap: st.bootstrap, waiting: st.waiting}
			d.topics[topic] = nst
			d.spawnJoin(topic, nst.bootstrap)
		}
	})
}

// dispatchLoop is iroh's dispatch_loop: every event the actor emits goes
// to the sinks of its topic if the topic is Live.
func (d *Dispatcher) dispatchLoop() {
	for {
		te, _, ok := d.rx.Recv()
		if !ok {
			d.shutdown()
			return
		}
		d.mu.Lock()
		st := d.topics[te.topic]
		if st != nil && st.phase == joining {
			d.early++
			if d.variant == Buggy {
				// Before iroh #2482: the event of a topic still Joining is
				// dropped with a trace log ("received event for unknown
				// topic"); only join_task, three task hops behind, makes
				// it Live.
				d.mu.Unlock()
				continue
			}
			// #2482: make the topic Live first, then deliver.
			d.mu.Unlock()
			d.onJoin(te.topic)
			d.mu.Lock()
			st = d.topics[te.topic]
		}
		if st == nil || st.phase != live {
			d.mu.Unlock()
			continue
		}
		ev := toEvent(te.ev)
		kept := st.sinks[:0]
		for _, s := range st.sinks {
			if s.trySendLocked(ev) || s.cmdsOpen {
				kept = append(kept, s)
			}
		}
		st.sinks = kept
		if len(st.sinks) == 0 {
			d.startQuitLocked(te.topic, st)
		}
		d.mu.Unlock()
	}
}

// shutdown closes every subscription when the node closes.
func (d *Dispatcher) shutdown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for _, t := range sortedTopics(d.topics) {
		st := d.topics[t]
		for _, s := range append(st.waiting, st.sinks...) {
			s.closeSinkLocked()
		}
	}
}
