package sim

import "slices"

// ownedSet indexes what one owner owns, for KillOwner: the tasks given that
// owner and the timers made by its tasks, in the order they were indexed.
// It is a superset: a task may have finished or changed owner since, a
// timer may no longer be pending; such entries are dropped whenever a list
// is about to grow, so a long run that never kills an owner keeps only
// what is live. A crash then costs what the owner owns, not a walk over
// every task and event of the run.
type ownedSet struct {
	tasks  []*Task
	timers []*timer
}

func (w *World) ownedBy(owner any) *ownedSet {
	if w.owned == nil {
		w.owned = map[any]*ownedSet{}
	}
	s := w.owned[owner]
	if s == nil {
		s = &ownedSet{}
		w.owned[owner] = s
	}
	return s
}

// indexTask records t under its owner (none for a nil owner).
func (w *World) indexTask(t *Task) {
	if t.owner == nil {
		t.owned = nil
		return
	}
	// Most tasks are made by a task of the same owner: no map lookup.
	var s *ownedSet
	if c := w.current; c != nil && c != t && c.owner == t.owner && c.owned != nil {
		s = c.owned
	} else {
		s = w.ownedBy(t.owner)
	}
	t.owned = s
	s.tasks = appendPruned(s.tasks, t, func(u *Task) bool { return u.state != taskDone && u.owner == t.owner })
}

// appendPruned appends x to list, first dropping the entries live rejects
// if the list is full (so that it grows only with what is still live). If
// more than half the entries are live it doubles the capacity, so that an
// owner whose live count sits just below it is not pruned at every append.
func appendPruned[T any](list []*T, x *T, live func(*T) bool) []*T {
	if n := len(list); n == cap(list) && n >= 8 {
		kept := list[:0]
		for _, e := range list {
			if live(e) {
				kept = append(kept, e)
			}
		}
		clear(list[len(kept):])
		list = kept
		if len(kept) > n/2 {
			list = append(make([]*T, 0, 2*n), kept...)
		}
	}
	return append(list, x)
}

// indexTimer records tm under its owner while it may be pending: at its
// creation, and again when it is scheduled after the index dropped it.
func (w *World) indexTimer(tm *timer) {
	if tm.owner == nil || tm.indexed {
		return
	}
	s := tm.owned
	if s == nil {
		if c := w.current; c != nil && c.owner == tm.owner && c.owned != nil {
			s = c.owned
		} else {
			s = w.ownedBy(tm.owner)
		}
		tm.owned = s
	}
	s.timers = appendPruned(s.timers, tm, func(x *timer) bool {
		if x.ev.idx >= 0 {
			return true
		}
		x.indexed = false
		return false
	})
	tm.indexed = true
}

// KillOwner models a crash of everything owner owns: every live task whose
// Owner is owner is killed (it unwinds at once if blocked, or at its next
// scheduling point), and every pending timer those tasks made is stopped.
// It returns the number of tasks killed. It may be called from a task or an
// event; a task that kills its own owner unwinds at its next scheduling
// point.
func (w *World) KillOwner(owner any) int {
	if owner == nil {
		panic("sim: KillOwner(nil)")
	}
	s := w.owned[owner]
	if s == nil {
		return 0
	}
	// In creation order, as a walk over every task would kill them.
	var victims []*Task
	for _, t := range s.tasks {
		if t.owner == owner && t.state != taskDone && !t.killed {
			victims = append(victims, t)
		}
	}
	// (A task given the owner twice is listed twice.)
	slices.SortFunc(victims, func(a, b *Task) int { return a.id - b.id })
	victims = slices.Compact(victims)
	for _, t := range victims {
		t.Kill()
	}
	var stale []*timer
	for _, tm := range s.timers {
		if tm.ev.idx >= 0 {
			stale = append(stale, tm)
		}
	}
	for _, tm := range stale {
		tm.stop()
	}
	return len(victims)
}
