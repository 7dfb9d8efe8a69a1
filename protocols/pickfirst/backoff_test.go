package pickfirst_test

import (
	"math"
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/pickfirst"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// runBackoffWorld runs main in a fresh World (leak-checked) and fails t if
// the run failed. Inside main use assert, not require: t.FailNow in a task
// is reported as a panic.
func runBackoffWorld(t testing.TB, seed uint64, main func(w *sim.World)) {
	t.Helper()
	w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
	require.NoError(t, err)
	res, err := w.Run(func() { main(w) })
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
}

// backoffDelays returns the delays of n successive RunOnce calls (each
// timer stopped before the next, as a subchannel that connects quickly but
// fails does not wait for it).
func backoffDelays(b *pickfirst.Backoff, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		b.RunOnce()
		out[i] = b.Delay()
		b.Stop()
	}
	return out
}

// checkSpecBounds checks delays against connection-backoff.md: the first is
// InitialBackoff and the i-th lies in [1-Jitter, 1+Jitter] times the
// nominal min(InitialBackoff*Multiplier^i, MaxBackoff), computed the same
// way (each nominal from the un-jittered previous one). One nanosecond of
// slack covers the truncation to a Duration.
func checkSpecBounds(t assert.TestingT, cfg pickfirst.BackoffConfig, delays []time.Duration) bool {
	ok := assert.Equal(t, cfg.InitialBackoff, delays[0], "the first delay is InitialBackoff, without jitter")
	nominal := float64(cfg.InitialBackoff)
	for i := 1; i < len(delays); i++ {
		nominal = math.Min(float64(nominal*cfg.Multiplier), float64(cfg.MaxBackoff))
		lo := time.Duration(float64(nominal*(1-cfg.Jitter))) - 1
		hi := time.Duration(float64(nominal*(1+cfg.Jitter))) + 1
		if !assert.True(t, delays[i] >= lo && delays[i] <= hi,
			"delay %d = %v, want within [%v, %v] (nominal %v)", i, delays[i], lo, hi, time.Duration(nominal)) {
			ok = false
		}
	}
	return ok
}

func TestBackoffSequenceFollowsSpec(t *testing.T) {
	runBackoffWorld(t, 1, func(w *sim.World) {
		b := pickfirst.NewBackoff(w, pickfirst.DefaultBackoff, w.Rand("backoff"), func() {})
		d := backoffDelays(b, 40)
		assert.Equal(t, time.Second, d[0])
		assert.GreaterOrEqual(t, d[1], 1280*time.Millisecond)
		assert.LessOrEqual(t, d[1], 1920*time.Millisecond)
		checkSpecBounds(t, pickfirst.DefaultBackoff, d)
		// 1.6^11 > 120: from the 12th delay on the nominal is capped.
		for i := 12; i < len(d); i++ {
			assert.True(t, d[i] >= 96*time.Second && d[i] <= 144*time.Second, "capped delay %d = %v", i, d[i])
		}
		// Jitter is drawn: the capped delays are not all equal.
		assert.NotEqual(t, d[20], d[21])
	})
}

func TestBackoffSameSeedSameDelays(t *testing.T) {
	var runs [2][]time.Duration
	for i := range runs {
		runBackoffWorld(t, 7, func(w *sim.World) {
			b := pickfirst.NewBackoff(w, pickfirst.DefaultBackoff, w.Rand("backoff"), func() {})
			runs[i] = backoffDelays(b, 20)
		})
	}
	assert.Equal(t, runs[0], runs[1])
}

func TestBackoffTimerFiresAtDeadline(t *testing.T) {
	runBackoffWorld(t, 2, func(w *sim.World) {
		var fired []time.Time
		var b *pickfirst.Backoff
		b = pickfirst.NewBackoff(w, pickfirst.DefaultBackoff, w.Rand("backoff"), func() {
			fired = append(fired, w.Now())
			assert.False(t, b.IsRunning(), "the timer no longer runs when fn is called")
		})
		assert.False(t, b.IsRunning())
		assert.True(t, b.Deadline().IsZero())
		assert.Equal(t, time.Second, b.Delay(), "the next delay before any RunOnce")

		start := w.Now()
		b.RunOnce()
		assert.True(t, b.IsRunning())
		assert.Equal(t, time.Second, b.Delay(), "the running timer's delay")
		assert.Equal(t, start.Add(time.Second), b.Deadline())
		w.Sleep(999 * time.Millisecond)
		assert.Empty(t, fired)
		// fn runs in the timer's own task, at the deadline: by the time
		// this task wakes after it, fn has run.
		w.Sleep(2 * time.Millisecond)
		assert.Equal(t, []time.Time{start.Add(time.Second)}, fired)
		assert.False(t, b.IsRunning())
		assert.True(t, b.Deadline().IsZero())
		next := b.Delay()
		assert.True(t, next >= 1280*time.Millisecond && next <= 1920*time.Millisecond, "next delay %v", next)

		// Stop cancels: fn is not called.
		b.RunOnce()
		assert.Equal(t, next, b.Delay())
		b.Stop()
		assert.False(t, b.IsRunning())
		w.Sleep(time.Minute)
		assert.Len(t, fired, 1)
	})
}

func TestBackoffReset(t *testing.T) {
	runBackoffWorld(t, 3, func(w *sim.World) {
		fires := 0
		b := pickfirst.NewBackoff(w, pickfirst.DefaultBackoff, w.Rand("backoff"), func() { fires++ })
		backoffDelays(b, 6)
		assert.Greater(t, b.Delay(), 5*time.Second)
		b.Reset()
		assert.Equal(t, time.Second, b.Delay(), "Reset returns to InitialBackoff")
		assert.Equal(t, []time.Duration{time.Second}, backoffDelays(b, 1))

		// Reset while running, before InitialBackoff has passed: the timer
		// is moved to InitialBackoff after its start (grpc-js).
		backoffDelays(b, 3)
		start := w.Now()
		b.RunOnce()
		assert.Greater(t, b.Delay(), 2*time.Second)
		w.Sleep(500 * time.Millisecond)
		b.Reset()
		assert.True(t, b.IsRunning())
		assert.Equal(t, start.Add(time.Second), b.Deadline())
		w.Sleep(499 * time.Millisecond)
		assert.Equal(t, 0, fires)
		w.Sleep(2 * time.Millisecond)
		assert.Equal(t, 1, fires)
		assert.Equal(t, time.Second, b.Delay(), "the reset also applies to the next RunOnce")

		// Reset while running, after InitialBackoff has passed: the timer
		// is stopped without calling fn (grpc-js).
		backoffDelays(b, 3)
		b.RunOnce()
		w.Sleep(1500 * time.Millisecond)
		b.Reset()
		assert.False(t, b.IsRunning())
		w.Sleep(5 * time.Minute)
		assert.Equal(t, 1, fires)
	})
}

func TestBackoffValidate(t *testing.T) {
	assert.NoError(t, pickfirst.DefaultBackoff.Validate())
	mod := func(f func(*pickfirst.BackoffConfig)) pickfirst.BackoffConfig {
		c := pickfirst.DefaultBackoff
		f(&c)
		return c
	}
	for _, tc := range []struct {
		cfg   pickfirst.BackoffConfig
		field string
	}{
		{mod(func(c *pickfirst.BackoffConfig) { c.InitialBackoff = 0 }), "Backoff.InitialBackoff = 0s"},
		{mod(func(c *pickfirst.BackoffConfig) { c.InitialBackoff = -time.Second }), "Backoff.InitialBackoff = -1s"},
		{mod(func(c *pickfirst.BackoffConfig) { c.Multiplier = 0.5 }), "pickfirst: Backoff.Multiplier = 0.5: must be >= 1"},
		{mod(func(c *pickfirst.BackoffConfig) { c.Multiplier = math.NaN() }), "Backoff.Multiplier = NaN"},
		{mod(func(c *pickfirst.BackoffConfig) { c.Jitter = -0.1 }), "Backoff.Jitter = -0.1"},
		{mod(func(c *pickfirst.BackoffConfig) { c.Jitter = 1.5 }), "Backoff.Jitter = 1.5"},
		{mod(func(c *pickfirst.BackoffConfig) { c.MaxBackoff = 500 * time.Millisecond }), "Backoff.MaxBackoff = 500ms"},
		{mod(func(c *pickfirst.BackoffConfig) { c.MinConnectTimeout = 0 }), "Backoff.MinConnectTimeout = 0s"},
	} {
		err := tc.cfg.Validate()
		if assert.Error(t, err, "%+v", tc.cfg) {
			assert.Contains(t, err.Error(), tc.field)
		}
	}
	// Edge values are valid.
	assert.NoError(t, mod(func(c *pickfirst.BackoffConfig) {
		c.Multiplier, c.Jitter, c.MaxBackoff = 1, 1, c.InitialBackoff
	}).Validate())
	assert.NoError(t, mod(func(c *pickfirst.BackoffConfig) { c.Jitter = 0 }).Validate())
}

func TestNewBackoffRejectsInvalidConfig(t *testing.T) {
	w, err := sim.New(sim.Options{Seed: 1})
	require.NoError(t, err)
	bad := pickfirst.DefaultBackoff
	bad.Multiplier = 0.5
	assert.PanicsWithValue(t, "pickfirst: NewBackoff: pickfirst: Backoff.Multiplier = 0.5: must be >= 1", func() {
		pickfirst.NewBackoff(w, bad, w.Rand("b"), func() {})
	})
}

func TestBackoffZeroConfigIsDefault(t *testing.T) {
	runBackoffWorld(t, 4, func(w *sim.World) {
		b := pickfirst.NewBackoff(w, pickfirst.BackoffConfig{}, w.Rand("backoff"), func() {})
		checkSpecBounds(t, pickfirst.DefaultBackoff, backoffDelays(b, 20))
	})
}

// TestBackoffBoundsProperty: over seeds, attempt counts and valid
// configurations, every delay lies within the spec's bounds, and a capped
// delay never exceeds (1+Jitter)*MaxBackoff.
func TestBackoffBoundsProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		n := rapid.IntRange(1, 80).Draw(rt, "attempts")
		cfg := pickfirst.DefaultBackoff
		if rapid.Bool().Draw(rt, "custom") {
			// From 1µs: at nanosecond scale the truncation of each step to a
			// Duration adds up past the one-nanosecond slack.
			cfg.InitialBackoff = time.Duration(rapid.Int64Range(int64(time.Microsecond), int64(10*time.Second)).Draw(rt, "initial"))
			cfg.Multiplier = rapid.Float64Range(1, 4).Draw(rt, "multiplier")
			cfg.Jitter = rapid.Float64Range(0, 1).Draw(rt, "jitter")
			cfg.MaxBackoff = cfg.InitialBackoff + time.Duration(rapid.Int64Range(0, int64(10*time.Minute)).Draw(rt, "extra"))
		}
		require.NoError(rt, cfg.Validate())
		w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
		require.NoError(rt, err)
		var delays []time.Duration
		res, err := w.Run(func() {
			b := pickfirst.NewBackoff(w, cfg, w.Rand("backoff"), func() {})
			delays = backoffDelays(b, n)
		})
		require.NoError(rt, err)
		require.Nil(rt, res.Failure)
		if !checkSpecBounds(rt, cfg, delays) {
			rt.Fatalf("delays %v out of bounds for %+v", delays, cfg)
		}
		maxD := time.Duration(float64(float64(cfg.MaxBackoff)*(1+cfg.Jitter))) + 1
		for i, d := range delays {
			if d > maxD {
				rt.Fatalf("delay %d = %v exceeds (1+Jitter)*MaxBackoff = %v", i, d, maxD)
			}
		}
	})
}
