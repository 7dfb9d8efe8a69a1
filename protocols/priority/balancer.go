// Package priority is the gRPC priority load-balancing policy (gRFC A56,
// grpc-go xds/internal/balancer/priority), running on a netmodel.Env: an
// ordered list of child policies held in a balancergroup, with lazy child
// creation, a 10s failover timer per child, the A56 priority choice, and
// deactivation of lower priorities into the group's 15-minute idle cache.
//
// The structure follows grpc-go so that its shutdown race is reproduced by
// the real code path: child state updates are queued and applied by the
// run task under mu; Close closes the balancergroup without holding mu. With
// the group's Buggy variant (pre grpc/grpc-go#8095) a Remove from the run
// task that lands between the group's cache Clear and its final stop leaks
// a child (grpc/grpc-go#7783).
package priority

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
)

// Name is the policy's registered name.
const Name = "priority_experimental"

const (
	// DefaultPriorityInitTimeout is the failover timer (gRFC A56: 10s).
	DefaultPriorityInitTimeout = 10 * time.Second
	// DefaultSubBalancerCloseTimeout is how long a deactivated child stays
	// in the balancergroup's idle cache (gRFC A56: 15 minutes).
	DefaultSubBalancerCloseTimeout = 15 * time.Minute
)

// ErrAllPrioritiesRemoved is the picker error when no priority is left.
var ErrAllPrioritiesRemoved = errors.New("no priority is provided, all priorities are removed")

func init() { balancer.Register(builder{}) }

type builder struct{}

func (builder) Name() string { return Name }

func (builder) ParseConfig(raw json.RawMessage) (balancer.LBConfig, error) {
	return ParseConfig(raw)
}

func (builder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return newBalancer(cc, opts)
}

// childStateUpdate is an entry of the update queue drained by run.
type childStateUpdate struct {
	name   string
	state  balancer.State
	resume bool // resume picker updates after a config update
}

// Balancer is the priority policy. Its exported methods besides the
// balancer.Balancer ones are for scenarios and tests.
type Balancer struct {
	env  netmodel.Env
	cc   balancer.ClientConn
	name string
	bg   *balancergroup.BalancerGroup

	// The update queue (grpc-go's buffer.Unbounded): UpdateState appends,
	// run drains. qmu guards it; notify wakes run.
	qmu     sim.Mutex
	queue   []childStateUpdate
	qclosed bool
	notify  sim.Chan[struct{}]
	done    sim.Chan[struct{}] // closed by Close (grpc-go's b.done)
	isDone  bool
	runExit sim.Chan[struct{}] // closed when run returns

	// mu guards everything below (grpc-go's b.mu).
	mu                   sim.Mutex
	locked               bool
	childInUse           string
	inhibitPickerUpdates bool
	priorities           []string
	children             map[string]*childBalancer

	// Snapshot's cache: the A56 choice computed at generation snapGen (gen
	// counts unlocks of mu, so nothing the choice reads changed since).
	gen, snapGen uint64
	snapWant     string
	snapHolds    bool // childInUse == snapWant at snapGen
	viewBuf      []ChildView
}

var _ balancer.Balancer = (*Balancer)(nil)

func newBalancer(cc balancer.ClientConn, opts balancer.BuildOptions) *Balancer {
	env := opts.Env
	b := &Balancer{
		env: env, cc: cc, name: opts.Name,
		qmu: env.NewMutex(), mu: env.NewMutex(),
		notify: sim.NewChan[struct{}](env, 1), done: sim.NewChan[struct{}](env, 0),
		runExit: sim.NewChan[struct{}](env, 0), children: map[string]*childBalancer{},
	}
	env.Go(b.name+"/priority.run", b.run)
	return b
}

func (b *Balancer) lock() {
	b.mu.Lock()
	b.locked = true
}

func (b *Balancer) unlock() {
	b.gen++ // whatever changed under mu, Snapshot recomputes
	b.locked = false
	b.mu.Unlock()
}

// UpdateClientConnState applies a config and addresses from the parent.
// Children are created, updated and removed, then the priority is chosen
// once: child picker updates that arrive while the update is applied are
// held back (A56: no re-choice while applying a parent update).
func (b *Balancer) UpdateClientConnState(s balancer.ClientConnState) error {
	cfg, ok := s.BalancerConfig.(*LBConfig)
	if !ok {
		return fmt.Errorf("priority: unexpected config type %T", s.BalancerConfig)
	}
	split := map[string][]resolver.Address{}
	for _, a := range s.ResolverState.Addresses {
		if len(a.Path) == 0 {
			continue
		}
		split[a.Path[0]] = append(split[a.Path[0]], resolver.Address{Addr: a.Addr, Path: a.Path[1:]})
	}
	b.lock()
	if b.isDone {
		b.unlock()
		return errors.New("priority: balancer is closed")
	}
	if b.bg == nil {
		b.bg = balancergroup.New(b.cc, balancergroup.Options{
			Env: b.env, Name: b.name, SubBalancerCloseTimeout: DefaultSubBalancerCloseTimeout,
			StateAggregator: b, Variant: cfg.Variant,
		})
	}
	for _, name := range sortedKeys(cfg.Children) {
		nc := cfg.Children[name]
		rs := resolver.State{Addresses: split[name]}
		cur, ok := b.children[name]
		if !ok {
			// New child: it is built only when its priority is chosen.
			cur = newChildBalancer(name, b, nc.Builder)
			b.children[name] = cur
			cur.updateConfig(nc, rs)
			continue
		}
		if cur.builder.Name() != nc.Builder.Name() {
			// The policy changed: stop the old one; the new one is built
			// when the priority is synced.
			cur.stop()
			cur.builder = nc.Builder
		}
		cur.updateConfig(nc, rs)
	}
	for _, name := range sortedKeys(b.children) {
		if _, ok := cfg.Children[name]; !ok {
			b.children[name].stop()
			delete(b.children, name)
		}
	}
	b.priorities = cfg.Priorities
	b.inhibitPickerUpdates = true
	b.unlock()
	// Resume picker updates once the updates queued by the children so far
	// are applied, then choose.
	b.enqueue(childStateUpdate{resume: true})
	return nil
}

// ResolverError forwards a resolver error to the children.
func (b *Balancer) ResolverError(err error) {
	if b.bg != nil {
		b.bg.ResolverError(err)
	}
}

// ExitIdle asks the children to leave IDLE.
func (b *Balancer) ExitIdle() {
	if b.bg != nil {
		b.bg.ExitIdle()
	}
}

// Close shuts the policy down, in grpc-go's order: the balancergroup is
// closed WITHOUT holding mu (so the run task may be inside a priority sync
// at that moment), then the queue is closed, then under mu done fires and
// every child is stopped.
func (b *Balancer) Close() {
	if b.bg != nil {
		b.bg.Close()
	}
	b.qmu.Lock()
	b.qclosed = true
	b.qmu.Unlock()
	b.lock()
	defer b.unlock()
	if !b.isDone {
		b.isDone = true
		b.done.Close()
	}
	// Drop the child in use, so a racing picker update is ignored, and stop
	// the children (their failover timers).
	b.childInUse = ""
	for _, name := range sortedKeys(b.children) {
		b.children[name].stop()
	}
}

// UpdateState is called by the balancergroup with a child's new state; it
// is queued for the run task (grpc-go's childBalancerStateUpdate buffer).
func (b *Balancer) UpdateState(childName string, s balancer.State) {
	b.enqueue(childStateUpdate{name: childName, state: s})
}

func (b *Balancer) enqueue(u childStateUpdate) {
	b.qmu.Lock()
	defer b.qmu.Unlock()
	if b.qclosed {
		return
	}
	b.queue = append(b.queue, u)
	b.notify.TrySend(struct{}{})
}

// run drains the update queue, applying each update under mu, until done.
func (b *Balancer) run() {
	defer b.runExit.Close()
	for {
		b.qmu.Lock()
		for len(b.queue) == 0 && !b.qclosed {
			b.qmu.Unlock()
			if sim.Select(b.env, sim.RecvCase(b.notify, nil, nil), sim.RecvCase(b.done, nil, nil)) == 1 {
				return
			}
			b.qmu.Lock()
		}
		if len(b.queue) == 0 {
			b.qmu.Unlock()
			return
		}
		u := b.queue[0]
		b.queue[0] = childStateUpdate{}
		b.queue = b.queue[1:]
		b.qmu.Unlock()

		b.lock()
		// Check done under mu, as grpc-go does: an update dequeued before
		// Close may still be applied while Close is closing the group.
		if b.isDone {
			b.unlock()
			return
		}
		if u.resume {
			b.inhibitPickerUpdates = false
			b.syncPriority("")
		} else {
			b.handleChildStateUpdate(u.name, u.state)
		}
		b.unlock()
	}
}

// RunDone is closed when the run task has exited.
func (b *Balancer) RunDone() sim.Chan[struct{}] { return b.runExit }

// Group is the balancergroup holding the children (nil before the first
// config), for tests and leak checks.
func (b *Balancer) Group() *balancergroup.BalancerGroup { return b.bg }
