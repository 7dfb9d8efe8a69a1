package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

// Recorder captures what a run's reports need beyond its Outcome: the
// kernel trace and the network's packets and faults. Neither changes the
// run: the kernel trace is kept without touching the fingerprint, and the
// network observer (scenario.Config.NetObserver) only watches.
//
// A Recorder records one run at a time; it is not safe for concurrent use.
type Recorder struct {
	events []netmodel.Event
}

// Instrument returns cfg set up to be recorded: the kernel trace on and an
// observer of the run's network (scenario.Config.NetObserver). A PCT
// strategy without a horizon makes Execute run the seed twice (calibration
// first, without the config's observer or trace); the Recorder keeps the
// run Execute returns.
func (r *Recorder) Instrument(cfg scenario.Config) scenario.Config {
	r.events = r.events[:0]
	cfg.NetObserver = func(e netmodel.Event) { r.events = append(r.events, e) }
	cfg.Trace = true
	return cfg
}

// Network returns the network events of the run recorded.
func (r *Recorder) Network() []netmodel.Event { return r.events }

// Run is one run with everything its reports show: what was run, what
// happened, and the merged timeline of kernel and network events.
type Run struct {
	Scenario string
	Variant  string
	Seed     uint64
	Strategy string
	Params   []scenario.KV
	Result   sim.Result
	Metrics  []scenario.Metric
	Probes   []scenario.Probe
	Wall     time.Duration
	// Replay is the command that reruns the run.
	Replay string
	// Hosts lists the network's hosts in the order they were added.
	Hosts []Host
	// Events is the timeline: every kernel trace event and network event in
	// the order they happened, then the failure (kind "failure"), if any.
	Events []Event
}

// Host is one simulated host.
type Host struct {
	Name string `json:"name"`
	// Addrs lists its interfaces, "segment=address" separated by spaces.
	Addrs string `json:"addrs"`
}

// NewRun builds a run's report data from its outcome and the network
// events a Recorder captured (nil for a run without network).
func NewRun(o scenario.Outcome, net []netmodel.Event) *Run {
	r := &Run{
		Scenario: o.Scenario, Variant: o.Variant, Seed: o.Seed, Strategy: o.Strategy.String(),
		Params: o.Params, Result: o.Result, Metrics: o.Metrics, Probes: o.Probes, Wall: o.Wall,
		Replay: scenario.Replay{Scenario: o.Scenario, Variant: o.Variant, Seed: o.Seed,
			Strategy: o.Strategy.String(), Params: o.ParamMap()}.Command(),
	}
	for _, e := range net {
		if e.Kind == netmodel.EventHost {
			r.Hosts = append(r.Hosts, Host{Name: e.From, Addrs: e.Detail})
		}
	}
	r.Events = mergeTimeline(o.Result.Trace, net, r.hostNames())
	if f := o.Result.Failure; f != nil {
		fe := Event{
			Step: f.Step, TimeNs: int64(f.Time), Kind: KindFailure, TaskName: f.Task,
			Host: hostOfTask(f.Task, r.hostNames()), Detail: f.Kind.String() + ": " + f.Message,
		}
		for _, t := range r.tasks() {
			if t.Name == f.Task {
				fe.Task = t.ID // the last task of that name (a restarted host makes it again)
			}
		}
		at := failurePosition(r.Events, f)
		r.Events = slices.Insert(r.Events, at, fe)
	}
	return r
}

// failurePosition is where the failure goes in the timeline: the kernel
// does not trace the moment a run fails, but the run is torn down right
// after (its tasks unwound: exit events, and whatever their deferred calls
// do), all at the failure's step and time. A failure raised by a task goes
// right after that task's run event at the failure's step; any other
// (deadlock, leak, budget, an invariant, a property checked in a callback)
// just before the first exit of the teardown. The events after it are the
// teardown.
func failurePosition(evs []Event, f *sim.Failure) int {
	i, _ := slices.BinarySearchFunc(evs, f, func(e Event, f *sim.Failure) int {
		if c := cmp.Compare(e.TimeNs, int64(f.Time)); c != 0 {
			return c
		}
		return cmp.Compare(e.Step, f.Step)
	})
	if f.Task != "" {
		for j := i; j < len(evs) && evs[j].Step == f.Step && evs[j].TimeNs == int64(f.Time); j++ {
			if evs[j].Kind == "run" && evs[j].TaskName == f.Task {
				return j + 1
			}
		}
	}
	for j := i; j < len(evs); j++ {
		if evs[j].Kind == "exit" {
			return j
		}
	}
	return len(evs)
}

func (r *Run) hostNames() map[string]bool {
	m := make(map[string]bool, len(r.Hosts))
	for _, h := range r.Hosts {
		m[h.Name] = true
	}
	return m
}

// Passed reports whether the run passed.
func (r *Run) Passed() bool { return r.Result.Failure == nil }

// Title names the run in one line.
func (r *Run) Title() string {
	return fmt.Sprintf("%s/%s seed %d", r.Scenario, r.Variant, r.Seed)
}

// Event kinds beyond the kernel's (sim.TraceKind) and the network's
// (netmodel.EventKind) names.
const (
	// KindFailure is the timeline's last event when the run failed.
	KindFailure = "failure"
)

// Event is one line of the timeline and of the -trace file. Every event has
// the first seven fields; network events add the packet fields.
type Event struct {
	// Step is the scheduling step during or just after which the event
	// happened (events fired between steps carry the step before them).
	Step int64 `json:"step"`
	// TimeNs is virtual time since the start of the run, in nanoseconds.
	TimeNs int64 `json:"time_ns"`
	// Kind is a kernel kind (run, spawn, block, wake, exit, timer, advance,
	// choice, note), a network kind (host, send, duplicate, deliver, drop,
	// fault) or failure.
	Kind string `json:"kind"`
	// Task and TaskName are the task concerned (0 and "" for none); for a
	// network event, the task running when it happened (a send), if any.
	Task     int    `json:"task"`
	TaskName string `json:"task_name"`
	// Arg is the kernel's number for the event: spawn: the parent task's
	// id; block: the wait kind's number; timer: the timer kind's number;
	// advance: the new time in ns; choice: the chosen case; note: the
	// note's length. 0 otherwise.
	Arg int64 `json:"arg"`
	// Detail is text: block: what the task waits for (Mutex.Lock, Select,
	// Sleep, ...); timer: the timer kind (sleep, timer, ticker, afterfunc,
	// deadline, call); note: the note; drop: why, when there is no cause;
	// fault: the fault's arguments; host: its interfaces; failure: the
	// failure kind and message.
	Detail string `json:"detail"`
	// Host is the host the event happened on: the task's host (tasks named
	// HOST/...), the sender of a send, duplicate or drop at the sender,
	// the receiver of a delivery; "" for the simulation's own tasks.
	Host string `json:"host,omitempty"`
	// ID numbers a packet: its send, duplicate, deliveries and drop share
	// it.
	ID uint64 `json:"id,omitempty"`
	// Packet is udp, tcp (a data segment), fin, syn, syn-ack or rst.
	Packet string `json:"packet,omitempty"`
	// From and To are the sending and receiving hosts; Src and Dst the
	// packet's addresses (ip:port), on sends.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	Src  string `json:"src,omitempty"`
	Dst  string `json:"dst,omitempty"`
	// Size is the payload in bytes, on sends.
	Size int `json:"size,omitempty"`
	// Cause is why a packet was dropped: loss, partition, capacity, crash,
	// unreachable, queue-full.
	Cause string `json:"cause,omitempty"`
	// Fault names a fault: partition, oneway, isolate, heal, flap-down,
	// flap-up, hold, release, link-faults, clock-offset, crash, restart.
	Fault string `json:"fault,omitempty"`
}

// Time is the event's virtual time.
func (e Event) Time() time.Duration { return time.Duration(e.TimeNs) }

// IsNet reports whether the event came from the network.
func (e Event) IsNet() bool {
	switch e.Kind {
	case "host", "send", "duplicate", "deliver", "drop", "fault":
		return true
	}
	return false
}

// timerKinds names the kernel's timer kinds (sim's unexported eventKind,
// in its order) for TraceTimer's Arg.
var timerKinds = [...]string{1: "sleep", 2: "timer", 3: "ticker", 4: "afterfunc", 5: "deadline", 6: "call", 7: "timer"}

// evCall is the timer kind of a ScheduleFunc callback (how the network
// delivers packets).
const evCall = 6

func kernelEvent(e sim.TraceEvent, hosts map[string]bool) Event {
	out := Event{
		Step: e.Step, TimeNs: int64(e.Time), Kind: e.Kind.String(), Task: e.Task,
		TaskName: e.TaskName, Arg: e.Arg, Detail: e.Detail, Host: hostOfTask(e.TaskName, hosts),
	}
	switch e.Kind {
	case sim.TraceBlock:
		if out.Detail == "" {
			out.Detail = sim.WaitKind(e.Arg).String()
		}
	case sim.TraceTimer:
		if out.Detail == "" && e.Arg > 0 && int(e.Arg) < len(timerKinds) {
			out.Detail = timerKinds[e.Arg]
		}
	}
	return out
}

func netEvent(e netmodel.Event) Event {
	out := Event{
		Step: e.Step, TimeNs: int64(e.Time), Kind: e.Kind.String(), Task: e.Task, TaskName: e.TaskName,
		Detail: e.Detail, ID: e.ID, From: e.From, To: e.To, Size: e.Size, Fault: e.Fault,
	}
	if e.Packet != 0 {
		out.Packet = e.Packet.String()
	}
	if e.Src.IsValid() {
		out.Src = e.Src.String()
	}
	if e.Dst.IsValid() {
		out.Dst = e.Dst.String()
	}
	if e.Cause != 0 {
		out.Cause = e.Cause.String()
	}
	switch e.Kind {
	case netmodel.EventDeliver:
		out.Host = e.To
	case netmodel.EventDrop:
		// A drop at the sender (the link refused it) or in flight: shown
		// at the sender, where the packet was last seen.
		out.Host = e.From
	default:
		out.Host = e.From
	}
	return out
}

// hostOfTask returns the host a task belongs to: netmodel names a host's
// tasks HOST/NAME.
func hostOfTask(name string, hosts map[string]bool) string {
	if h, _, ok := strings.Cut(name, "/"); ok && hosts[h] {
		return h
	}
	return ""
}

// mergeTimeline interleaves the kernel trace and the network events. Both
// are in the order things happened, and both carry (time, step); within
// one (time, step) the kernel's order is exact, and a network event is put
// where it must have happened:
//
//   - a send from a task right after that step's run event (the task was
//     running), before whatever the task did next in the step;
//   - an event in a callback (delivery, drop, retransmission, fault) right
//     after the kernel's record of a ScheduleFunc callback firing ("timer"
//     with detail call) at that instant, one callback per delivery or drop.
//
// The order within one instant is thus approximate only among network
// events of different callbacks; the kernel's own order is never changed.
func mergeTimeline(trace []sim.TraceEvent, net []netmodel.Event, hosts map[string]bool) []Event {
	out := make([]Event, 0, len(trace)+len(net))
	k := 0                  // next kernel event to emit
	emitTo := func(i int) { // emit kernel events up to index i inclusive
		for ; k <= i && k < len(trace); k++ {
			out = append(out, kernelEvent(trace[k], hosts))
		}
	}
	before := func(e sim.TraceEvent, t time.Duration, step int64) bool {
		return e.Time < t || (e.Time == t && e.Step < step)
	}
	lastCallback := -1 // kernel index of the callback the last network event followed
	for _, ne := range net {
		// Everything strictly before (time, step) comes first.
		for k < len(trace) && before(trace[k], ne.Time, ne.Step) {
			emitTo(k)
		}
		if ne.Task != 0 {
			// After the run event of this step, if not already past it.
			for j := k; j < len(trace) && trace[j].Time == ne.Time && trace[j].Step == ne.Step; j++ {
				if trace[j].Kind == sim.TraceRun {
					emitTo(j)
					break
				}
			}
		} else {
			newCallback := ne.Kind == netmodel.EventDeliver || (ne.Kind == netmodel.EventDrop && !continues(out, ne))
			if newCallback || !sameInstant(trace, lastCallback, ne) {
				for j := k; j < len(trace) && trace[j].Time == ne.Time && trace[j].Step == ne.Step; j++ {
					if trace[j].Kind == sim.TraceTimer && trace[j].Arg == evCall {
						emitTo(j)
						lastCallback = j
						break
					}
				}
			}
		}
		out = append(out, netEvent(ne))
	}
	emitTo(len(trace) - 1)
	return out
}

// continues reports whether drop ne is of the packet the timeline's last
// event sent (a send refused at once, in the same callback).
func continues(out []Event, ne netmodel.Event) bool {
	return len(out) > 0 && out[len(out)-1].Kind == "send" && out[len(out)-1].ID == ne.ID
}

func sameInstant(trace []sim.TraceEvent, i int, ne netmodel.Event) bool {
	return i >= 0 && i < len(trace) && trace[i].Time == ne.Time && trace[i].Step == ne.Step
}

// taskInfo is what the reports know of one task.
type taskInfo struct {
	ID     int
	Name   string
	Host   string
	Parent int
}

// tasks lists the run's tasks in creation order.
func (r *Run) tasks() []taskInfo {
	var out []taskInfo
	seen := map[int]bool{}
	for _, e := range r.Events {
		if e.Task == 0 || seen[e.Task] || e.IsNet() || e.Kind == KindFailure {
			continue
		}
		seen[e.Task] = true
		parent := 0
		if e.Kind == "spawn" {
			parent = int(e.Arg)
		}
		out = append(out, taskInfo{ID: e.Task, Name: e.TaskName, Host: e.Host, Parent: parent})
	}
	slices.SortStableFunc(out, func(a, b taskInfo) int { return a.ID - b.ID })
	return out
}
