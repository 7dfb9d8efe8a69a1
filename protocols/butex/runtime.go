package butex

import (
	"errors"
	"fmt"

	"github.com/detsim/detsim/sim"
)

// ErrStopped is returned by Start after Stop.
var ErrStopped = errors.New("butex: the runtime is stopped")

// stealOffsets are brpc's prime steal strides (prime_offset.h), all above
// MaxWorkersPerTag: a worker visits its tag's groups at seed, seed+offset,
// ... modulo the group count, and a prime above the count visits them all.
var stealOffsets = [...]int{67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139}

// Runtime is brpc's TaskControl: the tags, their workers and parking lots.
type Runtime struct {
	env  sim.Env
	w    *sim.World
	opts Options
	tags []*tagControl

	// choose is choose_one_group's randomness; threads draws each
	// thread's parking-lot hash and each worker's steal seed and stride.
	choose  *sim.Rand
	threads *sim.Rand

	// timer is the TimerThread's thread state: butex timeouts and
	// bthread_usleep wake-ups run as it (a non-worker pthread).
	timer *thread
	// pthreads are the thread states of the Pthread handles, whose
	// bthread_flush sends the signals their nosignal wakes left pending
	// (Stalled counts those as pending).
	pthreads []*thread

	nextID int
	live   int
	// byTask maps a bthread's sim task ID to the bthread, to tell a
	// Pthread handle used from inside a bthread.
	byTask      map[int]*Bthread
	workersDone sim.WaitGroup
	stopped     bool
	stats       Stats
}

// Stats count what the runtime did, for metrics.
type Stats struct {
	// Started is the number of bthreads started, Finished of those ended.
	Started, Finished int
	// Parks counts futex waits that blocked a worker; FutexWakes the
	// workers a signal woke.
	Parks, FutexWakes int
	// SignalCalls counts signal_task calls that asked for at least one
	// worker.
	SignalCalls int
	// Steals counts tasks a worker took from another group or from its
	// own remote queue.
	Steals int
	// Exchanges counts wakes that switched to the woken bthread at once.
	Exchanges int
	// NosignalQueued counts woken bthreads queued without a signal.
	NosignalQueued int
}

// tagControl is one tag's part of TaskControl: its groups and lots.
type tagControl struct {
	tag    Tag
	groups []*Group
	lots   []*parkingLot
	// queued counts bthreads in the run queues of this tag's groups;
	// parked counts this tag's workers blocked in a futex wait.
	queued int
	parked int
	// flushing counts wake calls in progress (butex_wake_n, the joiners'
	// wake) that have queued bthreads on this tag without a signal and
	// will flush them before they return: a signal owed to the tag.
	flushing int
}

// thread is a pthread's thread-local state: tls_task_group (group, nil off
// the workers), tls_task_group_nosignal, and the hash of its id that picks
// its parking lot.
type thread struct {
	name     string
	group    *Group
	nosignal *Group
	lot      int
}

// New builds the runtime and starts every worker's main task (as tasks of
// env, so call it from a task or before World.Run). env must be a
// simulated Env.
func New(env sim.Env, opts Options) (*Runtime, error) {
	if env == nil {
		return nil, errors.New("butex: New: env is nil")
	}
	w := env.Sim()
	if w == nil {
		return nil, errors.New("butex: New: the runtime needs a simulated Env (env.Sim() is nil): workers and bthreads are sim tasks")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	rt := &Runtime{
		env: env, w: w, opts: o,
		choose:  env.Rand("butex/choose_one_group"),
		threads: env.Rand("butex/threads"),
		byTask:  map[int]*Bthread{},
	}
	rt.timer = rt.newThread("TimerThread")
	rt.workersDone = env.NewWaitGroup()
	id := 0
	for t, n := range o.Workers {
		tc := &tagControl{tag: Tag(t)}
		for i := 0; i < o.ParkingLots; i++ {
			tc.lots = append(tc.lots, &parkingLot{tc: tc, index: i})
		}
		for i := 0; i < n; i++ {
			g := newGroup(rt, tc, i, id)
			id++
			tc.groups = append(tc.groups, g)
		}
		rt.tags = append(rt.tags, tc)
	}
	for _, tc := range rt.tags {
		for _, g := range tc.groups {
			rt.workersDone.Add(1)
			env.Go(g.name, g.run)
		}
	}
	return rt, nil
}

// newThread makes a thread state with a parking-lot hash, as brpc hashes
// pthread_numeric_id().
func (rt *Runtime) newThread(name string) *thread {
	return &thread{name: name, lot: rt.threads.Intn(rt.opts.ParkingLots)}
}

// Variant returns the runtime's variant.
func (rt *Runtime) Variant() Variant { return rt.opts.Variant }

// Tags returns the number of tags.
func (rt *Runtime) Tags() int { return len(rt.tags) }

// Workers returns the groups of tag's workers.
func (rt *Runtime) Workers(tag Tag) []*Group {
	return append([]*Group(nil), rt.tagOf(tag, "Workers").groups...)
}

// NumWorkers returns the number of tag's workers.
func (rt *Runtime) NumWorkers(tag Tag) int { return len(rt.tagOf(tag, "NumWorkers").groups) }

// Queued returns how many bthreads wait in the run queues of tag's groups.
func (rt *Runtime) Queued(tag Tag) int { return rt.tagOf(tag, "Queued").queued }

// Parked returns how many of tag's workers are blocked in a futex wait.
func (rt *Runtime) Parked(tag Tag) int { return rt.tagOf(tag, "Parked").parked }

// Stalled reports the lost-wakeup state of a tag: a bthread is queued on
// one of its groups, every one of its workers is parked, and no signal is
// pending for it. A parked worker is woken only by a signal to its tag,
// and a signal to a tag with a parked worker wakes one at once, so the
// only signals that can be pending are those someone owes the tag: a wake
// call in progress that queued bthreads without a signal and flushes them
// before it returns, or a pthread whose nosignal wakes went to a group of
// the tag (tls_task_group_nosignal) and whose bthread_flush will signal
// that group's remote count (the caller may be descheduled in between).
// A worker's own flush signals only its own group's local count, which
// never leaves its tag stalled (the worker is running). Otherwise the
// queued bthread waits until some unrelated signal reaches the tag.
func (rt *Runtime) Stalled(tag Tag) bool {
	tc := rt.tagOf(tag, "Stalled")
	return tc.queued > 0 && tc.parked == len(tc.groups) && tc.flushing == 0 && !rt.flushOwed(tag)
}

// flushOwed reports whether some pthread's bthread_flush will signal
// remote nosignal tasks on a group of tag.
func (rt *Runtime) flushOwed(tag Tag) bool {
	for _, th := range rt.pthreads {
		if g := th.nosignal; g != nil && g.tag == tag && g.remoteNumNosignal > 0 {
			return true
		}
	}
	return false
}

// Live returns how many bthreads have started and not finished.
func (rt *Runtime) Live() int { return rt.live }

// Stats returns the runtime's counters.
func (rt *Runtime) Stats() Stats { return rt.stats }

func (rt *Runtime) tagOf(tag Tag, op string) *tagControl {
	if tag < 0 || int(tag) >= len(rt.tags) {
		panic(fmt.Sprintf("butex: %s(tag %d): no such tag (tags are 0..%d)", op, tag, len(rt.tags)-1))
	}
	return rt.tags[tag]
}

func (rt *Runtime) checkTag(tag Tag) error {
	if tag < 0 || int(tag) >= len(rt.tags) {
		return fmt.Errorf("butex: tag %d is invalid: the runtime has tags 0..%d (and TagInvalid, -1, for the caller's tag)", tag, len(rt.tags)-1)
	}
	return nil
}

// chooseOneGroup is TaskControl::choose_one_group(tag): a random group of
// the tag.
func (rt *Runtime) chooseOneGroup(tag Tag) *Group {
	gs := rt.tags[tag].groups
	return gs[rt.choose.Intn(len(gs))]
}

// signalTask is TaskControl::signal_task(n, tag): wake up to n (capped at
// SignalCap) parked workers of tag, visiting the tag's lots from the one
// the calling thread hashes to. Every lot visited records the signal in
// its state, woken or not, so a worker about to park there will not.
func (rt *Runtime) signalTask(th *thread, n int, tag Tag) {
	if n <= 0 {
		return
	}
	rt.stats.SignalCalls++
	n = min(n, rt.opts.SignalCap)
	lots := rt.tags[tag].lots
	i := th.lot % len(lots)
	for k := 0; k < len(lots) && n > 0; k++ {
		n -= lots[i].signal(1)
		i = (i + 1) % len(lots)
	}
	// NB: brpc adds a worker here if some wakes are left over and
	// bthread_min_concurrency > 0; the default (0) never does.
}

// stealTask is TaskControl::steal_task: g's worker visits its tag's groups
// (itself included) from its steal seed by its stride, taking the oldest
// task of a local queue or the first of a remote one.
func (rt *Runtime) stealTask(g *Group) *Bthread {
	gs := rt.tags[g.tag].groups
	n := len(gs)
	s := g.stealSeed
	var bt *Bthread
	for i := 0; i < n; i, s = i+1, (s+g.stealOffset)%n {
		o := gs[s%n]
		if bt = o.rq.steal(); bt != nil {
			break
		}
		if bt = o.remote.pop(); bt != nil {
			break
		}
	}
	g.stealSeed = s
	if bt != nil {
		rt.tags[g.tag].queued--
		rt.stats.Steals++
	}
	return bt
}

// Stop is TaskControl::stop_and_join's first half: every parking lot is
// stopped, so every worker returns from its main loop once the bthread it
// runs (if any) suspends and its queues look empty. Bthreads still queued
// or waiting are abandoned. Stop does not block; WaitWorkers does.
func (rt *Runtime) Stop() {
	if rt.stopped {
		return
	}
	rt.stopped = true
	for _, tc := range rt.tags {
		for _, pl := range tc.lots {
			pl.stop()
		}
	}
}

// WaitWorkers blocks the calling task until every worker has left its
// main loop (after Stop).
func (rt *Runtime) WaitWorkers() { rt.workersDone.Wait() }
