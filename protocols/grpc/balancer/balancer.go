// Package balancer defines the load-balancing API of the simulated gRPC
// client, modelled on grpc-go's balancer package: a Balancer receives
// resolver updates and creates SubConns through a ClientConn; it reports an
// aggregate connectivity state and a Picker, which picks a SubConn per RPC.
//
// Every balancer runs on a netmodel.Env (simulated or OS runtime) passed in
// BuildOptions: its tasks, timers and locks come from there.
package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
)

// ErrNoSubConnAvailable tells the channel to queue the RPC until the next
// picker (the balancer is still connecting).
var ErrNoSubConnAvailable = errors.New("no SubConn is available")

// PickInfo describes the RPC being picked for.
type PickInfo struct {
	FullMethodName string
	Ctx            context.Context
}

// PickResult is the SubConn an RPC uses.
type PickResult struct {
	SubConn SubConn
	// Done, if set, is called when the RPC finishes.
	Done func(DoneInfo)
}

// DoneInfo is the outcome of an RPC, reported to the picker's Done.
type DoneInfo struct {
	Err error
}

// Picker picks a SubConn for each RPC. A picker is immutable; balancers
// publish a new one with every state change.
type Picker interface {
	// Pick returns a SubConn, ErrNoSubConnAvailable (queue the RPC), or
	// another error (fail the RPC unless it waits for ready).
	Pick(info PickInfo) (PickResult, error)
}

// ErrPicker is a picker that always returns Err.
type ErrPicker struct{ Err error }

func (p ErrPicker) Pick(PickInfo) (PickResult, error) { return PickResult{}, p.Err }

// State is what a balancer reports to its ClientConn.
type State struct {
	ConnectivityState connectivity.State
	Picker            Picker
}

// SubConnState is a SubConn's connectivity state.
type SubConnState struct {
	ConnectivityState connectivity.State
	// ConnectionError is why the SubConn is in TRANSIENT_FAILURE.
	ConnectionError error
}

// SubConn is a logical connection to one backend address.
type SubConn interface {
	// Connect starts connecting if the SubConn is IDLE.
	Connect()
	// Shutdown closes the SubConn; it reports SHUTDOWN to its listener.
	Shutdown()
	// Address is the backend address.
	Address() resolver.Address
}

// NewSubConnOptions configure NewSubConn.
type NewSubConnOptions struct {
	// StateListener receives every state change of the SubConn. It is called
	// from the channel's serializer task, never concurrently.
	StateListener func(SubConnState)
}

// ClientConn is what a balancer sees of its parent: the channel, or a parent
// balancer that wraps it.
type ClientConn interface {
	NewSubConn(addrs []resolver.Address, opts NewSubConnOptions) (SubConn, error)
	// UpdateState publishes the balancer's state and picker.
	UpdateState(State)
	// ResolveNow asks for re-resolution.
	ResolveNow()
	// Target is the channel's target name.
	Target() string
}

// LBConfig is a parsed load-balancing configuration.
type LBConfig interface{}

// ClientConnState is what a balancer receives from its parent.
type ClientConnState struct {
	ResolverState  resolver.State
	BalancerConfig LBConfig
}

// ErrBadResolverState asks the resolver to back off and retry.
var ErrBadResolverState = errors.New("bad resolver state")

// Balancer is a load-balancing policy instance.
type Balancer interface {
	UpdateClientConnState(ClientConnState) error
	ResolverError(error)
	// ExitIdle asks the balancer to connect if it is IDLE.
	ExitIdle()
	// Close shuts the balancer down: every task it started ends and every
	// SubConn it created is shut down.
	Close()
}

// BuildOptions are given to Build.
type BuildOptions struct {
	// Env is the runtime the balancer's tasks, timers and locks come from.
	Env netmodel.Env
	// Name identifies the balancer instance in task names and logs.
	Name string
}

// Builder builds balancers of one policy.
type Builder interface {
	Build(cc ClientConn, opts BuildOptions) Balancer
	Name() string
}

// ConfigParser is implemented by builders whose policy takes a config.
type ConfigParser interface {
	ParseConfig(cfg json.RawMessage) (LBConfig, error)
}

// registry maps policy names to builders. It is filled by init functions
// and read-only afterwards (like grpc-go's balancer registry).
var registry = map[string]Builder{}

// Register makes a policy available by name.
func Register(b Builder) {
	if _, dup := registry[b.Name()]; dup {
		panic("balancer: duplicate registration of " + b.Name())
	}
	registry[b.Name()] = b
}

// Get returns the named builder, or nil.
func Get(name string) Builder { return registry[name] }

// Names lists the registered policies, sorted.
func Names() []string { return slices.Sorted(maps.Keys(registry)) }

// ParseConfig parses a gRPC LB policy list (`[{"policy_name": {config}}]`),
// choosing the first registered policy, as gRPC service configs do.
func ParseConfig(raw json.RawMessage) (Builder, LBConfig, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, nil, fmt.Errorf("invalid LB policy list %s: %v", raw, err)
	}
	for i, entry := range list {
		if len(entry) != 1 {
			return nil, nil, fmt.Errorf("LB policy list entry %d must have exactly one policy, has %d", i, len(entry))
		}
		for name, cfg := range entry { //detsim:allow exactly one entry
			b := Get(name)
			if b == nil {
				continue
			}
			p, ok := b.(ConfigParser)
			if !ok {
				return b, nil, nil
			}
			c, err := p.ParseConfig(cfg)
			if err != nil {
				return nil, nil, fmt.Errorf("policy %s: %w", name, err)
			}
			return b, c, nil
		}
	}
	return nil, nil, fmt.Errorf("no registered LB policy in %s (registered: %v)", raw, Names())
}
