package sim

import (
	"bytes"
	"fmt"
	"reflect"
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
	state, stack := taskStack(t)
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

// taskStack finds the escaped task's goroutine in a dump of all goroutines.
// Recording each task's goroutine id up front would cost a runtime.Stack call
// per task (a quarter of a sweep's CPU), so it is found by elimination when
// an escape happens: a goroutine running a task body that is not parked in a
// coroutine switch, preferring one whose stack names the task's function
// and one in a blocking state (other Worlds in the process may be running).
func taskStack(t *Task) (state, stack string) {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	fn := ""
	if f := runtime.FuncForPC(reflect.ValueOf(t.fn).Pointer()); f != nil {
		fn = f.Name()
	}
	best, bestScore := -1, -1
	var states, stacks []string
	for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
		s := string(g)
		if !strings.Contains(s, "sim.(*Task).body") {
			continue
		}
		header, _, _ := strings.Cut(s, "\n")
		open := strings.Index(header, "[")
		end := strings.Index(header, "]")
		if open < 0 || end < open {
			continue
		}
		st := header[open+1 : end]
		if strings.HasPrefix(st, "coroutine") {
			continue
		}
		score := 0
		if fn != "" && strings.Contains(s, fn) {
			score += 2
		}
		if st != "running" && st != "runnable" {
			score++
		}
		states, stacks = append(states, st), append(stacks, s)
		if score > bestScore {
			best, bestScore = len(states)-1, score
		}
	}
	if best < 0 {
		return "", ""
	}
	return states[best], stacks[best]
}
