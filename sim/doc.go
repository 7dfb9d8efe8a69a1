// Package sim is the kernel of the deterministic simulation testbed: a World
// owns a virtual clock, an event queue, a set of cooperative tasks, seeded
// random streams, a trace fingerprint and, at the end of a run, a Result.
//
// Tasks are ordinary blocking Go functions run as coroutines (iter.Pull).
// Exactly one task runs at a time, and a task gives control back to the World
// only inside the simulator's primitives: Sleep, timers, Mutex, RWMutex, Cond,
// WaitGroup, Once, Chan and Select, contexts, Yield (and, in netmodel, network
// calls). Every such call is a scheduling point at which the World's strategy
// (random, pct or fifo) picks the next task to run, drawing every choice from
// one decision source. The same seed, strategy and program therefore give the
// same run, step for step, with the same 64-bit fingerprint.
//
// Protocol code is written against Env, which the World implements. An OS
// runtime can implement the same interface over goroutines, the real clock
// and package sync, so the same protocol code runs in simulation and for real.
//
// A minimal run:
//
//	w, err := sim.New(sim.Options{Seed: 7})
//	if err != nil { ... }
//	res, err := w.Run(func() {
//		mu := w.NewMutex()
//		w.Go("worker", func() { mu.Lock(); defer mu.Unlock(); w.Sleep(time.Second) })
//		w.Sleep(2 * time.Second)
//	})
//	if res.Failure != nil { fmt.Println(res.Failure, "replay with seed", res.Seed) }
package sim
