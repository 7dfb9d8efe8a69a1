package butex

import (
	"errors"
	"fmt"
	"time"

	"github.com/detsim/detsim/sim"
)

// Caller is the thread calling into the runtime: a *Bthread from inside its
// own function, or a *Pthread from a plain task. It stands in for brpc's
// thread-local tls_task_group and tls_task_group_nosignal.
type Caller interface {
	// callerThread returns the calling thread's state and the running
	// bthread (nil for a pthread), or panics on misuse.
	callerThread(op string) (*thread, *Bthread)
	// callerRuntime returns the runtime the handle belongs to.
	callerRuntime() *Runtime
}

type bthreadState uint8

const (
	stateCreated   bthreadState = iota // started, never run
	stateReady                         // in a run queue
	stateRunning                       // holds a worker
	stateSuspended                     // waiting (butex, timer) or switching out
	stateDone
)

// Bthread is a user task of the M:N runtime. Its function runs on its own
// sim task, but only while a worker of its tag has handed control to it.
type Bthread struct {
	rt   *Runtime
	id   int
	tag  Tag
	name string
	fn   func(*Bthread)
	task *sim.Task

	state bthreadState
	// group is the worker running the bthread (nil unless running).
	group *Group
	// gate/resumeOn: the worker handed to the bthread by resume.
	gate     *sim.Signal
	resumeOn *Group
	// version is the join butex (TaskMeta::version_butex): 0 while the
	// bthread lives, 1 once it ended.
	version *Butex
}

// ID returns the bthread's id (1, 2, ... in start order).
func (bt *Bthread) ID() int { return bt.id }

// Tag returns the bthread's tag.
func (bt *Bthread) Tag() Tag { return bt.tag }

// Name returns the name given to Start.
func (bt *Bthread) Name() string { return bt.name }

// Done reports whether the bthread's function has returned.
func (bt *Bthread) Done() bool { return bt.state == stateDone }

// Worker returns the worker running the bthread, or nil if it is not
// running.
func (bt *Bthread) Worker() *Group { return bt.group }

func (bt *Bthread) String() string {
	return fmt.Sprintf("bthread %d %q (tag %d)", bt.id, bt.name, bt.tag)
}

func (bt *Bthread) callerThread(op string) (*thread, *Bthread) {
	if bt == nil {
		panic(fmt.Sprintf("butex: %s: the Caller is a nil *Bthread", op))
	}
	cur := bt.rt.w.Current()
	if cur == nil || bt.task == nil || cur != bt.task {
		in := "outside any task"
		if cur != nil {
			in = "from " + cur.String()
		}
		panic(fmt.Sprintf("butex: %s called with %v's handle %s: a Bthread handle may only be used by the bthread's own function (use a Pthread for plain tasks)", op, bt, in))
	}
	if bt.group == nil {
		panic(fmt.Sprintf("butex: internal error: %s called by %v, which is not running on a worker", op, bt))
	}
	return bt.group.th, bt
}

// Pthread is a plain sim task calling into the runtime from outside the
// workers (a non-worker pthread). It holds that pthread's
// tls_task_group_nosignal. Use one Pthread per task.
type Pthread struct {
	rt *Runtime
	th *thread
}

// NewPthread returns the handle a plain task uses to call into the
// runtime.
func (rt *Runtime) NewPthread(name string) *Pthread {
	th := rt.newThread(name)
	rt.pthreads = append(rt.pthreads, th)
	return &Pthread{rt: rt, th: th}
}

func (p *Pthread) callerThread(op string) (*thread, *Bthread) {
	if p == nil {
		panic(fmt.Sprintf("butex: %s: the Caller is a nil *Pthread", op))
	}
	cur := p.rt.w.Current()
	if cur == nil {
		panic(fmt.Sprintf("butex: %s called with Pthread %q outside any task", op, p.th.name))
	}
	if bt := p.rt.byTask[cur.ID()]; bt != nil {
		panic(fmt.Sprintf("butex: %s called with Pthread %q from inside %v: a bthread must call with its own *Bthread", op, p.th.name, bt))
	}
	return p.th, nil
}

func (p *Pthread) String() string { return "pthread " + p.th.name }

func (bt *Bthread) callerRuntime() *Runtime { return bt.rt }

func (p *Pthread) callerRuntime() *Runtime { return p.rt }

// callerOf identifies the thread calling op on an object of rt. A handle
// of another Runtime is a programming error: its thread state and groups
// are not rt's, and a bthread woken into rt's groups would run on rt's
// workers.
func (rt *Runtime) callerOf(c Caller, op string) (*thread, *Bthread) {
	if c == nil {
		panic(fmt.Sprintf("butex: %s: the Caller is nil (pass the running *Bthread or a *Pthread)", op))
	}
	th, bt := c.callerThread(op)
	if c.callerRuntime() != rt {
		panic(fmt.Sprintf("butex: %s called with %v, a handle of another Runtime: a runtime's butexes, mutexes and events take only its own bthreads and pthreads", op, c))
	}
	return th, bt
}

// Start is bthread_start_background: it makes a bthread of tag running fn
// and queues it with a signal: on the caller's worker if the caller runs
// on a worker of that tag (start_background<false>), else on a random
// group of the tag (start_from_non_worker). TagInvalid
// (BTHREAD_TAG_INVALID) is the caller's tag: that of the worker the
// calling bthread runs on, or tag 0 (BTHREAD_TAG_DEFAULT) from a pthread.
func (rt *Runtime) Start(c Caller, tag Tag, name string, fn func(bt *Bthread)) (*Bthread, error) {
	th, _ := rt.callerOf(c, "Start")
	if tag == TagInvalid {
		// can_run_thread_local / start_from_non_worker
		tag = 0
		if th.group != nil {
			tag = th.group.tag
		}
	}
	if err := rt.checkTag(tag); err != nil {
		return nil, fmt.Errorf("butex: Start(%q): %w", name, err)
	}
	if fn == nil {
		return nil, fmt.Errorf("butex: Start(%q): fn is nil", name)
	}
	if rt.stopped {
		return nil, fmt.Errorf("butex: Start(%q): %w", name, ErrStopped)
	}
	rt.nextID++
	bt := &Bthread{rt: rt, id: rt.nextID, tag: tag, name: name, fn: fn}
	bt.gate = rt.w.NewSignal(fmt.Sprintf("%v: waiting for a worker", bt))
	bt.version = rt.NewButex(0)
	rt.live++
	rt.stats.Started++
	rt.env.Go(fmt.Sprintf("bthread %d %s", bt.id, name), bt.body)
	if th.group != nil && th.group.tag == tag {
		th.group.readyToRun(th, bt, false)
	} else {
		rt.chooseOneGroup(tag).readyToRunRemote(th, bt, false)
	}
	return bt, nil
}

// body is the bthread's task: wait for a worker, run fn, end
// (task_runner).
func (bt *Bthread) body() {
	bt.task = bt.rt.w.Current()
	bt.rt.byTask[bt.task.ID()] = bt
	bt.waitResume()
	bt.fn(bt)
	bt.finish()
}

// finish ends the bthread on its worker: wake the joiners, hand the worker
// to the next task (ending_sched).
func (bt *Bthread) finish() {
	rt := bt.rt
	th := bt.group.th
	bt.state = stateDone
	bt.version.value = 1
	bt.version.wakeExcept(th)
	g := bt.group
	bt.group = nil
	delete(rt.byTask, bt.task.ID())
	rt.live--
	rt.stats.Finished++
	g.switchTo(g.pickNext())
}

// resume gives the bthread worker g (called by whoever hands g over).
func (bt *Bthread) resume(g *Group) {
	bt.group = g
	bt.resumeOn = g
	bt.gate.Broadcast()
}

// waitResume blocks until a worker hands itself to the bthread.
func (bt *Bthread) waitResume() {
	for bt.resumeOn == nil {
		bt.gate.Wait()
	}
	g := bt.resumeOn
	bt.resumeOn = nil
	if g.cur != bt || bt.group != g {
		panic(fmt.Sprintf("butex: internal error: %v resumed on %v, which runs %v", bt, g, g.cur))
	}
	bt.state = stateRunning
	if h := bt.rt.opts.Hooks.OnRun; h != nil {
		h(bt, g)
	}
}

// suspend switches the running bthread off its worker: the worker's next
// task is next, or (nil) whatever sched picks; then remained runs (brpc's
// set_remained: the work that must wait until the bthread is off the
// worker, such as queueing it as a butex waiter or back on a run queue),
// the worker is handed over and the bthread blocks until a worker resumes
// it.
func (bt *Bthread) suspend(next *Bthread, remained func(g *Group)) {
	g := bt.group
	bt.group = nil
	bt.state = stateSuspended
	if next == nil {
		next = g.pickNext()
	}
	g.cur = nil
	if remained != nil {
		remained(g)
	}
	g.switchTo(next)
	bt.waitResume()
}

// Yield is bthread_yield: requeue the bthread (with a signal) and let the
// worker run something else.
func (bt *Bthread) Yield() {
	bt.callerThread("Yield")
	bt.suspend(nil, func(g *Group) { g.readyToRun(g.th, bt, false) })
}

// Usleep is bthread_usleep: the bthread sleeps for d without its worker;
// the timer thread then queues it with a signal on a random group of the
// tag of the worker it slept on (ready_to_run_from_timer_thread takes
// SleepArgs::group's tag, which is the bthread's own tag unless a
// misrouted wake moved it). d <= 0 is Yield.
func (bt *Bthread) Usleep(d time.Duration) {
	th, _ := bt.callerThread("Usleep")
	if d <= 0 {
		bt.Yield()
		return
	}
	rt, tag := bt.rt, th.group.tag
	bt.suspend(nil, func(*Group) {
		rt.env.AfterFunc(d, func() {
			rt.chooseOneGroup(tag).readyToRunRemote(rt.timer, bt, false)
		})
	})
}

// Compute models d of CPU work: the bthread keeps its worker busy for d.
func (bt *Bthread) Compute(d time.Duration) {
	bt.callerThread("Compute")
	bt.rt.env.Sleep(d)
}

// Join is bthread_join with a timeout (0: none): block until bt ends. It
// returns ErrTimedOut if bt is still running after timeout.
func (rt *Runtime) Join(c Caller, bt *Bthread, timeout time.Duration) error {
	if bt == nil {
		return errors.New("butex: Join: bthread is nil")
	}
	if timeout < 0 {
		return fmt.Errorf("butex: Join(%v): timeout %v is negative (0 means none)", bt, timeout)
	}
	_, self := rt.callerOf(c, "Join")
	if bt.rt != rt {
		return fmt.Errorf("butex: Join(%v): the bthread belongs to another Runtime", bt)
	}
	if self == bt {
		return fmt.Errorf("butex: Join: %v cannot join itself", bt)
	}
	deadline := rt.env.Now().Add(timeout)
	for bt.state != stateDone {
		left := time.Duration(0)
		if timeout > 0 {
			if left = rt.env.Until(deadline); left <= 0 {
				return ErrTimedOut
			}
		}
		if err := bt.version.Wait(c, 0, left); errors.Is(err, ErrTimedOut) {
			return err
		}
	}
	return nil
}
