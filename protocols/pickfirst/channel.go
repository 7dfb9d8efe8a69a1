package pickfirst

import (
	"context"
	"errors"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/grpcsync"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
)

// Options configure a Channel.
type Options struct {
	// Variant is the grpc-js release whose pick_first runs ("" = V1_10_11).
	Variant Variant
	// Config is pick_first's config (address shuffling).
	Config Config
	// Subchannels configures the subchannel pool (backoff and observers).
	Subchannels SubchannelOptions
	// Resolver configures the DNS resolver (rate limit, lookups).
	Resolver ResolverOptions
	// OnState, if set, observes every state the channel publishes, on the
	// serializer, in order.
	OnState func(connectivity.State)
	// OnResolveRequest, if set, observes every re-resolution the resolving
	// balancer asks for, with its cause, on the serializer, before the
	// request goes to the resolver (which may defer or coalesce it).
	OnResolveRequest func(ResolveCause)
	// OnResolved, if set, observes every resolver result on the
	// serializer, just before pick_first applies it.
	OnResolved func(addrs []string)
}

// ResolveCause says why the resolving balancer asked for a resolution.
type ResolveCause int

const (
	// ResolveExitIdle: the channel left IDLE or TRANSIENT_FAILURE for a
	// pick or a Connect (ResolvingLoadBalancer.exitIdle).
	ResolveExitIdle ResolveCause = iota
	// ResolveChildRequest: pick_first called requestReresolution (every
	// address failed, an empty list, or, in grpc-js 1.10.1, a drop).
	ResolveChildRequest
)

func (c ResolveCause) String() string {
	if c == ResolveExitIdle {
		return "exit-idle"
	}
	return "child-request"
}

// ErrChannelClosed fails RPCs on a closed channel.
var ErrChannelClosed = errors.New("pickfirst: channel is closed")

// Channel is a client channel (grpc-js InternalChannel): a resolver, the
// resolving load balancer with pick_first under it, a subchannel pool and
// a picker that RPCs pick through. The policies run on a serializer task,
// as grpc-js runs them on its event loop.
type Channel struct {
	env    netmodel.Env
	target string
	opts   Options
	ser    *grpcsync.CallbackSerializer
	pool   *Pool
	rlb    *resolvingLB

	mu      sim.Mutex
	state   connectivity.State
	picker  Picker
	changed sim.Chan[struct{}] // closed and replaced at every picker update
	closing bool
	closed  bool

	resolutionsRequested int
}

// NewChannel builds a channel to target ("host:port" resolved by
// opts.Resolver.Lookup, or an IP literal). The channel starts IDLE; the
// first RPC or Connect resolves and connects. Bad options or target give
// an error naming what was wrong.
func NewChannel(env netmodel.Env, target string, opts Options) (*Channel, error) {
	if _, err := ParseVariant(string(opts.Variant)); err != nil {
		return nil, err
	}
	if opts.Variant == "" {
		opts.Variant = V1_10_11
	}
	bo := opts.Subchannels.Backoff
	if bo == (BackoffConfig{}) {
		bo = DefaultBackoff
	}
	if err := bo.Validate(); err != nil {
		return nil, err
	}
	c := &Channel{env: env, target: target, opts: opts, mu: env.NewMutex(), state: connectivity.Idle, changed: sim.NewChan[struct{}](env, 0)}
	pool, err := NewPool(env, "pickfirst/"+target, opts.Subchannels)
	if err != nil {
		return nil, err
	}
	c.pool = pool
	c.ser = grpcsync.NewCallbackSerializer(env, nil, "pickfirst/"+target)
	c.rlb = newResolvingLB(c, opts.Config, bo)
	res, err := NewResolver(env, target, opts.Resolver, resolverListener{c.rlb})
	if err != nil {
		c.ser.Close()
		c.ser.Done().Recv()
		pool.Close()
		return nil, err
	}
	c.rlb.resolver = res
	return c, nil
}

// Schedule runs f on the serializer (grpc-js process.nextTick / event
// loop). After Close it is dropped.
func (c *Channel) Schedule(f func()) { c.ser.TrySchedule(func(sim.Context) { f() }) }

func (c *Channel) updateState(s connectivity.State, p Picker) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.state, c.picker = s, p
	old := c.changed
	c.changed = sim.NewChan[struct{}](c.env, 0)
	c.mu.Unlock()
	old.Close()
	if c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

// State is the channel's connectivity state.
func (c *Channel) State() connectivity.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return connectivity.Shutdown
	}
	return c.state
}

// Connect is getConnectivityState(true): an IDLE channel starts
// connecting (an explicit connect request in gRFC A62's terms).
func (c *Channel) Connect() {
	c.Schedule(func() {
		if c.rlb.state == connectivity.Idle {
			c.rlb.ExitIdle()
		}
	})
}

// Invoke runs one RPC. Picks are queued while the channel is IDLE or
// CONNECTING; with waitForReady false an RPC fails at once in
// TRANSIENT_FAILURE, with true it waits for a usable pick. ctx bounds the
// whole RPC; errors are *wire.Status values.
func (c *Channel) Invoke(ctx sim.Context, method string, req []byte, waitForReady bool) ([]byte, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, wire.Wrap(wire.Unavailable, ErrChannelClosed, "")
		}
		p, changed := c.picker, c.changed
		var r PickResult
		if p == nil {
			r = PickResult{Kind: PickQueue}
		} else {
			r = p.Pick()
		}
		c.mu.Unlock()
		switch r.Kind {
		case PickComplete:
			if r.Subchannel.State() == connectivity.Ready {
				return r.Subchannel.Real().Call(ctx, method, req)
			}
			// The pick's subchannel is no longer READY: the policy has
			// not seen it yet. Wait for the next picker, like grpc-js.
		case PickTransientFailure:
			if !waitForReady {
				return nil, r.Err
			}
		}
		if sim.Select(c.env, sim.RecvCase(changed, nil, nil), sim.RecvCase(ctx.DoneChan(), nil, nil)) == 1 {
			return nil, ctxError(ctx, c.State())
		}
	}
}

func ctxError(ctx sim.Context, st connectivity.State) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return wire.Errorf(wire.DeadlineExceeded, "deadline exceeded while waiting for a pick (channel %v)", st)
	}
	return wire.Errorf(wire.Canceled, "%v while waiting for a pick (channel %v)", ctx.Err(), st)
}

// Diagnose snapshots pick_first on the serializer (not from a serializer
// callback). ok is false once the channel is closed.
func (c *Channel) Diagnose() (d Diagnosis, ok bool) {
	err := c.ser.ScheduleAndWait(func(sim.Context) {
		d = c.rlb.child.Diagnose()
		d.ResolutionPending = (c.rlb.continueResolving && c.rlb.backoff.IsRunning()) || c.rlb.resolver.Pending()
	})
	return d, err == nil
}

// ResolutionsRequested counts resolutions the resolving balancer asked for.
func (c *Channel) ResolutionsRequested() int { return c.resolutionsRequested }

// Pool is the channel's subchannel pool.
func (c *Channel) Pool() *Pool { return c.pool }

// Close shuts the channel down: the policies and resolver stop, every
// subchannel shuts down, queued RPCs fail. When it returns no task or
// timer of the channel is left.
func (c *Channel) Close() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true // a second Close returns at once
	c.mu.Unlock()
	_ = c.ser.ScheduleAndWait(func(sim.Context) { c.rlb.destroy() })
	c.mu.Lock()
	c.closed = true
	old := c.changed
	c.mu.Unlock()
	old.Close()
	c.ser.Close()
	c.ser.Done().Recv()
	c.pool.Close()
}

// childHelper is pick_first's ChannelControlHelper.
type childHelper struct{ r *resolvingLB }

func (h childHelper) CreateSubchannel(addr string) (*Handle, error) { return h.r.ch.pool.Get(addr) }
func (h childHelper) UpdateState(s connectivity.State, p Picker)    { h.r.childUpdateState(s, p) }
func (h childHelper) RequestReresolution()                          { h.r.requestReresolution() }
func (h childHelper) Schedule(f func())                             { h.r.ch.Schedule(f) }
func (h childHelper) Env() sim.Env                                  { return h.r.ch.env }
