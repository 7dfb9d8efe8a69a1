package netmodel

// fifo is a queue on a slice whose array is reused once drained (a
// q = q[1:] queue reallocates on nearly every push when it keeps
// emptying, as a stream's segment queue does).
type fifo[T any] struct {
	buf  []T
	head int
}

func (q *fifo[T]) len() int { return len(q.buf) - q.head }

// at returns the i-th element from the front.
func (q *fifo[T]) at(i int) *T { return &q.buf[q.head+i] }

func (q *fifo[T]) push(v T) {
	if q.head > 0 && q.head >= len(q.buf)/2 {
		// Move the live elements to the front (the consumed prefix would
		// otherwise be copied on every growth).
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, v)
}

// pop removes and returns the front element.
func (q *fifo[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
	return v
}

// reset empties the queue and drops its array.
func (q *fifo[T]) reset() { q.buf, q.head = nil, 0 }
