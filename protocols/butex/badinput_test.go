package butex_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadOptions(t *testing.T) {
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	cases := []struct {
		name string
		edit func(o *butex.Options)
		want string
	}{
		{"no tags", func(o *butex.Options) { o.Workers = nil }, "Options.Workers is empty"},
		{"zero workers", func(o *butex.Options) { o.Workers = []int{2, 0} }, "Options.Workers[1] = 0"},
		{"negative workers", func(o *butex.Options) { o.Workers = []int{-1} }, "Options.Workers[0] = -1"},
		{"too many workers", func(o *butex.Options) { o.Workers = []int{butex.MaxWorkersPerTag + 1} }, "between 1 and 64"},
		{"negative lots", func(o *butex.Options) { o.ParkingLots = -4 }, "Options.ParkingLots = -4"},
		{"negative cap", func(o *butex.Options) { o.SignalCap = -1 }, "Options.SignalCap = -1"},
		{"negative queue", func(o *butex.Options) { o.RunQueueCap = -1 }, "Options.RunQueueCap = -1"},
		{"negative backoff", func(o *butex.Options) { o.FullQueueBackoff = -time.Second }, "Options.FullQueueBackoff = -1s"},
		{"bad variant", func(o *butex.Options) { o.Variant = "fast" }, `unknown variant "fast"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := butex.DefaultOptions()
			c.edit(&o)
			rt, err := butex.New(w, o)
			assert.Nil(t, rt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
	_, err = butex.New(nil, butex.DefaultOptions())
	assert.ErrorContains(t, err, "env is nil")
}

func TestBadCallsReturnErrors(t *testing.T) {
	mustPass(t, 1, options(butex.Fixed, 1, 1), func(e env) {
		_, err := e.rt.Start(e.main, 2, "x", func(*butex.Bthread) {})
		assert.ErrorContains(t, err, "tag 2 is invalid: the runtime has tags 0..1")
		_, err = e.rt.Start(e.main, -2, "x", func(*butex.Bthread) {})
		assert.ErrorContains(t, err, "tag -2 is invalid")
		_, err = e.rt.Start(e.main, 0, "x", nil)
		assert.ErrorContains(t, err, "fn is nil")

		b := e.rt.NewButex(0)
		assert.ErrorContains(t, b.Wait(e.main, 0, -time.Second), "timeout -1s is negative")
		assert.ErrorContains(t, e.rt.Join(e.main, nil, 0), "bthread is nil")

		_, err = e.rt.NewCountdownEvent(-1)
		assert.ErrorContains(t, err, "NewCountdownEvent(-1)")
		ev, err := e.rt.NewCountdownEvent(1)
		assert.NoError(t, err)
		assert.ErrorContains(t, ev.Signal(e.main, 0, false), "sig must be >= 1")
		assert.ErrorContains(t, ev.Signal(e.main, -2, false), "Signal(sig=-2)")
		assert.ErrorContains(t, ev.AddCount(-1), "AddCount(-1)")
		assert.ErrorContains(t, ev.Reset(-3), "Reset(-3)")
		assert.ErrorContains(t, ev.Wait(e.main, -time.Millisecond), "negative")
		assert.Equal(t, 1, ev.Count(), "rejected calls change nothing")
	})
	mustPass(t, 1, options(butex.Fixed, 1), func(e env) {
		e.rt.Stop()
		_, err := e.rt.Start(e.main, 0, "late", func(*butex.Bthread) {})
		assert.ErrorIs(t, err, butex.ErrStopped)
	})
}

// failureOf runs body and returns the failure's message, which must be a
// panic.
func failureOf(t *testing.T, body func(e env)) string {
	t.Helper()
	res := runWorld(t, 1, options(butex.Fixed, 1), body)
	require.NotNil(t, res.Failure)
	require.Equal(t, sim.Panic, res.Failure.Kind, res.Failure.Message)
	return res.Failure.Message
}

func TestMisuseFromOutsideABthreadPanics(t *testing.T) {
	t.Run("a Bthread handle used from another task", func(t *testing.T) {
		msg := failureOf(t, func(e env) {
			b := e.rt.NewButex(0)
			var leaked *butex.Bthread
			e.join(e.start(0, "b", func(bt *butex.Bthread) { leaked = bt }))
			_ = b.Wait(leaked, 0, 0)
		})
		assert.Contains(t, msg, `Butex.Wait called with bthread 1 "b" (tag 0)'s handle from task`)
		assert.Contains(t, msg, "may only be used by the bthread's own function")
	})
	t.Run("a nil Caller", func(t *testing.T) {
		msg := failureOf(t, func(e env) { e.rt.NewButex(0).Wake(nil, false) })
		assert.Contains(t, msg, "Butex.Wake: the Caller is nil")
	})
	t.Run("a Pthread handle used inside a bthread", func(t *testing.T) {
		msg := failureOf(t, func(e env) {
			m := e.rt.NewMutex()
			e.join(e.start(0, "b", func(bt *butex.Bthread) { m.Lock(e.main) }))
		})
		assert.Contains(t, msg, `Mutex.Lock called with Pthread "main" from inside bthread 1 "b"`)
	})
	t.Run("a butex of another runtime", func(t *testing.T) {
		msg := failureOf(t, func(e env) {
			other, err := butex.New(e.w, options(butex.Fixed, 1))
			if err != nil {
				panic(err)
			}
			_ = other.NewButex(0).Wait(e.main, 0, 0)
		})
		assert.Contains(t, msg, `Butex.Wait called with pthread main, a handle of another Runtime`)
	})
	t.Run("WakeN with a negative count", func(t *testing.T) {
		msg := failureOf(t, func(e env) { e.rt.NewButex(0).WakeN(e.main, -1, false) })
		assert.Contains(t, msg, "WakeN(n=-1): n must be >= 0")
	})
	t.Run("unlock of an unlocked mutex", func(t *testing.T) {
		msg := failureOf(t, func(e env) { e.rt.NewMutex().Unlock(e.main) })
		assert.Contains(t, msg, "Unlock of an unlocked mutex")
	})
}

// TestWaitOutsideAnyTaskPanics: waiting on a butex from no task at all
// (here, before World.Run) names the call and the handle.
func TestWaitOutsideAnyTaskPanics(t *testing.T) {
	w, err := sim.New(sim.Options{})
	require.NoError(t, err)
	rt, err := butex.New(w, options(butex.Fixed, 1))
	require.NoError(t, err)
	p := rt.NewPthread("outside")
	assert.PanicsWithValue(t, `butex: Butex.Wait called with Pthread "outside" outside any task`, func() {
		_ = rt.NewButex(0).Wait(p, 0, 0)
	})
}

func TestJoinOfAnotherRuntimesBthread(t *testing.T) {
	mustPass(t, 1, options(butex.Fixed, 1), func(e env) {
		other, err := butex.New(e.w, options(butex.Fixed, 1))
		require.NoError(t, err)
		p := other.NewPthread("p")
		bt, err := other.Start(p, 0, "theirs", func(*butex.Bthread) {})
		require.NoError(t, err)
		assert.ErrorContains(t, e.rt.Join(e.main, bt, 0), "belongs to another Runtime")
		require.NoError(t, other.Join(p, bt, 0))
		other.Stop()
		other.WaitWorkers()
	})
}

// TestStartTagInvalidTakesCallersTag: BTHREAD_TAG_INVALID is tag 0 from a
// pthread (start_from_non_worker's BTHREAD_TAG_DEFAULT) and the worker's
// tag from a bthread, which then queues the child on its own worker
// (can_run_thread_local).
func TestStartTagInvalidTakesCallersTag(t *testing.T) {
	ranOn := map[string]*butex.Group{}
	var parentOn *butex.Group
	var tags []butex.Tag
	opts := options(butex.Fixed, 1, 2)
	opts.Hooks.OnRun = func(bt *butex.Bthread, g *butex.Group) { ranOn[bt.Name()] = g }
	mustPass(t, 3, opts, func(e env) {
		top := e.start(butex.TagInvalid, "top", func(*butex.Bthread) {})
		parent := e.start(1, "parent", func(bt *butex.Bthread) {
			parentOn = bt.Worker()
			child, err := e.rt.Start(bt, butex.TagInvalid, "child", func(*butex.Bthread) {})
			if err != nil {
				panic(err)
			}
			q, _ := parentOn.Queued()
			assert.Equal(t, 1, q, "the child waits in the parent's local queue")
			tags = append(tags, child.Tag())
			if err := e.rt.Join(bt, child, 0); err != nil {
				panic(err)
			}
		})
		e.join(top, parent)
		tags = append(tags, top.Tag())
	})
	assert.Equal(t, []butex.Tag{1, 0}, tags)
	assert.Equal(t, butex.Tag(0), ranOn["top"].Tag())
	assert.Equal(t, butex.Tag(1), ranOn["child"].Tag())
}

func TestParseVariant(t *testing.T) {
	for _, c := range []struct {
		in   string
		want butex.Variant
	}{{"", butex.Fixed}, {"fixed", butex.Fixed}, {"buggy", butex.Buggy}} {
		got, err := butex.ParseVariant(c.in)
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
	_, err := butex.ParseVariant("pre-2778")
	assert.ErrorContains(t, err, `unknown variant "pre-2778"`)
}
