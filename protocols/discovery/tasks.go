package discovery

import (
	"bytes"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"
)

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// broadcast sends one presence round: to the subnet broadcast address of
// every broadcast interface (and to 255.255.255.255 with
// Options.LimitedBroadcast), from a socket bound to that interface's
// address.
func (n *Node) broadcast() {
	port := uint16(n.opts.BroadcastPort)
	for _, s := range n.sends {
		dsts := []netip.Addr{s.iface.Broadcast}
		if n.opts.LimitedBroadcast {
			dsts = append(dsts, limitedBroadcast)
		}
		for _, d := range dsts {
			if _, err := s.pc.WriteTo(s.payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(d, port))); err != nil && !isClosedErr(err) {
				n.env.Logger().Info("discovery: broadcast failed", "node", n.opts.NodeID, "iface", s.iface.Name, "err", err)
			}
		}
	}
	if h := n.opts.Hooks.OnBroadcast; h != nil {
		h(n.env.Now())
	}
}

// --- Fixed and RacyCleanup: exo's three tasks ---

// broadcastLoop is task_broadcast_presence: broadcast, sleep the interval.
func (n *Node) broadcastLoop() {
	for {
		n.broadcast()
		if !n.wait(n.opts.BroadcastInterval) {
			return
		}
	}
}

// listenLoop is the listen endpoint: every datagram is handled in a task
// of its own (datagram_received -> create_task(on_listen_message)).
func (n *Node) listenLoop() {
	buf := make([]byte, MaxDatagramSize+1) // one more: to see oversized ones
	for {
		k, from, err := n.listen.ReadFrom(buf)
		if err != nil {
			if isClosedErr(err) || n.isClosing() {
				return
			}
			n.env.Logger().Info("discovery: listen failed", "node", n.opts.NodeID, "err", err)
			if !n.wait(n.opts.BroadcastInterval / 2) {
				return
			}
			continue
		}
		data := bytes.Clone(buf[:k])
		if n.isClosing() {
			return
		}
		n.spawn("handle", func() { n.handle(data, from) })
	}
}

// cleanupLoop is task_cleanup_peers: a pass, then sleep CleanupInterval.
func (n *Node) cleanupLoop() {
	for {
		n.cleanup(true)
		if !n.wait(n.opts.CleanupInterval) {
			return
		}
	}
}

// --- Blocking: the #34 model ---

// blockingLoop is the node's only discovery task in the Blocking variant.
// The listen step comes first and blocks (no deadline) until a datagram
// arrives: only then is it handled (inline, health check included) and
// only then are a due broadcast and a due cleanup pass run. Close unblocks
// it by closing the socket.
func (n *Node) blockingLoop() {
	buf := make([]byte, MaxDatagramSize+1)
	start := n.env.Now()
	nextBroadcast, nextCleanup := start, start
	for {
		from := n.env.Now()
		k, addr, err := n.listen.ReadFrom(buf)
		if h := n.opts.Hooks.OnLoopBlocked; h != nil {
			h(from, n.env.Now())
		}
		if err != nil {
			if isClosedErr(err) || n.isClosing() {
				return
			}
			n.env.Logger().Info("discovery: listen failed", "node", n.opts.NodeID, "err", err)
			if !n.wait(n.opts.BroadcastInterval / 2) {
				return
			}
			continue
		}
		n.handle(buf[:k], addr)
		if n.isClosing() {
			return
		}
		if now := n.env.Now(); !now.Before(nextBroadcast) {
			n.broadcast()
			nextBroadcast = now.Add(n.opts.BroadcastInterval)
		}
		if now := n.env.Now(); !now.Before(nextCleanup) {
			n.cleanup(false)
			nextCleanup = n.env.Now().Add(n.opts.CleanupInterval)
		}
	}
}

// --- on_listen_message ---

// handle is on_listen_message for one datagram from addr.
func (n *Node) handle(data []byte, from net.Addr) {
	p, err := DecodePresence(data)
	if err != nil {
		n.drop(dropReason(err))
		return
	}
	if p.NodeID == n.opts.NodeID {
		return // our own broadcast
	}
	if len(n.opts.AllowedNodeIDs) > 0 && !slices.Contains(n.opts.AllowedNodeIDs, p.NodeID) {
		n.drop(DropNotAllowed)
		return
	}
	if len(n.opts.AllowedInterfaceTypes) > 0 && !slices.Contains(n.opts.AllowedInterfaceTypes, p.InterfaceType) {
		n.drop(DropInterfaceType)
		return
	}
	ip, ok := sourceIP(from)
	if !ok {
		n.drop(DropBadSource)
		return
	}
	addr := netip.AddrPortFrom(ip, uint16(p.GRPCPort)).String()

	e, known, ok := n.lookup(p, addr)
	if !ok {
		return
	}
	if !known {
		// Unknown, or known under another address with a lower priority:
		// health-check the new address, then add or replace.
		if !n.healthCheck(addr, p.NodeID) {
			return
		}
		n.install(p, addr)
	} else {
		// Known at this address: health-check it, then refresh or remove.
		healthy := n.healthCheck(addr, p.NodeID)
		if n.refresh(p, e, healthy) {
			if h := n.opts.Hooks.OnResurrect; h != nil {
				h(p.NodeID)
			}
		}
	}
	n.flush()
}

// lookup is the check before the await: e is the current entry (nil if
// unknown); known is true if e is at addr. ok is false if the presence is
// to be ignored (the node is closing, or e has at least its priority).
func (n *Node) lookup(p Presence, addr string) (e *peerEntry, known, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return nil, false, false
	}
	e = n.peers[p.NodeID]
	if e != nil && e.addr == addr {
		return e, true, true
	}
	if e != nil && e.prio >= p.Priority {
		return e, false, false
	}
	return e, false, true
}

// install writes a health-checked new address after the await. Fixed
// re-checks: if the peer now has an entry at this address or one of at
// least this priority (installed during the await), nothing is written. RacyCleanup writes whatever happened (exo's unconditional
// known_peers[id] = ...).
func (n *Node) install(p Presence, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	cur := n.peers[p.NodeID]
	if n.opts.Variant != RacyCleanup && cur != nil && (cur.addr == addr || cur.prio >= p.Priority) {
		return
	}
	now := n.env.Now()
	ne := &peerEntry{
		id: p.NodeID, addr: addr, prio: p.Priority, iface: p.InterfaceName, caps: p.Capabilities,
		connectedAt: now, lastSeen: now,
	}
	n.peers[p.NodeID] = ne
	if cur == nil {
		n.emitLocked(PeerUp, ne, "")
	} else {
		n.emitLocked(PeerUpdated, ne, "")
	}
}

// refresh applies a health check of known entry e after the await. It
// reports whether the peer had been removed meanwhile (for OnResurrect).
func (n *Node) refresh(p Presence, e *peerEntry, healthy bool) (removed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	cur := n.peers[p.NodeID]
	racy := n.opts.Variant == RacyCleanup
	if !healthy {
		// Fixed: only the entry that was checked; RacyCleanup: whatever
		// is under the id now.
		if cur != nil && (racy || cur == e) {
			delete(n.peers, p.NodeID)
			n.emitLocked(PeerDown, cur, ReasonUnhealthy)
		}
		return false
	}
	removed = cur == nil // cleanup removed the peer during the await: #308
	if cur != e && !racy {
		return removed // #310: re-check membership before writing
	}
	// RacyCleanup writes the entry it held before the await back: a
	// removed peer reappears (without a PeerUp), a replaced one reverts.
	e.lastSeen = n.env.Now()
	e.prio = p.Priority
	n.peers[p.NodeID] = e
	return removed
}

// --- task_cleanup_peers ---

type cleanupSnap struct {
	e        *peerEntry
	addr     string
	lastSeen time.Time
}

// cleanup is one pass of task_cleanup_peers over a snapshot of the ids
// (sorted): every peer is health-checked (concurrently, as
// asyncio.gather, or one after the other in the Blocking loop), then a
// peer is removed if it was not seen for PeerTimeout at the start of the
// pass or its check failed. Fixed removes only if the entry is still the
// one checked and was not refreshed meanwhile; RacyCleanup deletes
// whatever is under the id.
func (n *Node) cleanup(concurrent bool) {
	now := n.env.Now()
	ids, snaps := n.snapshot()
	if len(ids) == 0 {
		return
	}
	healthy := make([]bool, len(ids))
	if concurrent {
		wg := n.env.NewWaitGroup()
		for i := range ids {
			wg.Add(1)
			n.spawn("check", func() {
				defer wg.Done()
				healthy[i] = n.healthCheck(snaps[i].addr, ids[i])
			})
		}
		wg.Wait()
	} else {
		for i := range ids {
			healthy[i] = n.healthCheck(snaps[i].addr, ids[i])
		}
	}
	n.removeExpired(now, ids, snaps, healthy)
	n.flush()
}

func (n *Node) snapshot() ([]string, []cleanupSnap) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return nil, nil
	}
	ids := slices.Sorted(maps.Keys(n.peers))
	snaps := make([]cleanupSnap, len(ids))
	for i, id := range ids {
		e := n.peers[id]
		snaps[i] = cleanupSnap{e: e, addr: e.addr, lastSeen: e.lastSeen}
	}
	return ids, snaps
}

func (n *Node) removeExpired(now time.Time, ids []string, snaps []cleanupSnap, healthy []bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return
	}
	for i, id := range ids {
		s := snaps[i]
		reason := ""
		switch {
		case now.Sub(s.lastSeen) > n.opts.PeerTimeout:
			reason = ReasonTimeout
		case !healthy[i]:
			reason = ReasonUnhealthy
		default:
			continue
		}
		cur := n.peers[id]
		if cur == nil {
			continue
		}
		if n.opts.Variant != RacyCleanup && (cur != s.e || !cur.lastSeen.Equal(s.lastSeen)) {
			continue // #309: replaced or refreshed during the checks
		}
		delete(n.peers, id)
		n.emitLocked(PeerDown, cur, reason)
	}
}

// sourceIP is the IPv4 address a datagram came from.
func sourceIP(a net.Addr) (netip.Addr, bool) {
	if ua, ok := a.(*net.UDPAddr); ok {
		ip, ok := netip.AddrFromSlice(ua.IP)
		return ip.Unmap(), ok && ip.IsValid()
	}
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
