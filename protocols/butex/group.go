package butex

import (
	"fmt"

	"github.com/detsim/detsim/sim"
)

// Group is brpc's TaskGroup: one worker pthread of a tag, with its run
// queues and nosignal counters. Its worker runs either its main loop
// (parking, stealing) or exactly one bthread at a time.
type Group struct {
	rt    *Runtime
	tc    *tagControl
	tag   Tag
	index int // within the tag
	id    int // across tags
	name  string
	// th is the worker pthread's thread-local state (th.group == g).
	th *thread

	rq     wsQueue // _rq: pushed and popped by this worker only
	remote fifo    // _remote_rq: pushed by other threads
	// numNosignal counts tasks pushed to rq without a signal since the
	// last signal from this group; remoteNumNosignal the same for remote.
	numNosignal       int
	remoteNumNosignal int

	pl *parkingLot
	// lastPL is _last_pl_state: the lot state saved before the last steal
	// attempt; the worker parks only if the lot still shows it.
	lastPL      int
	stealSeed   int
	stealOffset int

	// cur is the bthread holding the worker, nil while the main loop
	// does.
	cur *Bthread
	// mainGate/mainResume hand the worker back to the main loop.
	mainGate   *sim.Signal
	mainResume bool
	// futex/parked: the worker blocked in its lot's futex wait.
	futex  *sim.Signal
	parked bool
	exited bool
}

func newGroup(rt *Runtime, tc *tagControl, index, id int) *Group {
	name := fmt.Sprintf("worker t%d/%d", tc.tag, index)
	g := &Group{
		rt: rt, tc: tc, tag: tc.tag, index: index, id: id, name: name,
		rq:     newWSQueue(rt.opts.RunQueueCap),
		remote: newFIFO(max(1, rt.opts.RunQueueCap/2)),
	}
	g.th = rt.newThread(name)
	g.th.group = g
	// The worker's lot and the lot its signals start at are both picked
	// by the hash of its pthread id.
	g.pl = tc.lots[g.th.lot]
	g.lastPL = g.pl.state
	g.stealSeed = rt.threads.Intn(MaxWorkersPerTag)
	g.stealOffset = stealOffsets[rt.threads.Intn(len(stealOffsets))]
	g.mainGate = rt.w.NewSignal(name + ": main loop waiting for its bthread to suspend")
	g.futex = rt.w.NewSignal(name + ": parked (futex wait)")
	return g
}

// Tag returns the worker's tag.
func (g *Group) Tag() Tag { return g.tag }

// Index returns the worker's index within its tag.
func (g *Group) Index() int { return g.index }

// Lot returns the index of the worker's parking lot within its tag.
func (g *Group) Lot() int { return g.pl.index }

// Parked reports whether the worker is blocked in its lot's futex wait.
func (g *Group) Parked() bool { return g.parked }

// Pending returns the local and remote counts of tasks queued without a
// signal (_num_nosignal, _remote_num_nosignal).
func (g *Group) Pending() (local, remote int) { return g.numNosignal, g.remoteNumNosignal }

// Queued returns the lengths of the local and remote run queues.
func (g *Group) Queued() (local, remote int) { return g.rq.len(), g.remote.len() }

func (g *Group) String() string { return g.name }

// run is the worker's main task, TaskGroup::run_main_task: wait for a task
// (parking when there is none), run it and whatever it hands the worker
// to, until the runtime stops.
func (g *Group) run() {
	defer g.rt.workersDone.Done()
	for {
		bt, ok := g.waitTask()
		if !ok {
			g.exited = true
			return
		}
		g.switchTo(bt)
		for !g.mainResume {
			g.mainGate.Wait()
		}
		g.mainResume = false
	}
}

// waitTask is TaskGroup::wait_task: park with the state saved before the
// last failed steal, then steal; false once the runtime stopped.
func (g *Group) waitTask() (*Bthread, bool) {
	for {
		if g.lastPL&1 != 0 {
			return nil, false
		}
		if h := g.rt.opts.Hooks.BeforePark; h != nil {
			h(g)
		}
		// The window between the failed steal and the futex wait: a
		// signal landing here changes the lot state, and wait returns at
		// once.
		g.rt.env.Yield()
		g.pl.wait(g, g.lastPL)
		if bt := g.stealTask(); bt != nil {
			return bt, true
		}
	}
}

// stealTask is TaskGroup::steal_task: own remote queue first, then save
// the lot state and steal across the tag.
func (g *Group) stealTask() *Bthread {
	if bt := g.remote.pop(); bt != nil {
		g.tc.queued--
		g.rt.stats.Steals++
		return bt
	}
	g.lastPL = g.pl.state
	return g.rt.stealTask(g)
}

// pickNext is the choice of TaskGroup::sched: the newest task of the local
// queue, else a steal, else nil for the main loop.
func (g *Group) pickNext() *Bthread {
	if bt := g.rq.pop(); bt != nil {
		g.tc.queued--
		return bt
	}
	return g.stealTask()
}

// switchTo hands the worker to next (nil: the main loop), sched_to. It
// does not block: the caller blocks afterwards if it must.
func (g *Group) switchTo(next *Bthread) {
	g.cur = next
	if next == nil {
		g.mainResume = true
		g.mainGate.Broadcast()
		return
	}
	next.resume(g)
}

// readyToRun is TaskGroup::ready_to_run, called by g's own worker (th is
// g.th): push to the local queue; without nosignal, signal this task and
// every task queued without a signal before it.
func (g *Group) readyToRun(th *thread, bt *Bthread, nosignal bool) {
	if th.group != g {
		panic(fmt.Sprintf("butex: internal error: %s.ready_to_run called from %s", g, th.name))
	}
	for !g.rq.push(bt) {
		g.flushNosignalTasks(th)
		g.rt.env.Sleep(g.rt.opts.FullQueueBackoff)
	}
	g.noteQueued(bt)
	if nosignal {
		g.numNosignal++
		g.rt.stats.NosignalQueued++
		return
	}
	add := g.numNosignal
	g.numNosignal = 0
	g.rt.signalTask(th, 1+add, g.tag)
}

// readyToRunRemote is TaskGroup::ready_to_run_remote, called by any
// thread: the same against the remote queue and its counter.
func (g *Group) readyToRunRemote(th *thread, bt *Bthread, nosignal bool) {
	for !g.remote.push(bt) {
		g.flushNosignalTasksRemote(th)
		g.rt.env.Sleep(g.rt.opts.FullQueueBackoff)
	}
	g.noteQueued(bt)
	if nosignal {
		g.remoteNumNosignal++
		g.rt.stats.NosignalQueued++
		return
	}
	add := g.remoteNumNosignal
	g.remoteNumNosignal = 0
	g.rt.signalTask(th, 1+add, g.tag)
}

// readyToRunGeneral is ready_to_run_general: local if th is g's worker.
func (g *Group) readyToRunGeneral(th *thread, bt *Bthread, nosignal bool) {
	if th.group == g {
		g.readyToRun(th, bt, nosignal)
	} else {
		g.readyToRunRemote(th, bt, nosignal)
	}
}

// flushNosignalTasks is TaskGroup::flush_nosignal_tasks (local counter).
func (g *Group) flushNosignalTasks(th *thread) {
	if n := g.numNosignal; n > 0 {
		g.numNosignal = 0
		g.rt.signalTask(th, n, g.tag)
	}
}

// flushNosignalTasksRemote is flush_nosignal_tasks_remote.
func (g *Group) flushNosignalTasksRemote(th *thread) {
	if n := g.remoteNumNosignal; n > 0 {
		g.remoteNumNosignal = 0
		g.rt.signalTask(th, n, g.tag)
	}
}

// flushNosignalTasksGeneral is flush_nosignal_tasks_general.
func (g *Group) flushNosignalTasksGeneral(th *thread) {
	if th.group == g {
		g.flushNosignalTasks(th)
	} else {
		g.flushNosignalTasksRemote(th)
	}
}

func (g *Group) noteQueued(bt *Bthread) {
	g.tc.queued++
	bt.state = stateReady
}
