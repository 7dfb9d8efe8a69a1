package netmodel

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/sim"
)

var swarmTestConfig = SwarmConfig{
	Hosts:    []string{"n1", "n2", "n3", "n4", "n5"},
	Duration: 3 * time.Minute,
	Heal:     2 * time.Minute,
}

func TestSwarmDeterministic(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		a, err := Swarm(sim.NewRand(seed), swarmTestConfig)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Swarm(sim.NewRand(seed), swarmTestConfig)
		if err != nil {
			t.Fatal(err)
		}
		if a.Plan.String() != b.Plan.String() || !reflect.DeepEqual(a.Params, b.Params) || !reflect.DeepEqual(a.Link, b.Link) {
			t.Fatalf("seed %d: two draws differ:\n%v\n%v\n---\n%v\n%v", seed, a.Plan, a.Params, b.Plan, b.Params)
		}
	}
}

func swarmParam(d SwarmDraw, name string) (string, bool) {
	for _, p := range d.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

func TestSwarmVariety(t *testing.T) {
	on := map[FaultKind]int{}     // seeds with the kind switched on
	inPlan := map[FaultKind]int{} // seeds whose plan has the kind
	distinct := map[string]bool{}
	const seeds = 50
	for seed := uint64(0); seed < seeds; seed++ {
		d, err := Swarm(sim.NewRand(seed), swarmTestConfig)
		if err != nil {
			t.Fatal(err)
		}
		distinct[d.Plan.String()] = true
		for _, k := range defaultSwarmKinds {
			v, ok := swarmParam(d, "swarm."+k.String())
			if !ok {
				t.Fatalf("seed %d: no param swarm.%v", seed, k)
			}
			if v == "on" {
				on[k]++
			}
		}
		if _, ok := swarmParam(d, "swarm.hold"); ok {
			t.Errorf("seed %d: hold drawn though not a default kind", seed)
		}
		seen := map[FaultKind]bool{}
		for _, s := range d.Plan {
			seen[s.Kind] = true
		}
		for k := range seen { //detsim:allow order-independent assertions over a test's map
			inPlan[k]++
		}
	}
	for _, k := range defaultSwarmKinds {
		if on[k] == 0 || on[k] == seeds {
			t.Errorf("kind %v on in %d of %d seeds; want some but not all", k, on[k], seeds)
		}
		if inPlan[k] == 0 {
			t.Errorf("kind %v in no plan of %d seeds", k, seeds)
		}
		if inPlan[k] == seeds {
			t.Errorf("kind %v in every plan of %d seeds", k, seeds)
		}
	}
	if inPlan[FaultRestart] == 0 {
		t.Error("no plan restarts a host")
	}
	if len(distinct) < seeds*9/10 {
		t.Errorf("only %d distinct plans in %d seeds", len(distinct), seeds)
	}
}

// runOnFake applies p to a fake target and fails the test on any misuse.
func runOnFake(t *testing.T, p Plan) *fakeTarget {
	t.Helper()
	f := newFakeTarget()
	for i, s := range p {
		f.now = s.At
		if err := p.apply(f, s); err != nil {
			t.Fatalf("step %d (%v): %v\nplan:\n%v", i+1, s, err, p)
		}
	}
	return f
}

func TestSwarmPlans(t *testing.T) {
	configs := []SwarmConfig{
		swarmTestConfig,
		{Hosts: []string{"a", "b"}, Duration: time.Minute}, // Heal defaults to 45s
		{Hosts: []string{"a", "b", "c"}, Duration: 10 * time.Minute, Heal: 10 * time.Minute, MaxEvents: 100,
			Kinds: []FaultKind{FaultHold, FaultCrash, FaultLinkFaults, FaultFlap}},
		{Hosts: []string{"x-1", "x-2", "x-3", "x-4"}, Duration: time.Hour, Heal: 50 * time.Minute, MaxEvents: 5},
		{Hosts: []string{"a", "b", "c"}, Duration: time.Second, Heal: 300 * time.Millisecond},
	}
	for ci, cfg := range configs {
		heal := cfg.Heal
		if heal == 0 {
			heal = cfg.Duration / 4 * 3
		}
		maxEvents := cfg.MaxEvents
		if maxEvents == 0 {
			maxEvents = 20
		}
		for seed := uint64(0); seed < 100; seed++ {
			d, err := Swarm(sim.NewRand(seed), cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := d.Plan
			if err := p.Validate(cfg.Hosts); err != nil {
				t.Fatalf("config %d seed %d: %v\n%v", ci, seed, err, p)
			}
			q, err := ParsePlan(p.String())
			if err != nil {
				t.Fatalf("config %d seed %d: ParsePlan(String()): %v\n%v", ci, seed, err, p)
			}
			if !reflect.DeepEqual(q, p) {
				t.Fatalf("config %d seed %d: round trip differs:\n%v\n---\n%v", ci, seed, q, p)
			}
			if err := d.Link.Validate(); err != nil {
				t.Fatalf("config %d seed %d: link %v", ci, seed, err)
			}

			// Timing: all within [0, Heal], a final heal at Heal.
			last := p[len(p)-1]
			if last.Kind != FaultHeal || last.At != heal {
				t.Fatalf("config %d seed %d: last step %v, want heal at %v", ci, seed, last, heal)
			}
			starts := 0
			for _, s := range p {
				if s.At < 0 || s.At > heal {
					t.Fatalf("config %d seed %d: step %v outside [0, %v]", ci, seed, s, heal)
				}
				if s.Kind == FaultFlap && s.Until > heal {
					t.Fatalf("config %d seed %d: flap %v lasts past Heal %v", ci, seed, s, heal)
				}
				switch s.Kind {
				case FaultPartition, FaultOneWay, FaultIsolate, FaultFlap, FaultHold, FaultCrash:
					starts++
				case FaultClock:
					if s.Offset != 0 {
						starts++
					}
				case FaultLinkFaults:
					if s.Loss != d.Link.Loss || s.Duplicate != d.Link.Duplicate || s.Reorder != d.Link.Reorder {
						starts++
					}
				}
			}
			if starts > maxEvents {
				t.Fatalf("config %d seed %d: %d episodes > MaxEvents %d", ci, seed, starts, maxEvents)
			}
			if v, _ := swarmParam(d, "swarm.episodes"); v == "" {
				t.Fatalf("config %d seed %d: no swarm.episodes param", ci, seed)
			}

			// Everything is undone by the end.
			f := runOnFake(t, p)
			if f.cuts != 0 || len(f.crashed) != 0 || len(f.held) != 0 {
				t.Fatalf("config %d seed %d: left cuts=%d crashed=%v held=%v\n%v", ci, seed, f.cuts, f.crashed, f.held, p)
			}
			for h, off := range f.offset { //detsim:allow order-independent assertions over a test's map
				if off != 0 {
					t.Fatalf("config %d seed %d: host %s left with clock offset %v\n%v", ci, seed, h, off, p)
				}
			}
			want := [3]float64{d.Link.Loss, d.Link.Duplicate, d.Link.Reorder}
			for l, v := range f.linkFaults { //detsim:allow order-independent assertions over a test's map
				if v != want {
					t.Fatalf("config %d seed %d: link %s left with faults %v, profile %v\n%v", ci, seed, l, v, want, p)
				}
			}
			for l, until := range f.flapUntil { //detsim:allow order-independent assertions over a test's map
				if until > heal {
					t.Fatalf("config %d seed %d: link %s flaps until %v > %v", ci, seed, l, until, heal)
				}
			}
		}
	}
}

func TestSwarmKinds(t *testing.T) {
	cfg := swarmTestConfig
	cfg.Kinds = []FaultKind{FaultCrash}
	sawCrash := false
	for seed := uint64(0); seed < 30; seed++ {
		d, err := Swarm(sim.NewRand(seed), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Plan {
			switch s.Kind {
			case FaultCrash:
				sawCrash = true
			case FaultRestart, FaultHeal:
			default:
				t.Fatalf("seed %d: kind %v not allowed:\n%v", seed, s.Kind, d.Plan)
			}
		}
		for _, p := range d.Params {
			if strings.HasPrefix(p.Name, "swarm.") && !strings.HasPrefix(p.Name, "swarm.crash") && p.Name != "swarm.episodes" {
				t.Fatalf("seed %d: param %v for a kind not allowed", seed, p)
			}
		}
	}
	if !sawCrash {
		t.Error("no crash in 30 seeds")
	}

	cfg.Kinds = []FaultKind{}
	d, err := Swarm(sim.NewRand(1), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Plan.String(); got != "at 2m0s heal" {
		t.Errorf("no kinds: plan %q", got)
	}
}

func TestSwarmParams(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		d, err := Swarm(sim.NewRand(seed), swarmTestConfig)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"link.latency":       d.Link.Latency.String(),
			"link.loss":          formatProb(d.Link.Loss),
			"link.dup":           formatProb(d.Link.Duplicate),
			"link.reorder":       formatProb(d.Link.Reorder),
			"link.reorder_delay": d.Link.ReorderDelay.String(),
		}
		for name, v := range want { //detsim:allow order-independent assertions over a test's map
			got, ok := swarmParam(d, name)
			if !ok || got != v {
				t.Errorf("seed %d: param %s = %q (%v), want %q", seed, name, got, ok, v)
			}
		}
		if _, err := ParseDist(d.Link.Latency.String()); err != nil {
			t.Errorf("seed %d: latency %v does not parse: %v", seed, d.Link.Latency, err)
		}
		if d.Link.Loss > 0.05 || d.Link.Duplicate > 0.01 || d.Link.Reorder > 0.05 {
			t.Errorf("seed %d: link %+v out of range", seed, d.Link)
		}
		names := map[string]bool{}
		for _, p := range d.Params {
			if names[p.Name] {
				t.Errorf("seed %d: param %s twice", seed, p.Name)
			}
			names[p.Name] = true
			if p.Value == "" || strings.ContainsAny(p.Name, " \t\n=") || strings.ContainsAny(p.Value, " \t\n") {
				t.Errorf("seed %d: param %q=%q is not printable as name=value", seed, p.Name, p.Value)
			}
		}
		// Every "on" kind lists its rate and duration right after it.
		for i, p := range d.Params {
			if strings.HasPrefix(p.Name, "swarm.") && strings.Count(p.Name, ".") == 1 && p.Value == "on" {
				if i+2 >= len(d.Params) || d.Params[i+1].Name != p.Name+".rate" || d.Params[i+2].Name != p.Name+".duration" {
					t.Errorf("seed %d: %s on without rate and duration: %v", seed, p.Name, d.Params)
				}
			}
		}
	}
	d, _ := Swarm(sim.NewRand(7), swarmTestConfig)
	var lines []string
	for _, p := range d.Params {
		lines = append(lines, p.String())
	}
	t.Logf("seed 7 params:\n%s\nplan:\n%v", strings.Join(lines, "\n"), d.Plan)
}

func TestSwarmConfigValidate(t *testing.T) {
	ok := swarmTestConfig
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*SwarmConfig)
		want string
	}{
		{func(c *SwarmConfig) { c.Hosts = []string{"a"} }, "Hosts: need at least 2 hosts"},
		{func(c *SwarmConfig) { c.Hosts = []string{"a", "b", "a"} }, `Hosts[2]: "a" is also Hosts[0]`},
		{func(c *SwarmConfig) { c.Hosts = []string{"a", "b|c"} }, `Hosts[1]: host name "b|c" contains '|'`},
		{func(c *SwarmConfig) { c.Duration = 0 }, "Duration = 0s: must be > 0"},
		{func(c *SwarmConfig) { c.Heal = 4 * time.Minute }, "Heal = 4m0s: must be in [0, Duration = 3m0s]"},
		{func(c *SwarmConfig) { c.Heal = -1 }, "Heal = -1ns"},
		{func(c *SwarmConfig) { c.Kinds = []FaultKind{FaultRestart} }, "restarts are drawn with crash"},
		{func(c *SwarmConfig) { c.Kinds = []FaultKind{FaultHeal} }, "heals are always drawn"},
		{func(c *SwarmConfig) { c.Kinds = []FaultKind{FaultRelease} }, "releases are drawn with hold"},
		{func(c *SwarmConfig) { c.Kinds = []FaultKind{0} }, "Kinds[0] = FaultKind(0): not a kind Swarm draws"},
		{func(c *SwarmConfig) { c.Kinds = []FaultKind{FaultCrash, FaultClock, FaultCrash} }, "Kinds[2] = crash: also Kinds[0]"},
		{func(c *SwarmConfig) { c.MaxEvents = -1 }, "MaxEvents = -1"},
	} {
		c := ok
		c.Hosts = slices.Clone(ok.Hosts)
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c, err, tc.want)
		}
		if _, err := Swarm(sim.NewRand(1), c); err == nil || !strings.HasPrefix(err.Error(), "netmodel: Swarm: SwarmConfig.") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Swarm(%+v) error = %v", c, err)
		}
	}
}
