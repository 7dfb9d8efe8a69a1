// Package proto is the pure protocol core of the gossip stack, modelled on
// iroh-gossip's proto module: HyParView membership and Plumtree broadcast,
// one swarm per topic. It does no I/O and owns no task: the shell feeds it
// inputs (messages from peers, commands, timer expiries, disconnects) with
// the current time and carries out the outputs it returns (messages to
// send, events for subscribers, timers to set, connections to close).
//
// Every choice it makes comes from the Rand it is given, and it keeps its
// sets in slices, never iterating a map where order matters, so the same
// inputs give the same outputs.
package proto

import (
	"encoding/hex"
	"errors"
	"time"
)

// PeerID identifies a node (iroh: the node's 32-byte public key).
type PeerID [32]byte

func (p PeerID) String() string { return hex.EncodeToString(p[:4]) }

// TopicID names a topic; every topic is its own swarm (iroh TopicId).
type TopicID [32]byte

func (t TopicID) String() string { return hex.EncodeToString(t[:4]) }

// MessageID identifies a broadcast: the SHA-256 of its content (iroh uses
// BLAKE3; the standard library has SHA-256, and only the property "the id
// is a hash of the content" matters to the protocol).
type MessageID [32]byte

func (m MessageID) String() string { return hex.EncodeToString(m[:4]) }

// PeerInfo is a peer and its opaque peer data (the shell's addressing
// information, e.g. a listen address), carried by JOIN, FORWARDJOIN,
// NEIGHBOR and SHUFFLE so that peers learn how to reach each other.
type PeerInfo struct {
	ID   PeerID
	Data []byte
}

// Rand is the randomness the core draws from (a named stream of the
// environment; *sim.Rand satisfies it).
type Rand interface {
	Intn(n int) int
}

// ErrMessageTooLarge is returned for a broadcast larger than
// Config.MaxMessageSize.
var ErrMessageTooLarge = errors.New("gossip: message too large")

// --- Messages (the wire package encodes these) ---

// Message is one protocol message, scoped to a topic.
type Message struct {
	Topic TopicID
	Body  Body
}

// Body is one of the message bodies below.
type Body interface{ isBody() }

// Priority of a NEIGHBOR request.
type Priority uint8

const (
	PriorityLow  Priority = 0
	PriorityHigh Priority = 1
)

// HyParView messages.
type (
	// Join asks the receiver (a contact peer) to add the sender to its
	// active view and to spread a FORWARDJOIN for it.
	Join struct{ Data []byte }
	// ForwardJoin is a random walk of TTL steps announcing Peer.
	ForwardJoin struct {
		Peer PeerInfo
		TTL  uint16
	}
	// Neighbor asks the receiver to add the sender to its active view.
	Neighbor struct {
		Priority Priority
		Data     []byte
	}
	// Shuffle is a random walk carrying a sample of Origin's views.
	Shuffle struct {
		Origin PeerInfo
		Nodes  []PeerInfo
		TTL    uint16
	}
	// ShuffleReply answers a Shuffle with a sample of passive peers.
	ShuffleReply struct{ Nodes []PeerInfo }
	// Disconnect removes the sender from the receiver's active view.
	// Alive: keep it in the passive view; Respond: send a Disconnect back.
	Disconnect struct{ Alive, Respond bool }
)

// DeliveryScope is how far a broadcast travels: the whole swarm (Round
// counts hops from the origin) or only the direct neighbours.
type DeliveryScope struct {
	Neighbors bool
	Round     uint16
}

// IHaveEntry announces one message id at a round.
type IHaveEntry struct {
	ID    MessageID
	Round uint16
}

// Plumtree messages.
type (
	// Gossip is an eager push of a payload; ID must be the hash of Content.
	Gossip struct {
		ID      MessageID
		Content []byte
		Scope   DeliveryScope
	}
	// IHave lazily announces message ids.
	IHave struct{ Entries []IHaveEntry }
	// Graft makes the sender eager at the receiver; with an ID it also
	// asks for that message.
	Graft struct {
		ID    *MessageID
		Round uint16
	}
	// Prune makes the sender lazy at the receiver.
	Prune struct{}
)

func (Join) isBody()         {}
func (ForwardJoin) isBody()  {}
func (Neighbor) isBody()     {}
func (Shuffle) isBody()      {}
func (ShuffleReply) isBody() {}
func (Disconnect) isBody()   {}
func (Gossip) isBody()       {}
func (IHave) isBody()        {}
func (Graft) isBody()        {}
func (Prune) isBody()        {}

// --- Inputs ---

// Input is what the shell feeds to State.Handle.
type Input interface{ isInput() }

type (
	// InMessage is a message received from a peer.
	InMessage struct {
		From PeerID
		Msg  Message
	}
	// InCommand is an application command for a topic.
	InCommand struct {
		Topic TopicID
		Cmd   Command
	}
	// InTimer is a timer the core asked for (OutTimer) that expired.
	InTimer struct{ Timer Timer }
	// InPeerDisconnected reports that the connection to a peer closed
	// (an IO-level disconnect: DISCONNECT{alive: true, respond: false} in
	// every topic the peer was active in).
	InPeerDisconnected struct{ Peer PeerID }
	// InUpdatePeerData changes this node's own peer data.
	InUpdatePeerData struct{ Data []byte }
)

func (InMessage) isInput()          {}
func (InCommand) isInput()          {}
func (InTimer) isInput()            {}
func (InPeerDisconnected) isInput() {}
func (InUpdatePeerData) isInput()   {}

// Command is an application command.
type Command interface{ isCommand() }

type (
	// CmdJoin joins the topic's swarm through the given bootstrap peers
	// (sending each a JOIN); with no peers the node waits to be joined.
	CmdJoin struct{ Peers []PeerID }
	// CmdBroadcast broadcasts Content to the swarm, or only to the direct
	// neighbours.
	CmdBroadcast struct {
		Content   []byte
		Neighbors bool
	}
	// CmdQuit leaves the topic: DISCONNECT{alive: false, respond: true} to
	// every active peer, and the topic's state is dropped.
	CmdQuit struct{}
)

func (CmdJoin) isCommand()      {}
func (CmdBroadcast) isCommand() {}
func (CmdQuit) isCommand()      {}

// --- Outputs ---

// Output is what State.Handle asks the shell to do, in order.
type Output interface{ isOutput() }

type (
	// OutSend sends a message to a peer (dialling it if needed, with the
	// peer data learnt through OutPeerData).
	OutSend struct {
		To  PeerID
		Msg Message
	}
	// OutEvent is an event for the topic's subscribers.
	OutEvent struct {
		Topic TopicID
		Event Event
	}
	// OutTimer asks for InTimer{Timer} after After. Timers cannot be
	// cancelled: the core ignores expiries it no longer cares about.
	OutTimer struct {
		After time.Duration
		Timer Timer
	}
	// OutDisconnect closes the connection to a peer that no topic needs.
	OutDisconnect struct{ Peer PeerID }
	// OutPeerData is peer data learnt for a peer (how to reach it).
	OutPeerData struct {
		Peer PeerID
		Data []byte
	}
)

func (OutSend) isOutput()       {}
func (OutEvent) isOutput()      {}
func (OutTimer) isOutput()      {}
func (OutDisconnect) isOutput() {}
func (OutPeerData) isOutput()   {}

// Event is a topic event for subscribers.
type Event interface{ isEvent() }

type (
	// EvNeighborUp: a peer entered the active view.
	EvNeighborUp struct{ Peer PeerID }
	// EvNeighborDown: a peer left the active view.
	EvNeighborDown struct{ Peer PeerID }
	// EvReceived: a broadcast was delivered (once per message id).
	EvReceived struct {
		Content       []byte
		DeliveredFrom PeerID
		Scope         DeliveryScope
	}
)

func (EvNeighborUp) isEvent()   {}
func (EvNeighborDown) isEvent() {}
func (EvReceived) isEvent()     {}

// Timer is an opaque timer token: the shell hands it back in InTimer.
type Timer struct {
	Topic TopicID
	Kind  TimerKind
	Peer  PeerID
	ID    MessageID
	Seq   uint64
}

// TimerKind says what a Timer is for.
type TimerKind uint8

const (
	TimerShuffle TimerKind = iota + 1
	TimerNeighborRequest
	TimerDispatchIHave
	TimerSendGraft
	TimerEvictCache
)
