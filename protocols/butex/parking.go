package butex

// parkingLot is brpc's ParkingLot: idle workers of one tag futex-wait on
// its state. state counts signals in steps of 2 (bit 0 means stopped), so a
// worker that saved the state before its steal attempt and finds it
// changed knows a signal came meanwhile and steals again instead of
// sleeping.
type parkingLot struct {
	tc    *tagControl
	index int
	state int
	// waiters are the workers in futex_wait, in arrival order (the order
	// futex_wake wakes them in is the kernel's; FIFO here).
	waiters []*Group
}

func (pl *parkingLot) stopped() bool { return pl.state&1 != 0 }

// signal is ParkingLot::signal(k): record k signals and wake up to k
// waiters; it returns how many it woke.
func (pl *parkingLot) signal(k int) int {
	pl.state += 2 * k
	woken := 0
	for woken < k && len(pl.waiters) > 0 {
		pl.wakeOne()
		woken++
	}
	return woken
}

// stop is ParkingLot::stop: mark the lot stopped and wake every waiter.
func (pl *parkingLot) stop() {
	pl.state |= 1
	for len(pl.waiters) > 0 {
		pl.wakeOne()
	}
}

func (pl *parkingLot) wakeOne() {
	g := pl.waiters[0]
	copy(pl.waiters, pl.waiters[1:])
	pl.waiters[len(pl.waiters)-1] = nil
	pl.waiters = pl.waiters[:len(pl.waiters)-1]
	g.parked = false
	pl.tc.parked--
	g.rt.stats.FutexWakes++
	g.futex.Broadcast()
}

// wait is ParkingLot::wait(expected): futex_wait, which blocks only if the
// state still equals expected, atomically with the check.
func (pl *parkingLot) wait(g *Group, expected int) {
	if pl.state != expected {
		return
	}
	pl.waiters = append(pl.waiters, g)
	g.parked = true
	pl.tc.parked++
	g.rt.stats.Parks++
	for g.parked {
		g.futex.Wait()
	}
}
