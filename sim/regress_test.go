package sim_test

// Regression tests for kernel bugs found by the property tests.

import (
	"context"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// TestCondSignalBeforeWaiterBlocks: sync.Cond allows Signal without
// holding L, and Wait adds the caller to the wait list before unlocking L,
// so a Signal between the two wakes it. The kernel's Cond.Wait enqueued the
// task, then called L.Unlock, which is a scheduling point: the task was
// runnable (not blocked) while in the queue, and a Signal from another task
// at that moment called wake on a runnable task, which panicked with "sim:
// internal error: waking task 1 "main" in state 1" in the signalling task.
// Now such a Signal marks the waiter signalled and Wait does not block.
func TestCondSignalBeforeWaiterBlocks(t *testing.T) {
	w, err := sim.New(sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}})
	require.NoError(t, err)
	res, err := w.Run(func() {
		mu := w.NewMutex()
		c := w.NewCond(mu)
		mu.Lock()
		w.Go("signaller", func() { c.Signal() })
		// FIFO: the signaller runs into Signal's scheduling point, then main
		// enters Wait and is queued; in Unlock's scheduling point the
		// signaller resumes and signals main.
		c.Wait()
		mu.Unlock()
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

// TestContextCancelReachesEveryChild: cancelling a context cancels
// all its children (context.WithCancel). The kernel's simCtx.cancel ranged
// over c.children while each child's cancel removed itself from the same
// slice with append (shifting the backing array), so with three children
// the second was skipped and never cancelled.
func TestContextCancelReachesEveryChild(t *testing.T) {
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	var errs []error
	res, err := w.Run(func() {
		parent, cancel := w.WithCancel(w.Background())
		var children []sim.Context
		for range 3 {
			c, cancelChild := w.WithCancel(parent)
			defer cancelChild()
			children = append(children, c)
		}
		cancel()
		for _, c := range children {
			errs = append(errs, c.Err())
		}
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
	require.Equal(t, []error{context.Canceled, context.Canceled, context.Canceled}, errs)
}

// TestTeardownDetachesBlockedTasks: at the end of a run, a task blocked in
// Select whose deferred code closes a channel it was waiting on used to find
// its own stale waiter and try to wake itself ("internal error: waking task
// in state running"). Teardown now detaches blocked tasks before unwinding
// them.
func TestTeardownDetachesBlockedTasks(t *testing.T) {
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	res, err := w.Run(func() {
		ch := sim.NewChan[int](w, 0)
		w.Go("selector", func() {
			defer ch.Close()
			sim.Select(w, sim.RecvCase(ch, nil, nil))
		})
		w.Go("receiver", func() {
			defer ch.Close()
			ch.Recv()
		})
		w.Yield()
		w.Yield()
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

// TestSelfReschedulingEventHitsTheBudget: an event that keeps rescheduling
// itself at the current instant used to hang the run in real time, since
// events did not count against any budget.
func TestSelfReschedulingEventHitsTheBudget(t *testing.T) {
	w, err := sim.New(sim.Options{MaxSteps: 1000})
	require.NoError(t, err)
	var again func()
	again = func() { w.ScheduleFunc(0, again) }
	res, err := w.Run(func() {
		w.ScheduleFunc(0, again)
		w.Sleep(time.Second)
	})
	require.NoError(t, err)
	require.NotNil(t, res.Failure)
	require.Equal(t, sim.Budget, res.Failure.Kind)
	require.Contains(t, res.Failure.Message, "event budget of 1000")
}
