package reports

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Perfetto trace layout (Chrome trace-event JSON, which the Perfetto UI and
// chrome://tracing load):
//
//   - timestamps are virtual time (ts in microseconds with nanosecond
//     decimals);
//   - process 1 is the simulation's own tasks; each host is a process
//     (2, 3, ... in the order hosts were added), its tasks are threads
//     (tid = task id) and its packets go on a "network" thread;
//   - a task's blocked intervals are slices named after what it waits for;
//     spawn, exit and notes are instants;
//   - each packet is a short slice on the sender's network thread and, if
//     delivered, on the receiver's, joined by a flow event (an arrow);
//     drops and duplicates are instants; faults and the failure are global
//     instants.
//
// Several packets sent by one host at the same virtual instant get slices
// 3 ns apart on its network thread (a flow arrow binds to the slice open
// at its timestamp, so each packet needs its own); nothing else is moved.
const (
	simPid     = 1
	netTidBase = 1 << 30 // network threads: netTidBase + host index
	packetNs   = 2       // a packet slice's length
)

// tsNs is a timestamp or duration in nanoseconds, written in microseconds.
type tsNs int64

func (t tsNs) MarshalJSON() ([]byte, error) {
	sign := ""
	if t < 0 {
		sign, t = "-", -t
	}
	return []byte(fmt.Sprintf("%s%d.%03d", sign, t/1000, t%1000)), nil
}

// chromeEvent is one trace event; see the Trace Event Format.
type chromeEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   tsNs           `json:"ts"`
	Dur  *tsNs          `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	ID   uint64         `json:"id,omitempty"`
	Bp   string         `json:"bp,omitempty"`
	S    string         `json:"s,omitempty"`
	Args map[string]any `json:"args,omitempty"`
}

type chromeTrace struct {
	TraceEvents     []chromeEvent  `json:"traceEvents"`
	DisplayTimeUnit string         `json:"displayTimeUnit"`
	OtherData       map[string]any `json:"otherData"`
}

// WritePerfetto writes the run as Chrome trace-event JSON.
func WritePerfetto(w io.Writer, r *Run) error {
	t := buildPerfetto(r)
	// One event per line: the file stays readable and diffable.
	bw := bufio.NewWriter(w)
	bw.WriteString("{\"traceEvents\":[\n")
	for i, e := range t.TraceEvents {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		bw.Write(data)
		if i < len(t.TraceEvents)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	other, err := json.Marshal(t.OtherData)
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, "],\n\"displayTimeUnit\":%q,\n\"otherData\":%s}\n", t.DisplayTimeUnit, other)
	return bw.Flush()
}

func buildPerfetto(r *Run) chromeTrace {
	hostPid := map[string]int{}
	var meta, evs []chromeEvent
	metaEv := func(name string, pid, tid int, args map[string]any) {
		meta = append(meta, chromeEvent{Name: name, Ph: "M", Pid: pid, Tid: tid, Args: args})
	}
	metaEv("process_name", simPid, 0, map[string]any{"name": "simulation " + r.Title()})
	metaEv("process_sort_index", simPid, 0, map[string]any{"sort_index": 0})
	for i, h := range r.Hosts {
		pid := simPid + 1 + i
		hostPid[h.Name] = pid
		metaEv("process_name", pid, 0, map[string]any{"name": "host " + h.Name})
		metaEv("process_labels", pid, 0, map[string]any{"labels": h.Addrs})
		metaEv("process_sort_index", pid, 0, map[string]any{"sort_index": i + 1})
		metaEv("thread_name", pid, netTidBase+i, map[string]any{"name": "network"})
		metaEv("thread_sort_index", pid, netTidBase+i, map[string]any{"sort_index": -1})
	}
	pidOf := func(host string) int {
		if p, ok := hostPid[host]; ok {
			return p
		}
		return simPid
	}
	taskPid := map[int]int{}
	for _, t := range r.tasks() {
		pid := pidOf(t.Host)
		taskPid[t.ID] = pid
		metaEv("thread_name", pid, t.ID, map[string]any{"name": fmt.Sprintf("%s (task %d)", t.Name, t.ID)})
		metaEv("thread_sort_index", pid, t.ID, map[string]any{"sort_index": t.ID})
	}

	// Deliveries per packet, so that a send starts exactly the flows that
	// end (a dropped packet has no arrow).
	deliveries := map[uint64]int{}
	for _, e := range r.Events {
		if e.Kind == "deliver" {
			deliveries[e.ID]++
		}
	}
	flowsStarted := map[uint64]int{}
	flowsEnded := map[uint64]int{}
	trackEnd := map[int]int64{} // network thread -> first free ns
	packetSlot := func(tid int, at int64, width int64) int64 {
		ts := max(at, trackEnd[tid])
		trackEnd[tid] = ts + width
		return ts
	}
	end := int64(r.Result.Elapsed)
	blockedSince := map[int]Event{}
	closeBlock := func(task int, at int64, woken bool) {
		b, ok := blockedSince[task]
		if !ok {
			return
		}
		delete(blockedSince, task)
		d := tsNs(at - b.TimeNs)
		args := map[string]any{"step": b.Step}
		if !woken {
			args["still_blocked_at_end"] = true
		}
		evs = append(evs, chromeEvent{Name: b.Detail, Cat: "task", Ph: "X", Ts: tsNs(b.TimeNs), Dur: &d,
			Pid: taskPid[task], Tid: task, Args: args})
	}
	hostIdx := func(h string) int { return hostPid[h] - simPid - 1 }
	for _, e := range r.Events {
		switch e.Kind {
		case "spawn", "exit", "note":
			name := e.Kind
			if e.Kind == "note" {
				name = "note: " + e.Detail
			}
			if e.Kind == "exit" {
				closeBlock(e.Task, e.TimeNs, true)
			}
			evs = append(evs, chromeEvent{Name: name, Cat: "task", Ph: "i", S: "t", Ts: tsNs(e.TimeNs),
				Pid: taskPid[e.Task], Tid: e.Task, Args: map[string]any{"step": e.Step}})
		case "block":
			blockedSince[e.Task] = e
		case "wake":
			closeBlock(e.Task, e.TimeNs, true)
		case "send":
			pid := pidOf(e.From)
			if pid == simPid {
				continue
			}
			tid := netTidBase + hostIdx(e.From)
			ts := packetSlot(tid, e.TimeNs, packetNs+1)
			d := tsNs(packetNs)
			args := map[string]any{"id": e.ID, "to": e.To, "src": e.Src, "dst": e.Dst, "size": e.Size, "step": e.Step}
			if e.TaskName != "" {
				args["task"] = e.TaskName
			}
			evs = append(evs, chromeEvent{Name: fmt.Sprintf("send %s → %s", e.Packet, e.To), Cat: "net", Ph: "X",
				Ts: tsNs(ts), Dur: &d, Pid: pid, Tid: tid, Args: args})
			for c := range deliveries[e.ID] {
				flowsStarted[e.ID]++
				evs = append(evs, chromeEvent{Name: "packet", Cat: "net", Ph: "s", Ts: tsNs(ts + 1),
					Pid: pid, Tid: tid, ID: e.ID<<1 | uint64(c)})
			}
		case "deliver":
			pid := pidOf(e.To)
			if pid == simPid {
				continue
			}
			tid := netTidBase + hostIdx(e.To)
			ts := packetSlot(tid, e.TimeNs, packetNs+1)
			d := tsNs(packetNs)
			evs = append(evs, chromeEvent{Name: fmt.Sprintf("recv %s ← %s", e.Packet, e.From), Cat: "net", Ph: "X",
				Ts: tsNs(ts), Dur: &d, Pid: pid, Tid: tid, Args: map[string]any{"id": e.ID, "from": e.From, "step": e.Step}})
			c := flowsEnded[e.ID]
			flowsEnded[e.ID]++
			if c < flowsStarted[e.ID] {
				evs = append(evs, chromeEvent{Name: "packet", Cat: "net", Ph: "f", Bp: "e", Ts: tsNs(ts + 1),
					Pid: pid, Tid: tid, ID: e.ID<<1 | uint64(c)})
			}
		case "drop", "duplicate":
			pid := pidOf(e.From)
			if pid == simPid {
				continue
			}
			tid := netTidBase + hostIdx(e.From)
			ts := packetSlot(tid, e.TimeNs, 1)
			name := e.Kind + " " + e.Packet + " → " + e.To
			if e.Cause != "" {
				name += " (" + e.Cause + ")"
			} else if e.Detail != "" {
				name += " (" + e.Detail + ")"
			}
			evs = append(evs, chromeEvent{Name: name, Cat: "net", Ph: "i", S: "t", Ts: tsNs(ts), Pid: pid, Tid: tid,
				Args: map[string]any{"id": e.ID, "step": e.Step}})
		case "fault":
			name := e.Fault
			if e.From != "" {
				name += " " + e.From
			}
			if e.Detail != "" {
				name += " " + e.Detail
			}
			ev := chromeEvent{Name: name, Cat: "fault", Ph: "i", S: "g", Ts: tsNs(e.TimeNs), Pid: simPid, Tid: 0,
				Args: map[string]any{"step": e.Step}}
			if p, ok := hostPid[e.From]; ok {
				ev.S, ev.Pid = "p", p
			}
			evs = append(evs, ev)
		case KindFailure:
			evs = append(evs, chromeEvent{Name: "FAIL " + e.Detail, Cat: "failure", Ph: "i", S: "g", Ts: tsNs(e.TimeNs),
				Pid: simPid, Tid: 0, Args: map[string]any{"step": e.Step, "task": e.TaskName}})
		}
	}
	// Tasks still blocked when the run ended.
	stillBlocked := mapsKeys(blockedSince)
	slices.Sort(stillBlocked)
	for _, task := range stillBlocked {
		closeBlock(task, end, false)
	}
	slices.SortStableFunc(evs, func(a, b chromeEvent) int { return int64Cmp(int64(a.Ts), int64(b.Ts)) })
	res := r.Result
	other := map[string]any{
		"scenario": r.Scenario, "variant": r.Variant, "seed": strconv.FormatUint(r.Seed, 10),
		"strategy": r.Strategy, "fingerprint": fmt.Sprintf("%016x", res.Fingerprint),
		"steps": res.Steps, "virtual_time_ns": int64(res.Elapsed), "replay": r.Replay,
		"timestamps": "virtual time; packets sent by one host at one instant are spread 3 ns apart",
	}
	if res.Failure != nil {
		other["failure"] = res.Failure.Kind.String() + ": " + res.Failure.Message
	}
	return chromeTrace{TraceEvents: append(meta, evs...), DisplayTimeUnit: "ns", OtherData: other}
}

func mapsKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func int64Cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
