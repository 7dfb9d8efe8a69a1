package scenario

import (
	"fmt"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// Run is what a scenario's Main receives: the World, the chosen variant,
// the resolved parameters, and the hooks for properties, probes and metrics.
type Run struct {
	// W is the World; Main runs as its main task.
	W *sim.World
	// Variant is the variant being run.
	Variant string
	// Params are the resolved parameters.
	Params Params
	// Seed is the run's seed.
	Seed uint64

	scenario *Scenario
	net      *netmodel.Network
	// netObserver is Config.NetObserver, given to the network Network makes.
	netObserver func(netmodel.Event)
	probes      []Probe
	metrics     []Metric
}

// Probe counts how often a "sometimes" probe was reached in a run.
type Probe struct {
	Name string
	Hits int
}

// Metric is a number a run records and a sweep aggregates.
type Metric struct {
	Name  string
	Value float64
}

// Is reports whether the run is of the named variant.
func (r *Run) Is(variant string) bool { return r.Variant == variant }

// Network returns the run's simulated network, creating it on first use.
func (r *Run) Network(opts netmodel.Options) *netmodel.Network {
	if r.net == nil {
		n, err := netmodel.New(r.W, opts)
		if err != nil {
			panic(fmt.Sprintf("scenario %s: %v", r.scenario.Name, err))
		}
		if r.netObserver != nil {
			n.SetObserver(r.netObserver)
		}
		r.net = n
	}
	return r.net
}

// Net returns the network created by Network, or nil.
func (r *Run) Net() *netmodel.Network { return r.net }

// Sometimes counts a hit of the named probe when cond is true: the
// interesting window was reached. It returns cond.
func (r *Run) Sometimes(probe string, cond bool) bool {
	if cond {
		for i := range r.probes {
			if r.probes[i].Name == probe {
				r.probes[i].Hits++
				return true
			}
		}
		r.probes = append(r.probes, Probe{Name: probe, Hits: 1})
	}
	return cond
}

// Metric sets a metric's value for this run.
func (r *Run) Metric(name string, v float64) {
	for i := range r.metrics {
		if r.metrics[i].Name == name {
			r.metrics[i].Value = v
			return
		}
	}
	r.metrics = append(r.metrics, Metric{Name: name, Value: v})
}

// Add adds v to a metric.
func (r *Run) Add(name string, v float64) {
	for i := range r.metrics {
		if r.metrics[i].Name == name {
			r.metrics[i].Value += v
			return
		}
	}
	r.metrics = append(r.metrics, Metric{Name: name, Value: v})
}

// Safety registers a property checked after every step of the run; a
// non-nil error ends the run with a violation named name.
func (r *Run) Safety(name string, check func() error) { r.W.Invariant(name, check) }

// Violate ends the run with a violation of the named property.
func (r *Run) Violate(name, format string, args ...any) { r.W.Violate(name, format, args...) }

// Within is a liveness property: from virtual time from (since the start;
// typically when the faults heal) cond must become true within bound. It is
// checked after every step from then on and finally at from+bound, which
// must come before Main returns.
func (r *Run) Within(name string, from, bound time.Duration, cond func() bool) {
	met := false
	r.W.Invariant(name, func() error {
		if !met && r.W.Elapsed() >= from && cond() {
			met = true
		}
		return nil
	})
	r.W.ScheduleFunc(max(from+bound-r.W.Elapsed(), 0), func() {
		if !met && !cond() {
			r.W.Violate(name, "not reached within %v after t=%v", bound, from)
		}
	})
}
