package cache

import (
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoveAbortsFiredTimer builds the race the deleted flag exists for, in
// one fixed schedule: the timer fires and its task blocks on the cache's
// lock (held here, as a concurrent Remove would hold it), then the entry is
// removed. Stop fails because the timer already fired, so the entry is
// marked deleted and the expiry task gives up when it gets the lock.
func TestRemoveAbortsFiredTimer(t *testing.T) {
	for _, strat := range []sim.Strategy{{Kind: sim.FIFO}, {Kind: sim.Random}, {Kind: sim.PCT}} {
		for seed := uint64(0); seed < 20; seed++ {
			w, err := sim.New(sim.Options{Seed: seed, Strategy: strat, CheckLeaks: true})
			require.NoError(t, err)
			res, err := w.Run(func() {
				c := NewTimeoutCache(w, time.Second)
				c.Add("k", "v", func() { t.Errorf("seed %d: callback ran although Remove won", seed) })
				e := c.entries["k"]

				c.mu.Lock()
				w.Sleep(2 * time.Second) // the timer fires; its task blocks on c.mu
				got, ok := c.removeLocked("k")
				require.True(t, ok)
				assert.Equal(t, "v", got.item)
				assert.True(t, e.deleted, "Stop of a fired timer must mark the entry deleted")
				c.mu.Unlock()

				w.Sleep(time.Second) // the expiry task takes the lock and aborts
				c.mu.Lock()
				assert.Equal(t, 1, c.aborts)
				assert.Empty(t, c.entries)
				c.mu.Unlock()
			})
			require.NoError(t, err)
			require.Nil(t, res.Failure, "seed %d %v: %v", seed, strat, res.Failure)
		}
	}
}

// TestRemoveRaceReachesDeletedPath checks that a sweep of the public API
// (Remove called by another task at the instant the timer is due) explores
// the deleted-flag schedule, not only the two easy ones.
func TestRemoveRaceReachesDeletedPath(t *testing.T) {
	aborted := 0
	for seed := uint64(0); seed < 500; seed++ {
		w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
		require.NoError(t, err)
		var c *TimeoutCache
		var removed, called bool
		res, err := w.Run(func() {
			c = NewTimeoutCache(w, time.Second)
			c.Add("k", 1, func() { called = true })
			w.Go("remover", func() {
				w.Sleep(time.Second)
				_, removed = c.Remove("k")
			})
			w.Sleep(2 * time.Second)
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "seed %d: %v", seed, res.Failure)
		require.NotEqual(t, removed, called, "seed %d", seed)
		aborted += c.aborts
	}
	t.Logf("expiry task aborted by the deleted flag in %d of 500 seeds", aborted)
	assert.Positive(t, aborted)
}
