package sim_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestDeadlockListsEveryBlockedTaskAndHolder(t *testing.T) {
	// Classic lock-order inversion; FIFO makes both tasks take their first
	// lock before either takes its second.
	res := run(t, sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}}, func(w *sim.World) {
		a, b := w.NewMutex(), w.NewMutex()
		wg := w.NewWaitGroup()
		wg.Add(2)
		w.Go("ab", func() { defer wg.Done(); a.Lock(); w.Yield(); b.Lock() })
		w.Go("ba", func() { defer wg.Done(); b.Lock(); w.Yield(); a.Lock() })
		wg.Wait()
	})
	f := res.Failure
	require.NotNil(t, f)
	assert.Equal(t, sim.Deadlock, f.Kind)
	require.Len(t, f.Blocked, 3)
	assert.Equal(t, "main", f.Blocked[0].Name)
	assert.Contains(t, f.Blocked[0].WaitsOn, "WaitGroup.Wait on waitgroup#")
	assert.Contains(t, f.Blocked[1].WaitsOn, `Mutex.Lock on mutex#2 (held by task 3 "ba")`)
	assert.Contains(t, f.Blocked[2].WaitsOn, `Mutex.Lock on mutex#1 (held by task 2 "ab")`)
	assert.Contains(t, f.Error(), "all tasks are blocked")
}

func TestDeadlockOnChannelAndSelect(t *testing.T) {
	res := run(t, sim.Options{}, func(w *sim.World) {
		ch := sim.NewChan[int](w, 0)
		other := sim.NewChan[string](w, 1)
		w.Go("selector", func() { sim.Select(w, sim.RecvCase(other, nil, nil), sim.SendCase(ch, 1)) })
		w.Go("never", func() { sim.Select(w) })
		ch.Recv()
		ch.Recv()
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Deadlock, res.Failure.Kind)
	msg := res.Failure.Error()
	assert.Contains(t, msg, `task 1 "main": Chan.Recv on chan#1 (unbuffered`)
	assert.Contains(t, msg, "no cases (blocks forever)")
}

func TestNoDeadlockWhileTimersPending(t *testing.T) {
	mustPass(t, sim.Options{}, func(w *sim.World) {
		ch := sim.NewChan[int](w, 0)
		w.AfterFunc(time.Hour, func() { ch.Send(1) })
		ch.Recv()
	})
}

func TestLeakReportsTasksAndTimers(t *testing.T) {
	res := run(t, sim.Options{CheckLeaks: true}, func(w *sim.World) {
		ch := sim.NewChan[int](w, 0)
		w.Go("forgotten-reader", func() { ch.Recv() })
		w.NewTimer(time.Minute)
		_, cancel := w.WithTimeout(w.Background(), time.Hour)
		_ = cancel // never called: its deadline timer leaks
		w.Go("finishes", func() {})
		w.Yield()
	})
	f := res.Failure
	require.NotNil(t, f)
	assert.Equal(t, sim.Leak, f.Kind)
	require.Len(t, f.Blocked, 1)
	assert.Equal(t, "forgotten-reader", f.Blocked[0].Name)
	require.Len(t, f.Timers, 2)
	assert.Contains(t, f.Timers[0], `(NewTimer made by task "main") due at t=1m0s`)
	assert.Contains(t, f.Timers[1], "context deadline")

	// Without CheckLeaks the same program passes and is torn down.
	res = run(t, sim.Options{}, func(w *sim.World) {
		ch := sim.NewChan[int](w, 0)
		w.Go("forgotten-reader", func() { ch.Recv() })
		w.Yield()
	})
	assert.Nil(t, res.Failure)
}

func TestLeakCheckLetsClosingTasksSettle(t *testing.T) {
	mustPass(t, sim.Options{CheckLeaks: true}, func(w *sim.World) {
		quit := sim.NewChan[struct{}](w, 0)
		tk := w.NewTicker(time.Second)
		w.Go("loop", func() {
			defer tk.Stop()
			for {
				if sim.Select(w, sim.RecvCase(quit, nil, nil), sim.RecvCase(tk.C(), nil, nil)) == 0 {
					return
				}
			}
		})
		w.Sleep(5 * time.Second)
		quit.Close() // main returns at once; the loop exits after it
	})
}

func TestPanicReportsTaskValueAndStack(t *testing.T) {
	res := run(t, sim.Options{}, func(w *sim.World) {
		w.Go("boom", func() {
			w.Sleep(time.Second)
			var m map[string]int
			m["x"] = 1
		})
		w.Sleep(time.Hour)
	})
	f := res.Failure
	require.NotNil(t, f)
	assert.Equal(t, sim.Panic, f.Kind)
	assert.Equal(t, "boom", f.Task)
	assert.Contains(t, f.Message, "assignment to entry in nil map")
	assert.Contains(t, f.Stack, "failure_test.go")
	assert.Equal(t, time.Second, f.Time)
}

func TestGoexitInTaskIsAFailureNotAHang(t *testing.T) {
	res := run(t, sim.Options{}, func(w *sim.World) {
		w.Go("exiter", func() {
			defer func() {}()
			runtimeGoexit()
		})
		w.Sleep(time.Second)
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Panic, res.Failure.Kind)
	assert.Contains(t, res.Failure.Message, "runtime.Goexit")
}

func TestViolationFromTaskAndInvariant(t *testing.T) {
	res := run(t, sim.Options{}, func(w *sim.World) {
		w.Sleep(time.Second)
		w.Violate("no-double-spend", "account %d spent twice", 7)
		t.Error("Violate must unwind the calling task")
	})
	f := res.Failure
	require.NotNil(t, f)
	assert.Equal(t, sim.Violation, f.Kind)
	assert.Equal(t, "no-double-spend", f.Property)
	assert.Equal(t, "no-double-spend: account 7 spent twice", f.Message)
	assert.Equal(t, "main", f.Task)

	counter := 0
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	w.Invariant("counter-below-3", func() error {
		if counter >= 3 {
			return errors.New("counter reached 3")
		}
		return nil
	})
	res, err = w.Run(func() {
		for {
			counter++
			w.Yield()
		}
	})
	require.NoError(t, err)
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Violation, res.Failure.Kind)
	assert.Equal(t, "counter-below-3", res.Failure.Property)
	assert.Equal(t, int64(3), res.Steps, "checked after every step")
}

func TestBudgets(t *testing.T) {
	res := run(t, sim.Options{MaxSteps: 100}, func(w *sim.World) {
		for {
			w.Yield()
		}
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Budget, res.Failure.Kind)
	assert.Contains(t, res.Failure.Message, "step budget of 100")
	assert.Equal(t, int64(100), res.Steps)

	res = run(t, sim.Options{MaxTime: time.Hour}, func(w *sim.World) {
		tk := w.NewTicker(time.Minute)
		for {
			tk.C().Recv()
		}
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Budget, res.Failure.Kind)
	assert.Contains(t, res.Failure.Message, "virtual-time budget of 1h0m0s")
	assert.Equal(t, time.Hour, res.Elapsed)
}

func TestEscapeOnNativeChannelIsReportedNotHung(t *testing.T) {
	release := make(chan struct{})
	res := run(t, sim.Options{EscapeGrace: 50 * time.Millisecond}, func(w *sim.World) {
		w.Go("other", func() { w.Sleep(time.Hour) })
		w.Sleep(time.Second)
		<-release // a native channel: invisible to the World
	})
	f := res.Failure
	require.NotNil(t, f)
	assert.Equal(t, sim.Escape, f.Kind)
	assert.Equal(t, "main", f.Task)
	assert.Contains(t, f.Message, `task "main" did not return to the World`)
	assert.Contains(t, f.Message, "[chan receive]")
	assert.Contains(t, f.Stack, "failure_test.go")
	assert.Equal(t, time.Second, f.Time)
	// Once the native block ends, the World unwinds every task: goleak in
	// TestMain proves nothing is left.
	close(release)
	require.NoError(t, goleak.Find(goleak.IgnoreCurrent()))
}

func TestEscapeOnRealSleepAndSyncMutex(t *testing.T) {
	res := run(t, sim.Options{EscapeGrace: 50 * time.Millisecond}, func(w *sim.World) {
		time.Sleep(300 * time.Millisecond)
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Escape, res.Failure.Kind)
	assert.Contains(t, res.Failure.Message, "[sleep]")

	var mu sync.Mutex
	mu.Lock()
	res = run(t, sim.Options{EscapeGrace: 50 * time.Millisecond}, func(w *sim.World) {
		w.Go("locker", func() { mu.Lock(); mu.Unlock() })
		w.Sleep(time.Second)
	})
	require.NotNil(t, res.Failure)
	assert.Equal(t, "locker", res.Failure.Task)
	assert.Contains(t, res.Failure.Message, "sync.Mutex.Lock")
	mu.Unlock()
	require.NoError(t, goleak.Find(goleak.IgnoreCurrent()))
}

func TestTeardownRunsDefers(t *testing.T) {
	var unwound []string
	mustPass(t, sim.Options{}, func(w *sim.World) {
		mu := w.NewMutex()
		for _, name := range []string{"sleeper", "locker", "reader"} {
			w.Go(name, func() {
				defer func() { unwound = append(unwound, name) }()
				switch name {
				case "sleeper":
					w.Sleep(time.Hour)
				case "locker":
					mu.Lock()
					defer mu.Unlock() // runs during teardown without blocking
					w.Sleep(time.Hour)
				case "reader":
					sim.NewChan[int](w, 0).Recv()
				}
			})
		}
		w.Sleep(time.Second)
	})
	assert.Equal(t, []string{"sleeper", "locker", "reader"}, unwound)
}

func TestInvalidOptionsNameTheField(t *testing.T) {
	cases := []struct {
		opts sim.Options
		want string
	}{
		{sim.Options{MaxSteps: -1}, "Options.MaxSteps = -1"},
		{sim.Options{MaxTime: -time.Second}, "Options.MaxTime = -1s"},
		{sim.Options{EscapeGrace: -1}, "Options.EscapeGrace"},
		{sim.Options{Strategy: sim.Strategy{Kind: sim.PCT, Depth: -2}}, "Options.Strategy.Depth = -2"},
		{sim.Options{Strategy: sim.Strategy{Kind: sim.PCT, Horizon: -1}}, "Options.Strategy.Horizon"},
		{sim.Options{Strategy: sim.Strategy{Kind: 9}}, "Options.Strategy.Kind = 9"},
	}
	for _, c := range cases {
		_, err := sim.New(c.opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.want)
	}
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	_, err = w.Run(nil)
	assert.ErrorContains(t, err, "main task function is nil")
	_, err = w.Run(func() {})
	require.NoError(t, err)
	_, err = w.Run(func() {})
	assert.ErrorIs(t, err, sim.ErrRunTwice)
}

func TestParseStrategy(t *testing.T) {
	for spec, want := range map[string]sim.Strategy{
		"random":          {Kind: sim.Random},
		"fifo":            {Kind: sim.FIFO},
		"pct":             {Kind: sim.PCT},
		"pct:2":           {Kind: sim.PCT, Depth: 2},
		"pct:3:50":        {Kind: sim.PCT, Depth: 3, Horizon: 50},
		"random+permute":  {Kind: sim.Random, PermuteEqualTime: true},
		"pct:1:9+permute": {Kind: sim.PCT, Depth: 1, Horizon: 9, PermuteEqualTime: true},
	} {
		got, err := sim.ParseStrategy(spec)
		require.NoError(t, err, spec)
		assert.Equal(t, want, got, spec)
		again, err := sim.ParseStrategy(got.String())
		require.NoError(t, err)
		assert.Equal(t, got.Kind, again.Kind)
	}
	for _, bad := range []string{"", "lifo", "pct:0", "pct:x", "pct:2:0", "random:3", "pct:1:2:3", "fifo+shuffle"} {
		_, err := sim.ParseStrategy(bad)
		assert.Error(t, err, bad)
	}
}

func TestMisuseOutsideTaskPanicsWithAdvice(t *testing.T) {
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	for name, call := range map[string]func(){
		"Sleep":      func() { w.Sleep(time.Second) },
		"Mutex.Lock": func() { w.NewMutex().Lock() },
		"Chan.Recv":  func() { sim.NewChan[int](w, 0).Recv() },
		"Yield":      func() { w.Yield() },
	} {
		func() {
			defer func() {
				r := recover()
				require.NotNil(t, r, name)
				assert.Contains(t, r, name+" called outside a simulated task")
				assert.Contains(t, r, "World.Run or Env.Go")
			}()
			call()
		}()
	}
	assert.PanicsWithValue(t, "sim: Go(x, nil): task function is nil", func() { w.Go("x", nil) })
}

func TestKillUnwindsBlockedTask(t *testing.T) {
	var log []string
	mustPass(t, sim.Options{}, func(w *sim.World) {
		mu := w.NewMutex()
		mu.Lock()
		var victim *sim.Task
		w.Go("victim", func() {
			victim = w.Current()
			defer func() { log = append(log, "victim unwound") }()
			mu.Lock()
			log = append(log, "victim got lock")
		})
		w.Yield()
		w.Yield()
		victim.Kill()
		w.Sleep(time.Second) // the victim runs and unwinds
		mu.Unlock()
		assert.True(t, mu.TryLock(), "the killed waiter left the queue")
		assert.True(t, victim.Done())
	})
	assert.Equal(t, []string{"victim unwound"}, log)
}

// TestKillInsideCondWaitRunsDeferredUnlock: the usual "Lock; defer Unlock;
// for !ok { Wait }" pattern, killed while waiting, unwinds cleanly: Wait
// had released the mutex, so the deferred Unlock has nothing to release
// and must not panic or release another task's lock.
func TestKillInsideCondWaitRunsDeferredUnlock(t *testing.T) {
	for _, rw := range []bool{false, true} {
		mustPass(t, sim.Options{}, func(w *sim.World) {
			var mu sync.Locker = w.NewMutex()
			if rw {
				mu = w.NewRWMutex()
			}
			cond := w.NewCond(mu)
			var victim *sim.Task
			w.Go("victim", func() {
				victim = w.Current()
				mu.Lock()
				defer mu.Unlock()
				for {
					cond.Wait()
				}
			})
			w.Yield()
			w.Yield()
			mu.Lock() // the victim waits, the lock is ours
			victim.Kill()
			w.Sleep(time.Second) // the victim unwinds; its Unlock is a no-op
			assert.True(t, victim.Done())
			mu.Unlock() // still ours to release: no "unlock of unlocked"
		})
	}
}

func TestFailureErrorFormat(t *testing.T) {
	f := &sim.Failure{Kind: sim.Deadlock, Step: 4, Time: time.Second, Message: "stuck",
		Blocked: []sim.BlockedTask{{ID: 1, Name: "main", WaitsOn: "Sleep"}}}
	assert.Equal(t, "deadlock at step 4, t=1s: stuck\n  task 1 \"main\": Sleep", f.Error())
	assert.True(t, strings.HasPrefix(sim.Result{Seed: 3}.String(), "seed=3 strategy=random"))
}

func TestKilledTaskStopsAtNextSchedulingPointAndLeavesNoWaiter(t *testing.T) {
	var reached []string
	mustPass(t, sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}}, func(w *sim.World) {
		ch := sim.NewChan[int](w, 0)
		w.Go("self-killer", func() {
			defer func() {
				// Deferred calls still work while unwinding.
				ch.TrySend(0)
				reached = append(reached, "defer")
			}()
			w.Current().Kill()
			w.Yield()
			reached = append(reached, "after Yield")
		})
		w.Go("killed-then-blocks", func() {
			defer func() {
				// A blocking call while unwinding unwinds again and must
				// leave no waiter or timer behind.
				w.Sleep(time.Hour)
			}()
			w.Current().Kill()
			ch.Recv()
		})
		w.Sleep(time.Second)
		assert.False(t, ch.TrySend(1), "no receiver may be left queued")
		w.Sleep(2 * time.Hour) // a stale sleep event would wake a finished task
	})
	assert.Equal(t, []string{"defer"}, reached)
}
