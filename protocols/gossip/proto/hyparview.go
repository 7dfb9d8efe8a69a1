package proto

// HyParView membership (Leitão, Pereira, Rodrigues, DSN 2007) as iroh-gossip
// implements it in proto/hyparview.rs: a small symmetric active view of
// connected neighbours, a larger passive view of known peers, JOIN /
// FORWARDJOIN random walks to integrate new peers, NEIGHBOR requests to
// refill the active view from the passive one, and periodic SHUFFLE walks
// to refresh the passive view.

// hyparview is one topic's membership state.
type hyparview struct {
	active     []peerEntry
	passive    []peerEntry
	pending    []pendingNeighbor // NEIGHBOR requests sent to refill
	shuffleSeq uint64            // the live shuffle timer
}

// pendingNeighbor is a NEIGHBOR request waiting for an answer; seq is its
// timeout timer.
type pendingNeighbor struct {
	peer PeerID
	seq  uint64
}

func (h *hyparview) isActive(p PeerID) bool { return entryIndex(h.active, p) >= 0 }

func (h *hyparview) pendingIndex(p PeerID) int {
	for i := range h.pending {
		if h.pending[i].peer == p {
			return i
		}
	}
	return -1
}

func (h *hyparview) removePending(p PeerID) {
	if i := h.pendingIndex(p); i >= 0 {
		copy(h.pending[i:], h.pending[i+1:])
		h.pending = h.pending[:len(h.pending)-1]
	}
}

func (h *hyparview) removePassive(p PeerID) {
	if i := entryIndex(h.passive, p); i >= 0 {
		h.passive = removeEntryAt(h.passive, i)
	}
}

// knownData returns the data stored for p in either view.
func (h *hyparview) knownData(p PeerID) ([]byte, bool) {
	if i := entryIndex(h.active, p); i >= 0 {
		return h.active[i].data, true
	}
	if i := entryIndex(h.passive, p); i >= 0 {
		return h.passive[i].data, true
	}
	return nil, false
}

// learn records peer data for p (if p is in a view) and reports it to the
// shell with OutPeerData when it is new or changed. Empty data is neither
// reported nor stored over known data: it carries nothing to reach the
// peer with.
func (t *topic) learn(c *ctx, p PeerID, data []byte) {
	if len(data) == 0 {
		return
	}
	old, known := t.hv.knownData(p)
	if known && bytesEqual(old, data) {
		return
	}
	c.peerData(p, data)
	if !known {
		return
	}
	if i := entryIndex(t.hv.active, p); i >= 0 {
		t.hv.active[i].data = data
	} else if i := entryIndex(t.hv.passive, p); i >= 0 {
		t.hv.passive[i].data = data
	}
}

// onJoin: a new peer joins through us. Add it to the active view (evicting
// a random neighbour if full) and spread a FORWARDJOIN to every other
// neighbour.
func (t *topic) onJoin(c *ctx, from PeerID, b Join) {
	t.addActive(c, from, b.Data, PriorityHigh)
	cfg := &c.s.cfg.Membership
	info := PeerInfo{ID: from, Data: b.Data}
	for _, e := range t.hv.active {
		if e.id != from {
			c.send(t, e.id, ForwardJoin{Peer: info, TTL: cfg.ActiveRandomWalkLength})
		}
	}
}

// onForwardJoin: one step of a join's random walk.
func (t *topic) onForwardJoin(c *ctx, from PeerID, b ForwardJoin) {
	n := b.Peer.ID
	cfg := &c.s.cfg.Membership
	// A walk that came back to the joining peer itself adds nothing and
	// walks on (iroh).
	if n != c.s.me.ID {
		if b.TTL == 0 || len(t.hv.active) <= 1 {
			t.addActive(c, n, b.Peer.Data, PriorityHigh)
		} else if b.TTL == cfg.PassiveRandomWalkLength {
			t.addPassive(c, n, b.Peer.Data)
		}
		if t.hv.isActive(n) {
			return
		}
	}
	i := pickIndex(c.s.rnd, len(t.hv.active), func(i int) bool {
		id := t.hv.active[i].id
		return id == from || id == n
	})
	if i < 0 {
		return
	}
	ttl := b.TTL
	if ttl > 0 {
		ttl--
	}
	c.send(t, t.hv.active[i].id, ForwardJoin{Peer: b.Peer, TTL: ttl})
}

// onNeighbor: a request to be added to our active view, or the answer to
// one. High priority is always accepted; low only with a free slot.
func (t *topic) onNeighbor(c *ctx, from PeerID, b Neighbor) {
	t.hv.removePending(from)
	switch b.Priority {
	case PriorityHigh:
		t.addActive(c, from, b.Data, PriorityHigh)
	default:
		if len(t.hv.active) < c.s.cfg.Membership.ActiveViewCapacity || t.hv.isActive(from) {
			t.addActive(c, from, b.Data, PriorityLow)
		}
	}
}

// onShuffle: one step of a shuffle walk. At its end (TTL 0, or a single
// neighbour) take the nodes into the passive view and answer the origin
// with as many of our passive peers; otherwise walk on.
func (t *topic) onShuffle(c *ctx, from PeerID, b Shuffle) {
	origin := b.Origin.ID
	if origin == c.s.me.ID {
		return
	}
	if b.TTL > 0 && len(t.hv.active) > 1 {
		i := pickIndex(c.s.rnd, len(t.hv.active), func(i int) bool {
			id := t.hv.active[i].id
			return id == origin || id == from
		})
		if i >= 0 {
			c.send(t, t.hv.active[i].id, Shuffle{Origin: b.Origin, Nodes: b.Nodes, TTL: b.TTL - 1})
			return
		}
		// No neighbour to walk on to: the walk ends here.
	}
	n := len(b.Nodes)
	if n > maxShuffleNodes {
		n = maxShuffleNodes
	}
	for _, node := range b.Nodes[:n] {
		t.addPassive(c, node.ID, node.Data)
	}
	reply := sampleEntries(c.s.rnd, t.hv.passive, n, func(p PeerID) bool { return p == origin })
	// The shell needs the origin's data to dial it for the reply.
	t.learn(c, origin, b.Origin.Data)
	c.send(t, origin, ShuffleReply{Nodes: reply})
}

func (t *topic) onShuffleReply(c *ctx, b ShuffleReply) {
	nodes := b.Nodes
	if len(nodes) > maxShuffleNodes {
		nodes = nodes[:maxShuffleNodes]
	}
	for _, node := range nodes {
		t.addPassive(c, node.ID, node.Data)
	}
}

// onDisconnect handles DISCONNECT{alive, respond} from p, and (alive,
// !respond) for an IO-level disconnect. An active p is removed (with a
// DISCONNECT back if respond), kept in the passive view if alive, and the
// active view is refilled from the passive one.
func (t *topic) onDisconnect(c *ctx, p PeerID, alive, respond bool) {
	t.hv.removePending(p)
	i := entryIndex(t.hv.active, p)
	if i < 0 {
		// Not a neighbour: nothing to refill (iroh). A refill request
		// ended this way (the peer refused and closed the connection) is
		// not retried with another peer; the view refills on the next
		// loss of a neighbour.
		if !alive {
			t.hv.removePassive(p)
		}
		return
	}
	e := t.hv.active[i]
	t.hv.active = removeEntryAt(t.hv.active, i)
	if respond {
		c.send(t, p, Disconnect{Alive: true, Respond: false})
	}
	t.neighborDownEvent(c, p)
	c.disconnectIfUnused(p)
	if alive {
		t.insertPassive(c, e)
	}
	t.refill(c, p)
}

// onShuffleTimer starts a shuffle walk from a random neighbour with a
// sample of both views, and re-arms the timer.
func (t *topic) onShuffleTimer(c *ctx) {
	cfg := &c.s.cfg.Membership
	if len(t.hv.active) > 0 {
		p := t.hv.active[c.s.rnd.Intn(len(t.hv.active))].id
		skip := func(q PeerID) bool { return q == p }
		nodes := sampleEntries(c.s.rnd, t.hv.active, cfg.ShuffleActiveViewCount, skip)
		nodes = append(nodes, sampleEntries(c.s.rnd, t.hv.passive, cfg.ShufflePassiveViewCount, skip)...)
		c.send(t, p, Shuffle{
			Origin: PeerInfo{ID: c.s.me.ID, Data: c.s.me.Data},
			Nodes:  nodes,
			TTL:    cfg.ShuffleRandomWalkLength,
		})
	}
	t.hv.shuffleSeq = c.timer(t, cfg.ShuffleInterval, TimerShuffle, PeerID{}, MessageID{})
}

// onNeighborRequestTimer: a refill request went unanswered. Drop the peer
// from the passive view and try another.
func (t *topic) onNeighborRequestTimer(c *ctx, p PeerID, seq uint64) {
	i := t.hv.pendingIndex(p)
	if i < 0 || t.hv.pending[i].seq != seq {
		return
	}
	t.hv.removePending(p)
	t.hv.removePassive(p)
	// The connection dialled for the request is no longer needed. (If the
	// peer holds us as active while we do not, closing it also tells the
	// peer to drop us, which restores the symmetry of the views.)
	c.disconnectIfUnused(p)
	t.refill(c, PeerID{})
}

// refill sends one NEIGHBOR request to a random passive peer (not skip and
// not already asked) if the active view plus the pending requests are
// below capacity: high priority if we have no neighbour at all.
func (t *topic) refill(c *ctx, skip PeerID) {
	cfg := &c.s.cfg.Membership
	if len(t.hv.active)+len(t.hv.pending) >= cfg.ActiveViewCapacity {
		return
	}
	i := pickIndex(c.s.rnd, len(t.hv.passive), func(i int) bool {
		id := t.hv.passive[i].id
		return id == skip || t.hv.pendingIndex(id) >= 0
	})
	if i < 0 {
		return
	}
	p := t.hv.passive[i].id
	prio := PriorityLow
	if len(t.hv.active) == 0 {
		prio = PriorityHigh
	}
	c.send(t, p, Neighbor{Priority: prio, Data: c.s.me.Data})
	seq := c.timer(t, cfg.NeighborRequestTimeout, TimerNeighborRequest, p, MessageID{})
	t.hv.pending = append(t.hv.pending, pendingNeighbor{peer: p, seq: seq})
}

// addActive adds p to the active view: evict a random neighbour first if
// full (high priority only; low priority is refused then), take p out of
// the passive view, send it NEIGHBOR with our priority and emit
// NeighborUp. It reports whether p is active afterwards. If p is already
// active only its data is updated.
func (t *topic) addActive(c *ctx, p PeerID, data []byte, prio Priority) bool {
	if p == c.s.me.ID {
		return false
	}
	t.learn(c, p, data)
	if t.hv.isActive(p) {
		return true
	}
	cfg := &c.s.cfg.Membership
	if len(t.hv.active) >= cfg.ActiveViewCapacity {
		if prio != PriorityHigh {
			return false
		}
		t.evictRandomActive(c)
	}
	if len(data) == 0 {
		data, _ = t.hv.knownData(p) // keep what the passive view knew
	}
	t.hv.removePassive(p)
	t.hv.removePending(p)
	t.hv.active = append(t.hv.active, peerEntry{id: p, data: data})
	c.send(t, p, Neighbor{Priority: prio, Data: c.s.me.Data})
	t.neighborUpEvent(c, p)
	return true
}

// evictRandomActive frees a slot: a random neighbour gets
// DISCONNECT{alive: true, respond: false}, its connection is closed (if no
// other topic uses it), NeighborDown is emitted and it moves to the
// passive view. No refill: the slot is about to be taken.
func (t *topic) evictRandomActive(c *ctx) {
	i := c.s.rnd.Intn(len(t.hv.active))
	e := t.hv.active[i]
	t.hv.active = removeEntryAt(t.hv.active, i)
	c.send(t, e.id, Disconnect{Alive: true, Respond: false})
	c.disconnectIfUnused(e.id)
	t.neighborDownEvent(c, e.id)
	t.insertPassive(c, e)
}

// addPassive learns p's data and inserts p into the passive view unless
// it is us or already in a view; a full passive view drops a random peer.
func (t *topic) addPassive(c *ctx, p PeerID, data []byte) {
	if p == c.s.me.ID {
		return
	}
	t.learn(c, p, data)
	if _, known := t.hv.knownData(p); known {
		return
	}
	t.insertPassive(c, peerEntry{id: p, data: data})
}

func (t *topic) insertPassive(c *ctx, e peerEntry) {
	capacity := c.s.cfg.Membership.PassiveViewCapacity
	if capacity == 0 || e.id == c.s.me.ID || t.hv.isActive(e.id) || entryIndex(t.hv.passive, e.id) >= 0 {
		return
	}
	if len(t.hv.passive) >= capacity {
		t.hv.passive = removeEntryAt(t.hv.passive, c.s.rnd.Intn(len(t.hv.passive)))
	}
	t.hv.passive = append(t.hv.passive, e)
}
