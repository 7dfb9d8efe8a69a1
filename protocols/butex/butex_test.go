package butex_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/stretchr/testify/assert"
)

func TestWaitValueMismatchIsEWOULDBLOCK(t *testing.T) {
	var fromBthread, fromPthread error
	var at time.Duration
	mustPass(t, 1, options(butex.Fixed, 1), func(e env) {
		b := e.rt.NewButex(7)
		bt := e.start(0, "waiter", func(bt *butex.Bthread) {
			fromBthread = b.Wait(bt, 6, 0)
			at = e.w.Elapsed()
		})
		fromPthread = b.Wait(e.main, 8, time.Second)
		e.join(bt)
		assert.Zero(t, b.Waiters())
	})
	assert.ErrorIs(t, fromBthread, butex.ErrWouldBlock)
	assert.ErrorIs(t, fromPthread, butex.ErrWouldBlock)
	assert.Zero(t, at, "a mismatched wait returns at once")
}

func TestWaitTimeoutIsETIMEDOUT(t *testing.T) {
	var bErr, pErr error
	var bTook, pTook time.Duration
	mustPass(t, 2, options(butex.Fixed, 2), func(e env) {
		b := e.rt.NewButex(0)
		bt := e.start(0, "waiter", func(bt *butex.Bthread) {
			start := e.w.Elapsed()
			bErr = b.Wait(bt, 0, 3*time.Millisecond)
			bTook = e.w.Elapsed() - start
		})
		start := e.w.Elapsed()
		pErr = b.Wait(e.main, 0, 5*time.Millisecond)
		pTook = e.w.Elapsed() - start
		e.join(bt)
		assert.Zero(t, b.Waiters(), "timed-out waiters leave the list")
	})
	assert.ErrorIs(t, bErr, butex.ErrTimedOut)
	assert.ErrorIs(t, pErr, butex.ErrTimedOut)
	assert.Equal(t, 3*time.Millisecond, bTook)
	assert.Equal(t, 5*time.Millisecond, pTook)
}

func TestWokenBeforeTimeoutIsNotTimedOut(t *testing.T) {
	var err error
	var took time.Duration
	mustPass(t, 3, options(butex.Fixed, 1), func(e env) {
		b := e.rt.NewButex(0)
		bt := e.start(0, "waiter", func(bt *butex.Bthread) {
			start := e.w.Elapsed()
			err = b.Wait(bt, 0, time.Second)
			took = e.w.Elapsed() - start
		})
		e.w.Sleep(time.Millisecond)
		assert.Equal(t, 1, b.Waiters())
		assert.Equal(t, 1, b.Wake(e.main, false))
		e.join(bt)
		// The leak check would report the timer if Wake had not
		// cancelled it.
	})
	assert.NoError(t, err)
	assert.Equal(t, time.Millisecond, took)
}

// waitAll starts n bthreads of tag that wait on b (expected 0) one after
// the other, and returns them and the order in which their waits return.
func waitAll(e env, b *butex.Butex, tag butex.Tag, n int, order *[]int) []*butex.Bthread {
	var bts []*butex.Bthread
	for i := 0; i < n; i++ {
		bts = append(bts, e.start(tag, "waiter", func(bt *butex.Bthread) {
			if err := b.Wait(bt, 0, 0); err != nil {
				panic(err)
			}
			*order = append(*order, i)
		}))
		e.w.Sleep(time.Millisecond) // each queues before the next starts
	}
	return bts
}

func TestWakeIsFIFO(t *testing.T) {
	var order []int
	mustPass(t, 4, options(butex.Fixed, 2), func(e env) {
		b := e.rt.NewButex(0)
		bts := waitAll(e, b, 0, 4, &order)
		for i := 0; i < 4; i++ {
			assert.Equal(t, 1, b.Wake(e.main, false))
			e.w.Sleep(time.Millisecond)
		}
		assert.Zero(t, b.Wake(e.main, false), "no waiter left")
		e.join(bts...)
	})
	assert.Equal(t, []int{0, 1, 2, 3}, order)
}

func TestWakeNCountsAndWakeAll(t *testing.T) {
	var order []int
	mustPass(t, 5, options(butex.Fixed, 2), func(e env) {
		b := e.rt.NewButex(0)
		bts := waitAll(e, b, 0, 5, &order)
		pw := e.rt.NewPthread("pthread waiter")
		pdone := e.w.NewWaitGroup()
		pdone.Add(1)
		e.w.Go("pthread waiter", func() {
			defer pdone.Done()
			if err := b.Wait(pw, 0, 0); err != nil {
				panic(err)
			}
		})
		e.w.Sleep(time.Millisecond)
		assert.Equal(t, 6, b.Waiters())

		assert.Equal(t, 2, b.WakeN(e.main, 2, false))
		assert.Equal(t, 4, b.Waiters())
		e.w.Sleep(time.Millisecond)
		assert.ElementsMatch(t, []int{0, 1}, order, "WakeN takes the first waiters")

		assert.Equal(t, 4, b.WakeAll(e.main, false), "three bthreads and the pthread")
		assert.Zero(t, b.Waiters())
		assert.Zero(t, b.WakeN(e.main, 3, false))
		e.join(bts...)
		pdone.Wait()
	})
	assert.Len(t, order, 5)
}

// TestExchange: a signalling wake of a waiter of the caller's own group
// switches to the waiter at once and requeues the waker; a nosignal wake
// does not switch.
func TestExchange(t *testing.T) {
	for _, nosignal := range []bool{false, true} {
		var log []string
		var st butex.Stats
		mustPass(t, 6, options(butex.Fixed, 1), func(e env) {
			b := e.rt.NewButex(0)
			waiter := e.start(0, "waiter", func(bt *butex.Bthread) {
				_ = b.Wait(bt, 0, 0)
				log = append(log, "waiter runs")
			})
			e.w.Sleep(time.Millisecond)
			waker := e.start(0, "waker", func(bt *butex.Bthread) {
				b.Wake(bt, nosignal)
				log = append(log, "waker continues")
				e.rt.Flush(bt)
			})
			e.join(waiter, waker)
			st = e.rt.Stats()
		})
		if nosignal {
			assert.Equal(t, []string{"waker continues", "waiter runs"}, log)
			assert.Zero(t, st.Exchanges)
		} else {
			assert.Equal(t, []string{"waiter runs", "waker continues"}, log)
			assert.Equal(t, 1, st.Exchanges)
		}
	}
}

// TestPthreadWaiterWokenByBthread: brpc lets pthreads wait on a butex
// (futex); a bthread's wake reaches them directly.
func TestPthreadWaiterWokenByBthread(t *testing.T) {
	var err error
	var at time.Duration
	mustPass(t, 7, options(butex.Fixed, 1, 1), func(e env) {
		b := e.rt.NewButex(0)
		bt := e.start(1, "waker", func(bt *butex.Bthread) {
			bt.Compute(2 * time.Millisecond)
			b.Store(1)
			assert.Equal(t, 1, b.Wake(bt, true))
			e.rt.Flush(bt)
		})
		err = b.Wait(e.main, 0, time.Second)
		at = e.w.Elapsed()
		e.join(bt)
	})
	assert.NoError(t, err)
	assert.Equal(t, 2*time.Millisecond, at)
}

func TestYieldUsleepAndJoin(t *testing.T) {
	var log []string
	mustPass(t, 8, options(butex.Fixed, 1), func(e env) {
		a := e.start(0, "a", func(bt *butex.Bthread) {
			log = append(log, "a1")
			bt.Yield()
			log = append(log, "a2")
			bt.Usleep(3 * time.Millisecond)
			log = append(log, "a3")
		})
		e.start(0, "b", func(bt *butex.Bthread) {
			log = append(log, "b1")
			if err := e.rt.Join(bt, a, 0); err != nil {
				panic(err)
			}
			log = append(log, "b2")
		})
		assert.ErrorIs(t, e.rt.Join(e.main, a, time.Millisecond), butex.ErrTimedOut)
		e.join(a)
		assert.Equal(t, 3*time.Millisecond, e.w.Elapsed())
		e.w.Sleep(time.Millisecond)
		assert.True(t, a.Done())
		assert.Zero(t, e.rt.Live())
	})
	assert.Equal(t, []string{"a1", "b1", "a2", "a3", "b2"}, log)
}
