package butex_test

import (
	"testing"
	"time"

	"github.com/detsim/detsim/protocols/butex"
	"github.com/stretchr/testify/assert"
)

// script2777 is what the scripted #2777 interleaving observed.
type script2777 struct {
	// After B1's batched wake of B2 and its bthread_flush (step 5).
	b2Done, stalled bool
	queued1         int
	pendingRemote1  int // unsignalled remote count on tag 1's groups
	// After B1' batched-woke B3 (tag 0) and flushed (step 7).
	b3Woken bool
	// Where each bthread ran (the tag of the worker), in the end.
	b2RanOn     butex.Tag
	b3Misrouted bool
	// The tags of the workers B3 ran on, each time one resumed it: after
	// its start, after the wake of step 7, after a later signalling wake
	// from a pthread, after a bthread_usleep.
	b3Runs []butex.Tag
}

// run2777 scripts shared/reference/seed-bugs.md section 5: tag 0 has one
// worker P1 (group G1), tag 1 two (G2a, G2b).
//
//  1. B2 (tag 1) waits on butex b; B3 (tag 0) waits on butex c.
//  2. The tag-1 workers run out of work and park.
//  3. B1 (tag 0, on P1) wakes B2 with nosignal: the pre-#2778
//     get_task_group picks a tag-1 group G2x and stores it in P1's
//     tls_task_group_nosignal;
//  4. B2 goes to G2x's remote queue, unsignalled;
//  5. B1's bthread_flush flushes only G1's local count.
//  6. B2 is runnable, tag 1 is parked, nothing is pending: lost.
//  7. B1' (tag 0, on P1) wakes B3 (tag 0) with nosignal: P1's
//     tls_task_group_nosignal sends it to G2x too. A tag-1 start then
//     wakes a tag-1 worker, which runs B2 and B3: B3 on a tag-1 worker.
//  8. B3 waits on butex d: its waiter records the tag of the worker it
//     waits from (ButexBthreadWaiter::tag = g->tag()), so a signalling
//     wake from a pthread and a bthread_usleep bring it back to tag 1.
func run2777(t *testing.T, seed uint64, v butex.Variant) script2777 {
	var s script2777
	opts := options(v, 1, 2)
	opts.Hooks.OnRun = func(bt *butex.Bthread, g *butex.Group) {
		switch bt.Name() {
		case "B2":
			s.b2RanOn = g.Tag()
		case "B3":
			s.b3Runs = append(s.b3Runs, g.Tag())
		}
	}
	opts.Hooks.OnWake = func(wk butex.Wake) {
		if wk.Bthread.Name() == "B3" && wk.Into.Tag() != 0 {
			s.b3Misrouted = true
		}
	}
	mustPass(t, seed, opts, func(e env) {
		b, c := e.rt.NewButex(0), e.rt.NewButex(0)
		waitOn := func(x *butex.Butex) func(*butex.Bthread) {
			return func(bt *butex.Bthread) {
				if err := x.Wait(bt, 0, 0); err != nil {
					panic(err)
				}
			}
		}
		d := e.rt.NewButex(0)
		b2 := e.start(1, "B2", waitOn(b))
		b3 := e.start(0, "B3", func(bt *butex.Bthread) {
			waitOn(c)(bt)
			s.b3Woken = true
			waitOn(d)(bt)
			bt.Usleep(time.Millisecond)
		})
		e.w.Sleep(time.Millisecond)
		assert.Equal(t, 2, e.rt.Parked(1), "step 2: tag 1 is idle")
		assert.Equal(t, 1, b.Waiters())

		b1 := e.start(0, "B1", func(bt *butex.Bthread) {
			b.Store(1)
			b.Wake(bt, true)
			e.rt.Flush(bt)
		})
		e.join(b1)
		e.w.Sleep(10 * time.Millisecond)
		s.b2Done, s.stalled, s.queued1 = b2.Done(), e.rt.Stalled(1), e.rt.Queued(1)
		for _, g := range e.rt.Workers(1) {
			_, r := g.Pending()
			s.pendingRemote1 += r
		}

		b1b := e.start(0, "B1'", func(bt *butex.Bthread) {
			c.Store(1)
			c.Wake(bt, true)
			e.rt.Flush(bt)
		})
		e.join(b1b)
		e.w.Sleep(10 * time.Millisecond)
		wokenAfterFlush := s.b3Woken

		// Unrelated tag-1 work: its start signals tag 1.
		e.join(e.start(1, "B4", func(*butex.Bthread) {}))
		e.join(b2)
		e.w.Sleep(time.Millisecond)
		assert.Equal(t, 1, d.Waiters(), "step 8: B3 waits on d")
		d.Store(1)
		assert.Equal(t, 1, d.Wake(e.main, false))
		e.join(b3)
		s.b3Woken = wokenAfterFlush
	})
	return s
}

func TestIssue2777BuggyLosesWakeupAndBreaksTagIsolation(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		s := run2777(t, seed, butex.Buggy)
		// Steps 4-6: B2 queued on a tag-1 group without a signal, tag 1
		// parked, nothing pending: lost for 10ms (until B4).
		assert.False(t, s.b2Done, "seed %d: B2 must not run after the batched wake", seed)
		assert.True(t, s.stalled, "seed %d: tag 1 must be stalled", seed)
		assert.Equal(t, 1, s.queued1, "seed %d", seed)
		assert.Equal(t, 1, s.pendingRemote1, "seed %d: B2's signal is still owed", seed)
		// Step 7: B3 (tag 0) follows P1's tls_task_group_nosignal to tag
		// 1, is lost as well, and runs on a tag-1 worker once B4 wakes
		// one.
		assert.True(t, s.b3Misrouted, "seed %d", seed)
		assert.False(t, s.b3Woken, "seed %d: B3 must not run before tag 1 wakes", seed)
		assert.Equal(t, butex.Tag(1), s.b2RanOn, "seed %d", seed)
		// B3 (tag 0) runs on a tag-1 worker, and stays in tag 1 (step 8).
		assert.Equal(t, []butex.Tag{0, 1, 1, 1}, s.b3Runs, "seed %d", seed)
	}
}

func TestIssue2777FixedSignalsAcrossTags(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		s := run2777(t, seed, butex.Fixed)
		assert.True(t, s.b2Done, "seed %d: #2778 signals the cross-tag wake at once", seed)
		assert.False(t, s.stalled, "seed %d", seed)
		assert.Zero(t, s.queued1, "seed %d", seed)
		assert.Zero(t, s.pendingRemote1, "seed %d", seed)
		assert.False(t, s.b3Misrouted, "seed %d", seed)
		assert.True(t, s.b3Woken, "seed %d", seed)
		assert.Equal(t, butex.Tag(1), s.b2RanOn, "seed %d", seed)
		assert.Equal(t, []butex.Tag{0, 0, 0, 0}, s.b3Runs, "seed %d", seed)
	}
}
