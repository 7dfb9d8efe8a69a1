// Package outlierdetection is the "outlier_detection_experimental" LB
// policy (gRPC A50), modelled on grpc-go's xds/internal/balancer/
// outlierdetection: it wraps a child policy, counts the outcome of every
// RPC per address through the child's picker, and every interval ejects
// addresses whose failure percentage (or success rate) makes them outliers.
// An ejected address's SubConns are reported to the child as
// TRANSIENT_FAILURE; unejection (after baseEjectionTime × the number of
// ejections, capped at max(baseEjectionTime, maxEjectionTime)) restores their
// real state.
//
// Like grpc-go's, the balancer owns tasks that live from Build to Close:
//
//	"<name>/outlierDetectionBalancer.run"  child state and config updates,
//	                                        and the interval timer
//	"<name>/CallbackSerializer.run"        SubConn state and ejection
//	                                        updates for the child
//
// so a balancer that is never closed leaks them (grpc/grpc-go#7783), and
// a leak check names them.
package outlierdetection

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/grpcsync"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
)

// Name is the policy name.
const Name = "outlier_detection_experimental"

// ErrEjected is the ConnectionError of an ejected SubConn's
// TRANSIENT_FAILURE.
var ErrEjected = errors.New("outlier detection: address ejected")

func init() { balancer.Register(builder{}) }

type builder struct{}

func (builder) Name() string { return Name }

func (builder) ParseConfig(js json.RawMessage) (balancer.LBConfig, error) { return parseConfig(js) }

func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return newBalancer(cc, opts)
}

// Balancer is the outlier detection balancer. Besides balancer.Balancer it
// offers Ejected, for tests and scenarios.
type Balancer struct {
	cc   balancer.ClientConn
	env  netmodel.Env
	name string
	rnd  *sim.Rand

	closed  *grpcsync.Event
	done    *grpcsync.Event // fired when run has exited
	updates *grpcsync.Unbounded[any]
	ser     *grpcsync.CallbackSerializer

	// childMu serialises every call into the child (from the parent's
	// serializer and from ours). It is taken before mu, never after.
	childMu   sim.Mutex
	child     balancer.Balancer
	childName string

	mu           sim.Mutex
	cfg          *LBConfig
	addrs        map[string]*addressInfo
	timerStart   time.Time
	numEjected   int
	inhibit      bool
	updateUncond bool

	// Owned by the run task (and by Close once run has exited).
	childState balancer.State
	recentNoop bool
	timer      sim.Timer
}

var _ balancer.Balancer = (*Balancer)(nil)
var _ balancer.ClientConn = (*Balancer)(nil)

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) *Balancer {
	env := opts.Env
	b := &Balancer{
		cc: cc, env: env, name: opts.Name,
		rnd:     env.Rand(opts.Name + "/outlier_detection"),
		closed:  grpcsync.NewEvent(env),
		done:    grpcsync.NewEvent(env),
		updates: grpcsync.NewUnbounded[any](env),
		childMu: env.NewMutex(),
		mu:      env.NewMutex(),
		addrs:   map[string]*addressInfo{},
	}
	b.ser = grpcsync.NewCallbackSerializer(env, nil, opts.Name)
	env.Go(opts.Name+"/outlierDetectionBalancer.run", b.run)
	return b
}

type cfgUpdate struct {
	cfg  *LBConfig
	done sim.Chan[struct{}]
}

// UpdateClientConnState takes a new config and address list, passes them
// on to the child and waits until the run task has applied the config.
func (b *Balancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, ok := s.BalancerConfig.(*LBConfig)
	if !ok || cfg == nil || cfg.ChildPolicy == nil {
		return fmt.Errorf("%s: config of type %T: %w", Name, s.BalancerConfig, balancer.ErrBadResolverState)
	}
	if b.closed.HasFired() {
		return nil
	}

	b.childMu.Lock()
	if b.child == nil || b.childName != cfg.ChildPolicy.Name() {
		if b.child != nil {
			b.child.Close()
		}
		b.childName = cfg.ChildPolicy.Name()
		b.child = cfg.ChildPolicy.Build(b, balancer.BuildOptions{Env: b.env, Name: b.name + "/" + b.childName})
	}
	b.childMu.Unlock()

	b.mu.Lock()
	b.inhibit = true
	b.updateUncond = false
	b.cfg = cfg
	seen := map[string]bool{}
	for _, a := range s.ResolverState.Addresses {
		seen[a.Addr] = true
		if _, ok := b.addrs[a.Addr]; !ok {
			b.addrs[a.Addr] = &addressInfo{}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.addrs)) {
		if !seen[k] {
			if !b.addrs[k].ejectedAt.IsZero() {
				b.numEjected--
			}
			delete(b.addrs, k)
		}
	}
	b.mu.Unlock()

	b.childMu.Lock()
	err := b.child.UpdateClientConnState(balancer.ClientConnState{ResolverState: s.ResolverState, BalancerConfig: cfg.ChildConfig})
	b.childMu.Unlock()

	done := sim.NewChan[struct{}](b.env, 0)
	if b.updates.Put(&cfgUpdate{cfg: cfg, done: done}) == nil {
		sim.Select(b.env, sim.RecvCase(done, nil, nil), sim.RecvCase(b.done.Done(), nil, nil))
	}
	return err
}

func (b *Balancer) ResolverError(err error) {
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if b.child != nil {
		b.child.ResolverError(err)
	}
}

func (b *Balancer) ExitIdle() {
	b.childMu.Lock()
	defer b.childMu.Unlock()
	if b.child != nil {
		b.child.ExitIdle()
	}
}

// Close ends the run task and the serializer, closes the child (which
// shuts down its SubConns) and stops the interval timer.
func (b *Balancer) Close() {
	if !b.closed.Fire() {
		return
	}
	b.done.Done().Recv()
	b.ser.Close()
	b.ser.Done().Recv()
	b.childMu.Lock()
	if b.child != nil {
		b.child.Close()
		b.child = nil
	}
	b.childMu.Unlock()
	b.updates.Close()
	if b.timer != nil {
		b.timer.Stop()
	}
}

// Ejected lists the addresses currently ejected, sorted.
func (b *Balancer) Ejected() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, k := range slices.Sorted(maps.Keys(b.addrs)) {
		if !b.addrs[k].ejectedAt.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// The balancer.ClientConn the child sees.

func (b *Balancer) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	scw := &subConnWrapper{b: b, listener: opts.StateListener,
		latest: balancer.SubConnState{ConnectivityState: connectivity.Idle}}
	opts.StateListener = func(st balancer.SubConnState) { b.updateSubConnState(scw, st) }
	sc, err := b.cc.NewSubConn(addrs, opts)
	if err != nil {
		return nil, err
	}
	scw.SubConn = sc
	if len(addrs) != 1 {
		return scw, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ai, ok := b.addrs[addrs[0].Addr]; ok {
		ai.sws = append(ai.sws, scw)
		scw.addr = ai
		if !ai.ejectedAt.IsZero() {
			scw.eject()
		}
	}
	return scw, nil
}

func (b *Balancer) UpdateState(s balancer.State) { _ = b.updates.Put(s) }
func (b *Balancer) ResolveNow()                  { b.cc.ResolveNow() }
func (b *Balancer) Target() string               { return b.cc.Target() }

// updateSubConnState is the real SubConn's listener (called on the
// parent's serializer): it forwards the state to the child on ours, unless
// the SubConn is ejected.
func (b *Balancer) updateSubConnState(scw *subConnWrapper, st balancer.SubConnState) {
	if st.ConnectivityState == connectivity.Shutdown {
		b.mu.Lock()
		if ai := scw.addr; ai != nil {
			ai.sws = slices.DeleteFunc(ai.sws, func(s *subConnWrapper) bool { return s == scw })
			scw.addr = nil
		}
		b.mu.Unlock()
	}
	b.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() != nil {
			return
		}
		b.childMu.Lock()
		defer b.childMu.Unlock()
		scw.latest = st
		if (!scw.ejected || st.ConnectivityState == connectivity.Shutdown) && scw.listener != nil {
			scw.listener(st)
		}
	})
}

// run processes child state updates and config updates in order, and runs
// the interval algorithm when the timer fires.
func (b *Balancer) run() {
	defer b.done.Fire()
	for {
		var u any
		var ok bool
		cases := []sim.Case{sim.RecvCase(b.updates.Get(), &u, &ok), sim.RecvCase(b.closed.Done(), nil, nil)}
		if b.timer != nil {
			cases = append(cases, sim.RecvCase(b.timer.C(), nil, nil))
		}
		switch sim.Select(b.env, cases...) {
		case 0:
			if !ok {
				return
			}
			b.updates.Load()
			if b.closed.HasFired() {
				return
			}
			switch u := u.(type) {
			case balancer.State:
				b.handleChildState(u)
			case *cfgUpdate:
				b.handleConfig(u)
			}
		case 1:
			return
		case 2:
			b.intervalAlgorithm()
		}
	}
}

func (b *Balancer) armTimer(d time.Duration) {
	if b.timer == nil {
		b.timer = b.env.NewTimer(d)
		return
	}
	b.timer.Stop()
	b.timer.Reset(d)
}

func (b *Balancer) handleChildState(s balancer.State) {
	b.childState = s
	b.mu.Lock()
	if b.inhibit {
		b.updateUncond = true
		b.mu.Unlock()
		return
	}
	noop := b.cfg.noop()
	b.mu.Unlock()
	b.publish(noop)
}

func (b *Balancer) publish(noop bool) {
	b.recentNoop = noop
	b.cc.UpdateState(balancer.State{
		ConnectivityState: b.childState.ConnectivityState,
		Picker:            &wrappedPicker{b: b, child: b.childState.Picker, noop: noop},
	})
}

func (b *Balancer) handleConfig(u *cfgUpdate) {
	defer u.done.Close()
	b.mu.Lock()
	noop := u.cfg.noop()
	if noop {
		// A50: unset the timer start, uneject everything, reset the
		// multipliers, and do not run the timer.
		b.timerStart = time.Time{}
		for _, k := range slices.Sorted(maps.Keys(b.addrs)) {
			ai := b.addrs[k]
			if !ai.ejectedAt.IsZero() {
				b.unejectLocked(ai)
			}
			ai.multiplier = 0
		}
		if b.timer != nil {
			b.timer.Stop()
		}
	} else {
		interval := u.cfg.Interval
		if b.timerStart.IsZero() {
			b.timerStart = b.env.Now()
			for _, ai := range b.sortedAddrs() {
				ai.active, ai.inactive = bucket{}, bucket{}
			}
		} else if interval -= b.env.Since(b.timerStart); interval < 0 {
			interval = 0
		}
		b.armTimer(interval)
	}
	uncond := b.updateUncond
	b.mu.Unlock()

	if (b.childState.Picker != nil && noop != b.recentNoop) || uncond {
		b.publish(noop)
	}
	b.mu.Lock()
	b.inhibit, b.updateUncond = false, false
	b.mu.Unlock()
}

func (b *Balancer) sortedAddrs() []*addressInfo {
	out := make([]*addressInfo, 0, len(b.addrs))
	for _, k := range slices.Sorted(maps.Keys(b.addrs)) {
		out = append(out, b.addrs[k])
	}
	return out
}

// intervalAlgorithm is A50's interval timer: swap the call counters, run
// the ejection algorithms, uneject what has served its time, re-arm.
func (b *Balancer) intervalAlgorithm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cfg.noop() {
		return
	}
	b.timerStart = b.env.Now()
	addrs := b.sortedAddrs()
	for _, ai := range addrs {
		ai.inactive, ai.active = ai.active, bucket{}
	}
	if b.cfg.SuccessRateEjection != nil {
		b.successRateLocked(addrs)
	}
	if b.cfg.FailurePercentageEjection != nil {
		b.failurePercentageLocked(addrs)
	}
	now := b.env.Now()
	for _, ai := range addrs {
		if ai.ejectedAt.IsZero() {
			if ai.multiplier > 0 {
				ai.multiplier--
			}
			continue
		}
		et := b.cfg.BaseEjectionTime * time.Duration(ai.multiplier)
		met := max(b.cfg.BaseEjectionTime, b.cfg.MaxEjectionTime)
		if now.After(ai.ejectedAt.Add(min(et, met))) {
			b.unejectLocked(ai)
		}
	}
	b.armTimer(b.cfg.Interval)
}

func withVolume(addrs []*addressInfo, volume uint32) []*addressInfo {
	var out []*addressInfo
	for _, ai := range addrs {
		if ai.inactive.total() >= uint64(volume) {
			out = append(out, ai)
		}
	}
	return out
}

func (b *Balancer) ejectionCapped() bool {
	// float64(...) conversions keep every product from being fused into an
	// FMA, so the result is the same on every architecture.
	return float64(float64(b.numEjected)/float64(len(b.addrs))*100) >= float64(b.cfg.MaxEjectionPercent)
}

func (b *Balancer) successRateLocked(addrs []*addressInfo) {
	cfg := b.cfg.SuccessRateEjection
	consider := withVolume(addrs, cfg.RequestVolume)
	if len(consider) == 0 || len(consider) < int(cfg.MinimumHosts) {
		return
	}
	var sum float64
	for _, ai := range consider {
		sum += ai.inactive.successRate()
	}
	mean := sum / float64(len(consider))
	var squares float64
	for _, ai := range consider {
		dev := ai.inactive.successRate() - mean
		squares += float64(dev * dev)
	}
	stddev := math.Sqrt(squares / float64(len(consider)))
	required := mean - float64(stddev*float64(float64(cfg.StdevFactor)/1000))
	for _, ai := range consider {
		if b.ejectionCapped() {
			return
		}
		if ai.inactive.successRate() < required && uint32(b.rnd.Intn(100)) < cfg.EnforcementPercentage {
			b.ejectLocked(ai)
		}
	}
}

func (b *Balancer) failurePercentageLocked(addrs []*addressInfo) {
	cfg := b.cfg.FailurePercentageEjection
	consider := withVolume(addrs, cfg.RequestVolume)
	if len(consider) == 0 || len(consider) < int(cfg.MinimumHosts) {
		return
	}
	for _, ai := range consider {
		if b.ejectionCapped() {
			return
		}
		failure := float64(float64(ai.inactive.failures)/float64(ai.inactive.total())) * 100
		if failure > float64(cfg.Threshold) && uint32(b.rnd.Intn(100)) < cfg.EnforcementPercentage {
			b.ejectLocked(ai)
		}
	}
}

func (b *Balancer) ejectLocked(ai *addressInfo) {
	if !ai.ejectedAt.IsZero() {
		return
	}
	b.numEjected++
	ai.ejectedAt = b.timerStart
	ai.multiplier++
	ai.ejections++
	for _, scw := range ai.sws {
		scw.eject()
	}
}

func (b *Balancer) unejectLocked(ai *addressInfo) {
	b.numEjected--
	ai.ejectedAt = time.Time{}
	for _, scw := range ai.sws {
		scw.uneject()
	}
}

// count records an RPC outcome against the picked SubConn's address.
func (b *Balancer) count(scw *subConnWrapper, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ai := scw.addr; ai != nil {
		if err == nil {
			ai.active.successes++
		} else {
			ai.active.failures++
		}
	}
}

type bucket struct{ successes, failures uint64 }

func (k bucket) total() uint64 { return k.successes + k.failures }

func (k bucket) successRate() float64 { return float64(k.successes) / float64(k.total()) }

// addressInfo is one address's counters and ejection state (guarded by
// Balancer.mu).
type addressInfo struct {
	active, inactive bucket
	ejectedAt        time.Time // zero when not ejected
	multiplier       int64
	ejections        int
	sws              []*subConnWrapper
}

// subConnWrapper is the SubConn the child sees.
type subConnWrapper struct {
	balancer.SubConn
	b        *Balancer
	listener func(balancer.SubConnState)
	addr     *addressInfo // guarded by b.mu

	// Only touched on the balancer's serializer.
	ejected bool
	latest  balancer.SubConnState
}

// Unwrap returns the channel's SubConn.
func (scw *subConnWrapper) Unwrap() balancer.SubConn { return scw.SubConn }

func (scw *subConnWrapper) eject() {
	scw.b.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() != nil {
			return
		}
		scw.b.childMu.Lock()
		defer scw.b.childMu.Unlock()
		if scw.ejected || scw.latest.ConnectivityState == connectivity.Shutdown {
			return
		}
		scw.ejected = true
		if scw.listener != nil {
			scw.listener(balancer.SubConnState{ConnectivityState: connectivity.TransientFailure, ConnectionError: ErrEjected})
		}
	})
}

func (scw *subConnWrapper) uneject() {
	scw.b.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() != nil {
			return
		}
		scw.b.childMu.Lock()
		defer scw.b.childMu.Unlock()
		if !scw.ejected || scw.latest.ConnectivityState == connectivity.Shutdown {
			return
		}
		scw.ejected = false
		if scw.listener != nil {
			scw.listener(scw.latest)
		}
	})
}

// wrappedPicker counts every RPC's outcome (unless the config is a no-op)
// and hands the channel its own SubConn.
type wrappedPicker struct {
	b     *Balancer
	child balancer.Picker
	noop  bool
}

func (p *wrappedPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if p.child == nil {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	pr, err := p.child.Pick(info)
	if err != nil {
		return pr, err
	}
	scw, ok := pr.SubConn.(*subConnWrapper)
	if !ok {
		return pr, nil
	}
	childDone := pr.Done
	pr.SubConn = scw.SubConn
	pr.Done = func(di balancer.DoneInfo) {
		if !p.noop {
			p.b.count(scw, di.Err)
		}
		if childDone != nil {
			childDone(di)
		}
	}
	return pr, nil
}
