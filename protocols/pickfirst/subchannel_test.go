package pickfirst_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/protocols/pickfirst"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scPort is the port the backend's server listens on.
const scPort = 50051

// scNet is a client host (10.0.0.1) and a backend host "b1" (10.0.0.11) on
// one segment with 1ms one-way latency, in a leak-checked World. Nothing
// listens on b1 until the test calls serve.
type scNet struct {
	w       *sim.World
	n       *netmodel.Network
	client  *netmodel.Host
	backend *netmodel.Host
}

func newSCNet(t testing.TB, seed uint64) *scNet {
	t.Helper()
	w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true})
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"),
		netmodel.Link{Latency: netmodel.Constant(time.Millisecond)}))
	sn := &scNet{w: w, n: n}
	sn.client, err = n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	sn.backend, err = n.AddHost("b1", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.11")})
	require.NoError(t, err)
	return sn
}

// addr is the backend's server address.
func (sn *scNet) addr() string { return fmt.Sprintf("10.0.0.11:%d", scPort) }

// serve starts a server called "b1" on the backend.
func (sn *scNet) serve(t testing.TB, opts ...server.Option) *server.Server {
	env := sn.backend.Env()
	ln, err := env.Net().Listen("tcp", fmt.Sprintf(":%d", scPort))
	if !assert.NoError(t, err) {
		sn.w.Violate("listen", "%v", err)
		return nil
	}
	srv := server.New(env, "b1", opts...)
	assert.NoError(t, srv.Serve(ln))
	return srv
}

// run runs main on the client host's Env and fails t if the run failed
// (including a leaked task or timer). Inside main use assert, not require.
func (sn *scNet) run(t testing.TB, main func(env netmodel.Env)) sim.Result {
	t.Helper()
	res, err := sn.w.Run(func() { main(sn.client.Env()) })
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}

// newSCPool makes a pool on env, reporting an error as a violation.
func newSCPool(t testing.TB, env netmodel.Env, opts pickfirst.SubchannelOptions) *pickfirst.Pool {
	p, err := pickfirst.NewPool(env, "pool", opts)
	if !assert.NoError(t, err) {
		env.Sim().Violate("pool", "%v", err)
	}
	return p
}

// scWaitState polls every millisecond of virtual time until h is in state
// want or timeout passes. Once it is, it sleeps 1ms more: the state changes
// before the listeners are called (on the task that made the transition),
// and every task runnable now settles before the clock moves on.
func scWaitState(env sim.Env, h *pickfirst.Handle, want connectivity.State, timeout time.Duration) bool {
	deadline := env.Now().Add(timeout)
	for h.State() != want {
		if !env.Now().Before(deadline) {
			return false
		}
		env.Sleep(time.Millisecond)
	}
	env.Sleep(time.Millisecond)
	return true
}

// scTransition is one listener call, with its virtual time since the
// scRecorder was made.
type scTransition struct {
	Prev, Next connectivity.State
	At         time.Duration
}

func (tr scTransition) String() string { return fmt.Sprintf("%v->%v@%v", tr.Prev, tr.Next, tr.At) }

// scRecorder is a StateListener that records its calls (tasks run one at a
// time and appending does not yield, so no lock is needed).
type scRecorder struct {
	env   sim.Env
	start time.Time
	got   []scTransition
	errs  []error
	l     *pickfirst.StateListener
}

func newSCRecorder(env sim.Env) *scRecorder {
	r := &scRecorder{env: env, start: env.Now()}
	r.l = &pickfirst.StateListener{Fn: func(_ *pickfirst.Subchannel, prev, next connectivity.State, err error) {
		r.got = append(r.got, scTransition{prev, next, env.Since(r.start)})
		r.errs = append(r.errs, err)
	}}
	return r
}

// states lists the recorded transitions without their times.
func (r *scRecorder) states() []string {
	out := make([]string, len(r.got))
	for i, tr := range r.got {
		out[i] = fmt.Sprintf("%v->%v", tr.Prev, tr.Next)
	}
	return out
}

func callSC(env sim.Env, sc *pickfirst.Subchannel, timeout time.Duration) (string, error) {
	ctx, cancel := env.WithTimeout(env.Background(), timeout)
	defer cancel()
	resp, err := sc.Call(ctx, "/test.Echo/Who", []byte("hi"))
	return string(resp), err
}

func TestSubchannelConnectsAndCalls(t *testing.T) {
	sn := newSCNet(t, 1)
	var observed []string
	var attempts []time.Time
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{
			OnTransition: func(addr string, prev, next connectivity.State) {
				observed = append(observed, fmt.Sprintf("%s %v->%v", addr, prev, next))
			},
			OnAttempt: func(addr string, at time.Time) { attempts = append(attempts, at) },
		})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		rec := newSCRecorder(env)
		h.AddListener(rec.l)
		assert.Equal(t, connectivity.Idle, h.State())
		assert.Equal(t, sn.addr(), h.Addr())
		assert.Equal(t, sn.addr(), h.Real().Addr())

		// Not READY: Unavailable.
		_, err = callSC(env, h.Real(), time.Second)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)

		start := env.Now()
		h.StartConnecting()
		assert.Equal(t, []string{"IDLE->CONNECTING"}, rec.states(), "delivered on the caller's task before StartConnecting returns")
		assert.Equal(t, connectivity.Connecting, h.State())
		h.StartConnecting() // no-op while CONNECTING
		assert.True(t, scWaitState(env, h, connectivity.Ready, time.Second))
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->READY"}, rec.states())
		assert.Equal(t, []time.Time{start}, attempts)
		assert.Equal(t, 1, h.Real().Attempts())
		assert.False(t, h.Real().InBackoff(), "READY stops the backoff timer")

		for range 3 {
			who, err := callSC(env, h.Real(), time.Second)
			assert.NoError(t, err)
			assert.Equal(t, "b1", who)
		}
		assert.Equal(t, 3, srv.Served())
		assert.Equal(t, []*pickfirst.Subchannel{h.Real()}, pool.Subchannels())

		// The last Unref shuts the subchannel down and drops it from the pool.
		h.Unref()
		assert.Equal(t, connectivity.Shutdown, h.State())
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->READY", "READY->SHUTDOWN"}, rec.states())
		assert.Empty(t, pool.Subchannels())
		_, err = callSC(env, h.Real(), time.Second)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		h.StartConnecting() // SHUTDOWN is terminal
		env.Sleep(time.Minute)
		assert.Equal(t, connectivity.Shutdown, h.State())
		assert.Len(t, rec.got, 3)

		pool.Close()
		srv.Stop()
	})
	assert.Equal(t, []string{
		"10.0.0.11:50051 IDLE->CONNECTING",
		"10.0.0.11:50051 CONNECTING->READY",
		"10.0.0.11:50051 READY->SHUTDOWN",
	}, observed)
}

func TestSubchannelTransientFailureAndBackoff(t *testing.T) {
	sn := newSCNet(t, 2)
	type backoffObs struct {
		attempt int
		d       time.Duration
	}
	var backoffs []backoffObs
	sn.run(t, func(env netmodel.Env) {
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{
			OnBackoff: func(_ string, attempt int, d time.Duration) { backoffs = append(backoffs, backoffObs{attempt, d}) },
		})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		rec := newSCRecorder(env)
		h.AddListener(rec.l)

		// Nothing listens: the dial is refused after a round trip, and the
		// subchannel goes IDLE when the 1s backoff timer ends.
		h.StartConnecting()
		assert.True(t, scWaitState(env, h, connectivity.TransientFailure, time.Second))
		assert.True(t, h.Real().InBackoff())
		assert.True(t, scWaitState(env, h, connectivity.Idle, 2*time.Second))
		assert.Equal(t, []scTransition{
			{connectivity.Idle, connectivity.Connecting, 0},
			{connectivity.Connecting, connectivity.TransientFailure, 2 * time.Millisecond},
			{connectivity.TransientFailure, connectivity.Idle, time.Second},
		}, rec.got)
		assert.Error(t, rec.errs[1], "TRANSIENT_FAILURE carries the dial error")
		assert.False(t, h.Real().InBackoff())

		// IDLE stays IDLE: no attempt without StartConnecting.
		env.Sleep(time.Minute)
		assert.Equal(t, 1, h.Real().Attempts())
		assert.Len(t, rec.got, 3)

		// StartConnecting during TRANSIENT_FAILURE: CONNECTING when the
		// backoff ends, without going IDLE.
		rec.got, rec.start = nil, env.Now()
		h.StartConnecting()
		assert.True(t, scWaitState(env, h, connectivity.TransientFailure, time.Second))
		h.StartConnecting()
		assert.Equal(t, connectivity.TransientFailure, h.State(), "StartConnecting does not cut the backoff short")
		assert.True(t, scWaitState(env, h, connectivity.Connecting, 3*time.Second))
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->TRANSIENT_FAILURE", "TRANSIENT_FAILURE->CONNECTING"}, rec.states())
		if assert.Len(t, rec.got, 3) {
			d1 := rec.got[2].At
			assert.True(t, d1 >= 1280*time.Millisecond && d1 <= 1920*time.Millisecond, "second backoff %v", d1)
		}
		// The flag is cleared by CONNECTING: the next failure goes IDLE.
		assert.True(t, scWaitState(env, h, connectivity.Idle, 5*time.Second))
		assert.Equal(t, 3, h.Real().Attempts())
		pool.Close()
		assert.Equal(t, connectivity.Shutdown, h.State())
	})
	require.Len(t, backoffs, 3)
	assert.Equal(t, backoffObs{0, time.Second}, backoffs[0])
	for i, b := range backoffs {
		assert.Equal(t, i, b.attempt)
	}
	assert.True(t, backoffs[1].d >= 1280*time.Millisecond && backoffs[1].d <= 1920*time.Millisecond, "second backoff %v", backoffs[1].d)
	assert.True(t, backoffs[2].d >= 2048*time.Millisecond && backoffs[2].d <= 3072*time.Millisecond, "third backoff %v", backoffs[2].d)
}

// TestSubchannelAttemptOutlivesBackoff: a dial that times out (the backend
// is cut off) ends after MinConnectTimeout, long after the 1s backoff
// timer; the subchannel then leaves TRANSIENT_FAILURE at once, as though
// the timer ended then (grpc-js's process.nextTick).
func TestSubchannelAttemptOutlivesBackoff(t *testing.T) {
	sn := newSCNet(t, 3)
	sn.run(t, func(env netmodel.Env) {
		assert.NoError(t, sn.n.Isolate("b1"))
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		rec := newSCRecorder(env)
		h.AddListener(rec.l)
		h.StartConnecting()
		env.Sleep(1500 * time.Millisecond)
		assert.Equal(t, connectivity.Connecting, h.State(), "the timer ending during CONNECTING changes nothing")
		assert.False(t, h.Real().InBackoff())
		assert.True(t, scWaitState(env, h, connectivity.Idle, time.Minute))
		assert.Equal(t, []scTransition{
			{connectivity.Idle, connectivity.Connecting, 0},
			{connectivity.Connecting, connectivity.TransientFailure, 20 * time.Second},
			{connectivity.TransientFailure, connectivity.Idle, 20 * time.Second},
		}, rec.got)
		h.Unref()
		pool.Close()
	})
}

func TestSubchannelServerClosesConnection(t *testing.T) {
	sn := newSCNet(t, 4)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		rec := newSCRecorder(env)
		h.AddListener(rec.l)
		h.StartConnecting()
		assert.True(t, scWaitState(env, h, connectivity.Ready, time.Second))
		srv.Stop() // closes the connection
		assert.True(t, scWaitState(env, h, connectivity.Idle, time.Second))
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->READY", "READY->IDLE"}, rec.states())

		// READY -> IDLE does not reconnect by itself.
		env.Sleep(10 * time.Minute)
		assert.Equal(t, 1, h.Real().Attempts())
		assert.Equal(t, connectivity.Idle, h.State())
		assert.False(t, h.Real().InBackoff())
		_, err = callSC(env, h.Real(), time.Second)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		pool.Close()
	})
}

func TestSubchannelCallDeadlineAndDrop(t *testing.T) {
	sn := newSCNet(t, 5)
	sn.run(t, func(env netmodel.Env) {
		benv := sn.backend.Env()
		sn.serve(t, server.WithHandler(func(method string, req []byte) ([]byte, error) {
			if method == "/test.Echo/Slow" {
				benv.Sleep(time.Hour)
			}
			return []byte("b1"), nil
		}))
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		h.StartConnecting()
		assert.True(t, scWaitState(env, h, connectivity.Ready, time.Second))

		ctx, cancel := env.WithTimeout(env.Background(), 50*time.Millisecond)
		_, err = h.Real().Call(ctx, "/test.Echo/Slow", nil)
		cancel()
		assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(err), "%v", err)

		ctx, cancel = env.WithCancel(env.Background())
		cancel()
		_, err = h.Real().Call(ctx, "/test.Echo/Slow", nil)
		assert.Equal(t, wire.Canceled, wire.CodeOf(err), "%v", err)

		// The backend crashes during a call: Unavailable, then IDLE.
		env.Go("crash", func() {
			env.Sleep(100 * time.Millisecond)
			assert.NoError(t, sn.n.Crash("b1"))
		})
		_, err = h.Real().Call(env.Background(), "/test.Echo/Slow", nil)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		assert.True(t, scWaitState(env, h, connectivity.Idle, time.Second))
		assert.Equal(t, 1, h.Real().Attempts())
		pool.Close()
	})
}

func TestPoolSharesSubchannelsAndListeners(t *testing.T) {
	sn := newSCNet(t, 6)
	sn.run(t, func(env netmodel.Env) {
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{})
		h1, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h2, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		assert.NotSame(t, h1, h2, "each Get returns a new Handle")
		assert.Same(t, h1.Real(), h2.Real(), "on the same real subchannel")
		sc := h1.Real()

		// A listener is a set member: added twice (through either
		// handle) it is registered once and called once per transition.
		rec := newSCRecorder(env)
		h1.AddListener(rec.l)
		h2.AddListener(rec.l)
		h1.AddListener(rec.l)
		assert.Equal(t, 1, sc.Listeners())
		other := newSCRecorder(env)
		h2.AddListener(other.l)
		assert.Equal(t, 2, sc.Listeners())

		h1.Ref()
		h2.Ref()
		h2.Ref()
		assert.Equal(t, 3, sc.Refs())
		h1.StartConnecting()
		assert.Equal(t, []string{"IDLE->CONNECTING"}, rec.states())
		assert.Equal(t, []string{"IDLE->CONNECTING"}, other.states())

		// Removed through the other handle: gone for both.
		h2.RemoveListener(rec.l)
		assert.False(t, sc.HasListener(rec.l))
		assert.True(t, sc.HasListener(other.l))
		assert.Equal(t, 1, sc.Listeners())
		h1.RemoveListener(rec.l) // removing an absent listener is a no-op
		assert.True(t, scWaitState(env, h1, connectivity.Idle, 5*time.Second))
		assert.Equal(t, []string{"IDLE->CONNECTING"}, rec.states(), "no calls after removal")
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->TRANSIENT_FAILURE", "TRANSIENT_FAILURE->IDLE"}, other.states())

		// Refs are per handle and summed: the subchannel lives until the
		// last one goes.
		h1.Unref()
		assert.Equal(t, 2, sc.Refs())
		assert.PanicsWithValue(t, "pickfirst: Unref of a handle of subchannel pool/10.0.0.11:50051 that holds no reference (unbalanced Ref/Unref)", h1.Unref)
		assert.Equal(t, 2, sc.Refs())
		h2.Unref()
		assert.Equal(t, connectivity.Idle, sc.State())
		assert.Equal(t, []*pickfirst.Subchannel{sc}, pool.Subchannels())
		h2.Unref()
		assert.Equal(t, 0, sc.Refs())
		assert.Equal(t, connectivity.Shutdown, sc.State())
		assert.Equal(t, "IDLE->SHUTDOWN", other.states()[len(other.states())-1])
		assert.Empty(t, pool.Subchannels(), "a shut-down subchannel leaves the pool")

		// The next Get makes a new real subchannel.
		h3, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		assert.NotSame(t, sc, h3.Real())
		assert.Equal(t, connectivity.Idle, h3.State())
		assert.Equal(t, 0, h3.Real().Listeners())
		pool.Close()
		assert.Equal(t, connectivity.Shutdown, h3.State())
	})
}

func TestPoolRejectsBadAddresses(t *testing.T) {
	sn := newSCNet(t, 7)
	sn.run(t, func(env netmodel.Env) {
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{})
		for _, addr := range []string{"nope", "1.2.3.4:0", "1.2.3.4:99999", "", "1.2.3.4:http", ":80", "1.2.3.4:-1"} {
			h, err := pool.Get(addr)
			assert.Nil(t, h)
			if assert.Error(t, err, "%q", addr) {
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", addr))
			}
		}
		for _, addr := range []string{"1.2.3.4:1", "1.2.3.4:65535", "b1:50051", "[::1]:443"} {
			_, err := pool.Get(addr)
			assert.NoError(t, err, "%q", addr)
		}
		assert.Len(t, pool.Subchannels(), 4)
		pool.Close()
		_, err := pool.Get(sn.addr())
		assert.ErrorContains(t, err, "closed")
	})
}

func TestNewPoolRejectsBadBackoff(t *testing.T) {
	sn := newSCNet(t, 8)
	sn.run(t, func(env netmodel.Env) {
		cfg := pickfirst.DefaultBackoff
		cfg.Jitter = 2
		_, err := pickfirst.NewPool(env, "pool", pickfirst.SubchannelOptions{Backoff: cfg})
		assert.ErrorContains(t, err, "Backoff.Jitter = 2")
	})
}

// TestPoolCloseLeavesNoTasks: subchannels READY (a reader task),
// CONNECTING (a dial in progress to a host that does not answer), in
// TRANSIENT_FAILURE (a backoff timer) and IDLE are all shut down by Close,
// which waits for their tasks; the World's leak check (CheckLeaks) fails
// the run if any task or timer is left when main returns.
func TestPoolCloseLeavesNoTasks(t *testing.T) {
	sn := newSCNet(t, 9)
	var chain []string
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		last := map[string]connectivity.State{}
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{
			OnTransition: func(addr string, prev, next connectivity.State) {
				// Every real subchannel's transitions chain: each starts
				// where the previous one ended.
				if want, ok := last[addr]; ok && want != prev || !ok && prev != connectivity.Idle {
					chain = append(chain, fmt.Sprintf("%s: %v->%v after %v", addr, prev, next, want))
				}
				last[addr] = next
			},
		})
		get := func(addr string) (*pickfirst.Handle, *scRecorder) {
			h, err := pool.Get(addr)
			assert.NoError(t, err)
			h.Ref()
			rec := newSCRecorder(env)
			h.AddListener(rec.l)
			return h, rec
		}
		ready, readyRec := get(sn.addr())
		ready.StartConnecting()
		failing, failingRec := get("10.0.0.11:50052")
		failing.StartConnecting()
		idle, idleRec := get("10.0.0.11:50053")
		assert.True(t, scWaitState(env, ready, connectivity.Ready, time.Second))
		assert.True(t, scWaitState(env, failing, connectivity.TransientFailure, time.Second))
		assert.True(t, failing.Real().InBackoff())
		// A host address nobody has: SYNs are never answered.
		dialing, dialingRec := get("10.0.0.99:50051")
		dialing.StartConnecting()
		env.Sleep(10 * time.Millisecond)
		assert.Equal(t, connectivity.Connecting, dialing.State())
		assert.Len(t, pool.Subchannels(), 4)

		pool.Close()
		for _, h := range []*pickfirst.Handle{ready, failing, idle, dialing} {
			assert.Equal(t, connectivity.Shutdown, h.State(), h.Addr())
			assert.False(t, h.Real().InBackoff(), h.Addr())
		}
		assert.Empty(t, pool.Subchannels())
		assert.Equal(t, "READY->SHUTDOWN", readyRec.states()[len(readyRec.states())-1])
		assert.Equal(t, "TRANSIENT_FAILURE->SHUTDOWN", failingRec.states()[len(failingRec.states())-1])
		assert.Equal(t, []string{"IDLE->SHUTDOWN"}, idleRec.states())
		assert.Equal(t, []string{"IDLE->CONNECTING", "CONNECTING->SHUTDOWN"}, dialingRec.states())
		pool.Close() // idempotent
		srv.Stop()
	})
	assert.Empty(t, chain)
}

// TestSubchannelReconnectLoopBackoffBounds: a listener that reconnects
// whenever the subchannel goes IDLE (as pick_first does) against a backend
// that refuses; the backoff delays grow by the spec's bounds, and the
// transitions stay legal and ordered although the listener reenters the
// subchannel.
func TestSubchannelReconnectLoopBackoffBounds(t *testing.T) {
	sn := newSCNet(t, 10)
	var delays []time.Duration
	var attempts []int
	var seq []connectivity.State
	sn.run(t, func(env netmodel.Env) {
		pool := newSCPool(t, env, pickfirst.SubchannelOptions{
			OnBackoff: func(_ string, attempt int, d time.Duration) {
				attempts = append(attempts, attempt)
				delays = append(delays, d)
			},
		})
		h, err := pool.Get(sn.addr())
		assert.NoError(t, err)
		h.Ref()
		h.AddListener(&pickfirst.StateListener{Fn: func(sc *pickfirst.Subchannel, prev, next connectivity.State, _ error) {
			if len(seq) == 0 {
				seq = append(seq, prev)
			}
			seq = append(seq, next)
			if next == connectivity.Idle {
				h.StartConnecting()
			}
		}})
		h.StartConnecting()
		env.Sleep(20 * time.Minute)
		h.Unref()
		pool.Close()
	})
	require.Greater(t, len(delays), 12)
	for i, a := range attempts {
		assert.Equal(t, i, a)
	}
	checkSpecBounds(t, pickfirst.DefaultBackoff, delays)
	for i := 1; i < len(seq); i++ {
		p, n := seq[i-1], seq[i]
		ok := p == connectivity.Idle && n == connectivity.Connecting ||
			p == connectivity.Connecting && n == connectivity.TransientFailure ||
			p == connectivity.TransientFailure && n == connectivity.Idle ||
			n == connectivity.Shutdown && i == len(seq)-1
		assert.True(t, ok, "transition %d: %v -> %v", i, p, n)
	}
}
