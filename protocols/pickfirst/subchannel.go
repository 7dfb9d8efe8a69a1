// Package pickfirst is gRPC's pick_first policy as grpc-js implements it
// (gRFC A62), with the grpc-js 1.10.1 / 1.10.2 / 1.10.11 variants, on a
// netmodel.Env: subchannels with gRPC connectivity semantics and backoff, a
// shared subchannel pool, a DNS-style resolver, the resolving load balancer
// and a channel that queues picks.
//
// Subchannels (this file, pool.go, backoff.go; each connection is a
// protocols/grpc/transport.Transport) follow grpc-js 1.10's subchannel.ts,
// subchannel-pool.ts and backoff-timeout.ts. Their
// tasks, started with env.Go so that on a netmodel host they belong to the
// host:
//
//	"<pool>/<addr>/subchannel.connect"  one per connection attempt: the dial
//	"<pool>/<addr>/transport.reader"    one per READY connection: reads responses
//
// plus the backoff timer's AfterFunc task. Pool.Close ends all of them.
package pickfirst

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/transport"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
)

// StateListener is registered on a real subchannel. Registrations are a set
// keyed by the *StateListener pointer, as grpc-js keeps listener functions
// in a Set: adding the same pointer twice is one registration, and removing
// it through any Handle of the subchannel removes it for every Handle.
type StateListener struct {
	// Fn is called for each transition with the subchannel, the previous
	// and new states and, for TRANSIENT_FAILURE, the connection error.
	Fn func(sc *Subchannel, prev, next connectivity.State, err error)
}

// SubchannelOptions configure every subchannel of a pool.
type SubchannelOptions struct {
	// Backoff is the connection backoff; the zero value means
	// DefaultBackoff.
	Backoff BackoffConfig
	// OnAttempt, if set, is called when a connection attempt starts, with
	// the address and env.Now().
	OnAttempt func(addr string, at time.Time)
	// OnTransition, if set, observes every state change of every real
	// subchannel; it is called before the subchannel's listeners.
	OnTransition func(addr string, prev, next connectivity.State)
	// OnBackoff, if set, observes each backoff delay scheduled, with its
	// 0-based index since the backoff was last reset (by a READY
	// connection): the spec bounds the i-th delay.
	OnBackoff func(addr string, attempt int, d time.Duration)
}

// Subchannel is the real subchannel (grpc-js subchannel.ts): one backend
// address, at most one connection, and gRPC connectivity semantics:
//
//	IDLE --StartConnecting--> CONNECTING --connected--> READY --disconnected--> IDLE
//	                          CONNECTING --failed-->    TRANSIENT_FAILURE
//	TRANSIENT_FAILURE --backoff timer ends--> IDLE, or CONNECTING if
//	                    StartConnecting was called during TRANSIENT_FAILURE
//	any --last Unref, Pool.Close--> SHUTDOWN (terminal)
//
// Entering CONNECTING starts the backoff timer and a connection attempt;
// READY stops the timer and resets the backoff. If the timer has already
// ended when an attempt fails, the subchannel leaves TRANSIENT_FAILURE at
// once, as if the timer ended then (grpc-js's process.nextTick).
//
// Listeners are called in registration order without the subchannel's lock
// held, normally on the task that caused the transition (the caller of
// StartConnecting or Unref, the connect task, the transport reader, the
// backoff timer). Transitions are delivered strictly in order: if one
// happens while another task (or, reentrantly, a listener on the same task)
// is still delivering earlier ones, it is queued and that delivery loop
// delivers it next. So do not call StartConnecting or Unref while holding a
// lock your listener takes. A listener removed before a queued transition
// is delivered does not get it; one added after the transition does not
// either.
type Subchannel struct {
	pool    *Pool
	env     netmodel.Env
	addr    string
	name    string // "<pool>/<addr>": the prefix of task names
	opts    SubchannelOptions
	backoff *Backoff
	ctx     sim.Context // cancelled at shutdown: ends a dial in progress
	cancel  func()

	mu                 sim.Mutex
	state              connectivity.State
	refs               int
	listeners          []*StateListener // a set, in registration order
	continueConnecting bool
	attempts           int
	attemptID          int // identifies the attempt in progress
	transport          *transport.Transport
	events             []func() // transitions and hooks not yet delivered
	delivering         bool     // a task is running deliver's loop
}

func newSubchannel(p *Pool, addr string) *Subchannel {
	env := p.env
	ctx, cancel := env.WithCancel(env.Background())
	s := &Subchannel{
		pool: p, env: env, addr: addr, name: p.name + "/" + addr, opts: p.opts,
		ctx: ctx, cancel: cancel, mu: env.NewMutex(), state: connectivity.Idle,
	}
	s.backoff = NewBackoff(env, p.opts.Backoff, env.Rand(s.name+"/backoff"), s.onBackoffTimer)
	return s
}

// Addr is the subchannel's address.
func (s *Subchannel) Addr() string { return s.addr }

func (s *Subchannel) String() string { return "Subchannel(" + s.name + ")" }

// State is the current connectivity state.
func (s *Subchannel) State() connectivity.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Listeners is the number of registered listeners.
func (s *Subchannel) Listeners() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.listeners)
}

// HasListener reports whether l is registered.
func (s *Subchannel) HasListener(l *StateListener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.listeners, l)
}

// InBackoff reports whether the backoff timer is pending.
func (s *Subchannel) InBackoff() bool { return s.backoff.IsRunning() }

// Attempts is the number of connection attempts started so far.
func (s *Subchannel) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Refs is the subchannel's reference count (the sum over its Handles).
func (s *Subchannel) Refs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refs
}

// Call makes one RPC on the READY connection. A subchannel that is not
// READY fails it with Unavailable, as does a connection that drops before
// the response; ctx ending fails it with DeadlineExceeded or Canceled.
func (s *Subchannel) Call(ctx sim.Context, method string, req []byte) ([]byte, error) {
	s.mu.Lock()
	st, t := s.state, s.transport
	s.mu.Unlock()
	if st != connectivity.Ready || t == nil {
		return nil, wire.Errorf(wire.Unavailable, "subchannel %s is %v", s.addr, st)
	}
	resp, err := t.Call(ctx, method, req)
	if err == transport.ErrClosed {
		return nil, wire.Wrap(wire.Unavailable, err, fmt.Sprintf("connection to %s is closing", s.addr))
	}
	return resp, err
}

// errSubchannelShutdown closes the transport of a subchannel that shuts
// down.
var errSubchannelShutdown = errors.New("subchannel shut down")

// legal reports whether prev -> next is a transition of gRPC's connectivity
// semantics as grpc-js's subchannel makes them.
func legal(prev, next connectivity.State) bool {
	switch next {
	case connectivity.Shutdown:
		return prev != connectivity.Shutdown
	case connectivity.Connecting:
		return prev == connectivity.Idle || prev == connectivity.TransientFailure
	case connectivity.Ready:
		return prev == connectivity.Connecting
	case connectivity.TransientFailure:
		return prev == connectivity.Connecting
	case connectivity.Idle:
		return prev == connectivity.Ready || prev == connectivity.TransientFailure
	}
	return false
}

// transitionLocked is grpc-js's transitionToState: if the state is one of
// from it moves to next, runs the new state's side effects, queues the
// notification and reports true; otherwise it does nothing. The caller holds
// s.mu and calls s.deliver after unlocking.
func (s *Subchannel) transitionLocked(from []connectivity.State, next connectivity.State, err error) bool {
	prev := s.state
	if !slices.Contains(from, prev) {
		return false
	}
	if !legal(prev, next) {
		panic(fmt.Sprintf("pickfirst: internal error: illegal subchannel transition %v -> %v (%s)", prev, next, s.name))
	}
	s.state = next
	// The notification is queued before the side effects' hooks, so that
	// the nextTick of TRANSIENT_FAILURE runs after the listeners, as in
	// grpc-js.
	s.queueNotifyLocked(prev, next, err)
	switch next {
	case connectivity.Ready:
		s.backoff.Stop()
		s.backoff.Reset()
	case connectivity.Connecting:
		s.continueConnecting = false
		s.backoff.RunOnce()
		s.startAttemptLocked()
	case connectivity.TransientFailure:
		// If the backoff timer has already ended (the attempt outlived
		// it), leave TRANSIENT_FAILURE now, as though it ended now.
		if !s.backoff.IsRunning() {
			s.events = append(s.events, s.backoffAlreadyEnded)
		}
	case connectivity.Idle:
		s.continueConnecting = false
	case connectivity.Shutdown:
		s.backoff.Stop()
		s.cancel()
	}
	return true
}

// queueNotifyLocked queues the delivery of prev -> next to OnTransition and
// to the listeners registered now.
func (s *Subchannel) queueNotifyLocked(prev, next connectivity.State, err error) {
	snapshot := slices.Clone(s.listeners)
	s.events = append(s.events, func() {
		if s.opts.OnTransition != nil {
			s.opts.OnTransition(s.addr, prev, next)
		}
		for _, l := range snapshot {
			if !s.HasListener(l) {
				continue // removed since the transition: as a JS Set skips it
			}
			l.Fn(s, prev, next, err)
		}
	})
}

// startAttemptLocked starts a connection attempt in a task of its own, with
// the spec's connect deadline: max(backoff deadline, now +
// MinConnectTimeout).
func (s *Subchannel) startAttemptLocked() {
	s.attempts++
	s.attemptID++
	id := s.attemptID
	now := s.env.Now()
	timeout := max(s.backoff.Deadline().Sub(now), s.opts.Backoff.MinConnectTimeout)
	index, delay := s.backoff.attempt(), s.backoff.Delay()
	s.events = append(s.events, func() {
		if s.opts.OnBackoff != nil {
			s.opts.OnBackoff(s.addr, index, delay)
		}
		if s.opts.OnAttempt != nil {
			s.opts.OnAttempt(s.addr, now)
		}
	})
	s.pool.wg.Add(1)
	s.env.Go(s.name+"/subchannel.connect", func() {
		defer s.pool.wg.Done()
		s.connect(id, timeout)
	})
}

// connect is the connect task's body: it dials, then moves CONNECTING to
// READY (starting the transport) or TRANSIENT_FAILURE.
func (s *Subchannel) connect(id int, timeout time.Duration) {
	// DialTimeout's semantics, on a context that shutdown also cancels so
	// that no dial outlives the subchannel.
	dctx, cancel := s.env.WithTimeout(s.ctx, timeout)
	conn, err := s.env.Net().DialContext(dctx, "tcp", s.addr)
	cancel()

	s.mu.Lock()
	if s.state != connectivity.Connecting || s.attemptID != id {
		// Shut down while dialling: grpc-js shuts the new transport down.
		s.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		s.transitionLocked([]connectivity.State{connectivity.Connecting}, connectivity.TransientFailure, err)
	} else {
		t := transport.New(s.env, s.addr, conn)
		s.transport = t
		s.pool.wg.Add(1)
		s.env.Go(s.name+"/transport.reader", func() {
			defer s.pool.wg.Done()
			t.ReadLoop(func() { s.transportClosed(t) })
		})
		s.transitionLocked([]connectivity.State{connectivity.Connecting}, connectivity.Ready, nil)
	}
	s.mu.Unlock()
	s.deliver()
}

// transportClosed is called by t's reader when the connection has failed:
// a READY subchannel goes IDLE (and does not reconnect by itself).
func (s *Subchannel) transportClosed(t *transport.Transport) {
	s.mu.Lock()
	changed := false
	if s.transport == t {
		s.transport = nil
		changed = s.transitionLocked([]connectivity.State{connectivity.Ready}, connectivity.Idle, nil)
	}
	s.mu.Unlock()
	if changed {
		// Only a task that queued a transition delivers: the reader of a
		// transport closed by shutdown must not take over the delivery of
		// SHUTDOWN from the task that shut the subchannel down.
		s.deliver()
	}
}

// onBackoffTimer is the backoff timer's callback (grpc-js's
// handleBackoffTimer); it runs in the timer's task.
func (s *Subchannel) onBackoffTimer() {
	s.mu.Lock()
	changed := s.handleBackoffTimerLocked()
	s.mu.Unlock()
	if changed {
		s.deliver()
	}
}

// backoffAlreadyEnded is handleBackoffTimer for a failure after the timer
// ended; the delivery loop runs it (without s.mu) after the
// TRANSIENT_FAILURE listeners, like grpc-js's process.nextTick.
func (s *Subchannel) backoffAlreadyEnded() {
	s.mu.Lock()
	s.handleBackoffTimerLocked()
	s.mu.Unlock()
	// The delivery loop that ran this delivers what it queued.
}

// handleBackoffTimerLocked leaves TRANSIENT_FAILURE: to CONNECTING if
// StartConnecting was called meanwhile, else to IDLE. In any other state
// (CONNECTING: the attempt outlived the timer) it does nothing. It reports
// whether it made a transition.
func (s *Subchannel) handleBackoffTimerLocked() bool {
	tf := []connectivity.State{connectivity.TransientFailure}
	if s.continueConnecting {
		return s.transitionLocked(tf, connectivity.Connecting, nil)
	}
	return s.transitionLocked(tf, connectivity.Idle, nil)
}

// startConnecting is grpc-js's startConnecting: IDLE starts an attempt,
// TRANSIENT_FAILURE remembers to reconnect when the backoff ends, any
// other state ignores it.
func (s *Subchannel) startConnecting() {
	s.mu.Lock()
	changed := false
	switch s.state {
	case connectivity.Idle:
		changed = s.transitionLocked([]connectivity.State{connectivity.Idle}, connectivity.Connecting, nil)
	case connectivity.TransientFailure:
		s.continueConnecting = true
	}
	s.mu.Unlock()
	if changed {
		s.deliver()
	}
}

func (s *Subchannel) addListener(l *StateListener) {
	if l == nil || l.Fn == nil {
		panic("pickfirst: AddListener: nil listener or nil Fn")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.listeners, l) {
		s.listeners = append(s.listeners, l)
	}
}

func (s *Subchannel) removeListener(l *StateListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.listeners, l); i >= 0 {
		s.listeners = slices.Delete(s.listeners, i, i+1)
	}
}

// shutdownLocked moves the subchannel to SHUTDOWN, reporting whether it did
// (false if it was already shut down) and returning its transport for the
// caller to close after unlocking.
func (s *Subchannel) shutdownLocked() (*transport.Transport, bool) {
	if s.state == connectivity.Shutdown {
		return nil, false
	}
	s.transitionLocked([]connectivity.State{s.state}, connectivity.Shutdown, nil)
	t := s.transport
	s.transport = nil
	return t, true
}

// finishShutdown completes a shutdown after s.mu is released: it delivers
// the SHUTDOWN transition (if changed, i.e. this task made it), then
// closes the transport shutdownLocked returned (failing its calls with
// Unavailable and ending its reader) and takes the subchannel out of the
// pool.
func (s *Subchannel) finishShutdown(t *transport.Transport, changed bool) {
	if changed {
		s.deliver()
	}
	if t != nil {
		t.Fail(errSubchannelShutdown)
	}
	s.pool.remove(s)
}

// deliver runs the queued notifications and hooks in order, without s.mu.
// Only a task that has just queued a transition calls it. If a task is
// already delivering (another task, or this one further up the stack, in a
// listener), that loop delivers them instead.
func (s *Subchannel) deliver() {
	s.mu.Lock()
	if s.delivering {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.events) > 0 {
		ev := s.events[0]
		s.events[0] = nil
		s.events = s.events[1:]
		s.mu.Unlock()
		ev()
		s.mu.Lock()
	}
	s.events = nil
	s.delivering = false
	s.mu.Unlock()
}

// Handle is grpc-js's SubchannelWrapper: a reference to a real Subchannel
// that several Handles (of one or several policies) can share. Refs are
// counted per Handle and summed on the real subchannel; listeners live on
// the real subchannel.
type Handle struct {
	s    *Subchannel
	refs int // guarded by s.mu
}

// Real is the real subchannel behind h.
func (h *Handle) Real() *Subchannel { return h.s }

// Addr is the subchannel's address.
func (h *Handle) Addr() string { return h.s.addr }

// State is the real subchannel's state.
func (h *Handle) State() connectivity.State { return h.s.State() }

func (h *Handle) String() string { return "Handle(" + h.s.name + ")" }

// Ref adds a reference through h.
func (h *Handle) Ref() {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	h.refs++
	s.refs++
}

// Unref drops a reference taken through h; it panics if h holds none. When
// the real subchannel's count reaches 0 it shuts down (SHUTDOWN, terminal,
// delivered to its listeners on this task as StartConnecting's transition
// is), closes its connection, stops its backoff timer and leaves the pool:
// a later Pool.Get of its address makes a new one. Unref does not wait for
// the subchannel's tasks (Pool.Close does), so a listener may call it.
func (h *Handle) Unref() {
	s := h.s
	s.mu.Lock()
	if h.refs <= 0 {
		s.mu.Unlock()
		panic(fmt.Sprintf("pickfirst: Unref of a handle of subchannel %s that holds no reference (unbalanced Ref/Unref)", s.name))
	}
	h.refs--
	s.refs--
	var t *transport.Transport
	changed := false
	last := s.refs == 0
	if last {
		t, changed = s.shutdownLocked()
	}
	s.mu.Unlock()
	if last {
		s.finishShutdown(t, changed)
	}
}

// StartConnecting asks the real subchannel to connect: IDLE goes to
// CONNECTING; in TRANSIENT_FAILURE it reconnects when the backoff timer
// ends instead of going IDLE; otherwise nothing happens. IDLE -> CONNECTING
// is delivered to the listeners on the calling task before StartConnecting
// returns (unless another delivery is in progress: see Subchannel), as
// grpc-js calls them synchronously.
func (h *Handle) StartConnecting() { h.s.startConnecting() }

// AddListener registers l on the real subchannel (once, however often it
// is added, through whichever Handle).
func (h *Handle) AddListener(l *StateListener) { h.s.addListener(l) }

// RemoveListener unregisters l from the real subchannel, whichever Handle
// added it.
func (h *Handle) RemoveListener(l *StateListener) { h.s.removeListener(l) }
