package netmodel

import (
	"cmp"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"time"

	"github.com/detsim/detsim/sim"
)

// DropCause says why a packet was not delivered.
type DropCause uint8

const (
	// DropLoss: the link's loss probability (datagrams only).
	DropLoss DropCause = iota + 1
	// DropPartition: a partition, one-way cut, isolation or flap.
	DropPartition
	// DropCapacity: the link's in-flight bound was reached.
	DropCapacity
	// DropCrash: the destination (or source) host was down.
	DropCrash
	// DropUnreachable: no socket was bound to the destination port.
	DropUnreachable
	// DropQueueFull: the destination socket's queue was full.
	DropQueueFull
	numDropCauses
)

var dropCauseNames = [...]string{
	DropLoss: "loss", DropPartition: "partition", DropCapacity: "capacity",
	DropCrash: "crash", DropUnreachable: "unreachable", DropQueueFull: "queue-full",
}

func (c DropCause) String() string {
	if c > 0 && c < numDropCauses {
		return dropCauseNames[c]
	}
	return fmt.Sprintf("DropCause(%d)", int(c))
}

// DropCauses lists every cause in order, for reports.
func DropCauses() []DropCause {
	out := make([]DropCause, 0, numDropCauses-1)
	for c := DropLoss; c < numDropCauses; c++ {
		out = append(out, c)
	}
	return out
}

// Histogram counts durations in power-of-two buckets of nanoseconds:
// bucket i holds [2^i, 2^(i+1)) ns (bucket 0 also holds 0).
type Histogram struct {
	Buckets [64]uint64
	Count   uint64
	Sum     time.Duration
	Max     time.Duration
}

// Add records one duration.
func (h *Histogram) Add(d time.Duration) {
	i, d := bucket(d)
	h.Buckets[i]++
	h.Count++
	h.Sum += d
	h.Max = max(h.Max, d)
}

// Mean is the average duration recorded (0 if none).
func (h *Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// Quantile returns an upper bound of the q-quantile (0 < q <= 1): the top of
// the bucket that contains it.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.Count))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.Buckets {
		seen += c
		if seen >= rank {
			return min(time.Duration(uint64(1)<<(i+1)-1), h.Max)
		}
	}
	return h.Max
}

// LinkStats counts what happened on one directed link. Streams count their
// segments (and FIN/RST/SYN control segments) as packets.
type LinkStats struct {
	From, To string
	// Sent counts packets handed to the link (each duplicate copy once more
	// in Duplicated, not in Sent).
	Sent       uint64
	Delivered  uint64
	Duplicated uint64
	// Retransmits counts stream segments resent after a loss or while the
	// link was unusable.
	Retransmits uint64
	Dropped     [numDropCauses]uint64
	// Latency is the distribution of send-to-delivery delays.
	Latency Histogram
}

// DroppedBy returns the drops for one cause.
func (s LinkStats) DroppedBy(c DropCause) uint64 { return s.Dropped[c] }

// TotalDropped sums drops over every cause.
func (s LinkStats) TotalDropped() uint64 {
	var t uint64
	for _, v := range s.Dropped {
		t += v
	}
	return t
}

// linkState is one directed link's configuration and run-time state.
//
// A swarm makes a link per host pair that ever talked (over a million in a
// 10,000-node gossip run), so it is kept small: the configuration is
// shared with the segment until changed for this link, the random stream
// is held by value, and the counters are compact (Stats expands them).
type linkState struct {
	n        *Network
	from, to *Host
	cfg      *Link // shared (segment, default, loopback) or this link's own
	rnd      sim.Rand
	inflight int
	held     bool
	heldQ    []func()
	stats    linkCounters
}

// linkCounters is LinkStats without the names, with a compact latency
// histogram.
type linkCounters struct {
	Sent, Delivered, Duplicated, Retransmits uint64
	Dropped                                  [numDropCauses]uint64
	Latency                                  compactHist
}

func (c *linkCounters) export(from, to string) LinkStats {
	return LinkStats{From: from, To: to, Sent: c.Sent, Delivered: c.Delivered, Duplicated: c.Duplicated,
		Retransmits: c.Retransmits, Dropped: c.Dropped, Latency: c.Latency.histogram()}
}

// TotalDropped sums drops over every cause.
func (c *linkCounters) TotalDropped() uint64 {
	var t uint64
	for _, v := range c.Dropped {
		t += v
	}
	return t
}

// compactHist is a Histogram holding only the buckets from its lowest to
// its highest non-empty one (a link's latencies span a few octaves).
type compactHist struct {
	lo      int
	buckets []uint64
	count   uint64
	sum     time.Duration
	max     time.Duration
}

// bucket returns d's Histogram bucket and d itself, negatives counted as 0.
func bucket(d time.Duration) (int, time.Duration) {
	if d <= 0 {
		return 0, 0
	}
	return bits.Len64(uint64(d)) - 1, d
}

func (h *compactHist) Add(d time.Duration) {
	i, d := bucket(d)
	switch {
	case len(h.buckets) == 0:
		h.lo, h.buckets = i, make([]uint64, 1, 4)
	case i < h.lo:
		grown := make([]uint64, len(h.buckets)+h.lo-i)
		copy(grown[h.lo-i:], h.buckets)
		h.lo, h.buckets = i, grown
	case i >= h.lo+len(h.buckets):
		h.buckets = append(h.buckets, make([]uint64, i-h.lo-len(h.buckets)+1)...)
	}
	h.buckets[i-h.lo]++
	h.count++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *compactHist) histogram() Histogram {
	out := Histogram{Count: h.count, Sum: h.sum, Max: h.max}
	copy(out.Buckets[h.lo:], h.buckets)
	return out
}

// Stats returns every link's counters that saw traffic, ordered by (from,
// to) host creation order.
func (n *Network) Stats() []LinkStats {
	keys := slices.SortedFunc(maps.Keys(n.links), func(a, b linkKey) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	})
	var out []LinkStats
	for _, k := range keys {
		if l := n.links[k]; l.stats.Sent > 0 || l.stats.TotalDropped() > 0 {
			out = append(out, l.stats.export(l.from.name, l.to.name))
		}
	}
	return out
}

// Totals sums the counters of every link.
func (n *Network) Totals() LinkStats {
	t := LinkStats{From: "*", To: "*"}
	for _, s := range n.Stats() {
		t.Sent += s.Sent
		t.Delivered += s.Delivered
		t.Duplicated += s.Duplicated
		t.Retransmits += s.Retransmits
		for i, v := range s.Dropped {
			t.Dropped[i] += v
		}
		for i, v := range s.Latency.Buckets {
			t.Latency.Buckets[i] += v
		}
		t.Latency.Count += s.Latency.Count
		t.Latency.Sum += s.Latency.Sum
		t.Latency.Max = max(t.Latency.Max, s.Latency.Max)
	}
	return t
}
