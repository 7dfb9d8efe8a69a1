package proto

import (
	"fmt"
	"time"
)

// State is one node's protocol state: a HyParView + Plumtree swarm per
// topic (iroh-gossip proto::State). It is not safe for concurrent use; the
// shell owns it and feeds it inputs one at a time.
type State struct {
	me    PeerInfo
	cfg   Config
	rnd   Rand
	seq   uint64             // last timer sequence number handed out
	order []*topic           // topics in creation order
	index map[TopicID]*topic // lookup only, never ranged over
}

// TopicView is a copy of one topic's peer sets.
type TopicView struct {
	// Active and Passive are the HyParView views.
	Active, Passive []PeerID
	// Eager and Lazy are the Plumtree push sets (a partition of a subset
	// of Active).
	Eager, Lazy []PeerID
	// PendingNeighbor are the peers a NEIGHBOR request (refill) is out to.
	PendingNeighbor []PeerID
}

// Stats counts a topic's traffic since the topic was created.
type Stats struct {
	// GossipSent and GossipReceived count payload (Gossip) messages.
	GossipSent, GossipReceived uint64
	// Delivered counts EvReceived events emitted.
	Delivered uint64
	// DuplicatesReceived counts Gossip for an id already received (each
	// answered with PRUNE).
	DuplicatesReceived uint64
	// InvalidReceived counts Gossip dropped because its id is not the
	// hash of its content or it is larger than MaxMessageSize.
	InvalidReceived uint64
	// IHaveSent, GraftSent and PruneSent count those Plumtree messages.
	IHaveSent, GraftSent, PruneSent uint64
	// ControlSent and ControlReceived count every message that is not
	// Gossip (HyParView and Plumtree control).
	ControlSent, ControlReceived uint64
	// MaxLastDeliveryHop is the largest hop count (received round + 1) of
	// a swarm message delivered here: the LDH metric of the Plumtree paper.
	MaxLastDeliveryHop uint16
}

// NewState returns the state of node me (me.Data is its own peer data,
// sent in JOIN and NEIGHBOR). Every random choice is drawn from rnd.
func NewState(me PeerInfo, cfg Config, rnd Rand) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rnd == nil {
		return nil, fmt.Errorf("gossip: NewState: nil Rand")
	}
	return &State{me: me, cfg: cfg, rnd: rnd}, nil
}

// Me is this node's id.
func (s *State) Me() PeerID { return s.me.ID }

// Topics lists the topics with state, in creation order.
func (s *State) Topics() []TopicID {
	if len(s.order) == 0 {
		return nil
	}
	out := make([]TopicID, len(s.order))
	for i, t := range s.order {
		out[i] = t.id
	}
	return out
}

// View returns a copy of a topic's peer sets, and false if the node has no
// state for the topic.
func (s *State) View(id TopicID) (TopicView, bool) {
	t := s.topic(id)
	if t == nil {
		return TopicView{}, false
	}
	v := TopicView{
		Active:  entryIDs(t.hv.active),
		Passive: entryIDs(t.hv.passive),
		Eager:   clonePeers(t.pt.eager),
		Lazy:    clonePeers(t.pt.lazy),
	}
	for _, p := range t.hv.pending {
		v.PendingNeighbor = append(v.PendingNeighbor, p.peer)
	}
	return v, true
}

// Stats returns a topic's counters (zero for an unknown topic).
func (s *State) Stats(id TopicID) Stats {
	if t := s.topic(id); t != nil {
		return t.stats
	}
	return Stats{}
}

// NeedsPeer reports whether some topic has p in its active view or a
// NEIGHBOR request pending to it, i.e. whether the connection to p is in
// use.
func (s *State) NeedsPeer(p PeerID) bool {
	for _, t := range s.order {
		if t.hv.isActive(p) || t.hv.pendingIndex(p) >= 0 {
			return true
		}
	}
	return false
}

// Handle processes one input at time now and appends the resulting
// outputs to out, in the order the shell must carry them out. It returns
// an error only for a bad command (an oversized broadcast, an unknown
// command or input type); nothing is changed then.
func (s *State) Handle(now time.Time, in Input, out []Output) ([]Output, error) {
	c := ctx{s: s, now: now, out: out}
	var err error
	switch in := normInput(in).(type) {
	case InMessage:
		s.onMessage(&c, in.From, in.Msg)
	case InCommand:
		err = s.onCommand(&c, in.Topic, in.Cmd)
	case InTimer:
		if t := s.topic(in.Timer.Topic); t != nil {
			t.onTimer(&c, in.Timer)
		}
	case InPeerDisconnected:
		if in.Peer != s.me.ID {
			// Later topics see the peer already gone from earlier ones;
			// iterate a snapshot since nothing here adds or drops topics.
			for _, t := range s.order {
				t.onPeerDisconnected(&c, in.Peer)
			}
		}
	case InUpdatePeerData:
		s.me.Data = in.Data
	default:
		err = fmt.Errorf("gossip: unknown input %T", in)
	}
	return c.out, err
}

func (s *State) topic(id TopicID) *topic {
	if len(s.order) <= 4 {
		// A node has a topic or a few: comparing ids beats hashing one.
		for _, t := range s.order {
			if t.id == id {
				return t
			}
		}
		return nil
	}
	return s.index[id]
}

// createTopic makes the state for a topic on its first event and starts
// its shuffle timer.
func (s *State) createTopic(c *ctx, id TopicID) *topic {
	t := &topic{id: id}
	if s.index == nil {
		s.index = make(map[TopicID]*topic)
	}
	s.index[id] = t
	s.order = append(s.order, t)
	t.hv.shuffleSeq = c.timer(t, s.cfg.Membership.ShuffleInterval, TimerShuffle, PeerID{}, MessageID{})
	return t
}

func (s *State) dropTopic(t *topic) {
	delete(s.index, t.id)
	for i, o := range s.order {
		if o == t {
			copy(s.order[i:], s.order[i+1:])
			s.order[len(s.order)-1] = nil
			s.order = s.order[:len(s.order)-1]
			break
		}
	}
}

func (s *State) onMessage(c *ctx, from PeerID, msg Message) {
	body := normBody(msg.Body)
	if body == nil || from == s.me.ID {
		return
	}
	_, isDisconnect := body.(Disconnect)
	t := s.topic(msg.Topic)
	if t == nil {
		if isDisconnect {
			// A DISCONNECT cannot join us to a topic; typically it answers
			// our own quit (respond: true) after the topic was dropped.
			return
		}
		t = s.createTopic(c, msg.Topic)
	}
	t.onMessage(c, from, body)
	// iroh closes the connection to a peer that is not an active neighbour
	// once its message is handled (a passive peer's NEIGHBOR that was
	// refused, the end of a SHUFFLE walk, ...), unless another topic or a
	// pending NEIGHBOR request still uses it.
	if !isDisconnect {
		c.disconnectIfUnused(from)
	}
}

func (s *State) onCommand(c *ctx, id TopicID, cmd Command) error {
	switch cmd := normCommand(cmd).(type) {
	case CmdJoin:
		t := s.topic(id)
		if t == nil {
			t = s.createTopic(c, id)
		}
		for _, p := range cmd.Peers {
			if p != s.me.ID {
				c.send(t, p, Join{Data: s.me.Data})
			}
		}
	case CmdBroadcast:
		if n := len(cmd.Content); n > s.cfg.MaxMessageSize {
			return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, n, s.cfg.MaxMessageSize)
		}
		t := s.topic(id)
		if t == nil {
			t = s.createTopic(c, id)
		}
		t.broadcast(c, cmd.Content, cmd.Neighbors)
	case CmdQuit:
		if t := s.topic(id); t != nil {
			t.quit(c)
		}
	default:
		return fmt.Errorf("gossip: unknown command %T", cmd)
	}
	return nil
}

// ctx carries one Handle call: the state, the time and the outputs.
type ctx struct {
	s   *State
	now time.Time
	out []Output
}

func (c *ctx) send(t *topic, to PeerID, b Body) {
	switch b.(type) {
	case Gossip:
		t.stats.GossipSent++
	case IHave:
		t.stats.IHaveSent++
		t.stats.ControlSent++
	case Graft:
		t.stats.GraftSent++
		t.stats.ControlSent++
	case Prune:
		t.stats.PruneSent++
		t.stats.ControlSent++
	default:
		t.stats.ControlSent++
	}
	c.out = append(c.out, OutSend{To: to, Msg: Message{Topic: t.id, Body: b}})
}

func (c *ctx) event(t *topic, ev Event) {
	c.out = append(c.out, OutEvent{Topic: t.id, Event: ev})
}

// timer asks for a timer and returns its sequence number, which the
// handler of the expiry compares with the one it stored to ignore stale
// timers (timers cannot be cancelled).
func (c *ctx) timer(t *topic, after time.Duration, kind TimerKind, peer PeerID, id MessageID) uint64 {
	c.s.seq++
	c.out = append(c.out, OutTimer{After: after, Timer: Timer{Topic: t.id, Kind: kind, Peer: peer, ID: id, Seq: c.s.seq}})
	return c.s.seq
}

func (c *ctx) peerData(p PeerID, data []byte) {
	c.out = append(c.out, OutPeerData{Peer: p, Data: data})
}

// disconnectIfUnused closes the connection to p if no topic needs it.
func (c *ctx) disconnectIfUnused(p PeerID) {
	if !c.s.NeedsPeer(p) {
		c.out = append(c.out, OutDisconnect{Peer: p})
	}
}

// normInput, normCommand and normBody accept pointers to the value types
// too, so a shell or decoder that builds pointers is handled alike.
func normInput(in Input) Input {
	switch v := in.(type) {
	case *InMessage:
		if v != nil {
			return *v
		}
	case *InCommand:
		if v != nil {
			return *v
		}
	case *InTimer:
		if v != nil {
			return *v
		}
	case *InPeerDisconnected:
		if v != nil {
			return *v
		}
	case *InUpdatePeerData:
		if v != nil {
			return *v
		}
	}
	return in
}

func normCommand(cmd Command) Command {
	switch v := cmd.(type) {
	case *CmdJoin:
		if v != nil {
			return *v
		}
	case *CmdBroadcast:
		if v != nil {
			return *v
		}
	case *CmdQuit:
		if v != nil {
			return *v
		}
	}
	return cmd
}

// normBody returns the value form of b, or nil for a nil or unknown body.
func normBody(b Body) Body {
	switch v := b.(type) {
	case Join, ForwardJoin, Neighbor, Shuffle, ShuffleReply, Disconnect, Gossip, IHave, Graft, Prune:
		return v
	case *Join:
		if v != nil {
			return *v
		}
	case *ForwardJoin:
		if v != nil {
			return *v
		}
	case *Neighbor:
		if v != nil {
			return *v
		}
	case *Shuffle:
		if v != nil {
			return *v
		}
	case *ShuffleReply:
		if v != nil {
			return *v
		}
	case *Disconnect:
		if v != nil {
			return *v
		}
	case *Gossip:
		if v != nil {
			return *v
		}
	case *IHave:
		if v != nil {
			return *v
		}
	case *Graft:
		if v != nil {
			return *v
		}
	case *Prune:
		if v != nil {
			return *v
		}
	}
	return nil
}
