package proto

import "crypto/sha256"

// Plumtree epidemic broadcast trees (Leitão, Pereira, Rodrigues, SRDS 2007)
// as iroh-gossip implements it in proto/plumtree.rs: payloads are pushed
// eagerly along a spanning tree (the eager set), ids are announced lazily
// (IHAVE) to the other neighbours (the lazy set), duplicates prune a link
// out of the tree (PRUNE) and a missing payload grafts a lazy link into it
// (GRAFT).
//
// The eager and lazy sets only ever hold active neighbours of the topic:
// GRAFT, PRUNE and duplicate Gossip from a peer outside the active view are
// answered but do not change the sets.

// plumtree is one topic's broadcast state.
type plumtree struct {
	eager, lazy []PeerID

	// queue holds IHAVE entries per lazy peer until the dispatch timer.
	queue         []ihaveBatch
	dispatchArmed bool
	dispatchSeq   uint64

	// missing: ids announced by IHAVE but not received, with their
	// announcers in arrival order. missingIdx maps an id to its index in
	// missing (lookup only; missing is swap-removed).
	missing    []missingMsg
	missingIdx map[MessageID]int

	// received ids (for MessageIDRetention) and cached payloads (for
	// MessageCacheRetention), each with its expiry queue.
	received  map[MessageID]struct{}
	receivedQ expiryQueue
	cache     map[MessageID]cachedMsg
	cacheQ    expiryQueue
	// The eviction timer runs while either holds something.
	evictArmed bool
	evictSeq   uint64
}

type ihaveBatch struct {
	peer    PeerID
	entries []IHaveEntry
}

type announcer struct {
	peer  PeerID
	round uint16
}

type missingMsg struct {
	id  MessageID
	ads []announcer // not yet grafted, in arrival order
	seq uint64      // the live SendGraft timer
}

type cachedMsg struct {
	content []byte
	round   uint16 // our round: the received round + 1 (0 for our own)
}

func nextRound(r uint16) uint16 {
	if r == ^uint16(0) {
		return r
	}
	return r + 1
}

// messageID is the id of a payload: its SHA-256 (iroh: BLAKE3).
func messageID(content []byte) MessageID { return sha256.Sum256(content) }

func (p *plumtree) isReceived(id MessageID) bool {
	_, ok := p.received[id]
	return ok
}

// broadcast sends our own payload: swarm scope records and caches it,
// pushes it to the eager peers and announces it to the lazy ones; neighbour
// scope only pushes it to the eager peers.
func (t *topic) broadcast(c *ctx, content []byte, neighbors bool) {
	content = append([]byte(nil), content...)
	id := messageID(content)
	if neighbors {
		g := Gossip{ID: id, Content: content, Scope: DeliveryScope{Neighbors: true}}
		for _, p := range t.pt.eager {
			c.send(t, p, g)
		}
		return
	}
	t.remember(c, id, content, 0)
	g := Gossip{ID: id, Content: content, Scope: DeliveryScope{Round: 0}}
	t.eagerPush(c, g, c.s.me.ID)
	t.lazyPush(c, id, 0, c.s.me.ID)
}

// remember records a swarm message as received and caches its payload.
func (t *topic) remember(c *ctx, id MessageID, content []byte, round uint16) {
	cfg := &c.s.cfg.Broadcast
	p := &t.pt
	if p.received == nil {
		p.received = make(map[MessageID]struct{})
	}
	if _, ok := p.received[id]; !ok {
		p.received[id] = struct{}{}
		p.receivedQ.push(id, c.now.Add(cfg.MessageIDRetention))
	}
	if p.cache == nil {
		p.cache = make(map[MessageID]cachedMsg)
	}
	if _, ok := p.cache[id]; !ok {
		p.cacheQ.push(id, c.now.Add(cfg.MessageCacheRetention))
	}
	p.cache[id] = cachedMsg{content: content, round: round}
	if !p.evictArmed {
		p.evictArmed = true
		p.evictSeq = c.timer(t, cfg.CacheEvictInterval, TimerEvictCache, PeerID{}, MessageID{})
	}
}

func (t *topic) eagerPush(c *ctx, g Gossip, except PeerID) {
	for _, p := range t.pt.eager {
		if p != except {
			c.send(t, p, g)
		}
	}
}

// lazyPush queues an IHAVE for every lazy peer but except; the queue is
// sent DispatchTimeout later.
func (t *topic) lazyPush(c *ctx, id MessageID, round uint16, except PeerID) {
	p := &t.pt
	queued := false
	for _, peer := range p.lazy {
		if peer == except {
			continue
		}
		e := IHaveEntry{ID: id, Round: round}
		found := false
		for i := range p.queue {
			if p.queue[i].peer == peer {
				p.queue[i].entries = append(p.queue[i].entries, e)
				found = true
				break
			}
		}
		if !found {
			p.queue = append(p.queue, ihaveBatch{peer: peer, entries: []IHaveEntry{e}})
		}
		queued = true
	}
	if queued && !p.dispatchArmed {
		p.dispatchArmed = true
		p.dispatchSeq = c.timer(t, c.s.cfg.Broadcast.DispatchTimeout, TimerDispatchIHave, PeerID{}, MessageID{})
	}
}

// onDispatchTimer sends the queued IHAVEs, one message per peer (split at
// the wire's entry limit).
func (t *topic) onDispatchTimer(c *ctx) {
	p := &t.pt
	p.dispatchArmed = false
	queue := p.queue
	p.queue = nil
	for _, b := range queue {
		for len(b.entries) > 0 {
			n := min(len(b.entries), maxIHaveEntries)
			c.send(t, b.peer, IHave{Entries: b.entries[:n:n]})
			b.entries = b.entries[n:]
		}
	}
}

// onGossip: a payload from a peer.
func (t *topic) onGossip(c *ctx, from PeerID, g Gossip) {
	if len(g.Content) > c.s.cfg.MaxMessageSize || messageID(g.Content) != g.ID {
		t.stats.InvalidReceived++
		return
	}
	if t.pt.isReceived(g.ID) {
		// Already delivered: this link is redundant, take it out of the
		// tree on both ends.
		t.stats.DuplicatesReceived++
		t.addLazy(from)
		c.send(t, from, Prune{})
		return
	}
	if g.Scope.Neighbors {
		// Neighbour scope: delivered, never recorded or forwarded.
		t.deliver(c, from, g)
		return
	}
	round := nextRound(g.Scope.Round)
	t.remember(c, g.ID, g.Content, round)
	t.eagerPush(c, Gossip{ID: g.ID, Content: g.Content, Scope: DeliveryScope{Round: round}}, from)
	t.lazyPush(c, g.ID, round, from)
	if i, ok := t.pt.missingIdx[g.ID]; ok {
		m := t.pt.missing[i]
		t.removeMissing(i)
		t.optimize(c, from, round, m.ads)
	}
	t.deliver(c, from, g)
	if round > t.stats.MaxLastDeliveryHop {
		t.stats.MaxLastDeliveryHop = round
	}
}

func (t *topic) deliver(c *ctx, from PeerID, g Gossip) {
	t.stats.Delivered++
	c.event(t, EvReceived{Content: g.Content, DeliveredFrom: from, Scope: g.Scope})
}

// optimize repairs the tree: if an IHAVE for this message came from a
// peer at least OptimizationThreshold rounds closer to the origin than the
// eager delivery, graft that peer (without asking for a message) and prune
// the eager sender.
func (t *topic) optimize(c *ctx, from PeerID, round uint16, ads []announcer) {
	if len(ads) == 0 {
		return
	}
	best := ads[0]
	for _, a := range ads[1:] {
		if a.round < best.round {
			best = a
		}
	}
	if best.round >= round || round-best.round < c.s.cfg.Broadcast.OptimizationThreshold {
		return
	}
	if peerIndex(t.pt.eager, best.peer) < 0 {
		t.addEager(best.peer)
		c.send(t, best.peer, Graft{ID: nil, Round: best.round})
	}
	t.addLazy(from)
	c.send(t, from, Prune{})
}

// onIHave records announcers of messages we miss; the first announcement
// of an id starts its graft timer (GraftTimeout1).
func (t *topic) onIHave(c *ctx, from PeerID, b IHave) {
	p := &t.pt
	for _, e := range b.Entries {
		if p.isReceived(e.ID) {
			continue
		}
		if i, ok := p.missingIdx[e.ID]; ok {
			p.missing[i].ads = append(p.missing[i].ads, announcer{peer: from, round: e.Round})
			continue
		}
		seq := c.timer(t, c.s.cfg.Broadcast.GraftTimeout1, TimerSendGraft, PeerID{}, e.ID)
		if p.missingIdx == nil {
			p.missingIdx = make(map[MessageID]int)
		}
		p.missingIdx[e.ID] = len(p.missing)
		p.missing = append(p.missing, missingMsg{id: e.ID, ads: []announcer{{peer: from, round: e.Round}}, seq: seq})
	}
}

// onSendGraftTimer: the message is still missing. Graft the next announcer
// (it becomes eager and is asked for the message) and try the one after
// GraftTimeout2 later; with none left, forget the message.
func (t *topic) onSendGraftTimer(c *ctx, id MessageID, seq uint64) {
	p := &t.pt
	i, ok := p.missingIdx[id]
	if !ok || p.missing[i].seq != seq {
		return
	}
	m := &p.missing[i]
	if p.isReceived(id) || len(m.ads) == 0 {
		t.removeMissing(i)
		return
	}
	a := m.ads[0]
	m.ads = m.ads[1:]
	m.seq = c.timer(t, c.s.cfg.Broadcast.GraftTimeout2, TimerSendGraft, PeerID{}, id)
	t.addEager(a.peer)
	gid := id
	c.send(t, a.peer, Graft{ID: &gid, Round: a.round})
}

func (t *topic) removeMissing(i int) {
	p := &t.pt
	last := len(p.missing) - 1
	delete(p.missingIdx, p.missing[i].id)
	if i != last {
		p.missing[i] = p.missing[last]
		p.missingIdx[p.missing[i].id] = i
	}
	p.missing[last] = missingMsg{}
	p.missing = p.missing[:last]
	if len(p.missing) == 0 {
		p.missing, p.missingIdx = nil, nil
	}
}

// onGraft: the sender wants us to push to it (again); with an id, it also
// asks for that message, which we send if it is still cached.
func (t *topic) onGraft(c *ctx, from PeerID, b Graft) {
	t.addEager(from)
	if b.ID == nil {
		return
	}
	if m, ok := t.pt.cache[*b.ID]; ok {
		c.send(t, from, Gossip{ID: *b.ID, Content: m.content, Scope: DeliveryScope{Round: m.round}})
	}
}

func (t *topic) onPrune(from PeerID) { t.addLazy(from) }

// neighborUp: a new neighbour starts in the eager set.
func (t *topic) neighborUp(p PeerID) { t.addEager(p) }

// neighborDown forgets a peer: out of both sets, its queued IHAVEs
// dropped, and its announcements removed from the missing records.
func (t *topic) neighborDown(peer PeerID) {
	p := &t.pt
	p.eager = removePeer(p.eager, peer)
	p.lazy = removePeer(p.lazy, peer)
	for i := range p.queue {
		if p.queue[i].peer == peer {
			copy(p.queue[i:], p.queue[i+1:])
			p.queue[len(p.queue)-1] = ihaveBatch{}
			p.queue = p.queue[:len(p.queue)-1]
			break
		}
	}
	for i := 0; i < len(p.missing); {
		m := &p.missing[i]
		kept := m.ads[:0]
		for _, a := range m.ads {
			if a.peer != peer {
				kept = append(kept, a)
			}
		}
		m.ads = kept
		if len(m.ads) == 0 {
			t.removeMissing(i) // moves the last record to i
			continue
		}
		i++
	}
}

// addEager and addLazy move an active neighbour between the sets.
func (t *topic) addEager(peer PeerID) {
	if !t.hv.isActive(peer) {
		return
	}
	p := &t.pt
	p.lazy = removePeer(p.lazy, peer)
	if peerIndex(p.eager, peer) < 0 {
		p.eager = append(p.eager, peer)
	}
}

func (t *topic) addLazy(peer PeerID) {
	if !t.hv.isActive(peer) {
		return
	}
	p := &t.pt
	p.eager = removePeer(p.eager, peer)
	if peerIndex(p.lazy, peer) < 0 {
		p.lazy = append(p.lazy, peer)
	}
}

// onEvictTimer drops expired ids and payloads and re-arms while anything
// is left.
func (t *topic) onEvictTimer(c *ctx) {
	p := &t.pt
	p.evictArmed = false
	p.receivedQ.popExpired(c.now, func(id MessageID) { delete(p.received, id) })
	p.cacheQ.popExpired(c.now, func(id MessageID) { delete(p.cache, id) })
	if len(p.received) == 0 {
		p.received = nil
	}
	if len(p.cache) == 0 {
		p.cache = nil
	}
	if p.receivedQ.len() > 0 || p.cacheQ.len() > 0 {
		p.evictArmed = true
		p.evictSeq = c.timer(t, c.s.cfg.Broadcast.CacheEvictInterval, TimerEvictCache, PeerID{}, MessageID{})
	}
}
