package sim_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// busy is a program with many short tasks, panics recovered in tasks,
// killed tasks and tasks left blocked at the end (unwound at teardown).
func busy(w *sim.World) {
	mu := w.NewMutex()
	ch := sim.NewChan[int](w, 0)
	n := 0
	for i := 0; i < 20; i++ {
		w.Go("worker", func() {
			for j := 0; j < 3; j++ {
				mu.Lock()
				n++
				mu.Unlock()
				w.Sleep(time.Duration(j) * time.Millisecond)
			}
		})
	}
	w.Go("recovers", func() {
		defer func() { _ = recover() }()
		panic("caught inside the task")
	})
	w.Go("stuck", func() { ch.Recv() }) // never sent to: unwound at teardown
	w.Sleep(time.Second)
}

func TestPoolChangesNoDecision(t *testing.T) {
	pool := sim.NewPool(0)
	defer pool.Close()
	for seed := uint64(0); seed < 20; seed++ {
		opts := sim.Options{Seed: seed, Strategy: sim.Strategy{Kind: sim.PCT, Depth: 3, Horizon: 300}}
		plain := mustPass(t, opts, busy)
		opts.Pool = pool
		pooled := mustPass(t, opts, busy)
		require.Equal(t, plain.Fingerprint, pooled.Fingerprint, "seed %d", seed)
		require.Equal(t, plain.Steps, pooled.Steps, "seed %d", seed)
	}
	// The runs gave their finished tasks' coroutines back.
	assert.Greater(t, pool.Idle(), 0)
}

func TestPoolReusesCoroutinesAcrossRuns(t *testing.T) {
	pool := sim.NewPool(0)
	defer pool.Close()
	mustPass(t, sim.Options{Pool: pool}, busy)
	idle := pool.Idle()
	require.Greater(t, idle, 0)
	mustPass(t, sim.Options{Pool: pool}, busy)
	// The second run took its coroutines from the pool and gave them back;
	// had it started new ones, the pool would now hold more.
	assert.Equal(t, idle, pool.Idle())
}

func TestPoolCloseEndsIdleCoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	pool := sim.NewPool(4)
	mustPass(t, sim.Options{Pool: pool}, busy)
	assert.Equal(t, 4, pool.Idle(), "the pool keeps at most its size")
	pool.Close()
	assert.Equal(t, 0, pool.Idle())
	pool.Close() // a second Close does nothing
	// A run with a closed pool still works (its coroutines just end).
	mustPass(t, sim.Options{Pool: pool}, busy)
	assert.Equal(t, 0, pool.Idle())
	// Every coroutine made during the test has ended.
	require.NoError(t, goleak.Find(before))
}

func TestPoolSurvivesGoexitInATask(t *testing.T) {
	pool := sim.NewPool(0)
	defer pool.Close()
	res := run(t, sim.Options{Pool: pool}, func(w *sim.World) {
		w.Go("goexit", func() { runtime.Goexit() })
		w.Sleep(time.Second)
	})
	require.NotNil(t, res.Failure)
	assert.Contains(t, res.Failure.Message, "runtime.Goexit")
	// The pool still serves a later run.
	mustPass(t, sim.Options{Pool: pool}, busy)
}

func TestSignalWaitTimeout(t *testing.T) {
	mustPass(t, sim.Options{}, func(w *sim.World) {
		sig := w.NewSignal("test signal")
		// Nobody broadcasts: the timeout ends the wait.
		assert.False(t, sig.WaitTimeout(time.Second))
		assert.Equal(t, time.Second, w.Elapsed())
		// A broadcast before the timeout ends it early.
		w.ScheduleFunc(time.Millisecond, sig.Broadcast)
		assert.True(t, sig.WaitTimeout(time.Second))
		assert.Equal(t, time.Second+time.Millisecond, w.Elapsed())
		// The stopped timer does not fire later: nothing is pending.
	})
	assert.PanicsWithValue(t, "sim: Signal.WaitTimeout(0s): the timeout must be positive", func() {
		w, _ := sim.New(sim.Options{})
		w.NewSignal("x").WaitTimeout(0)
	})
}

func TestSignalWaitersWokenInOrderWithSelect(t *testing.T) {
	var order []string
	mustPass(t, sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}}, func(w *sim.World) {
		sig := w.NewSignal("s")
		done := sim.NewChan[struct{}](w, 0)
		wg := w.NewWaitGroup()
		wg.Add(3)
		w.Go("plain", func() { defer wg.Done(); sig.Wait(); order = append(order, "plain") })
		w.Go("timeout", func() { defer wg.Done(); sig.WaitTimeout(time.Hour); order = append(order, "timeout") })
		w.Go("select", func() {
			defer wg.Done()
			i := sim.Select(w, sig.Case(), sim.RecvCase(done, nil, nil))
			order = append(order, "select", []string{"signal", "done"}[i])
		})
		w.Sleep(time.Second)
		sig.Broadcast()
		wg.Wait()
	})
	// Woken in the order they waited (plain, timeout, select); under FIFO
	// they run in that order, and WaitTimeout's own scheduling point after
	// the wake (stopping its timer) puts "timeout" behind "select".
	assert.Equal(t, []string{"plain", "select", "signal", "timeout"}, order)
}

func TestSignalWaitOfAKilledTask(t *testing.T) {
	mustPass(t, sim.Options{CheckLeaks: true}, func(w *sim.World) {
		sig := w.NewSignal("s")
		owner := new(int)
		w.Go("host task", func() {
			w.Current().SetOwner(owner)
			sig.WaitTimeout(time.Minute)
		})
		w.Sleep(time.Second)
		assert.Equal(t, 1, w.KillOwner(owner)) // its timer goes too: no leak
		sig.Broadcast()
		w.Sleep(time.Second)
	})
}
