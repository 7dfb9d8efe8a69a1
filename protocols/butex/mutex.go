package butex

// The mutex word (bthread::MutexInternal): the low byte is "locked", the
// next byte "contended" (someone waits or waited).
const (
	mutexLocked    = 0x001 // BTHREAD_MUTEX_LOCKED
	mutexContended = 0x101 // BTHREAD_MUTEX_CONTENDED
)

// Mutex is bthread_mutex_t: a lock word on a butex. Lock takes the locked
// byte; on contention it marks the word contended and waits on the butex
// while the word stays contended. Unlock clears the word and, if it was
// contended, wakes one waiter (butex_wake, with a signal): the woken
// waiter competes again (no hand-off), so a barging locker may win.
// Bthreads and pthreads may both lock it.
type Mutex struct {
	b *Butex
	// contenders counts callers inside Lock that do not hold the mutex
	// yet (for the liveness property).
	contenders int
}

// NewMutex returns an unlocked mutex.
func (rt *Runtime) NewMutex() *Mutex { return &Mutex{b: rt.NewButex(0)} }

// Locked reports whether the mutex is held.
func (m *Mutex) Locked() bool { return m.b.value&mutexLocked != 0 }

// Contenders returns how many callers are inside Lock without the mutex.
func (m *Mutex) Contenders() int { return m.contenders }

// Lock is bthread_mutex_lock.
func (m *Mutex) Lock(c Caller) {
	m.b.rt.callerOf(c, "Mutex.Lock")
	m.contenders++
	defer func() { m.contenders-- }()
	// The exchange on the locked byte races with other lockers and
	// unlockers on other workers.
	m.b.rt.env.Yield()
	prev := m.b.value
	m.b.value = prev&^0xff | mutexLocked
	if prev&mutexLocked == 0 {
		return
	}
	// mutex_lock_contended
	for {
		prev := m.b.value
		m.b.value = mutexContended
		if prev&mutexLocked == 0 {
			return
		}
		// EWOULDBLOCK (the word changed) just retries.
		_ = m.b.Wait(c, mutexContended, 0)
	}
}

// TryLock is bthread_mutex_trylock.
func (m *Mutex) TryLock(c Caller) bool {
	m.b.rt.callerOf(c, "Mutex.TryLock")
	if m.b.value&mutexLocked != 0 {
		return false
	}
	m.b.value |= mutexLocked
	return true
}

// Unlock is bthread_mutex_unlock. It panics if the mutex is not locked.
func (m *Mutex) Unlock(c Caller) {
	m.b.rt.callerOf(c, "Mutex.Unlock")
	prev := m.b.value
	if prev&mutexLocked == 0 {
		panic("butex: Mutex.Unlock of an unlocked mutex")
	}
	m.b.value = 0
	if prev == mutexLocked {
		return
	}
	// The word is free before the waiter is woken: another locker may
	// take it in between.
	m.b.rt.env.Yield()
	m.b.Wake(c, false)
}
