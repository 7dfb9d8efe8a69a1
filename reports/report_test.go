package reports_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
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

// validateTraceEvents checks a Chrome trace-event file: required fields,
// known phases, timestamps that never go back on a track, complete events
// with a duration, flow starts and ends paired (start first).
func validateTraceEvents(t *testing.T, data []byte) chromeTrace {
	t.Helper()
	var tr chromeTrace
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&tr))
	require.NotEmpty(t, tr.TraceEvents)
	type track struct{ pid, tid int64 }
	last := map[track]float64{}
	type flow struct {
		id         string
		start, end int
		ts         float64
	}
	flows := map[string]*flow{}
	for i, e := range tr.TraceEvents {
		for _, k := range []string{"ph", "ts", "pid", "tid", "name"} {
			require.Contains(t, e, k, "event %d %v", i, e)
		}
		ph := e["ph"].(string)
		require.Contains(t, []string{"M", "X", "i", "s", "f"}, ph, "event %d", i)
		ts, err := e["ts"].(json.Number).Float64()
		require.NoError(t, err)
		pid, _ := e["pid"].(json.Number).Int64()
		tid, _ := e["tid"].(json.Number).Int64()
		if ph == "M" {
			continue
		}
		tk := track{pid, tid}
		require.GreaterOrEqual(t, ts, last[tk], "event %d goes back in time on its track", i)
		last[tk] = ts
		switch ph {
		case "X":
			dur, err := e["dur"].(json.Number).Float64()
			require.NoError(t, err, "event %d: X needs dur", i)
			require.GreaterOrEqual(t, dur, 0.0)
		case "s", "f":
			id := fmt.Sprint(e["id"]) + "/" + e["cat"].(string) + "/" + e["name"].(string)
			fl := flows[id]
			if fl == nil {
				fl = &flow{id: id}
				flows[id] = fl
			}
			if ph == "s" {
				fl.start++
				fl.ts = ts
			} else {
				require.Equal(t, "e", e["bp"], "a flow end binds to its enclosing slice")
				require.Equal(t, 1, fl.start, "flow %s ends before it starts", id)
				require.GreaterOrEqual(t, ts, fl.ts)
				fl.end++
			}
		}
	}
	for id, fl := range flows {
		require.Equal(t, 1, fl.start, "flow %s", id)
		require.Equal(t, 1, fl.end, "flow %s is not paired", id)
	}
	return tr
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
}

// noExternal asserts a page fetches nothing: no script, no stylesheet or
// font link, no src or href outside the page.
func noExternal(t *testing.T, page string, els []xml.StartElement) {
	t.Helper()
	for _, se := range els {
		assert.NotEqual(t, "script", se.Name.Local)
		assert.NotEqual(t, "link", se.Name.Local)
		for _, a := range se.Attr {
			if a.Name.Local == "src" || a.Name.Local == "href" {
				assert.NotRegexp(t, `^(https?:)?//`, a.Value, "external %s", a.Value)
			}
		}
	}
	assert.NotContains(t, page, "@import")
	assert.NotContains(t, page, "url(http")
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
