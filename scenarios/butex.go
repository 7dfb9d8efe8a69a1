package scenarios

import (
	"fmt"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// Bounds of the butex scenario's liveness properties, in virtual time.
// Every critical section and computation of the workload takes 1-10µs, so
// a whole run of up to nine participants takes well under a millisecond;
// a hand-off, a steal or a wake takes no virtual time at all.
const (
	// butexLostWakeupBound: how long a tag may have a bthread queued
	// while every one of its workers is parked and no signal is pending
	// for it (butex.Runtime.Stalled). A signal to a tag with a parked
	// worker wakes one at once, so in a correct runtime the state never
	// arises; the bound keeps the property from judging a state an
	// already-due rescue (a timeout, a start) is about to end, and makes
	// "lost" mean "lost for two hundred of the workload's longest
	// computations". Parked workers cannot be descheduled, so +delay
	// strategies do not stretch it.
	butexLostWakeupBound = 2 * time.Millisecond
	// butexMutexBound: how long the mutex may stay free while someone is
	// inside Lock. The woken waiter needs a worker of its tag, which may
	// be running every other participant's critical section first (at most
	// nine of 10µs); under +delay strategies a task can also be
	// descheduled for up to 10ms (sim.DefaultMaxDelay), more than once.
	// Fifty milliseconds covers both with room to spare; a mutex that is
	// never handed on stays free for the rest of the run.
	butexMutexBound = 50 * time.Millisecond
	// butexJoinTimeout: the backstop for a run that stops making progress
	// in a way the properties above do not name.
	butexJoinTimeout = time.Second
)

// butexTestbed is one run of the butex scenario: a runtime of two tags,
// bthreads of both tags and (sometimes) a pthread taking part in rounds of
// mutex sections, a gate released by a batched wake, and a countdown-event
// barrier.
type butexTestbed struct {
	r  *scenario.Run
	rt *butex.Runtime

	m       *butex.Mutex
	holder  string // who is inside the critical section, "" if nobody
	counter int
	gate    *butex.Butex // value: the last round released
	events  []*butex.CountdownEvent
	parts   []*butexPart
	leaders []int // per round: the participant releasing the gate
	rounds  int
	locks   int
}

// butexPart is one participant's drawn behaviour.
type butexPart struct {
	name string
	tag  butex.Tag // -1 for the pthread
	rnd  *sim.Rand
	// batchGate: the gate is released with nosignal wakes and a flush
	// (the #1749 pattern) rather than signalling wakes; wakeAll: with one
	// butex_wake_all rather than butex_wake one by one.
	batchGate, wakeAll bool
	// flushBarrier: CountdownEvent::signal(1, flush=true), then
	// bthread_flush.
	flushBarrier bool
	// gateTimeout: the gate wait's timeout (0: none); a timed-out wait
	// checks the gate and waits again.
	gateTimeout time.Duration
}

// stallWatch is a bounded-duration property: cond must not hold for longer
// than bound. It is evaluated after every step; when cond starts to hold,
// an event at +bound checks that it has not stopped holding since.
type stallWatch struct {
	r     *scenario.Run
	name  string
	bound time.Duration
	cond  func() bool
	why   func() string // describes the state, for the violation
	on    bool
	epoch int
	since time.Duration
}

func (s *stallWatch) step() error {
	hold := s.cond()
	switch {
	case hold && !s.on:
		s.on, s.since = true, s.r.W.Elapsed()
		s.epoch++
		epoch := s.epoch
		s.r.W.ScheduleFunc(s.bound, func() {
			if s.on && s.epoch == epoch && s.cond() {
				s.r.Violate(s.name, "%s for %v (since t=%v)", s.why(), s.bound, s.since)
			}
		})
	case !hold:
		s.on = false
	}
	return nil
}

func (s *stallWatch) watch() { s.r.Safety(s.name, s.step) }

func newButexTestbed(r *scenario.Run) (*butexTestbed, error) {
	tb := &butexTestbed{r: r, rounds: r.Params.Int("rounds"), locks: r.Params.Int("locks")}
	variant, err := butex.ParseVariant(r.Variant)
	if err != nil {
		return nil, err
	}
	opts := butex.DefaultOptions()
	opts.Variant = variant
	opts.Workers = []int{r.Params.Int("tag0-workers"), r.Params.Int("tag1-workers")}
	opts.Hooks = butex.Hooks{OnRun: tb.onRun, OnWake: tb.onWake}
	if tb.rt, err = butex.New(r.W, opts); err != nil {
		return nil, err
	}
	tb.m = tb.rt.NewMutex()
	tb.gate = tb.rt.NewButex(0)
	n := r.Params.Int("tag0-bthreads") + r.Params.Int("tag1-bthreads") + r.Params.Int("pthreads")
	for i := 0; i < tb.rounds; i++ {
		ev, err := tb.rt.NewCountdownEvent(n)
		if err != nil {
			return nil, err
		}
		tb.events = append(tb.events, ev)
	}
	mix := r.W.Rand("butex/mix")
	add := func(name string, tag butex.Tag) {
		p := &butexPart{name: name, tag: tag, rnd: r.W.Rand("butex/part/" + name)}
		p.batchGate = mix.Intn(4) != 0
		p.wakeAll = mix.Bool()
		p.flushBarrier = mix.Intn(4) != 0
		if mix.Intn(4) == 0 {
			p.gateTimeout = time.Duration(10+mix.Intn(40)) * time.Microsecond
		}
		tb.parts = append(tb.parts, p)
	}
	for t, key := range []string{"tag0-bthreads", "tag1-bthreads"} {
		for i := 0; i < r.Params.Int(key); i++ {
			add(fmt.Sprintf("t%d-b%d", t, i), butex.Tag(t))
		}
	}
	for i := 0; i < r.Params.Int("pthreads"); i++ {
		add(fmt.Sprintf("pthread%d", i), -1)
	}
	for i := 0; i < tb.rounds; i++ {
		tb.leaders = append(tb.leaders, mix.Intn(len(tb.parts)))
	}
	return tb, nil
}

// onRun checks tag isolation each time a worker runs a bthread.
func (tb *butexTestbed) onRun(bt *butex.Bthread, g *butex.Group) {
	if bt.Tag() != g.Tag() {
		tb.r.Violate("tag-isolation", "%v runs on %v, a worker of tag %d", bt, g, g.Tag())
	}
}

// onWake marks the probes: a batched wake across tags, one that found the
// woken bthread's tag idle (the #2777 window), one queued on a group of
// another tag.
func (tb *butexTestbed) onWake(wk butex.Wake) {
	cross := wk.Waker != nil && wk.Waker.Tag() != wk.Bthread.Tag() && wk.Requested
	tb.r.Sometimes("cross-tag-batch", cross)
	tag := wk.Bthread.Tag()
	tb.r.Sometimes("target-tag-idle", cross && tb.rt.Parked(tag) == tb.rt.NumWorkers(tag))
	tb.r.Sometimes("misrouted", wk.Into.Tag() != tag)
}

// participate is one participant's rounds; c is its Bthread or Pthread,
// compute its way of spending CPU time.
func (tb *butexTestbed) participate(i int, c butex.Caller, compute func(time.Duration)) {
	p := tb.parts[i]
	for round := 1; round <= tb.rounds; round++ {
		for k := 0; k < tb.locks; k++ {
			tb.m.Lock(c)
			if tb.holder != "" {
				tb.r.Violate("mutual-exclusion", "%s acquired the mutex held by %s", p.name, tb.holder)
			}
			tb.holder = p.name
			tb.counter++
			compute(time.Duration(1+p.rnd.Intn(10)) * time.Microsecond)
			tb.holder = ""
			tb.m.Unlock(c)
		}
		if tb.leaders[round-1] == i {
			tb.releaseGate(p, c, round)
		} else {
			for v := tb.gate.Value(); v < round; v = tb.gate.Value() {
				_ = tb.gate.Wait(c, v, p.gateTimeout) // woken, EWOULDBLOCK or ETIMEDOUT: look again
			}
		}
		ev := tb.events[round-1]
		if err := ev.Signal(c, 1, p.flushBarrier); err != nil {
			panic(err)
		}
		if p.flushBarrier {
			tb.rt.Flush(c)
		}
		if err := ev.Wait(c, 0); err != nil {
			panic(err)
		}
	}
}

// releaseGate opens the gate for round: butex_wake(nosignal) of every
// waiter then bthread_flush (#1749), or signalling wakes.
func (tb *butexTestbed) releaseGate(p *butexPart, c butex.Caller, round int) {
	tb.gate.Store(round)
	if p.wakeAll {
		tb.gate.WakeAll(c, p.batchGate)
	} else {
		for tb.gate.Wake(c, p.batchGate) > 0 {
		}
	}
	if p.batchGate {
		tb.rt.Flush(c)
	}
}

func (tb *butexTestbed) watch() {
	for t := 0; t < tb.rt.Tags(); t++ {
		tag := butex.Tag(t)
		(&stallWatch{r: tb.r, name: "no-lost-wakeup", bound: butexLostWakeupBound,
			cond: func() bool { return tb.rt.Stalled(tag) },
			why: func() string {
				return fmt.Sprintf("tag %d had %d bthread(s) queued with all %d of its workers parked and no signal pending",
					tag, tb.rt.Queued(tag), tb.rt.NumWorkers(tag))
			}}).watch()
	}
	(&stallWatch{r: tb.r, name: "mutex-liveness", bound: butexMutexBound,
		cond: func() bool { return !tb.m.Locked() && tb.m.Contenders() > 0 },
		why: func() string {
			return fmt.Sprintf("the mutex stayed free with %d caller(s) inside Lock", tb.m.Contenders())
		}}).watch()
}

func (tb *butexTestbed) run() {
	r, rt := tb.r, tb.rt
	tb.watch()
	main := rt.NewPthread("main")
	var bts []*butex.Bthread
	done := r.W.NewWaitGroup()
	for i, p := range tb.parts {
		if p.tag < 0 {
			pth := rt.NewPthread(p.name)
			done.Add(1)
			r.W.Go(p.name, func() {
				defer done.Done()
				tb.participate(i, pth, r.W.Sleep)
			})
			continue
		}
		bt, err := rt.Start(main, p.tag, p.name, func(bt *butex.Bthread) { tb.participate(i, bt, bt.Compute) })
		if err != nil {
			panic(err)
		}
		bts = append(bts, bt)
	}
	for _, bt := range bts {
		if err := rt.Join(main, bt, butexJoinTimeout); err != nil {
			r.Violate("progress", "%v did not finish within %v: %v", bt, butexJoinTimeout, err)
		}
	}
	done.Wait()
	rt.Stop()
	rt.WaitWorkers()
	if want := len(tb.parts) * tb.rounds * tb.locks; tb.counter != want {
		r.Violate("mutual-exclusion", "counter = %d after %d critical sections", tb.counter, want)
	}
	st := rt.Stats()
	r.Metric("bthreads", float64(st.Started))
	r.Metric("parks", float64(st.Parks))
	r.Metric("steals", float64(st.Steals))
	r.Metric("exchanges", float64(st.Exchanges))
	r.Metric("nosignal_queued", float64(st.NosignalQueued))
}

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "butex",
		Description: "brpc's M:N bthread runtime with two tags (worker pools): bthreads of both tags " +
			"(and sometimes a pthread) contend one bthread mutex, wait on a gate butex that a leader " +
			"releases with nosignal wakes and bthread_flush (the #1749 batching pattern), and meet at " +
			"a CountdownEvent barrier whose last signal(1, flush=true) wakes everyone with " +
			"butex_wake_all(nosignal). In the buggy variant (brpc before PR #2778) a nosignal wake of a " +
			"bthread of the other tag is queued, unsignalled, on a group picked once and remembered in the " +
			"worker's tls_task_group_nosignal, which bthread_flush on a worker never signals: an idle tag " +
			"never runs it (lost wakeup), and later same-tag wakes from that worker follow it to the " +
			"other tag's group (a bthread runs on a worker of the wrong tag). apache/brpc#2777.",
		Variants: []scenario.Variant{
			{Name: "fixed", Doc: "batched wakes only within the caller's tag; cross-tag wakes signal (#2778)"},
			{Name: "buggy", Doc: "nosignal wakes go to tls_task_group_nosignal whatever its tag (brpc 1.10)", Buggy: true},
		},
		Params: []scenario.Param{
			scenario.IntDrawn("tag0-workers", "workers of tag 0", 1, 3),
			scenario.IntDrawn("tag1-workers", "workers of tag 1", 1, 3),
			scenario.IntDrawn("tag0-bthreads", "bthreads of tag 0", 1, 4),
			scenario.IntDrawn("tag1-bthreads", "bthreads of tag 1", 1, 4),
			scenario.IntDrawn("pthreads", "plain tasks taking part as pthreads", 0, 1),
			scenario.IntDrawn("rounds", "rounds of mutex sections, gate and barrier", 1, 3),
			scenario.IntDrawn("locks", "mutex sections per participant and round", 0, 2),
		},
		Probes:     []string{"cross-tag-batch", "target-tag-idle", "misrouted"},
		Seeds:      2000,
		CheckLeaks: true,
		MaxTime:    time.Minute,
		Main: func(r *scenario.Run) {
			tb, err := newButexTestbed(r)
			if err != nil {
				panic(err)
			}
			tb.run()
		},
	})
}
