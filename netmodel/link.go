package netmodel

import (
	"fmt"
	"time"
)

// Link describes a directed link's behaviour. Segments give their hosts a
// default Link; Network.SetLink overrides it for one direction between two
// hosts.
type Link struct {
	// Latency is the one-way delay of a datagram or stream segment.
	Latency Dist
	// Loss is the probability in [0, 1] that a datagram is lost. On a
	// stream, a loss is a retransmission delay (Options.MinRTO, doubling),
	// never lost bytes.
	Loss float64
	// Duplicate is the probability in [0, 1] that a datagram is delivered
	// twice (the copy with its own latency). Streams never duplicate.
	Duplicate float64
	// Reorder is the probability in [0, 1] that a datagram is held back by
	// an extra ReorderDelay sample, so later datagrams overtake it.
	Reorder      float64
	ReorderDelay Dist
	// Capacity bounds the datagrams in flight on the link; more are dropped
	// and counted. 0 means DefaultCapacity.
	Capacity int
}

// DefaultCapacity is the in-flight datagram bound when Link.Capacity is 0.
const DefaultCapacity = 1024

// DefaultLink is a LAN-like link: 1 ms ± 0.2 ms, no loss.
var DefaultLink = Link{Latency: Normal(time.Millisecond, 200*time.Microsecond)}

// Validate reports the first invalid field, naming it.
func (l Link) Validate() error {
	if err := l.Latency.Validate(); err != nil {
		return fmt.Errorf("Latency: %w", err)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", l.Loss}, {"Duplicate", l.Duplicate}, {"Reorder", l.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("%s = %v: a probability must be in [0, 1]", p.name, p.v)
		}
	}
	if err := l.ReorderDelay.Validate(); err != nil {
		return fmt.Errorf("ReorderDelay: %w", err)
	}
	if l.Capacity < 0 {
		return fmt.Errorf("Capacity = %d: must be >= 0 (0 means %d)", l.Capacity, DefaultCapacity)
	}
	return nil
}

func (l Link) capacity() int {
	if l.Capacity == 0 {
		return DefaultCapacity
	}
	return l.Capacity
}
