package sim_test

import (
	"fmt"
	"time"

	"github.com/detsim/detsim/examples/races"
	"github.com/detsim/detsim/sim"
)

// lostUpdate runs the two-worker lost-update race (see races.LostUpdate)
// once, failing the run with a violation when an increment was lost.
func lostUpdate(seed uint64) sim.Result {
	w, err := sim.New(sim.Options{Seed: seed})
	if err != nil {
		panic(err)
	}
	res, err := w.Run(func() { races.CheckLostUpdate(w) })
	if err != nil {
		panic(err)
	}
	return res
}

// A sweep over seeds finds the lost update; the printed seed replays it
// exactly, with the same fingerprint, as often as you like.
func Example_sweepAndReplay() {
	for seed := uint64(0); seed < 1000; seed++ {
		res := lostUpdate(seed)
		if res.Passed() {
			continue
		}
		fmt.Printf("seed %d failed: %s\n", seed, res.Failure.Message)
		again := lostUpdate(seed)
		fmt.Println("replayed exactly:", again.Fingerprint == res.Fingerprint && again.Steps == res.Steps)
		break
	}
	// Output:
	// seed 6 failed: no-lost-update: counter = 1 after two increments
	// replayed exactly: true
}

// A bug that needs two specific preemptions is found far sooner by PCT than
// by uniform random scheduling (see races.DepthThree).
func Example_pctDepthThree() {
	find := func(strat sim.Strategy) uint64 {
		for seed := uint64(0); ; seed++ {
			w, _ := sim.New(sim.Options{Seed: seed, Strategy: strat})
			bug := false
			w.Run(func() { bug = races.DepthThree(w, 12) })
			if bug {
				return seed
			}
		}
	}
	pct, _ := sim.ParseStrategy("pct:3:22")
	fmt.Println("pct:3 first finds it at seed", find(pct))
	fmt.Println("random first finds it at seed", find(sim.Strategy{Kind: sim.Random}))
	// Output:
	// pct:3 first finds it at seed 835
	// random first finds it at seed 3484
}

// Deadlocks are reported with every blocked task and what it waits on.
func Example_deadlock() {
	w, _ := sim.New(sim.Options{Strategy: sim.Strategy{Kind: sim.FIFO}})
	res, _ := w.Run(func() {
		a, b := w.NewMutex(), w.NewMutex()
		done := sim.NewChan[bool](w, 0)
		w.Go("ab", func() { a.Lock(); w.Sleep(time.Millisecond); b.Lock(); done.Send(true) })
		w.Go("ba", func() { b.Lock(); w.Sleep(time.Millisecond); a.Lock(); done.Send(true) })
		done.Recv()
	})
	fmt.Println(res.Failure)
	// Output:
	// deadlock at step 12, t=1ms: all tasks are blocked and no event is pending (3 blocked)
	//   task 1 "main": Chan.Recv on chan#3 (unbuffered, 0 waiting senders, 1 waiting receivers)
	//   task 2 "ab": Mutex.Lock on mutex#2 (held by task 3 "ba")
	//   task 3 "ba": Mutex.Lock on mutex#1 (held by task 2 "ab")
}
