package pickfirst_test

import (
	"fmt"
	"net/netip"
	"slices"
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

// chTarget is the DNS name the test channels resolve; the fake DNS answers
// with bare IPs, which get its port (scPort).
const chTarget = "backend.test:50051"

// Addresses on the scNet segment: chBlackhole* have no host, so SYNs to
// them are never answered and a dial hangs until its deadline (20s);
// chRefused is the backend host on a port nothing listens on, so a dial
// is refused after one round trip (2ms).
const (
	chBlackhole1 = "10.0.0.91"
	chBlackhole2 = "10.0.0.92"
	chRefused    = "10.0.0.11:50052"
)

// chAttempt is one connection attempt: the address and the virtual time
// since the chObs was made.
type chAttempt struct {
	Addr string
	At   time.Duration
}

func (a chAttempt) String() string { return fmt.Sprintf("%s@%v", a.Addr, a.At) }

// chObs records what a channel's hooks report (tasks run one at a time and
// appending does not yield, so no lock is needed).
type chObs struct {
	env      netmodel.Env
	t0       time.Time
	attempts []chAttempt
	states   []connectivity.State
	stateAt  []time.Duration
}

func newChObs(env netmodel.Env) *chObs { return &chObs{env: env, t0: env.Now()} }

// hook sets opts' OnAttempt and OnState to record into o.
func (o *chObs) hook(opts pickfirst.Options) pickfirst.Options {
	opts.Subchannels.OnAttempt = func(addr string, at time.Time) {
		o.attempts = append(o.attempts, chAttempt{addr, at.Sub(o.t0)})
	}
	opts.OnState = func(s connectivity.State) {
		o.states = append(o.states, s)
		o.stateAt = append(o.stateAt, o.now())
	}
	return opts
}

// now is the virtual time since o was made.
func (o *chObs) now() time.Duration { return o.env.Since(o.t0) }

// sleepUntil sleeps until d after o was made.
func (o *chObs) sleepUntil(d time.Duration) { o.env.Sleep(d - o.now()) }

// attemptAddrs lists the attempts' addresses in order.
func (o *chObs) attemptAddrs() []string {
	out := make([]string, len(o.attempts))
	for i, a := range o.attempts {
		out[i] = a.Addr
	}
	return out
}

// attemptsSince lists the attempts at or after d.
func (o *chObs) attemptsSince(d time.Duration) []chAttempt {
	var out []chAttempt
	for _, a := range o.attempts {
		if a.At >= d {
			out = append(out, a)
		}
	}
	return out
}

// distinctStates is the published states with consecutive repeats folded
// (the channel publishes every picker, not only state changes).
func (o *chObs) distinctStates() []connectivity.State {
	var out []connectivity.State
	for _, s := range o.states {
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// waitState waits until the channel publishes want (or the last state it
// published is want), polling every millisecond for at most timeout, then
// sleeps 1ms more so that runnable tasks settle. Unlike polling
// Channel.State, it sees a state the channel passes through in no time
// (1.10.1's IDLE on a drop, at once replaced by CONNECTING).
func (o *chObs) waitState(want connectivity.State, timeout time.Duration) bool {
	n := len(o.states)
	if n > 0 && o.states[n-1] == want {
		n--
	}
	deadline := o.env.Now().Add(timeout)
	for !slices.Contains(o.states[n:], want) {
		if !o.env.Now().Before(deadline) {
			return false
		}
		o.env.Sleep(time.Millisecond)
	}
	o.env.Sleep(time.Millisecond)
	return true
}

// newTestChannel makes a channel, reporting an error as a violation (which
// ends the run).
func newTestChannel(t testing.TB, env netmodel.Env, target string, opts pickfirst.Options) *pickfirst.Channel {
	ch, err := pickfirst.NewChannel(env, target, opts)
	if !assert.NoError(t, err) {
		env.Sim().Violate("channel", "%v", err)
	}
	return ch
}

// chInvoke makes one RPC with a timeout and returns the response payload.
func chInvoke(env sim.Env, ch *pickfirst.Channel, timeout time.Duration, waitForReady bool) (string, error) {
	ctx, cancel := env.WithTimeout(env.Background(), timeout)
	defer cancel()
	resp, err := ch.Invoke(ctx, "/test.Echo/Ping", []byte("ping"), waitForReady)
	return string(resp), err
}

// waitChannelState polls every millisecond until ch is in want or timeout
// passes, then sleeps 1ms more so that runnable tasks settle.
func waitChannelState(env sim.Env, ch *pickfirst.Channel, want connectivity.State, timeout time.Duration) bool {
	deadline := env.Now().Add(timeout)
	for ch.State() != want {
		if !env.Now().Before(deadline) {
			return false
		}
		env.Sleep(time.Millisecond)
	}
	env.Sleep(time.Millisecond)
	return true
}

// newChNet is newSCNet with the World's options given (CheckLeaks is always
// set): the same client (10.0.0.1) and backend "b1" (10.0.0.11).
func newChNet(t testing.TB, opts sim.Options) *scNet {
	t.Helper()
	opts.CheckLeaks = true
	w, err := sim.New(opts)
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

// TestChannelIdleUntilRPC: a new channel is IDLE and neither resolves nor
// connects, however long it waits; the first RPC resolves, connects
// (CONNECTING -> READY) and travels to the backend, whose default handler
// answers with its name. Later RPCs reuse the connection.
func TestChannelIdleUntilRPC(t *testing.T) {
	sn := newSCNet(t, 11)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		o := newChObs(env)
		dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))

		env.Sleep(10 * time.Minute)
		assert.Equal(t, connectivity.Idle, ch.State())
		assert.Empty(t, o.attempts, "no connection attempt without an RPC or Connect")
		assert.Empty(t, dns.calls, "no resolution either")
		assert.Zero(t, ch.ResolutionsRequested())
		assert.Empty(t, ch.Pool().Subchannels())
		assert.Equal(t, []connectivity.State{connectivity.Idle}, o.states)

		start := o.now()
		resp, err := chInvoke(env, ch, time.Second, false)
		assert.NoError(t, err)
		assert.Equal(t, "b1", resp, "the default handler answers with the server's name")
		assert.Equal(t, srv.Name(), resp)
		// 10ms lookup, 2ms connect, 2ms round trip.
		assert.Equal(t, 14*time.Millisecond, o.now()-start)
		assert.Equal(t, []chAttempt{{sn.addr(), start + 10*time.Millisecond}}, o.attempts)
		assert.Equal(t, []time.Duration{start}, dns.calls)
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready}, o.distinctStates())
		assert.Equal(t, connectivity.Ready, ch.State())
		if d, ok := ch.Diagnose(); assert.True(t, ok) {
			assert.Equal(t, connectivity.Ready, d.State)
			assert.Equal(t, sn.addr(), d.Pick)
			assert.Empty(t, d.Children, "pickSubchannel resets the child list")
		}

		for range 3 {
			resp, err := chInvoke(env, ch, time.Second, true)
			assert.NoError(t, err)
			assert.Equal(t, "b1", resp)
		}
		assert.Len(t, o.attempts, 1, "RPCs reuse the READY connection")
		assert.Equal(t, 4, srv.Served())
		ch.Close()
		srv.Stop()
	})
}

// TestChannelConnectWithoutRPC: Connect (getConnectivityState(true)) is an
// explicit connect request: an IDLE channel resolves and connects with no
// RPC; on a READY channel it does nothing.
func TestChannelConnectWithoutRPC(t *testing.T) {
	sn := newSCNet(t, 12)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		o := newChObs(env)
		dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
		env.Sleep(time.Second)
		assert.Empty(t, o.attempts)
		ch.Connect()
		assert.True(t, waitChannelState(env, ch, connectivity.Ready, time.Second))
		assert.Equal(t, []chAttempt{{sn.addr(), time.Second + 10*time.Millisecond}}, o.attempts)
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready}, o.distinctStates())
		assert.Zero(t, srv.Served(), "connected with no RPC")
		ch.Connect()
		env.Sleep(time.Minute)
		assert.Len(t, o.attempts, 1)
		assert.Len(t, dns.calls, 1)
		resp, err := chInvoke(env, ch, time.Second, false)
		assert.NoError(t, err)
		assert.Equal(t, "b1", resp)
		ch.Close()
		srv.Stop()
	})
}

// TestChannelEmptyAddressList: a lookup that returns no address puts the
// channel in TRANSIENT_FAILURE; a fail-fast RPC fails with Unavailable
// naming the empty list, a wait-for-ready one waits until its deadline.
func TestChannelEmptyAddressList(t *testing.T) {
	sn := newSCNet(t, 13)
	sn.run(t, func(env netmodel.Env) {
		o := newChObs(env)
		dns := newFakeDNS(env, 10*time.Millisecond) // no answer
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))

		start := o.now()
		_, err := chInvoke(env, ch, time.Second, false)
		assert.Equal(t, 10*time.Millisecond, o.now()-start, "fails as soon as the empty result lands")
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		assert.ErrorContains(t, err, pickfirst.ErrNoAddresses.Error())
		assert.Equal(t, connectivity.TransientFailure, ch.State())
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure}, o.distinctStates())

		_, err = chInvoke(env, ch, time.Second, false)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		assert.ErrorContains(t, err, "no addresses")
		_, err = chInvoke(env, ch, time.Second, true)
		assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(err), "wait-for-ready waits: %v", err)

		assert.Empty(t, o.attempts)
		assert.Empty(t, ch.Pool().Subchannels())
		if d, ok := ch.Diagnose(); assert.True(t, ok) {
			assert.Equal(t, connectivity.TransientFailure, d.State)
			assert.False(t, d.AddressListSet)
			assert.Empty(t, d.Children)
		}
		ch.Close()
	})
}

// TestChannelDeduplicatesAddresses: repeated addresses in a lookup result
// (also once bare and once with the target's port) get one subchannel and
// one attempt: with a blackholed address first, the backend's attempt is
// the second one, 250ms later, not 500ms or 750ms.
func TestChannelDeduplicatesAddresses(t *testing.T) {
	sn := newSCNet(t, 14)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		o := newChObs(env)
		bh := chBlackhole1 + ":50051"
		dns := newFakeDNS(env, 10*time.Millisecond, chBlackhole1, bh, "10.0.0.11", chBlackhole1, "10.0.0.11:50051")
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
		ch.Connect()
		o.sleepUntil(100 * time.Millisecond)
		subs := ch.Pool().Subchannels()
		if assert.Len(t, subs, 2, "one subchannel per unique address") {
			assert.Equal(t, sn.addr(), subs[0].Addr())
			assert.Equal(t, bh, subs[1].Addr())
		}
		if d, ok := ch.Diagnose(); assert.True(t, ok) && assert.Len(t, d.Children, 2) {
			assert.Equal(t, bh, d.Children[0].Addr)
			assert.Equal(t, sn.addr(), d.Children[1].Addr)
		}
		assert.True(t, waitChannelState(env, ch, connectivity.Ready, time.Second))
		assert.Equal(t, []chAttempt{{bh, 10 * time.Millisecond}, {sn.addr(), 260 * time.Millisecond}}, o.attempts)
		subs = ch.Pool().Subchannels()
		if assert.Len(t, subs, 1, "the losing subchannel is released") {
			assert.Equal(t, sn.addr(), subs[0].Addr())
			assert.Equal(t, 1, subs[0].Refs())
			assert.Equal(t, 1, subs[0].Attempts())
		}
		ch.Close()
		srv.Stop()
	})
}

// TestChannelBadLookupAnswer: an answer that is not an IP address, or has a
// bad port, fails the resolution with an error naming it: the channel goes
// TRANSIENT_FAILURE and RPCs fail with Unavailable carrying that error; no
// subchannel is made, not even for the good addresses of the answer.
func TestChannelBadLookupAnswer(t *testing.T) {
	for _, bad := range []string{"backend-2", "10.0.0.11:0", "10.0.0.11:http"} {
		t.Run(bad, func(t *testing.T) {
			sn := newSCNet(t, 15)
			sn.run(t, func(env netmodel.Env) {
				o := newChObs(env)
				dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11", bad)
				ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
				_, err := chInvoke(env, ch, time.Second, false)
				assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
				assert.ErrorContains(t, err, fmt.Sprintf("%q", bad))
				assert.ErrorContains(t, err, fmt.Sprintf("%q", chTarget))
				assert.Equal(t, connectivity.TransientFailure, ch.State())
				assert.Empty(t, o.attempts)
				assert.Empty(t, ch.Pool().Subchannels())
				ch.Close()
			})
		})
	}
}

// TestNewChannelRejectsBadOptions: a bad variant, target, backoff or
// resolver option is an error naming the problem, and the failed
// NewChannel leaves no task behind (the World checks for leaks).
func TestNewChannelRejectsBadOptions(t *testing.T) {
	lookup := func(string) ([]string, error) { return nil, nil }
	withBackoff := func(f func(*pickfirst.BackoffConfig)) pickfirst.Options {
		b := pickfirst.DefaultBackoff
		f(&b)
		return pickfirst.Options{Subchannels: pickfirst.SubchannelOptions{Backoff: b}, Resolver: pickfirst.ResolverOptions{Lookup: lookup}}
	}
	cases := []struct {
		name   string
		target string
		opts   pickfirst.Options
		want   []string
	}{
		{"variant", chTarget, pickfirst.Options{Variant: "grpc-js-9.9.9", Resolver: pickfirst.ResolverOptions{Lookup: lookup}},
			[]string{"unknown variant", `"grpc-js-9.9.9"`}},
		{"empty target", "", pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: lookup}}, []string{"empty target"}},
		{"no port", "backend.test", pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: lookup}}, []string{`"backend.test"`, "missing port"}},
		{"bad port", "backend.test:0", pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: lookup}}, []string{`bad port "0"`}},
		{"no lookup", chTarget, pickfirst.Options{}, []string{fmt.Sprintf("%q", chTarget), "Lookup is required"}},
		{"negative min time", chTarget, pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: lookup, MinTimeBetweenResolutions: -time.Second}},
			[]string{"MinTimeBetweenResolutions is negative"}},
		{"jitter", chTarget, withBackoff(func(b *pickfirst.BackoffConfig) { b.Jitter = 2 }), []string{"Backoff.Jitter = 2"}},
		{"multiplier", chTarget, withBackoff(func(b *pickfirst.BackoffConfig) { b.Multiplier = 0.5 }), []string{"Backoff.Multiplier = 0.5"}},
		{"initial", chTarget, withBackoff(func(b *pickfirst.BackoffConfig) { b.InitialBackoff = -time.Second }), []string{"Backoff.InitialBackoff = -1s"}},
		{"max below initial", chTarget, withBackoff(func(b *pickfirst.BackoffConfig) { b.MaxBackoff = time.Millisecond }), []string{"Backoff.MaxBackoff = 1ms"}},
		{"connect timeout", chTarget, withBackoff(func(b *pickfirst.BackoffConfig) { b.MinConnectTimeout = 0 }), []string{"Backoff.MinConnectTimeout = 0s"}},
	}
	sn := newSCNet(t, 16)
	sn.run(t, func(env netmodel.Env) {
		for _, c := range cases {
			ch, err := pickfirst.NewChannel(env, c.target, c.opts)
			assert.Nil(t, ch, c.name)
			if assert.Error(t, err, c.name) {
				for _, s := range c.want {
					assert.Contains(t, err.Error(), s, c.name)
				}
			}
		}
		// Good ones: every variant by name, "" (the default), an IP
		// literal without a Lookup, a zero Backoff (the default).
		for _, v := range []pickfirst.Variant{"", pickfirst.V1_10_1, pickfirst.V1_10_2, pickfirst.V1_10_11} {
			ch, err := pickfirst.NewChannel(env, "10.0.0.11:50051", pickfirst.Options{Variant: v})
			if assert.NoError(t, err, "%q", v) {
				assert.Equal(t, connectivity.Idle, ch.State())
				ch.Close()
				assert.Equal(t, connectivity.Shutdown, ch.State())
			}
		}
	})
}

func TestParseVariant(t *testing.T) {
	v, err := pickfirst.ParseVariant("")
	assert.NoError(t, err)
	assert.Equal(t, pickfirst.V1_10_11, v, `"" is the fixed release`)
	assert.Equal(t, []pickfirst.Variant{pickfirst.V1_10_1, pickfirst.V1_10_2, pickfirst.V1_10_11}, pickfirst.Variants)
	for _, want := range pickfirst.Variants {
		v, err := pickfirst.ParseVariant(string(want))
		assert.NoError(t, err)
		assert.Equal(t, want, v)
	}
	for _, bad := range []string{"1.10.2", "grpc-js-1.10.3", "GRPC-JS-1.10.2", " grpc-js-1.10.2", "fixed"} {
		v, err := pickfirst.ParseVariant(bad)
		assert.Empty(t, v, bad)
		if assert.Error(t, err, bad) {
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", bad))
			assert.Contains(t, err.Error(), string(pickfirst.V1_10_11), "the error lists the variants")
		}
	}
}

// TestChannelClose: Close in the middle of things (a dial in progress to
// a host that never answers, the attempt-delay timer, a queued
// wait-for-ready RPC; a READY connection with a deferred resolution; every
// subchannel in backoff) fails the queued RPC with Unavailable at once and
// leaves no task or timer: main returns right after Close (and the
// server's Stop), and the World's leak check fails the run if anything of
// the channel is left. RPCs after Close fail with Unavailable; Close is
// idempotent; Connect and Diagnose after Close do nothing.
func TestChannelClose(t *testing.T) {
	cases := []struct {
		name   string
		answer []string
		serve  bool
		// setup runs before Close; it may start a wait-for-ready RPC in
		// rpc (a task) and returns whether it did.
		setup func(env netmodel.Env, o *chObs, ch *pickfirst.Channel, rpc func()) bool
	}{
		{"connecting", []string{chBlackhole1, chBlackhole2}, false, func(env netmodel.Env, o *chObs, ch *pickfirst.Channel, rpc func()) bool {
			rpc()
			o.sleepUntil(400 * time.Millisecond)
			d, _ := ch.Diagnose()
			assert.Equal(t, connectivity.Connecting, d.State)
			assert.True(t, d.DelayPending, "%v", d)
			assert.Len(t, o.attempts, 2)
			return true
		}},
		{"ready, resolution deferred", []string{"10.0.0.11"}, true, func(env netmodel.Env, o *chObs, ch *pickfirst.Channel, rpc func()) bool {
			_, err := chInvoke(env, ch, time.Second, false)
			assert.NoError(t, err)
			o.sleepUntil(2 * time.Second) // the server dropped the connection at ~1s
			assert.Equal(t, connectivity.Idle, ch.State())
			_, err = chInvoke(env, ch, time.Second, false)
			assert.NoError(t, err)
			d, _ := ch.Diagnose()
			assert.Equal(t, connectivity.Ready, d.State)
			assert.True(t, d.ResolutionPending, "the exit-idle resolution waits for the 30s window: %v", d)
			return false
		}},
		{"transient failure", []string{chRefused, "10.0.0.11:50053"}, false, func(env netmodel.Env, o *chObs, ch *pickfirst.Channel, rpc func()) bool {
			ch.Connect()
			o.sleepUntil(1500 * time.Millisecond)
			assert.Equal(t, connectivity.TransientFailure, ch.State())
			rpc()
			env.Sleep(time.Millisecond)
			return true
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sn := newSCNet(t, 17)
			sn.run(t, func(env netmodel.Env) {
				var srv *server.Server
				if c.serve {
					srv = sn.serve(t, server.WithMaxConnectionAge(time.Second))
				}
				o := newChObs(env)
				dns := newFakeDNS(env, 10*time.Millisecond, c.answer...)
				ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
				var rpcErr error
				var rpcEnd time.Duration
				rpcDone := sim.NewChan[struct{}](env, 0)
				started := c.setup(env, o, ch, func() {
					env.Go("rpc", func() {
						defer rpcDone.Close()
						_, rpcErr = chInvoke(env, ch, time.Hour, true)
						rpcEnd = o.now()
					})
				})
				closeAt := o.now()
				ch.Close()
				assert.Equal(t, closeAt, o.now(), "Close takes no virtual time")
				if started {
					rpcDone.Recv()
					assert.Equal(t, closeAt, rpcEnd, "the queued RPC fails at Close")
					assert.Equal(t, wire.Unavailable, wire.CodeOf(rpcErr), "%v", rpcErr)
				}
				assert.Equal(t, connectivity.Shutdown, ch.State())
				assert.Empty(t, ch.Pool().Subchannels())
				_, err := chInvoke(env, ch, time.Second, true)
				assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
				assert.ErrorIs(t, err, pickfirst.ErrChannelClosed)
				_, ok := ch.Diagnose()
				assert.False(t, ok)
				ch.Connect()
				ch.Close()
				assert.Equal(t, closeAt, o.now(), "a second Close returns at once")
				if srv != nil {
					srv.Stop()
				}
				// main returns now: any task or timer left is a leak.
			})
		})
	}
}

// chDeterminismRun is a busy channel scenario: a shuffled address list
// with a blackholed address, a server dropping connections every ~700ms
// and restarting, RPCs (fail-fast and wait-for-ready) at random intervals.
// It returns the run's result and a log of what the hooks saw.
func chDeterminismRun(t *testing.T, opts sim.Options) (sim.Result, []string) {
	sn := newChNet(t, opts)
	var log []string
	res := sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t, server.WithMaxConnectionAge(700*time.Millisecond))
		o := newChObs(env)
		dns := newFakeDNS(env, 5*time.Millisecond, chBlackhole1, "10.0.0.11", chRefused)
		popts := o.hook(pickfirst.Options{
			Variant:  pickfirst.V1_10_11,
			Config:   pickfirst.Config{ShuffleAddressList: true},
			Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup, MinTimeBetweenResolutions: 2 * time.Second},
		})
		popts.Subchannels.OnTransition = func(addr string, prev, next connectivity.State) {
			log = append(log, fmt.Sprintf("%v %s %v->%v", o.now(), addr, prev, next))
		}
		ch := newTestChannel(t, env, chTarget, popts)
		rnd := env.Rand("test/workload")
		for i := range 40 {
			if i == 20 {
				srv.Stop()
				env.Sleep(time.Duration(rnd.Int63n(int64(2 * time.Second))))
				srv = sn.serve(t, server.WithMaxConnectionAge(700*time.Millisecond))
			}
			resp, err := chInvoke(env, ch, 3*time.Second, rnd.Intn(2) == 0)
			log = append(log, fmt.Sprintf("%v rpc %q %v", o.now(), resp, err))
			env.Sleep(time.Duration(rnd.Int63n(int64(800 * time.Millisecond))))
		}
		log = append(log, fmt.Sprint(o.attempts), fmt.Sprint(o.states), fmt.Sprint(dns.calls))
		ch.Close()
		srv.Stop()
	})
	return res, log
}

// TestChannelDeterminism: the same seed and strategy replay a busy channel
// run exactly (fingerprint, steps, virtual time, everything the hooks saw);
// different seeds take different paths.
func TestChannelDeterminism(t *testing.T) {
	for _, st := range []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Depth: 3}, {Kind: sim.Random, PermuteEqualTime: true}} {
		a, logA := chDeterminismRun(t, sim.Options{Seed: 42, Strategy: st})
		b, logB := chDeterminismRun(t, sim.Options{Seed: 42, Strategy: st})
		assert.Equal(t, a.Fingerprint, b.Fingerprint, "%v", st)
		assert.Equal(t, a.Steps, b.Steps, "%v", st)
		assert.Equal(t, a.Elapsed, b.Elapsed, "%v", st)
		assert.Equal(t, logA, logB, "%v", st)
		assert.Greater(t, len(logA), 100, "a non-trivial run")
		_, logC := chDeterminismRun(t, sim.Options{Seed: 43, Strategy: st})
		assert.NotEqual(t, logA, logC, "%v: another seed, another run", st)
	}
}
