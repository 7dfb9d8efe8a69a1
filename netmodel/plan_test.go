package netmodel

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeTarget records the calls a plan makes and tracks the fault state, so
// tests can check what a plan leaves behind. It reports misuse (a crash of
// a crashed host, a release with no hold, ...) as errors.
type fakeTarget struct {
	calls []string

	now        time.Duration // set by the test before each step
	cuts       int           // partitions, one-way cuts and isolations in force
	crashed    map[string]bool
	offset     map[string]time.Duration
	linkFaults map[string][3]float64 // "from->to"
	held       map[string]bool       // "from->to"
	flapUntil  map[string]time.Duration
}

func newFakeTarget() *fakeTarget {
	return &fakeTarget{
		crashed: map[string]bool{}, offset: map[string]time.Duration{},
		linkFaults: map[string][3]float64{}, held: map[string]bool{}, flapUntil: map[string]time.Duration{},
	}
}

func (f *fakeTarget) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeTarget) Partition(groups ...[]string) error {
	f.record("Partition(%v)", groups)
	f.cuts++
	return nil
}

func (f *fakeTarget) PartitionOneWay(from, to []string) error {
	f.record("PartitionOneWay(%v, %v)", from, to)
	f.cuts++
	return nil
}

func (f *fakeTarget) Isolate(host string) error {
	f.record("Isolate(%s)", host)
	f.cuts++
	return nil
}

func (f *fakeTarget) Heal() {
	f.record("Heal()")
	f.cuts = 0
}

func (f *fakeTarget) Flap(a, b string, up, down Dist, until time.Duration) error {
	f.record("Flap(%s, %s, %v, %v, %v)", a, b, up, down, until)
	key := min(a, b) + "-" + max(a, b)
	if f.flapUntil[key] > f.now {
		return fmt.Errorf("flap %s while one is in progress until %v", key, f.flapUntil[key])
	}
	f.flapUntil[key] = until
	return nil
}

func (f *fakeTarget) Hold(from, to string) error {
	f.record("Hold(%s, %s)", from, to)
	if f.held[from+"->"+to] {
		return fmt.Errorf("hold %s->%s twice", from, to)
	}
	f.held[from+"->"+to] = true
	return nil
}

func (f *fakeTarget) Release(from, to string) error {
	f.record("Release(%s, %s)", from, to)
	if !f.held[from+"->"+to] {
		return fmt.Errorf("release %s->%s with no hold", from, to)
	}
	delete(f.held, from+"->"+to)
	return nil
}

func (f *fakeTarget) Crash(host string) error {
	f.record("Crash(%s)", host)
	if f.crashed[host] {
		return fmt.Errorf("crash of crashed host %s", host)
	}
	f.crashed[host] = true
	return nil
}

func (f *fakeTarget) Restart(host string) error {
	f.record("Restart(%s)", host)
	if !f.crashed[host] {
		return fmt.Errorf("restart of running host %s", host)
	}
	delete(f.crashed, host)
	return nil
}

func (f *fakeTarget) SetClockOffset(host string, d time.Duration) error {
	f.record("SetClockOffset(%s, %v)", host, d)
	f.offset[host] = d
	return nil
}

func (f *fakeTarget) SetLinkFaults(from, to string, loss, duplicate, reorder float64) error {
	f.record("SetLinkFaults(%s, %s, %v, %v, %v)", from, to, loss, duplicate, reorder)
	f.linkFaults[from+"->"+to] = [3]float64{loss, duplicate, reorder}
	return nil
}

var _ faultTarget = (*fakeTarget)(nil)

// everyKindPlan uses every fault kind, with comments, blank lines and ';'.
const everyKindPlan = `
# a plan with every kind
at 1s clock a +50ms
at 1s clock b -20ms   # behind
at 2s linkfaults a->b loss=0.1 dup=0.01 reorder=0.05

at 3s linkfaults b->c reorder=0.5; at 4s linkfaults b->c
at 5s partition a,b|c
at 6s oneway a,b->c
at 7s isolate a
at 12s heal
at 13s flap a-b up=const:1s down=uniform:100ms-500ms until 60s
at 13s flap c<->node-1 up=lognormal:1s,0.5 down=const:200ms until=1m30s
at 14s hold a->b
at 15s release a->b
at 20s crash a
at 25s restart a
`

func TestParsePlanEveryKind(t *testing.T) {
	p, err := ParsePlan(everyKindPlan)
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		{At: time.Second, Kind: FaultClock, Host: "a", Offset: 50 * time.Millisecond},
		{At: time.Second, Kind: FaultClock, Host: "b", Offset: -20 * time.Millisecond},
		{At: 2 * time.Second, Kind: FaultLinkFaults, From: []string{"a"}, To: []string{"b"}, Loss: 0.1, Duplicate: 0.01, Reorder: 0.05},
		{At: 3 * time.Second, Kind: FaultLinkFaults, From: []string{"b"}, To: []string{"c"}, Reorder: 0.5},
		{At: 4 * time.Second, Kind: FaultLinkFaults, From: []string{"b"}, To: []string{"c"}},
		{At: 5 * time.Second, Kind: FaultPartition, Groups: [][]string{{"a", "b"}, {"c"}}},
		{At: 6 * time.Second, Kind: FaultOneWay, From: []string{"a", "b"}, To: []string{"c"}},
		{At: 7 * time.Second, Kind: FaultIsolate, Host: "a"},
		{At: 12 * time.Second, Kind: FaultHeal},
		{At: 13 * time.Second, Kind: FaultFlap, From: []string{"a"}, To: []string{"b"},
			Up: Constant(time.Second), Down: Uniform(100*time.Millisecond, 500*time.Millisecond), Until: time.Minute},
		{At: 13 * time.Second, Kind: FaultFlap, From: []string{"c"}, To: []string{"node-1"},
			Up: LogNormal(time.Second, 0.5), Down: Constant(200 * time.Millisecond), Until: 90 * time.Second},
		{At: 14 * time.Second, Kind: FaultHold, From: []string{"a"}, To: []string{"b"}},
		{At: 15 * time.Second, Kind: FaultRelease, From: []string{"a"}, To: []string{"b"}},
		{At: 20 * time.Second, Kind: FaultCrash, Host: "a"},
		{At: 25 * time.Second, Kind: FaultRestart, Host: "a"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("ParsePlan:\n got %#v\nwant %#v", p, want)
	}
	kinds := map[FaultKind]bool{}
	for _, s := range p {
		kinds[s.Kind] = true
	}
	for k := FaultPartition; k <= FaultLinkFaults; k++ {
		if !kinds[k] {
			t.Errorf("test plan lacks kind %v", k)
		}
	}

	text := p.String()
	wantText := strings.Join([]string{
		"at 1s clock a +50ms",
		"at 1s clock b -20ms",
		"at 2s linkfaults a->b loss=0.1 dup=0.01 reorder=0.05",
		"at 3s linkfaults b->c loss=0 dup=0 reorder=0.5",
		"at 4s linkfaults b->c loss=0 dup=0 reorder=0",
		"at 5s partition a,b|c",
		"at 6s oneway a,b->c",
		"at 7s isolate a",
		"at 12s heal",
		"at 13s flap a-b up=" + Constant(time.Second).String() + " down=" + Uniform(100*time.Millisecond, 500*time.Millisecond).String() + " until 1m0s",
		"at 13s flap c<->node-1 up=" + LogNormal(time.Second, 0.5).String() + " down=" + Constant(200*time.Millisecond).String() + " until 1m30s",
		"at 14s hold a->b",
		"at 15s release a->b",
		"at 20s crash a",
		"at 25s restart a",
	}, "\n")
	if text != wantText {
		t.Errorf("String:\n%s\nwant:\n%s", text, wantText)
	}
	q, err := ParsePlan(text)
	if err != nil {
		t.Fatalf("ParsePlan(String()): %v\n%s", err, text)
	}
	if !reflect.DeepEqual(q, p) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", q, p)
	}
	if err := p.Validate([]string{"a", "b", "c", "node-1"}); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Hosts(), []string{"a", "b", "c", "node-1"}; !slices.Equal(got, want) {
		t.Errorf("Hosts = %v, want %v", got, want)
	}
}

func TestParsePlanEmpty(t *testing.T) {
	for _, s := range []string{"", "\n\n", "# nothing\n  ; ;\n"} {
		p, err := ParsePlan(s)
		if err != nil || len(p) != 0 {
			t.Errorf("ParsePlan(%q) = %v, %v; want empty", s, p, err)
		}
	}
	if s := Plan(nil).String(); s != "" {
		t.Errorf("empty plan String = %q", s)
	}
}

func TestParsePlanErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // substrings of the error
	}{
		{"at 1s heal\nat x heal", []string{`fault plan step 2 ("at x heal"): bad time "x"`}},
		{"at 1s heal; at 2s explode a", []string{`step 2 ("at 2s explode a")`, `unknown fault "explode"`, "partition, oneway"}},
		{"heal", []string{`step 1 ("heal")`, `"at <time> <fault> ..."`}},
		{"# c\n\nat 1s heal\nin 2s heal", []string{`step 2 ("in 2s heal")`, "at <time>"}},
		{"at 5s partition", []string{`step 1`, "partition needs host groups", "usage"}},
		{"at 5s partition a,b", []string{"at least 2 groups"}},
		{"at 5s partition a||c", []string{"partition group 2 is empty"}},
		{"at 5s partition a,b|", []string{"partition group 2 is empty"}},
		{"at 5s partition a,,b|c", []string{"partition group 1: empty host name"}},
		{"at 5s partition a,b|c,a", []string{`host "a" is in two groups (1 and 2)`}},
		{"at 5s partition a,a|c", []string{`host "a" is listed twice in group 1`}},
		{"at 5s partition a|b c", []string{`unexpected "c"`}},
		{"at 6s oneway a,b", []string{"needs from->to"}},
		{"at 6s oneway ->c", []string{"oneway: missing from hosts"}},
		{"at 6s oneway a->", []string{"oneway: missing to hosts"}},
		{"at 6s oneway a,b->b", []string{`host "b" is on both sides`}},
		{"at 7s isolate", []string{"isolate needs a host"}},
		{"at 7s isolate a b", []string{`unexpected "b"`}},
		{"at 7s crash a=b", []string{`host name "a=b" contains '='`}},
		{"at 12s heal a", []string{`heal has unexpected "a"`}},
		{"at 13s flap a-b up=const:1s down=const:1s until 10s", []string{"flap: until 10s is not after at 13s"}},
		{"at 13s flap a-b up=const:1s down=const:1s until 13s", []string{"not after"}},
		{"at 13s flap a-b up=const:1s until 20s", []string{"flap needs down"}},
		{"at 13s flap a-b up=const:1s down=const:1s", []string{"flap needs until"}},
		{"at 13s flap a-b-c up=const:1s down=const:1s until 20s", []string{"needs two hosts a-b"}},
		{"at 13s flap a-a up=const:1s down=const:1s until 20s", []string{`both ends are host "a"`}},
		{"at 13s flap a-b up=bogus down=const:1s until 20s", []string{`flap: up: distribution "bogus"`}},
		{"at 13s flap a-b up=const:0s down=const:1s until 20s", []string{"up distribution is always 0"}},
		{"at 13s flap a-b up=const:1s up=const:2s down=const:1s until 20s", []string{"up given twice"}},
		{"at 13s flap a-b up=const:1s down=const:1s until 20s sideways=1", []string{`unknown parameter "sideways"`}},
		{"at 13s flap a-b up=const:1s down=const:1s until x", []string{`bad until time "x"`}},
		{"at 14s hold a", []string{"needs from->to"}},
		{"at 14s hold a->", []string{"hold: empty host name"}},
		{"at 15s release a,b->c", []string{"release: host name \"a,b\" contains ','"}},
		{"at 20s crash", []string{"crash needs a host"}},
		{"at 25s restart", []string{"restart needs a host"}},
		{"at 1s clock a", []string{"clock needs a host and an offset"}},
		{"at 1s clock a soon", []string{`bad offset "soon"`}},
		{"at 2s linkfaults a->b loss=1.5", []string{"loss = 1.5 is not a probability in [0, 1]"}},
		{"at 2s linkfaults a->b dup=-0.1", []string{"dup = -0.1 is not a probability"}},
		{"at 2s linkfaults a->b reorder=NaN", []string{"reorder = NaN is not a probability"}},
		{"at 2s linkfaults a->b loss=x", []string{`bad loss "x"`}},
		{"at 2s linkfaults a->b loss=0.1 loss=0.2", []string{"loss given twice"}},
		{"at 2s linkfaults a->b jitter=0.1", []string{`unknown parameter "jitter"`}},
		{"at 2s linkfaults", []string{"linkfaults needs hosts"}},
		{"at -1s heal", []string{"time -1s is negative"}},
		{"at 5s heal\nat 3s heal", []string{`fault plan step 2 ("at 3s heal"): at 3s is before the previous step's 5s`}},
	} {
		p, err := ParsePlan(tc.in)
		if err == nil {
			t.Errorf("ParsePlan(%q) = %v, want an error", tc.in, p)
			continue
		}
		if !strings.HasPrefix(err.Error(), "fault plan step ") {
			t.Errorf("ParsePlan(%q): error %q does not name the step", tc.in, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParsePlan(%q): error %q lacks %q", tc.in, err, w)
			}
		}
	}
}

func TestPlanValidate(t *testing.T) {
	p, err := ParsePlan("at 1s crash a\nat 2s restart a\nat 3s partition a,b|z")
	if err != nil {
		t.Fatal(err)
	}
	err = p.Validate([]string{"c", "a", "b"})
	if err == nil || err.Error() != `fault plan step 3: unknown host "z" (hosts: a, b, c)` {
		t.Errorf("Validate: %v", err)
	}
	if err := p.Validate([]string{"a", "b", "z"}); err != nil {
		t.Errorf("Validate: %v", err)
	}

	for _, tc := range []struct {
		p    Plan
		want string
	}{
		{Plan{{}}, "fault plan step 1: unknown fault kind FaultKind(0)"},
		{Plan{{Kind: FaultHeal, At: 2 * time.Second}, {Kind: FaultHeal, At: time.Second}}, "fault plan step 2: at 1s is before the previous step's 2s"},
		{Plan{{Kind: FaultCrash, Host: "a", Offset: time.Second}}, "fault plan step 1: crash does not use field Offset"},
		{Plan{{Kind: FaultHold, Host: "a"}}, "fault plan step 1: hold needs exactly one host on each side, got 0 and 0"},
		{Plan{{Kind: FaultHold, From: []string{"a"}, To: []string{"b"}, Host: "a"}}, "hold does not use field Host"},
		{Plan{{Kind: FaultPartition, Groups: [][]string{{"a"}, {"b"}}, From: []string{"a"}}}, "partition does not use field From"},
		{Plan{{Kind: FaultFlap, From: []string{"a"}, To: []string{"b"}, Up: Constant(time.Second), Down: Constant(time.Second)}}, "flap: until 0s is not after at 0s"},
		{Plan{{Kind: FaultFlap, From: []string{"a"}, To: []string{"b"}, Up: Constant(time.Second), Until: time.Second}}, "flap: down distribution is always 0"},
		{Plan{{Kind: FaultLinkFaults, From: []string{"a"}, To: []string{"b"}, Loss: 2}}, "linkfaults: loss = 2 is not a probability"},
		{Plan{{Kind: FaultIsolate, Host: "a b"}}, `isolate: host name "a b" contains ' '`},
	} {
		err := tc.p.Validate([]string{"a", "b"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want %q", tc.p, err, tc.want)
		}
	}
}

func TestFaultKindString(t *testing.T) {
	want := "partition oneway isolate heal flap hold release crash restart clock linkfaults"
	var got []string
	for k := FaultPartition; k <= FaultLinkFaults; k++ {
		got = append(got, k.String())
	}
	if strings.Join(got, " ") != want {
		t.Errorf("kinds = %v", got)
	}
	if s := FaultKind(0).String(); s != "FaultKind(0)" {
		t.Errorf("FaultKind(0) = %q", s)
	}
	if s := FaultKind(99).String(); s != "FaultKind(99)" {
		t.Errorf("FaultKind(99) = %q", s)
	}
}

func TestPlanApply(t *testing.T) {
	p, err := ParsePlan(everyKindPlan)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeTarget()
	for _, s := range p {
		f.now = s.At
		if err := p.apply(f, s); err != nil {
			t.Fatalf("apply %v: %v", s, err)
		}
	}
	up1, down1 := Constant(time.Second), Uniform(100*time.Millisecond, 500*time.Millisecond)
	up2, down2 := LogNormal(time.Second, 0.5), Constant(200*time.Millisecond)
	want := []string{
		"SetClockOffset(a, 50ms)",
		"SetClockOffset(b, -20ms)",
		"SetLinkFaults(a, b, 0.1, 0.01, 0.05)",
		"SetLinkFaults(b, c, 0, 0, 0.5)",
		"SetLinkFaults(b, c, 0, 0, 0)",
		"Partition([[a b] [c]])",
		"PartitionOneWay([a b], [c])",
		"Isolate(a)",
		"Heal()",
		fmt.Sprintf("Flap(a, b, %v, %v, 1m0s)", up1, down1),
		fmt.Sprintf("Flap(c, node-1, %v, %v, 1m30s)", up2, down2),
		"Hold(a, b)",
		"Release(a, b)",
		"Crash(a)",
		"Restart(a)",
	}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}

	// apply hands the target copies, so it cannot alias the plan.
	g := &groupMutator{fakeTarget: newFakeTarget()}
	s := Step{Kind: FaultPartition, Groups: [][]string{{"a"}, {"b"}}}
	if err := p.apply(g, s); err != nil {
		t.Fatal(err)
	}
	if s.Groups[0][0] != "a" {
		t.Errorf("apply let the target modify the plan: %v", s.Groups)
	}
	if err := p.apply(f, Step{Kind: 0}); err == nil {
		t.Error("apply of a zero step: no error")
	}
}

type groupMutator struct{ *fakeTarget }

func (g *groupMutator) Partition(groups ...[]string) error {
	groups[0][0] = "mutated"
	return nil
}
