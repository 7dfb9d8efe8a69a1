// Package grpcsync holds the synchronisation helpers of the simulated gRPC
// stack, modelled on grpc-go's internal/grpcsync and internal/buffer: an
// unbounded buffer, a one-shot Event and the CallbackSerializer. They are
// built on sim.Env, so they run on the simulation and on an OS runtime.
package grpcsync

import (
	"errors"

	"github.com/detsim/detsim/sim"
)

// ErrClosed is returned by Unbounded.Put after Close.
var ErrClosed = errors.New("grpcsync: buffer closed")

// Unbounded is an unbounded FIFO buffer read through a channel, like
// grpc-go's buffer.Unbounded: Get returns a channel holding at most one
// value; after receiving from it the reader must call Load to move the next
// buffered value into the channel. Put never blocks.
//
// Close stops new Puts; the channel is closed once the values already put
// have been received (each followed by Load).
type Unbounded[T any] struct {
	c       sim.Chan[T]
	mu      sim.Mutex
	backlog []T
	closing bool
	closed  bool
}

// NewUnbounded returns an empty buffer on env's runtime.
func NewUnbounded[T any](env sim.Env) *Unbounded[T] {
	return &Unbounded[T]{c: sim.NewChan[T](env, 1), mu: env.NewMutex()}
}

// Put adds v to the buffer; it fails with ErrClosed after Close.
func (b *Unbounded[T]) Put(v T) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return ErrClosed
	}
	if len(b.backlog) == 0 && b.c.TrySend(v) {
		return nil
	}
	b.backlog = append(b.backlog, v)
	return nil
}

// Load moves the next buffered value, if any, into the channel; once the
// buffer is closing and empty it closes the channel. Call it after every
// receive from Get.
func (b *Unbounded[T]) Load() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.backlog) > 0 {
		if b.c.TrySend(b.backlog[0]) {
			var zero T
			b.backlog[0] = zero
			b.backlog = b.backlog[1:]
		}
		return
	}
	if b.closing && !b.closed {
		b.closed = true
		b.c.Close()
	}
}

// Get returns the channel the values arrive on.
func (b *Unbounded[T]) Get() sim.Chan[T] { return b.c }

// Close stops accepting values. Values already put are still delivered,
// then the channel is closed.
func (b *Unbounded[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return
	}
	b.closing = true
	if len(b.backlog) == 0 {
		b.closed = true
		b.c.Close()
	}
}

// Len is the number of values waiting (in the channel or the backlog).
func (b *Unbounded[T]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.backlog) + b.c.Len()
}
