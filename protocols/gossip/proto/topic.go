package proto

// topic is one topic's swarm: HyParView membership and Plumtree broadcast
// (iroh-gossip proto::topic::State). HyParView's NeighborUp and
// NeighborDown feed Plumtree's eager and lazy sets as they happen.
type topic struct {
	id    TopicID
	hv    hyparview
	pt    plumtree
	stats Stats
}

func (t *topic) onMessage(c *ctx, from PeerID, body Body) {
	if _, ok := body.(Gossip); ok {
		t.stats.GossipReceived++
	} else {
		t.stats.ControlReceived++
	}
	switch b := body.(type) {
	case Join:
		t.onJoin(c, from, b)
	case ForwardJoin:
		t.onForwardJoin(c, from, b)
	case Neighbor:
		t.onNeighbor(c, from, b)
	case Shuffle:
		t.onShuffle(c, from, b)
	case ShuffleReply:
		t.onShuffleReply(c, b)
	case Disconnect:
		t.onDisconnect(c, from, b.Alive, b.Respond)
	case Gossip:
		t.onGossip(c, from, b)
	case IHave:
		t.onIHave(c, from, b)
	case Graft:
		t.onGraft(c, from, b)
	case Prune:
		t.onPrune(from)
	}
}

func (t *topic) onTimer(c *ctx, tm Timer) {
	switch tm.Kind {
	case TimerShuffle:
		if tm.Seq == t.hv.shuffleSeq {
			t.onShuffleTimer(c)
		}
	case TimerNeighborRequest:
		t.onNeighborRequestTimer(c, tm.Peer, tm.Seq)
	case TimerDispatchIHave:
		if t.pt.dispatchArmed && tm.Seq == t.pt.dispatchSeq {
			t.onDispatchTimer(c)
		}
	case TimerSendGraft:
		t.onSendGraftTimer(c, tm.ID, tm.Seq)
	case TimerEvictCache:
		if t.pt.evictArmed && tm.Seq == t.pt.evictSeq {
			t.onEvictTimer(c)
		}
	}
}

// onPeerDisconnected is an IO-level disconnect: DISCONNECT{alive: true,
// respond: false}, and Plumtree forgets the peer's IHAVE records even if
// it was not a neighbour.
func (t *topic) onPeerDisconnected(c *ctx, p PeerID) {
	t.onDisconnect(c, p, true, false)
	t.neighborDown(p)
}

// neighborUpEvent and neighborDownEvent are HyParView's view changes:
// the event for subscribers and Plumtree's reaction.
func (t *topic) neighborUpEvent(c *ctx, p PeerID) {
	c.event(t, EvNeighborUp{Peer: p})
	t.neighborUp(p)
}

func (t *topic) neighborDownEvent(c *ctx, p PeerID) {
	c.event(t, EvNeighborDown{Peer: p})
	t.neighborDown(p)
}

// quit leaves the topic: DISCONNECT{alive: false, respond: true} to every
// active peer, NeighborDown for each, then the topic's state is dropped and
// connections no other topic needs are closed.
func (t *topic) quit(c *ctx) {
	active := t.hv.active
	for _, e := range active {
		c.send(t, e.id, Disconnect{Alive: false, Respond: true})
	}
	for _, e := range active {
		c.event(t, EvNeighborDown{Peer: e.id})
	}
	pending := t.hv.pending
	c.s.dropTopic(t)
	for _, e := range active {
		c.disconnectIfUnused(e.id)
	}
	for _, p := range pending {
		c.disconnectIfUnused(p.peer)
	}
}
