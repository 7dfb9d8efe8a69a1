//detsim:simulated

// Package races holds small programs with known concurrency bugs, written
// against sim.Env like real protocol code. The kernel's examples, `make run`
// and the counter-race scenario use them to show a sweep finding a bug and a
// seed replaying it.
package races

import "github.com/detsim/detsim/sim"

// LostUpdate starts two workers that each add 1 to a shared counter. The
// counter is guarded by a hand-rolled "busy" flag: check the flag, then set
// it. Between the check and the act each worker calls report (think of a
// metrics update or a log write that blocks briefly) — a scheduling point.
// If both workers pass the check before either sets the flag, both read the
// same value and one increment is lost. LostUpdate returns the final counter
// (2 when correct).
func LostUpdate(env sim.Env) int {
	counter, busy := 0, false
	metrics := sim.NewChan[string](env, 4)
	wg := env.NewWaitGroup()
	worker := func() {
		defer wg.Done()
		for busy { // check ...
			env.Sleep(1)
		}
		metrics.Send("enter") // ... a scheduling point ...
		busy = true           // ... then act: too late if another worker got in.
		v := counter
		env.Yield()
		counter = v + 1
		busy = false
	}
	wg.Add(2)
	env.Go("worker-1", worker)
	env.Go("worker-2", worker)
	wg.Wait()
	return counter
}

// DepthThree has a bug that needs two specific preemptions (PCT depth 3:
// three ordering constraints a1 < b1 < a2 < b2). Task A publishes x and
// then, one step later, promotes y to z; task B first does pad steps of
// unrelated work, then promotes x to y, then checks z. B sees z set only if
// A is preempted right after publishing x, B runs all its padding and its
// promotion, and B is then preempted so A's promotion lands before B's check.
// A random scheduler must pick B pad+1 times in a row at the right moment
// (probability about 2^-(pad+1)); PCT needs two change points at the right
// steps (about 1/(2k^2) for k steps). It returns true when the bug fired.
func DepthThree(env sim.Env, pad int) bool {
	x, y, z := false, false, false
	bug := false
	wg := env.NewWaitGroup()
	wg.Add(2)
	env.Go("A", func() {
		defer wg.Done()
		x = true // a1
		env.Yield()
		if y { // a2
			z = true
		}
	})
	env.Go("B", func() {
		defer wg.Done()
		for i := 0; i < pad; i++ {
			env.Yield()
		}
		if x { // b1
			y = true
		}
		env.Yield()
		if z { // b2
			bug = true
		}
	})
	wg.Wait()
	return bug
}

// CheckLostUpdate is a main task for w: it runs LostUpdate and fails the run
// with the violation "no-lost-update" when an increment was lost.
func CheckLostUpdate(w *sim.World) {
	if got := LostUpdate(w); got != 2 {
		w.Violate("no-lost-update", "counter = %d after two increments", got)
	}
}

// CheckDepthThree is a main task for w: it runs DepthThree with the given
// padding and fails the run with the violation "no-depth-three-bug" when the
// bug fired.
func CheckDepthThree(w *sim.World, pad int) {
	if DepthThree(w, pad) {
		w.Violate("no-depth-three-bug", "A promoted y to z between B's promotion and B's check")
	}
}

// Counter has workers each add 1 to a shared counter rounds times and
// returns the final value (workers*rounds when correct). With guarded false
// it protects the counter with LostUpdate's check-then-act flag (the bug);
// with guarded true, with a Mutex (the fix). probe is called with
// "overlap" and true when a worker finds another worker between its check
// and its write: the window in which an update can be lost.
func Counter(env sim.Env, workers, rounds int, guarded bool, probe func(name string, cond bool) bool) int {
	counter, busy, inside := 0, false, 0
	mu := env.NewMutex()
	metrics := sim.NewChan[string](env, workers)
	wg := env.NewWaitGroup()
	worker := func() {
		defer wg.Done()
		for r := 0; r < rounds; r++ {
			if guarded {
				mu.Lock()
			} else {
				for busy {
					env.Sleep(1)
				}
				metrics.Send("enter")
				metrics.Recv()
				busy = true
			}
			inside++
			probe("overlap", inside > 1)
			v := counter
			env.Yield()
			counter = v + 1
			inside--
			if guarded {
				mu.Unlock()
			} else {
				busy = false
			}
		}
	}
	wg.Add(workers)
	for i := 0; i < workers; i++ {
		env.Go("worker", worker)
	}
	wg.Wait()
	return counter
}
