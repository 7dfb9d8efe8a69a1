// Package scenario defines named simulation scenarios and runs them: a
// scenario has a description, variants (the fixed behaviour and the
// historical bugs), parameters with defaults or per-seed draws, and a main
// function that sets up hosts and a workload, injects faults, checks safety
// properties as the run goes and liveness properties after faults heal,
// marks "sometimes" probes and records metrics.
//
// The registry is shared by the simrun CLI and go test (sim/simtest);
// package scenarios registers the project's scenarios.
package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scenario is a named, parameterised simulation.
type Scenario struct {
	// Name is the scenario's identifier (lower-case, dashes).
	Name string
	// Description is one paragraph: what runs, what can go wrong, and the
	// source (upstream issue or paper).
	Description string
	// Variants lists the behaviours; "fixed" (if present) is the default,
	// otherwise the first. Buggy variants reproduce historical bugs.
	Variants []Variant
	// Params are the scenario's parameters, in display order.
	Params []Param
	// Probes names the "sometimes" probes the scenario marks, so a sweep
	// shows those never reached as 0%.
	Probes []string
	// Strategy is the default scheduling strategy ("" means random).
	Strategy string
	// Seeds is the default sweep budget (make run, regression tests);
	// 0 means 200.
	Seeds int
	// MaxSteps and MaxTime are the run's budgets (0: the kernel defaults).
	MaxSteps int64
	MaxTime  time.Duration
	// CheckLeaks requires every task and timer to be gone when Main returns.
	CheckLeaks bool
	// Main is the run's main task: set up, run the workload, check, return.
	Main func(r *Run)
}

// Variant is one behaviour of a scenario.
type Variant struct {
	Name string
	Doc  string
	// Buggy marks a variant that reproduces a known bug: sweeps are
	// expected to find failures, and its recorded failing seeds must keep
	// failing.
	Buggy bool
}

// DefaultVariant is "fixed" if the scenario has it, else its first variant.
func (s *Scenario) DefaultVariant() string {
	for _, v := range s.Variants {
		if v.Name == "fixed" {
			return v.Name
		}
	}
	return s.Variants[0].Name
}

// Variant returns the named variant (or the default for "").
func (s *Scenario) Variant(name string) (Variant, error) {
	if name == "" {
		name = s.DefaultVariant()
	}
	for _, v := range s.Variants {
		if v.Name == name {
			return v, nil
		}
	}
	return Variant{}, fmt.Errorf("scenario %s: unknown variant %q (variants: %s)", s.Name, name, strings.Join(s.VariantNames(), ", "))
}

// VariantNames lists the variants' names.
func (s *Scenario) VariantNames() []string {
	out := make([]string, len(s.Variants))
	for i, v := range s.Variants {
		out[i] = v.Name
	}
	return out
}

// Param returns the named parameter.
func (s *Scenario) Param(name string) (Param, error) {
	for _, p := range s.Params {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(s.Params))
	for i, p := range s.Params {
		names[i] = p.Name
	}
	return Param{}, fmt.Errorf("scenario %s: unknown parameter %q (parameters: %s)", s.Name, name, strings.Join(names, ", "))
}

// SeedBudget is the default number of seeds to sweep.
func (s *Scenario) SeedBudget() int {
	if s.Seeds <= 0 {
		return 200
	}
	return s.Seeds
}

func (s *Scenario) validate() error {
	if s.Name == "" || strings.ContainsAny(s.Name, " \t\n/") {
		return fmt.Errorf("scenario: bad name %q", s.Name)
	}
	if s.Main == nil {
		return fmt.Errorf("scenario %s: Main is nil", s.Name)
	}
	if len(s.Variants) == 0 {
		return fmt.Errorf("scenario %s: no variants", s.Name)
	}
	seen := map[string]bool{}
	for _, v := range s.Variants {
		if v.Name == "" || seen["v:"+v.Name] {
			return fmt.Errorf("scenario %s: empty or duplicate variant %q", s.Name, v.Name)
		}
		seen["v:"+v.Name] = true
	}
	for _, p := range s.Params {
		if p.Name == "" || seen["p:"+p.Name] {
			return fmt.Errorf("scenario %s: empty or duplicate parameter %q", s.Name, p.Name)
		}
		seen["p:"+p.Name] = true
		if p.Draw == nil {
			if err := p.check(p.Default); err != nil {
				return fmt.Errorf("scenario %s: parameter %s: bad default: %w", s.Name, p.Name, err)
			}
		}
	}
	return nil
}

// registry holds the registered scenarios. It is filled by init functions
// and read-only afterwards, like database/sql's drivers.
var registry []*Scenario

// Register adds a scenario; it panics on an invalid or duplicate one (a
// programming error found at init).
func Register(s *Scenario) {
	if err := s.validate(); err != nil {
		panic(err)
	}
	if _, err := Lookup(s.Name); err == nil {
		panic("scenario: duplicate registration of " + s.Name)
	}
	registry = append(registry, s)
	slices.SortFunc(registry, func(a, b *Scenario) int { return strings.Compare(a.Name, b.Name) })
}

// Lookup returns the named scenario.
func Lookup(name string) (*Scenario, error) {
	for _, s := range registry {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("unknown scenario %q (scenarios: %s)", name, strings.Join(Names(), ", "))
}

// All returns the registered scenarios sorted by name.
func All() []*Scenario { return slices.Clone(registry) }

// Names returns the registered scenarios' names, sorted.
func Names() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Name
	}
	return out
}
