package pickfirst_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/pickfirst"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// resolverWorld is a World (with CheckLeaks) with one host, "client", whose
// Env the resolvers run on.
type resolverWorld struct {
	w   *sim.World
	env netmodel.Env
}

func newResolverWorld(t *testing.T, opts sim.Options) *resolverWorld {
	t.Helper()
	opts.CheckLeaks = true
	w, err := sim.New(opts)
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(0)}))
	h, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	return &resolverWorld{w: w, env: h.Env()}
}

// run runs main and fails the test if the run failed (a leak included).
// Inside main use assert, not require.
func (rw *resolverWorld) run(t *testing.T, main func()) sim.Result {
	t.Helper()
	res, err := rw.w.Run(main)
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}

// resolverEvent is one listener call: at is the time since the start of
// the run.
type resolverEvent struct {
	at    time.Duration
	addrs []string
	err   error
}

// resolverRecorder is a ResolverListener that records every call.
type resolverRecorder struct {
	env    netmodel.Env
	t0     time.Time
	events []resolverEvent
	// onEvent, if set, runs inside the callback.
	onEvent func()
}

func newResolverRecorder(env netmodel.Env) *resolverRecorder {
	return &resolverRecorder{env: env, t0: env.Now()}
}

func (r *resolverRecorder) OnResolved(addrs []string) {
	r.events = append(r.events, resolverEvent{at: r.env.Since(r.t0), addrs: addrs})
	if r.onEvent != nil {
		r.onEvent()
	}
}

func (r *resolverRecorder) OnResolveError(err error) {
	r.events = append(r.events, resolverEvent{at: r.env.Since(r.t0), err: err})
	if r.onEvent != nil {
		r.onEvent()
	}
}

// fakeDNS answers lookups after latency; it records when each started.
type fakeDNS struct {
	env     netmodel.Env
	t0      time.Time
	latency time.Duration
	answer  []string
	err     error
	names   []string
	calls   []time.Duration // since t0
	running int
	overlap bool // two lookups ran at once
}

func newFakeDNS(env netmodel.Env, latency time.Duration, answer ...string) *fakeDNS {
	return &fakeDNS{env: env, t0: env.Now(), latency: latency, answer: answer}
}

func (d *fakeDNS) lookup(name string) ([]string, error) {
	d.names = append(d.names, name)
	d.calls = append(d.calls, d.env.Since(d.t0))
	d.running++
	if d.running > 1 {
		d.overlap = true
	}
	defer func() { d.running-- }()
	d.env.Sleep(d.latency)
	if d.err != nil {
		return nil, d.err
	}
	return append([]string(nil), d.answer...), nil
}

func TestResolverIPLiteralResolvesOnce(t *testing.T) {
	for _, target := range []string{"10.0.0.11:50051", "[::1]:443", "[fe80::1%eth0]:8080"} {
		rw := newResolverWorld(t, sim.Options{Seed: 1})
		rw.run(t, func() {
			env := rw.env
			rec := newResolverRecorder(env)
			// No Lookup is needed, and none would be called.
			r, err := pickfirst.NewResolver(env, target, pickfirst.ResolverOptions{}, rec)
			if !assert.NoError(t, err) {
				return
			}
			for range 3 {
				r.UpdateResolution()
				env.Sleep(time.Minute)
			}
			assert.Equal(t, []resolverEvent{{at: 0, addrs: []string{target}}}, rec.events, "%s: one result, at once", target)
			assert.Zero(t, r.Resolutions(), "an IP literal needs no lookup")
			r.Destroy()
		})
	}
}

// TestResolverRateLimitsResolutions: the first request looks up at once;
// a request while that lookup is in flight is dropped (it does not even
// defer one); requests inside the 30s window after the lookup's start
// cause one lookup when the window ends; a request after the window looks
// up at once. Addresses keep the lookup's order, bare IPs get the
// target's port, IPv6 in brackets.
func TestResolverRateLimitsResolutions(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		rw := newResolverWorld(t, sim.Options{Seed: seed})
		rw.run(t, func() {
			env := rw.env
			dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.12", "10.0.0.11:6000", "::1", "[2001:db8::1]", "[2001:db8::2]:7000")
			rec := newResolverRecorder(env)
			r, err := pickfirst.NewResolver(env, "backend.svc:50051", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
			if !assert.NoError(t, err) {
				return
			}
			want := []string{"10.0.0.12:50051", "10.0.0.11:6000", "[::1]:50051", "[2001:db8::1]:50051", "[2001:db8::2]:7000"}
			at := func(d time.Duration) { env.Sleep(d - env.Since(dns.t0)) }

			r.UpdateResolution() // t=0: looks up now
			at(5 * time.Millisecond)
			r.UpdateResolution() // in flight: nothing
			at(20 * time.Second)
			assert.Equal(t, []time.Duration{0}, dns.calls, "the request during the lookup deferred nothing")
			assert.Equal(t, []resolverEvent{{at: 10 * time.Millisecond, addrs: want}}, rec.events)

			r.UpdateResolution() // inside the window: deferred to t=30s
			at(25 * time.Second)
			r.UpdateResolution() // still one deferred lookup
			r.UpdateResolution()
			assert.Equal(t, 1, r.Resolutions())
			at(30*time.Second - time.Nanosecond)
			assert.Equal(t, []time.Duration{0}, dns.calls, "deferred until 30s after the first start")
			at(31 * time.Second)
			assert.Equal(t, []time.Duration{0, 30 * time.Second}, dns.calls, "one lookup for three requests")
			assert.Equal(t, 2, r.Resolutions())
			assert.Len(t, rec.events, 2)
			assert.Equal(t, resolverEvent{at: 30*time.Second + 10*time.Millisecond, addrs: want}, rec.events[len(rec.events)-1])

			at(61 * time.Second)
			r.UpdateResolution() // the window (30s..60s) is over: now
			at(62 * time.Second)
			assert.Equal(t, []time.Duration{0, 30 * time.Second, 61 * time.Second}, dns.calls)
			assert.Equal(t, []string{"backend.svc", "backend.svc", "backend.svc"}, dns.names, "the lookup gets the host only")
			assert.Len(t, rec.events, 3)
			assert.False(t, dns.overlap)
			r.Destroy()
		})
	}
}

// TestResolverMinTimeOption: the window is MinTimeBetweenResolutions, and
// a lookup slower than the window leaves no window after it.
func TestResolverMinTimeOption(t *testing.T) {
	rw := newResolverWorld(t, sim.Options{Seed: 2})
	rw.run(t, func() {
		env := rw.env
		dns := newFakeDNS(env, 2*time.Second, "10.0.0.11")
		rec := newResolverRecorder(env)
		r, err := pickfirst.NewResolver(env, "svc:80", pickfirst.ResolverOptions{MinTimeBetweenResolutions: time.Second, Lookup: dns.lookup}, rec)
		if !assert.NoError(t, err) {
			return
		}
		r.UpdateResolution() // t=0, returns at 2s
		env.Sleep(2500 * time.Millisecond)
		r.UpdateResolution() // the 1s window ended during the lookup: now
		env.Sleep(2600 * time.Millisecond)
		r.UpdateResolution() // t=5.1s, window of the 2.5s start ended at 3.5s: now
		env.Sleep(100 * time.Millisecond)
		r.UpdateResolution() // in flight: nothing
		env.Sleep(2 * time.Second)
		r.UpdateResolution() // t=7.2s, after the 5.1s start's window: now
		env.Sleep(10 * time.Millisecond)
		r.UpdateResolution() // in flight
		env.Sleep(3 * time.Second)
		assert.Equal(t, []time.Duration{0, 2500 * time.Millisecond, 5100 * time.Millisecond, 7200 * time.Millisecond}, dns.calls)
		assert.Len(t, rec.events, 4)
		r.Destroy()
	})
}

// TestResolverLookupError: a failed lookup reaches the listener as an
// error naming the target and wrapping the lookup's error, and ends the
// rate-limit window (grpc-js stops nextResolutionTimer on error): the next
// request resolves at once. A lookup answer that is not an IP is an error
// too; an empty answer is delivered as is.
func TestResolverLookupError(t *testing.T) {
	errNX := errors.New("ENOTFOUND")
	rw := newResolverWorld(t, sim.Options{Seed: 3})
	rw.run(t, func() {
		env := rw.env
		dns := newFakeDNS(env, 10*time.Millisecond)
		dns.err = errNX
		rec := newResolverRecorder(env)
		r, err := pickfirst.NewResolver(env, "missing.svc:50051", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
		if !assert.NoError(t, err) {
			return
		}
		r.UpdateResolution()
		env.Sleep(time.Second)
		if assert.Len(t, rec.events, 1) {
			e := rec.events[0]
			assert.Nil(t, e.addrs)
			assert.ErrorIs(t, e.err, errNX)
			assert.ErrorContains(t, e.err, `"missing.svc:50051"`)
			assert.Equal(t, 10*time.Millisecond, e.at)
		}

		dns.err = nil
		dns.answer = []string{"10.0.0.11"}
		r.UpdateResolution() // t=1s: no window after an error
		env.Sleep(time.Second)
		assert.Equal(t, []time.Duration{0, time.Second}, dns.calls)
		if assert.Len(t, rec.events, 2) {
			assert.Equal(t, []string{"10.0.0.11:50051"}, rec.events[1].addrs)
		}

		// A success opens a window again: this one waits until 31s.
		dns.answer = []string{"10.0.0.11", "backend-2"}
		r.UpdateResolution()
		env.Sleep(40 * time.Second)
		assert.Equal(t, []time.Duration{0, time.Second, 31 * time.Second}, dns.calls)
		if assert.Len(t, rec.events, 3) {
			assert.ErrorContains(t, rec.events[2].err, `"backend-2"`)
			assert.ErrorContains(t, rec.events[2].err, "not an IP address")
		}

		dns.answer = nil
		r.UpdateResolution() // t=42s: the bad answer ended the window
		env.Sleep(time.Second)
		assert.Equal(t, []time.Duration{0, time.Second, 31 * time.Second, 42 * time.Second}, dns.calls)
		if assert.Len(t, rec.events, 4) {
			assert.Equal(t, resolverEvent{at: 42*time.Second + 10*time.Millisecond, addrs: []string{}}, rec.events[3])
		}
		r.Destroy()
	})
}

func TestResolverBadTargets(t *testing.T) {
	lookup := func(string) ([]string, error) { return nil, nil }
	cases := []struct {
		target string
		opts   pickfirst.ResolverOptions
		want   []string // substrings of the error
	}{
		{"", pickfirst.ResolverOptions{Lookup: lookup}, []string{"empty target"}},
		{"backend.svc", pickfirst.ResolverOptions{Lookup: lookup}, []string{`"backend.svc"`, "missing port"}},
		{"10.0.0.1", pickfirst.ResolverOptions{}, []string{`"10.0.0.1"`, "missing port"}},
		{"::1", pickfirst.ResolverOptions{}, []string{`"::1"`, "not host:port"}},
		{"[::1]", pickfirst.ResolverOptions{}, []string{`"[::1]"`, "missing port"}},
		{"backend.svc:", pickfirst.ResolverOptions{Lookup: lookup}, []string{`"backend.svc:"`, "no port"}},
		{"backend.svc:http", pickfirst.ResolverOptions{Lookup: lookup}, []string{`"backend.svc:http"`, `bad port "http"`}},
		{"backend.svc:0", pickfirst.ResolverOptions{Lookup: lookup}, []string{`bad port "0"`}},
		{"backend.svc:65536", pickfirst.ResolverOptions{Lookup: lookup}, []string{`bad port "65536"`}},
		{"backend.svc:+80", pickfirst.ResolverOptions{Lookup: lookup}, []string{`bad port "+80"`}},
		{":50051", pickfirst.ResolverOptions{Lookup: lookup}, []string{`":50051"`, "empty host"}},
		{"backend.svc:50051", pickfirst.ResolverOptions{}, []string{`"backend.svc:50051"`, "Lookup is required"}},
		{"backend.svc:50051", pickfirst.ResolverOptions{Lookup: lookup, MinTimeBetweenResolutions: -time.Second},
			[]string{`"backend.svc:50051"`, "MinTimeBetweenResolutions is negative (-1s)"}},
	}
	rw := newResolverWorld(t, sim.Options{Seed: 4})
	rw.run(t, func() {
		rec := newResolverRecorder(rw.env)
		for _, c := range cases {
			r, err := pickfirst.NewResolver(rw.env, c.target, c.opts, rec)
			assert.Nil(t, r, "%q", c.target)
			if assert.Error(t, err, "%q", c.target) {
				for _, s := range c.want {
					assert.Contains(t, err.Error(), s, "%q", c.target)
				}
			}
		}
		_, err := pickfirst.NewResolver(rw.env, "backend.svc:50051", pickfirst.ResolverOptions{Lookup: lookup}, nil)
		assert.ErrorContains(t, err, "nil listener")
		// Good targets: an IP literal needs no Lookup; zero MinTime is the
		// default.
		for _, target := range []string{"10.0.0.1:1", "[::1]:65535", "backend.svc:50051", "localhost:80"} {
			r, err := pickfirst.NewResolver(rw.env, target, pickfirst.ResolverOptions{Lookup: lookup}, rec)
			if assert.NoError(t, err, target) {
				r.Destroy()
			}
		}
		assert.Empty(t, rec.events, "NewResolver starts nothing")
	})
}

// TestResolverDestroy: Destroy cancels a deferred resolution at once,
// waits for a lookup in flight (and drops its result), makes later
// requests no-ops, is idempotent, and leaves no task or timer (the World
// checks for leaks when main returns, right after Destroy).
func TestResolverDestroy(t *testing.T) {
	t.Run("deferred", func(t *testing.T) {
		rw := newResolverWorld(t, sim.Options{Seed: 5})
		rw.run(t, func() {
			env := rw.env
			dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
			rec := newResolverRecorder(env)
			r, err := pickfirst.NewResolver(env, "svc:80", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
			if !assert.NoError(t, err) {
				return
			}
			r.UpdateResolution()
			env.Sleep(time.Second)
			r.UpdateResolution() // deferred to 30s
			start := env.Now()
			r.Destroy()
			assert.Equal(t, time.Duration(0), env.Since(start), "a deferred resolution is cancelled, not waited for")
			r.Destroy()
			r.UpdateResolution()
			assert.Equal(t, []time.Duration{0}, dns.calls)
			assert.Len(t, rec.events, 1)
		})
	})
	t.Run("in flight", func(t *testing.T) {
		rw := newResolverWorld(t, sim.Options{Seed: 6})
		rw.run(t, func() {
			env := rw.env
			dns := newFakeDNS(env, 50*time.Millisecond, "10.0.0.11")
			rec := newResolverRecorder(env)
			r, err := pickfirst.NewResolver(env, "svc:80", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
			if !assert.NoError(t, err) {
				return
			}
			r.UpdateResolution()
			env.Sleep(20 * time.Millisecond)
			r.Destroy()
			assert.Equal(t, 50*time.Millisecond, env.Since(dns.t0), "Destroy waits for the lookup to return")
			assert.Empty(t, rec.events, "the result of a lookup in flight is dropped")
			r.UpdateResolution()
			assert.Equal(t, 1, r.Resolutions())
		})
	})
	t.Run("ip literal", func(t *testing.T) {
		for seed := uint64(0); seed < 20; seed++ {
			rw := newResolverWorld(t, sim.Options{Seed: seed})
			rw.run(t, func() {
				rec := newResolverRecorder(rw.env)
				r, err := pickfirst.NewResolver(rw.env, "10.0.0.11:80", pickfirst.ResolverOptions{}, rec)
				if !assert.NoError(t, err) {
					return
				}
				r.UpdateResolution()
				r.Destroy() // races with the delivery: at most one result, none after
				n := len(rec.events)
				assert.LessOrEqual(t, n, 1)
				rw.env.Sleep(time.Second)
				assert.Len(t, rec.events, n, "seed %d: a result after Destroy", seed)
			})
		}
	})
	t.Run("from a callback", func(t *testing.T) {
		rw := newResolverWorld(t, sim.Options{Seed: 7})
		rw.run(t, func() {
			env := rw.env
			dns := newFakeDNS(env, 10*time.Millisecond, "10.0.0.11")
			rec := newResolverRecorder(env)
			r, err := pickfirst.NewResolver(env, "svc:80", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
			if !assert.NoError(t, err) {
				return
			}
			// The listener may re-resolve and destroy from inside a
			// callback: Destroy does not wait for its own task.
			rec.onEvent = func() {
				r.UpdateResolution()
				r.Destroy()
			}
			r.UpdateResolution()
			env.Sleep(time.Minute)
			assert.Len(t, rec.events, 1)
			assert.Equal(t, []time.Duration{0}, dns.calls, "the re-resolution inside the window was cancelled")
			r.Destroy()
		})
	})
}

// TestResolverRandomRequests drives a resolver with requests at random
// times (errors now and then) over seeds and strategies, and checks
// grpc-js's rules: lookups never overlap; a lookup starts at least the
// window after the previous one unless that one failed; a request is never
// lost (it falls during a lookup, whose result serves it, or a lookup starts
// by the end of the window it fell in); every lookup's result reaches the
// listener; nothing after Destroy; no leaks.
func TestResolverRandomRequests(t *testing.T) {
	const window, latency = 5 * time.Second, 300 * time.Millisecond
	strategies := []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Depth: 3}, {Kind: sim.Random, PermuteEqualTime: true}}
	for _, st := range strategies {
		for seed := uint64(0); seed < 30; seed++ {
			name := fmt.Sprintf("%v/seed=%d", st, seed)
			rw := newResolverWorld(t, sim.Options{Seed: seed, Strategy: st})
			var dns *fakeDNS
			var rec *resolverRecorder
			var requests []time.Duration
			var failed []bool // per lookup
			rw.run(t, func() {
				env := rw.env
				rnd := env.Rand("test/requests")
				dns = newFakeDNS(env, latency, "10.0.0.11")
				rec = newResolverRecorder(env)
				lookup := func(name string) ([]string, error) {
					fail := rnd.Intn(4) == 0
					failed = append(failed, fail)
					addrs, err := dns.lookup(name)
					if fail {
						return nil, errors.New("SERVFAIL")
					}
					return addrs, err
				}
				r, err := pickfirst.NewResolver(env, "svc:443", pickfirst.ResolverOptions{MinTimeBetweenResolutions: window, Lookup: lookup}, rec)
				if !assert.NoError(t, err) {
					return
				}
				for range 40 {
					env.Sleep(time.Duration(rnd.Int63n(int64(4 * time.Second))))
					requests = append(requests, env.Since(dns.t0))
					r.UpdateResolution()
				}
				env.Sleep(window + latency) // let the last deferred lookup finish
				r.Destroy()
				r.UpdateResolution()
				assert.Equal(t, len(dns.calls), r.Resolutions(), name)
			})
			require.NotEmpty(t, dns.calls, name)
			assert.False(t, dns.overlap, name)
			assert.Len(t, rec.events, len(dns.calls), "%s: one result per lookup", name)
			for i := 1; i < len(dns.calls); i++ {
				gap := dns.calls[i] - dns.calls[i-1]
				assert.GreaterOrEqual(t, gap, latency, "%s: lookups overlap", name)
				if !failed[i-1] {
					assert.GreaterOrEqual(t, gap, window, "%s: lookup %d inside the window", name, i)
				}
			}
			isRequest := map[time.Duration]bool{}
			for _, q := range requests {
				isRequest[q] = true
			}
			for i, c := range dns.calls {
				// A lookup starts at a request or, deferred, exactly when
				// the previous (successful) lookup's window ends.
				deferred := i > 0 && !failed[i-1] && c == dns.calls[i-1]+window
				assert.True(t, isRequest[c] || deferred, "%s: lookup %d at %v is neither a request nor a window's end", name, i, c)
			}
			for _, q := range requests {
				// A request during a lookup is served by that lookup's
				// result (grpc-js drops it); any other one by a lookup
				// starting at once or when the window it fell in ends.
				served := false
				for _, c := range dns.calls {
					if (c <= q && q <= c+latency) || (q <= c && c <= q+window) {
						served = true
						break
					}
				}
				assert.True(t, served, "%s: the request at %v was lost (lookups %v)", name, q, dns.calls)
			}
			for i, e := range rec.events {
				assert.Equal(t, dns.calls[i]+latency, e.at, name)
				if failed[i] {
					assert.ErrorContains(t, e.err, "SERVFAIL", name)
				} else {
					assert.Equal(t, []string{"10.0.0.11:443"}, e.addrs, name)
				}
			}
		}
	}
}

// TestResolverTaskNames: lookups run in "resolver/<target>/lookup" tasks
// (prefixed with the host's name), the IP literal's result in ".../ip".
func TestResolverTaskNames(t *testing.T) {
	rw := newResolverWorld(t, sim.Options{Seed: 8, Trace: true})
	res := rw.run(t, func() {
		env := rw.env
		dns := newFakeDNS(env, time.Millisecond, "10.0.0.11")
		rec := newResolverRecorder(env)
		r, err := pickfirst.NewResolver(env, "svc:80", pickfirst.ResolverOptions{Lookup: dns.lookup}, rec)
		if !assert.NoError(t, err) {
			return
		}
		ip, err := pickfirst.NewResolver(env, "10.0.0.11:80", pickfirst.ResolverOptions{}, rec)
		if !assert.NoError(t, err) {
			return
		}
		r.UpdateResolution()
		ip.UpdateResolution()
		env.Sleep(time.Second)
		r.Destroy()
		ip.Destroy()
	})
	var names []string
	for _, e := range res.Trace {
		if e.Kind == sim.TraceSpawn && strings.Contains(e.TaskName, "resolver/") {
			names = append(names, e.TaskName)
		}
	}
	assert.ElementsMatch(t, []string{"client/resolver/svc:80/lookup", "client/resolver/10.0.0.11:80/ip"}, names)
}
