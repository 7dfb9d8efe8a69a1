package osrt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
)

// TestMain checks that the runtime leaves no goroutine behind: every task,
// timer and AfterFunc of every test has ended.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// onBoth runs body in a World and on the OS runtime: the same Env code.
func onBoth(t *testing.T, body func(t *testing.T, env sim.Env)) {
	t.Helper()
	t.Run("sim", func(t *testing.T) {
		w, err := sim.New(sim.Options{Seed: 1, CheckLeaks: true})
		require.NoError(t, err)
		res, err := w.Run(func() { body(t, w) })
		require.NoError(t, err)
		require.Nil(t, res.Failure)
	})
	t.Run("os", func(t *testing.T) {
		rt := osrt.New(osrt.Options{Seed: 1})
		require.NoError(t, rt.Run(func() { body(t, rt) }))
		require.NoError(t, rt.Wait(5*time.Second))
	})
}

func TestRandStreamsMatchTheWorld(t *testing.T) {
	w, err := sim.New(sim.Options{Seed: 42})
	require.NoError(t, err)
	rt := osrt.New(osrt.Options{Seed: 42})
	for _, name := range []string{"", "a", "n1/gossip/proto/x", "pickfirst/shuffle"} {
		for range 3 {
			assert.Equal(t, w.Rand(name).Uint64(), rt.Rand(name).Uint64(), "stream %q", name)
		}
	}
	assert.Same(t, rt.Rand("a"), rt.Rand("a"), "one stream object per name")
	assert.NotEqual(t, osrt.New(osrt.Options{Seed: 43}).Rand("a").Uint64(), osrt.New(osrt.Options{Seed: 42}).Rand("a").Uint64())
}

func TestChannelsSelectTimersAndContexts(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		ch := sim.NewChan[int](env, 0)
		env.Go("sender", func() { ch.Send(7) })
		tm := env.NewTimer(10 * time.Second)
		var v int
		i := sim.Select(env, sim.RecvCase(ch, &v, nil), sim.RecvCase(tm.C(), nil, nil))
		assert.Equal(t, []int{0, 7}, []int{i, v})
		assert.True(t, tm.Stop(), "a pending timer is stopped")

		// A default case with nothing ready.
		assert.Equal(t, 1, sim.Select(env, sim.RecvCase(ch, nil, nil), sim.DefaultCase()))

		// A context deadline and a timer in one Select: the deadline wins.
		ctx, cancel := env.WithTimeout(env.Background(), 5*time.Millisecond)
		defer cancel()
		long := env.NewTimer(10 * time.Second)
		defer long.Stop()
		assert.Equal(t, 0, sim.Select(env, sim.RecvCase(ctx.DoneChan(), nil, nil), sim.RecvCase(long.C(), nil, nil)))
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)

		// Cancellation reaches children and values pass through.
		type key struct{}
		parent, cancelParent := env.WithCancel(sim.WithValue(env.Background(), key{}, "v"))
		child, cancelChild := env.WithDeadline(parent, env.Now().Add(time.Hour))
		defer cancelChild()
		cancelParent()
		_, ok := child.DoneChan().Recv2()
		assert.False(t, ok, "a cancelled context's DoneChan is closed")
		assert.ErrorIs(t, child.Err(), context.Canceled)
		assert.Equal(t, "v", child.Value(key{}))

		// A buffered channel in a send case, and a ticker.
		buf := sim.NewChan[string](env, 1)
		assert.Equal(t, 0, sim.Select(env, sim.SendCase(buf, "x"), sim.DefaultCase()))
		assert.Equal(t, 1, sim.Select(env, sim.SendCase(buf, "y"), sim.DefaultCase()), "the buffer is full")
		assert.Equal(t, "x", buf.Recv())
		tk := env.NewTicker(time.Millisecond)
		tk.C().Recv()
		tk.C().Recv()
		tk.Stop()
	})
}

// TestTimerSemantics checks the Go 1.23 semantics sim.Env promises: a
// timer that fired but whose value was not received is still stopped by
// Stop, and no stale value is received after Stop or Reset.
func TestTimerSemantics(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		tm := env.NewTimer(time.Hour)
		assert.Equal(t, 0, tm.C().Cap())
		tm.Stop()
		checkStopReset(t, env)

		ran := sim.NewChan[bool](env, 1)
		af := env.AfterFunc(time.Millisecond, func() { ran.Send(true) })
		assert.Nil(t, af.C(), "an AfterFunc timer has no channel")
		assert.True(t, ran.Recv())
		assert.False(t, af.Stop())
		stopped := env.AfterFunc(time.Hour, func() { t.Error("a stopped AfterFunc ran") })
		assert.True(t, stopped.Stop())
	})
}

// checkStopReset checks that Stop and Reset treat a fired but unreceived
// value as pending and discard it, for timers and tickers. The sleeps let
// the timers fire; if the machine is too slow for that, the timers are
// still pending and the checks hold all the same.
func checkStopReset(t *testing.T, env sim.Env) {
	tm := env.NewTimer(time.Millisecond)
	env.Sleep(20 * time.Millisecond)
	assert.True(t, tm.Stop(), "the fired value was never received: Stop stops it")
	_, _, ready := tm.C().TryRecv()
	assert.False(t, ready, "no stale value after Stop")

	assert.False(t, tm.Reset(time.Millisecond), "Reset of a stopped timer")
	at := tm.C().Recv()
	assert.False(t, at.IsZero())
	assert.False(t, tm.Stop(), "fired and received")

	// Reset of a timer whose value was not received: pending, and the
	// next value received is the new one, not the stale one.
	tm.Reset(time.Millisecond)
	env.Sleep(20 * time.Millisecond)
	resetAt := env.Now()
	assert.True(t, tm.Reset(time.Millisecond), "the fired value was never received: Reset reports it pending")
	at = tm.C().Recv()
	assert.False(t, at.Before(resetAt), "the value is the reset timer's (%v), not the stale one (before %v)", at, resetAt)

	// A ticker's tick not received before Stop is not received after.
	tk := env.NewTicker(time.Millisecond)
	env.Sleep(20 * time.Millisecond)
	tk.Stop()
	_, _, ready = tk.C().TryRecv()
	assert.False(t, ready, "no stale tick after Ticker.Stop")
	assert.PanicsWithValue(t, "non-positive interval for Ticker.Reset", func() { tk.Reset(0) })
}

// TestTimerSemanticsWithAsyncTimerChan: Stop and Reset keep their Go 1.23
// guarantees on the OS runtime where package time's timer channels are the
// old buffered ones (GODEBUG=asynctimerchan=1, or a main module older than
// go 1.23).
func TestTimerSemanticsWithAsyncTimerChan(t *testing.T) {
	t.Setenv("GODEBUG", "asynctimerchan=1")
	probe := time.NewTimer(time.Hour)
	defer probe.Stop()
	require.Equal(t, 1, cap(probe.C), "the setting applies to timers made from now on")
	rt := osrt.New(osrt.Options{})
	require.NoError(t, rt.Run(func() { checkStopReset(t, rt) }))
	require.NoError(t, rt.Wait(5*time.Second))
}

func TestSyncPrimitives(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		mu := env.NewMutex()
		rw := env.NewRWMutex()
		cond := env.NewCond(mu)
		wg := env.NewWaitGroup()
		once := env.NewOnce()
		counter, ready, onces := 0, false, 0
		for i := range 4 {
			wg.Add(1)
			env.Go(fmt.Sprintf("adder%d", i), func() {
				defer wg.Done()
				once.Do(func() { onces++ })
				mu.Lock()
				for !ready {
					cond.Wait()
				}
				mu.Unlock()
				for range 100 {
					rw.Lock()
					counter++
					rw.Unlock()
					env.Yield()
				}
			})
		}
		mu.Lock()
		ready = true
		cond.Broadcast()
		mu.Unlock()
		wg.Wait()
		rw.RLock()
		assert.Equal(t, 400, counter)
		assert.False(t, rw.TryLock(), "a reader holds it")
		rw.RUnlock()
		assert.True(t, mu.TryLock())
		mu.Unlock()
		assert.Equal(t, 1, onces)
	})
}

func TestTasksAreTrackedAndWaitedFor(t *testing.T) {
	rt := osrt.New(osrt.Options{})
	release := make(chan struct{})
	rt.Go("blocked", func() { <-release })
	rt.Go("blocked", func() { <-release })
	assert.Equal(t, []string{"blocked", "blocked"}, rt.Tasks())
	err := rt.Wait(20 * time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 tasks still running after 20ms: blocked, blocked")
	close(release)
	require.NoError(t, rt.Wait(5*time.Second))
	assert.Empty(t, rt.Tasks())
	assert.NoError(t, rt.Wait(0), "no task: returns at once")
	assert.PanicsWithValue(t, "osrt: Go(x, nil): task function is nil", func() { rt.Go("x", nil) })
}

func TestPanicsAreRecordedWithOnPanic(t *testing.T) {
	var mu sync.Mutex
	var got []osrt.TaskPanic
	var logs bytes.Buffer
	rt := osrt.New(osrt.Options{Log: &logs, OnPanic: func(p osrt.TaskPanic) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
	}})
	rt.Go("bad", func() { panic("boom") })
	require.NoError(t, rt.Wait(5*time.Second))
	err := rt.Run(func() { panic(errors.New("main failed")) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), `task "main" panicked: main failed`)
	assert.Len(t, rt.Panics(), 2, "when Run returns, main's panic is recorded")
	assert.Empty(t, rt.Tasks(), "and main has ended")
	require.NoError(t, rt.Wait(5*time.Second))
	ps := rt.Panics()
	require.Len(t, ps, 2)
	assert.Equal(t, "bad", ps[0].Task)
	assert.Equal(t, "boom", ps[0].Value)
	assert.Contains(t, ps[0].Stack, "osrt_test")
	mu.Lock()
	assert.Len(t, got, 2)
	mu.Unlock()
	assert.Contains(t, logs.String(), "task panicked")
}

func TestLoggerStampsRealTimeAndTaskName(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	rt := osrt.New(osrt.Options{Log: lockedWriter{&mu, &buf}})
	before := time.Now()
	require.NoError(t, rt.Run(func() {
		done := sim.NewChan[struct{}](rt, 0)
		rt.Go("worker/7", func() {
			rt.Logger().With("k", 1).Info("hello from the worker")
			done.Close()
		})
		done.Recv()
		rt.Logger().Info("hello from main")
	}))
	rt.Logger().Info("hello from outside")
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], `msg="hello from the worker" k=1 task=worker/7`)
	assert.Contains(t, lines[1], `msg="hello from main" task=main`)
	assert.NotContains(t, lines[2], "task=", "not a task")
	stamp := strings.TrimPrefix(strings.Fields(lines[0])[0], "time=")
	at, err := time.Parse(time.RFC3339Nano, stamp)
	require.NoError(t, err)
	assert.WithinDuration(t, before, at, time.Minute, "a real timestamp")
}

func TestFromContext(t *testing.T) {
	rt := osrt.New(osrt.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	c := osrt.FromContext(ctx)
	assert.Equal(t, 1, sim.Select(rt, sim.RecvCase(c.DoneChan(), nil, nil), sim.DefaultCase()))
	cancel()
	_, ok := c.DoneChan().Recv2()
	assert.False(t, ok)
	child, stop := rt.WithCancel(c)
	defer stop()
	assert.Equal(t, child, osrt.FromContext(child), "a sim.Context is kept as it is")
	assert.ErrorIs(t, child.Err(), context.Canceled)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
