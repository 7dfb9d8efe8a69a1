// Package gossip is the node shell around the gossip protocol core
// (protocols/gossip/proto), modelled on iroh-gossip's net.rs actor and its
// dispatcher.rs subscription layer: an actor task owns the protocol state,
// one stream connection per peer pair (dialled or accepted, over the Env's
// network), the protocol's timers, and broadcast channels of events; a
// Dispatcher turns those into per-topic subscriptions with a bounded event
// stream and a broadcast sender.
//
// The dispatcher keeps iroh's two-dispatcher architecture of 2024-07 (a
// dispatch loop and a per-topic join task both consume the actor's events)
// and the historical race as a named variant: Buggy drops events for a
// topic that is still joining (iroh #2460), Fixed makes the topic live
// first (#2482).
package gossip

import (
	"errors"
	"fmt"
	"time"

	"github.com/detsim/detsim/protocols/gossip/proto"
)

// Variant selects the dispatcher's behaviour for events of a topic that is
// still joining.
type Variant string

const (
	// Buggy is iroh-gossip before #2482: dispatch_loop drops an event whose
	// topic is not yet Live (only join_task, three task hops behind, makes
	// it Live), so a message that arrives during the join is lost.
	Buggy Variant = "buggy"
	// Fixed is #2482: an event for a Joining topic makes it Live first.
	Fixed Variant = "fixed"
)

// ParseVariant accepts "buggy" or "fixed" ("" means Fixed).
func ParseVariant(s string) (Variant, error) {
	switch Variant(s) {
	case "", Fixed:
		return Fixed, nil
	case Buggy:
		return Buggy, nil
	}
	return "", fmt.Errorf("gossip: unknown variant %q (want buggy or fixed)", s)
}

// Defaults (iroh-gossip net.rs constants where iroh has one).
const (
	// DefaultPort is the port a node listens on.
	DefaultPort = 4919
	// SendQueueCap is the per-connection queue of frames waiting for the
	// writer task. iroh's is 64 and the actor awaits space; here a full
	// queue closes the connection (a peer that far behind is treated as
	// failed) so that two actors writing to each other cannot deadlock.
	SendQueueCap = 1024
	// ToActorCap bounds the API's commands to the actor (iroh: 64).
	ToActorCap = 64
	// InEventCap bounds the connection tasks' events to the actor (1024).
	InEventCap = 1024
	// TopicEventCap is the capacity of the actor's event broadcast
	// channels (iroh: 2048).
	TopicEventCap = 2048
	// DefaultSubscriptionCapacity is a subscription's event stream
	// capacity.
	DefaultSubscriptionCapacity = 2048
	// DefaultDialTimeout bounds a dial plus the hello exchange.
	DefaultDialTimeout = 5 * time.Second
)

// Options configure a Node.
type Options struct {
	// ID is the node's identity; it must not be all zeros.
	ID proto.PeerID
	// Port is the listen port (default DefaultPort).
	Port int
	// Proto is the protocol configuration (zero: proto.DefaultConfig()).
	Proto proto.Config
	// Variant selects the dispatcher variant ("" is Fixed).
	Variant Variant
	// SubscriptionCapacity is each subscription's event stream capacity
	// (default DefaultSubscriptionCapacity; at least 2).
	SubscriptionCapacity int
	// DialTimeout bounds a dial and hello exchange (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// OnEmit, if set, observes every event the actor emits, in order, on
	// the actor task (for properties and metrics).
	OnEmit func(topic proto.TopicID, ev proto.Event)
	// OnConnError, if set, observes why a connection was closed on error
	// (a malformed frame, a failed handshake, a full send queue).
	OnConnError func(peer proto.PeerID, err error)
}

// ErrClosed is returned by operations on a closed node.
var ErrClosed = errors.New("gossip: node closed")

// ErrInvalidTopic is returned for the all-zero topic id.
var ErrInvalidTopic = errors.New("gossip: invalid topic id (all zeros)")

func (o *Options) fill() error {
	if o.ID == (proto.PeerID{}) {
		return errors.New("gossip: Options.ID is all zeros")
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("gossip: Options.Port %d out of range 1-65535", o.Port)
	}
	if isZeroConfig(o.Proto) {
		o.Proto = proto.DefaultConfig()
	}
	if err := o.Proto.Validate(); err != nil {
		return err
	}
	v, err := ParseVariant(string(o.Variant))
	if err != nil {
		return err
	}
	o.Variant = v
	if o.SubscriptionCapacity == 0 {
		o.SubscriptionCapacity = DefaultSubscriptionCapacity
	}
	if o.SubscriptionCapacity < 2 {
		return fmt.Errorf("gossip: Options.SubscriptionCapacity %d is below 2", o.SubscriptionCapacity)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.DialTimeout < 0 {
		return fmt.Errorf("gossip: Options.DialTimeout %v is negative", o.DialTimeout)
	}
	return nil
}

func isZeroConfig(c proto.Config) bool {
	return c.MaxMessageSize == 0 && c.Membership == (proto.MembershipConfig{}) && c.Broadcast == (proto.BroadcastConfig{})
}
