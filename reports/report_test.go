package reports_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/reports"
	_ "github.com/detsim/detsim/scenarios" // the project's scenarios, for fingerprint checks
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// A small scenario with every kind of network event: datagrams over a
// duplicating link, one dropped by a partition, a stream (SYN, data, FIN),
// a crash; its buggy variant fails at the end.
func init() {
	scenario.Register(&scenario.Scenario{
		Name:        "zz-reports-ping",
		Description: "Test only: three hosts, datagrams over a duplicating link, a partition, a stream and a crash.",
		Variants:    []scenario.Variant{{Name: "fixed"}, {Name: "buggy", Buggy: true}},
		Probes:      []string{"duplicated"},
		Seeds:       10,
		Main:        pingMain,
	})
}

func pingMain(r *scenario.Run) {
	nw := r.Network(netmodel.Options{})
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(nw.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"),
		netmodel.Link{Latency: netmodel.Constant(time.Millisecond), Duplicate: 0.5}))
	got := 0
	_, err := nw.AddHost("b", func(env netmodel.Env) {
		pc, err := env.Net().ListenPacket("udp", ":7")
		must(err)
		ln, err := env.Net().Listen("tcp", ":80")
		must(err)
		env.Go("echo", func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Write(buf[:n])
			c.Close()
		})
		buf := make([]byte, 64)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			got++
		}
	}, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.2")})
	must(err)
	a, err := nw.AddHost("a", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	must(err)
	_, err = nw.AddHost("c", func(env netmodel.Env) { env.Sleep(time.Hour) }, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.3")})
	must(err)
	env := a.Env()
	pc, err := env.Net().ListenPacket("udp", ":0")
	must(err)
	to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 7}
	for range 4 {
		pc.WriteTo([]byte("ping"), to)
		r.W.Sleep(time.Millisecond)
	}
	must(nw.Partition([]string{"a"}, []string{"b"}))
	pc.WriteTo([]byte("lost"), to)
	r.W.Sleep(5 * time.Millisecond)
	nw.Heal()
	c, err := env.Net().Dial("tcp", "10.0.0.2:80")
	must(err)
	c.Write([]byte("hello"))
	buf := make([]byte, 64)
	c.Read(buf)
	c.Close()
	must(nw.Crash("c"))
	r.W.Sleep(10 * time.Millisecond)
	r.Sometimes("duplicated", got > 4)
	r.Metric("received", float64(got))
	if r.Is("buggy") {
		r.Violate("all-received", "b received %d datagrams, want 5", got)
	}
}

// record runs a config with a Recorder and returns the report data.
func record(t *testing.T, name, variant string, seed uint64) (*reports.Run, scenario.Outcome) {
	t.Helper()
	sc, err := scenario.Lookup(name)
	require.NoError(t, err)
	var rec reports.Recorder
	o, err := scenario.Execute(rec.Instrument(scenario.Config{Scenario: sc, Variant: variant, Seed: seed}))
	require.NoError(t, err)
	return reports.NewRun(o, rec.Network()), o
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./reports/ -update to create it")
	if !bytes.Equal(want, got) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
		for i := range max(len(wl), len(gl)) {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("%s differs at line %d (rerun with -update if the change is intended):\nwant: %s\ngot:  %s", path, i+1, w, g)
			}
		}
		t.Fatalf("%s differs (%d bytes, got %d; rerun with -update if the change is intended)", path, len(want), len(got))
	}
}

func TestRecordingKeepsTheFingerprint(t *testing.T) {
	for _, c := range []struct {
		name, variant string
		seed          uint64
	}{
		{"zz-reports-ping", "buggy", 1}, {"gossip-smoke", "buggy", 7}, {"gossip-smoke", "fixed", 3},
		{"pickfirst", "buggy", 0}, {"discovery", "buggy", 0}, {"counter-race", "buggy", 2},
		{"priority", "fixed", 1}, // pct:1 with +delay: no calibration run
	} {
		sc, err := scenario.Lookup(c.name)
		require.NoError(t, err)
		cfg := scenario.Config{Scenario: sc, Variant: c.variant, Seed: c.seed}
		plain, err := scenario.Execute(cfg)
		require.NoError(t, err)
		run, seen := record(t, c.name, c.variant, c.seed)
		require.Equal(t, plain.Result.Fingerprint, seen.Result.Fingerprint, "%+v: recording changed the run", c)
		require.Equal(t, plain.Result.Steps, seen.Result.Steps)
		assert.Equal(t, plain.Result.Failure == nil, seen.Result.Failure == nil)
		if c.name != "counter-race" {
			assert.NotEmpty(t, run.Hosts, "%+v: the network was observed", c)
		}
	}
	// A PCT strategy without a horizon runs the seed twice (calibration
	// first): the recording is of the second run.
	sc, _ := scenario.Lookup("gossip-smoke")
	pct := sim.Strategy{Kind: sim.PCT, Depth: 3}
	cfg := scenario.Config{Scenario: sc, Variant: "buggy", Seed: 5, Strategy: &pct}
	plain, err := scenario.Execute(cfg)
	require.NoError(t, err)
	var rec reports.Recorder
	seen, err := scenario.Execute(rec.Instrument(cfg))
	require.NoError(t, err)
	require.Equal(t, plain.Result.Fingerprint, seen.Result.Fingerprint)
	run := reports.NewRun(seen, rec.Network())
	sends := 0
	for _, e := range run.Events {
		if e.Kind == "send" {
			sends++
		}
	}
	assert.Positive(t, sends)
	assert.Len(t, run.Hosts, 2, "one run's hosts, not the calibration's too")
}

func TestTraceGolden(t *testing.T) {
	run, o := record(t, "zz-reports-ping", "buggy", 1)
	require.NotNil(t, o.Result.Failure)
	var b bytes.Buffer
	require.NoError(t, reports.WriteTrace(&b, run))
	golden(t, "ping-buggy-1.trace.jsonl", b.Bytes())

	// Every line is one object with the documented fields; the kernel
	// events are all there, in order, and every kind shows up.
	kinds := map[string]int{}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	kernel := 0
	for i, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "line %d", i+1)
		for _, k := range []string{"step", "time_ns", "kind", "task", "task_name", "arg", "detail"} {
			require.Contains(t, m, k, "line %d", i+1)
		}
		kind := m["kind"].(string)
		kinds[kind]++
		if !run.Events[i].IsNet() && kind != reports.KindFailure {
			e := o.Result.Trace[kernel]
			require.Equal(t, e.Kind.String(), kind, "kernel event %d in order", kernel)
			require.Equal(t, float64(e.Step), m["step"])
			kernel++
		}
	}
	require.Equal(t, len(o.Result.Trace), kernel, "every kernel event is in the trace")
	for _, k := range []string{"run", "spawn", "block", "wake", "exit", "timer", "advance", "send", "deliver", "drop", "duplicate", "fault", "failure"} {
		assert.Positive(t, kinds[k], "kind %s", k)
	}
	assert.Equal(t, 1, kinds["failure"])
	assert.Contains(t, reports.TraceFormat, "time_ns")
	for _, field := range []string{"host", "id", "packet", "from, to", "src, dst", "size", "cause", "fault"} {
		assert.Contains(t, reports.TraceFormat, "  "+field+" ", "TraceFormat documents %s", field)
	}
}

// chromeTrace is the subset of the trace-event format the checks read.
type chromeTrace struct {
	TraceEvents []map[string]any `json:"traceEvents"`
	OtherData   map[string]any   `json:"otherData"`
}

// validateTraceEvents checks a Chrome trace-event file (checkTraceEvents)
// and returns it parsed.
func validateTraceEvents(t *testing.T, data []byte) chromeTrace {
	t.Helper()
	tr, err := checkTraceEvents(data)
	require.NoError(t, err)
	return tr
}

// checkTraceEvents checks a Chrome trace-event file against the Trace
// Event Format as Perfetto and chrome://tracing read it:
//
//   - every event has ph, ts, pid, tid and name, of the right types, and a
//     known phase; metadata names its process or thread;
//   - timestamps never go back on a track (pid, tid);
//   - a complete event (X) has a duration >= 0, and the complete events of
//     a track nest (one starts after the other ends, or ends inside it);
//   - an instant's scope, if given, is t, p or g;
//   - each flow (s, f) has an id, starts once and then ends once, no
//     earlier; the start binds to the slice enclosing it on its track and
//     the end has bp "e" and binds to the slice enclosing it on its track.
func checkTraceEvents(data []byte) (chromeTrace, error) {
	var tr chromeTrace
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&tr); err != nil {
		return tr, fmt.Errorf("not trace-event JSON: %v", err)
	}
	if len(tr.TraceEvents) == 0 {
		return tr, fmt.Errorf("no traceEvents")
	}
	type track struct{ pid, tid int64 }
	type slice struct{ start, end int64 }
	last := map[track]int64{}
	open := map[track][]slice{} // the stack of enclosing slices
	enclosed := func(tk track, at int64) bool {
		for _, sl := range open[tk] {
			if sl.start <= at && at <= sl.end {
				return true
			}
		}
		return false
	}
	type flow struct{ start, end int }
	flows := map[string]*flow{}
	var order []string
	// ns parses a timestamp in microseconds (with ns decimals) exactly.
	ns := func(v any) (int64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return int64(math.Round(f * 1000)), true
	}
	integer := func(v any) (int64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		i, err := n.Int64()
		return i, err == nil
	}
	for i, e := range tr.TraceEvents {
		for _, k := range []string{"ph", "ts", "pid", "tid", "name"} {
			if _, ok := e[k]; !ok {
				return tr, fmt.Errorf("event %d has no %s: %v", i, k, e)
			}
		}
		ph, ok1 := e["ph"].(string)
		name, ok2 := e["name"].(string)
		ts, ok3 := ns(e["ts"])
		pid, ok4 := integer(e["pid"])
		tid, ok5 := integer(e["tid"])
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return tr, fmt.Errorf("event %d: ph and name must be strings, ts a number, pid and tid integers: %v", i, e)
		}
		if ts < 0 {
			return tr, fmt.Errorf("event %d: negative ts", i)
		}
		if !slices.Contains([]string{"M", "X", "i", "s", "f"}, ph) {
			return tr, fmt.Errorf("event %d: unknown phase %q", i, ph)
		}
		if ph == "M" {
			args, _ := e["args"].(map[string]any)
			if (name == "process_name" || name == "thread_name") && args["name"] == nil {
				return tr, fmt.Errorf("event %d: %s without args.name", i, name)
			}
			continue
		}
		tk := track{pid, tid}
		if prev, ok := last[tk]; ok && ts < prev {
			return tr, fmt.Errorf("event %d (%s) goes back in time on track %v: %d ns after %d ns", i, name, tk, ts, prev)
		}
		last[tk] = ts
		// Slices that ended before ts no longer enclose anything.
		st := open[tk]
		for len(st) > 0 && st[len(st)-1].end < ts {
			st = st[:len(st)-1]
		}
		open[tk] = st
		switch ph {
		case "X":
			dur, ok := ns(e["dur"])
			if !ok || dur < 0 {
				return tr, fmt.Errorf("event %d (%s): a complete event needs a duration >= 0", i, name)
			}
			for len(st) > 0 && st[len(st)-1].end <= ts {
				st = st[:len(st)-1] // ended where this one starts: a sibling
			}
			if len(st) > 0 && ts+dur > st[len(st)-1].end {
				return tr, fmt.Errorf("event %d (%s) [%d, %d] overlaps the slice [%d, %d] on track %v without nesting in it",
					i, name, ts, ts+dur, st[len(st)-1].start, st[len(st)-1].end, tk)
			}
			open[tk] = append(st, slice{ts, ts + dur})
		case "i":
			if sc, ok := e["s"]; ok && !slices.Contains([]any{"t", "p", "g"}, sc) {
				return tr, fmt.Errorf("event %d: instant scope %v", i, sc)
			}
		case "s", "f":
			if e["id"] == nil {
				return tr, fmt.Errorf("event %d: a flow event without id", i)
			}
			cat, _ := e["cat"].(string)
			id := fmt.Sprint(e["id"]) + "/" + cat + "/" + name
			fl := flows[id]
			if fl == nil {
				fl = &flow{}
				flows[id] = fl
				order = append(order, id)
			}
			if !enclosed(tk, ts) {
				return tr, fmt.Errorf("event %d: flow %s %s at %d ns has no enclosing slice on track %v to bind to", i, ph, id, ts, tk)
			}
			if ph == "s" {
				fl.start++
				if fl.start > 1 {
					return tr, fmt.Errorf("flow %s starts twice", id)
				}
			} else {
				if e["bp"] != "e" {
					return tr, fmt.Errorf("event %d: flow end %s must bind to its enclosing slice (bp \"e\"), has bp %v", i, id, e["bp"])
				}
				if fl.start != 1 {
					return tr, fmt.Errorf("flow %s ends before it starts", id)
				}
				fl.end++
				if fl.end > 1 {
					return tr, fmt.Errorf("flow %s ends twice", id)
				}
			}
		}
	}
	for _, id := range order {
		if fl := flows[id]; fl.start != 1 || fl.end != 1 {
			return tr, fmt.Errorf("flow %s: %d starts, %d ends", id, fl.start, fl.end)
		}
	}
	return tr, nil
}

// The validator fails on broken files: each of these breaks one rule of a
// good trace.
func TestPerfettoValidatorRejectsBrokenTraces(t *testing.T) {
	run, _ := record(t, "zz-reports-ping", "buggy", 1)
	var b bytes.Buffer
	require.NoError(t, reports.WritePerfetto(&b, run))
	good := b.Bytes()
	_, err := checkTraceEvents(good)
	require.NoError(t, err)

	find := func(evs []map[string]any, ph string) int {
		for i, e := range evs {
			if e["ph"] == ph {
				return i
			}
		}
		t.Fatalf("no %s event", ph)
		return -1
	}
	for _, c := range []struct {
		name   string
		break_ func(evs []map[string]any) []map[string]any
		want   string
	}{
		{"no pid", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "X")], "pid"); return evs }, "has no pid"},
		{"no ts", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "i")], "ts"); return evs }, "has no ts"},
		{"no name", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "s")], "name"); return evs }, "has no name"},
		{"no ph", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "f")], "ph"); return evs }, "has no ph"},
		{"string tid", func(evs []map[string]any) []map[string]any { evs[find(evs, "X")]["tid"] = "1"; return evs }, "integers"},
		{"unknown phase", func(evs []map[string]any) []map[string]any { evs[find(evs, "i")]["ph"] = "Q"; return evs }, "unknown phase"},
		{"X without dur", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "X")], "dur"); return evs }, "duration"},
		{"time goes back", func(evs []map[string]any) []map[string]any {
			// The last event of some track, moved before its predecessor.
			for i := len(evs) - 1; i >= 0; i-- {
				if evs[i]["ph"] == "X" && evs[i]["cat"] == "task" {
					evs[i]["ts"] = json.Number("0")
					return evs
				}
			}
			return evs
		}, "back in time"},
		{"overlapping slices", func(evs []map[string]any) []map[string]any {
			// A slice made to end inside the next slice of its track.
			us := func(v any) float64 { f, _ := v.(json.Number).Float64(); return f }
			for i, a := range evs {
				for _, b := range evs[i+1:] {
					if a["ph"] == "X" && b["ph"] == "X" && a["pid"] == b["pid"] && a["tid"] == b["tid"] && us(b["dur"]) >= 0.002 {
						a["dur"] = json.Number(fmt.Sprintf("%.3f", us(b["ts"])-us(a["ts"])+0.001))
						return evs
					}
				}
			}
			t.Fatal("no two slices on one track")
			return nil
		}, "without nesting"},
		{"flow end missing", func(evs []map[string]any) []map[string]any {
			i := find(evs, "f")
			return append(evs[:i], evs[i+1:]...)
		}, "1 starts, 0 ends"},
		{"flow start missing", func(evs []map[string]any) []map[string]any {
			i := find(evs, "s")
			return append(evs[:i], evs[i+1:]...)
		}, "ends before it starts"},
		{"flow end without bp", func(evs []map[string]any) []map[string]any { delete(evs[find(evs, "f")], "bp"); return evs }, "bp"},
		{"flow ids crossed", func(evs []map[string]any) []map[string]any {
			evs[find(evs, "f")]["id"] = json.Number("999999")
			return evs
		}, "ends before it starts"},
		{"flow start outside any slice", func(evs []map[string]any) []map[string]any {
			i := find(evs, "s")
			evs[i]["tid"] = json.Number("77") // a track with no slice
			return evs
		}, "no enclosing slice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tr struct {
				TraceEvents []map[string]any `json:"traceEvents"`
			}
			dec := json.NewDecoder(bytes.NewReader(good))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&tr))
			broken, err := json.Marshal(map[string]any{"traceEvents": c.break_(tr.TraceEvents)})
			require.NoError(t, err)
			_, err = checkTraceEvents(broken)
			require.Error(t, err, "the validator accepted a trace with %s", c.name)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestPerfettoGoldenAndValid(t *testing.T) {
	run, _ := record(t, "zz-reports-ping", "buggy", 1)
	var b bytes.Buffer
	require.NoError(t, reports.WritePerfetto(&b, run))
	golden(t, "ping-buggy-1.perfetto.json", b.Bytes())
	tr := validateTraceEvents(t, b.Bytes())

	deliveries := 0
	for _, e := range run.Events {
		if e.Kind == "deliver" {
			deliveries++
		}
	}
	names := map[string]bool{}
	flowStarts, hostsNamed := 0, 0
	for _, e := range tr.TraceEvents {
		if e["ph"] == "s" {
			flowStarts++
		}
		if e["ph"] == "M" && e["name"] == "process_name" {
			name := e["args"].(map[string]any)["name"].(string)
			if strings.HasPrefix(name, "host ") {
				hostsNamed++
			}
		}
		if e["ph"] == "M" && e["name"] == "thread_name" {
			names[e["args"].(map[string]any)["name"].(string)] = true
		}
	}
	assert.Equal(t, deliveries, flowStarts, "one flow arrow per delivered packet")
	assert.Equal(t, 3, hostsNamed, "hosts as processes")
	assert.True(t, names["network"], "a network thread")
	assert.True(t, names["b/echo (task 4)"] || len(names) > 3, "tasks as threads: %v", names)
	assert.Equal(t, "zz-reports-ping", tr.OtherData["scenario"])

	// A bigger run validates too.
	big, _ := record(t, "gossip-smoke", "buggy", 7)
	b.Reset()
	require.NoError(t, reports.WritePerfetto(&b, big))
	validateTraceEvents(t, b.Bytes())
}

// parseXML checks that data is well-formed XML (strict) and returns its
// elements with their attributes.
func parseXML(t *testing.T, data string) []xml.StartElement {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(data))
	dec.Strict = true
	var out []xml.StartElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "not well-formed")
		if se, ok := tok.(xml.StartElement); ok {
			out = append(out, se.Copy())
		}
	}
	return out
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func hasClass(se xml.StartElement, class string) bool {
	return strings.Contains(" "+attr(se, "class")+" ", " "+class+" ")
}

func TestSpaceTimeDiagram(t *testing.T) {
	run, _ := record(t, "zz-reports-ping", "buggy", 1)
	d := reports.SpaceTime(run, reports.DiagramOptions{})
	els := parseXML(t, d.SVG)
	require.Equal(t, "svg", els[0].Name.Local)
	require.False(t, d.Windowed)

	lanes := map[string]string{}
	msgs, drops, dups, faults, failures := 0, 0, 0, 0, 0
	partitionDrops := 0
	for _, se := range els {
		switch {
		case hasClass(se, "lane"):
			lanes[attr(se, "data-lane")] = attr(se, "class")
		case se.Name.Local == "line" && hasClass(se, "msg"):
			msgs++
			if hasClass(se, "dup") {
				dups++
			}
		case se.Name.Local == "g" && hasClass(se, "drop"):
			drops++
			if attr(se, "data-cause") == "partition" {
				partitionDrops++
			}
		case se.Name.Local == "g" && hasClass(se, "fault"):
			faults++
		case se.Name.Local == "g" && hasClass(se, "failure"):
			failures++
		}
	}
	for _, h := range []string{"a", "b", "c"} {
		assert.Equal(t, "lane lane-host", lanes[h], "a lane for host %s: %v", h, lanes)
	}
	assert.Contains(t, lanes, "main", "the scenario's main task has a lane")
	assert.Contains(t, lanes, "b/echo", "a host's task has a lane")
	assert.Equal(t, d.Lanes, func() []string {
		var l []string
		for _, se := range els {
			if hasClass(se, "lane") {
				l = append(l, attr(se, "data-lane"))
			}
		}
		return l
	}())

	var delivered, dropped, duplicated int
	for _, e := range run.Events {
		switch e.Kind {
		case "deliver":
			delivered++
		case "drop":
			dropped++
		case "duplicate":
			duplicated++
		}
	}
	assert.Equal(t, delivered, msgs, "an arrow per delivery")
	assert.Equal(t, dropped, drops, "a cross per drop")
	assert.Positive(t, partitionDrops, "the partition's drop is marked as such")
	assert.Equal(t, duplicated, dups, "duplicates marked")
	assert.Positive(t, dups)
	assert.Equal(t, 3, faults, "partition, heal, crash")
	assert.Equal(t, 1, failures)
	assert.Equal(t, delivered+dropped, d.Messages)
	assert.Contains(t, d.Note(), "Showing all")
}

func TestLongRunsAreWindowedAroundTheFailure(t *testing.T) {
	run, o := record(t, "zz-reports-ping", "buggy", 1)
	d := reports.SpaceTime(run, reports.DiagramOptions{MaxRows: 40})
	require.True(t, d.Windowed)
	require.True(t, d.AroundFailure)
	assert.Equal(t, 40, d.Shown)
	assert.Greater(t, d.Total, 40)
	assert.Positive(t, d.First)
	assert.GreaterOrEqual(t, d.To, o.Result.Failure.Time, "the window reaches the failure")
	assert.Contains(t, d.Note(), "too many to draw")
	assert.Contains(t, d.Note(), "leading up to the failure")
	els := parseXML(t, d.SVG)
	failures := 0
	for _, se := range els {
		if se.Name.Local == "g" && hasClass(se, "failure") {
			failures++
		}
	}
	assert.Equal(t, 1, failures, "the failure is in the window")
	page := reports.RunHTML(run, d)
	assert.Contains(t, page, "too many to draw", "the page says the diagram is windowed")

	// A passing run shows its first events.
	pass, _ := record(t, "zz-reports-ping", "fixed", 1)
	d = reports.SpaceTime(pass, reports.DiagramOptions{MaxRows: 25})
	assert.True(t, d.Windowed)
	assert.False(t, d.AroundFailure)
	assert.Zero(t, d.First)
	assert.Contains(t, d.Note(), "the first ones")

	// Many hosts: the least busy share a lane.
	swarm, _ := record(t, "gossip-swarm", "fixed", 0)
	d = reports.SpaceTime(swarm, reports.DiagramOptions{MaxRows: 300, MaxHosts: 10})
	parseXML(t, d.SVG)
	assert.Positive(t, d.FoldedHosts)
	assert.Contains(t, d.Lanes[len(d.Lanes)-1], "other hosts")
	assert.LessOrEqual(t, len(d.Lanes), 40)

	// A long run of a hundred hosts with the defaults: hundreds of
	// thousands of events, thousands of links; the page stays small.
	require.Greater(t, len(swarm.Events), 100_000)
	var b bytes.Buffer
	d, err := reports.WriteRunHTML(&b, swarm, reports.DiagramOptions{})
	require.NoError(t, err)
	assert.True(t, d.Windowed)
	assert.Equal(t, 600, d.Shown)
	assert.LessOrEqual(t, len(d.Lanes), 40)
	assert.Less(t, b.Len(), 500_000, "the page stays a few hundred kilobytes")
	assert.Contains(t, b.String(), "busiest shown", "the links table is bounded")
	parseXML(t, b.String())
}

// noExternal asserts a page fetches nothing (externalRefs finds nothing).
func noExternal(t *testing.T, page string, els []xml.StartElement) {
	t.Helper()
	assert.Empty(t, externalRefs(page, els), "the page refers outside itself")
}

// externalRefs lists what in a page could fetch something: script, link,
// iframe, object, embed or img elements, a src or href that is not a
// fragment (or, on a link, a relative page), a url() that is not a fragment, @import, @font-face, and any
// http(s) URL but the XML namespaces.
func externalRefs(page string, els []xml.StartElement) []string {
	var out []string
	for _, se := range els {
		switch se.Name.Local {
		case "script", "link", "iframe", "object", "embed", "img", "image", "use", "foreignObject":
			out = append(out, "element "+se.Name.Local)
		}
		for _, a := range se.Attr {
			if se.Name.Local == "a" && !regexp.MustCompile(`^([a-z]+:)?//`).MatchString(a.Value) {
				continue // a link to a page beside this one: followed only when clicked
			}
			if (a.Name.Local == "src" || a.Name.Local == "href") && !strings.HasPrefix(a.Value, "#") {
				out = append(out, a.Name.Local+"="+a.Value)
			}
		}
	}
	for _, m := range regexp.MustCompile(`url\(\s*['"]?([^)'"]*)`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			out = append(out, m[0])
		}
	}
	for _, el := range []string{"@import", "@font-face", "http://", "https://"} {
		for _, at := range regexp.MustCompile(regexp.QuoteMeta(el)).FindAllStringIndex(page, -1) {
			// The XHTML and SVG namespaces name no resource.
			if strings.HasPrefix(page[max(0, at[0]-7):], `xmlns="http://www.w3.org/`) {
				continue
			}
			out = append(out, page[at[0]:min(len(page), at[1]+30)])
		}
	}
	return out
}

func TestExternalRefsFindsFetches(t *testing.T) {
	bad := `<html xmlns="http://www.w3.org/1999/xhtml"><head><style>@import "a.css"; @font-face { font-family: X; src: url(f.woff2); }</style>` +
		`<link rel="stylesheet" href="s.css"/></head><body><img src="https://example.com/x.png"/><script src="x.js"></script>` +
		`<a href="#failure">ok</a><a href="other/report.html">ok</a><a href="//example.com/p">bad</a><svg xmlns="http://www.w3.org/2000/svg"><path marker-end="url(#arr)"/><image href="y.png"/></svg></body></html>`
	got := externalRefs(bad, parseXML(t, bad))
	for _, want := range []string{"element link", "href=s.css", "element img", "src=https://example.com/x.png", "element script",
		"src=x.js", "href=//example.com/p", "element image", "href=y.png", "url(f.woff2", "@import", "@font-face", "https://example.com"} {
		assert.Contains(t, strings.Join(got, "\n"), want)
	}
	assert.NotContains(t, strings.Join(got, "\n"), "#failure")
	assert.NotContains(t, strings.Join(got, "\n"), "#arr")
	assert.NotContains(t, strings.Join(got, "\n"), "other/report.html")
	assert.NotContains(t, strings.Join(got, "\n"), "w3.org")
}

// The same run gives the same bytes in every report.
func TestRunReportsAreDeterministic(t *testing.T) {
	render := func() [3][]byte {
		run, _ := record(t, "gossip-smoke", "buggy", 7)
		var h, p, tr bytes.Buffer
		_, err := reports.WriteRunHTML(&h, run, reports.DiagramOptions{})
		require.NoError(t, err)
		require.NoError(t, reports.WritePerfetto(&p, run))
		require.NoError(t, reports.WriteTrace(&tr, run))
		return [3][]byte{h.Bytes(), p.Bytes(), tr.Bytes()}
	}
	a, b := render(), render()
	for i, name := range []string{"html", "perfetto", "trace"} {
		assert.True(t, bytes.Equal(a[i], b[i]), "%s differs between two recordings of one run", name)
	}
}

func TestRunHTMLIsSelfContained(t *testing.T) {
	run, _ := record(t, "zz-reports-ping", "buggy", 1)
	var b bytes.Buffer
	d, err := reports.WriteRunHTML(&b, run, reports.DiagramOptions{})
	require.NoError(t, err)
	page := b.String()
	require.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	els := parseXML(t, page)
	noExternal(t, page, els)
	svgs := 0
	for _, se := range els {
		if se.Name.Local == "svg" && hasClass(se, "spacetime") {
			svgs++
		}
	}
	assert.Equal(t, 1, svgs)
	for _, want := range []string{"zz-reports-ping/buggy seed 1", "FAIL violation", "all-received", run.Replay,
		"Parameters", "a → b", "partition", d.Note()} {
		assert.Contains(t, page, esc(want))
	}
	// The page links to the failure in the diagram.
	require.True(t, d.Failure)
	assert.Contains(t, page, `<a href="#failure">`)
	ids := 0
	for _, se := range els {
		if attr(se, "id") == "failure" {
			ids++
			assert.True(t, hasClass(se, "failure"))
		}
	}
	assert.Equal(t, 1, ids, "one element with id failure")
}

func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;")
	return r.Replace(s)
}

func sampleSweep() *reports.Sweep {
	failing := []reports.FailingSeed{
		{Seed: 2, Kind: "violation", Message: "no-lost-update: counter = 2 after 3 increments", Fingerprint: "6ccf0ae0275a0a5a", Steps: 22, Replay: "simrun run counter-race -variant buggy -seed 2"},
		{Seed: 4, Kind: "violation", Message: "no-lost-update: counter = 2 after 4 increments", Fingerprint: "d964c1f92141fb01", Steps: 28, Replay: "simrun run counter-race -variant buggy -seed 4"},
		{Seed: 9, Kind: "deadlock", Message: "all tasks are blocked and no event is pending (2 blocked)", Fingerprint: "0000000000000009", Steps: 40, SimTimeNs: 1500, Replay: "simrun run counter-race -variant buggy -seed 9"},
	}
	hist := [][2]float64{}
	for v := range 50 {
		hist = append(hist, [2]float64{float64(v) * 1.5, float64(1 + v%4)})
	}
	return reports.NewSweep(reports.SweepInput{
		Scenario: "counter-race", Variant: "buggy", Strategy: "random", Buggy: true,
		Params: map[string]string{"rounds": "1"}, Seeds: "0:10", Workers: 2, Runs: 10, Failing: failing,
		SimNs: 12345, WallNs: int64(250 * time.Millisecond),
		Metrics: map[string]reports.MetricInput{
			"lost_updates": {Hist: [][2]float64{{0, 7}, {1, 2}, {3, 1}}},
			"latency_ms":   {Hist: hist, NonFinite: 1},
		},
		ProbeRuns: map[string]int{"overlap": 3, "never": 0},
	})
}

func TestSweepReportGolden(t *testing.T) {
	s := sampleSweep()
	golden(t, "sweep.md", []byte(s.Markdown()))
	data, err := s.JSON()
	require.NoError(t, err)
	golden(t, "sweep.json", data)

	assert.Len(t, s.Groups, 2, "two kinds of failure; the lost updates differ only in numbers")
	assert.Equal(t, 2, s.Groups[0].Count)
	assert.Equal(t, []uint64{2, 4}, s.Groups[0].FirstSeeds)
	assert.Equal(t, "no-lost-update: counter = N after N increments", s.Groups[0].Pattern)
	assert.InDelta(t, 40.0, s.Speed.SeedsPerSec, 1e-9)

	page := s.HTML()
	els := parseXML(t, page)
	noExternal(t, page, els)
	bars, cdfs := 0, 0
	for _, se := range els {
		if se.Name.Local == "rect" && hasClass(se, "bar") {
			bars++
		}
		if se.Name.Local == "path" && hasClass(se, "cdf") {
			cdfs++
		}
	}
	assert.Equal(t, 2, cdfs, "a CDF per metric")
	assert.Equal(t, 30+4, bars, "30 bins for the continuous metric, one per integer 0..3 for the count")
	for _, want := range []string{"Clopper-Pearson", "deadlock", "simrun run counter-race -variant buggy -seed 9", "never reached", "seeds per second"} {
		assert.Contains(t, page, want)
	}

	none := reports.NewSweep(reports.SweepInput{Scenario: "x", Variant: "fixed", Strategy: "random", Seeds: "0:1000", Runs: 1000})
	require.NotNil(t, none.ZeroFailureUpper95)
	assert.Contains(t, none.Verdict, "0 failures in 1,000 seeds")
	assert.Contains(t, none.Markdown(), none.Verdict)
	parseXML(t, none.HTML())
}

func TestSweepReportFiles(t *testing.T) {
	dir := t.TempDir()
	s := sampleSweep()
	require.NoError(t, reports.WriteSweepReport(dir, s))
	for _, f := range []string{"report.md", "report.json", "report.html"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	rows := []reports.IndexRow{{Sweep: s, Dir: "counter-race-buggy"}}
	require.NoError(t, reports.WriteIndex(dir, rows, time.Second))
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	require.NoError(t, err)
	els := parseXML(t, string(page))
	noExternal(t, string(page), els)
	var links []string
	for _, se := range els {
		if se.Name.Local == "a" {
			links = append(links, attr(se, "href"))
		}
	}
	assert.Equal(t, []string{"counter-race-buggy/report.html"}, links)
	md, err := os.ReadFile(filepath.Join(dir, "index.md"))
	require.NoError(t, err)
	assert.Regexp(t, regexp.MustCompile(`\| counter-race \| buggy \| failures \| 10 \| 3 \|`), string(md))
}
