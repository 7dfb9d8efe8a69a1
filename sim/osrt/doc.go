// Package osrt is the OS runtime: a sim.Env over goroutines, package time,
// package sync and native Go channels, so that protocol code written against
// sim.Env runs unchanged outside the simulator ("live"), on the real clock
// and the Go scheduler.
//
// What each part of sim.Env becomes:
//
//   - tasks (Go) are goroutines, tracked by name so that Tasks lists the
//     live ones, Wait waits for them and a panic in one is recovered,
//     recorded (Panics) and reported instead of killing the process;
//   - the clock, Sleep, NewTimer, NewTicker and AfterFunc are package time's
//     (Go 1.23 timer semantics, as the simulator models them);
//   - Mutex, RWMutex, Cond, WaitGroup and Once are package sync's;
//   - sim.NewChan and sim.Select already go native when Env.Sim() is nil,
//     which is always the case here; timer channels and context DoneChans
//     are native channels too, so they mix freely in one Select;
//   - contexts are package context's, with DoneChan;
//   - Rand(name) is derived from (Seed, name) exactly as the World derives
//     it, so a stream gives the same numbers live as in simulation (which
//     task draws them, and when, is up to the Go scheduler: values are
//     deterministic, the schedule is not). A stream is not safe for
//     concurrent use, as in the simulator: one task at a time;
//   - Logger stamps records with the real time and the calling task's name.
//
// Nothing here is deterministic: that is the point. Use it to show that the
// code the simulator tests is the code that runs (cmd/simrun live), and to
// test Env-based helpers under the race detector.
package osrt
