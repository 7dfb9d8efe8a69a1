package sim

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// watch is the real-time watchdog: it returns nil when the loop finishes, or
// an Escape failure when one step has run longer than Options.EscapeGrace,
// which means the task is blocked outside the simulator (or spinning).
func (w *World) watch(done <-chan struct{}) *Failure {
	grace := w.opts.EscapeGrace
	tick := max(grace/4, time.Millisecond)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	last := w.progress.Load()
	since := time.Now()
	for {
		select {
		case <-done:
			return nil
		case now := <-ticker.C:
			p := w.progress.Load()
			if p != last {
				last, since = p, now
				continue
			}
			if p%2 == 0 || now.Sub(since) < grace {
				continue
			}
			select {
			case <-done:
				return nil
			default:
			}
			w.escaped.Store(true)
			return w.escapeFailure(w.curTask.Load(), now.Sub(since))
		}
	}
}

func (w *World) escapeFailure(t *Task, stuck time.Duration) *Failure {
	state, stack := taskStack(t.goid.Load())
	how := "blocked outside the simulator (a native channel, sync.Mutex, time.Sleep or a syscall) or spinning without a scheduling point"
	if state != "" {
		how = fmt.Sprintf("in state [%s]: %s", state, how)
	}
	// steps and now are written only by the loop goroutine before the
	// watchdog observed this step's start, so reading them is race-free.
	return &Failure{
		Kind: Escape, Task: t.name, Stack: stack, Step: w.steps, Time: time.Duration(w.now),
		Message: fmt.Sprintf("task %q did not return to the World for %v, %s; use the simulator's primitives (Env) instead", t.name, stuck.Round(time.Millisecond), how),
	}
}

// goroutineID returns the calling goroutine's id as printed in stack dumps.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// taskStack finds goroutine goid in a dump of all goroutines and returns
// its state (e.g. "chan receive") and stack.
func taskStack(goid uint64) (state, stack string) {
	if goid == 0 {
		return "", ""
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	prefix := fmt.Sprintf("goroutine %d [", goid)
	for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
		s := string(g)
		if !strings.HasPrefix(s, prefix) {
			continue
		}
		header, _, _ := strings.Cut(s, "\n")
		st, _, _ := strings.Cut(header[len(prefix):], "]")
		return st, s
	}
	return "", ""
}
