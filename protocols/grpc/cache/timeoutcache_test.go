package cache_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/grpc/cache"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mustPass runs main in a fresh World with leak checking and fails the test
// if the run failed.
func mustPass(t *testing.T, opts sim.Options, main func(w *sim.World)) sim.Result {
	t.Helper()
	opts.CheckLeaks = true
	w, err := sim.New(opts)
	require.NoError(t, err)
	res, err := w.Run(func() { main(w) })
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}

func TestAddExpiresAfterTimeout(t *testing.T) {
	var firedAt []time.Duration
	mustPass(t, sim.Options{}, func(w *sim.World) {
		c := cache.NewTimeoutCache(w, time.Minute)
		item, ok := c.Add("a", 1, func() { firedAt = append(firedAt, w.Elapsed()) })
		assert.True(t, ok)
		assert.Equal(t, 1, item)

		w.Sleep(30 * time.Second)
		// A second Add of the same key changes nothing: the first item
		// stays, and its timer is not re-armed.
		item, ok = c.Add("a", 2, func() { t.Error("callback of a rejected Add ran") })
		assert.False(t, ok)
		assert.Equal(t, 1, item)
		assert.Equal(t, 1, c.Len())

		w.Sleep(30*time.Second - 1)
		assert.Empty(t, firedAt, "expired early")
		assert.Equal(t, []string{"a"}, c.Keys())
		// The clock only moves once every runnable task is blocked, so one
		// more nanosecond lets the expiry task due at 1m finish.
		w.Sleep(2)
		assert.Equal(t, []time.Duration{time.Minute}, firedAt)
		assert.Equal(t, 0, c.Len())
		assert.Empty(t, c.Keys())

		// The key can be added again once expired.
		_, ok = c.Add("a", 3, nil)
		assert.True(t, ok)
		w.Sleep(2 * time.Minute) // a nil callback is fine
		assert.Equal(t, 0, c.Len())
	})
}

func TestRemoveBeforeTimeoutCancelsCallback(t *testing.T) {
	mustPass(t, sim.Options{}, func(w *sim.World) {
		c := cache.NewTimeoutCache(w, time.Minute)
		c.Add("a", "A", func() { t.Error("callback of a removed item ran") })
		c.Add("b", "B", nil)
		w.Sleep(59 * time.Second)

		item, ok := c.Remove("a")
		assert.True(t, ok)
		assert.Equal(t, "A", item)
		item, ok = c.Remove("a")
		assert.False(t, ok, "second Remove")
		assert.Nil(t, item)
		item, ok = c.Remove("missing")
		assert.False(t, ok)
		assert.Nil(t, item)
		assert.Equal(t, []string{"b"}, c.Keys())

		item, ok = c.Remove("b")
		assert.True(t, ok)
		assert.Equal(t, "B", item)
		// CheckLeaks then proves both timers were disarmed.
	})
}

func TestClearRunsCallbacksInKeyOrder(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		var order []string
		mustPass(t, sim.Options{Seed: seed}, func(w *sim.World) {
			c := cache.NewTimeoutCache(w, time.Minute)
			for _, k := range []string{"c", "a", "d", "b"} {
				c.Add(k, k, func() {
					order = append(order, k)
					// Callbacks run without the lock: calling back in
					// must not deadlock.
					c.Len()
				})
			}
			w.Sleep(10 * time.Second)
			c.Clear(true)
			assert.Equal(t, []string{"a", "b", "c", "d"}, order, "Clear runs callbacks before returning, in key order")
			assert.Equal(t, 0, c.Len())
			w.Sleep(time.Hour)
			assert.Len(t, order, 4, "a cleared item's timer must not fire")
		})
	}
}

func TestClearWithoutCallbacks(t *testing.T) {
	mustPass(t, sim.Options{}, func(w *sim.World) {
		c := cache.NewTimeoutCache(w, time.Minute)
		c.Add("a", 1, func() { t.Error("callback ran after Clear(false)") })
		c.Add("b", 2, func() { t.Error("callback ran after Clear(false)") })
		c.Clear(false)
		assert.Equal(t, 0, c.Len())
		c.Clear(true) // empty: nothing to run
		w.Sleep(time.Hour)
	})
}

// TestRemoveRacingExpiry removes an item at the very instant its timer is
// due, over many schedules: whichever wins, exactly one of "Remove reported
// the item" and "the callback ran" happens. (The internal test
// TestRemoveAbortsFiredTimer pins down the schedule where the timer has
// fired but its task has not taken the lock.)
func TestRemoveRacingExpiry(t *testing.T) {
	outcomes := map[string]int{}
	for _, strat := range []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Horizon: 50}, {Kind: sim.Random, PermuteEqualTime: true}} {
		for seed := uint64(0); seed < 300; seed++ {
			var removed, called bool
			mustPass(t, sim.Options{Seed: seed, Strategy: strat}, func(w *sim.World) {
				c := cache.NewTimeoutCache(w, time.Second)
				done := w.NewWaitGroup()
				done.Add(1)
				w.Go("remover", func() {
					defer done.Done()
					w.Sleep(time.Second)
					_, removed = c.Remove("k")
				})
				c.Add("k", 1, func() { called = true })
				done.Wait()
				w.Sleep(time.Second) // let a losing expiry task finish
				assert.Equal(t, 0, c.Len())
			})
			require.NotEqual(t, removed, called, "seed %d %v: removed=%v called=%v", seed, strat, removed, called)
			if removed {
				outcomes["removed"]++
			} else {
				outcomes["expired"]++
			}
		}
	}
	t.Logf("outcomes: %v", outcomes)
	assert.Positive(t, outcomes["removed"])
	assert.Positive(t, outcomes["expired"])
}
