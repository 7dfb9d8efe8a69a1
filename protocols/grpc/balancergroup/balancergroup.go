// Package balancergroup implements BalancerGroup, the simulated counterpart of
// grpc-go's internal/balancergroup: it runs a set of child (sub-)balancers,
// each under an id, on behalf of a parent policy such as priority (gRFC A56).
//
//	Parent --> sub-balancers:  Add, Remove, UpdateClientConnState,
//	                           ResolverError, ExitIdle, SubConn state updates
//	Sub-balancers --> parent:  NewSubConn (forwarded to the parent ClientConn
//	                           and recorded), UpdateState (forwarded to the
//	                           StateAggregator), ResolveNow, Target
//
// Removed children can be kept in an idle cache (a cache.TimeoutCache) for
// SubBalancerCloseTimeout and revived by a later Add; the cache closes them
// when the timeout passes.
//
// # Variants
//
// The group keeps grpc-go's historical shutdown race as a named variant
// (Options.Variant), as a small branch in the real code path:
//
//   - Buggy (before grpc/grpc-go#8095): Close clears the idle cache (step b)
//     before marking the group closed (step c), the order introduced by #4308.
//     A Remove that runs between the two sees the group still open and parks
//     its child in the just-cleared cache, where it lives, with its tasks, for
//     SubBalancerCloseTimeout after Close returned: grpc/grpc-go#7783.
//   - Fixed (#8095, the default): closing is terminal. Close marks the group
//     closed under the outgoing lock before it clears the cache, and every
//     entry point returns early (Add with an error) once the group is closed.
//
// # Locks
//
// outgoingMu guards the direction parent --> sub-balancers: the outgoing
// closed flag, the id --> wrapper map and the cache. incomingMu guards the
// direction sub-balancers --> parent: the incoming closed flag and the
// SubConn --> sub-balancer table. When both are held, outgoingMu is taken
// first (a sub-balancer called under outgoingMu may create a SubConn, which
// takes incomingMu). Each wrapper also has a mutex for its cached state,
// taken after either group lock. All are Env mutexes, so in simulation each
// Lock is a scheduling point.
package balancergroup

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/cache"
	"github.com/detsim/detsim/sim"
)

// Variant selects the historical behaviour of Close (see the package doc).
type Variant int

const (
	// Fixed is grpc-go after #8095 (v1.72.0): closing is terminal.
	Fixed Variant = iota
	// Buggy is grpc-go before #8095: Close clears the idle cache before it
	// marks the group closed, so a concurrent Remove can leak a child
	// (grpc/grpc-go#7783).
	Buggy
)

func (v Variant) String() string {
	switch v {
	case Fixed:
		return "fixed"
	case Buggy:
		return "buggy"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// StateAggregator receives every sub-balancer's state and picker; the parent
// policy combines them into its own. It is called with the sub-balancer's
// wrapper lock held, possibly with the group's outgoing lock held too (when
// a sub-balancer updates its state inline from a call the group made), so it
// must not call back into the group synchronously.
type StateAggregator interface {
	UpdateState(id string, state balancer.State)
}

// Options configure a BalancerGroup.
type Options struct {
	// Env is the runtime the group's locks and timers, and its
	// sub-balancers' tasks, come from. Required.
	Env netmodel.Env
	// Name identifies the group in logs; the sub-balancer with id is built
	// with BuildOptions.Name "<Name>/<id>".
	Name string
	// SubBalancerCloseTimeout is how long a removed sub-balancer stays in the
	// idle cache, revivable by Add, before it is closed. 0 disables the cache:
	// Remove closes the sub-balancer at once. The priority policy uses
	// 15*time.Minute (grpc-go's DefaultSubBalancerCloseTimeout). Must not be
	// negative.
	SubBalancerCloseTimeout time.Duration
	// StateAggregator receives every sub-balancer's state updates. Nil
	// drops them.
	StateAggregator StateAggregator
	// Variant selects Fixed (the default) or Buggy shutdown behaviour.
	Variant Variant
}

// ErrClosed is returned by Add, and by a sub-balancer's NewSubConn, once the
// group is closed.
var ErrClosed = errors.New("balancergroup: closed")

// BalancerGroup runs a set of sub-balancers for a parent policy. It is not a
// balancer.Balancer itself: the parent routes updates to children by id.
//
// A group is started by New and cannot be restarted after Close (grpc-go's
// Start/restart cycle was removed by #8095; the Buggy variant keeps its
// Close order, not its restartability).
type BalancerGroup struct {
	cc   balancer.ClientConn
	opts Options
	log  *slog.Logger

	outgoingMu sim.Mutex
	// outgoingClosed stops calls into sub-balancers. It is set by Close:
	// before the cache is cleared (Fixed) or after (Buggy; grpc-go's
	// outgoingStarted == !outgoingClosed, since the group starts in New).
	outgoingClosed bool
	idToBalancer   map[string]*subBalancerWrapper
	// deletedCache holds removed sub-balancers until they are revived or
	// time out; nil when SubBalancerCloseTimeout is 0.
	deletedCache *cache.TimeoutCache

	incomingMu sim.Mutex
	// incomingClosed stops new SubConns. Set by Close.
	incomingClosed bool
	// subConns maps each live SubConn to the sub-balancer instance that
	// created it (grpc-go's scToSubBalancer), kept in creation order so
	// shutdowns happen in a reproducible order.
	subConns []subConnEntry
}

type subConnEntry struct {
	sc    balancer.SubConn
	owner *childCC
}

// New returns a started group whose sub-balancers create SubConns through
// cc. It panics on invalid options (a nil Env, a negative timeout or an
// unknown variant): those are programming errors of the parent policy.
func New(cc balancer.ClientConn, opts Options) *BalancerGroup {
	switch {
	case opts.Env == nil:
		panic("balancergroup: New: Options.Env is nil")
	case opts.SubBalancerCloseTimeout < 0:
		panic(fmt.Sprintf("balancergroup: New: Options.SubBalancerCloseTimeout = %v: must be >= 0 (0 disables the idle cache)", opts.SubBalancerCloseTimeout))
	case opts.Variant != Fixed && opts.Variant != Buggy:
		panic(fmt.Sprintf("balancergroup: New: Options.Variant = %d: want Fixed or Buggy", int(opts.Variant)))
	}
	bg := &BalancerGroup{
		cc:           cc,
		opts:         opts,
		log:          opts.Env.Logger().With("balancergroup", opts.Name, "variant", opts.Variant.String()),
		outgoingMu:   opts.Env.NewMutex(),
		incomingMu:   opts.Env.NewMutex(),
		idToBalancer: map[string]*subBalancerWrapper{},
	}
	if opts.SubBalancerCloseTimeout > 0 {
		bg.deletedCache = cache.NewTimeoutCache(opts.Env, opts.SubBalancerCloseTimeout)
	}
	return bg
}

// Add adds a sub-balancer built by builder under id (grpc-go's
// AddWithClientConn). If id is in the idle cache with the same policy, the
// cached sub-balancer is revived and its last state re-sent to the
// aggregator; a cached one with a different policy is closed and a new one
// built. Adding an id that is already active is an error.
//
// After Close, Add returns ErrClosed (Fixed). The Buggy variant, like
// grpc-go before #8095, records the child without building it (it would
// have been built by a later Start) and returns nil.
func (bg *BalancerGroup) Add(id string, builder balancer.Builder) error {
	if builder == nil {
		return fmt.Errorf("balancergroup %s: Add(%q): nil builder", bg.opts.Name, id)
	}
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.outgoingClosed && bg.opts.Variant == Fixed {
		return fmt.Errorf("balancergroup %s: Add(%q): %w", bg.opts.Name, id, ErrClosed) // #8095
	}
	if _, dup := bg.idToBalancer[id]; dup {
		return fmt.Errorf("balancergroup %s: Add(%q): a child with this id is already active", bg.opts.Name, id)
	}

	var sbw *subBalancerWrapper
	// A closed group's cache is empty (or must be treated as if it were),
	// so it is only searched while the group is open.
	if !bg.outgoingClosed && bg.deletedCache != nil {
		if old, ok := bg.deletedCache.Remove(id); ok {
			sbw = old.(*subBalancerWrapper)
			if sbw.builder.Name() != builder.Name() {
				// Cached with another policy: close it (and its SubConns,
				// before the new child can create any) and build afresh.
				bg.log.Debug("discarding cached child of another policy", "id", id, "cached", sbw.builder.Name(), "want", builder.Name())
				sbw.stopBalancer()
				sbw = nil
			}
		}
	}
	if sbw == nil {
		sbw = &subBalancerWrapper{group: bg, id: id, builder: builder, mu: bg.opts.Env.NewMutex()}
		if !bg.outgoingClosed {
			sbw.startBalancer()
		}
	} else {
		bg.log.Debug("reviving cached child", "id", id)
		sbw.resendCachedState()
	}
	bg.idToBalancer[id] = sbw
	return nil
}

// Remove removes the sub-balancer id. With the idle cache enabled it keeps
// running in the cache, revivable by Add, and is closed (with its SubConns)
// when SubBalancerCloseTimeout has passed; otherwise it is closed at once.
func (bg *BalancerGroup) Remove(id string) {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.outgoingClosed {
		if bg.opts.Variant == Buggy {
			// Pre-#8095: the entry is dropped without stopping it ("we
			// wouldn't have created the sub-balancer"); Close step (c)
			// has already stopped everything that was in the map.
			delete(bg.idToBalancer, id)
		}
		// Fixed (#8095): Remove after Close is a no-op; Close stops and
		// deletes every child itself.
		//
		// NB: in the Buggy variant outgoingClosed is only set by Close
		// step (c), after the cache was cleared in step (b). A Remove in
		// between does not get here: it parks the child in the cleared
		// cache below, and nothing closes it until the cache's timer
		// fires (grpc/grpc-go#7783).
		return
	}
	sbw, ok := bg.idToBalancer[id]
	if !ok {
		bg.log.Debug("Remove of unknown child", "id", id)
		return
	}
	delete(bg.idToBalancer, id)

	if bg.deletedCache != nil {
		bg.log.Debug("caching removed child", "id", id, "timeout", bg.opts.SubBalancerCloseTimeout)
		bg.deletedCache.Add(id, sbw, func() {
			// Evicted (timeout, or Close's Clear): close it and its
			// SubConns unconditionally, even if the group has been
			// closed meanwhile.
			bg.outgoingMu.Lock()
			defer bg.outgoingMu.Unlock()
			bg.log.Debug("closing cached child", "id", id)
			sbw.stopBalancer()
		})
		return
	}
	sbw.stopBalancer()
}

// UpdateClientConnState forwards a resolver/config update to sub-balancer
// id, which also remembers it. Unknown ids are ignored.
func (bg *BalancerGroup) UpdateClientConnState(id string, s balancer.ClientConnState) error {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.closedForOutgoing() {
		return nil
	}
	if sbw, ok := bg.idToBalancer[id]; ok {
		return sbw.updateClientConnState(s)
	}
	return nil
}

// ResolverError forwards a resolver error to every active sub-balancer.
func (bg *BalancerGroup) ResolverError(err error) {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.closedForOutgoing() {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(bg.idToBalancer)) {
		bg.idToBalancer[id].resolverError(err)
	}
}

// ExitIdle asks every active sub-balancer to leave IDLE.
func (bg *BalancerGroup) ExitIdle() {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.closedForOutgoing() {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(bg.idToBalancer)) {
		bg.idToBalancer[id].exitIdle()
	}
}

// ExitIdleOne asks sub-balancer id to leave IDLE.
func (bg *BalancerGroup) ExitIdleOne(id string) {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.closedForOutgoing() {
		return
	}
	if sbw := bg.idToBalancer[id]; sbw != nil {
		sbw.exitIdle()
	}
}

// closedForOutgoing reports whether an outgoing call must return early
// because the group is closed. The caller holds outgoingMu.
//
// Fixed (#8095): every entry point checks. Buggy (pre-#8095): none did; the
// calls reached the wrappers, whose sub-balancers are stopped (nil) after
// Close, so they only recorded the update.
func (bg *BalancerGroup) closedForOutgoing() bool {
	return bg.opts.Variant == Fixed && bg.outgoingClosed
}

// Close shuts the group down: it shuts down every SubConn, closes every
// cached and active sub-balancer, and stops forwarding. It is idempotent,
// and terminal.
//
// The order of its steps is what the Buggy and Fixed variants differ in;
// see the comments on each step.
func (bg *BalancerGroup) Close() {
	// (a) / (1): the incoming side. No new SubConns from now on; shut down
	// the existing ones.
	bg.incomingMu.Lock()
	var shut []balancer.SubConn
	if !bg.incomingClosed {
		bg.incomingClosed = true
		for _, e := range bg.subConns {
			shut = append(shut, e.sc)
		}
		bg.subConns = nil
	}
	bg.incomingMu.Unlock()
	for _, sc := range shut {
		sc.Shutdown()
	}

	if bg.opts.Variant == Fixed {
		// (2), #8095: mark the group closed BEFORE clearing the cache. This
		// ensures no entries are added to the cache after this point: a
		// concurrent Remove either cached its child before this step (and
		// Clear below closes it) or sees the group closed and leaves the
		// child in the map (and step 4 closes it).
		bg.outgoingMu.Lock()
		bg.outgoingClosed = true
		bg.outgoingMu.Unlock()
	}

	// (b) / (3): close every cached child. Clear runs the eviction
	// callbacks, which take outgoingMu, so it is called without it.
	if bg.deletedCache != nil {
		bg.deletedCache.Clear(true)
	}

	// (c) / (4): close the active children.
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.opts.Variant == Buggy {
		// Pre-#8095 (the order #4308 introduced to fix an earlier leak):
		// the group is only marked closed here, after the cache was
		// cleared. A Remove that ran between (b) and (c) moved its child
		// from the map into the cleared cache, so it is stopped neither by
		// Clear nor by this loop: grpc/grpc-go#7783. The wrappers stay in
		// the map (a pre-#8095 group could be restarted).
		if !bg.outgoingClosed {
			bg.outgoingClosed = true
			for _, id := range slices.Sorted(maps.Keys(bg.idToBalancer)) {
				bg.idToBalancer[id].stopBalancer()
			}
		}
	} else {
		// (4), #8095: stop and delete every child left in the map.
		for _, id := range slices.Sorted(maps.Keys(bg.idToBalancer)) {
			bg.idToBalancer[id].stopBalancer()
			delete(bg.idToBalancer, id)
		}
	}
}

// Cached returns the ids in the idle cache, sorted (nil without a cache).
func (bg *BalancerGroup) Cached() []string {
	if bg.deletedCache == nil {
		return nil
	}
	return bg.deletedCache.Keys()
}

// Active returns the ids of the children in the group's map, sorted. After
// Close it is empty in the Fixed variant; the Buggy variant keeps the
// (stopped) wrappers there, as grpc-go did before #8095.
func (bg *BalancerGroup) Active() []string {
	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	return slices.Sorted(maps.Keys(bg.idToBalancer))
}
