package proto

import (
	"fmt"
	"time"
)

// Wire limits the core keeps to so that everything it emits is encodable
// (see protocols/gossip/wire): an IHave carries at most maxIHaveEntries
// entries (a larger batch is split) and a Shuffle or ShuffleReply at most
// maxShuffleNodes nodes.
const (
	maxIHaveEntries = 1024
	maxShuffleNodes = 64
)

// Config is the protocol configuration: HyParView membership, Plumtree
// broadcast and the largest broadcast payload (iroh-gossip proto::Config).
// It is comparable, so a zero Config can be detected with ==.
type Config struct {
	Membership MembershipConfig
	Broadcast  BroadcastConfig
	// MaxMessageSize is the largest broadcast content in bytes (iroh
	// topic.rs: 4096). Larger broadcasts are refused with
	// ErrMessageTooLarge; larger received Gossip is dropped.
	MaxMessageSize int
}

// MembershipConfig configures HyParView (iroh hyparview::Config). The
// defaults come from the HyParView paper (p. 9) except the two durations,
// which iroh calls wild guesses.
type MembershipConfig struct {
	// ActiveViewCapacity is the number of peers kept connected (5).
	ActiveViewCapacity int
	// PassiveViewCapacity is the number of peers remembered but not
	// connected (30).
	PassiveViewCapacity int
	// ActiveRandomWalkLength (ARWL) is the TTL a FORWARDJOIN starts with;
	// the walk adds the joining peer to an active view when it reaches 0
	// (6).
	ActiveRandomWalkLength uint16
	// PassiveRandomWalkLength (PRWL) is the TTL at which a FORWARDJOIN
	// adds the joining peer to a passive view (3).
	PassiveRandomWalkLength uint16
	// ShuffleRandomWalkLength is the TTL a SHUFFLE starts with (6).
	ShuffleRandomWalkLength uint16
	// ShuffleActiveViewCount is how many active peers a SHUFFLE carries
	// (3).
	ShuffleActiveViewCount int
	// ShufflePassiveViewCount is how many passive peers a SHUFFLE carries
	// (4).
	ShufflePassiveViewCount int
	// ShuffleInterval is the period of the shuffle timer (60 s).
	ShuffleInterval time.Duration
	// NeighborRequestTimeout is how long a NEIGHBOR request sent to refill
	// the active view may stay unanswered before the peer is dropped from
	// the passive view and another one is tried (500 ms).
	NeighborRequestTimeout time.Duration
}

// BroadcastConfig configures Plumtree (iroh plumtree::Config). iroh calls
// the durations guesses; the optimisation threshold comes from the
// Plumtree paper's experiments (p. 12).
type BroadcastConfig struct {
	// GraftTimeout1 is how long a missing message announced by IHAVE may
	// stay missing before the first GRAFT (80 ms).
	GraftTimeout1 time.Duration
	// GraftTimeout2 is how long after a GRAFT the next announcer is
	// grafted if the message is still missing (40 ms).
	GraftTimeout2 time.Duration
	// DispatchTimeout batches IHAVE announcements (5 ms).
	DispatchTimeout time.Duration
	// OptimizationThreshold is how many rounds closer to the origin an
	// IHAVE must have been than the eager delivery for the tree to be
	// repaired towards the IHAVE sender (7).
	OptimizationThreshold uint16
	// MessageCacheRetention is how long payloads are kept to answer
	// GRAFTs (30 s).
	MessageCacheRetention time.Duration
	// MessageIDRetention is how long received message ids are remembered
	// to detect duplicates (90 s).
	MessageIDRetention time.Duration
	// CacheEvictInterval is the period of cache eviction (1 s).
	CacheEvictInterval time.Duration
}

// DefaultConfig returns iroh-gossip's defaults (proto/*.rs at the
// 2024-07 revision the testbed models).
func DefaultConfig() Config {
	return Config{
		Membership: MembershipConfig{
			ActiveViewCapacity:      5,
			PassiveViewCapacity:     30,
			ActiveRandomWalkLength:  6,
			PassiveRandomWalkLength: 3,
			ShuffleRandomWalkLength: 6,
			ShuffleActiveViewCount:  3,
			ShufflePassiveViewCount: 4,
			ShuffleInterval:         60 * time.Second,
			NeighborRequestTimeout:  500 * time.Millisecond,
		},
		Broadcast: BroadcastConfig{
			GraftTimeout1:         80 * time.Millisecond,
			GraftTimeout2:         40 * time.Millisecond,
			DispatchTimeout:       5 * time.Millisecond,
			OptimizationThreshold: 7,
			MessageCacheRetention: 30 * time.Second,
			MessageIDRetention:    90 * time.Second,
			CacheEvictInterval:    time.Second,
		},
		MaxMessageSize: 4096,
	}
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	m, b := c.Membership, c.Broadcast
	if m.ActiveViewCapacity < 1 {
		return fmt.Errorf("gossip: Membership.ActiveViewCapacity %d is below 1", m.ActiveViewCapacity)
	}
	if m.PassiveViewCapacity < 0 {
		return fmt.Errorf("gossip: Membership.PassiveViewCapacity %d is negative", m.PassiveViewCapacity)
	}
	if m.ShuffleActiveViewCount < 0 {
		return fmt.Errorf("gossip: Membership.ShuffleActiveViewCount %d is negative", m.ShuffleActiveViewCount)
	}
	if m.ShufflePassiveViewCount < 0 {
		return fmt.Errorf("gossip: Membership.ShufflePassiveViewCount %d is negative", m.ShufflePassiveViewCount)
	}
	if n := m.ShuffleActiveViewCount + m.ShufflePassiveViewCount; n > maxShuffleNodes {
		return fmt.Errorf("gossip: Membership.ShuffleActiveViewCount + ShufflePassiveViewCount = %d exceeds %d (the wire limit of a Shuffle)",
			n, maxShuffleNodes)
	}
	if err := positive("Membership.ShuffleInterval", m.ShuffleInterval); err != nil {
		return err
	}
	if err := positive("Membership.NeighborRequestTimeout", m.NeighborRequestTimeout); err != nil {
		return err
	}
	if err := positive("Broadcast.GraftTimeout1", b.GraftTimeout1); err != nil {
		return err
	}
	if err := positive("Broadcast.GraftTimeout2", b.GraftTimeout2); err != nil {
		return err
	}
	if err := positive("Broadcast.DispatchTimeout", b.DispatchTimeout); err != nil {
		return err
	}
	if b.OptimizationThreshold < 1 {
		return fmt.Errorf("gossip: Broadcast.OptimizationThreshold %d is below 1", b.OptimizationThreshold)
	}
	if err := positive("Broadcast.MessageCacheRetention", b.MessageCacheRetention); err != nil {
		return err
	}
	if err := positive("Broadcast.MessageIDRetention", b.MessageIDRetention); err != nil {
		return err
	}
	if b.MessageIDRetention < b.MessageCacheRetention {
		return fmt.Errorf("gossip: Broadcast.MessageIDRetention %v is shorter than Broadcast.MessageCacheRetention %v",
			b.MessageIDRetention, b.MessageCacheRetention)
	}
	if err := positive("Broadcast.CacheEvictInterval", b.CacheEvictInterval); err != nil {
		return err
	}
	if c.MaxMessageSize < 1 {
		return fmt.Errorf("gossip: MaxMessageSize %d is below 1", c.MaxMessageSize)
	}
	return nil
}

func positive(field string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("gossip: %s %v is not positive", field, d)
	}
	return nil
}
