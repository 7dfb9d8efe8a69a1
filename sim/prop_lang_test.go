package sim_test

// Property tests of the simulation kernel against Go's semantics.
//
// The tests generate small programs in an interpreted language (a list of
// tasks, each a list of ops: spawn, lock blocks, channel send/recv/close,
// select, sleep, timers, tickers, AfterFunc, context timeouts, yield), run
// them in a World under a drawn seed and strategy, and check what the tasks
// observed against a reference model kept by the interpreter: a shadow holder
// for every lock, the set of values sent and received on every channel, each
// task's clock readings and pending operation. After the run the outcome is
// checked against the model: a pass means every task finished and every
// value sent was received; a deadlock means every unfinished task is blocked
// on an operation the model says cannot proceed; a panic must be a send on a
// channel the model knows is closed.
//
// The generators (genGeneral, genMixed, genSafe) and the interpreter
// (runProgram) are shared with determinism_test.go. Generation draws from a
// chooser: rapid in the property tests (so failures shrink; long programs
// from a rapid-drawn seed), sim.Rand in the determinism tests (so the program
// set is the same on every platform).

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"
)

// Property tests must be deterministic: unless a seed is given with
// -rapid.seed or RAPID_SEED, give rapid a fixed one (set in init, before flag
// parsing, so the command line still wins; -rapid.seed=0 asks for a random
// seed again, to explore).
func init() {
	if _, ok := os.LookupEnv("RAPID_SEED"); !ok {
		if f := flag.Lookup("rapid.seed"); f != nil {
			_ = f.Value.Set("20250101")
		}
	}
}

// ---------------------------------------------------------------------------
// The program language.

type opKind uint8

const (
	opYield opKind = iota
	opSleep
	opSpawn // n: child task index
	opLock  // n: mutex; body
	opRLock // n: rwmutex; body
	opWLock // n: rwmutex; body
	opSend  // n: channel
	opRecv  // n: channel; flag: must observe the channel closed and drained
	opClose // n: channel
	opSelect
	opTimerRecv  // NewTimer(d), receive
	opTimerStop  // NewTimer(d), Sleep(d2), Stop, TryRecv
	opTimerReset // NewTimer(d), Reset(d2), receive
	opTicker     // NewTicker(d), receive n ticks, Stop
	opAfterFunc  // AfterFunc(d); flag: Stop it at once
	opCtxTimeout // WithTimeout(d), receive from DoneChan
	opDeadRecv   // receive on a channel nobody ever sends on or closes
)

var opNames = [...]string{
	opYield: "yield", opSleep: "sleep", opSpawn: "spawn", opLock: "lock", opRLock: "rlock",
	opWLock: "wlock", opSend: "send", opRecv: "recv", opClose: "close", opSelect: "select",
	opTimerRecv: "timer-recv", opTimerStop: "timer-stop", opTimerReset: "timer-reset",
	opTicker: "ticker", opAfterFunc: "afterfunc", opCtxTimeout: "ctx-timeout", opDeadRecv: "dead-recv",
}

type selCase struct {
	send bool
	ch   int
}

type op struct {
	kind  opKind
	n     int
	d, d2 time.Duration
	flag  bool
	cases []selCase
	def   bool
	body  []op
}

type program struct {
	tasks    [][]op // tasks[0] is main; task i > 0 is spawned by exactly one spawn op
	chanCaps []int
	nMutex   int
	nRW      int
	// mainTail runs in main after it has waited for every task and drained
	// the channels.
	mainTail []op
	// afterDone[i], if any, runs in task i > 0 after it has told main it is
	// done: main does not wait for it.
	afterDone [][]op
}

func (p *program) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "program: chans=%v mutexes=%d rwmutexes=%d\n", p.chanCaps, p.nMutex, p.nRW)
	for i, ops := range p.tasks {
		fmt.Fprintf(&b, "  %s:\n", taskName(i))
		writeOps(&b, ops, 4)
	}
	if len(p.mainTail) > 0 {
		b.WriteString("  main tail:\n")
		writeOps(&b, p.mainTail, 4)
	}
	return b.String()
}

func writeOps(b *strings.Builder, ops []op, indent int) {
	for _, o := range ops {
		fmt.Fprintf(b, "%s%s", strings.Repeat(" ", indent), opNames[o.kind])
		switch o.kind {
		case opSpawn:
			fmt.Fprintf(b, " %s", taskName(o.n))
		case opLock, opRLock, opWLock, opSend, opClose:
			fmt.Fprintf(b, " %d", o.n)
		case opRecv:
			fmt.Fprintf(b, " %d", o.n)
			if o.flag {
				b.WriteString(" (expect closed)")
			}
		case opSleep, opTimerRecv, opCtxTimeout:
			fmt.Fprintf(b, " %v", o.d)
		case opTimerStop, opTimerReset:
			fmt.Fprintf(b, " %v %v", o.d, o.d2)
		case opTicker:
			fmt.Fprintf(b, " %v x%d", o.d, o.n)
		case opAfterFunc:
			fmt.Fprintf(b, " %v stop=%v", o.d, o.flag)
		case opSelect:
			for _, c := range o.cases {
				if c.send {
					fmt.Fprintf(b, " send:%d", c.ch)
				} else {
					fmt.Fprintf(b, " recv:%d", c.ch)
				}
			}
			if o.def {
				b.WriteString(" default")
			}
		}
		b.WriteString("\n")
		writeOps(b, o.body, indent+2)
	}
}

func taskName(i int) string {
	if i == 0 {
		return "main"
	}
	return fmt.Sprintf("t%d", i)
}

// ---------------------------------------------------------------------------
// Generators.

// chooser is where generators draw from: *sim.Rand or rapid.
type chooser interface{ Intn(n int) int }

type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) Intn(n int) int {
	if n <= 1 {
		return 0
	}
	return rapid.IntRange(0, n-1).Draw(c.t, "n")
}

var durations = []time.Duration{0, time.Millisecond, 5 * time.Millisecond, time.Second}

func pickDur(c chooser) time.Duration { return durations[c.Intn(len(durations))] }

func chance(c chooser, num, den int) bool { return c.Intn(den) < num }

// genGeneral generates an arbitrary program: it may deadlock, send on a
// closed channel, take locks in any order. Most channel operations come in
// matched pairs (a send and a receive on the same channel, at random places
// in random tasks), so that runs get somewhere before they deadlock, if
// they do.
func genGeneral(c chooser, maxTasks, maxOps int) *program {
	p := &program{}
	n := 1 + c.Intn(maxTasks)
	nCh := 1 + c.Intn(3)
	for range nCh {
		p.chanCaps = append(p.chanCaps, c.Intn(3))
	}
	p.nMutex = 1 + c.Intn(2)
	p.nRW = c.Intn(2)
	p.tasks = make([][]op, n)
	insert := func(i int, o op) {
		p.tasks[i] = slices.Insert(p.tasks[i], c.Intn(len(p.tasks[i])+1), o)
	}
	for i := range n {
		for range c.Intn(maxOps/2 + 1) {
			insert(i, genGeneralOp(c, p, 0))
		}
	}
	for range c.Intn(n*maxOps/4 + 1) {
		ch := c.Intn(nCh)
		insert(c.Intn(n), op{kind: opSend, n: ch})
		insert(c.Intn(n), op{kind: opRecv, n: ch})
	}
	// Spawns mostly early, so that tasks get to meet.
	for i := 1; i < n; i++ {
		parent := c.Intn(i)
		pos := c.Intn(min(len(p.tasks[parent]), 2) + 1)
		if chance(c, 1, 5) {
			pos = c.Intn(len(p.tasks[parent]) + 1)
		}
		p.tasks[parent] = slices.Insert(p.tasks[parent], pos, op{kind: opSpawn, n: i})
	}
	// One designated closer closes one channel, once, as its last op.
	if chance(c, 1, 3) {
		closer := c.Intn(n)
		p.tasks[closer] = append(p.tasks[closer], op{kind: opClose, n: c.Intn(nCh)})
	}
	return p
}

func genGeneralOp(c chooser, p *program, depth int) op {
	for {
		switch c.Intn(14) {
		case 0:
			return op{kind: opSend, n: c.Intn(len(p.chanCaps))}
		case 1:
			return op{kind: opRecv, n: c.Intn(len(p.chanCaps))}
		case 2, 3, 4, 5:
			o := op{kind: opSelect, def: chance(c, 1, 2)}
			for range 2 + c.Intn(2) {
				o.cases = append(o.cases, selCase{send: chance(c, 1, 2), ch: c.Intn(len(p.chanCaps))})
			}
			return o
		case 6, 7:
			if depth >= 2 {
				continue
			}
			o := op{kind: opLock, n: c.Intn(p.nMutex)}
			if p.nRW > 0 && chance(c, 1, 3) {
				o.kind = opRLock
				if chance(c, 1, 2) {
					o.kind = opWLock
				}
				o.n = c.Intn(p.nRW)
			}
			for range c.Intn(4) {
				o.body = append(o.body, genGeneralOp(c, p, depth+1))
			}
			return o
		case 8:
			return op{kind: opSleep, d: pickDur(c)}
		case 9:
			return op{kind: opYield}
		default:
			return genTimeOp(c)
		}
	}
}

// genTimeOp generates an op that only involves the clock: it always
// completes, at a time the model can predict exactly.
func genTimeOp(c chooser) op {
	switch c.Intn(8) {
	case 0:
		return op{kind: opSleep, d: pickDur(c)}
	case 1:
		return op{kind: opTimerRecv, d: pickDur(c)}
	case 2:
		return op{kind: opTimerStop, d: pickDur(c), d2: pickDur(c)}
	case 3:
		return op{kind: opTimerReset, d: pickDur(c), d2: pickDur(c)}
	case 4:
		return op{kind: opTicker, d: durations[1+c.Intn(len(durations)-1)], n: 1 + c.Intn(3)}
	case 5:
		return op{kind: opAfterFunc, d: pickDur(c), flag: chance(c, 1, 2)}
	case 6:
		return op{kind: opCtxTimeout, d: pickDur(c)}
	default:
		return op{kind: opYield}
	}
}

// genSafe generates a program that is deadlock-free and panic-free by
// construction:
//   - every channel has one sender task and one receiver task, and the
//     messages follow one global order: message k appends a send to its
//     sender's program and a receive to its receiver's, so both see the
//     messages in the same order (the earliest message not yet received can
//     always proceed);
//   - a channel may be closed by its sender as one of its last ops, after
//     which the receiver's last ops may receive the closed signal;
//   - locks (mutexes, then rwmutexes, in one global order) are taken only in
//     ascending order, around ops that never wait for another task;
//   - every spawn comes before any op that could block.
func genSafe(c chooser, maxTasks, maxMsgs int) *program {
	p := &program{}
	n := 2 + c.Intn(maxTasks-1)
	p.tasks = make([][]op, n)
	nCh := 1 + c.Intn(3)
	sender, receiver := make([]int, nCh), make([]int, nCh)
	for ch := range nCh {
		p.chanCaps = append(p.chanCaps, c.Intn(3))
		sender[ch] = c.Intn(n)
		receiver[ch] = (sender[ch] + 1 + c.Intn(n-1)) % n
	}
	p.nMutex = 1 + c.Intn(2)
	p.nRW = c.Intn(2)
	for range c.Intn(maxMsgs + 1) {
		ch := c.Intn(nCh)
		p.tasks[sender[ch]] = append(p.tasks[sender[ch]], op{kind: opSend, n: ch})
		p.tasks[receiver[ch]] = append(p.tasks[receiver[ch]], op{kind: opRecv, n: ch})
	}
	// Local ops anywhere.
	for i := range n {
		for range c.Intn(5) {
			pos := c.Intn(len(p.tasks[i]) + 1)
			p.tasks[i] = slices.Insert(p.tasks[i], pos, genSafeLocalOp(c, p, -1))
		}
	}
	// Closes first, then receives of the closed signal, at the end.
	closedRecv := make([][]op, n)
	for ch := range nCh {
		if chance(c, 1, 2) {
			p.tasks[sender[ch]] = append(p.tasks[sender[ch]], op{kind: opClose, n: ch})
			if chance(c, 1, 2) {
				closedRecv[receiver[ch]] = append(closedRecv[receiver[ch]], op{kind: opRecv, n: ch, flag: true})
			}
		}
	}
	for i := range n {
		p.tasks[i] = append(p.tasks[i], closedRecv[i]...)
	}
	// Spawns at the start of the parent's program.
	spawns := make([]int, n)
	for i := 1; i < n; i++ {
		parent := c.Intn(i)
		pos := c.Intn(spawns[parent] + 1)
		p.tasks[parent] = slices.Insert(p.tasks[parent], pos, op{kind: opSpawn, n: i})
		spawns[parent]++
	}
	return p
}

// genMixed is genSafe with a few selects added at random places: with a
// default case they never block but may take or add a message (so the
// program may then deadlock), without one they may block for ever.
func genMixed(c chooser, maxTasks, maxMsgs int) *program {
	p := genSafe(c, maxTasks, maxMsgs)
	// A select may add a value, so a receive after the close may get it.
	for _, ops := range p.tasks {
		for k := range ops {
			ops[k].flag = ops[k].flag && ops[k].kind != opRecv
		}
	}
	for range 1 + c.Intn(4) {
		o := op{kind: opSelect, def: !chance(c, 1, 4)}
		for range 1 + c.Intn(3) {
			o.cases = append(o.cases, selCase{send: chance(c, 1, 2), ch: c.Intn(len(p.chanCaps))})
		}
		i := c.Intn(len(p.tasks))
		p.tasks[i] = slices.Insert(p.tasks[i], c.Intn(len(p.tasks[i])+1), o)
	}
	return p
}

// genSafeLocalOp generates an op that never waits for another task for
// ever: clock ops and lock blocks taking locks above minLock (mutexes are
// locks 0..nMutex-1, rwmutexes the next ones).
func genSafeLocalOp(c chooser, p *program, minLock int) op {
	nLocks := p.nMutex + p.nRW
	if minLock+1 < nLocks && chance(c, 1, 3) {
		l := minLock + 1 + c.Intn(nLocks-minLock-1)
		o := op{kind: opLock, n: l}
		if l >= p.nMutex {
			o.kind, o.n = opRLock, l-p.nMutex
			if chance(c, 1, 2) {
				o.kind = opWLock
			}
		}
		for range c.Intn(3) {
			o.body = append(o.body, genSafeLocalOp(c, p, l))
		}
		return o
	}
	return genTimeOp(c)
}
