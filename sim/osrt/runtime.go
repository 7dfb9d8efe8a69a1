package osrt

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/detsim/detsim/sim"
)

// Options configure a Runtime. The zero value is valid: seed 0, logs
// discarded, a panicking task crashes the process as in plain Go.
type Options struct {
	// Seed seeds the named random streams (Rand): the same (Seed, name)
	// gives the same numbers as a World with that seed.
	Seed uint64
	// Log receives the Logger's records as slog text lines; nil discards
	// them (unless Handler is set).
	Log io.Writer
	// LogLevel is the lowest level written to Log (zero: Info).
	LogLevel slog.Level
	// Handler, if set, receives the Logger's records instead of Log. The
	// runtime adds the "task" attribute before passing them on.
	Handler slog.Handler
	// OnPanic, if set, is called (on the panicking task's goroutine) with
	// every panic of a task, which is then recovered: the task ends, the
	// others go on, and Panics lists it. If nil, a task's panic is recorded
	// and then re-raised, crashing the process as a goroutine's panic does.
	OnPanic func(TaskPanic)
}

// TaskPanic is a recovered panic of a task.
type TaskPanic struct {
	Task  string
	Value any
	Stack string
}

func (p TaskPanic) String() string { return fmt.Sprintf("task %q panicked: %v", p.Task, p.Value) }

// Runtime is sim.Env on the OS. Its methods are safe for concurrent use.
type Runtime struct {
	opts   Options
	logger *slog.Logger

	mu      sync.Mutex // everything below
	tasks   map[uint64]string
	nextID  uint64
	idle    chan struct{} // closed while no task runs; replaced when one starts
	streams map[string]*sim.Rand
	panics  []TaskPanic

	// names maps a goroutine id to its task's name, for the logger.
	names sync.Map
}

var _ sim.Env = (*Runtime)(nil)

// New returns a runtime.
func New(opts Options) *Runtime {
	r := &Runtime{opts: opts, tasks: map[uint64]string{}, idle: make(chan struct{}), streams: map[string]*sim.Rand{}}
	close(r.idle)
	h := opts.Handler
	if h == nil {
		w := opts.Log
		if w == nil {
			w = io.Discard
		}
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: opts.LogLevel})
	}
	r.logger = slog.New(&logHandler{r: r, h: h})
	return r
}

// Seed is the seed of the runtime's random streams.
func (r *Runtime) Seed() uint64 { return r.opts.Seed }

// Go starts fn as a goroutine, the task called name.
func (r *Runtime) Go(name string, fn func()) {
	if fn == nil {
		panic("osrt: Go(" + name + ", nil): task function is nil")
	}
	id := r.addTask(name)
	go r.runTask(id, name, fn)
}

// Run runs fn as the task "main" and waits for it to return. It returns an
// error if fn panicked and OnPanic is set (without OnPanic the panic
// crashes the process); the panic is then in Panics and OnPanic has
// returned. Tasks fn started may still run: see Wait.
func (r *Runtime) Run(fn func()) error {
	if fn == nil {
		panic("osrt: Run(nil): main function is nil")
	}
	var pv *TaskPanic
	done := make(chan struct{})
	id := r.addTask("main")
	go func() {
		defer close(done) // after runTask has recorded a panic
		r.runTask(id, "main", func() {
			defer func() {
				if v := recover(); v != nil {
					p := TaskPanic{Task: "main", Value: v, Stack: string(debug.Stack())}
					pv = &p
					panic(v) // runTask records it and applies OnPanic
				}
			}()
			fn()
		})
	}()
	<-done
	if pv != nil {
		return fmt.Errorf("osrt: %v", pv)
	}
	return nil
}

func (r *Runtime) addTask(name string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	if len(r.tasks) == 0 {
		r.idle = make(chan struct{})
	}
	r.tasks[r.nextID] = name
	return r.nextID
}

func (r *Runtime) removeTask(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tasks, id)
	if len(r.tasks) == 0 {
		close(r.idle)
	}
}

func (r *Runtime) runTask(id uint64, name string, fn func()) {
	g := goid()
	r.names.Store(g, name)
	defer func() {
		v := recover()
		r.names.Delete(g)
		if v != nil {
			p := TaskPanic{Task: name, Value: v, Stack: string(debug.Stack())}
			r.mu.Lock()
			r.panics = append(r.panics, p)
			r.mu.Unlock()
			r.logger.Error("task panicked", "panicked", name, "value", fmt.Sprint(v))
			if r.opts.OnPanic == nil {
				r.removeTask(id)
				panic(v)
			}
			r.opts.OnPanic(p)
		}
		r.removeTask(id)
	}()
	fn()
}

// Tasks lists the names of the tasks still running, sorted.
func (r *Runtime) Tasks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.tasks))
	for _, n := range r.tasks {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Wait waits until no task runs, for at most timeout. On timeout the error
// names the tasks still running (up to 20 of them).
func (r *Runtime) Wait(timeout time.Duration) error {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		r.mu.Lock()
		idle := r.idle
		r.mu.Unlock()
		select {
		case <-idle:
			// A task may have started since the channel was closed.
			if len(r.Tasks()) == 0 {
				return nil
			}
		case <-tm.C:
			ts := r.Tasks()
			if len(ts) == 0 {
				return nil
			}
			n, more := len(ts), ""
			if n > 20 {
				more = fmt.Sprintf(" and %d more", len(ts)-20)
				ts = ts[:20]
			}
			return fmt.Errorf("osrt: %d tasks still running after %v: %s%s", n, timeout, strings.Join(ts, ", "), more)
		}
	}
}

// Panics lists the panics of tasks so far, in the order they happened.
func (r *Runtime) Panics() []TaskPanic {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.panics)
}

// Yield lets other goroutines run (runtime.Gosched).
func (r *Runtime) Yield() { runtime.Gosched() }

// NewMutex returns a sync.Mutex.
func (r *Runtime) NewMutex() sim.Mutex { return &sync.Mutex{} }

// NewRWMutex returns a sync.RWMutex.
func (r *Runtime) NewRWMutex() sim.RWMutex { return &sync.RWMutex{} }

// NewCond returns sync.NewCond(l).
func (r *Runtime) NewCond(l sync.Locker) sim.Cond { return sync.NewCond(l) }

// NewWaitGroup returns a sync.WaitGroup.
func (r *Runtime) NewWaitGroup() sim.WaitGroup { return &sync.WaitGroup{} }

// NewOnce returns a sync.Once.
func (r *Runtime) NewOnce() sim.Once { return &sync.Once{} }

// Sim returns nil: this is not a simulation, so sim.NewChan and
// sim.Select use native channels.
func (r *Runtime) Sim() *sim.World { return nil }

// Rand returns the random stream called name: the same object for the same
// name, seeded from (Seed, name) as sim.World.Rand seeds it.
func (r *Runtime) Rand(name string) *sim.Rand {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[name]
	if !ok {
		s = sim.NewRand(sim.DeriveSeed(r.opts.Seed, name))
		r.streams[name] = s
	}
	return s
}

// Logger returns the runtime's logger: records carry the real time and the
// name of the task that logged them ("task").
func (r *Runtime) Logger() *slog.Logger { return r.logger }
