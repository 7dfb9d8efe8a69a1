package netmodel

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// EventKind says what an observed network event records.
type EventKind uint8

const (
	// EventHost: a host was added (From is its name, Detail its addresses).
	EventHost EventKind = iota + 1
	// EventSend: a packet was handed to the link From -> To.
	EventSend
	// EventDuplicate: the link duplicated the packet ID; a second delivery
	// (or drop) with the same ID follows.
	EventDuplicate
	// EventDeliver: packet ID reached To's network stack.
	EventDeliver
	// EventDrop: packet ID was dropped (Cause, or Cause 0 and Detail for a
	// stream segment abandoned because its connection ended or an earlier
	// segment had to be resent).
	EventDrop
	// EventFault: a fault was applied (Fault names it, Detail says more;
	// From is the host concerned, if one).
	EventFault
)

var eventKindNames = [...]string{
	EventHost: "host", EventSend: "send", EventDuplicate: "duplicate",
	EventDeliver: "deliver", EventDrop: "drop", EventFault: "fault",
}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// PacketKind says what a packet carries.
type PacketKind uint8

const (
	PacketDatagram PacketKind = iota + 1 // a UDP datagram
	PacketData                           // a stream segment with data
	PacketFIN                            // a stream's FIN
	PacketSYN                            // a connection request
	PacketSYNACK                         // its answer
	PacketRST                            // a reset
)

var packetKindNames = [...]string{
	PacketDatagram: "udp", PacketData: "tcp", PacketFIN: "fin",
	PacketSYN: "syn", PacketSYNACK: "syn-ack", PacketRST: "rst",
}

func (k PacketKind) String() string {
	if int(k) < len(packetKindNames) && packetKindNames[k] != "" {
		return packetKindNames[k]
	}
	return fmt.Sprintf("PacketKind(%d)", int(k))
}

// Event is one thing that happened on the network, as an observer sees it.
// Events are reported in the order they happen.
type Event struct {
	Kind EventKind
	// Time is virtual time since the start of the run; Step is the World's
	// step count then (events in an event callback, such as deliveries,
	// carry the step before them).
	Time time.Duration
	Step int64
	// Task and TaskName are the running task, if the event happened in one
	// (a send), else 0 and "" (deliveries, drops and faults in callbacks).
	Task     int
	TaskName string
	// ID numbers a packet from its send: its duplicate, deliveries and drop
	// carry the same ID. 0 for host and fault events.
	ID     uint64
	Packet PacketKind
	// From and To are host names; Src and Dst the packet's addresses.
	From, To string
	Src, Dst netip.AddrPort
	// Size is the payload in bytes (datagram or stream segment).
	Size  int
	Cause DropCause
	// Fault names the fault (partition, oneway, isolate, heal, flap-down,
	// flap-up, hold, release, link-faults, clock-offset, crash, restart).
	Fault  string
	Detail string
}

// SetObserver makes the network report every packet and fault to fn, as it
// happens (nil stops it). fn runs inside the World's step or event: it must
// not block or call back into the World. Observing changes no decision and
// no fingerprint; with no observer the network does no extra work.
func (n *Network) SetObserver(fn func(Event)) { n.obs = fn }

// emit stamps e with the time, step and running task and reports it.
// Callers check n.obs != nil first, so an unobserved network builds no
// Event.
func (n *Network) emit(e Event) {
	e.Time, e.Step = n.w.Elapsed(), n.w.Steps()
	if t := n.w.Current(); t != nil {
		e.Task, e.TaskName = t.ID(), t.Name()
	}
	n.obs(e)
}

// observeSend reports a packet put on link l and returns its new ID, or 0
// when nobody observes. (The ID is assigned once, never reassigned, so the
// delivery closures that capture it copy it: no allocation.)
func (n *Network) observeSend(l *linkState, kind PacketKind, src, dst netip.AddrPort, size int) uint64 {
	if n.obs == nil {
		return 0
	}
	n.lastID++
	n.emit(Event{Kind: EventSend, ID: n.lastID, Packet: kind, From: l.from.name, To: l.to.name, Src: src, Dst: dst, Size: size})
	return n.lastID
}

// emitPacket reports a later event (duplicate, deliver, drop) of packet id.
func (n *Network) emitPacket(kind EventKind, id uint64, l *linkState, pk PacketKind, cause DropCause, detail string) {
	n.emit(Event{Kind: kind, ID: id, Packet: pk, From: l.from.name, To: l.to.name, Cause: cause, Detail: detail})
}

// emitFault reports a fault on host (or "" for none).
func (n *Network) emitFault(fault, host, detail string) {
	n.emit(Event{Kind: EventFault, Fault: fault, From: host, Detail: detail})
}

// segmentKind is the packet kind of a stream segment.
func (s tcpSegment) kind() PacketKind {
	if s.fin {
		return PacketFIN
	}
	return PacketData
}

// groupsDetail renders host groups as a fault plan does: a,b|c.
func groupsDetail(groups [][]string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = strings.Join(g, ",")
	}
	return strings.Join(parts, "|")
}

// dropDatagram reports that datagram id was dropped, if observed.
func (n *Network) dropDatagram(id uint64, l *linkState, cause DropCause) {
	if n.obs != nil {
		n.emitPacket(EventDrop, id, l, PacketDatagram, cause, "")
	}
}

// dropControl reports that control packet id was dropped, if observed.
func (n *Network) dropControl(id uint64, l *linkState, kind PacketKind, cause DropCause) {
	if n.obs != nil {
		n.emitPacket(EventDrop, id, l, kind, cause, "")
	}
}

// dropped reports that the pipe's segment id (of kind pk) was dropped, if
// observed; the stream resends it later, with a new ID.
func (p *pipe) dropped(id uint64, pk PacketKind, cause DropCause, detail string) {
	if n := p.n; n.obs != nil {
		n.emitPacket(EventDrop, id, p.link, pk, cause, detail)
	}
}
