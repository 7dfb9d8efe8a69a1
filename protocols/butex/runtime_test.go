package butex_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNoLostSignalBetweenStealAndPark: a worker whose steal failed is about
// to park when a bthread is queued with a signal. The lot's state moved
// since the worker saved it, so the futex wait returns at once and the
// worker runs the bthread: nothing waits for a later signal.
func TestNoLostSignalBetweenStealAndPark(t *testing.T) {
	for seed := uint64(0); seed < 8; seed++ {
		var hookAt, ranAt time.Duration = -1, -1
		var parksAtHook, parksAtRun int
		armed := false
		var e0 env
		var pusher *butex.Pthread
		opts := options(butex.Fixed, 1)
		opts.ParkingLots = 1
		opts.Hooks.BeforePark = func(g *butex.Group) {
			if !armed {
				return
			}
			armed = false
			hookAt = e0.w.Elapsed()
			parksAtHook = e0.rt.Stats().Parks
			// In the window: the worker saved the lot state and failed
			// to steal; it has not waited yet.
			if _, err := e0.rt.Start(pusher, 0, "late", func(bt *butex.Bthread) {
				ranAt = e0.w.Elapsed()
				parksAtRun = e0.rt.Stats().Parks
			}); err != nil {
				panic(err)
			}
		}
		mustPass(t, seed, opts, func(e env) {
			e0, pusher = e, e.rt.NewPthread("pusher")
			e.w.Sleep(time.Millisecond) // the worker parks
			first := e.start(0, "first", func(bt *butex.Bthread) {
				armed = true // the worker's next park attempt is the window
			})
			e.join(first)
			e.w.Sleep(time.Millisecond)
		})
		require.GreaterOrEqual(t, hookAt, time.Duration(0), "seed %d: the window was never reached", seed)
		assert.Equal(t, hookAt, ranAt, "seed %d: the bthread queued in the window must run at once", seed)
		assert.Equal(t, parksAtHook, parksAtRun, "seed %d: the worker must not park in between", seed)
	}
}

// TestSignalCap: flushing n pending tasks wakes at most SignalCap parked
// workers (signal_task caps n), one per lot it visits.
func TestSignalCap(t *testing.T) {
	for _, cap := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("cap=%d", cap), func(t *testing.T) {
			var pendingBefore, parkedBefore, parkedAfter, woken int
			lots := map[int]bool{}
			opts := options(butex.Fixed, 5)
			opts.SignalCap = cap
			opts.ParkingLots = 16
			mustPass(t, 11, opts, func(e env) {
				b := e.rt.NewButex(0)
				var order []int
				waiters := waitAll(e, b, 0, 4, &order)
				e.w.Sleep(time.Millisecond)
				waker := e.start(0, "waker", func(bt *butex.Bthread) {
					b.WakeAll(bt, true) // same tag: queued locally, unsignalled
					pendingBefore, _ = bt.Worker().Pending()
					parkedBefore = e.rt.Parked(0)
					for _, g := range e.rt.Workers(0) {
						if g.Parked() {
							lots[g.Lot()] = true
						}
					}
					w0 := e.rt.Stats().FutexWakes
					e.rt.Flush(bt)
					woken = e.rt.Stats().FutexWakes - w0
					parkedAfter = e.rt.Parked(0)
				})
				e.join(append(waiters, waker)...)
			})
			assert.Equal(t, 4, pendingBefore)
			assert.Equal(t, 4, parkedBefore)
			// A lot is signalled once per visit: the cap binds when the
			// parked workers are spread over enough lots.
			require.GreaterOrEqual(t, len(lots), 3, "pick a seed that spreads the workers")
			assert.Equal(t, cap, woken)
			assert.Equal(t, 4-cap, parkedAfter)
		})
	}
}

// TestStealingStaysWithinTag: children a busy tag-0 bthread makes are
// stolen by the other tag-0 worker, never by the tag-1 workers, not even
// one that is awake and out of work.
func TestStealingStaysWithinTag(t *testing.T) {
	for seed := uint64(0); seed < 5; seed++ {
		ranOn := map[string]string{}
		opts := options(butex.Fixed, 2, 2)
		opts.Hooks.OnRun = func(bt *butex.Bthread, g *butex.Group) { ranOn[bt.Name()] = g.String() }
		var parent string
		var steals int
		mustPass(t, seed, opts, func(e env) {
			p := e.start(0, "parent", func(bt *butex.Bthread) {
				parent = bt.Worker().String()
				var kids []*butex.Bthread
				for i := 0; i < 6; i++ {
					k, err := e.rt.Start(bt, 0, fmt.Sprintf("kid%d", i), func(k *butex.Bthread) { k.Compute(100 * time.Microsecond) })
					if err != nil {
						panic(err)
					}
					kids = append(kids, k)
				}
				bt.Compute(time.Millisecond) // busy: the kids wait in its local queue
				for _, k := range kids {
					if err := e.rt.Join(bt, k, 0); err != nil {
						panic(err)
					}
				}
			})
			// Tag-1 work while the kids wait: a tag-1 worker wakes and
			// looks for more work when it is done, but only in tag 1.
			e.w.Sleep(100 * time.Microsecond)
			t1 := e.start(1, "t1", func(bt *butex.Bthread) { bt.Compute(10 * time.Microsecond) })
			e.join(p, t1)
			steals = e.rt.Stats().Steals
			assert.Equal(t, 2, e.rt.Parked(1), "tag 1 is idle again")
		})
		other := 0
		for i := 0; i < 6; i++ {
			on := ranOn[fmt.Sprintf("kid%d", i)]
			assert.Contains(t, []string{"worker t0/0", "worker t0/1"}, on, "seed %d: kid%d ran on %s", seed, i, on)
			if on != parent {
				other++
			}
		}
		assert.Positive(t, other, "seed %d: the other tag-0 worker stole some kids", seed)
		assert.Positive(t, steals)
	}
}

// TestFlushOnWorkerAndOnPthread: bthread_flush on a worker signals only the
// worker's own local count; on a pthread it flushes the remote count of
// the group its nosignal wakes went to and forgets that group.
func TestFlushOnWorkerAndOnPthread(t *testing.T) {
	t.Run("worker", func(t *testing.T) {
		var before, after int
		mustPass(t, 12, options(butex.Fixed, 2), func(e env) {
			b := e.rt.NewButex(0)
			var order []int
			ws := waitAll(e, b, 0, 2, &order)
			waker := e.start(0, "waker", func(bt *butex.Bthread) {
				b.Wake(bt, true)
				b.Wake(bt, true)
				before, _ = bt.Worker().Pending()
				e.rt.Flush(bt)
				after, _ = bt.Worker().Pending()
			})
			e.join(append(ws, waker)...)
		})
		assert.Equal(t, 2, before)
		assert.Zero(t, after)
	})
	// In the fixed variant a pthread's nosignal wake signals at once
	// (check_nosignal is false off the workers); the buggy variant keeps
	// the pre-#2778 batching, where Flush is what signals.
	for _, v := range []butex.Variant{butex.Buggy, butex.Fixed} {
		t.Run("pthread/"+v.String(), func(t *testing.T) {
			var pendingAfterWake, pendingAfterFlush, pendingAfterSecond int
			var parkedQueuedStalled []any
			mustPass(t, 13, options(v, 2), func(e env) {
				b := e.rt.NewButex(0)
				var order []int
				ws := waitAll(e, b, 0, 2, &order)
				remote := func() (n int) {
					for _, g := range e.rt.Workers(0) {
						_, r := g.Pending()
						n += r
					}
					return n
				}
				b.Wake(e.main, true)
				b.Wake(e.main, true)
				pendingAfterWake = remote()
				// Tag 0 is parked with both bthreads queued, but the
				// signal is owed by this pthread's bthread_flush: not a
				// lost wakeup.
				parkedQueuedStalled = []any{e.rt.Parked(0), e.rt.Queued(0), e.rt.Stalled(0)}
				e.rt.Flush(e.main)
				pendingAfterFlush = remote()
				e.rt.Flush(e.main) // the group was forgotten: nothing to do
				pendingAfterSecond = remote()
				e.join(ws...)
			})
			if v == butex.Buggy {
				assert.Equal(t, 2, pendingAfterWake, "both wakes batched on one remembered group")
				assert.Equal(t, []any{2, 2, false}, parkedQueuedStalled)
			} else {
				assert.Zero(t, pendingAfterWake, "#2778: pthread wakes signal at once")
			}
			assert.Zero(t, pendingAfterFlush)
			assert.Zero(t, pendingAfterSecond)
		})
	}
}

// TestWorkerFlushLeavesOtherGroupsPending: a worker's Flush does not touch
// the remote counts a pthread left pending on other groups.
func TestWorkerFlushLeavesOtherGroupsPending(t *testing.T) {
	var remoteBefore, remoteAfter int
	mustPass(t, 14, options(butex.Buggy, 1, 1), func(e env) {
		b := e.rt.NewButex(0)
		var order []int
		ws := waitAll(e, b, 1, 1, &order)
		b.Wake(e.main, true) // pending on the tag-1 group's remote count
		g1 := e.rt.Workers(1)[0]
		_, remoteBefore = g1.Pending()
		f := e.start(0, "flusher", func(bt *butex.Bthread) { e.rt.Flush(bt) })
		e.join(f)
		_, remoteAfter = g1.Pending()
		e.rt.Flush(e.main)
		e.join(ws...)
	})
	assert.Equal(t, 1, remoteBefore)
	assert.Equal(t, 1, remoteAfter)
}
