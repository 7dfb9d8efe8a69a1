package sim_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// ---------------------------------------------------------------------------
// The reference model.

type pendKind uint8

const (
	pNone pendKind = iota
	pLock
	pRLock
	pWLock
	pSend
	pRecv
	pSelect
	pWait
	pClock // sleep, timer, ticker, context: completes by itself
)

type pending struct {
	kind  pendKind
	n     int // lock or channel
	cases []selCase
	def   bool
}

type tagState uint8

const (
	tagAttempted tagState = iota + 1
	tagSent
	tagAbandoned // a select send case that was not chosen
)

type tagInfo struct {
	ch           int
	state        tagState
	closedBefore bool // the channel was closed before the send started
	received     bool
}

type model struct {
	w    *sim.World
	p    *program
	errs []string

	spawned, finished []bool
	pend              []pending
	lastNow           []time.Time
	seq               []int

	closed   []bool
	tags     map[int]*tagInfo
	lastSeen map[[3]int]int // (receiver, channel, sender) -> last sequence number

	holder    []int // mutex -> task+1
	rwWriter  []int // rwmutex -> task+1
	rwReaders []int

	wgCount    int
	afterFuncs []*afterFuncState
}

type afterFuncState struct {
	ran, stopped bool
}

func newModel(w *sim.World, p *program) *model {
	n := len(p.tasks)
	return &model{
		w: w, p: p,
		spawned: make([]bool, n), finished: make([]bool, n),
		pend: make([]pending, n), lastNow: make([]time.Time, n), seq: make([]int, n),
		closed: make([]bool, len(p.chanCaps)), tags: map[int]*tagInfo{}, lastSeen: map[[3]int]int{},
		holder: make([]int, p.nMutex), rwWriter: make([]int, p.nRW), rwReaders: make([]int, p.nRW),
	}
}

func (m *model) errorf(format string, args ...any) {
	if len(m.errs) < 20 {
		m.errs = append(m.errs, fmt.Sprintf("t=%v: ", m.w.Elapsed())+fmt.Sprintf(format, args...))
	}
}

// tick records a clock reading by task i: readings never go backwards.
func (m *model) tick(i int) time.Time {
	now := m.w.Now()
	if now.Before(m.lastNow[i]) {
		m.errorf("%s: time went backwards: %v after %v", taskName(i), now, m.lastNow[i])
	}
	m.lastNow[i] = now
	return now
}

func (m *model) newTag(i, ch int) int {
	m.seq[i]++
	tag := (i+1)<<16 | m.seq[i]
	m.tags[tag] = &tagInfo{ch: ch, state: tagAttempted, closedBefore: m.closed[ch]}
	return tag
}

func (m *model) sent(i, tag int) {
	ti := m.tags[tag]
	if ti.closedBefore {
		m.errorf("%s: send of %#x on chan %d succeeded although the channel was closed before the send", taskName(i), tag, ti.ch)
	}
	ti.state = tagSent
}

func (m *model) received(i, ch, v int, ok bool, r *runner) {
	if !ok {
		if v != 0 {
			m.errorf("%s: receive from chan %d returned ok=false with value %#x, want the zero value", taskName(i), ch, v)
		}
		if !m.closed[ch] {
			m.errorf("%s: receive from chan %d returned ok=false but the channel is not closed", taskName(i), ch)
		}
		if l := r.chans[ch].Len(); l != 0 {
			m.errorf("%s: receive from chan %d returned ok=false with %d values still buffered", taskName(i), ch, l)
		}
		return
	}
	ti := m.tags[v]
	switch {
	case v == 0 || ti == nil:
		m.errorf("%s: received %#x from chan %d, which nobody sent", taskName(i), v, ch)
		return
	case ti.ch != ch:
		m.errorf("%s: received %#x from chan %d, but it was sent on chan %d", taskName(i), v, ch, ti.ch)
	case ti.state == tagAbandoned:
		m.errorf("%s: received %#x from chan %d, sent by a select case that was not chosen", taskName(i), v, ch)
	case ti.received:
		m.errorf("%s: received %#x from chan %d twice", taskName(i), v, ch)
	}
	ti.received = true
	sender, seq := v>>16-1, v&0xffff
	key := [3]int{i, ch, sender}
	if last := m.lastSeen[key]; seq <= last {
		m.errorf("%s: FIFO violated on chan %d: received %s's value #%d after #%d", taskName(i), ch, taskName(sender), seq, last)
	}
	m.lastSeen[key] = seq
}

// ---------------------------------------------------------------------------
// The interpreter.

type runner struct {
	w     *sim.World
	p     *program
	m     *model
	chans []sim.Chan[int]
	dead  sim.Chan[int]
	mus   []sim.Mutex
	rws   []sim.RWMutex
	wg    sim.WaitGroup
}

func (r *runner) spawn(i int) {
	r.wg.Add(1)
	r.m.wgCount++
	r.m.spawned[i] = true
	r.w.Go(taskName(i), func() { r.task(i) })
}

func (r *runner) mainTask() {
	r.m.spawned[0] = true
	r.m.lastNow[0] = r.w.Now()
	r.exec(0, r.p.tasks[0])
	m := r.m
	m.tick(0)
	m.pend[0] = pending{kind: pWait}
	r.wg.Wait()
	m.pend[0] = pending{}
	if m.wgCount != 0 {
		m.errorf("main: WaitGroup.Wait returned with %d tasks not done", m.wgCount)
	}
	// Drain what is left in the buffers.
	for ch, c := range r.chans {
		for {
			v, ok, ready := c.TryRecv()
			if !ready || !ok {
				break
			}
			m.received(0, ch, v, ok, r)
		}
	}
	r.exec(0, r.p.mainTail)
	m.tick(0)
	m.finished[0] = true
}

func (r *runner) task(i int) {
	r.m.lastNow[i] = r.w.Now()
	r.exec(i, r.p.tasks[i])
	r.m.tick(i)
	r.wg.Done()
	r.m.wgCount--
	if i < len(r.p.afterDone) {
		r.exec(i, r.p.afterDone[i])
	}
	r.m.finished[i] = true
}

func (r *runner) exec(i int, ops []op) {
	for _, o := range ops {
		r.step(i, o)
	}
}

func (r *runner) step(i int, o op) {
	w, m := r.w, r.m
	start := m.tick(i)
	switch o.kind {
	case opYield:
		w.Yield()
	case opSpawn:
		r.spawn(o.n)
	case opSleep:
		m.pend[i] = pending{kind: pClock}
		w.Sleep(o.d)
		m.pend[i] = pending{}
		if got := m.tick(i); !got.Equal(start.Add(o.d)) {
			m.errorf("%s: Sleep(%v) from %v returned at %v", taskName(i), o.d, start, got)
		}
	case opLock:
		m.pend[i] = pending{kind: pLock, n: o.n}
		r.mus[o.n].Lock()
		m.pend[i] = pending{}
		if h := m.holder[o.n]; h != 0 {
			m.errorf("%s: acquired mutex %d held by %s", taskName(i), o.n, taskName(h-1))
		}
		m.holder[o.n] = i + 1
		r.exec(i, o.body)
		m.tick(i)
		if h := m.holder[o.n]; h != i+1 {
			m.errorf("%s: mutex %d holder changed to %d while held", taskName(i), o.n, h)
		}
		r.mus[o.n].Unlock()
		m.holder[o.n] = 0
	case opRLock:
		m.pend[i] = pending{kind: pRLock, n: o.n}
		r.rws[o.n].RLock()
		m.pend[i] = pending{}
		if wr := m.rwWriter[o.n]; wr != 0 {
			m.errorf("%s: read-locked rwmutex %d write-held by %s", taskName(i), o.n, taskName(wr-1))
		}
		m.rwReaders[o.n]++
		r.exec(i, o.body)
		m.tick(i)
		r.rws[o.n].RUnlock()
		m.rwReaders[o.n]--
	case opWLock:
		m.pend[i] = pending{kind: pWLock, n: o.n}
		r.rws[o.n].Lock()
		m.pend[i] = pending{}
		if wr, rd := m.rwWriter[o.n], m.rwReaders[o.n]; wr != 0 || rd != 0 {
			m.errorf("%s: write-locked rwmutex %d with writer %d and %d readers", taskName(i), o.n, wr, rd)
		}
		m.rwWriter[o.n] = i + 1
		r.exec(i, o.body)
		m.tick(i)
		r.rws[o.n].Unlock()
		m.rwWriter[o.n] = 0
	case opSend:
		tag := m.newTag(i, o.n)
		m.pend[i] = pending{kind: pSend, n: o.n}
		r.chans[o.n].Send(tag)
		m.pend[i] = pending{}
		m.sent(i, tag)
	case opRecv:
		m.pend[i] = pending{kind: pRecv, n: o.n}
		v, ok := r.chans[o.n].Recv2()
		m.pend[i] = pending{}
		m.received(i, o.n, v, ok, r)
		if o.flag && ok {
			m.errorf("%s: receive from chan %d got %#x, want closed and drained", taskName(i), o.n, v)
		}
	case opClose:
		r.chans[o.n].Close()
		m.closed[o.n] = true
	case opSelect:
		r.selectOp(i, o)
	case opTimerRecv:
		tm := w.NewTimer(o.d)
		m.pend[i] = pending{kind: pClock}
		v, ok := tm.C().Recv2()
		m.pend[i] = pending{}
		got := m.tick(i)
		if want := start.Add(o.d); !ok || !v.Equal(want) || !got.Equal(want) {
			m.errorf("%s: NewTimer(%v) at %v: received (%v, %v) at %v, want the deadline at the deadline", taskName(i), o.d, start, v, ok, got)
		}
	case opTimerStop:
		tm := w.NewTimer(o.d)
		if o.d2 > 0 {
			m.pend[i] = pending{kind: pClock}
			w.Sleep(o.d2)
			m.pend[i] = pending{}
		}
		// Go 1.23: a timer whose value was never received is still active.
		if !tm.Stop() {
			m.errorf("%s: Stop of an unreceived NewTimer(%v) after %v returned false", taskName(i), o.d, o.d2)
		}
		if v, _, ready := tm.C().TryRecv(); ready {
			m.errorf("%s: received stale %v from a stopped timer", taskName(i), v)
		}
		if tm.Stop() {
			m.errorf("%s: second Stop returned true", taskName(i))
		}
	case opTimerReset:
		tm := w.NewTimer(o.d)
		at := m.tick(i)
		if !tm.Reset(o.d2) {
			m.errorf("%s: Reset of an unreceived NewTimer(%v) returned false", taskName(i), o.d)
		}
		m.pend[i] = pending{kind: pClock}
		v, ok := tm.C().Recv2()
		m.pend[i] = pending{}
		got := m.tick(i)
		if want := at.Add(o.d2); !ok || !v.Equal(want) || !got.Equal(want) {
			m.errorf("%s: timer Reset(%v) at %v: received (%v, %v) at %v", taskName(i), o.d2, at, v, ok, got)
		}
		if v, _, ready := tm.C().TryRecv(); ready {
			m.errorf("%s: one-shot timer delivered a second value %v", taskName(i), v)
		}
		if tm.Stop() {
			m.errorf("%s: Stop after the value was received returned true", taskName(i))
		}
	case opTicker:
		tk := w.NewTicker(o.d)
		for k := 1; k <= o.n; k++ {
			m.pend[i] = pending{kind: pClock}
			v, ok := tk.C().Recv2()
			m.pend[i] = pending{}
			got := m.tick(i)
			if want := start.Add(time.Duration(k) * o.d); !ok || !v.Equal(want) || !got.Equal(want) {
				m.errorf("%s: tick %d of NewTicker(%v) at %v: received (%v, %v) at %v, want %v", taskName(i), k, o.d, start, v, ok, got, want)
			}
		}
		tk.Stop()
		if v, _, ready := tk.C().TryRecv(); ready {
			m.errorf("%s: received stale tick %v after Ticker.Stop", taskName(i), v)
		}
	case opAfterFunc:
		st := &afterFuncState{}
		m.afterFuncs = append(m.afterFuncs, st)
		r.wg.Add(1)
		m.wgCount++
		tm := w.AfterFunc(o.d, func() {
			if got := w.Now(); !got.Equal(start.Add(o.d)) {
				m.errorf("AfterFunc(%v) from %s at %v ran at %v", o.d, taskName(i), start, got)
			}
			if st.stopped {
				m.errorf("AfterFunc(%v) from %s ran although Stop returned true", o.d, taskName(i))
			}
			st.ran = true
			r.wg.Done()
			m.wgCount--
		})
		if o.flag {
			stopped := tm.Stop()
			// With d > 0 the clock cannot have reached the deadline: the
			// task has been runnable since AfterFunc.
			if o.d > 0 && !stopped {
				m.errorf("%s: Stop of AfterFunc(%v) at once returned false", taskName(i), o.d)
			}
			if stopped {
				if st.ran {
					m.errorf("%s: Stop of AfterFunc(%v) returned true after f ran", taskName(i), o.d)
				}
				st.stopped = true
				r.wg.Done()
				m.wgCount--
			}
		}
	case opCtxTimeout:
		ctx, cancel := w.WithTimeout(w.Background(), o.d)
		m.pend[i] = pending{kind: pClock}
		_, ok := ctx.DoneChan().Recv2()
		m.pend[i] = pending{}
		got := m.tick(i)
		if !got.Equal(start.Add(o.d)) || ok || ctx.Err() != context.DeadlineExceeded {
			m.errorf("%s: WithTimeout(%v) at %v: done at %v (ok=%v, err=%v)", taskName(i), o.d, start, got, ok, ctx.Err())
		}
		cancel()
	case opDeadRecv:
		m.pend[i] = pending{kind: pRecv, n: -1}
		r.dead.Recv()
		m.pend[i] = pending{}
		m.errorf("%s: receive from a channel nobody sends on returned", taskName(i))
	}
}

func (r *runner) selectOp(i int, o op) {
	m := r.m
	cases := make([]sim.Case, 0, len(o.cases)+1)
	tags := make([]int, len(o.cases))
	vals := make([]int, len(o.cases))
	oks := make([]bool, len(o.cases))
	for k, c := range o.cases {
		if c.send {
			tags[k] = m.newTag(i, c.ch)
			cases = append(cases, sim.SendCase(r.chans[c.ch], tags[k]))
		} else {
			cases = append(cases, sim.RecvCase(r.chans[c.ch], &vals[k], &oks[k]))
		}
	}
	if o.def {
		cases = append(cases, sim.DefaultCase())
	}
	m.pend[i] = pending{kind: pSelect, cases: o.cases, def: o.def}
	idx := sim.Select(r.w, cases...)
	m.pend[i] = pending{}
	if idx < 0 || idx >= len(cases) {
		m.errorf("%s: Select returned %d of %d cases", taskName(i), idx, len(cases))
		return
	}
	for k, c := range o.cases {
		if !c.send {
			continue
		}
		if k == idx {
			m.sent(i, tags[k])
		} else {
			m.tags[tags[k]].state = tagAbandoned
			if m.tags[tags[k]].received {
				m.errorf("%s: value %#x of a select case that was not chosen was received", taskName(i), tags[k])
			}
		}
	}
	if idx < len(o.cases) && !o.cases[idx].send {
		m.received(i, o.cases[idx].ch, vals[idx], oks[idx], r)
	}
}

// runProgram runs p in a new World and returns the result, the model and the
// runner (whose channels can still be inspected).
func runProgram(t require.TestingT, p *program, opts sim.Options) (sim.Result, *model, *runner) {
	if opts.MaxSteps == 0 {
		opts.MaxSteps = 200_000
	}
	w, err := sim.New(opts)
	require.NoError(t, err)
	m := newModel(w, p)
	r := &runner{w: w, p: p, m: m, wg: w.NewWaitGroup(), dead: sim.NewChan[int](w, 0)}
	for _, c := range p.chanCaps {
		r.chans = append(r.chans, sim.NewChan[int](w, c))
	}
	for range p.nMutex {
		r.mus = append(r.mus, w.NewMutex())
	}
	for range p.nRW {
		r.rws = append(r.rws, w.NewRWMutex())
	}
	res, err := w.Run(r.mainTask)
	require.NoError(t, err)
	return res, m, r
}

// ---------------------------------------------------------------------------
// Checking an outcome against the model.

// enabled says whether the model thinks task i's pending operation could
// proceed in the final state (every task is then either finished or blocked
// in its pending operation).
func (m *model) enabled(i int, r *runner) (bool, string) {
	pd := m.pend[i]
	otherWaits := func(send bool, ch int) bool {
		for j, q := range m.pend {
			if j == i || m.finished[j] || !m.spawned[j] {
				continue
			}
			switch q.kind {
			case pSend:
				if send && q.n == ch {
					return true
				}
			case pRecv:
				if !send && q.n == ch {
					return true
				}
			case pSelect:
				for _, c := range q.cases {
					if c.send == send && c.ch == ch {
						return true
					}
				}
			}
		}
		return false
	}
	canRecv := func(ch int) bool {
		if ch < 0 {
			return false // the dead channel
		}
		return r.chans[ch].Len() > 0 || m.closed[ch] || otherWaits(true, ch)
	}
	canSend := func(ch int) bool {
		return m.closed[ch] || r.chans[ch].Len() < m.p.chanCaps[ch] || otherWaits(false, ch)
	}
	switch pd.kind {
	case pNone:
		return true, "no blocking operation"
	case pClock:
		return true, "a clock operation"
	case pLock:
		return m.holder[pd.n] == 0, fmt.Sprintf("Mutex.Lock of mutex %d (model holder %d)", pd.n, m.holder[pd.n])
	case pRLock:
		writerWaiting := false
		for j, q := range m.pend {
			if j != i && !m.finished[j] && q.kind == pWLock && q.n == pd.n {
				writerWaiting = true
			}
		}
		return m.rwWriter[pd.n] == 0 && !writerWaiting, fmt.Sprintf("RWMutex.RLock of rwmutex %d", pd.n)
	case pWLock:
		return m.rwWriter[pd.n] == 0 && m.rwReaders[pd.n] == 0, fmt.Sprintf("RWMutex.Lock of rwmutex %d", pd.n)
	case pSend:
		return canSend(pd.n), fmt.Sprintf("Chan.Send on chan %d", pd.n)
	case pRecv:
		return canRecv(pd.n), fmt.Sprintf("Chan.Recv on chan %d", pd.n)
	case pSelect:
		if pd.def {
			return true, "Select with default"
		}
		for _, c := range pd.cases {
			if (c.send && canSend(c.ch)) || (!c.send && canRecv(c.ch)) {
				return true, fmt.Sprintf("Select with ready case %+v", c)
			}
		}
		return false, "Select"
	case pWait:
		return m.wgCount == 0, fmt.Sprintf("WaitGroup.Wait with %d tasks not done", m.wgCount)
	}
	return true, "?"
}

var waitPrefix = map[pendKind]string{
	pLock: "Mutex.Lock", pRLock: "RWMutex.RLock", pWLock: "RWMutex.Lock", pSend: "Chan.Send",
	pRecv: "Chan.Recv", pSelect: "Select", pWait: "WaitGroup.Wait",
}

// checkOutcome checks a run's result against the model and returns the
// problems found (with the model's own, recorded during the run).
func checkOutcome(p *program, res sim.Result, m *model, r *runner) []string {
	errs := slices.Clone(m.errs)
	errorf := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	f := res.Failure

	// Trace sanity, when traced.
	if len(res.Trace) > 0 {
		var last time.Duration
		runs := int64(0)
		for _, e := range res.Trace {
			if e.Time < last {
				errorf("trace time went backwards: %v after %v", e.Time, last)
			}
			last = e.Time
			if e.Kind == sim.TraceRun {
				runs++
			}
		}
		if runs != res.Steps {
			errorf("trace has %d run events for %d steps", runs, res.Steps)
		}
		if last > res.Elapsed {
			errorf("trace time %v beyond Elapsed %v", last, res.Elapsed)
		}
	}

	// Channel accounting: each value sent was received at most once, and
	// (unless a panic cut the run short) exactly the values sent and not
	// received are still buffered.
	sentOn := make([]int, len(p.chanCaps))
	recvOn := make([]int, len(p.chanCaps))
	for tag, ti := range m.tags {
		if ti.received && ti.state != tagSent && (f == nil || f.Kind != sim.Panic) {
			errorf("value %#x was received but its send never completed", tag)
		}
		if ti.state == tagSent {
			sentOn[ti.ch]++
		}
		if ti.received {
			recvOn[ti.ch]++
		}
	}

	switch {
	case f == nil:
		for i := range p.tasks {
			if !m.finished[i] {
				errorf("run passed but %s did not finish (spawned=%v)", taskName(i), m.spawned[i])
			}
		}
		for ch := range p.chanCaps {
			if sentOn[ch] != recvOn[ch] || r.chans[ch].Len() != 0 {
				errorf("chan %d: %d values sent, %d received, %d left buffered after draining", ch, sentOn[ch], recvOn[ch], r.chans[ch].Len())
			}
		}
		for k, st := range m.afterFuncs {
			if st.ran == st.stopped {
				errorf("AfterFunc #%d: ran=%v stopped=%v, want exactly one", k, st.ran, st.stopped)
			}
		}
	case f.Kind == sim.Deadlock:
		for ch := range p.chanCaps {
			if l := r.chans[ch].Len(); sentOn[ch]-recvOn[ch] != l {
				errorf("chan %d: %d values sent, %d received, but %d buffered", ch, sentOn[ch], recvOn[ch], l)
			}
		}
		var want []string
		for i := range p.tasks {
			if m.spawned[i] && !m.finished[i] {
				want = append(want, taskName(i))
			}
		}
		var got []string
		for k, b := range f.Blocked {
			got = append(got, b.Name)
			if k > 0 && b.ID <= f.Blocked[k-1].ID {
				errorf("deadlock report not in creation order: %+v", f.Blocked)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			errorf("deadlock reports blocked tasks %q, model has unfinished tasks %q", got, want)
		}
		for _, b := range f.Blocked {
			i := slices.Index(want, b.Name)
			if i < 0 {
				continue
			}
			ti := taskIndex(b.Name)
			ok, what := m.enabled(ti, r)
			if ok {
				errorf("deadlock reported but %s could proceed: %s (kernel says %q)", b.Name, what, b.WaitsOn)
			}
			if pre := waitPrefix[m.pend[ti].kind]; pre == "" || !strings.HasPrefix(b.WaitsOn, pre) {
				errorf("%s: kernel says it waits on %q, model says %s", b.Name, b.WaitsOn, what)
			}
		}
	case f.Kind == sim.Panic:
		msg, _ := f.Value.(string)
		ti := taskIndex(f.Task)
		if msg != "send on closed channel" || ti < 0 {
			errorf("unexpected panic in %q: %v", f.Task, f.Message)
			break
		}
		pd := m.pend[ti]
		ok := pd.kind == pSend && m.closed[pd.n]
		for _, c := range pd.cases {
			ok = ok || (c.send && m.closed[c.ch])
		}
		if !ok {
			errorf("%s panicked with %q but its pending operation %+v sends on no closed channel", f.Task, msg, pd)
		}
	default:
		errorf("unexpected failure: %v", f)
	}
	return errs
}

func taskIndex(name string) int {
	if name == "main" {
		return 0
	}
	var i int
	if _, err := fmt.Sscanf(name, "t%d", &i); err != nil {
		return -1
	}
	return i
}

// drawOptions draws a seed and a strategy: random, pct:1..3 with a small
// horizon, or fifo, each with or without permuted equal-time events; and
// whether to check for leaks.
func drawOptions(t *rapid.T) sim.Options {
	o := sim.Options{Seed: rapid.Uint64().Draw(t, "seed")}
	switch rapid.IntRange(0, 2).Draw(t, "strategy") {
	case 0:
		o.Strategy.Kind = sim.Random
	case 1:
		o.Strategy = sim.Strategy{Kind: sim.PCT, Depth: rapid.IntRange(1, 3).Draw(t, "depth"), Horizon: rapid.IntRange(1, 100).Draw(t, "horizon")}
	case 2:
		o.Strategy.Kind = sim.FIFO
	}
	o.Strategy.PermuteEqualTime = rapid.Bool().Draw(t, "permute")
	// Every program waits for its tasks, and stops or drains its timers, so
	// leak checking must not change the outcome.
	o.CheckLeaks = rapid.Bool().Draw(t, "checkLeaks")
	return o
}

func requireNoErrs(t *rapid.T, p *program, opts sim.Options, res sim.Result, errs []string) {
	if len(errs) > 0 {
		t.Fatalf("%d problem(s):\n  %s\n%v\nstrategy %v\n%s", len(errs), strings.Join(errs, "\n  "), res, opts.Strategy, p)
	}
}
