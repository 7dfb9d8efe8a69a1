// Package clientconn is the channel of the simulated gRPC stack (grpc-go's
// ClientConn): it builds the load-balancing policy named by its config,
// creates SubConns for it, keeps its picker and runs RPCs over the SubConns'
// transports (package wire frames on netmodel streams).
//
// Every call into the top-level balancer (UpdateClientConnState, SubConn
// state listeners, ExitIdle, Close) runs on one CallbackSerializer task,
// "<target>/CallbackSerializer.run" (grpc-go's ccBalancerWrapper). Balancers
// may call back into the channel from any task.
//
// Tasks of a ClientConn: the serializer, and per SubConn
// "<target>/subConn.connect" and "<target>/transport.reader". Close ends
// them all and stops every timer before it returns.
package clientconn

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/grpcsync"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/transport"
	"github.com/detsim/detsim/sim"
)

// DefaultLBConfig is the policy used when Options.LBConfig is empty.
var DefaultLBConfig = json.RawMessage(`[{"round_robin":{}}]`)

// DefaultConnectTimeout bounds a dial when Options.ConnectTimeout is 0.
const DefaultConnectTimeout = 20 * time.Second

// Options configure a ClientConn.
type Options struct {
	// LBConfig is a gRPC LB policy list, e.g.
	// [{"priority_experimental": {...}}], parsed with balancer.ParseConfig
	// (the first registered policy wins). Empty means DefaultLBConfig.
	LBConfig json.RawMessage
	// ConnectTimeout bounds each connection attempt. 0 means 20s.
	ConnectTimeout time.Duration
	// Backoff paces reconnection after failed attempts. The zero value means
	// DefaultBackoffConfig; otherwise every field is used as given.
	Backoff BackoffConfig
	// FailFast makes RPCs fail at once when the picker returns an error
	// other than ErrNoSubConnAvailable (gRPC's default). Without it RPCs
	// wait for ready: they wait for a usable picker until their context is
	// done. A CallOption overrides it per RPC.
	FailFast bool
	// OnStateUpdate, if set, observes every state the top-level balancer
	// publishes, in order, after the picker has been installed. It is
	// called from the balancer's task; it must not block on the channel.
	OnStateUpdate func(balancer.State)
}

// CallOption changes one RPC.
type CallOption func(*callInfo)

type callInfo struct{ failFast bool }

// WaitForReady(true) makes the RPC wait for a usable picker until its
// context is done; WaitForReady(false) makes it fail fast.
func WaitForReady(wait bool) CallOption { return func(c *callInfo) { c.failFast = !wait } }

// SubConnInfo describes one SubConn (for tests and scenarios).
type SubConnInfo struct {
	ID        int
	Addr      string
	State     connectivity.State
	LastError error
}

// ClientConn is a channel to a set of backends.
type ClientConn struct {
	env     netmodel.Env
	target  string
	opts    Options
	builder balancer.Builder
	lbCfg   balancer.LBConfig

	ctx    sim.Context // cancelled by Close: ends dials and backoff waits
	cancel context.CancelFunc
	ser    *grpcsync.CallbackSerializer
	pw     *pickerWrapper
	ccb    *ccBalancerWrapper
	bal    balancer.Balancer // written on the serializer, under mu

	hookMu sim.Mutex // orders picker installs with OnStateUpdate calls

	mu         sim.Mutex
	closed     bool
	state      connectivity.State
	subConns   []*subConn
	nextID     int
	resolveNow int
}

// New parses the options and starts the channel's serializer. The
// balancer is built on the first UpdateResolverState. New must be called
// from a task of env.
func New(env netmodel.Env, target string, opts Options) (*ClientConn, error) {
	if env == nil {
		return nil, fmt.Errorf("clientconn: New: nil env")
	}
	if target == "" {
		return nil, fmt.Errorf("clientconn: New: empty target")
	}
	if opts.ConnectTimeout < 0 {
		return nil, fmt.Errorf("clientconn: Options.ConnectTimeout = %v: must be >= 0 (0 means %v)", opts.ConnectTimeout, DefaultConnectTimeout)
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Backoff == (BackoffConfig{}) {
		opts.Backoff = DefaultBackoffConfig
	}
	if err := opts.Backoff.validate(); err != nil {
		return nil, fmt.Errorf("clientconn: %w", err)
	}
	if len(opts.LBConfig) == 0 {
		opts.LBConfig = DefaultLBConfig
	}
	builder, cfg, err := balancer.ParseConfig(opts.LBConfig)
	if err != nil {
		return nil, fmt.Errorf("clientconn: Options.LBConfig: %w", err)
	}
	cc := &ClientConn{
		env: env, target: target, opts: opts, builder: builder, lbCfg: cfg,
		pw: newPickerWrapper(env), hookMu: env.NewMutex(), mu: env.NewMutex(),
		state: connectivity.Idle,
	}
	cc.ccb = &ccBalancerWrapper{cc: cc}
	cc.ctx, cc.cancel = env.WithCancel(env.Background())
	cc.ser = grpcsync.NewCallbackSerializer(env, nil, target)
	return cc, nil
}

// Target is the channel's target name.
func (cc *ClientConn) Target() string { return cc.target }

// Policy is the name of the top-level LB policy.
func (cc *ClientConn) Policy() string { return cc.builder.Name() }

// State is the channel's connectivity state, as last published by the
// balancer (IDLE before the first update).
func (cc *ClientConn) State() connectivity.State {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.state
}

// Balancer returns the top-level balancer (for scenarios that inspect
// it): nil before the first UpdateResolverState and after Close. Do not
// call its methods: only the channel's serializer may.
func (cc *ClientConn) Balancer() balancer.Balancer {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.bal
}

// ResolveNowCount counts the balancer's ResolveNow calls.
func (cc *ClientConn) ResolveNowCount() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.resolveNow
}

// SubConns describes the live SubConns, in creation order.
func (cc *ClientConn) SubConns() []SubConnInfo {
	cc.mu.Lock()
	scs := append([]*subConn(nil), cc.subConns...)
	cc.mu.Unlock()
	out := make([]SubConnInfo, 0, len(scs))
	for _, sc := range scs {
		out = append(out, sc.info())
	}
	return out
}

// UpdateResolverState hands the addresses and the parsed LB config to the
// top-level balancer (built on the first call), on the serializer, and
// returns the balancer's error (balancer.ErrBadResolverState asks the
// resolver to back off). Do not call it from a balancer callback.
func (cc *ClientConn) UpdateResolverState(s resolver.State) error {
	if cc.isClosed() {
		return ErrClientConnClosing
	}
	var err error
	if e := cc.ser.ScheduleAndWait(func(ctx sim.Context) {
		if ctx.Err() != nil {
			err = ErrClientConnClosing
			return
		}
		if cc.bal == nil {
			b := cc.builder.Build(cc.ccb, balancer.BuildOptions{Env: cc.env, Name: cc.target + "/" + cc.builder.Name()})
			cc.mu.Lock()
			cc.bal = b
			cc.mu.Unlock()
		}
		err = cc.bal.UpdateClientConnState(balancer.ClientConnState{ResolverState: s, BalancerConfig: cc.lbCfg})
	}); e != nil {
		return ErrClientConnClosing
	}
	return err
}

// ResolverError reports a resolver error to the balancer.
func (cc *ClientConn) ResolverError(err error) {
	cc.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() == nil && cc.bal != nil {
			cc.bal.ResolverError(err)
		}
	})
}

// Connect asks the balancer to leave IDLE (balancer.ExitIdle).
func (cc *ClientConn) Connect() {
	cc.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() == nil && cc.bal != nil {
			cc.bal.ExitIdle()
		}
	})
}

// Invoke runs one RPC: it picks a SubConn with the current picker (waiting
// for a usable one, see Options.FailFast), sends the request on its
// transport and waits for the response, ctx, or the transport failing. The
// pick's Done is called with the outcome. Errors are *wire.Status values
// (context errors as DeadlineExceeded or Canceled).
func (cc *ClientConn) Invoke(ctx sim.Context, method string, req []byte, opts ...CallOption) ([]byte, error) {
	ci := callInfo{failFast: cc.opts.FailFast}
	for _, o := range opts {
		o(&ci)
	}
	info := balancer.PickInfo{FullMethodName: method, Ctx: ctx}
	lastGen := -1
	for {
		t, done, err := cc.pw.pick(ctx, ci.failFast, info, &lastGen)
		if err != nil {
			return nil, err
		}
		resp, err := t.Call(ctx, method, req)
		if err == transport.ErrClosed {
			// Never sent: pick again once the picker has moved on.
			if done != nil {
				done(balancer.DoneInfo{})
			}
			continue
		}
		if done != nil {
			done(balancer.DoneInfo{Err: err})
		}
		return resp, err
	}
}

// Close closes the balancer (on the serializer, which then stops), shuts
// down every SubConn and fails pending RPCs. When it returns no task or
// timer of the ClientConn is left. Do not call it from a balancer callback.
func (cc *ClientConn) Close() {
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		return
	}
	cc.closed = true
	cc.mu.Unlock()

	cc.pw.close()
	cc.ser.TrySchedule(func(sim.Context) {
		if cc.bal != nil {
			cc.bal.Close()
			cc.mu.Lock()
			cc.bal = nil
			cc.mu.Unlock()
		}
	})
	cc.ser.Close()
	cc.ser.Done().Recv()
	cc.cancel()

	cc.mu.Lock()
	scs := append([]*subConn(nil), cc.subConns...)
	cc.mu.Unlock()
	for _, sc := range scs {
		sc.Shutdown()
	}
}

func (cc *ClientConn) isClosed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.closed
}

func (cc *ClientConn) newSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	if len(addrs) != 1 {
		return nil, fmt.Errorf("clientconn: NewSubConn: %d addresses given, want exactly 1", len(addrs))
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return nil, fmt.Errorf("clientconn: NewSubConn(%s): %w", addrs[0], ErrClientConnClosing)
	}
	cc.nextID++
	sc := &subConn{
		cc: cc, id: cc.nextID, addr: addrs[0], listener: opts.StateListener,
		rnd:   cc.env.Rand(cc.target + "/backoff/" + addrs[0].Addr),
		wg:    cc.env.NewWaitGroup(),
		mu:    cc.env.NewMutex(),
		state: connectivity.Idle,
	}
	sc.ctx, sc.cancel = cc.env.WithCancel(cc.ctx)
	cc.subConns = append(cc.subConns, sc)
	return sc, nil
}

func (cc *ClientConn) removeSubConn(sc *subConn) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for i, s := range cc.subConns {
		if s == sc {
			cc.subConns = append(cc.subConns[:i], cc.subConns[i+1:]...)
			return
		}
	}
}

func (cc *ClientConn) updateState(s balancer.State) {
	cc.hookMu.Lock()
	defer cc.hookMu.Unlock()
	cc.mu.Lock()
	if cc.closed {
		cc.mu.Unlock()
		return
	}
	cc.state = s.ConnectivityState
	cc.mu.Unlock()
	cc.pw.update(s.Picker)
	if cc.opts.OnStateUpdate != nil {
		cc.opts.OnStateUpdate(s)
	}
}

// ccBalancerWrapper is the balancer.ClientConn the top-level balancer sees.
type ccBalancerWrapper struct{ cc *ClientConn }

var _ balancer.ClientConn = (*ccBalancerWrapper)(nil)

func (b *ccBalancerWrapper) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	return b.cc.newSubConn(addrs, opts)
}

func (b *ccBalancerWrapper) UpdateState(s balancer.State) { b.cc.updateState(s) }

func (b *ccBalancerWrapper) ResolveNow() {
	b.cc.mu.Lock()
	b.cc.resolveNow++
	b.cc.mu.Unlock()
}

func (b *ccBalancerWrapper) Target() string { return b.cc.target }
