// Package bench holds the benchmarks that compare the testbed with its
// alternatives (testing/synctest, stress testing on the OS runtime) and the
// scale runs; `make bench` runs them and writes a Markdown summary.
package bench

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/detsim/detsim/sim"
)

// TimerWorkload is the timer-heavy workload shared by the simulator and
// testing/synctest: Tasks tasks in pairs; each has a ticker with its own
// period, sleeps a little after every tick and then hands a token to (or
// takes one from) its partner over an unbuffered channel, for Rounds
// rounds. It is written once against sim.Env, so the same code runs in a
// World and on the OS runtime (inside a synctest bubble, on its fake
// clock).
type TimerWorkload struct {
	Tasks  int // even
	Rounds int
}

// Run runs the workload on env and returns the order in which the tasks
// finished their rounds: event task*Rounds+round, one per task and round.
func (wl TimerWorkload) Run(env sim.Env) []int {
	var (
		mu    sync.Mutex // the recorder's, not the workload's: invisible to the scheduler
		order = make([]int, 0, wl.Tasks*wl.Rounds)
	)
	record := func(ev int) {
		mu.Lock()
		order = append(order, ev)
		mu.Unlock()
	}
	pairs := make([]sim.Chan[int], wl.Tasks/2)
	for i := range pairs {
		pairs[i] = sim.NewChan[int](env, 0)
	}
	wg := env.NewWaitGroup()
	for i := 0; i < wl.Tasks; i++ {
		wg.Add(1)
		name := fmt.Sprintf("t%d", i)
		env.Go(name, func() {
			defer wg.Done()
			tk := env.NewTicker(time.Duration(1+i%5) * time.Millisecond)
			defer tk.Stop()
			ch := pairs[i/2]
			for round := 0; round < wl.Rounds; round++ {
				tk.C().Recv()
				env.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
				if i%2 == 0 {
					ch.Send(round)
				} else if got := ch.Recv(); got != round {
					panic(fmt.Sprintf("%s: token %d in round %d", name, got, round))
				}
				record(i*wl.Rounds + round)
			}
		})
	}
	wg.Wait()
	return order
}

// OrderHash is a short hash of an event order.
func OrderHash(order []int) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, ev := range order {
		binary.LittleEndian.PutUint64(b[:], uint64(ev))
		h.Write(b[:])
	}
	return h.Sum64()
}
