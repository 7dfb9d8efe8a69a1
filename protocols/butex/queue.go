package butex

// wsQueue is a group's local run queue (_rq, work_stealing_queue.h): the
// owning worker pushes and pops at the bottom (LIFO, so the task it just
// made ready runs next and its stack is warm), other workers steal from
// the top (FIFO). Bounded.
//
// Invariant: top <= bottom <= top+len(buf); items are buf[i%len(buf)] for
// top <= i < bottom.
type wsQueue struct {
	buf         []*Bthread
	top, bottom int
}

func newWSQueue(capacity int) wsQueue { return wsQueue{buf: make([]*Bthread, capacity)} }

func (q *wsQueue) len() int { return q.bottom - q.top }

// push adds bt at the bottom; false if the queue is full.
func (q *wsQueue) push(bt *Bthread) bool {
	if q.len() == len(q.buf) {
		return false
	}
	q.buf[q.bottom%len(q.buf)] = bt
	q.bottom++
	return true
}

// pop takes the newest task (the owner's end).
func (q *wsQueue) pop() *Bthread {
	if q.len() == 0 {
		return nil
	}
	q.bottom--
	i := q.bottom % len(q.buf)
	bt := q.buf[i]
	q.buf[i] = nil
	return bt
}

// steal takes the oldest task (the thieves' end).
func (q *wsQueue) steal() *Bthread {
	if q.len() == 0 {
		return nil
	}
	i := q.top % len(q.buf)
	bt := q.buf[i]
	q.buf[i] = nil
	q.top++
	if q.top >= len(q.buf) {
		// Keep the indices small; only their difference and their
		// residues matter.
		q.top -= len(q.buf)
		q.bottom -= len(q.buf)
	}
	return bt
}

// fifo is a group's remote run queue (_remote_rq, remote_task_queue.h): a
// bounded FIFO that any thread pushes to (under a mutex in brpc).
//
// Invariant: n <= len(buf); items are buf[(head+i)%len(buf)] for i < n.
type fifo struct {
	buf     []*Bthread
	head, n int
}

func newFIFO(capacity int) fifo { return fifo{buf: make([]*Bthread, capacity)} }

func (q *fifo) len() int { return q.n }

func (q *fifo) push(bt *Bthread) bool {
	if q.n == len(q.buf) {
		return false
	}
	q.buf[(q.head+q.n)%len(q.buf)] = bt
	q.n++
	return true
}

func (q *fifo) pop() *Bthread {
	if q.n == 0 {
		return nil
	}
	bt := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return bt
}
