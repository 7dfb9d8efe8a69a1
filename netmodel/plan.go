package netmodel

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// faultTarget is what a fault plan acts on; *Network implements it.
type faultTarget interface {
	Partition(groups ...[]string) error
	PartitionOneWay(from, to []string) error
	Isolate(host string) error
	Heal()
	Flap(a, b string, up, down Dist, until time.Duration) error
	Hold(from, to string) error
	Release(from, to string) error
	Crash(host string) error
	Restart(host string) error
	SetClockOffset(host string, d time.Duration) error
	SetLinkFaults(from, to string, loss, duplicate, reorder float64) error
}

// FaultKind names what a fault plan Step does. The zero value is not a
// valid kind, so a zero Step is rejected rather than silently meaning
// something.
type FaultKind uint8

const (
	// FaultPartition splits hosts into Groups that cannot reach each other.
	FaultPartition FaultKind = iota + 1
	// FaultOneWay drops traffic from any host of From to any host of To.
	FaultOneWay
	// FaultIsolate cuts Host from every other host.
	FaultIsolate
	// FaultHeal removes every partition, one-way cut and isolation (not
	// holds, not flaps).
	FaultHeal
	// FaultFlap alternates the link From[0]<->To[0] up (for a sample of Up)
	// and down (for a sample of Down) until virtual time Until.
	FaultFlap
	// FaultHold holds traffic From[0]->To[0] in flight.
	FaultHold
	// FaultRelease delivers what a hold From[0]->To[0] kept.
	FaultRelease
	// FaultCrash crashes Host.
	FaultCrash
	// FaultRestart restarts Host with fresh state.
	FaultRestart
	// FaultClock sets Host's clock offset to Offset.
	FaultClock
	// FaultLinkFaults sets the loss, duplication and reorder probabilities
	// of the directed link From[0]->To[0].
	FaultLinkFaults
)

var faultKindNames = [...]string{
	FaultPartition:  "partition",
	FaultOneWay:     "oneway",
	FaultIsolate:    "isolate",
	FaultHeal:       "heal",
	FaultFlap:       "flap",
	FaultHold:       "hold",
	FaultRelease:    "release",
	FaultCrash:      "crash",
	FaultRestart:    "restart",
	FaultClock:      "clock",
	FaultLinkFaults: "linkfaults",
}

// String returns the kind's name as written in a plan ("partition", ...).
func (k FaultKind) String() string {
	if int(k) < len(faultKindNames) && faultKindNames[k] != "" {
		return faultKindNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

func parseFaultKind(s string) (FaultKind, bool) {
	for k, name := range faultKindNames {
		if name != "" && name == s {
			return FaultKind(k), true
		}
	}
	return 0, false
}

func faultKindList() string {
	var names []string
	for _, name := range faultKindNames {
		if name != "" {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// Step is one fault at virtual time At (since the start of the run). Each
// kind uses only some fields; the others must be zero:
//
//	partition   Groups (at least 2 non-empty, disjoint groups of hosts)
//	oneway      From, To (non-empty, disjoint)
//	isolate     Host
//	heal        (none)
//	flap        From, To (one host each, different), Up, Down, Until (> At)
//	hold        From, To (one host each, different)
//	release     From, To (one host each, different)
//	crash       Host
//	restart     Host
//	clock       Host, Offset
//	linkfaults  From, To (one host each, different), Loss, Duplicate, Reorder
type Step struct {
	At     time.Duration
	Kind   FaultKind
	Groups [][]string
	From   []string
	To     []string
	Host   string
	// Up and Down are a flap's phase lengths; Until is when it stops (a
	// virtual time since the start, like At).
	Up, Down Dist
	Until    time.Duration
	// Offset is a clock step's offset from the true virtual time.
	Offset time.Duration
	// Loss, Duplicate and Reorder are a linkfaults step's probabilities.
	Loss, Duplicate, Reorder float64
}

// Plan is an explicit fault schedule: steps in non-decreasing At order.
//
// Its text form (ParsePlan, String) has one step per line or
// ';'-separated, '#' comments to the end of a line, and blank lines:
//
//	at 5s partition a,b|c          # groups split by |, hosts by ,
//	at 6s oneway a,b->c            # from a and b to c
//	at 7s isolate a
//	at 12s heal                    # ends partitions, one-way cuts, isolation
//	at 13s flap a-b up=const:1s down=uniform:100ms-500ms until 60s
//	at 14s hold a->b
//	at 15s release a->b
//	at 20s crash a
//	at 25s restart a
//	at 1s clock a +50ms            # or -20ms
//	at 2s linkfaults a->b loss=0.1 dup=0.01 reorder=0.05
//
// Times are Go durations. A flap whose host names contain '-' is written
// a<->b. linkfaults takes any subset of loss=, dup= and reorder=; an absent
// one is 0. A host name may not be empty nor contain white space or any of
// , | ; # = < >.
type Plan []Step

// planUsage is the form of each kind's step, for error messages.
var planUsage = map[FaultKind]string{
	FaultPartition:  "partition a,b|c",
	FaultOneWay:     "oneway a,b->c",
	FaultIsolate:    "isolate a",
	FaultHeal:       "heal",
	FaultFlap:       "flap a-b up=<dist> down=<dist> until <time>",
	FaultHold:       "hold a->b",
	FaultRelease:    "release a->b",
	FaultCrash:      "crash a",
	FaultRestart:    "restart a",
	FaultClock:      "clock a +50ms",
	FaultLinkFaults: "linkfaults a->b [loss=<p>] [dup=<p>] [reorder=<p>]",
}

// ParsePlan parses a plan in the text form described at Plan. Errors name
// the step (counting from 1) and its text, e.g.
// `fault plan step 2 ("at x heal"): bad time "x": ...`. Steps must be in
// non-decreasing time order.
func ParsePlan(s string) (Plan, error) {
	var p Plan
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, text := range strings.Split(line, ";") {
			text = strings.TrimSpace(text)
			if text == "" {
				continue
			}
			n++
			st, err := parseStep(text)
			if err == nil {
				err = st.check()
			}
			if err == nil && len(p) > 0 && st.At < p[len(p)-1].At {
				err = fmt.Errorf("at %v is before the previous step's %v: steps must be in time order", st.At, p[len(p)-1].At)
			}
			if err != nil {
				return nil, fmt.Errorf("fault plan step %d (%q): %w", n, text, err)
			}
			p = append(p, st)
		}
	}
	return p, nil
}

func parseStep(text string) (Step, error) {
	f := strings.Fields(text)
	if len(f) < 3 || f[0] != "at" {
		return Step{}, fmt.Errorf(`a step reads "at <time> <fault> ...", e.g. "at 5s crash a"`)
	}
	at, err := time.ParseDuration(f[1])
	if err != nil {
		return Step{}, fmt.Errorf("bad time %q: %w", f[1], err)
	}
	kind, ok := parseFaultKind(f[2])
	if !ok {
		return Step{}, fmt.Errorf("unknown fault %q (want one of %s)", f[2], faultKindList())
	}
	st := Step{At: at, Kind: kind}
	args := f[3:]
	usage := func(problem string) error {
		return fmt.Errorf("%s %s (usage: %q)", kind, problem, "at <time> "+planUsage[kind])
	}
	// nargs checks the count of positional arguments.
	nargs := func(n int, what string) error {
		if len(args) < n {
			return usage("needs " + what)
		}
		if len(args) > n {
			return usage(fmt.Sprintf("has unexpected %q", strings.Join(args[n:], " ")))
		}
		return nil
	}
	switch kind {
	case FaultPartition:
		if err := nargs(1, "host groups"); err != nil {
			return st, err
		}
		for _, g := range strings.Split(args[0], "|") {
			st.Groups = append(st.Groups, splitHosts(g))
		}
	case FaultOneWay:
		if err := nargs(1, "hosts"); err != nil {
			return st, err
		}
		from, to, ok := strings.Cut(args[0], "->")
		if !ok {
			return st, usage(fmt.Sprintf("needs from->to, got %q", args[0]))
		}
		st.From, st.To = splitHosts(from), splitHosts(to)
	case FaultIsolate, FaultCrash, FaultRestart:
		if err := nargs(1, "a host"); err != nil {
			return st, err
		}
		st.Host = args[0]
	case FaultHeal:
		if err := nargs(0, ""); err != nil {
			return st, err
		}
	case FaultHold, FaultRelease:
		if err := nargs(1, "hosts"); err != nil {
			return st, err
		}
		if st.From, st.To, err = parseArrow(args[0]); err != nil {
			return st, usage(err.Error())
		}
	case FaultClock:
		if err := nargs(2, "a host and an offset"); err != nil {
			return st, err
		}
		st.Host = args[0]
		if st.Offset, err = time.ParseDuration(args[1]); err != nil {
			return st, fmt.Errorf("bad offset %q: %w", args[1], err)
		}
	case FaultFlap:
		if len(args) == 0 {
			return st, usage("needs hosts")
		}
		a, b, ok := strings.Cut(args[0], "<->")
		if !ok {
			if strings.Count(args[0], "-") != 1 {
				return st, usage(fmt.Sprintf("needs two hosts a-b (or a<->b if a name has a '-'), got %q", args[0]))
			}
			a, b, _ = strings.Cut(args[0], "-")
		}
		st.From, st.To = []string{a}, []string{b}
		kv := args[1:]
		// "until 60s" is also accepted as "until=60s".
		for i := 0; i+1 < len(kv); i++ {
			if kv[i] == "until" {
				kv = slices.Concat(kv[:i], []string{"until=" + kv[i+1]}, kv[i+2:])
			}
		}
		seen := map[string]bool{}
		for _, a := range kv {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return st, usage(fmt.Sprintf("has unexpected %q", a))
			}
			if seen[k] {
				return st, fmt.Errorf("flap: %s given twice", k)
			}
			seen[k] = true
			switch k {
			case "up", "down":
				d, err := ParseDist(v)
				if err != nil {
					return st, fmt.Errorf("flap: %s: %w", k, err)
				}
				if k == "up" {
					st.Up = d
				} else {
					st.Down = d
				}
			case "until":
				if st.Until, err = time.ParseDuration(v); err != nil {
					return st, fmt.Errorf("flap: bad until time %q: %w", v, err)
				}
			default:
				return st, usage(fmt.Sprintf("has unknown parameter %q", k))
			}
		}
		for _, k := range []string{"up", "down", "until"} {
			if !seen[k] {
				return st, usage("needs " + k)
			}
		}
	case FaultLinkFaults:
		if len(args) == 0 {
			return st, usage("needs hosts")
		}
		if st.From, st.To, err = parseArrow(args[0]); err != nil {
			return st, usage(err.Error())
		}
		seen := map[string]bool{}
		for _, a := range args[1:] {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return st, usage(fmt.Sprintf("has unexpected %q", a))
			}
			if seen[k] {
				return st, fmt.Errorf("linkfaults: %s given twice", k)
			}
			seen[k] = true
			var dst *float64
			switch k {
			case "loss":
				dst = &st.Loss
			case "dup":
				dst = &st.Duplicate
			case "reorder":
				dst = &st.Reorder
			default:
				return st, usage(fmt.Sprintf("has unknown parameter %q", k))
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return st, fmt.Errorf("linkfaults: bad %s %q: want a probability in [0, 1]", k, v)
			}
			*dst = x
		}
	}
	return st, nil
}

// splitHosts splits a comma-separated list; an empty string is an empty
// list (so "a||b" has an empty group, reported by check).
func splitHosts(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// parseArrow parses "a->b" into one-host From and To lists.
func parseArrow(s string) (from, to []string, err error) {
	a, b, ok := strings.Cut(s, "->")
	if !ok {
		return nil, nil, fmt.Errorf("needs from->to, got %q", s)
	}
	return []string{a}, []string{b}, nil
}

// checkHostName reports a host name that a plan cannot name.
func checkHostName(h string) error {
	if h == "" {
		return fmt.Errorf("empty host name")
	}
	if i := strings.IndexFunc(h, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(",|;#=<>", r)
	}); i >= 0 {
		return fmt.Errorf("host name %q contains %q, which a plan cannot name", h, []rune(h[i:])[0])
	}
	return nil
}

// stepField names the fields of a Step, for the "unused field" check.
type stepField uint16

const (
	fGroups stepField = 1 << iota
	fFrom
	fTo
	fHost
	fUp
	fDown
	fUntil
	fOffset
	fLoss
	fDuplicate
	fReorder
)

var stepFieldUse = map[FaultKind]stepField{
	FaultPartition:  fGroups,
	FaultOneWay:     fFrom | fTo,
	FaultIsolate:    fHost,
	FaultHeal:       0,
	FaultFlap:       fFrom | fTo | fUp | fDown | fUntil,
	FaultHold:       fFrom | fTo,
	FaultRelease:    fFrom | fTo,
	FaultCrash:      fHost,
	FaultRestart:    fHost,
	FaultClock:      fHost | fOffset,
	FaultLinkFaults: fFrom | fTo | fLoss | fDuplicate | fReorder,
}

// check reports the first structural problem of s (not whether its hosts
// exist).
func (s Step) check() error {
	if s.At < 0 {
		return fmt.Errorf("time %v is negative", s.At)
	}
	switch s.Kind {
	case FaultPartition:
		if len(s.Groups) < 2 {
			return fmt.Errorf("partition needs at least 2 groups separated by '|', got %d", len(s.Groups))
		}
		group := map[string]int{}
		for gi, g := range s.Groups {
			if len(g) == 0 {
				return fmt.Errorf("partition group %d is empty", gi+1)
			}
			for _, h := range g {
				if err := checkHostName(h); err != nil {
					return fmt.Errorf("partition group %d: %w", gi+1, err)
				}
				if prev, dup := group[h]; dup {
					if prev == gi {
						return fmt.Errorf("partition: host %q is listed twice in group %d", h, gi+1)
					}
					return fmt.Errorf("partition: host %q is in two groups (%d and %d)", h, prev+1, gi+1)
				}
				group[h] = gi
			}
		}
	case FaultOneWay:
		side := map[string]string{}
		for _, sd := range []struct {
			name  string
			hosts []string
		}{{"from", s.From}, {"to", s.To}} {
			if len(sd.hosts) == 0 {
				return fmt.Errorf("oneway: missing %s hosts", sd.name)
			}
			for _, h := range sd.hosts {
				if err := checkHostName(h); err != nil {
					return fmt.Errorf("oneway %s: %w", sd.name, err)
				}
				if prev, dup := side[h]; dup {
					if prev == sd.name {
						return fmt.Errorf("oneway: host %q is listed twice in %s", h, sd.name)
					}
					return fmt.Errorf("oneway: host %q is on both sides", h)
				}
				side[h] = sd.name
			}
		}
	case FaultIsolate, FaultCrash, FaultRestart, FaultClock:
		if err := checkHostName(s.Host); err != nil {
			return fmt.Errorf("%s: %w", s.Kind, err)
		}
	case FaultHeal:
	case FaultFlap, FaultHold, FaultRelease, FaultLinkFaults:
		if len(s.From) != 1 || len(s.To) != 1 {
			return fmt.Errorf("%s needs exactly one host on each side, got %d and %d", s.Kind, len(s.From), len(s.To))
		}
		for _, h := range []string{s.From[0], s.To[0]} {
			if err := checkHostName(h); err != nil {
				return fmt.Errorf("%s: %w", s.Kind, err)
			}
		}
		if s.From[0] == s.To[0] {
			return fmt.Errorf("%s: both ends are host %q", s.Kind, s.From[0])
		}
		switch s.Kind {
		case FaultFlap:
			for _, d := range []struct {
				name string
				d    Dist
			}{{"up", s.Up}, {"down", s.Down}} {
				if err := d.d.Validate(); err != nil {
					return fmt.Errorf("flap: %s distribution: %w", d.name, err)
				}
				if d.d.Kind == DistConstant && d.d.A <= 0 {
					return fmt.Errorf("flap: %s distribution is always 0", d.name)
				}
			}
			if s.Until <= s.At {
				return fmt.Errorf("flap: until %v is not after at %v", s.Until, s.At)
			}
		case FaultLinkFaults:
			for _, p := range []struct {
				name string
				v    float64
			}{{"loss", s.Loss}, {"dup", s.Duplicate}, {"reorder", s.Reorder}} {
				if !(p.v >= 0 && p.v <= 1) {
					return fmt.Errorf("linkfaults: %s = %v is not a probability in [0, 1]", p.name, p.v)
				}
			}
		}
	default:
		return fmt.Errorf("unknown fault kind %v", s.Kind)
	}
	use := stepFieldUse[s.Kind]
	for _, f := range []struct {
		bit stepField
		set bool
		nm  string
	}{
		{fGroups, s.Groups != nil, "Groups"},
		{fFrom, s.From != nil, "From"},
		{fTo, s.To != nil, "To"},
		{fHost, s.Host != "", "Host"},
		{fUp, s.Up != (Dist{}), "Up"},
		{fDown, s.Down != (Dist{}), "Down"},
		{fUntil, s.Until != 0, "Until"},
		{fOffset, s.Offset != 0, "Offset"},
		{fLoss, s.Loss != 0, "Loss"},
		{fDuplicate, s.Duplicate != 0, "Duplicate"},
		{fReorder, s.Reorder != 0, "Reorder"},
	} {
		if f.set && use&f.bit == 0 {
			return fmt.Errorf("%s does not use field %s, but it is set", s.Kind, f.nm)
		}
	}
	return nil
}

// hosts returns the hosts s names, in the order written.
func (s Step) hosts() []string {
	var hs []string
	for _, g := range s.Groups {
		hs = append(hs, g...)
	}
	hs = append(hs, s.From...)
	hs = append(hs, s.To...)
	if s.Host != "" {
		hs = append(hs, s.Host)
	}
	return hs
}

// String renders s as one line of the plan text form.
func (s Step) String() string {
	var b strings.Builder
	b.WriteString("at ")
	b.WriteString(s.At.String())
	b.WriteByte(' ')
	b.WriteString(s.Kind.String())
	one := func(hs []string) string {
		if len(hs) == 1 {
			return hs[0]
		}
		return strings.Join(hs, ",") // malformed; String still shows it
	}
	switch s.Kind {
	case FaultPartition:
		b.WriteByte(' ')
		for i, g := range s.Groups {
			if i > 0 {
				b.WriteByte('|')
			}
			b.WriteString(strings.Join(g, ","))
		}
	case FaultOneWay:
		fmt.Fprintf(&b, " %s->%s", strings.Join(s.From, ","), strings.Join(s.To, ","))
	case FaultIsolate, FaultCrash, FaultRestart:
		b.WriteString(" " + s.Host)
	case FaultClock:
		off := s.Offset.String()
		if s.Offset >= 0 {
			off = "+" + off
		}
		b.WriteString(" " + s.Host + " " + off)
	case FaultHold, FaultRelease:
		fmt.Fprintf(&b, " %s->%s", one(s.From), one(s.To))
	case FaultFlap:
		a, z := one(s.From), one(s.To)
		sep := "-"
		if strings.Contains(a, "-") || strings.Contains(z, "-") {
			sep = "<->"
		}
		fmt.Fprintf(&b, " %s%s%s up=%s down=%s until %s", a, sep, z, s.Up, s.Down, s.Until)
	case FaultLinkFaults:
		fmt.Fprintf(&b, " %s->%s loss=%s dup=%s reorder=%s", one(s.From), one(s.To),
			formatProb(s.Loss), formatProb(s.Duplicate), formatProb(s.Reorder))
	}
	return b.String()
}

// formatProb renders a probability so that strconv.ParseFloat gives back
// the same float64.
func formatProb(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// String renders p in the text form ParsePlan reads, one step per line.
func (p Plan) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// Validate reports the first problem of p: a malformed step, steps out of
// time order, or a host not in hosts, e.g.
// `fault plan step 3: unknown host "z" (hosts: a, b, c)`.
func (p Plan) Validate(hosts []string) error {
	known := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		known[h] = true
	}
	for i, s := range p {
		if err := s.check(); err != nil {
			return fmt.Errorf("fault plan step %d: %w", i+1, err)
		}
		if i > 0 && s.At < p[i-1].At {
			return fmt.Errorf("fault plan step %d: at %v is before the previous step's %v: steps must be in time order", i+1, s.At, p[i-1].At)
		}
		for _, h := range s.hosts() {
			if !known[h] {
				sorted := slices.Sorted(slices.Values(hosts))
				return fmt.Errorf("fault plan step %d: unknown host %q (hosts: %s)", i+1, h, strings.Join(sorted, ", "))
			}
		}
	}
	return nil
}

// Hosts returns the sorted set of hosts p names.
func (p Plan) Hosts() []string {
	var hs []string
	for _, s := range p {
		hs = append(hs, s.hosts()...)
	}
	slices.Sort(hs)
	return slices.Compact(hs)
}

// apply performs step s on t. It does not check s; callers validate the
// plan first.
func (p Plan) apply(t faultTarget, s Step) error {
	switch s.Kind {
	case FaultPartition:
		groups := make([][]string, len(s.Groups))
		for i, g := range s.Groups {
			groups[i] = slices.Clone(g)
		}
		return t.Partition(groups...)
	case FaultOneWay:
		return t.PartitionOneWay(slices.Clone(s.From), slices.Clone(s.To))
	case FaultIsolate:
		return t.Isolate(s.Host)
	case FaultHeal:
		t.Heal()
		return nil
	case FaultCrash:
		return t.Crash(s.Host)
	case FaultRestart:
		return t.Restart(s.Host)
	case FaultClock:
		return t.SetClockOffset(s.Host, s.Offset)
	}
	if len(s.From) != 1 || len(s.To) != 1 {
		return fmt.Errorf("fault plan: %s needs exactly one host on each side", s.Kind)
	}
	from, to := s.From[0], s.To[0]
	switch s.Kind {
	case FaultFlap:
		return t.Flap(from, to, s.Up, s.Down, s.Until)
	case FaultHold:
		return t.Hold(from, to)
	case FaultRelease:
		return t.Release(from, to)
	case FaultLinkFaults:
		return t.SetLinkFaults(from, to, s.Loss, s.Duplicate, s.Reorder)
	}
	return fmt.Errorf("fault plan: unknown fault kind %v", s.Kind)
}
