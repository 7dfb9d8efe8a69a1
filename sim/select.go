package sim

import (
	"fmt"
	"reflect"
	"strings"
)

// Case is one case of a Select: made by RecvCase, SendCase or DefaultCase.
// A RecvCase, SendCase, SendCaseOf or DefaultCase keeps no state from one
// Select to the next, so a loop may build its cases once and pass them to
// each of its Selects (a SendCase sends the value it was made with); one
// Case must not be in two Selects at once. A Signal's Case is for one
// Select: it is ready once a Broadcast came after it was made.
type Case struct {
	impl      selCase
	isDefault bool
}

// selCase is implemented per element type by recvCase[T] and sendCase[T].
type selCase interface {
	// sim reports the case's simulated channel, or nil for a native one.
	simReady() bool
	simCommit()
	enqueue(op *selectOp, idx int)
	dequeue()
	finish() // after the case was chosen while blocked
	// release, after another case was chosen while blocked, recycles what
	// enqueue took (the case was dequeued already).
	release()
	describe() string
	native() reflect.SelectCase
	nativeDone(v reflect.Value, ok bool)
	isSim() bool
}

// RecvCase is a case that receives from ch into *v (and whether the value
// came from a send into *ok); v and ok may be nil.
func RecvCase[T any](ch Chan[T], v *T, ok *bool) Case {
	return Case{impl: &recvCase[T]{ch: ch, v: v, ok: ok}}
}

// SendCase is a case that sends v on ch.
func SendCase[T any](ch Chan[T], v T) Case {
	return Case{impl: &sendCase[T]{ch: ch, v: v}}
}

// SendCaseOf is a case that sends on ch the value *v holds when the Select
// starts: a loop that sends a new value each turn can make the case once
// and set *v before each Select.
func SendCaseOf[T any](ch Chan[T], v *T) Case {
	if v == nil {
		panic("sim: SendCaseOf: nil value pointer")
	}
	return Case{impl: &sendCase[T]{ch: ch, p: v}}
}

// DefaultCase is chosen when no other case is ready.
func DefaultCase() Case { return Case{isDefault: true} }

// Select waits until one of the cases can proceed, performs it, and returns
// its index, like Go's select statement: among several ready cases one is
// chosen by the strategy (uniformly at random, except fifo which takes the
// first); with a DefaultCase, Select never blocks. With no cases it blocks
// forever. All channels must belong to e's runtime.
func Select(e Env, cases ...Case) int {
	if w := e.Sim(); w != nil {
		return w.selectSim(cases)
	}
	return selectNative(cases)
}

// selectOp is a task blocked in Select, waiting on several queues at once.
type selectOp struct {
	t      *Task
	cases  []Case
	chosen int
}

// fire is called when case idx completes another task's operation: the
// select leaves every other queue at once, so no stale waiter remains.
func (op *selectOp) fire(idx int) {
	op.chosen = idx
	for _, c := range op.cases {
		if c.impl != nil {
			c.impl.dequeue()
		}
	}
}

func (op *selectOp) detach(*Task) { op.fire(-1) }

// DescribeWait implements Waitable.
func (op *selectOp) DescribeWait() string {
	var parts []string
	for _, c := range op.cases {
		if c.impl != nil {
			parts = append(parts, c.impl.describe())
		}
	}
	if len(parts) == 0 {
		return "no cases (blocks forever)"
	}
	return strings.Join(parts, " | ")
}

func (w *World) selectSim(cases []Case) int {
	t := w.schedPoint("Select")
	var buf [8]int
	ready := buf[:0]
	def := -1
	for i, c := range cases {
		switch {
		case c.isDefault:
			if def >= 0 {
				panic("sim: Select: multiple DefaultCase")
			}
			def = i
		case c.impl == nil:
			panic(fmt.Sprintf("sim: Select: case %d is the zero Case; build cases with RecvCase, SendCase or DefaultCase", i))
		case !c.impl.isSim():
			panic("sim: Select: a case's channel belongs to another runtime (made with a non-simulated Env)")
		case c.impl.simReady():
			ready = append(ready, i)
		}
	}
	if len(ready) > 0 {
		k := 0
		if len(ready) > 1 {
			k = w.sched.choose(len(ready))
			w.record(TraceChoice, t, int64(ready[k]), "")
		}
		i := ready[k]
		cases[i].impl.simCommit()
		return i
	}
	if def >= 0 {
		return def
	}
	op := w.getSelectOp(t, cases)
	for i, c := range cases {
		c.impl.enqueue(op, i)
	}
	w.block(t, WaitSelect, op)
	i := op.chosen
	for j, c := range cases {
		if j != i {
			c.impl.release()
		}
	}
	w.putSelectOp(op)
	cases[i].impl.finish()
	return i
}

// getSelectOp returns a recycled selectOp for t with a copy of cases (so
// that Select's variadic cases need not escape).
func (w *World) getSelectOp(t *Task, cases []Case) *selectOp {
	var op *selectOp
	if n := len(w.opFree); n > 0 {
		op = w.opFree[n-1]
		w.opFree = w.opFree[:n-1]
	} else {
		op = new(selectOp)
	}
	op.t, op.chosen = t, -1
	op.cases = append(op.cases[:0], cases...)
	return op
}

func (w *World) putSelectOp(op *selectOp) {
	clear(op.cases)
	op.t, op.cases = nil, op.cases[:0]
	w.opFree = append(w.opFree, op)
}

func selectNative(cases []Case) int {
	rc := make([]reflect.SelectCase, len(cases))
	for i, c := range cases {
		if c.isDefault {
			rc[i] = reflect.SelectCase{Dir: reflect.SelectDefault}
			continue
		}
		if c.impl.isSim() {
			panic("sim: Select: a simulated channel used with a non-simulated Env")
		}
		rc[i] = c.impl.native()
	}
	i, v, ok := reflect.Select(rc)
	if !cases[i].isDefault {
		cases[i].impl.nativeDone(v, ok)
	}
	return i
}

type recvCase[T any] struct {
	ch Chan[T]
	v  *T
	ok *bool
	wt *waiter[T]
}

func (r *recvCase[T]) sc() *simChan[T] { c, _ := r.ch.(*simChan[T]); return c }
func (r *recvCase[T]) isSim() bool     { return r.sc() != nil }
func (r *recvCase[T]) simReady() bool  { return r.sc().canRecv() }
func (r *recvCase[T]) simCommit() {
	v, ok := r.sc().recvNow()
	r.store(v, ok)
}

func (r *recvCase[T]) store(v T, ok bool) {
	if r.v != nil {
		*r.v = v
	}
	if r.ok != nil {
		*r.ok = ok
	}
}

func (r *recvCase[T]) enqueue(op *selectOp, idx int) {
	c := r.sc()
	r.wt = c.getWaiter(op.t)
	r.wt.op, r.wt.idx = op, idx
	c.recvq.push(r.wt)
}

func (r *recvCase[T]) dequeue() {
	if r.wt != nil && r.wt.list != nil {
		r.wt.list.remove(r.wt)
	}
}

func (r *recvCase[T]) finish() {
	r.store(r.wt.val, r.wt.ok)
	r.sc().putWaiter(r.wt)
	r.wt = nil
}

func (r *recvCase[T]) release() {
	if r.wt != nil && r.wt.list == nil {
		r.sc().putWaiter(r.wt)
	}
	r.wt = nil
}

func (r *recvCase[T]) describe() string { return "Recv " + r.sc().DescribeWait() }

func (r *recvCase[T]) native() reflect.SelectCase {
	return reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.ch.(nativeChan[T]).rc)}
}

func (r *recvCase[T]) nativeDone(v reflect.Value, ok bool) {
	var x T
	if ok {
		x = v.Interface().(T)
	}
	r.store(x, ok)
}

type sendCase[T any] struct {
	ch Chan[T]
	v  T
	p  *T // SendCaseOf: the value is *p
	wt *waiter[T]
}

func (s *sendCase[T]) value() T {
	if s.p != nil {
		return *s.p
	}
	return s.v
}

func (s *sendCase[T]) sc() *simChan[T] { c, _ := s.ch.(*simChan[T]); return c }
func (s *sendCase[T]) isSim() bool     { return s.sc() != nil }
func (s *sendCase[T]) simReady() bool  { return s.sc().canSend() }
func (s *sendCase[T]) simCommit()      { s.sc().sendNow(s.value()) }

func (s *sendCase[T]) enqueue(op *selectOp, idx int) {
	c := s.sc()
	s.wt = c.getWaiter(op.t)
	s.wt.op, s.wt.idx, s.wt.val = op, idx, s.value()
	c.sendq.push(s.wt)
}

func (s *sendCase[T]) dequeue() {
	if s.wt != nil && s.wt.list != nil {
		s.wt.list.remove(s.wt)
	}
}

func (s *sendCase[T]) finish() {
	s.sc().putWaiter(s.wt)
	s.wt = nil
	t := s.sc().w.current
	if t.wakeClosed {
		t.wakeClosed = false
		panic("send on closed channel")
	}
}

func (s *sendCase[T]) release() {
	if s.wt != nil && s.wt.list == nil {
		s.sc().putWaiter(s.wt)
	}
	s.wt = nil
}

func (s *sendCase[T]) describe() string { return "Send " + s.sc().DescribeWait() }

func (s *sendCase[T]) native() reflect.SelectCase {
	v := s.value()
	return reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(s.ch.(nativeChan[T]).send()), Send: reflect.ValueOf(&v).Elem()}
}

func (s *sendCase[T]) nativeDone(reflect.Value, bool) {}
