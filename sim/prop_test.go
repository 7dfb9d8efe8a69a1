package sim_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// ---------------------------------------------------------------------------
// Properties.

// TestPropGeneralPrograms runs arbitrary programs (which may deadlock or send
// on a closed channel), each under several seeds and strategies, and checks
// every observation and the outcome against the model: mutual exclusion,
// reader/writer exclusion, channel FIFO and accounting, closed-channel
// receives, exact timer, ticker, sleep and context deadlines, monotonic time
// (per task and in the trace), and a deadlock reported exactly when every
// unfinished task is stuck.
func TestPropGeneralPrograms(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var p *program
		if rapid.Bool().Draw(t, "mixed") {
			p = genMixed(rapidChooser{t}, 6, 15)
		} else {
			p = genGeneral(rapidChooser{t}, 6, 12)
		}
		for range 5 {
			opts := drawOptions(t)
			opts.Trace = true
			res, m, r := runProgram(t, p, opts)
			requireNoErrs(t, p, opts, res, checkOutcome(p, res, m, r))
		}
	})
}

// TestPropGeneralProgramsLong is TestPropGeneralPrograms with longer programs
// generated from a seed (as rapid recommends for long traces).
func TestPropGeneralProgramsLong(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "program")
		var p *program
		if seed%2 == 0 {
			p = genMixed(sim.NewRand(seed), 6, 30)
		} else {
			p = genGeneral(sim.NewRand(seed), 6, 20)
		}
		for range 3 {
			opts := drawOptions(t)
			res, m, r := runProgram(t, p, opts)
			requireNoErrs(t, p, opts, res, checkOutcome(p, res, m, r))
		}
	})
}

// TestPropDeadlockFreePrograms: programs deadlock-free by construction (one
// global lock order, every receive matched by a send in one global message
// order) never deadlock or panic, on any seed or strategy.
func TestPropDeadlockFreePrograms(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genSafe(rapidChooser{t}, 6, 15)
		for range 3 {
			opts := drawOptions(t)
			res, m, r := runProgram(t, p, opts)
			errs := checkOutcome(p, res, m, r)
			if res.Failure != nil {
				errs = append(errs, fmt.Sprintf("deadlock-free program failed: %v", res.Failure))
			}
			requireNoErrs(t, p, opts, res, errs)
		}
	})
}

// TestPropAlwaysDeadlock: a deadlock-free program in which one task (maybe
// main, after waiting for the others) finally receives on a channel nobody
// sends on always deadlocks, and the report names exactly that task and main.
func TestPropAlwaysDeadlock(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		p := genSafe(c, 6, 10)
		k := c.Intn(len(p.tasks))
		if k == 0 {
			p.mainTail = append(p.mainTail, op{kind: opDeadRecv})
		} else {
			p.tasks[k] = append(p.tasks[k], op{kind: opDeadRecv})
		}
		opts := drawOptions(t)
		res, m, r := runProgram(t, p, opts)
		errs := checkOutcome(p, res, m, r)
		if res.Failure == nil || res.Failure.Kind != sim.Deadlock {
			errs = append(errs, fmt.Sprintf("want a deadlock, got %v", res.Failure))
		} else {
			want := []string{"main"}
			if k != 0 {
				want = append(want, taskName(k))
			}
			var got []string
			for _, b := range res.Failure.Blocked {
				got = append(got, b.Name)
				if !strings.HasPrefix(b.WaitsOn, "Chan.Recv") && !strings.HasPrefix(b.WaitsOn, "WaitGroup.Wait") {
					errs = append(errs, fmt.Sprintf("%s waits on %q", b.Name, b.WaitsOn))
				}
			}
			if !slices.Equal(got, want) {
				errs = append(errs, fmt.Sprintf("blocked %q, want %q", got, want))
			}
		}
		requireNoErrs(t, p, opts, res, errs)
	})
}

// TestPropLeakCheck: a task that outlives main (blocked for ever on a
// channel nobody sends on, after main stopped waiting for it) is a leak
// with Options.CheckLeaks, reported with exactly that task and no timer,
// and is silently unwound without it.
func TestPropLeakCheck(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		p := genSafe(c, 6, 10)
		k := 1 + c.Intn(len(p.tasks)-1)
		p.afterDone = make([][]op, len(p.tasks))
		p.afterDone[k] = []op{{kind: opDeadRecv}}
		opts := drawOptions(t)
		res, m, _ := runProgram(t, p, opts)
		errs := slices.Clone(m.errs)
		f := res.Failure
		switch {
		case !opts.CheckLeaks && f != nil:
			errs = append(errs, fmt.Sprintf("want a pass without CheckLeaks, got %v", f))
		case opts.CheckLeaks && (f == nil || f.Kind != sim.Leak):
			errs = append(errs, fmt.Sprintf("want a leak, got %v", f))
		case opts.CheckLeaks:
			if len(f.Blocked) != 1 || f.Blocked[0].Name != taskName(k) || !strings.HasPrefix(f.Blocked[0].WaitsOn, "Chan.Recv") || len(f.Timers) != 0 {
				errs = append(errs, fmt.Sprintf("want %s leaked in Chan.Recv, got %v", taskName(k), f))
			}
		}
		for i := range p.tasks {
			if i != k && !m.finished[i] {
				errs = append(errs, fmt.Sprintf("%s did not finish", taskName(i)))
			}
		}
		requireNoErrs(t, p, opts, res, errs)
	})
}

// TestPropBudgets: a run that never ends is cut by its budget: a ticker
// keeps the clock moving while main waits for ever (virtual-time budget:
// the clock never passes MaxTime), or a task yields for ever (step budget:
// exactly MaxSteps steps).
func TestPropBudgets(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		opts := drawOptions(t)
		period := durations[1+rapid.IntRange(0, len(durations)-2).Draw(t, "period")]
		byTime := rapid.Bool().Draw(t, "byTime")
		if byTime {
			opts.MaxTime = time.Duration(rapid.IntRange(1, 50).Draw(t, "maxTime")) * period
		} else {
			opts.MaxSteps = int64(rapid.IntRange(1, 500).Draw(t, "maxSteps"))
		}
		w, err := sim.New(opts)
		require.NoError(t, err)
		res, err := w.Run(func() {
			if byTime {
				tk := w.NewTicker(period)
				w.Go("ticks", func() {
					for {
						tk.C().Recv()
					}
				})
				sim.NewChan[int](w, 0).Recv()
			}
			w.Go("spinner", func() {
				for {
					w.Yield()
				}
			})
			for {
				w.Yield()
			}
		})
		require.NoError(t, err)
		f := res.Failure
		require.NotNil(t, f)
		require.Equal(t, sim.Budget, f.Kind, "%v", f)
		if byTime {
			require.LessOrEqual(t, res.Elapsed, opts.MaxTime)
			require.Greater(t, res.Elapsed+period, opts.MaxTime, "stopped before the budget")
			require.Contains(t, f.Message, "virtual-time budget")
		} else {
			require.Equal(t, opts.MaxSteps, res.Steps)
			require.Contains(t, f.Message, "step budget")
		}
	})
}

// TestPropTimeOnly: programs of clock operations only (sleeps, timers with
// stop and reset, tickers, AfterFunc, context timeouts) never fail, and
// every deadline is met exactly.
func TestPropTimeOnly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		p := &program{nMutex: 1}
		n := 1 + c.Intn(5)
		p.tasks = make([][]op, n)
		for i := range n {
			for range c.Intn(10) {
				p.tasks[i] = append(p.tasks[i], genTimeOp(c))
			}
		}
		for i := 1; i < n; i++ {
			parent := c.Intn(i)
			p.tasks[parent] = slices.Insert(p.tasks[parent], c.Intn(len(p.tasks[parent])+1), op{kind: opSpawn, n: i})
		}
		opts := drawOptions(t)
		opts.Trace = true
		res, m, r := runProgram(t, p, opts)
		errs := checkOutcome(p, res, m, r)
		if res.Failure != nil {
			errs = append(errs, fmt.Sprintf("clock-only program failed: %v", res.Failure))
		}
		requireNoErrs(t, p, opts, res, errs)
	})
}

// TestPropLockOrderDeadlock: tasks each take two mutexes in a drawn order,
// with a Yield between. Whether a run deadlocks depends on the interleaving,
// so each run is checked on its own: a deadlock must be a cycle of tasks
// each waiting for a mutex the next one holds (checked against the shadow
// holders), a pass must finish every task, and an acyclic lock-order graph
// must never deadlock.
func TestPropLockOrderDeadlock(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		p := &program{nMutex: 2 + c.Intn(2)}
		n := 2 + c.Intn(3)
		p.tasks = make([][]op, n+1)
		edges := map[[2]int]bool{}
		for i := 1; i <= n; i++ {
			a := c.Intn(p.nMutex)
			b := (a + 1 + c.Intn(p.nMutex-1)) % p.nMutex
			edges[[2]int{a, b}] = true
			p.tasks[i] = []op{{kind: opLock, n: a, body: []op{{kind: opYield}, {kind: opLock, n: b, body: []op{{kind: opYield}}}}}}
			p.tasks[0] = append(p.tasks[0], op{kind: opSpawn, n: i})
		}
		opts := drawOptions(t)
		res, m, r := runProgram(t, p, opts)
		errs := checkOutcome(p, res, m, r)
		if f := res.Failure; f != nil && f.Kind == sim.Deadlock {
			if !hasCycle(p.nMutex, edges) {
				errs = append(errs, "deadlock with an acyclic lock order")
			}
			// Every blocked task but main waits for a mutex held by another
			// blocked task.
			for _, b := range f.Blocked {
				i := taskIndex(b.Name)
				if i == 0 {
					continue
				}
				pd := m.pend[i]
				h := m.holder[pd.n] - 1
				if pd.kind != pLock || h < 1 || h == i || m.finished[h] {
					errs = append(errs, fmt.Sprintf("%s blocked on %+v held by %d", b.Name, pd, h))
				}
			}
		}
		requireNoErrs(t, p, opts, res, errs)
	})
}

func hasCycle(n int, edges map[[2]int]bool) bool {
	// Floyd-Warshall reachability on at most 3 nodes.
	reach := make([][]bool, n)
	for a := range n {
		reach[a] = make([]bool, n)
		for b := range n {
			reach[a][b] = edges[[2]int{a, b}]
		}
	}
	for k := range n {
		for a := range n {
			for b := range n {
				reach[a][b] = reach[a][b] || (reach[a][k] && reach[k][b])
			}
		}
	}
	for a := range n {
		if reach[a][a] {
			return true
		}
	}
	return false
}

// TestPropLockRingAlwaysDeadlocks: k tasks in a ring, each holding mutex i
// and, after a barrier every task passes while holding its first mutex,
// wanting mutex i+1: a deadlock on every schedule, reported with exactly
// the ring and main.
func TestPropLockRingAlwaysDeadlocks(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(2, 5).Draw(t, "k")
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		res, err := w.Run(func() {
			mus := make([]sim.Mutex, k)
			for i := range mus {
				mus[i] = w.NewMutex()
			}
			barrier := w.NewWaitGroup()
			barrier.Add(k)
			done := w.NewWaitGroup()
			for i := range k {
				done.Add(1)
				w.Go(fmt.Sprintf("ring%d", i), func() {
					mus[i].Lock()
					barrier.Done()
					barrier.Wait()
					mus[(i+1)%k].Lock()
					w.Violate("ring", "task %d got both mutexes", i)
				})
			}
			done.Wait()
		})
		require.NoError(t, err)
		f := res.Failure
		require.NotNil(t, f)
		require.Equal(t, sim.Deadlock, f.Kind, "%v", f)
		require.Len(t, f.Blocked, k+1, "%v", f)
		require.Equal(t, "main", f.Blocked[0].Name)
		for i, b := range f.Blocked[1:] {
			require.Equal(t, fmt.Sprintf("ring%d", i), b.Name)
			require.True(t, strings.HasPrefix(b.WaitsOn, "Mutex.Lock"), b.WaitsOn)
			require.Contains(t, b.WaitsOn, fmt.Sprintf("ring%d", (i+1)%k), "waits for the next task in the ring")
		}
	})
}

// TestPropLockCycleDeadlocksOnSomeSchedules: two tasks taking two mutexes in
// opposite orders deadlock on some schedules and pass on others (so the
// deadlock check above is not vacuous).
func TestPropLockCycleDeadlocksOnSomeSchedules(t *testing.T) {
	p := &program{nMutex: 2, tasks: [][]op{
		{{kind: opSpawn, n: 1}, {kind: opSpawn, n: 2}},
		{{kind: opLock, n: 0, body: []op{{kind: opYield}, {kind: opLock, n: 1}}}},
		{{kind: opLock, n: 1, body: []op{{kind: opYield}, {kind: opLock, n: 0}}}},
	}}
	outcomes := map[string]int{}
	for seed := range uint64(100) {
		res, m, r := runProgram(t, p, sim.Options{Seed: seed})
		require.Empty(t, checkOutcome(p, res, m, r))
		if res.Failure == nil {
			outcomes["pass"]++
		} else {
			outcomes[res.Failure.Kind.String()]++
		}
	}
	require.Positive(t, outcomes["pass"], "%v", outcomes)
	require.Positive(t, outcomes["deadlock"], "%v", outcomes)
	require.Equal(t, 100, outcomes["pass"]+outcomes["deadlock"], "%v", outcomes)
}

// TestPropSendOnClosedPanics: once the designated closer has closed a
// channel, any send on it (Send, TrySend, or a Select send case, started
// after the close; or a Send blocked before it) panics with "send on closed
// channel". Receivers first get the values buffered before the close, in
// order, then zero, false.
func TestPropSendOnClosedPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(0, 2).Draw(t, "cap")
		buffered := rapid.IntRange(0, capacity).Draw(t, "buffered")
		how := rapid.IntRange(0, 3).Draw(t, "how") // 0 Send, 1 TrySend, 2 Select, 3 Send blocked before the close
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		var got []int
		var oks []bool
		res, err := w.Run(func() {
			ch := sim.NewChan[int](w, capacity)
			for v := 1; v <= buffered; v++ {
				ch.Send(v)
			}
			closed := sim.NewChan[struct{}](w, 0)
			w.Go("sender", func() {
				if how == 3 {
					for range capacity - buffered + 1 { // the last one blocks
						ch.Send(99)
					}
					return
				}
				closed.Recv()
				switch how {
				case 0:
					ch.Send(100)
				case 1:
					ch.TrySend(100)
				case 2:
					sim.Select(w, sim.SendCase(ch, 100), sim.DefaultCase())
				}
			})
			if how == 3 {
				// The clock only advances once every task is blocked: the
				// sender is now blocked in its last Send.
				w.Sleep(time.Millisecond)
				ch.Close()
				w.Sleep(time.Second)
				w.Violate("closed", "the blocked sender did not panic")
				return
			}
			ch.Close()
			for range buffered + 1 {
				v, ok := ch.Recv2()
				got, oks = append(got, v), append(oks, ok)
			}
			closed.Close()
			w.Sleep(time.Second)
			w.Violate("closed", "the sender did not panic")
		})
		require.NoError(t, err)
		f := res.Failure
		require.NotNil(t, f)
		require.Equal(t, sim.Panic, f.Kind, "%v", f)
		require.Equal(t, "sender", f.Task)
		require.Equal(t, "send on closed channel", f.Value)
		require.Contains(t, f.Message, "send on closed channel")
		if how != 3 {
			var want []int
			var wantOK []bool
			for v := 1; v <= buffered; v++ {
				want, wantOK = append(want, v), append(wantOK, true)
			}
			want, wantOK = append(want, 0), append(wantOK, false)
			require.Equal(t, want, got)
			require.Equal(t, wantOK, oks)
		}
	})
}

// TestPropRWMutexWriterPriority: as with sync.RWMutex, a writer waiting
// for the readers to leave keeps new readers out, and a writer's Unlock
// admits the readers that queued behind it before the next writer. Checked
// with the shadow state: a reader that calls RLock while no writer holds the
// lock, at a later virtual instant than some writer's Lock call that has not
// acquired yet (so that writer is queued: the clock only advances once every
// task is blocked), must get in only after the first of those writers to
// acquire has released. Readers and writers also exclude each other.
func TestPropRWMutexWriterPriority(t *testing.T) {
	type actor struct {
		writer       bool
		before, hold time.Duration
		callT        time.Time
		callSeq      int
		heldAtCall   bool // a writer held the lock when this reader called
		acqSeq       int
		relSeq       int
	}
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		actors := make([]*actor, 2+c.Intn(4))
		for i := range actors {
			actors[i] = &actor{writer: chance(c, 1, 2), before: pickDur(c), hold: pickDur(c)}
		}
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		var errs []string
		seq, readers, writer := 0, 0, false
		res, err := w.Run(func() {
			rw := w.NewRWMutex()
			all := w.NewWaitGroup()
			for i, a := range actors {
				all.Add(1)
				w.Go(fmt.Sprintf("actor%d", i), func() {
					w.Sleep(a.before)
					a.callT = w.Now()
					seq++
					a.callSeq = seq
					a.heldAtCall = writer
					if a.writer {
						rw.Lock()
						if writer || readers > 0 {
							errs = append(errs, fmt.Sprintf("actor%d: writer got in with writer=%v readers=%d", i, writer, readers))
						}
						writer = true
					} else {
						rw.RLock()
						if writer {
							errs = append(errs, fmt.Sprintf("actor%d: reader got in with a writer", i))
						}
						readers++
					}
					seq++
					a.acqSeq = seq
					w.Sleep(a.hold)
					if a.writer {
						rw.Unlock()
						writer = false
					} else {
						rw.RUnlock()
						readers--
					}
					seq++
					a.relSeq = seq
					all.Done()
				})
			}
			all.Wait()
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure)
		require.Empty(t, errs)
		for i, r := range actors {
			if r.writer || r.heldAtCall {
				continue
			}
			j := -1
			for k, wr := range actors {
				if wr.writer && wr.callT.Before(r.callT) && wr.acqSeq > r.callSeq && (j < 0 || wr.acqSeq < actors[j].acqSeq) {
					j = k
				}
			}
			if j >= 0 && r.acqSeq < actors[j].relSeq {
				var all []string
				for k, a := range actors {
					all = append(all, fmt.Sprintf("actor%d: writer=%v sleep %v, lock at %v (#%d, writer held: %v), acquired #%d, hold %v, released #%d",
						k, a.writer, a.before, a.callT.Sub(sim.DefaultStart), a.callSeq, a.heldAtCall, a.acqSeq, a.hold, a.relSeq))
				}
				t.Fatalf("reader actor%d got in before writer actor%d, which was waiting for the readers, released (%v):\n  %s",
					i, j, opts.Strategy, strings.Join(all, "\n  "))
			}
		}
	})
}

// TestPropCondBoundedQueue: producers and consumers share a bounded queue
// guarded by a Mutex and two Conds (not full, not empty), signalled with the
// lock held; every item is consumed exactly once, in per-producer order, the
// queue never over- or underflows, and nobody is left waiting (no lost
// wake-ups). Signalling without the lock is TestCondSignalBeforeWaiterBlocks.
func TestPropCondBoundedQueue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		producers := rapid.IntRange(1, 3).Draw(t, "producers")
		consumers := rapid.IntRange(1, 3).Draw(t, "consumers")
		items := rapid.IntRange(0, 6).Draw(t, "items")
		capacity := rapid.IntRange(1, 2).Draw(t, "capacity")
		broadcast := rapid.Bool().Draw(t, "broadcast")
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		var errs []string
		var queue []int
		got := map[int]bool{}
		last := make([]int, producers)
		res, err := w.Run(func() {
			mu := w.NewMutex()
			notFull, notEmpty := w.NewCond(mu), w.NewCond(mu)
			wake := func(c sim.Cond) {
				if broadcast {
					c.Broadcast()
				} else {
					c.Signal()
				}
			}
			total := producers * items
			taken := 0
			all := w.NewWaitGroup()
			for p := range producers {
				all.Add(1)
				w.Go(fmt.Sprintf("producer%d", p), func() {
					for k := 1; k <= items; k++ {
						mu.Lock()
						for len(queue) == capacity {
							notFull.Wait()
						}
						queue = append(queue, p<<8|k)
						wake(notEmpty)
						mu.Unlock()
					}
					all.Done()
				})
			}
			for c := range consumers {
				all.Add(1)
				w.Go(fmt.Sprintf("consumer%d", c), func() {
					for {
						mu.Lock()
						for len(queue) == 0 && taken < total {
							notEmpty.Wait()
						}
						if taken == total {
							// Wake the other consumers so they see it too.
							notEmpty.Broadcast()
							mu.Unlock()
							break
						}
						v := queue[0]
						queue = queue[1:]
						taken++
						if got[v] {
							errs = append(errs, fmt.Sprintf("item %#x consumed twice", v))
						}
						got[v] = true
						if p, k := v>>8, v&0xff; k <= last[p] {
							errs = append(errs, fmt.Sprintf("item %d of producer %d after item %d", k, p, last[p]))
						} else {
							last[p] = k
						}
						if taken == total {
							notEmpty.Broadcast()
						}
						wake(notFull)
						mu.Unlock()
					}
					all.Done()
				})
			}
			all.Wait()
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "%v", res.Failure)
		require.Empty(t, errs)
		require.Len(t, got, producers*items)
		require.Empty(t, queue)
	})
}

// TestPropContextTree: a tree of contexts (WithCancel and WithTimeout),
// some cancelled by tasks at drawn instants. Each context is done exactly at
// the earliest of its own deadline, its own cancel and its parent's done
// time, with the matching error (on a tie between a deadline and a cancel,
// either error is right), and its DoneChan then yields zero, false.
// Each context gets up to three children: cancelling a parent must reach
// every one (see TestContextCancelReachesEveryChild).
func TestPropContextTree(t *testing.T) {
	const maxChildren = 3
	type node struct {
		parent           int // -1: Background
		timeout, cancel  time.Duration
		hasTimeout       bool
		hasCancel        bool
		children         int
		doneAt           time.Duration // expected; -1: never
		deadlineCause    bool          // the earliest cause is a deadline
		cancelCause      bool          // the earliest cause is a cancel
		gotAt            time.Duration
		gotErr           error
		gotOK, gotClosed bool
	}
	rapid.Check(t, func(t *rapid.T) {
		c := rapidChooser{t}
		nodes := make([]*node, 1+c.Intn(6))
		for j := range nodes {
			nd := &node{parent: -1}
			if j > 0 && chance(c, 3, 4) {
				if p := c.Intn(j); nodes[p].children < maxChildren {
					nd.parent = p
					nodes[p].children++
				}
			}
			if chance(c, 1, 2) {
				nd.hasTimeout, nd.timeout = true, pickDur(c)
			}
			if chance(c, 1, 2) {
				nd.hasCancel, nd.cancel = true, pickDur(c)
			}
			// Expected done time and cause.
			nd.doneAt = -1
			consider := func(at time.Duration, deadline, cancel bool) {
				switch {
				case at < 0:
				case nd.doneAt < 0 || at < nd.doneAt:
					nd.doneAt, nd.deadlineCause, nd.cancelCause = at, deadline, cancel
				case at == nd.doneAt:
					nd.deadlineCause = nd.deadlineCause || deadline
					nd.cancelCause = nd.cancelCause || cancel
				}
			}
			if nd.hasTimeout {
				consider(nd.timeout, true, false)
			}
			if nd.hasCancel {
				consider(nd.cancel, false, true)
			}
			if nd.parent >= 0 {
				p := nodes[nd.parent]
				consider(p.doneAt, p.deadlineCause, p.cancelCause)
			}
			nodes[j] = nd
		}
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		res, err := w.Run(func() {
			ctxs := make([]sim.Context, len(nodes))
			cancels := make([]context.CancelFunc, len(nodes))
			for j, nd := range nodes {
				parent := w.Background()
				if nd.parent >= 0 {
					parent = ctxs[nd.parent]
				}
				if nd.hasTimeout {
					ctxs[j], cancels[j] = w.WithTimeout(parent, nd.timeout)
				} else {
					ctxs[j], cancels[j] = w.WithCancel(parent)
				}
			}
			all := w.NewWaitGroup()
			for j, nd := range nodes {
				if nd.hasCancel {
					all.Add(1)
					w.Go(fmt.Sprintf("cancel%d", j), func() {
						w.Sleep(nd.cancel)
						cancels[j]()
						all.Done()
					})
				}
				if nd.doneAt >= 0 {
					all.Add(1)
					w.Go(fmt.Sprintf("wait%d", j), func() {
						_, nd.gotOK = ctxs[j].DoneChan().Recv2()
						nd.gotAt, nd.gotErr, nd.gotClosed = w.Elapsed(), ctxs[j].Err(), true
						all.Done()
					})
				}
			}
			all.Wait()
			for j, nd := range nodes {
				if nd.doneAt < 0 && ctxs[j].Err() != nil {
					w.Violate("ctx", "context %d was cancelled (%v) with no cause", j, ctxs[j].Err())
				}
			}
			for _, cancel := range cancels {
				cancel()
			}
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "%v", res.Failure)
		for j, nd := range nodes {
			if nd.doneAt < 0 {
				continue
			}
			okErr := (nd.deadlineCause && nd.gotErr == context.DeadlineExceeded) || (nd.cancelCause && nd.gotErr == context.Canceled)
			if !nd.gotClosed || nd.gotOK || nd.gotAt != nd.doneAt || !okErr {
				t.Fatalf("context %d (%+v): done at %v with %v (ok=%v), want at %v (deadline=%v cancel=%v)",
					j, *nd, nd.gotAt, nd.gotErr, nd.gotOK, nd.doneAt, nd.deadlineCause, nd.cancelCause)
			}
		}
	})
}

// TestPropWaitGroup: Wait returns only once the counter is zero: every
// waiter, on return, finds every worker's Done already done.
func TestPropWaitGroup(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		workers := rapid.IntRange(1, 4).Draw(t, "workers")
		waiters := rapid.IntRange(1, 3).Draw(t, "waiters")
		c := rapidChooser{t}
		work := make([][]op, workers)
		for i := range work {
			for range c.Intn(5) {
				work[i] = append(work[i], []op{{kind: opYield}, {kind: opSleep, d: pickDur(c)}}[c.Intn(2)])
			}
		}
		waiterPre := make([]time.Duration, waiters)
		for i := range waiterPre {
			waiterPre[i] = pickDur(c)
		}
		addEach := rapid.Bool().Draw(t, "addEach")
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		var errs []string
		res, err := w.Run(func() {
			wg := w.NewWaitGroup()
			all := w.NewWaitGroup()
			remaining := 0
			if !addEach {
				wg.Add(workers)
				remaining = workers
			}
			for i := range workers {
				if addEach {
					wg.Add(1)
					remaining++
				}
				all.Add(1)
				w.Go(fmt.Sprintf("worker%d", i), func() {
					for _, o := range work[i] {
						if o.kind == opSleep {
							w.Sleep(o.d)
						} else {
							w.Yield()
						}
					}
					wg.Done()
					remaining--
					all.Done()
				})
			}
			for i := range waiters {
				all.Add(1)
				w.Go(fmt.Sprintf("waiter%d", i), func() {
					w.Sleep(waiterPre[i])
					wg.Wait()
					if remaining != 0 {
						errs = append(errs, fmt.Sprintf("waiter%d: Wait returned with %d workers not done", i, remaining))
					}
					all.Done()
				})
			}
			wg.Wait()
			if remaining != 0 {
				errs = append(errs, fmt.Sprintf("main: Wait returned with %d workers not done", remaining))
			}
			all.Wait()
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure)
		require.Empty(t, errs)
	})
}

// TestPropOnce: f runs exactly once however many tasks call Do (some twice),
// even when f blocks; every Do returns only after f has completed.
func TestPropOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		callers := rapid.IntRange(1, 5).Draw(t, "callers")
		c := rapidChooser{t}
		pre := make([]time.Duration, callers)
		twice := make([]bool, callers)
		for i := range pre {
			pre[i] = pickDur(c)
			twice[i] = chance(c, 1, 3)
		}
		inside := pickDur(c)
		yields := c.Intn(3)
		opts := drawOptions(t)
		w, err := sim.New(opts)
		require.NoError(t, err)
		var errs []string
		runs, completed := 0, false
		res, err := w.Run(func() {
			once := w.NewOnce()
			all := w.NewWaitGroup()
			f := func() {
				runs++
				for range yields {
					w.Yield()
				}
				w.Sleep(inside)
				completed = true
			}
			for i := range callers {
				all.Add(1)
				w.Go(fmt.Sprintf("caller%d", i), func() {
					w.Sleep(pre[i])
					for range 1 + b2i(twice[i]) {
						once.Do(f)
						if !completed || runs != 1 {
							errs = append(errs, fmt.Sprintf("caller%d: Do returned with completed=%v runs=%d", i, completed, runs))
						}
					}
					all.Done()
				})
			}
			all.Wait()
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure)
		require.Empty(t, errs)
		require.Equal(t, 1, runs)
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
