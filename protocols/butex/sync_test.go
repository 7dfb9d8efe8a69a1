package butex_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMutexExclusion: bthreads of both tags and a pthread increment a
// counter under the mutex, computing inside; no two are ever inside, and
// no increment is lost.
func TestMutexExclusion(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		inside, overlaps, count := 0, 0, 0
		section := func(compute func(time.Duration)) {
			inside++
			if inside > 1 {
				overlaps++
			}
			v := count
			compute(time.Microsecond)
			count = v + 1
			inside--
		}
		mustPass(t, seed, options(butex.Fixed, 2, 1), func(e env) {
			m := e.rt.NewMutex()
			var bts []*butex.Bthread
			for i := 0; i < 6; i++ {
				bts = append(bts, e.start(butex.Tag(i%2), fmt.Sprint("b", i), func(bt *butex.Bthread) {
					for k := 0; k < 5; k++ {
						m.Lock(bt)
						section(bt.Compute)
						m.Unlock(bt)
					}
				}))
			}
			p := e.rt.NewPthread("p")
			done := e.w.NewWaitGroup()
			done.Add(1)
			e.w.Go("p", func() {
				defer done.Done()
				for k := 0; k < 5; k++ {
					m.Lock(p)
					section(e.w.Sleep)
					m.Unlock(p)
				}
			})
			e.join(bts...)
			done.Wait()
			assert.False(t, m.Locked())
			assert.Zero(t, m.Contenders())
		})
		assert.Zero(t, overlaps, "seed %d", seed)
		assert.Equal(t, 35, count, "seed %d", seed)
	}
}

// TestMutexHandOff: a contended unlock wakes one waiter, which then takes
// the mutex; with a waiter of the unlocker's own group the wake is an
// exchange, so the waiter runs before the unlocker goes on.
func TestMutexHandOff(t *testing.T) {
	var log []string
	var contendersWhileHeld int
	var tryWhileHeld, tryWhileFree bool
	mustPass(t, 21, options(butex.Fixed, 1), func(e env) {
		m := e.rt.NewMutex()
		holder := e.start(0, "holder", func(bt *butex.Bthread) {
			m.Lock(bt)
			bt.Usleep(time.Millisecond) // the others queue meanwhile
			contendersWhileHeld = m.Contenders()
			tryWhileHeld = m.TryLock(bt)
			m.Unlock(bt)
			log = append(log, "holder unlocked")
		})
		var ws []*butex.Bthread
		for i := 0; i < 2; i++ {
			ws = append(ws, e.start(0, fmt.Sprint("w", i), func(bt *butex.Bthread) {
				m.Lock(bt)
				log = append(log, fmt.Sprintf("w%d locked (%d waiting)", i, m.Contenders()))
				m.Unlock(bt)
			}))
		}
		e.join(append(ws, holder)...)
		tryWhileFree = m.TryLock(e.main)
		m.Unlock(e.main)
	})
	assert.Equal(t, 2, contendersWhileHeld)
	assert.False(t, tryWhileHeld)
	assert.True(t, tryWhileFree)
	// The holder's unlock switches to w0 at once (the holder is requeued);
	// w0, woken, took the word as contended (every woken waiter does), so
	// its unlock wakes w1 and switches to it in turn; the holder goes on
	// after them.
	// One wake per unlock: w1 still waits while w0 holds the mutex.
	assert.Equal(t, []string{"w0 locked (1 waiting)", "w1 locked (0 waiting)", "holder unlocked"}, log)
}

func TestCountdownEvent(t *testing.T) {
	var errs []error
	var releasedAt []time.Duration
	var countAfter, over int
	mustPass(t, 22, options(butex.Fixed, 1, 1), func(e env) {
		ev, err := e.rt.NewCountdownEvent(3)
		assert.NoError(t, err)
		var ws []*butex.Bthread
		for i := 0; i < 4; i++ {
			ws = append(ws, e.start(butex.Tag(i%2), "waiter", func(bt *butex.Bthread) {
				errs = append(errs, ev.Wait(bt, 0))
				releasedAt = append(releasedAt, e.w.Elapsed())
			}))
		}
		p := e.rt.NewPthread("p")
		done := e.w.NewWaitGroup()
		done.Add(1)
		e.w.Go("pthread waiter", func() {
			defer done.Done()
			errs = append(errs, ev.Wait(p, 0))
			releasedAt = append(releasedAt, e.w.Elapsed())
		})
		// A timed wait gives up while the count is still up.
		assert.ErrorIs(t, ev.Wait(e.main, time.Millisecond), butex.ErrTimedOut)
		signaller := e.start(0, "signaller", func(bt *butex.Bthread) {
			for i := 0; i < 3; i++ {
				bt.Compute(time.Millisecond)
				if err := ev.Signal(bt, 1, true); err != nil {
					panic(err)
				}
				e.rt.Flush(bt)
			}
		})
		e.join(append(ws, signaller)...)
		done.Wait()
		countAfter = ev.Count()
		assert.NoError(t, ev.Signal(e.main, 1, false)) // over-decrease: logged by brpc
		over = ev.OverDecreased()
		assert.NoError(t, ev.Wait(e.main, 0), "a released event does not block")
		assert.NoError(t, ev.Reset(2))
		assert.NoError(t, ev.AddCount(1))
		assert.Equal(t, 3, ev.Count())
	})
	require.Len(t, errs, 5)
	for _, err := range errs {
		assert.NoError(t, err)
	}
	for _, at := range releasedAt {
		assert.Equal(t, 4*time.Millisecond, at, "released by the third signal, not before")
	}
	assert.Zero(t, countAfter)
	assert.Equal(t, 1, over)
}
