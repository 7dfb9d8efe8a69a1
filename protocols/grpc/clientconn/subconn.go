package clientconn

import (
	"context"
	"errors"
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/transport"
	"github.com/detsim/detsim/sim"
)

// errSubConnShutdown fails the RPCs of a SubConn that is shut down.
var errSubConnShutdown = errors.New("SubConn shut down")

// subConn is the channel's SubConn (grpc-go's addrConn behind an
// acBalancerWrapper): one backend address and at most one transport.
//
// States follow gRPC A62: IDLE --Connect--> CONNECTING --dial ok--> READY,
// or --dial failed--> TRANSIENT_FAILURE --backoff--> IDLE (the balancer
// reconnects); a lost READY transport goes to IDLE; Shutdown is final.
// Each change is delivered to the StateListener through the channel's
// serializer, in order.
//
// Tasks: "<target>/subConn.connect" (dial, then the backoff wait after a
// failure) and "<target>/transport.reader". Shutdown waits for both.
type subConn struct {
	cc       *ClientConn
	id       int
	addr     resolver.Address
	listener func(balancer.SubConnState)
	rnd      *sim.Rand
	ctx      sim.Context // cancelled by Shutdown (and by the channel's Close)
	cancel   context.CancelFunc
	wg       sim.WaitGroup

	mu        sim.Mutex
	state     connectivity.State
	lastErr   error
	transport *transport.Transport
	retries   int
}

var _ balancer.SubConn = (*subConn)(nil)

func (sc *subConn) Address() resolver.Address { return sc.addr }

func (sc *subConn) String() string { return fmt.Sprintf("SubConn#%d(%s)", sc.id, sc.addr) }

// updateStateLocked records a new state and queues its delivery to the
// listener. The caller holds sc.mu, so deliveries are queued in the order
// of the changes.
func (sc *subConn) updateStateLocked(s connectivity.State, err error) {
	if sc.state == s {
		return
	}
	sc.state, sc.lastErr = s, err
	st := balancer.SubConnState{ConnectivityState: s, ConnectionError: err}
	listener := sc.listener
	sc.cc.ser.TrySchedule(func(ctx sim.Context) {
		if ctx.Err() != nil || listener == nil {
			return // the channel is closing: the balancer is being closed
		}
		listener(st)
	})
}

// Connect starts connecting if the SubConn is IDLE.
func (sc *subConn) Connect() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.state != connectivity.Idle {
		return
	}
	sc.updateStateLocked(connectivity.Connecting, nil)
	sc.wg.Add(1)
	sc.cc.env.Go(sc.cc.target+"/subConn.connect", func() {
		defer sc.wg.Done()
		sc.connect()
	})
}

// connect dials; on failure it reports TRANSIENT_FAILURE, waits out the
// backoff and goes IDLE.
func (sc *subConn) connect() {
	cc := sc.cc
	env := cc.env
	dctx, cancel := env.WithTimeout(sc.ctx, cc.opts.ConnectTimeout)
	conn, err := env.Net().DialContext(dctx, "tcp", sc.addr.Addr)
	cancel()

	sc.mu.Lock()
	if sc.state == connectivity.Shutdown {
		sc.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err == nil {
		t := transport.New(env, sc.addr.Addr, conn)
		sc.transport = t
		sc.retries = 0
		sc.wg.Add(1)
		env.Go(cc.target+"/transport.reader", func() {
			defer sc.wg.Done()
			t.ReadLoop(func() { sc.transportClosed(t) })
		})
		sc.updateStateLocked(connectivity.Ready, nil)
		sc.mu.Unlock()
		return
	}
	sc.updateStateLocked(connectivity.TransientFailure, err)
	d := cc.opts.Backoff.delay(sc.retries, sc.rnd)
	sc.retries++
	sc.mu.Unlock()

	tm := env.NewTimer(d)
	sim.Select(env, sim.RecvCase(tm.C(), nil, nil), sim.RecvCase(sc.ctx.DoneChan(), nil, nil))
	tm.Stop()

	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.state == connectivity.TransientFailure {
		sc.updateStateLocked(connectivity.Idle, nil)
	}
}

// transportClosed is called by t's reader when it ends.
func (sc *subConn) transportClosed(t *transport.Transport) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.transport != t {
		return
	}
	sc.transport = nil
	if sc.state == connectivity.Ready {
		sc.updateStateLocked(connectivity.Idle, nil)
	}
}

// readyTransport returns the transport if the SubConn is READY and the
// transport still usable, else nil.
func (sc *subConn) readyTransport() *transport.Transport {
	sc.mu.Lock()
	t := sc.transport
	ready := sc.state == connectivity.Ready
	sc.mu.Unlock()
	if !ready || t == nil || t.IsClosed() {
		return nil
	}
	return t
}

// Shutdown moves the SubConn to SHUTDOWN (delivered to its listener),
// closes its transport (failing its RPCs with Unavailable), stops its
// backoff timer and waits until its tasks have exited.
func (sc *subConn) Shutdown() {
	sc.mu.Lock()
	if sc.state == connectivity.Shutdown {
		sc.mu.Unlock()
		return
	}
	sc.updateStateLocked(connectivity.Shutdown, nil)
	t := sc.transport
	sc.transport = nil
	sc.mu.Unlock()
	sc.cancel()
	if t != nil {
		t.Fail(errSubConnShutdown)
	}
	sc.wg.Wait()
	sc.cc.removeSubConn(sc)
}

func (sc *subConn) info() SubConnInfo {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return SubConnInfo{ID: sc.id, Addr: sc.addr.Addr, State: sc.state, LastError: sc.lastErr}
}
