package pickfirst_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/protocols/pickfirst"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
)

// withPort is how the resolver writes a lookup answer: "ip:port" as is, a
// bare IP with the target's port (IPv6 in brackets).
func withPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(a, strconv.Itoa(scPort))
}

// TestPickFirstConnectionAttemptDelay: addresses are tried in order, the
// next one 250ms (A61's Connection Attempt Delay) after the previous one
// started while that one is still CONNECTING, without cancelling it; the
// first to become READY wins and the others are released.
func TestPickFirstConnectionAttemptDelay(t *testing.T) {
	sn := newSCNet(t, 21)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		o := newChObs(env)
		dns := newFakeDNS(env, 10*time.Millisecond, chBlackhole1, chBlackhole2, "10.0.0.11")
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
		var resp string
		var err error
		var rpcEnd time.Duration
		done := sim.NewChan[struct{}](env, 0)
		env.Go("rpc", func() {
			defer done.Close()
			resp, err = chInvoke(env, ch, time.Second, true)
			rpcEnd = o.now()
		})

		o.sleepUntil(400 * time.Millisecond)
		// Both blackholed attempts are in flight: the delay timer does not
		// cancel them.
		subs := ch.Pool().Subchannels()
		if assert.Len(t, subs, 3) { // sorted by address
			assert.Equal(t, connectivity.Idle, subs[0].State(), "%s: not tried yet", subs[0].Addr())
			assert.Equal(t, connectivity.Connecting, subs[1].State(), subs[1].Addr())
			assert.Equal(t, connectivity.Connecting, subs[2].State(), subs[2].Addr())
		}
		if d, ok := ch.Diagnose(); assert.True(t, ok) {
			assert.Equal(t, connectivity.Connecting, d.State)
			assert.True(t, d.DelayPending, "%v", d)
			assert.True(t, d.Progressing(), "%v", d)
		}
		done.Recv()
		assert.NoError(t, err)
		assert.Equal(t, "b1", resp)
		// The lookup takes 10ms; then one attempt every 250ms; the
		// backend's connects in 2ms and the RPC takes 2ms more.
		assert.Equal(t, []chAttempt{
			{withPort(chBlackhole1), 10 * time.Millisecond},
			{withPort(chBlackhole2), 260 * time.Millisecond},
			{sn.addr(), 510 * time.Millisecond},
		}, o.attempts)
		assert.Equal(t, 514*time.Millisecond, rpcEnd)
		subs = ch.Pool().Subchannels()
		if assert.Len(t, subs, 1, "the losers are released (their dials cancelled)") {
			assert.Equal(t, sn.addr(), subs[0].Addr())
		}
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready}, o.distinctStates())
		ch.Close()
		srv.Stop()
	})
}

// TestPickFirstFailedAttemptSkipsDelay: when the address being tried fails
// (connection refused), the next one starts at once, not when the 250ms
// timer would have fired.
func TestPickFirstFailedAttemptSkipsDelay(t *testing.T) {
	sn := newSCNet(t, 22)
	sn.run(t, func(env netmodel.Env) {
		srv := sn.serve(t)
		o := newChObs(env)
		dns := newFakeDNS(env, 10*time.Millisecond, chRefused, "10.0.0.11")
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
		resp, err := chInvoke(env, ch, time.Second, true)
		assert.NoError(t, err)
		assert.Equal(t, "b1", resp)
		assert.Equal(t, []chAttempt{{chRefused, 10 * time.Millisecond}, {sn.addr(), 12 * time.Millisecond}}, o.attempts,
			"the refusal (one round trip) starts the next attempt")
		assert.Equal(t, 16*time.Millisecond, o.now())
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready}, o.distinctStates(),
			"one failure out of two is not TRANSIENT_FAILURE")
		ch.Close()
		srv.Stop()
	})
}

// TestPickFirstStickyTransientFailure: every address refuses, so the
// channel reports TRANSIENT_FAILURE and stays there (sticky: no CONNECTING
// is published while the subchannels keep reconnecting, each with its own
// backoff). A fail-fast RPC fails at once with Unavailable; a
// wait-for-ready RPC waits and succeeds once a server listens; the channel
// then reports READY.
func TestPickFirstStickyTransientFailure(t *testing.T) {
	sn := newSCNet(t, 23)
	sn.run(t, func(env netmodel.Env) {
		o := newChObs(env)
		second := "10.0.0.11:50053"
		dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11", second)
		ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
		ch.Connect()
		assert.True(t, waitChannelState(env, ch, connectivity.TransientFailure, time.Second))
		// Lookup 10ms, the first refused at 12ms, the second at 14ms.
		if assert.Len(t, o.stateAt, 4) {
			assert.Equal(t, 14*time.Millisecond, o.stateAt[3])
		}
		if d, ok := ch.Diagnose(); assert.True(t, ok) {
			assert.True(t, d.StickyTF, "%v", d)
			assert.Len(t, d.Children, 2)
		}

		start := o.now()
		_, err := chInvoke(env, ch, time.Second, false)
		assert.Equal(t, start, o.now(), "a fail-fast RPC fails at once")
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		assert.ErrorContains(t, err, "no connection established")
		assert.ErrorContains(t, err, "refused", "the last connection error is reported")

		var resp string
		var rpcErr error
		var rpcEnd time.Duration
		done := sim.NewChan[struct{}](env, 0)
		env.Go("rpc", func() {
			defer done.Close()
			resp, rpcErr = chInvoke(env, ch, time.Minute, true)
			rpcEnd = o.now()
		})

		o.sleepUntil(5 * time.Second)
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure}, o.distinctStates(),
			"sticky TRANSIENT_FAILURE: reconnecting subchannels do not flip the channel to CONNECTING")
		per := map[string]int{}
		for _, a := range o.attempts {
			per[a.Addr]++
		}
		assert.GreaterOrEqual(t, per[sn.addr()], 3, "%v", o.attempts)
		assert.GreaterOrEqual(t, per[second], 3, "%v", o.attempts)
		assert.Len(t, per, 2)

		srv := sn.serve(t)
		done.Recv()
		assert.NoError(t, rpcErr)
		assert.Equal(t, "b1", resp)
		assert.Greater(t, rpcEnd, 5*time.Second)
		assert.Less(t, rpcEnd, 11*time.Second, "the next attempt after the server starts succeeds (backoff < 6s here)")
		assert.Equal(t, connectivity.Ready, ch.State())
		assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.TransientFailure, connectivity.Ready}, o.distinctStates())
		subs := ch.Pool().Subchannels()
		if assert.Len(t, subs, 1) {
			assert.Equal(t, sn.addr(), subs[0].Addr())
		}
		if d, ok := ch.Diagnose(); assert.True(t, ok) {
			assert.False(t, d.StickyTF, "READY ends sticky TRANSIENT_FAILURE")
		}
		ch.Close()
		srv.Stop()
	})
}

// TestPickFirstIdleAfterDrop checks gRFC A62's idle rule per variant: the
// server drops the picked connection ~1s after accept, with no RPC
// pending. 1.10.2 and 1.10.11 go IDLE and make no connection attempt (and
// no resolution) for the next minute, well past the resolver's 30s window;
// the next RPC reconnects. 1.10.1 requests re-resolution on the drop; the
// resolver defers it to the end of the 30s window that the first lookup
// opened, and its result reconnects with no RPC pending (grpc-node #2718).
func TestPickFirstIdleAfterDrop(t *testing.T) {
	for _, v := range pickfirst.Variants {
		t.Run(string(v), func(t *testing.T) {
			sn := newSCNet(t, 24)
			sn.run(t, func(env netmodel.Env) {
				srv := sn.serve(t, server.WithMaxConnectionAge(time.Second))
				o := newChObs(env)
				dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
				ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Variant: v, Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
				resp, err := chInvoke(env, ch, time.Second, false)
				assert.NoError(t, err)
				assert.Equal(t, "b1", resp)
				assert.Equal(t, connectivity.Ready, ch.State())

				assert.True(t, o.waitState(connectivity.Idle, 2*time.Second), "the connection drops ~1s after accept")
				assert.Equal(t, 1, srv.AgedOut())
				drop := o.now()
				assert.Greater(t, drop, 900*time.Millisecond)
				o.sleepUntil(drop + time.Minute)
				assert.Equal(t, 1, srv.Served(), "no RPC was made")

				if v == pickfirst.V1_10_1 {
					// The re-resolution asked for on the drop waits for
					// the window the first lookup (t=0) opened; its
					// result connects with no RPC pending.
					if assert.GreaterOrEqual(t, len(o.attempts), 2, "1.10.1 reconnects without an RPC") {
						assert.Equal(t, chAttempt{sn.addr(), 30*time.Second + 10*time.Millisecond}, o.attempts[1])
					}
					if assert.GreaterOrEqual(t, len(dns.calls), 2) {
						assert.Equal(t, []time.Duration{0, 30 * time.Second}, dns.calls[:2])
					}
					ch.Close()
					srv.Stop()
					return
				}
				assert.Equal(t, []chAttempt{{sn.addr(), 10 * time.Millisecond}}, o.attempts, "A62: no attempt until an RPC or Connect")
				assert.Equal(t, []time.Duration{0}, dns.calls, "and no re-resolution")
				assert.Equal(t, connectivity.Idle, ch.State())
				assert.Equal(t, []connectivity.State{connectivity.Idle, connectivity.Connecting, connectivity.Ready, connectivity.Idle}, o.distinctStates())
				if d, ok := ch.Diagnose(); assert.True(t, ok) {
					assert.Equal(t, connectivity.Idle, d.State)
					assert.Empty(t, d.Children)
					assert.Empty(t, d.Pick)
					assert.False(t, d.DelayPending)
					assert.False(t, d.ResolutionPending)
				}

				// The next RPC reconnects at once (re-resolving as well).
				rpcAt := o.now()
				resp, err = chInvoke(env, ch, time.Second, false)
				assert.NoError(t, err)
				assert.Equal(t, "b1", resp)
				if assert.Len(t, o.attempts, 2) {
					assert.Equal(t, chAttempt{sn.addr(), rpcAt}, o.attempts[1], "exitIdle reconnects to the latest address list at once")
				}
				assert.Equal(t, []time.Duration{0, rpcAt}, dns.calls)
				ch.Close()
				srv.Stop()
			})
		})
	}
}

// TestPickFirstStaleChildList scripts grpc-node #2690 deterministically.
// The server drops each connection ~1s after accept; the resolver's window
// is 5s; DNS answers in 10ms.
//
//	t=0     RPC 1: lookup (window 0..5s), connect, READY; dropped at ~1s -> IDLE
//	t=4.5s  RPC 2: the ResolvingLB's exitIdle asks for a resolution, which the
//	        window defers to 5s; pick_first reconnects at once: READY at 4.502s
//	t=5.01s the deferred result lands while the pick is READY: 1.10.1 and
//	        1.10.2 keep a stale child list (the pick's own subchannel);
//	        1.10.11 picks it before touching the list, which stays empty
//	~5.5s   the connection drops: 1.10.2 reports CONNECTING with nothing
//	        connecting and no resolution pending; 1.10.11 reports IDLE; 1.10.1
//	        reports CONNECTING but re-resolves (its escape hatch)
//	t=7s    a wait-for-ready RPC with a 5s deadline: 1.10.2 never reconnects
//	        (DeadlineExceeded); 1.10.11 reconnects at once; 1.10.1 when the
//	        re-resolution deferred to 10s returns
//
// The "fast lookup" recipe needs no rate limit: after the window, RPC 2's
// lookup starts at once but takes 10ms, longer than the 2ms connect, so its
// result too lands while READY. (Not for 1.10.1: the first drop's
// re-resolution, deferred to 5s, has reconnected it by then.)
func TestPickFirstStaleChildList(t *testing.T) {
	type recipe struct {
		name      string
		rpc2      time.Duration // RPC 2's time; the result lands 10ms later
		lookupAt  time.Duration // when RPC 2's lookup starts
		reresolve time.Duration // 1.10.1: the drop's re-resolution starts then
		variants  []pickfirst.Variant
	}
	recipes := []recipe{
		{name: "deferred result", rpc2: 4500 * time.Millisecond, lookupAt: 5 * time.Second, reresolve: 10 * time.Second, variants: pickfirst.Variants},
		{name: "fast lookup", rpc2: 5200 * time.Millisecond, lookupAt: 5200 * time.Millisecond, variants: []pickfirst.Variant{pickfirst.V1_10_2, pickfirst.V1_10_11}},
	}
	for _, rc := range recipes {
		for _, v := range rc.variants {
			t.Run(rc.name+"/"+string(v), func(t *testing.T) {
				sn := newSCNet(t, 25)
				sn.run(t, func(env netmodel.Env) {
					srv := sn.serve(t, server.WithMaxConnectionAge(time.Second))
					o := newChObs(env)
					dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
					ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{
						Variant:  v,
						Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup, MinTimeBetweenResolutions: 5 * time.Second},
					}))
					_, err := chInvoke(env, ch, time.Second, false)
					assert.NoError(t, err)
					// The first connection drops at ~1s. (1.10.1 reports
					// CONNECTING for the 1s of its re-resolution backoff.)
					o.sleepUntil(3 * time.Second)
					assert.Equal(t, 1, srv.AgedOut())
					assert.Equal(t, connectivity.Idle, ch.State())

					o.sleepUntil(rc.rpc2)
					_, err = chInvoke(env, ch, time.Second, false)
					assert.NoError(t, err)
					assert.Equal(t, rc.rpc2+4*time.Millisecond, o.now(), "RPC 2 reconnects without waiting for the resolver")
					if d, ok := ch.Diagnose(); assert.True(t, ok) {
						assert.Equal(t, connectivity.Ready, d.State)
						assert.Empty(t, d.Children)
						assert.True(t, d.ResolutionPending, "RPC 2's resolution has not returned: %v", d)
					}

					// The result lands while READY.
					o.sleepUntil(rc.lookupAt + 10*time.Millisecond + time.Millisecond)
					assert.Equal(t, []time.Duration{0, rc.lookupAt}, dns.calls)
					d, ok := ch.Diagnose()
					assert.True(t, ok)
					assert.Equal(t, connectivity.Ready, d.State, "%v", d)
					assert.Equal(t, sn.addr(), d.Pick)
					assert.False(t, d.ResolutionPending, "%v", d)
					if v == pickfirst.V1_10_11 {
						assert.Empty(t, d.Children, "#2784: the READY subchannel is picked before the child list is touched")
					} else if assert.Len(t, d.Children, 1, "the stale child list of #2690: %v", d) {
						c := d.Children[0]
						assert.Equal(t, sn.addr(), c.Addr)
						assert.Equal(t, connectivity.Ready, c.State)
						assert.True(t, c.HasListener, "shared with the pick: %v", d)
					}
					assert.Len(t, o.attempts, 2)

					// The second connection drops.
					o.sleepUntil(7 * time.Second)
					assert.Equal(t, 2, srv.AgedOut())
					d, _ = ch.Diagnose()
					switch v {
					case pickfirst.V1_10_2:
						assert.Equal(t, connectivity.Connecting, d.State, "%v", d)
						assert.Equal(t, connectivity.Connecting, ch.State())
						assert.False(t, d.Progressing(), "orphaned CONNECTING: %v", d)
						if assert.Len(t, d.Children, 1) {
							assert.Equal(t, connectivity.Idle, d.Children[0].State)
							assert.False(t, d.Children[0].HasListener, "removing the pick's listener removed the stale child's: %v", d)
						}
						assert.False(t, d.DelayPending)
						assert.False(t, d.ResolutionPending)
					case pickfirst.V1_10_1:
						assert.Equal(t, connectivity.Connecting, d.State, "%v", d)
						assert.True(t, d.ResolutionPending, "the drop's re-resolution is pending: %v", d)
						assert.True(t, d.Progressing(), "%v", d)
					case pickfirst.V1_10_11:
						assert.Equal(t, connectivity.Idle, d.State, "%v", d)
						assert.Equal(t, connectivity.Idle, ch.State())
						assert.Empty(t, d.Children)
					}

					start := o.now()
					resp, err := chInvoke(env, ch, 5*time.Second, true)
					switch v {
					case pickfirst.V1_10_2:
						assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(err), "#2690: the RPC hangs until its deadline: %v", err)
						assert.Equal(t, start+5*time.Second, o.now())
						assert.Len(t, o.attempts, 2, "no attempt after the drop")
						assert.Equal(t, connectivity.Connecting, ch.State())
						// And it never recovers by itself.
						o.sleepUntil(10 * time.Minute)
						assert.Len(t, o.attempts, 2)
						d, _ = ch.Diagnose()
						assert.Equal(t, connectivity.Connecting, d.State)
						assert.False(t, d.Progressing(), "%v", d)
					case pickfirst.V1_10_1:
						assert.NoError(t, err)
						assert.Equal(t, "b1", resp)
						if assert.Len(t, o.attempts, 3) {
							assert.Equal(t, chAttempt{sn.addr(), rc.reresolve + 10*time.Millisecond}, o.attempts[2],
								"reconnected by the re-resolution's result")
						}
					case pickfirst.V1_10_11:
						assert.NoError(t, err)
						assert.Equal(t, "b1", resp)
						assert.Equal(t, start+4*time.Millisecond, o.now(), "reconnects at once")
						if assert.Len(t, o.attempts, 3) {
							assert.Equal(t, chAttempt{sn.addr(), start}, o.attempts[2])
						}
					}
					ch.Close()
					srv.Stop()
				})
			})
		}
	}
}

// TestPickFirstShuffleAddressList: with ShuffleAddressList the attempt
// order is a permutation of the lookup's that differs across seeds and is
// the same for the same seed; without it, it is the lookup's order.
func TestPickFirstShuffleAddressList(t *testing.T) {
	answer := []string{"10.0.0.91", "10.0.0.92", "10.0.0.93", "10.0.0.94", "10.0.0.95"}
	want := make([]string, len(answer))
	for i, a := range answer {
		want[i] = withPort(a)
	}
	order := func(t *testing.T, seed uint64, shuffle bool) []string {
		sn := newSCNet(t, seed)
		var got []string
		sn.run(t, func(env netmodel.Env) {
			o := newChObs(env)
			dns := newFakeDNS(env, 10*time.Millisecond, answer...)
			ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{
				Config:   pickfirst.Config{ShuffleAddressList: shuffle},
				Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup},
			}))
			ch.Connect()
			o.sleepUntil(1100 * time.Millisecond)
			got = o.attemptAddrs()
			for i, a := range o.attempts {
				assert.Equal(t, 10*time.Millisecond+time.Duration(i)*pickfirst.ConnectionDelay, a.At)
			}
			ch.Close()
		})
		return got
	}
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 12; seed++ {
		got := order(t, seed, true)
		assert.ElementsMatch(t, want, got, "seed %d: a permutation", seed)
		assert.Equal(t, got, order(t, seed, true), "seed %d: the same seed, the same order", seed)
		seen[strings.Join(got, ",")] = true
		assert.Equal(t, want, order(t, seed, false), "seed %d: no shuffle, lookup order", seed)
	}
	assert.Greater(t, len(seen), 3, "the order depends on the seed: %v", seen)
}

// TestPickFirstInterleavesFamilies: the address list is interleaved
// IPv4/IPv6 starting with the first address's family (RFC 8305, gRFC
// A61), keeping each family's order. The simulated network is IPv4 only,
// so IPv6 dials fail at once and the next address starts without waiting
// for the 250ms timer; the order still shows the interleaving.
func TestPickFirstInterleavesFamilies(t *testing.T) {
	cases := []struct {
		name   string
		answer []string
		want   []chAttempt
	}{
		{"v4 first", []string{"10.0.0.91", "10.0.0.92", "2001:db8::1", "2001:db8::2"}, []chAttempt{
			{"10.0.0.91:50051", 10 * time.Millisecond},
			{"[2001:db8::1]:50051", 260 * time.Millisecond},
			{"10.0.0.92:50051", 260 * time.Millisecond},
			{"[2001:db8::2]:50051", 510 * time.Millisecond},
		}},
		{"v6 first", []string{"2001:db8::1", "2001:db8::2", "10.0.0.91", "10.0.0.92", "10.0.0.93"}, []chAttempt{
			{"[2001:db8::1]:50051", 10 * time.Millisecond},
			{"10.0.0.91:50051", 10 * time.Millisecond},
			{"[2001:db8::2]:50051", 260 * time.Millisecond},
			{"10.0.0.92:50051", 260 * time.Millisecond},
			{"10.0.0.93:50051", 510 * time.Millisecond},
		}},
		{"v4-mapped counts as v4", []string{"10.0.0.91", "::ffff:10.0.0.92", "2001:db8::1"}, []chAttempt{
			{"10.0.0.91:50051", 10 * time.Millisecond},
			{"[2001:db8::1]:50051", 260 * time.Millisecond},
			{"[::ffff:10.0.0.92]:50051", 260 * time.Millisecond},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sn := newSCNet(t, 26)
			sn.run(t, func(env netmodel.Env) {
				o := newChObs(env)
				dns := newFakeDNS(env, 10*time.Millisecond, c.answer...)
				ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
				ch.Connect()
				o.sleepUntil(900 * time.Millisecond)
				assert.Equal(t, c.want, o.attempts)
				ch.Close()
			})
		})
	}
}

// TestPickFirstAttemptOrderProperty drives channels over seeds and
// strategies with lookup answers drawn per seed (blackholed, refusing and
// listening addresses, duplicates) and checks, from the hooks alone: the
// first pass tries the unique addresses in lookup order; consecutive
// first-pass attempts are at most 250ms apart and a blackholed address is
// left alone for exactly 250ms; the channel ends READY on the listening
// address when there is one, TRANSIENT_FAILURE otherwise.
func TestPickFirstAttemptOrderProperty(t *testing.T) {
	strategies := []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Depth: 3}, {Kind: sim.Random, PermuteEqualTime: true}}
	pool := []string{"10.0.0.91", "10.0.0.92", "10.0.0.11:50052", "10.0.0.11:50053", "10.0.0.11"}
	for _, st := range strategies {
		for seed := uint64(0); seed < 25; seed++ {
			name := fmt.Sprintf("%v/seed=%d", st, seed)
			sn := newChNet(t, sim.Options{Seed: seed, Strategy: st})
			sn.run(t, func(env netmodel.Env) {
				rnd := env.Rand("test/answer")
				var answer []string
				for range 1 + rnd.Intn(6) {
					answer = append(answer, pool[rnd.Intn(len(pool))])
				}
				var uniq []string
				seenAddr := map[string]bool{}
				for _, a := range answer {
					if a := withPort(a); !seenAddr[a] {
						seenAddr[a] = true
						uniq = append(uniq, a)
					}
				}
				srv := sn.serve(t)
				o := newChObs(env)
				dns := newFakeDNS(env, 10*time.Millisecond, answer...)
				ch := newTestChannel(t, env, chTarget, o.hook(pickfirst.Options{Resolver: pickfirst.ResolverOptions{Lookup: dns.lookup}}))
				ch.Connect()
				o.sleepUntil(5 * time.Second)
				listening := seenAddr[sn.addr()]
				// The first pass: up to the listening address, if any.
				var pass []string
				for _, a := range uniq {
					pass = append(pass, a)
					if a == sn.addr() {
						break
					}
				}
				if assert.GreaterOrEqual(t, len(o.attempts), len(pass), "%s: %v %v", name, answer, o.attempts) {
					first := o.attempts[:len(pass)]
					got := make([]string, len(first))
					for i, a := range first {
						got[i] = a.Addr
					}
					assert.Equal(t, pass, got, "%s: lookup %v", name, answer)
					assert.Equal(t, 10*time.Millisecond, first[0].At, name)
					for i := 1; i < len(first); i++ {
						gap := first[i].At - first[i-1].At
						if strings.HasPrefix(first[i-1].Addr, "10.0.0.9") {
							assert.Equal(t, pickfirst.ConnectionDelay, gap, "%s: after a blackholed address", name)
						} else {
							assert.Equal(t, 2*time.Millisecond, gap, "%s: after a refusal", name)
						}
					}
				}
				if listening {
					assert.Equal(t, connectivity.Ready, ch.State(), name)
					assert.Equal(t, 1, len(ch.Pool().Subchannels()), name)
				} else {
					hasBlackhole := false
					for _, a := range uniq {
						hasBlackhole = hasBlackhole || strings.HasPrefix(a, "10.0.0.9")
					}
					if hasBlackhole {
						// A dial to a blackholed address lasts 20s.
						assert.Equal(t, connectivity.Connecting, ch.State(), name)
					} else {
						assert.Equal(t, connectivity.TransientFailure, ch.State(), name)
					}
				}
				ch.Close()
				srv.Stop()
			})
		}
	}
}
