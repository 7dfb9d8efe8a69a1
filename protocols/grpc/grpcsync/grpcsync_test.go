package grpcsync_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/grpc/grpcsync"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onBoth runs body on a fresh World (over several seeds, with leak
// checking) and on the OS env.
func onBoth(t *testing.T, body func(t *testing.T, env sim.Env)) {
	t.Helper()
	for seed := range uint64(20) {
		w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
		require.NoError(t, err)
		res, err := w.Run(func() { body(t, w) })
		require.NoError(t, err)
		require.Nil(t, res.Failure, "seed %d: %v", seed, res.Failure)
	}
	t.Run("os", func(t *testing.T) { body(t, osrt.New(osrt.Options{Seed: 1})) })
}

func TestSerializerRunsCallbacksInOrder(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		cs := grpcsync.NewCallbackSerializer(env, nil, "test")
		mu := env.NewMutex()
		var got []int
		// Several producers; each one's callbacks keep their order, and no
		// two callbacks ever overlap.
		running := false
		wg := env.NewWaitGroup()
		for p := range 3 {
			wg.Add(1)
			env.Go(fmt.Sprintf("producer%d", p), func() {
				defer wg.Done()
				for i := range 20 {
					assert.True(t, cs.TrySchedule(func(sim.Context) {
						mu.Lock()
						assert.False(t, running, "callbacks overlap")
						running = true
						mu.Unlock()
						env.Yield()
						mu.Lock()
						running = false
						got = append(got, p*100+i)
						mu.Unlock()
					}))
				}
			})
		}
		wg.Wait()
		assert.NoError(t, cs.ScheduleAndWait(func(sim.Context) {}))
		mu.Lock()
		assert.Len(t, got, 60)
		last := map[int]int{0: -1, 1: 99, 2: 199}
		for _, v := range got {
			assert.Greater(t, v, last[v/100], "producer %d out of order: %v", v/100, got)
			last[v/100] = v
		}
		mu.Unlock()
		cs.Close()
		cs.Done().Recv()
	})
}

// TestSerializerCloseDrainsAcceptedCallbacks: grpc-go's semantics: after
// Close nothing new is accepted; what was accepted still runs, with the
// cancelled context; then Done is closed.
func TestSerializerCloseDrainsAcceptedCallbacks(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		cs := grpcsync.NewCallbackSerializer(env, nil, "test")
		release := sim.NewChan[struct{}](env, 0)
		var ran []string
		var errs []error
		cs.TrySchedule(func(ctx sim.Context) { release.Recv(); ran = append(ran, "first") })
		cs.TrySchedule(func(ctx sim.Context) { ran = append(ran, "second"); errs = append(errs, ctx.Err()) })
		cs.Close()
		assert.False(t, cs.TrySchedule(func(sim.Context) { ran = append(ran, "late") }), "nothing is accepted after Close")
		failed := false
		cs.ScheduleOr(func(sim.Context) {}, func() { failed = true })
		assert.True(t, failed)
		assert.ErrorIs(t, cs.ScheduleAndWait(func(sim.Context) {}), grpcsync.ErrSerializerClosed)
		_, _, ready := cs.Done().TryRecv()
		assert.False(t, ready, "a callback is still running")
		release.Send(struct{}{})
		cs.Done().Recv()
		assert.Equal(t, []string{"first", "second"}, ran)
		assert.Len(t, errs, 1)
		assert.Error(t, errs[0], "drained callbacks see the cancelled context")
		cs.Close() // idempotent
	})
}

func TestSerializerStopsWithItsParentContext(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		ctx, cancel := env.WithCancel(env.Background())
		cs := grpcsync.NewCallbackSerializer(env, ctx, "test")
		assert.NoError(t, cs.ScheduleAndWait(func(sim.Context) {}))
		cancel()
		cs.Done().Recv()
		assert.False(t, cs.TrySchedule(func(sim.Context) {}))
	})
}

func TestSerializerTaskName(t *testing.T) {
	w, err := sim.New(sim.Options{CheckLeaks: true})
	require.NoError(t, err)
	res, err := w.Run(func() { grpcsync.NewCallbackSerializer(w, nil, "forgotten") })
	require.NoError(t, err)
	require.NotNil(t, res.Failure)
	assert.Equal(t, sim.Leak, res.Failure.Kind)
	require.Len(t, res.Failure.Blocked, 1)
	assert.Equal(t, "forgotten/CallbackSerializer.run", res.Failure.Blocked[0].Name)
}

func TestEvent(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		e := grpcsync.NewEvent(env)
		assert.False(t, e.HasFired())
		woke := sim.NewChan[bool](env, 1)
		env.Go("waiter", func() { e.Done().Recv(); woke.Send(e.HasFired()) })
		assert.True(t, e.Fire())
		assert.False(t, e.Fire(), "fires once")
		assert.True(t, woke.Recv())
		_, ok := e.Done().Recv2()
		assert.False(t, ok)
	})
}

func TestUnbounded(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		b := grpcsync.NewUnbounded[int](env)
		for i := range 100 {
			assert.NoError(t, b.Put(i))
		}
		assert.Equal(t, 100, b.Len())
		b.Close()
		assert.ErrorIs(t, b.Put(100), grpcsync.ErrClosed)
		var got []int
		for {
			v, ok := b.Get().Recv2()
			if !ok {
				break
			}
			got = append(got, v)
			b.Load()
		}
		assert.Len(t, got, 100)
		for i, v := range got {
			assert.Equal(t, i, v)
		}
	})
}

func TestUnboundedWakesAReader(t *testing.T) {
	onBoth(t, func(t *testing.T, env sim.Env) {
		b := grpcsync.NewUnbounded[string](env)
		out := sim.NewChan[string](env, 1)
		env.Go("reader", func() {
			v := b.Get().Recv()
			b.Load()
			out.Send(v)
		})
		env.Sleep(time.Millisecond)
		assert.NoError(t, b.Put("x"))
		assert.Equal(t, "x", out.Recv())
	})
}
