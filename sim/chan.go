package sim

import (
	"fmt"
	"iter"
)

// Chan is a channel that works on either runtime: in simulation every
// operation is a scheduling point and blocking parks the task in the World;
// on the OS runtime it is a native Go channel. Semantics follow Go's: FIFO,
// unbuffered channels hand values over directly, receives from a closed
// channel drain the buffer and then return the zero value, sending on or
// closing a closed channel panics.
type Chan[T any] interface {
	// Send sends v, blocking until a receiver or buffer space is available.
	Send(v T)
	// Recv receives a value, blocking until one is available; it returns
	// the zero value once the channel is closed and drained.
	Recv() T
	// Recv2 is Recv that also reports whether the value came from a send
	// (true) or from the channel being closed (false).
	Recv2() (v T, ok bool)
	// TrySend sends v if it can without blocking and reports whether it did.
	TrySend(v T) bool
	// TryRecv receives without blocking: ready reports whether a receive
	// happened, ok whether it carried a sent value (false once closed).
	TryRecv() (v T, ok, ready bool)
	// Close closes the channel.
	Close()
	// Len and Cap are len(ch) and cap(ch).
	Len() int
	Cap() int
	// All receives values until the channel is closed: for v := range ch.All().
	All() iter.Seq[T]
}

// NewChan makes a channel with the given buffer size (0 for unbuffered) on
// e's runtime.
func NewChan[T any](e Env, size int) Chan[T] {
	if size < 0 {
		panic(fmt.Sprintf("sim: NewChan: negative size %d", size))
	}
	if w := e.Sim(); w != nil {
		return newSimChan[T](w, size)
	}
	return NativeChan(make(chan T, size))
}

// waiter is a task waiting in one channel's send or receive queue, either
// for a plain operation or as one case of a Select.
type waiter[T any] struct {
	t    *Task
	op   *selectOp // nil for a plain Send/Recv
	idx  int       // case index within op
	val  T         // value to send, or value received
	ok   bool      // receive: true if val came from a sender
	list *waitList[T]
	prev *waiter[T]
	next *waiter[T]
}

// waitList is an intrusive doubly linked FIFO of waiters.
type waitList[T any] struct {
	head, tail *waiter[T]
	n          int
}

func (l *waitList[T]) push(wt *waiter[T]) {
	wt.list, wt.prev, wt.next = l, l.tail, nil
	if l.tail == nil {
		l.head = wt
	} else {
		l.tail.next = wt
	}
	l.tail = wt
	l.n++
}

func (l *waitList[T]) remove(wt *waiter[T]) {
	if wt.list != l {
		return
	}
	if wt.prev == nil {
		l.head = wt.next
	} else {
		wt.prev.next = wt.next
	}
	if wt.next == nil {
		l.tail = wt.prev
	} else {
		wt.next.prev = wt.prev
	}
	wt.list, wt.prev, wt.next = nil, nil, nil
	l.n--
}

type simChan[T any] struct {
	w      *World
	id     int
	buf    []T // ring, grown on demand up to size
	size   int // capacity
	head   int
	count  int
	closed bool
	recvq  waitList[T]
	sendq  waitList[T]
	free   []*waiter[T]
	// timerOf is set for a timer's channel, which reports capacity 0.
	timerOf *timer
	// label, if set, names the channel in reports (Signal channels).
	label string
}

func newSimChan[T any](w *World, size int) *simChan[T] {
	w.objID++
	// The buffer grows as values arrive: a channel made with a large
	// capacity that holds a few values at a time costs a few slots.
	return &simChan[T]{w: w, id: w.objID, size: size}
}

func (c *simChan[T]) getWaiter(t *Task) *waiter[T] {
	var wt *waiter[T]
	if n := len(c.free); n > 0 {
		wt = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		wt = new(waiter[T])
	}
	wt.t = t
	return wt
}

func (c *simChan[T]) putWaiter(wt *waiter[T]) {
	var zero T
	*wt = waiter[T]{val: zero}
	c.free = append(c.free, wt)
}

// complete takes wt out of its queue (and a select's other queues) and wakes
// its task.
func (c *simChan[T]) complete(wt *waiter[T]) {
	if wt.op != nil {
		wt.op.fire(wt.idx)
	} else {
		wt.list.remove(wt)
	}
	c.w.wake(wt.t)
}

func (c *simChan[T]) push(v T) {
	if c.count == len(c.buf) {
		grown := make([]T, min(max(2*len(c.buf), 4), c.size))
		for i := 0; i < c.count; i++ {
			grown[i] = c.buf[(c.head+i)%len(c.buf)]
		}
		c.buf, c.head = grown, 0
	}
	c.buf[(c.head+c.count)%len(c.buf)] = v
	c.count++
}

func (c *simChan[T]) pop() T {
	var zero T
	v := c.buf[c.head]
	c.buf[c.head] = zero
	c.head = (c.head + 1) % len(c.buf)
	c.count--
	return v
}

func (c *simChan[T]) canSend() bool {
	return c.closed || c.recvq.head != nil || c.count < c.size
}

func (c *simChan[T]) canRecv() bool {
	return c.count > 0 || c.sendq.head != nil || c.closed
}

// sendNow performs a send that canSend said will not block.
func (c *simChan[T]) sendNow(v T) {
	if c.closed {
		panic("send on closed channel")
	}
	if r := c.recvq.head; r != nil {
		r.val, r.ok = v, true
		c.complete(r)
		return
	}
	c.push(v)
}

// recvNow performs a receive that canRecv said will not block.
func (c *simChan[T]) recvNow() (T, bool) {
	if c.count > 0 {
		v := c.pop()
		if s := c.sendq.head; s != nil {
			c.push(s.val)
			c.complete(s)
		}
		return v, true
	}
	if s := c.sendq.head; s != nil {
		v := s.val
		c.complete(s)
		return v, true
	}
	var zero T
	return zero, false
}

func (c *simChan[T]) Send(v T) {
	t := c.w.schedPoint("Chan.Send")
	if c.canSend() {
		c.sendNow(v)
		return
	}
	wt := c.getWaiter(t)
	wt.val = v
	c.sendq.push(wt)
	c.w.block(t, WaitSend, c)
	c.putWaiter(wt)
	if t.wakeClosed {
		t.wakeClosed = false
		panic("send on closed channel")
	}
}

func (c *simChan[T]) Recv() T {
	v, _ := c.Recv2()
	return v
}

func (c *simChan[T]) Recv2() (T, bool) {
	t := c.w.schedPoint("Chan.Recv")
	if c.canRecv() {
		return c.recvNow()
	}
	wt := c.getWaiter(t)
	c.recvq.push(wt)
	c.w.block(t, WaitRecv, c)
	v, ok := wt.val, wt.ok
	c.putWaiter(wt)
	return v, ok
}

func (c *simChan[T]) TrySend(v T) bool {
	c.w.schedPoint("Chan.TrySend")
	if !c.canSend() {
		return false
	}
	c.sendNow(v)
	return true
}

func (c *simChan[T]) TryRecv() (v T, ok, ready bool) {
	c.w.schedPoint("Chan.TryRecv")
	if !c.canRecv() {
		return v, false, false
	}
	v, ok = c.recvNow()
	return v, ok, true
}

func (c *simChan[T]) Close() {
	c.w.schedPoint("Chan.Close")
	c.close()
}

// close closes the channel without a scheduling point (also used from
// events, outside any task).
func (c *simChan[T]) close() {
	if c.closed {
		panic("close of closed channel")
	}
	c.closed = true
	for r := c.recvq.head; r != nil; r = c.recvq.head {
		var zero T
		r.val, r.ok = zero, false
		c.complete(r)
	}
	for s := c.sendq.head; s != nil; s = c.sendq.head {
		s.t.wakeClosed = true
		c.complete(s)
	}
}

// offer sends v without blocking and without a scheduling point, dropping it
// if nobody can take it (a timer or ticker firing).
func (c *simChan[T]) offer(v T) bool {
	if c.closed || !c.canSend() {
		return false
	}
	c.sendNow(v)
	return true
}

// drain discards buffered values and reports whether there were any.
func (c *simChan[T]) drain() bool {
	had := c.count > 0
	for c.count > 0 {
		c.pop()
	}
	return had
}

func (c *simChan[T]) Len() int {
	if c.timerOf != nil {
		return 0
	}
	return c.count
}

func (c *simChan[T]) Cap() int {
	if c.timerOf != nil {
		return 0
	}
	return c.size
}

func (c *simChan[T]) All() iter.Seq[T] {
	return func(yield func(T) bool) {
		for {
			v, ok := c.Recv2()
			if !ok || !yield(v) {
				return
			}
		}
	}
}

// DescribeWait implements Waitable.
func (c *simChan[T]) DescribeWait() string {
	if c.label != "" {
		return c.label
	}
	if c.timerOf != nil {
		return fmt.Sprintf("the channel of timer#%d", c.timerOf.id)
	}
	kind := "unbuffered"
	if c.size > 0 {
		kind = fmt.Sprintf("buffered %d/%d", c.count, c.size)
	}
	closed := ""
	if c.closed {
		closed = ", closed"
	}
	return fmt.Sprintf("chan#%d (%s%s, %d waiting senders, %d waiting receivers)", c.id, kind, closed, c.sendq.n, c.recvq.n)
}

func (c *simChan[T]) detach(t *Task) {
	for _, l := range []*waitList[T]{&c.recvq, &c.sendq} {
		for wt := l.head; wt != nil; wt = wt.next {
			if wt.t == t {
				l.remove(wt)
				return
			}
		}
	}
}
