package reports

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"
)

// DiagramOptions bound a space-time diagram. Zero fields take the defaults.
type DiagramOptions struct {
	// MaxRows is how many events the diagram shows; a longer run is shown
	// as a window of that many events: the ones leading up to the failure,
	// or the first ones of a passing run. 0 means 600.
	MaxRows int
	// MaxLanes bounds the lanes (hosts and tasks). When hosts and tasks
	// would need more, tasks fold into their host's lane, except the ones
	// the failure names. 0 means 40.
	MaxLanes int
	// MaxHosts bounds the hosts with a lane of their own; the least busy
	// others share one "other hosts" lane. 0 means 16.
	MaxHosts int
}

func (o DiagramOptions) withDefaults() DiagramOptions {
	o.MaxRows = cmp.Or(o.MaxRows, 600)
	o.MaxLanes = cmp.Or(o.MaxLanes, 40)
	o.MaxHosts = cmp.Or(o.MaxHosts, 16)
	return o
}

// Diagram is a rendered space-time diagram.
type Diagram struct {
	// SVG is a standalone SVG document (no XML declaration), fit to embed
	// in HTML.
	SVG string
	// Total is how many events the run has that a diagram can show; Shown
	// how many it shows (First to First+Shown-1, in timeline order).
	Total, Shown, First int
	// From and To are the virtual times of the first and last shown events.
	From, To time.Duration
	// Windowed is set when the run had more events than MaxRows;
	// AroundFailure when the window was placed around the failure.
	Windowed, AroundFailure bool
	// Lanes names the lanes, left to right.
	Lanes []string
	// FoldedTasks counts tasks drawn on their host's lane for lack of
	// room; FoldedHosts the hosts drawn on the "other hosts" lane.
	FoldedTasks, FoldedHosts int
	// Messages counts the packet arrows drawn; Collapsed the quiet
	// stretches shortened.
	Messages, Collapsed int
	// Failure is set when the failure is among the events shown: the SVG
	// marks it with id "failure".
	Failure bool
}

// Note says in one sentence what the diagram shows.
func (d Diagram) Note() string {
	if d.Total == 0 {
		return "The run recorded no events to draw."
	}
	s := fmt.Sprintf("Showing all %s events (t=%v to %v).", Count(d.Total), d.From, d.To)
	if d.Windowed {
		which := "the first ones"
		if d.AroundFailure {
			which = "the ones leading up to the failure and the start of the teardown"
		}
		s = fmt.Sprintf("The run has %s events, too many to draw: showing events %s to %s, %s (t=%v to %v). The -trace and -perfetto files have them all.",
			Count(d.Total), Count(d.First+1), Count(d.First+d.Shown), which, d.From, d.To)
	}
	if d.FoldedTasks > 0 {
		s += fmt.Sprintf(" %d tasks are drawn on their host's lane.", d.FoldedTasks)
	}
	if d.FoldedHosts > 0 {
		s += fmt.Sprintf(" %d less busy hosts share the lane \"other hosts\".", d.FoldedHosts)
	}
	if d.Collapsed > 0 {
		s += fmt.Sprintf(" %d quiet stretches are shortened (marked ≈).", d.Collapsed)
	}
	return s
}

// diagramKinds are the timeline events a diagram draws: packets, faults,
// the failure, and the tasks' lives (spawn, block, wake, exit, notes).
// Timers show as the wake they cause; run, advance and choice events are
// left to the trace.
func diagramKind(e Event) bool {
	switch e.Kind {
	case "send", "deliver", "drop", "duplicate", "fault", KindFailure,
		"spawn", "exit", "block", "wake", "note":
		return true
	}
	return false
}

type laneKind uint8

const (
	laneSim laneKind = iota + 1 // the simulation's own tasks, folded
	laneHost
	laneTask
	laneOthers // hosts without a lane of their own
)

type lane struct {
	kind laneKind
	name string
	host string // laneHost, laneTask
	task int    // laneTask
	x    float64
}

// Layout constants, in SVG user units (CSS pixels).
const (
	stLeft      = 96  // time axis labels
	stTop       = 130 // lane headers
	stHostGap   = 84  // between a host lane and the next lane
	stTaskGap   = 30  // between task lanes
	stRow       = 18  // one event row
	stTextWidth = 560 // the event descriptions right of the lanes
	stBreak     = 30  // a collapsed quiet stretch
	stBottom    = 40
)

// SpaceTime draws the run as a space-time diagram: one vertical lane per
// host (and per task where there is room), time going down, one row per
// event, packets as arrows from send to delivery, drops as crosses,
// partitions and other faults as bands, the failure as a red line.
func SpaceTime(r *Run, opts DiagramOptions) Diagram {
	opts = opts.withDefaults()
	var cand []int // indexes into r.Events of the drawable events
	for i, e := range r.Events {
		if diagramKind(e) {
			cand = append(cand, i)
		}
	}
	d := Diagram{Total: len(cand)}
	// The window: everything, or MaxRows events around the failure (most
	// of them before it, a tenth after: the start of the teardown), or the
	// first MaxRows of a passing run.
	first, last := 0, len(cand)
	if len(cand) > opts.MaxRows {
		d.Windowed = true
		last = opts.MaxRows
		for k, i := range cand {
			if r.Events[i].Kind == KindFailure {
				last = min(len(cand), k+1+opts.MaxRows/10)
				d.AroundFailure = true
				break
			}
		}
		first = max(0, last-opts.MaxRows)
		last = first + opts.MaxRows
	}
	win := cand[first:last]
	d.First, d.Shown = first, len(win)
	for _, i := range win {
		d.Failure = d.Failure || r.Events[i].Kind == KindFailure
	}
	if len(win) > 0 {
		d.From, d.To = r.Events[win[0]].Time(), r.Events[win[len(win)-1]].Time()
	}
	st := newSpaceTime(r, win, opts)
	d.Lanes = make([]string, len(st.lanes))
	for i, l := range st.lanes {
		d.Lanes[i] = l.name
	}
	d.FoldedTasks, d.FoldedHosts = st.foldedTasks, st.foldedHosts
	d.SVG = st.render()
	d.Messages, d.Collapsed = st.messages, st.collapsed
	return d
}

// spaceTime is one diagram being laid out.
type spaceTime struct {
	r     *Run
	win   []int // r.Events indexes shown, in order
	lanes []lane
	// laneOfTask and laneOfHost map to lane indexes.
	laneOfTask map[int]int
	laneOfHost map[string]int
	simLane    int // -1 if none
	othersLane int // -1 if none

	rowY        []float64       // y of each shown row
	rowOf       map[int]int     // r.Events index -> row
	breaks      []float64       // y of collapsed stretches (their middle)
	breakLabels []string        // their lengths
	top, bottom float64         // y of the first and past the last row
	width       float64         // of the lanes area
	taskNames   map[int]string  // every task's name
	taskHost    map[int]string  // every task's host
	byTimer     map[int]bool    // wake events caused by a timer
	important   map[string]bool // task names the failure names

	foldedTasks, foldedHosts int
	messages, collapsed      int
}

func newSpaceTime(r *Run, win []int, opts DiagramOptions) *spaceTime {
	st := &spaceTime{
		r: r, win: win, laneOfTask: map[int]int{}, laneOfHost: map[string]int{},
		simLane: -1, othersLane: -1, rowOf: map[int]int{},
		taskNames: map[int]string{}, taskHost: map[int]string{}, byTimer: map[int]bool{}, important: map[string]bool{},
	}
	for _, t := range r.tasks() {
		st.taskNames[t.ID], st.taskHost[t.ID] = t.Name, t.Host
	}
	for i, e := range r.Events {
		if e.Kind == "wake" && i > 0 {
			if p := r.Events[i-1]; p.Kind == "timer" && p.Detail != "call" && p.Step == e.Step {
				st.byTimer[i] = true
			}
		}
	}
	if f := r.Result.Failure; f != nil {
		if f.Task != "" {
			st.important[f.Task] = true
		}
		for _, b := range f.Blocked {
			st.important[b.Name] = true
		}
	}
	st.layoutLanes(opts)
	st.layoutRows()
	return st
}

// layoutLanes picks the lanes: the simulation's tasks first, then each host
// followed by its tasks; hosts beyond MaxHosts fold into "other hosts",
// tasks beyond MaxLanes into their host's lane.
func (st *spaceTime) layoutLanes(opts DiagramOptions) {
	r := st.r
	// Activity in the window, per host and per task.
	hostAct := map[string]int{}
	taskAct := map[int]int{}
	var taskOrder []int
	for _, i := range st.win {
		e := r.Events[i]
		if e.IsNet() {
			hostAct[e.From]++
			if e.To != "" {
				hostAct[e.To]++
			}
			continue
		}
		if e.Task != 0 {
			if taskAct[e.Task] == 0 {
				taskOrder = append(taskOrder, e.Task)
			}
			taskAct[e.Task]++
			hostAct[st.taskHost[e.Task]]++
		}
	}
	// Tasks alive across the window (spawned before, still alive after)
	// with nothing in it still get a lane if they are blocked: what they
	// wait on often is the bug. Keep it simple: only tasks with events in
	// the window, plus the ones the failure names.
	if len(st.important) > 0 {
		alive := st.aliveAtEnd()
		for id, name := range st.taskNames {
			if st.important[name] && taskAct[id] == 0 && alive[id] {
				taskOrder = append(taskOrder, id)
				taskAct[id] = 1
			}
		}
	}
	slices.Sort(taskOrder)
	importantHost := map[string]bool{}
	for id, name := range st.taskNames {
		if st.important[name] && st.taskHost[id] != "" {
			importantHost[st.taskHost[id]] = true
		}
	}

	shownHost := map[string]bool{}
	if len(r.Hosts) <= opts.MaxHosts {
		for _, h := range r.Hosts {
			shownHost[h.Name] = true
		}
	} else {
		type hc struct {
			idx, n int
			name   string
		}
		var hs []hc
		for i, h := range r.Hosts {
			n := hostAct[h.Name]
			if importantHost[h.Name] {
				n += 1 << 30 // the failure's hosts first
			}
			hs = append(hs, hc{i, n, h.Name})
		}
		slices.SortFunc(hs, func(a, b hc) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.idx, b.idx)) })
		for _, h := range hs[:opts.MaxHosts-1] {
			shownHost[h.name] = true
		}
		st.foldedHosts = len(r.Hosts) - (opts.MaxHosts - 1)
	}
	nHostLanes := len(shownHost)
	if st.foldedHosts > 0 {
		nHostLanes++
	}
	// Tasks get lanes if there is room for all; else only the important
	// ones (and main), as room allows.
	ownLane := map[int]bool{}
	room := opts.MaxLanes - nHostLanes - 1 // -1: a folded simulation lane
	eligible := func(id int) bool {
		h := st.taskHost[id]
		return h == "" || shownHost[h]
	}
	var elig []int
	for _, id := range taskOrder {
		if eligible(id) {
			elig = append(elig, id)
		}
	}
	if len(elig) <= room+1 {
		for _, id := range elig {
			ownLane[id] = true
		}
	} else {
		for _, id := range elig {
			if room > 0 && (st.important[st.taskNames[id]] || id == 1) {
				ownLane[id] = true
				room--
			}
		}
	}
	for _, id := range taskOrder {
		if !ownLane[id] {
			st.foldedTasks++
		}
	}

	add := func(l lane) int {
		st.lanes = append(st.lanes, l)
		return len(st.lanes) - 1
	}
	// The simulation's own tasks.
	simFolded := false
	for _, id := range taskOrder {
		if st.taskHost[id] != "" {
			continue
		}
		if ownLane[id] {
			st.laneOfTask[id] = add(lane{kind: laneTask, name: st.taskNames[id], task: id})
		} else {
			simFolded = true
		}
	}
	if simFolded {
		st.simLane = add(lane{kind: laneSim, name: "simulation"})
		for _, id := range taskOrder {
			if st.taskHost[id] == "" && !ownLane[id] {
				st.laneOfTask[id] = st.simLane
			}
		}
	}
	for _, h := range r.Hosts {
		if !shownHost[h.Name] {
			continue
		}
		hl := add(lane{kind: laneHost, name: h.Name, host: h.Name})
		st.laneOfHost[h.Name] = hl
		for _, id := range taskOrder {
			if st.taskHost[id] != h.Name {
				continue
			}
			if ownLane[id] {
				st.laneOfTask[id] = add(lane{kind: laneTask, name: st.taskNames[id], host: h.Name, task: id})
			} else {
				st.laneOfTask[id] = hl
			}
		}
	}
	if st.foldedHosts > 0 {
		st.othersLane = add(lane{kind: laneOthers, name: fmt.Sprintf("other hosts (%d)", st.foldedHosts)})
		for _, h := range r.Hosts {
			if !shownHost[h.Name] {
				st.laneOfHost[h.Name] = st.othersLane
			}
		}
		for _, id := range taskOrder {
			if h := st.taskHost[id]; h != "" && !shownHost[h] {
				st.laneOfTask[id] = st.othersLane
			}
		}
	}
	// x positions: a wide gap before each host (and group) lane, a narrow
	// one between a host and its tasks.
	// With many lanes the gaps shrink, so the diagram stays about as wide
	// as a screen.
	hostGap := math.Max(40, math.Min(stHostGap, 1100/float64(max(len(st.lanes), 1))))
	x := float64(stLeft) + 40
	for i := range st.lanes {
		if i > 0 {
			if st.lanes[i].kind == laneTask && st.lanes[i].host != "" {
				x += stTaskGap
			} else if st.lanes[i].kind == laneTask && st.lanes[i-1].kind == laneTask && st.lanes[i-1].host == "" {
				x += stTaskGap
			} else {
				x += hostGap
			}
		}
		st.lanes[i].x = x
	}
	st.width = x + 60
	if len(st.lanes) == 0 {
		st.width = stLeft + 100
	}
}

// aliveAtEnd returns the tasks spawned and not exited by the end of the
// timeline.
func (st *spaceTime) aliveAtEnd() map[int]bool {
	alive := map[int]bool{}
	for _, e := range st.r.Events {
		if e.Task == 0 || e.IsNet() {
			continue
		}
		switch e.Kind {
		case "spawn":
			alive[e.Task] = true
		case "exit":
			delete(alive, e.Task)
		}
	}
	return alive
}

// layoutRows gives each shown event a y: one row each, plus a gap that
// grows with the logarithm of the virtual time between rows, so that a
// burst at one instant stays tight and a long quiet stretch does not take
// the page; stretches longer than a twentieth of the window (and 1 ms) are
// collapsed to a fixed break marked with their length.
func (st *spaceTime) layoutRows() {
	y := float64(stTop) + 10
	st.top = y - 6
	var span time.Duration
	if n := len(st.win); n > 0 {
		span = st.r.Events[st.win[n-1]].Time() - st.r.Events[st.win[0]].Time()
	}
	breakMin := max(span/20, time.Millisecond)
	var prev time.Duration
	for k, i := range st.win {
		t := st.r.Events[i].Time()
		if k > 0 {
			dt := t - prev
			switch {
			case dt >= breakMin && dt > 0:
				st.breaks = append(st.breaks, y+stBreak/2-stRow/2)
				st.breakLabels = append(st.breakLabels, "≈ "+fmtDur(dt)+" later")
				y += stBreak
				st.collapsed++
			case dt > 0:
				// 2 px at 1 µs up to ~24 px at 1 s.
				y += math.Min(24, 2+3.3*math.Log10(1+float64(dt)/float64(time.Microsecond)))
			}
		}
		st.rowOf[i] = k
		st.rowY = append(st.rowY, y)
		y += stRow
		prev = t
	}
	st.bottom = y
}

// fmtDur renders a duration briefly: 3 significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return trimFloat(float64(d)/1e3) + "µs"
	case d < time.Second:
		return trimFloat(float64(d)/1e6) + "ms"
	default:
		return trimFloat(float64(d)/1e9) + "s"
	}
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	if strings.ContainsAny(s, "e") {
		s = fmt.Sprintf("%.0f", v)
	}
	return s
}

// laneOfEvent is the lane an event is drawn on (-1: none).
func (st *spaceTime) laneOfEvent(e Event) int {
	switch e.Kind {
	case "send", "drop", "duplicate":
		return st.hostLane(e.From)
	case "deliver":
		return st.hostLane(e.To)
	case "fault":
		if e.From != "" {
			return st.hostLane(e.From)
		}
		return -1
	case KindFailure:
		// The failing task's lane; the last task of that name if a host
		// restarted and made it again.
		ids := mapsKeys(st.taskNames)
		slices.Sort(ids)
		for _, id := range slices.Backward(ids) {
			if st.taskNames[id] == e.TaskName {
				if l, ok := st.laneOfTask[id]; ok {
					return l
				}
			}
		}
		return -1
	}
	if l, ok := st.laneOfTask[e.Task]; ok {
		return l
	}
	return -1
}

func (st *spaceTime) hostLane(h string) int {
	if l, ok := st.laneOfHost[h]; ok {
		return l
	}
	return -1
}

// svgBuilder accumulates SVG markup.
type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// esc escapes text for XML and HTML.
func esc(s string) string { return html.EscapeString(s) }

// num formats a coordinate.
func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// Colours of the diagram, also used by the legend.
const (
	colUDP       = "#2563eb"
	colTCP       = "#059669"
	colControl   = "#7c3aed"
	colDrop      = "#dc2626"
	colPartition = "#ea580c"
	colFault     = "#ea580c"
	colFail      = "#b91c1c"
	colTask      = "#334155"
	colBlocked   = "#94a3b8"
)

func packetColour(p string) string {
	switch p {
	case "udp":
		return colUDP
	case "tcp":
		return colTCP
	}
	return colControl
}

func (st *spaceTime) render() string {
	r := st.r
	var b svgBuilder
	height := st.bottom + stBottom
	width := st.width + stTextWidth
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="spacetime" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif" font-size="11">`,
		num(width), num(height), num(width), num(height))
	b.f("\n<title>%s</title>\n", esc("space-time diagram of "+r.Title()))
	b.f(`<defs>`)
	for _, c := range []struct{ id, col string }{{"udp", colUDP}, {"tcp", colTCP}, {"ctl", colControl}, {"out", "#64748b"}} {
		b.f(`<marker id="arr-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`, c.id, c.col)
	}
	b.f("</defs>\n")
	b.f(`<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(width), num(height))

	// Collapsed stretches: a band across everything.
	for i, y := range st.breaks {
		b.f(`<g class="break"><rect x="0" y="%s" width="%s" height="%d" fill="#f1f5f9"/><text x="%s" y="%s" fill="#475569" font-style="italic">%s</text></g>`+"\n",
			num(y-stBreak/2+4), num(width), stBreak-8, num(float64(stLeft)+8), num(y+4), esc(st.breakLabels[i]))
	}
	st.renderLanes(&b)
	st.renderAxis(&b)
	st.renderFaults(&b)
	st.renderMessages(&b)
	st.renderMarks(&b)
	b.f("</svg>\n")
	return b.String()
}

// renderLanes draws the lane headers and lifelines: host lanes solid (red
// dashes while the host is down), task lanes from spawn to exit, thin and
// grey while blocked.
func (st *spaceTime) renderLanes(b *svgBuilder) {
	r := st.r
	firstIdx, lastIdx := 0, len(r.Events)
	if len(st.win) > 0 {
		firstIdx, lastIdx = st.win[0], st.win[len(st.win)-1]+1
	}
	yOf := func(i int) float64 { // y of r.Events index i, clamped to the window
		if k, ok := st.rowOf[i]; ok {
			return st.rowY[k]
		}
		if i < firstIdx {
			return st.top
		}
		return st.bottom
	}
	for li, l := range st.lanes {
		cls := map[laneKind]string{laneSim: "sim", laneHost: "host", laneTask: "task", laneOthers: "others"}[l.kind]
		b.f(`<g class="lane lane-%s" data-lane="%s">`, cls, esc(l.name))
		weight, colour := "bold", "#0f172a"
		if l.kind == laneTask {
			weight, colour = "normal", colTask
		}
		label := l.name
		if l.kind == laneTask && l.host != "" {
			label = strings.TrimPrefix(l.name, l.host+"/")
		}
		if len(label) > 28 {
			label = label[:27] + "…"
		}
		b.f(`<text x="%s" y="%d" transform="rotate(-55 %s %d)" font-weight="%s" fill="%s"><title>%s</title>%s</text>`,
			num(l.x+3), stTop-12, num(l.x+3), stTop-12, weight, colour, esc(l.name), esc(label))
		switch l.kind {
		case laneHost, laneOthers, laneSim:
			b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#0f172a" stroke-width="2.5"/>`, num(l.x), num(st.top), num(l.x), num(st.bottom))
			if l.kind == laneHost {
				// Down between crash and restart.
				downFrom := -1
				wasDown := false
				for i, e := range r.Events[:lastIdx] {
					if e.Kind != "fault" || e.From != l.host {
						continue
					}
					switch e.Fault {
					case "crash":
						downFrom, wasDown = i, true
					case "restart":
						if wasDown && i >= firstIdx {
							b.f(`<line class="down" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="6" stroke-dasharray="4 3"><title>%s down</title></line>`,
								num(l.x), num(yOf(downFrom)), num(l.x), num(yOf(i)), colFail, esc(l.host))
						}
						wasDown = false
					}
				}
				if wasDown {
					b.f(`<line class="down" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="6" stroke-dasharray="4 3"><title>%s down</title></line>`,
						num(l.x), num(yOf(downFrom)), num(l.x), num(st.bottom), colFail, esc(l.host))
				}
			}
		case laneTask:
			st.renderTaskLife(b, l, yOf, lastIdx)
		}
		b.f("</g>\n")
		_ = li
	}
}

// renderTaskLife draws one task's lifeline within the window.
func (st *spaceTime) renderTaskLife(b *svgBuilder, l lane, yOf func(int) float64, lastIdx int) {
	r := st.r
	alive, blocked := false, false
	from := 0 // r.Events index where the current segment started
	blockedOn := ""
	seg := func(to int, isBlocked bool, what string) {
		y1, y2 := yOf(from), yOf(to)
		if y2 <= y1 {
			return
		}
		if isBlocked {
			b.f(`<line class="blocked" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="3 3"><title>%s blocked on %s</title></line>`,
				num(l.x), num(y1), num(l.x), num(y2), colBlocked, esc(l.name), esc(what))
		} else {
			b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/>`, num(l.x), num(y1), num(l.x), num(y2), colTask)
		}
	}
	for i, e := range r.Events[:lastIdx] {
		if e.Task != l.task || e.IsNet() || e.Kind == KindFailure {
			continue
		}
		switch e.Kind {
		case "spawn":
			alive, blocked, from = true, false, i
		case "block":
			if alive {
				seg(i, false, "")
			}
			blocked, from, blockedOn = true, i, e.Detail
		case "wake":
			if alive {
				seg(i, true, blockedOn)
			}
			blocked, from = false, i
		case "exit":
			if alive {
				seg(i, blocked, blockedOn)
			}
			alive = false
		}
	}
	if alive {
		seg(len(r.Events), blocked, blockedOn)
	}
}

// renderAxis writes the virtual time at rows where it changed, and each
// row's description right of the lanes.
func (st *spaceTime) renderAxis(b *svgBuilder) {
	r := st.r
	lastLabel := -100.0
	var prev time.Duration = -1
	b.f(`<g class="axis" fill="#475569">`)
	for k, i := range st.win {
		e := r.Events[i]
		y := st.rowY[k]
		if e.Time() != prev && y-lastLabel >= 13 {
			b.f(`<text x="%d" y="%s" text-anchor="end">%s</text>`, stLeft-6, num(y+4), esc(fmtTime(e.Time())))
			b.f(`<line x1="%d" y1="%s" x2="%s" y2="%s" stroke="#e2e8f0" stroke-width="0.5"/>`, stLeft, num(y), num(st.width), num(y))
			lastLabel = y
		}
		prev = e.Time()
	}
	b.f("</g>\n")
	b.f(`<g class="rows" font-family="monospace" font-size="10.5">`)
	for k, i := range st.win {
		e := r.Events[i]
		text, colour := st.describe(i, e)
		full := text
		if len([]rune(text)) > 84 {
			text = string([]rune(text)[:83]) + "…"
		}
		b.f(`<text x="%s" y="%s" fill="%s"><title>%s</title>%s</text>`, num(st.width+10), num(st.rowY[k]+4), colour,
			esc(fmt.Sprintf("step %d, t=%v: %s", e.Step, e.Time(), full)), esc(text))
	}
	b.f("</g>\n")
}

// fmtTime renders a virtual time for the axis.
func fmtTime(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return (d.Round(time.Microsecond)).String()
}

// describe is a row's text and colour.
func (st *spaceTime) describe(i int, e Event) (string, string) {
	switch e.Kind {
	case "send":
		s := fmt.Sprintf("%s → %s %s", e.From, e.To, e.Packet)
		if e.Size > 0 {
			s += fmt.Sprintf(" %dB", e.Size)
		}
		if e.TaskName != "" {
			s += " by " + e.TaskName
		}
		return s + fmt.Sprintf(" #%d", e.ID), packetColour(e.Packet)
	case "deliver":
		return fmt.Sprintf("%s ← %s %s delivered #%d", e.To, e.From, e.Packet, e.ID), packetColour(e.Packet)
	case "drop":
		why := e.Cause
		if why == "" {
			why = e.Detail
		}
		col := colDrop
		if e.Cause == "partition" {
			col = colPartition
		}
		return fmt.Sprintf("✕ %s → %s %s dropped: %s #%d", e.From, e.To, e.Packet, why, e.ID), col
	case "duplicate":
		return fmt.Sprintf("%s → %s %s duplicated #%d", e.From, e.To, e.Packet, e.ID), packetColour(e.Packet)
	case "fault":
		s := "FAULT " + e.Fault
		if e.From != "" {
			s += " " + e.From
		}
		if e.Detail != "" {
			s += " " + e.Detail
		}
		return s, colFault
	case KindFailure:
		return "FAIL " + e.Detail, colFail
	case "spawn":
		s := "spawn " + e.TaskName
		if p := int(e.Arg); p != 0 {
			s += " by " + st.taskNames[p]
		}
		return s, colTask
	case "exit":
		return "exit " + e.TaskName, colTask
	case "block":
		return e.TaskName + " blocks: " + e.Detail, "#64748b"
	case "wake":
		if st.byTimer[i] {
			return e.TaskName + " wakes (timer)", colTask
		}
		return e.TaskName + " wakes", colTask
	case "note":
		return e.TaskName + " note: " + e.Detail, colTask
	}
	return e.Kind, colTask
}

// renderFaults draws faults as bands across all lanes (a host's crash and
// restart on its lane), and the failure as a red line.
func (st *spaceTime) renderFaults(b *svgBuilder) {
	r := st.r
	for k, i := range st.win {
		e := r.Events[i]
		y := st.rowY[k]
		switch e.Kind {
		case "fault":
			label := e.Fault
			if e.Detail != "" {
				label += " " + e.Detail
			}
			if l := st.laneOfEvent(e); l >= 0 {
				x := st.lanes[l].x
				b.f(`<g class="fault" data-fault="%s"><rect x="%s" y="%s" width="16" height="12" fill="%s"/><text x="%s" y="%s" fill="%s" font-weight="bold">%s</text></g>`+"\n",
					esc(e.Fault), num(x-8), num(y-6), colFault, num(x+12), num(y+4), colFault, esc(label))
				continue
			}
			b.f(`<g class="fault" data-fault="%s"><rect x="%d" y="%s" width="%s" height="6" fill="%s" opacity="0.35"/><text x="%d" y="%s" fill="%s" font-weight="bold">%s</text></g>`+"\n",
				esc(e.Fault), stLeft, num(y-3), num(st.width-stLeft), colFault, stLeft+4, num(y-5), colFault, esc(label))
		case KindFailure:
			b.f(`<g class="failure" id="failure"><line x1="%d" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>`, stLeft, num(y), num(st.width), num(y), colFail)
			if l := st.laneOfEvent(e); l >= 0 {
				x := st.lanes[l].x
				b.f(`<circle cx="%s" cy="%s" r="7" fill="%s"/>`, num(x), num(y), colFail)
			}
			b.f(`<text x="%d" y="%s" fill="%s" font-weight="bold">%s</text>`, stLeft+4, num(y-5), colFail, esc("FAIL "+e.Detail))
			if k+1 < len(st.win) {
				b.f(`<text x="%d" y="%s" fill="#64748b" font-style="italic">below: the teardown (remaining tasks unwound, their deferred calls run)</text>`, stLeft+4, num(y+13))
			}
			b.f("</g>\n")
		}
	}
}

// renderMessages draws every packet with an end in the window: an arrow
// from send to delivery (dashed from the top edge if sent before the
// window, to the bottom edge if delivered after it or still in flight at
// the end), and a line ending in a cross for a drop.
func (st *spaceTime) renderMessages(b *svgBuilder) {
	r := st.r
	type packet struct {
		send  int   // r.Events index of the send, -1 if not recorded
		ends  []int // deliveries and drops
		dup   bool
		shown bool // some part in the window
	}
	packets := map[uint64]*packet{}
	var order []uint64
	for i, e := range r.Events {
		if e.ID == 0 {
			continue
		}
		p := packets[e.ID]
		if p == nil {
			p = &packet{send: -1}
			packets[e.ID] = p
			order = append(order, e.ID)
		}
		switch e.Kind {
		case "send":
			p.send = i
		case "deliver", "drop":
			p.ends = append(p.ends, i)
		case "duplicate":
			p.dup = true
		}
		if _, ok := st.rowOf[i]; ok {
			p.shown = true
		}
	}
	firstIdx := 0
	if len(st.win) > 0 {
		firstIdx = st.win[0]
	}
	yOf := func(i int) (float64, bool) {
		if k, ok := st.rowOf[i]; ok {
			return st.rowY[k], true
		}
		if i < firstIdx {
			return st.top, false
		}
		return st.bottom, false
	}
	b.f(`<g class="messages" fill="none">` + "\n")
	for _, id := range order {
		p := packets[id]
		if !p.shown || p.send < 0 {
			continue
		}
		s := r.Events[p.send]
		from, to := st.hostLane(s.From), st.hostLane(s.To)
		if from < 0 || to < 0 {
			continue
		}
		x1, x2 := st.lanes[from].x, st.lanes[to].x
		y1, sendIn := yOf(p.send)
		col := packetColour(s.Packet)
		marker := map[string]string{"udp": "udp", "tcp": "tcp"}[s.Packet]
		if marker == "" {
			marker = "ctl"
		}
		info := fmt.Sprintf("%s %s → %s #%d", s.Packet, s.Src, s.Dst, s.ID)
		if s.Size > 0 {
			info += fmt.Sprintf(", %d bytes", s.Size)
		}
		info += fmt.Sprintf(", sent t=%v", s.Time())
		ends := p.ends
		if len(ends) == 0 {
			ends = []int{len(r.Events)} // in flight when the run ended
		}
		for n, ei := range ends {
			y2, endIn := yOf(ei)
			if !sendIn && !endIn {
				continue
			}
			dash := ""
			if !sendIn || !endIn {
				dash = ` stroke-dasharray="5 4"`
			}
			dupCls := ""
			if p.dup && n > 0 {
				dupCls = " dup"
			}
			lx2 := x2
			if x1 == x2 {
				lx2 = x1 + 28 // loopback or one folded lane: a visible hook
			}
			if ei == len(r.Events) {
				st.messages++
				b.f(`<line class="msg %s inflight" data-id="%d" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.3"%s marker-end="url(#arr-out)"><title>%s, still in flight at the end</title></line>`+"\n",
					esc(s.Packet), id, num(x1), num(y1), num(lx2), num(y2), col, ` stroke-dasharray="5 4"`, esc(info))
				continue
			}
			e := r.Events[ei]
			if e.Kind == "deliver" {
				st.messages++
				what := fmt.Sprintf("%s, delivered t=%v (after %v)", info, e.Time(), e.Time()-s.Time())
				if dupCls != "" {
					what += ", the duplicate"
				}
				b.f(`<line class="msg %s%s" data-id="%d" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"%s marker-end="url(#arr-%s)"><title>%s</title></line>`+"\n",
					esc(s.Packet), dupCls, id, num(x1), num(y1), num(lx2), num(y2), col, dash, marker, esc(what))
				if dupCls != "" {
					b.f(`<text x="%s" y="%s" fill="%s" font-size="9">dup</text>`+"\n", num((x1+lx2)/2+4), num((y1+y2)/2), col)
				}
				continue
			}
			// A drop: a line most of the way towards the receiver, then ✕.
			dcol := colDrop
			if e.Cause == "partition" {
				dcol = colPartition
			}
			mx := x1 + (lx2-x1)*0.55
			if y2 == y1 {
				y2 = y1 + 6
			}
			why := e.Cause
			if why == "" {
				why = e.Detail
			}
			st.messages++
			b.f(`<g class="msg drop %s" data-id="%d" data-cause="%s"><title>%s, dropped t=%v: %s</title><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1.5"%s/><path d="M%s,%s l8,8 M%s,%s l-8,8" stroke="%s" stroke-width="2.5"/></g>`+"\n",
				esc(s.Packet), id, esc(why), esc(info), e.Time(), esc(why), num(x1), num(y1), num(mx), num(y2), dcol, dash,
				num(mx-4), num(y2-4), num(mx+4), num(y2-4), dcol)
		}
	}
	b.f("</g>\n")
}

// renderMarks draws the task events on their lanes: spawn (circle), exit
// (square), block (hollow), wake (filled; a clock when a timer woke it),
// notes (diamond).
func (st *spaceTime) renderMarks(b *svgBuilder) {
	r := st.r
	b.f(`<g class="marks">` + "\n")
	for k, i := range st.win {
		e := r.Events[i]
		y := st.rowY[k]
		var x float64
		switch e.Kind {
		case "spawn", "exit", "block", "wake", "note":
			l := st.laneOfEvent(e)
			if l < 0 {
				continue
			}
			x = st.lanes[l].x
		default:
			continue
		}
		title := esc(fmt.Sprintf("step %d, t=%v: %s", e.Step, e.Time(), func() string { s, _ := st.describe(i, e); return s }()))
		switch e.Kind {
		case "spawn":
			b.f(`<circle class="mark spawn" cx="%s" cy="%s" r="4" fill="#ffffff" stroke="%s" stroke-width="2"><title>%s</title></circle>`, num(x), num(y), colTask, title)
		case "exit":
			b.f(`<rect class="mark exit" x="%s" y="%s" width="8" height="8" fill="%s"><title>%s</title></rect>`, num(x-4), num(y-4), colTask, title)
		case "block":
			b.f(`<circle class="mark block" cx="%s" cy="%s" r="3.5" fill="#ffffff" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`, num(x), num(y), colBlocked, title)
		case "wake":
			if st.byTimer[i] {
				b.f(`<g class="mark wake timer"><title>%s</title><circle cx="%s" cy="%s" r="5" fill="#fef3c7" stroke="#b45309" stroke-width="1.2"/><path d="M%s,%s v-3 M%s,%s h2.5" stroke="#b45309" stroke-width="1.2"/></g>`,
					title, num(x), num(y), num(x), num(y), num(x), num(y))
			} else {
				b.f(`<circle class="mark wake" cx="%s" cy="%s" r="3" fill="%s"><title>%s</title></circle>`, num(x), num(y), colTask, title)
			}
		case "note":
			b.f(`<path class="mark note" d="M%s,%s l5,5 l-5,5 l-5,-5 z" fill="#0ea5e9"><title>%s</title></path>`, num(x), num(y-5), title)
		}
		b.f("\n")
	}
	b.f("</g>\n")
}
