package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/detsim/detsim/sim"
)

// Param is a scenario parameter. Values are strings on the command line and
// in replay files; typed constructors (Int, Duration, ...) parse, validate,
// draw and shrink them.
type Param struct {
	Name string
	Doc  string
	// Default is the value when the parameter is neither given nor drawn.
	Default string
	// Draw, if set, draws a value per seed (swarm testing) unless one is
	// given.
	Draw func(r *sim.Rand) string
	// Check validates a given value.
	Check func(v string) error
	// Shrink proposes smaller values than v, most aggressive first.
	Shrink func(v string) []string
}

func (p Param) check(v string) error {
	if p.Check == nil {
		return nil
	}
	return p.Check(v)
}

// Describe renders the default or the draw's range for listings.
func (p Param) Describe() string {
	if p.Draw != nil && p.Default != "" {
		return "drawn " + p.Default
	}
	if p.Draw != nil {
		return "drawn"
	}
	return p.Default
}

// Int is an integer parameter in [min, max] with a fixed default.
func Int(name, doc string, def, min, max int) Param {
	return Param{
		Name: name, Doc: doc, Default: strconv.Itoa(def),
		Check:  intCheck(min, max),
		Shrink: intShrink(min),
	}
}

// IntDrawn is an integer parameter drawn uniformly from [min, max] per seed.
func IntDrawn(name, doc string, min, max int) Param {
	p := Int(name, doc, min, min, max)
	p.Default = fmt.Sprintf("%d..%d", min, max)
	p.Draw = func(r *sim.Rand) string { return strconv.Itoa(min + r.Intn(max-min+1)) }
	return p
}

func intCheck(min, max int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < min || n > max {
			return fmt.Errorf("%d is outside [%d, %d]", n, min, max)
		}
		return nil
	}
}

func intShrink(min int) func(string) []string {
	return func(v string) []string {
		n, err := strconv.Atoi(v)
		if err != nil || n <= min {
			return nil
		}
		var out []string
		for _, c := range []int{min, min + (n-min)/2, n - 1} {
			if c >= min && c < n && (len(out) == 0 || out[len(out)-1] != strconv.Itoa(c)) {
				out = append(out, strconv.Itoa(c))
			}
		}
		return out
	}
}

// Duration is a duration parameter in [min, max].
func Duration(name, doc string, def, min, max time.Duration) Param {
	return Param{
		Name: name, Doc: doc, Default: def.String(),
		Check: func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration", v)
			}
			if d < min || d > max {
				return fmt.Errorf("%v is outside [%v, %v]", d, min, max)
			}
			return nil
		},
		Shrink: func(v string) []string {
			d, err := time.ParseDuration(v)
			if err != nil || d <= min {
				return nil
			}
			out := []string{min.String()}
			if half := min + (d-min)/2; half > min && half < d {
				out = append(out, half.String())
			}
			return out
		},
	}
}

// Bool is a boolean parameter.
func Bool(name, doc string, def bool) Param {
	return Param{
		Name: name, Doc: doc, Default: strconv.FormatBool(def),
		Check: func(v string) error {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			return nil
		},
		Shrink: func(v string) []string {
			if v == "true" {
				return []string{"false"}
			}
			return nil
		},
	}
}

// Choice is a parameter taking one of a fixed set of values.
func Choice(name, doc, def string, options ...string) Param {
	return Param{
		Name: name, Doc: doc, Default: def,
		Check: func(v string) error {
			for _, o := range options {
				if v == o {
					return nil
				}
			}
			return fmt.Errorf("%q is not one of %v", v, options)
		},
	}
}

// KV is a resolved parameter.
type KV struct {
	Name, Value string
	// Drawn is true when the value was drawn for this seed.
	Drawn bool
}

// Params are a run's resolved parameter values, in the scenario's order.
type Params struct {
	list []KV
}

// List returns the resolved parameters in order.
func (p Params) List() []KV { return append([]KV(nil), p.list...) }

// Map returns name -> value.
func (p Params) Map() map[string]string {
	m := make(map[string]string, len(p.list))
	for _, kv := range p.list {
		m[kv.Name] = kv.Value
	}
	return m
}

// String returns the named value; it panics if the scenario has no such
// parameter (a programming error in the scenario).
func (p Params) String(name string) string {
	for _, kv := range p.list {
		if kv.Name == name {
			return kv.Value
		}
	}
	panic("scenario: no parameter " + name)
}

// Int returns the named integer value.
func (p Params) Int(name string) int {
	n, err := strconv.Atoi(p.String(name))
	if err != nil {
		panic(fmt.Sprintf("scenario: parameter %s: %v", name, err))
	}
	return n
}

// Duration returns the named duration value.
func (p Params) Duration(name string) time.Duration {
	d, err := time.ParseDuration(p.String(name))
	if err != nil {
		panic(fmt.Sprintf("scenario: parameter %s: %v", name, err))
	}
	return d
}

// Bool returns the named boolean value.
func (p Params) Bool(name string) bool {
	b, err := strconv.ParseBool(p.String(name))
	if err != nil {
		panic(fmt.Sprintf("scenario: parameter %s: %v", name, err))
	}
	return b
}

// resolve fills every parameter: the given value (validated), else a draw
// from r, else the default.
func resolve(s *Scenario, given map[string]string, r *sim.Rand) (Params, error) {
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if _, err := s.Param(name); err != nil {
			return Params{}, err
		}
	}
	var ps Params
	for _, p := range s.Params {
		v, ok := given[p.Name]
		drawn := false
		switch {
		case ok:
			if err := p.check(v); err != nil {
				return Params{}, fmt.Errorf("scenario %s: parameter %s: %w", s.Name, p.Name, err)
			}
		case p.Draw != nil:
			v, drawn = p.Draw(r), true
		default:
			v = p.Default
		}
		ps.list = append(ps.list, KV{Name: p.Name, Value: v, Drawn: drawn})
	}
	return ps, nil
}
