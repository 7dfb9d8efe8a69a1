// Package roundrobin is the "round_robin" LB policy: a SubConn per
// address, all kept connected, and a picker that rotates over the READY
// ones (grpc-go's base balancer with the round_robin picker).
//
// The aggregated state follows gRPC: READY if any SubConn is READY; else
// CONNECTING if any is CONNECTING or IDLE; else TRANSIENT_FAILURE. A SubConn
// that has failed counts as TRANSIENT_FAILURE until it becomes READY again
// (sticky TF), so a channel whose backends are all down reports
// TRANSIENT_FAILURE while it keeps retrying them.
package roundrobin

import (
	"fmt"
	"strings"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
)

// Name is the policy name.
const Name = "round_robin"

func init() { balancer.Register(builder{}) }

type builder struct{}

func (builder) Name() string { return Name }

func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &rrBalancer{
		cc:  cc,
		env: opts.Env,
		rnd: opts.Env.Rand(opts.Name + "/round_robin"),
		scs: map[string]*entry{},
		// The initial state is CONNECTING until the first update.
		state: connectivity.Connecting,
	}
}

// entry is one address's SubConn.
type entry struct {
	addr resolver.Address
	sc   balancer.SubConn
	// state is the SubConn's raw state; eff is its state for aggregation
	// (TRANSIENT_FAILURE stays until READY).
	state, eff connectivity.State
}

// rrBalancer is called only from its parent's serializer (the Balancer
// contract), and its SubConn listeners likewise, so it needs no lock.
type rrBalancer struct {
	cc  balancer.ClientConn
	env sim.Env
	rnd *sim.Rand

	scs    map[string]*entry
	order  []string // addresses in resolver order
	state  connectivity.State
	picked string // the READY set the current picker rotates over
	last   error  // last connection error
	resErr error  // last resolver error
	closed bool
}

func key(a resolver.Address) string { return a.String() }

func (b *rrBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	if b.closed {
		return nil
	}
	b.resErr = nil
	seen := map[string]bool{}
	var order []string
	for _, a := range s.ResolverState.Addresses {
		k := key(a)
		if seen[k] {
			continue
		}
		seen[k] = true
		order = append(order, k)
		if _, ok := b.scs[k]; ok {
			continue
		}
		e := &entry{addr: a, state: connectivity.Idle, eff: connectivity.Idle}
		sc, err := b.cc.NewSubConn([]resolver.Address{a}, balancer.NewSubConnOptions{
			StateListener: func(st balancer.SubConnState) { b.updateSubConnState(e, st) },
		})
		if err != nil {
			b.last = err
			continue
		}
		e.sc = sc
		b.scs[k] = e
		sc.Connect()
	}
	for _, k := range b.order {
		if !seen[k] {
			if e, ok := b.scs[k]; ok {
				delete(b.scs, k)
				e.sc.Shutdown()
			}
		}
	}
	b.order = order
	if len(order) == 0 {
		b.last = fmt.Errorf("round_robin: the resolver produced zero addresses")
		b.publish(true)
		return balancer.ErrBadResolverState
	}
	b.publish(true)
	return nil
}

func (b *rrBalancer) ResolverError(err error) {
	if b.closed {
		return
	}
	b.resErr = err
	if len(b.scs) == 0 || b.state == connectivity.TransientFailure {
		b.publish(true)
	}
}

func (b *rrBalancer) updateSubConnState(e *entry, st balancer.SubConnState) {
	if b.closed || b.scs[key(e.addr)] != e {
		return // shut down by us: SHUTDOWN and any late update
	}
	s := st.ConnectivityState
	e.state = s
	switch s {
	case connectivity.Shutdown:
		return
	case connectivity.Idle:
		e.sc.Connect()
	case connectivity.TransientFailure:
		b.last = st.ConnectionError
	}
	if e.eff == connectivity.TransientFailure && (s == connectivity.Idle || s == connectivity.Connecting) {
		b.publish(false) // sticky TF: only the error may have changed
		return
	}
	e.eff = s
	b.publish(false)
}

func (b *rrBalancer) ExitIdle() {
	for _, k := range b.order {
		if e := b.scs[k]; e != nil && e.state == connectivity.Idle {
			e.sc.Connect()
		}
	}
}

func (b *rrBalancer) Close() {
	if b.closed {
		return
	}
	b.closed = true
	for _, k := range b.order {
		if e := b.scs[k]; e != nil {
			e.sc.Shutdown()
		}
	}
	b.scs = map[string]*entry{}
	b.order = nil
}

// publish recomputes the aggregated state and picker and sends them to
// the parent if anything changed (or always, when force is set).
func (b *rrBalancer) publish(force bool) {
	var ready []balancer.SubConn
	var readyKeys []string
	connecting := false
	for _, k := range b.order {
		e := b.scs[k]
		if e == nil {
			continue
		}
		switch e.eff {
		case connectivity.Ready:
			ready = append(ready, e.sc)
			readyKeys = append(readyKeys, k)
		case connectivity.Connecting, connectivity.Idle:
			connecting = true
		}
	}
	state := connectivity.TransientFailure
	switch {
	case len(ready) > 0:
		state = connectivity.Ready
	case connecting:
		state = connectivity.Connecting
	}
	picked := strings.Join(readyKeys, ",")
	if !force && state == b.state && picked == b.picked && state != connectivity.TransientFailure {
		return
	}
	b.state, b.picked = state, picked
	var p balancer.Picker
	switch state {
	case connectivity.Ready:
		p = &picker{mu: b.env.NewMutex(), scs: ready, next: b.rnd.Intn(len(ready))}
	case connectivity.Connecting:
		p = balancer.ErrPicker{Err: balancer.ErrNoSubConnAvailable}
	default:
		p = balancer.ErrPicker{Err: b.tfError()}
	}
	b.cc.UpdateState(balancer.State{ConnectivityState: state, Picker: p})
}

func (b *rrBalancer) tfError() error { return &tfError{last: b.last, resErr: b.resErr} }

// tfError is the picker's error in TRANSIENT_FAILURE; its text (grpc-go's)
// is made only when someone reads it.
type tfError struct{ last, resErr error }

func (e *tfError) Error() string {
	switch {
	case e.resErr != nil && e.last != nil:
		return fmt.Sprintf("round_robin: connections to all backends failing; last connection error: %v; resolver error: %v", e.last, e.resErr)
	case e.resErr != nil:
		return fmt.Sprintf("round_robin: resolver error: %v", e.resErr)
	case e.last != nil:
		return fmt.Sprintf("round_robin: connections to all backends failing; last error: %v", e.last)
	}
	return "round_robin: no backends"
}

// picker rotates over the READY SubConns, starting at a random index.
type picker struct {
	mu   sim.Mutex
	scs  []balancer.SubConn
	next int
}

func (p *picker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	p.mu.Lock()
	sc := p.scs[p.next]
	p.next = (p.next + 1) % len(p.scs)
	p.mu.Unlock()
	return balancer.PickResult{SubConn: sc}, nil
}
