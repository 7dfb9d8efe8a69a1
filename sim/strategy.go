package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StrategyKind names a scheduling strategy.
type StrategyKind int

const (
	// Random picks uniformly among the runnable tasks at every scheduling point.
	Random StrategyKind = iota
	// PCT is probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010):
	// tasks get random distinct priorities, the highest-priority runnable task
	// always runs, and at Depth-1 random steps the running task's priority drops
	// below all others. A bug of depth d among n tasks and k steps is found with
	// probability at least 1/(n*k^(d-1)) per run.
	PCT
	// FIFO runs the task that became runnable first and always takes the first
	// ready Select case: one fixed, naive order, useful as a baseline.
	FIFO
)

func (k StrategyKind) String() string {
	switch k {
	case Random:
		return "random"
	case PCT:
		return "pct"
	case FIFO:
		return "fifo"
	}
	return fmt.Sprintf("StrategyKind(%d)", int(k))
}

// Strategy describes how a World schedules. The zero value is Random.
type Strategy struct {
	Kind StrategyKind
	// Depth is PCT's bug depth d (number of ordering constraints): d-1
	// priority change points are placed per run. Must be >= 1 for PCT; 0 means
	// the default 3. Ignored by other kinds.
	Depth int
	// Horizon is PCT's estimate k of the number of steps in a run: change
	// points are drawn uniformly from [1, Horizon]. Set it near a typical
	// Result.Steps; 0 means the default 1000. Ignored by other kinds.
	Horizon int
	// PermuteEqualTime breaks ties between events due at the same virtual
	// instant with a draw from the decision source instead of creation
	// order, so a sweep also explores the order of simultaneous timers and
	// deliveries.
	PermuteEqualTime bool
	// Delays preempts tasks: at a scheduling point a task is, with
	// probability 1/DelayOdds, descheduled for a random time up to MaxDelay
	// (log-uniform from 1µs: mostly short, sometimes long)
	// while everything else runs, as the OS deschedules a runnable
	// goroutine (CPU contention, GC, a loaded CI machine). Go's semantics
	// allow it; races that need one task to stall across another's network
	// round trip become reachable. Every choice comes from the decision
	// source, so runs stay deterministic. fifo never preempts.
	Delays bool
	// MaxDelay bounds one preemption (real scheduling delays are
	// milliseconds, not the seconds of an RPC deadline). 0 means
	// DefaultMaxDelay.
	MaxDelay time.Duration
	// DelayOdds: a scheduling point preempts with probability 1/DelayOdds.
	// 0 means DefaultDelayOdds.
	DelayOdds int
	// DelaySwarm, when > 1, applies Delays to a random subset of the tasks
	// only (swarm testing): each task, when it is spawned, joins the
	// preemptible set with probability 1/DelaySwarm; the others are never
	// preempted. Races that need one task to stall while the tasks it
	// races with run unhindered (a run loop descheduled across another
	// task's network round trip) are far more likely than when every task
	// is slowed alike. 0 or 1 means every task. Requires Delays.
	DelaySwarm int
}

const (
	// DefaultMaxDelay is Strategy.MaxDelay's default.
	DefaultMaxDelay = 10 * time.Millisecond
	// DefaultDelayOdds is Strategy.DelayOdds's default.
	DefaultDelayOdds = 8
)

const (
	defaultPCTDepth   = 3
	defaultPCTHorizon = 1000
)

// String renders the strategy in the form ParseStrategy accepts.
func (s Strategy) String() string {
	var b strings.Builder
	b.WriteString(s.Kind.String())
	if s.Kind == PCT {
		d, k := s.Depth, s.Horizon
		if d == 0 {
			d = defaultPCTDepth
		}
		fmt.Fprintf(&b, ":%d", d)
		if k != 0 && k != defaultPCTHorizon {
			fmt.Fprintf(&b, ":%d", k)
		}
	}
	if s.PermuteEqualTime {
		b.WriteString("+permute")
	}
	if s.Delays {
		b.WriteString("+delay")
		odds := s.DelayOdds != 0 && s.DelayOdds != DefaultDelayOdds
		if odds || (s.MaxDelay != 0 && s.MaxDelay != DefaultMaxDelay) {
			fmt.Fprintf(&b, ":%v", cmpOr(s.MaxDelay, DefaultMaxDelay))
		}
		if odds {
			fmt.Fprintf(&b, ":%d", s.DelayOdds)
		}
		if s.DelaySwarm > 1 {
			fmt.Fprintf(&b, "+swarm:%d", s.DelaySwarm)
		}
	}
	return b.String()
}

// DefaultDelaySwarm is the N of "+swarm" without an argument.
const DefaultDelaySwarm = 8

// ParseStrategy parses "random", "fifo", "pct", "pct:D" or "pct:D:K"
// (depth D, horizon K), optionally followed by "+permute" to permute
// equal-time events, "+delay[:D[:odds]]" to let time pass while tasks are
// runnable (Strategy.Delays), and "+swarm[:N]" to preempt only about one
// task in N (Strategy.DelaySwarm).
func ParseStrategy(spec string) (Strategy, error) {
	var s Strategy
	swarm := false
	parts0 := strings.Split(spec, "+")
	base := parts0[0]
	for _, opt := range parts0[1:] {
		name, arg, hasArg := strings.Cut(opt, ":")
		switch {
		case opt == "permute":
			s.PermuteEqualTime = true
		case name == "delay":
			s.Delays = true
			if hasArg {
				dur, odds, hasOdds := strings.Cut(arg, ":")
				d, err := time.ParseDuration(dur)
				if err != nil || d <= 0 {
					return s, fmt.Errorf("strategy %q: delay bound %q must be a positive duration", spec, dur)
				}
				s.MaxDelay = d
				if hasOdds {
					n, err := strconv.Atoi(odds)
					if err != nil || n < 1 {
						return s, fmt.Errorf("strategy %q: delay odds %q must be an integer >= 1", spec, odds)
					}
					s.DelayOdds = n
				}
			}
		case name == "swarm":
			swarm = true
			s.DelaySwarm = DefaultDelaySwarm
			if hasArg {
				n, err := strconv.Atoi(arg)
				if err != nil || n < 1 {
					return s, fmt.Errorf("strategy %q: swarm share %q must be an integer >= 1", spec, arg)
				}
				s.DelaySwarm = n
			}
		default:
			return s, fmt.Errorf("strategy %q: unknown option %q (want +permute, +delay[:D[:odds]] or +swarm[:N])", spec, opt)
		}
	}
	if swarm && !s.Delays {
		return s, fmt.Errorf("strategy %q: +swarm chooses which tasks +delay preempts: add +delay", spec)
	}
	parts := strings.Split(base, ":")
	switch parts[0] {
	case "random":
		s.Kind = Random
	case "fifo":
		s.Kind = FIFO
	case "pct":
		s.Kind = PCT
	default:
		return s, fmt.Errorf("strategy %q: unknown kind %q (want random, pct:D[:K] or fifo)", spec, parts[0])
	}
	if s.Kind != PCT && len(parts) > 1 {
		return s, fmt.Errorf("strategy %q: %s takes no parameters", spec, parts[0])
	}
	if len(parts) > 3 {
		return s, fmt.Errorf("strategy %q: want pct:D[:K]", spec)
	}
	if len(parts) > 1 {
		d, err := strconv.Atoi(parts[1])
		if err != nil || d < 1 {
			return s, fmt.Errorf("strategy %q: pct depth %q must be an integer >= 1", spec, parts[1])
		}
		s.Depth = d
	}
	if len(parts) > 2 {
		k, err := strconv.Atoi(parts[2])
		if err != nil || k < 1 {
			return s, fmt.Errorf("strategy %q: pct horizon %q must be an integer >= 1", spec, parts[2])
		}
		s.Horizon = k
	}
	return s, nil
}

func (s Strategy) validate() error {
	switch s.Kind {
	case Random, FIFO, PCT:
	default:
		return fmt.Errorf("sim: Options.Strategy.Kind = %d: unknown strategy", int(s.Kind))
	}
	if s.DelayOdds < 0 {
		return fmt.Errorf("sim: Options.Strategy.DelayOdds = %d: must be >= 0 (0 means %d)", s.DelayOdds, DefaultDelayOdds)
	}
	if s.DelaySwarm < 0 {
		return fmt.Errorf("sim: Options.Strategy.DelaySwarm = %d: must be >= 0 (0 means every task)", s.DelaySwarm)
	}
	if s.DelaySwarm > 1 && !s.Delays {
		return fmt.Errorf("sim: Options.Strategy.DelaySwarm = %d without Delays: the swarm chooses which tasks Delays preempts", s.DelaySwarm)
	}
	if s.MaxDelay < 0 {
		return fmt.Errorf("sim: Options.Strategy.MaxDelay = %v: must be >= 0 (0 means %v)", s.MaxDelay, DefaultMaxDelay)
	}
	switch s.Kind {
	case PCT:
		if s.Depth < 0 {
			return fmt.Errorf("sim: Options.Strategy.Depth = %d: pct depth must be >= 1 (0 means %d)", s.Depth, defaultPCTDepth)
		}
		if s.Horizon < 0 {
			return fmt.Errorf("sim: Options.Strategy.Horizon = %d: must be >= 1 (0 means %d)", s.Horizon, defaultPCTHorizon)
		}
	}
	return nil
}

// scheduler is the per-run state of a strategy.
type scheduler interface {
	// spawned is told of every new task, in creation order.
	spawned(t *Task)
	// pick returns the index in runnable of the task to run at step (1-based);
	// last is the task that ran in the previous step (nil at the start).
	pick(runnable []*Task, step int64, last *Task) int
	// choose returns which of n >= 2 equivalent alternatives to take (a
	// Select among ready cases).
	choose(n int) int
}

func newScheduler(s Strategy, src Source) scheduler {
	switch s.Kind {
	case PCT:
		d, k := s.Depth, s.Horizon
		if d == 0 {
			d = defaultPCTDepth
		}
		if k == 0 {
			k = defaultPCTHorizon
		}
		p := &pctScheduler{src: src, depth: d}
		// d-1 distinct change points in [1, k]; change point i (1-based)
		// lowers the running task to priority d-i, below every initial
		// priority (which are all >= d).
		for i := 1; i < d; i++ {
			var step int64
			for {
				step = int64(draw(src, k)) + 1
				dup := false
				for _, c := range p.changes {
					if c.step == step {
						dup = true
					}
				}
				if !dup || k < d {
					break
				}
			}
			p.changes = append(p.changes, pctChange{step: step, prio: int64(d - i)})
		}
		return p
	case FIFO:
		return fifoScheduler{}
	default:
		return randomScheduler{src: src}
	}
}

// draw asks src for a value in [0, n), without asking when n == 1.
func draw(src Source, n int) int {
	if n <= 1 {
		return 0
	}
	v := src.Intn(n)
	if v < 0 || v >= n {
		v %= n
		if v < 0 {
			v += n
		}
	}
	return v
}

type randomScheduler struct{ src Source }

func (randomScheduler) spawned(*Task) {}
func (r randomScheduler) pick(runnable []*Task, _ int64, _ *Task) int {
	return draw(r.src, len(runnable))
}
func (r randomScheduler) choose(n int) int { return draw(r.src, n) }

type fifoScheduler struct{}

func (fifoScheduler) spawned(*Task)                  {}
func (fifoScheduler) pick([]*Task, int64, *Task) int { return 0 }
func (fifoScheduler) choose(int) int                 { return 0 }

type pctChange struct {
	step int64
	prio int64
}

type pctScheduler struct {
	src     Source
	depth   int
	changes []pctChange
}

// pctPrioritySpan is the range initial priorities are drawn from; a large
// range makes ties (broken by task id) rare, approximating the paper's random
// permutation while allowing tasks to be created at any time.
const pctPrioritySpan = 1 << 30

func (p *pctScheduler) spawned(t *Task) {
	t.prio = int64(p.depth) + int64(draw(p.src, pctPrioritySpan))
}

func (p *pctScheduler) pick(runnable []*Task, step int64, last *Task) int {
	for _, c := range p.changes {
		if c.step == step && last != nil {
			last.prio = c.prio
		}
	}
	best := 0
	for i, t := range runnable[1:] {
		b := runnable[best]
		if t.prio > b.prio || (t.prio == b.prio && t.id < b.id) {
			best = i + 1
		}
	}
	return best
}

func (p *pctScheduler) choose(n int) int { return draw(p.src, n) }

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
