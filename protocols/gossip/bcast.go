package gossip

import (
	"github.com/detsim/detsim/sim"
)

// bcast is a bounded multi-consumer broadcast channel with tokio::sync::
// broadcast's semantics, which iroh's actor uses for subscribers_all and
// subscribers_topic: Send never blocks; the channel keeps the last capacity
// values; a receiver that falls further behind loses the oldest ones and is
// told how many on its next Recv. Built on the Env's Mutex and Cond, so it
// runs on either runtime.
type bcast[T any] struct {
	mu       sim.Mutex
	cond     sim.Cond
	ring     []T    // value seq is at ring[seq % capacity] (grown lazily)
	capacity uint64 // values kept
	next     uint64 // sequence number of the next value sent
	closed   bool
}

func newBcast[T any](env sim.Env, capacity int) *bcast[T] {
	b := &bcast[T]{mu: env.NewMutex(), capacity: uint64(capacity)}
	b.cond = env.NewCond(b.mu)
	return b
}

// Send appends v and wakes every waiting receiver. After Close it does
// nothing.
func (b *bcast[T]) Send(v T) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if uint64(len(b.ring)) < b.capacity {
		b.ring = append(b.ring, v)
	} else {
		b.ring[b.next%b.capacity] = v
	}
	b.next++
	b.mu.Unlock()
	b.cond.Broadcast()
}

// Close ends the channel: receivers drain what they have not seen, then
// Recv reports closed.
func (b *bcast[T]) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// Subscribe returns a receiver that sees the values sent from now on.
func (b *bcast[T]) Subscribe() *bcastRx[T] {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &bcastRx[T]{b: b, next: b.next}
}

// bcastRx is one receiver of a bcast.
type bcastRx[T any] struct {
	b    *bcast[T]
	next uint64
}

// Recv blocks for the next value. lagged > 0 reports that many values were
// lost since the previous Recv (the receiver fell more than the capacity
// behind); the returned value is then the oldest one kept. ok is false
// once the channel is closed and drained.
func (r *bcastRx[T]) Recv() (v T, lagged uint64, ok bool) {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for r.next == b.next && !b.closed {
		b.cond.Wait()
	}
	if r.next == b.next {
		return v, 0, false
	}
	if oldest := b.next - uint64(len(b.ring)); r.next < oldest {
		lagged = oldest - r.next
		r.next = oldest
	}
	v = b.ring[r.next%b.capacity]
	r.next++
	return v, lagged, true
}
