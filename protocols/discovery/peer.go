package discovery

import (
	"maps"
	"slices"
	"time"
)

// Peer is a known peer (exo: an entry of known_peers).
type Peer struct {
	ID string
	// Addr is the peer's health-check (service) address "ip:port": the
	// presence's source IP and its grpc_port.
	Addr         string
	Priority     int
	Interface    string // the interface_name it advertised
	Capabilities Capabilities
	ConnectedAt  time.Time // when this entry was added
	LastSeen     time.Time // when a presence was last confirmed healthy
}

// EventKind is what happened to a peer.
type EventKind uint8

const (
	// PeerUp: a peer was added.
	PeerUp EventKind = iota + 1
	// PeerDown: a peer was removed (Event.Reason says why).
	PeerDown
	// PeerUpdated: a peer moved to another address of higher priority.
	PeerUpdated
)

func (k EventKind) String() string {
	switch k {
	case PeerUp:
		return "PeerUp"
	case PeerDown:
		return "PeerDown"
	case PeerUpdated:
		return "PeerUpdated"
	}
	return "EventKind(?)"
}

// Reasons of PeerDown events.
const (
	ReasonUnhealthy = "unhealthy" // a health check failed
	ReasonTimeout   = "timeout"   // not seen for PeerTimeout
)

// Event is a change of the peer table. Peer is the entry added, removed or
// installed.
type Event struct {
	Kind   EventKind
	Peer   Peer
	Reason string
}

// peerEntry is an entry of the peer table. Handlers and cleanup compare
// entries by pointer to tell whether the table changed during an await.
type peerEntry struct {
	id          string
	addr        string
	prio        int
	iface       string
	caps        Capabilities
	connectedAt time.Time
	lastSeen    time.Time
}

func (e *peerEntry) peer() Peer {
	return Peer{
		ID: e.id, Addr: e.addr, Priority: e.prio, Interface: e.iface, Capabilities: e.caps,
		ConnectedAt: e.connectedAt, LastSeen: e.lastSeen,
	}
}

// Peers returns the known peers sorted by ID.
func (n *Node) Peers() []Peer {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Peer, 0, len(n.peers))
	for _, id := range slices.Sorted(maps.Keys(n.peers)) {
		out = append(out, n.peers[id].peer())
	}
	return out
}

// emitLocked queues an event (n.mu held); flush delivers it.
func (n *Node) emitLocked(kind EventKind, e *peerEntry, reason string) {
	if n.opts.OnEvent != nil {
		n.pending = append(n.pending, Event{Kind: kind, Peer: e.peer(), Reason: reason})
	}
}

// flush delivers the queued events in order, outside n.mu (so OnEvent may
// call Peers); evMu keeps deliveries from two tasks from interleaving.
func (n *Node) flush() {
	if n.opts.OnEvent == nil {
		return
	}
	n.evMu.Lock()
	defer n.evMu.Unlock()
	for {
		ev, ok := n.nextEvent()
		if !ok {
			return
		}
		n.opts.OnEvent(ev)
	}
}

func (n *Node) nextEvent() (Event, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return Event{}, false
	}
	ev := n.pending[0]
	n.pending[0] = Event{}
	n.pending = n.pending[1:]
	return ev, true
}

// Drops counts the datagrams this node rejected, by Drop* reason.
func (n *Node) Drops() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.drops)
}

func (n *Node) drop(reason string) {
	n.env.Logger().Debug("discovery: dropped datagram", "node", n.opts.NodeID, "reason", reason)
	n.mu.Lock()
	if n.drops == nil {
		n.drops = map[string]int{}
	}
	n.drops[reason]++
	n.mu.Unlock()
	if h := n.opts.Hooks.OnDrop; h != nil {
		h(reason)
	}
}
