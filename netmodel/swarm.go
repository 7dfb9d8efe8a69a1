package netmodel

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/detsim/detsim/sim"
)

// SwarmConfig configures Swarm.
type SwarmConfig struct {
	// Hosts are the hosts faults may hit: at least 2 distinct names a Plan
	// can write (see Plan).
	Hosts []string
	// Duration is the length of the run (> 0).
	Duration time.Duration
	// Heal is when every fault is over; the rest of the run, up to
	// Duration, is a fault-free liveness phase. It must be in
	// [0, Duration]; 0 means 3/4 of Duration.
	Heal time.Duration
	// Kinds are the fault kinds that may be drawn: any of partition,
	// oneway, isolate, flap, hold, crash (which brings its restart), clock
	// and linkfaults. nil means all of them except hold; an empty non-nil
	// slice means none (the draw is then only a link profile).
	Kinds []FaultKind
	// MaxEvents caps the fault episodes of a run; when more are drawn, a
	// random MaxEvents of them are kept. 0 means 20.
	MaxEvents int
}

// swarmKinds are the kinds Swarm can draw, in draw order.
var swarmKinds = []FaultKind{
	FaultPartition, FaultOneWay, FaultIsolate, FaultFlap, FaultHold,
	FaultCrash, FaultClock, FaultLinkFaults,
}

// defaultSwarmKinds are the kinds Swarm draws when SwarmConfig.Kinds is nil.
var defaultSwarmKinds = []FaultKind{
	FaultPartition, FaultOneWay, FaultIsolate, FaultFlap,
	FaultCrash, FaultClock, FaultLinkFaults,
}

// Validate reports the first invalid field, naming it.
func (c SwarmConfig) Validate() error {
	if len(c.Hosts) < 2 {
		return fmt.Errorf("Hosts: need at least 2 hosts, got %d", len(c.Hosts))
	}
	for i, h := range c.Hosts {
		if err := checkHostName(h); err != nil {
			return fmt.Errorf("Hosts[%d]: %w", i, err)
		}
		if j := slices.Index(c.Hosts[:i], h); j >= 0 {
			return fmt.Errorf("Hosts[%d]: %q is also Hosts[%d]", i, h, j)
		}
	}
	if c.Duration <= 0 {
		return fmt.Errorf("Duration = %v: must be > 0", c.Duration)
	}
	if c.Heal < 0 || c.Heal > c.Duration {
		return fmt.Errorf("Heal = %v: must be in [0, Duration = %v] (0 means 3/4 of Duration)", c.Heal, c.Duration)
	}
	for i, k := range c.Kinds {
		if !slices.Contains(swarmKinds, k) {
			switch k {
			case FaultHeal:
				return fmt.Errorf("Kinds[%d] = heal: heals are always drawn, after each cut and at Heal", i)
			case FaultRestart:
				return fmt.Errorf("Kinds[%d] = restart: restarts are drawn with crash", i)
			case FaultRelease:
				return fmt.Errorf("Kinds[%d] = release: releases are drawn with hold", i)
			}
			return fmt.Errorf("Kinds[%d] = %v: not a kind Swarm draws (want any of %v)", i, k, swarmKinds)
		}
		if j := slices.Index(c.Kinds[:i], k); j >= 0 {
			return fmt.Errorf("Kinds[%d] = %v: also Kinds[%d]", i, k, j)
		}
	}
	if c.MaxEvents < 0 {
		return fmt.Errorf("MaxEvents = %d: must be >= 0 (0 means 20)", c.MaxEvents)
	}
	return nil
}

// Param is one drawn value, named for printing beside the seed.
type Param struct {
	Name, Value string
}

// String returns "name=value".
func (p Param) String() string { return p.Name + "=" + p.Value }

// SwarmDraw is what Swarm drew for one seed.
type SwarmDraw struct {
	// Plan is the fault schedule: episodes within [0, Heal), each undone
	// by Heal, then a final heal at Heal.
	Plan Plan
	// Link is the default link profile drawn for the run.
	Link Link
	// Params are every drawn value, in draw order.
	Params []Param
}

// swarmKindParams are the choices Swarm draws a kind's rate and episode
// length from.
type swarmKindParams struct {
	rates  []int           // episodes per minute
	maxDur []time.Duration // an episode lasts [max/5, max]
}

var swarmParams = map[FaultKind]swarmKindParams{
	FaultPartition:  {[]int{1, 2, 4, 8}, []time.Duration{time.Second, 5 * time.Second, 20 * time.Second}},
	FaultOneWay:     {[]int{1, 2, 4, 8}, []time.Duration{time.Second, 5 * time.Second, 20 * time.Second}},
	FaultIsolate:    {[]int{1, 2, 4, 8}, []time.Duration{time.Second, 5 * time.Second, 20 * time.Second}},
	FaultFlap:       {[]int{1, 2, 4}, []time.Duration{5 * time.Second, 20 * time.Second, 60 * time.Second}},
	FaultHold:       {[]int{1, 2, 4, 8}, []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second}},
	FaultCrash:      {[]int{1, 2, 4, 8}, []time.Duration{500 * time.Millisecond, 2 * time.Second, 10 * time.Second}},
	FaultClock:      {[]int{1, 2, 4}, []time.Duration{5 * time.Second, 20 * time.Second, 60 * time.Second}},
	FaultLinkFaults: {[]int{1, 2, 4, 8}, []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second}},
}

// Choices for flap phases, clock skews and link fault strengths.
var (
	swarmFlapUp = []Dist{
		Constant(time.Second), Uniform(200*time.Millisecond, 2*time.Second), LogNormal(time.Second, 0.5),
	}
	swarmFlapDown = []Dist{
		Constant(200 * time.Millisecond), Uniform(50*time.Millisecond, time.Second), Uniform(time.Second, 5*time.Second),
	}
	swarmClockSkew = []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second, 30 * time.Second}
	swarmLossPct   = []int{10, 30, 100}
	swarmDupPct    = []int{0, 5, 20}
	swarmReordPct  = []int{0, 10, 50}
)

func swarmPick[T any](r *sim.Rand, xs []T) T { return xs[r.Intn(len(xs))] }

// swarmMs returns a duration uniform in [lo, hi] at millisecond steps.
func swarmMs(r *sim.Rand, lo, hi time.Duration) time.Duration {
	l, h := int64(lo/time.Millisecond), int64(hi/time.Millisecond)
	if h <= l {
		return time.Duration(l) * time.Millisecond
	}
	return time.Duration(l+r.Int63n(h-l+1)) * time.Millisecond
}

// swarmEpisode is one fault with its start and its end (<= Heal).
type swarmEpisode struct {
	kind       FaultKind
	start, end time.Duration
	step       Step   // the start step; its At is start
	resource   string // episodes on the same resource may not overlap
}

// Swarm draws, from r only, one seed's fault mix (swarm testing): which
// fault kinds are active (each allowed kind with probability 1/2), their
// rates, episode lengths and strengths, a time-ordered Plan of episodes
// within [0, Heal), and a default Link profile. Every episode is undone
// before or at Heal: a cut (partition, oneway, isolate) ends with a heal,
// a crash with a restart, a clock offset goes back to 0, link faults go
// back to the drawn profile's values, a hold is released, a flap's until
// is at most Heal; and the plan always ends with a heal at Heal. Cuts never
// overlap (a heal ends them all), nor do two episodes on the same host
// (crash, clock) or link (flap, hold, linkfaults); a drawn episode that
// would is dropped. The same r state gives the same draw.
func Swarm(r *sim.Rand, cfg SwarmConfig) (SwarmDraw, error) {
	if err := cfg.Validate(); err != nil {
		return SwarmDraw{}, fmt.Errorf("netmodel: Swarm: SwarmConfig.%w", err)
	}
	heal := cfg.Heal
	if heal == 0 {
		heal = cfg.Duration / 4 * 3
	}
	maxEvents := cmp.Or(cfg.MaxEvents, 20)
	kinds := cfg.Kinds
	if kinds == nil {
		kinds = defaultSwarmKinds
	}
	hosts := slices.Clone(cfg.Hosts)

	var d SwarmDraw
	param := func(name, value string) { d.Params = append(d.Params, Param{name, value}) }

	d.Link = swarmLink(r, param)

	var eps []swarmEpisode
	for _, k := range swarmKinds {
		if !slices.Contains(kinds, k) {
			continue
		}
		name := "swarm." + k.String()
		if !r.Bool() {
			param(name, "off")
			continue
		}
		param(name, "on")
		kp := swarmParams[k]
		rate := swarmPick(r, kp.rates)
		param(name+".rate", strconv.Itoa(rate)+"/min")
		maxDur := swarmPick(r, kp.maxDur)
		minDur := maxDur / 5
		param(name+".duration", minDur.String()+"-"+maxDur.String())

		// Kind-wide strengths.
		var up, down Dist
		var skew time.Duration
		var lossPct, dupPct, reordPct int
		switch k {
		case FaultFlap:
			up, down = swarmPick(r, swarmFlapUp), swarmPick(r, swarmFlapDown)
			param(name+".up", up.String())
			param(name+".down", down.String())
		case FaultClock:
			skew = swarmPick(r, swarmClockSkew)
			param(name+".max_offset", skew.String())
		case FaultLinkFaults:
			lossPct, dupPct, reordPct = swarmPick(r, swarmLossPct), swarmPick(r, swarmDupPct), swarmPick(r, swarmReordPct)
			param(name+".max_loss", formatProb(float64(lossPct)/100))
			param(name+".max_dup", formatProb(float64(dupPct)/100))
			param(name+".max_reorder", formatProb(float64(reordPct)/100))
		}

		// Episodes: the first starts in [0, mean gap), the next ones a
		// gap of [mean/2, 3*mean/2] later.
		mean := time.Minute / time.Duration(rate)
		t := swarmMs(r, 0, mean-time.Millisecond)
		for n := 0; t < heal && n < max(1000, 4*maxEvents); n++ {
			ep := swarmEpisode{kind: k, start: t, end: min(t+swarmMs(r, minDur, maxDur), heal)}
			st := Step{At: t, Kind: k}
			switch k {
			case FaultPartition:
				st.Groups = swarmGroups(r, hosts)
				ep.resource = "cut"
			case FaultOneWay:
				sh := swarmShuffled(r, hosts)
				cut := 1 + r.Intn(len(sh)-1)
				st.From, st.To = slices.Sorted(slices.Values(sh[:cut])), slices.Sorted(slices.Values(sh[cut:]))
				ep.resource = "cut"
			case FaultIsolate:
				st.Host = swarmPick(r, hosts)
				ep.resource = "cut"
			case FaultCrash, FaultClock:
				st.Host = swarmPick(r, hosts)
				ep.resource = k.String() + " " + st.Host
				if k == FaultClock {
					ms := 1 + r.Int63n(int64(skew/time.Millisecond))
					if r.Bool() {
						ms = -ms
					}
					st.Offset = time.Duration(ms) * time.Millisecond
				}
			case FaultFlap, FaultHold, FaultLinkFaults:
				i := r.Intn(len(hosts))
				j := r.Intn(len(hosts) - 1)
				if j >= i {
					j++
				}
				st.From, st.To = []string{hosts[i]}, []string{hosts[j]}
				if k == FaultFlap {
					i, j = min(i, j), max(i, j) // a flap is of both directions
				}
				ep.resource = k.String() + " " + hosts[i] + "->" + hosts[j]
				switch k {
				case FaultFlap:
					st.Up, st.Down, st.Until = up, down, ep.end
				case FaultLinkFaults:
					st.Loss = float64(1+r.Intn(lossPct)) / 100
					st.Duplicate = float64(r.Intn(dupPct+1)) / 100
					st.Reorder = float64(r.Intn(reordPct+1)) / 100
				}
			}
			ep.step = st
			eps = append(eps, ep)
			t += swarmMs(r, mean/2, mean*3/2)
		}
	}

	// Keep episodes in start order (ties in draw order), dropping those
	// that overlap an earlier one on the same resource; then, if there are
	// more than maxEvents, keep a uniform random maxEvents of them, so the
	// cap thins the episodes over [0, Heal) rather than cutting it short.
	slices.SortStableFunc(eps, func(a, b swarmEpisode) int { return cmp.Compare(a.start, b.start) })
	busy := map[string]time.Duration{}
	var kept []swarmEpisode
	for _, ep := range eps {
		if until, ok := busy[ep.resource]; ok && ep.start < until {
			continue
		}
		busy[ep.resource] = ep.end
		kept = append(kept, ep)
	}
	if len(kept) > maxEvents {
		pick := r.Perm(len(kept))[:maxEvents]
		slices.Sort(pick)
		thinned := make([]swarmEpisode, maxEvents)
		for i, j := range pick {
			thinned[i] = kept[j]
		}
		kept = thinned
	}
	param("swarm.episodes", strconv.Itoa(len(kept)))

	// Steps: at equal times, ends before starts, and the final heal last.
	type timed struct {
		step  Step
		phase int // 0 end, 1 start, 2 final heal
	}
	var steps []timed
	for _, ep := range kept {
		steps = append(steps, timed{ep.step, 1})
		end := Step{At: ep.end}
		switch ep.kind {
		case FaultPartition, FaultOneWay, FaultIsolate:
			if ep.end == heal {
				continue // the final heal ends it
			}
			end.Kind = FaultHeal
		case FaultFlap:
			continue // ends by itself at Until
		case FaultHold:
			end.Kind, end.From, end.To = FaultRelease, ep.step.From, ep.step.To
		case FaultCrash:
			end.Kind, end.Host = FaultRestart, ep.step.Host
		case FaultClock:
			end.Kind, end.Host = FaultClock, ep.step.Host
		case FaultLinkFaults:
			end.Kind, end.From, end.To = FaultLinkFaults, ep.step.From, ep.step.To
			end.Loss, end.Duplicate, end.Reorder = d.Link.Loss, d.Link.Duplicate, d.Link.Reorder
		}
		steps = append(steps, timed{end, 0})
	}
	steps = append(steps, timed{Step{At: heal, Kind: FaultHeal}, 2})
	slices.SortStableFunc(steps, func(a, b timed) int {
		return cmp.Or(cmp.Compare(a.step.At, b.step.At), cmp.Compare(a.phase, b.phase))
	})
	d.Plan = make(Plan, len(steps))
	for i, s := range steps {
		d.Plan[i] = s.step
	}
	return d, nil
}

// swarmShuffled returns a shuffled copy of hosts.
func swarmShuffled(r *sim.Rand, hosts []string) []string {
	sh := slices.Clone(hosts)
	r.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
	return sh
}

// swarmGroups splits every host into 2 (or, with 3+ hosts, sometimes 3)
// non-empty groups, each sorted.
func swarmGroups(r *sim.Rand, hosts []string) [][]string {
	sh := swarmShuffled(r, hosts)
	n := len(sh)
	cuts := []int{1 + r.Intn(n-1)}
	if n >= 3 && r.Intn(3) == 0 {
		c := 1 + r.Intn(n-2)
		if c >= cuts[0] {
			c++
		}
		cuts = append(cuts, c)
		slices.Sort(cuts)
	}
	var groups [][]string
	prev := 0
	for _, c := range append(cuts, n) {
		groups = append(groups, slices.Sorted(slices.Values(sh[prev:c])))
		prev = c
	}
	return groups
}

// Link profile choices.
var (
	swarmLANLatency  = []time.Duration{500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond}
	swarmLogSigma    = []float64{0.3, 0.5, 0.7, 1.0}
	swarmParetoMin   = []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond}
	swarmParetoAlpha = []float64{1.1, 1.5, 2, 3}
	swarmReorderDist = []Dist{
		Uniform(time.Millisecond, 10*time.Millisecond), Uniform(5*time.Millisecond, 50*time.Millisecond),
		Constant(20 * time.Millisecond),
	}
)

// swarmLink draws a default link profile.
func swarmLink(r *sim.Rand, param func(name, value string)) Link {
	var l Link
	switch r.Intn(5) {
	case 0: // LAN, constant
		l.Latency = Constant(swarmPick(r, swarmLANLatency))
	case 1: // LAN, normal
		m := swarmPick(r, swarmLANLatency)
		l.Latency = Normal(m, m/5)
	case 2: // uniform jitter
		lo := swarmPick(r, []time.Duration{time.Millisecond, 5 * time.Millisecond})
		l.Latency = Uniform(lo, lo*time.Duration(swarmPick(r, []int{2, 4, 10})))
	case 3: // WAN, log-normal 20-80ms
		m := time.Duration(20+10*r.Intn(7)) * time.Millisecond
		l.Latency = LogNormal(m, swarmPick(r, swarmLogSigma)).Capped(2 * time.Second)
	case 4: // heavy tail
		l.Latency = Pareto(swarmPick(r, swarmParetoMin), swarmPick(r, swarmParetoAlpha)).Capped(time.Second)
	}
	param("link.latency", l.Latency.String())
	permille := func(name string, max int) float64 {
		p := 0.0
		if r.Bool() {
			p = float64(1+r.Intn(max)) / 1000
		}
		param(name, formatProb(p))
		return p
	}
	l.Loss = permille("link.loss", 50)
	l.Duplicate = permille("link.dup", 10)
	l.Reorder = permille("link.reorder", 50)
	// Drawn even when Reorder is 0, since a linkfaults episode may turn
	// reordering on.
	l.ReorderDelay = swarmPick(r, swarmReorderDist)
	param("link.reorder_delay", l.ReorderDelay.String())
	return l
}
