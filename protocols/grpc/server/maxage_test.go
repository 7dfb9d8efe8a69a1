package server_test

import (
	"bufio"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newLANWith is newLAN with the World's options given (CheckLeaks is
// always on).
func newLANWith(t *testing.T, opts sim.Options) *lan {
	opts.CheckLeaks = true
	w, err := sim.New(opts)
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(0)}))
	c, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	s, err := n.AddHost("backend", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.2")})
	require.NoError(t, err)
	return &lan{w: w, n: n, client: c, server: s}
}

// TestMaxConnectionAgeClosesEachConnection: with WithMaxConnectionAge(1s)
// every connection serves RPCs until the server closes it (a FIN: the
// client reads io.EOF) between 0.9s and 1.1s after it was accepted, an RPC
// in flight or not; the ages are jittered. The link has no latency, so the
// accept happens at the instant the client's Dial returns. Swept over seeds
// and two strategies; every run checks for leaks.
func TestMaxConnectionAgeClosesEachConnection(t *testing.T) {
	const age, conns = time.Second, 6
	for _, strategy := range []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Depth: 3}} {
		for seed := uint64(0); seed < 20; seed++ {
			l := newLANWith(t, sim.Options{Seed: seed, Strategy: strategy})
			var lifetimes []time.Duration
			l.run(t, func() {
				senv := l.server.Env()
				srv := l.serve(t, "s", server.WithMaxConnectionAge(age), server.WithHandler(func(method string, _ []byte) ([]byte, error) {
					if method == "/slow" {
						senv.Sleep(5 * time.Second)
					}
					return []byte("ok"), nil
				}))
				env := l.client.Env()
				for i := range conns {
					start := env.Now()
					c, err := env.Net().Dial("tcp", "10.0.0.2:7000")
					if !assert.NoError(t, err) {
						break
					}
					br := bufio.NewReader(c)
					resp := roundTrip(t, c, br, &wire.Request{StreamID: 1, Method: "/fast"})
					assert.Equal(t, []byte("ok"), resp.Payload, "the connection serves RPCs before its age runs out")
					if i%2 == 1 {
						// An RPC in flight does not keep the connection open.
						assert.NoError(t, wire.WriteFrame(c, &wire.Request{StreamID: 3, Method: "/slow"}))
					}
					_, err = wire.ReadFrame(br)
					assert.ErrorIs(t, err, io.EOF, "connection %d", i)
					lifetimes = append(lifetimes, env.Since(start))
					c.Close()
				}
				assert.Equal(t, conns, srv.AgedOut())
				srv.Stop()
			})
			require.Len(t, lifetimes, conns)
			distinct := map[time.Duration]bool{}
			for i, d := range lifetimes {
				assert.GreaterOrEqual(t, d, age*9/10, "seed %d connection %d", seed, i)
				assert.Less(t, d, age*11/10, "seed %d connection %d", seed, i)
				distinct[d] = true
			}
			assert.Greater(t, len(distinct), 1, "seed %d: the ages are jittered: %v", seed, lifetimes)
		}
	}
}

// TestMaxConnectionAgeIsDeterministic: the jitter comes from the run's
// seed, so a run replays the same ages, and another seed draws others.
func TestMaxConnectionAgeIsDeterministic(t *testing.T) {
	lifetimes := func(seed uint64) []time.Duration {
		l := newLANWith(t, sim.Options{Seed: seed})
		var out []time.Duration
		l.run(t, func() {
			srv := l.serve(t, "s", server.WithMaxConnectionAge(time.Second))
			env := l.client.Env()
			for range 4 {
				start := env.Now()
				c, err := env.Net().Dial("tcp", "10.0.0.2:7000")
				if !assert.NoError(t, err) {
					break
				}
				_, err = wire.ReadFrame(c)
				assert.ErrorIs(t, err, io.EOF)
				out = append(out, env.Since(start))
				c.Close()
			}
			srv.Stop()
		})
		return out
	}
	a := lifetimes(7)
	assert.Equal(t, a, lifetimes(7))
	assert.NotEqual(t, a, lifetimes(8))
}

// TestMaxConnectionAgeStopLeavesNothing: a connection the client closes
// ends its max-age task and timer at once (not when the age would have run
// out), and Stop ends the others at once too: Stop does not wait for any
// age, the run ends at 1s rather than 10s, and CheckLeaks finds no task or
// timer left.
func TestMaxConnectionAgeStopLeavesNothing(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		l := newLANWith(t, sim.Options{Seed: seed, Trace: true})
		res, err := l.w.Run(func() {
			srv := l.serve(t, "s", server.WithMaxConnectionAge(10*time.Second))
			env := l.client.Env()
			early, err := env.Net().Dial("tcp", "10.0.0.2:7000")
			if !assert.NoError(t, err) {
				return
			}
			kept, err := env.Net().Dial("tcp", "10.0.0.2:7000")
			if !assert.NoError(t, err) {
				return
			}
			env.Sleep(100 * time.Millisecond)
			early.Close()
			env.Sleep(900 * time.Millisecond)
			start := env.Now()
			srv.Stop()
			assert.Equal(t, time.Duration(0), env.Since(start), "Stop waits for no age to run out")
			_, err = wire.ReadFrame(kept)
			assert.ErrorIs(t, err, io.EOF, "Stop closed the connection")
			assert.Equal(t, time.Duration(0), env.Since(start))
			kept.Close()
			assert.Zero(t, srv.AgedOut())
		})
		require.NoError(t, err)
		require.Nil(t, res.Failure, "seed %d: %v", seed, res.Failure)
		assert.Equal(t, time.Second, res.Elapsed)
		var spawned int
		var exits []time.Duration
		for _, e := range res.Trace {
			if !strings.HasSuffix(e.TaskName, "/server.maxage") {
				continue
			}
			switch e.Kind {
			case sim.TraceSpawn:
				spawned++
			case sim.TraceExit:
				exits = append(exits, e.Time)
			}
		}
		assert.Equal(t, 2, spawned, "seed %d: one max-age task per connection", seed)
		assert.Equal(t, []time.Duration{100 * time.Millisecond, time.Second}, exits,
			"seed %d: the client's close ends one max-age task, Stop the other", seed)
	}
}

// TestMaxConnectionAgeSurvivesACrash: a crash kills the max-age tasks with
// the rest of the host's; Stop afterwards returns at once and the run has
// no leak.
func TestMaxConnectionAgeSurvivesACrash(t *testing.T) {
	l := newLAN(t, 6)
	l.run(t, func() {
		srv := l.serve(t, "s", server.WithMaxConnectionAge(time.Second))
		env := l.client.Env()
		c, err := env.Net().Dial("tcp", "10.0.0.2:7000")
		if !assert.NoError(t, err) {
			return
		}
		env.Sleep(500 * time.Millisecond)
		assert.NoError(t, l.n.Crash("backend"))
		_, err = wire.ReadFrame(c)
		assert.Error(t, err, "reset by the crash")
		assert.NotErrorIs(t, err, io.EOF)
		c.Close()
		start := env.Now()
		srv.Stop()
		assert.Equal(t, time.Duration(0), env.Since(start))
		assert.Zero(t, srv.AgedOut())
		assert.NoError(t, l.n.Restart("backend"))
	})
}

// TestMaxConnectionAgeZeroMeansNoLimit: d <= 0 leaves connections open.
func TestMaxConnectionAgeZeroMeansNoLimit(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		l := newLAN(t, 7)
		l.run(t, func() {
			srv := l.serve(t, "s", server.WithMaxConnectionAge(d))
			env := l.client.Env()
			c, err := env.Net().Dial("tcp", "10.0.0.2:7000")
			if !assert.NoError(t, err) {
				return
			}
			env.Sleep(time.Hour)
			resp := roundTrip(t, c, bufio.NewReader(c), &wire.Request{StreamID: 1, Method: "/x"})
			assert.Equal(t, []byte("s"), resp.Payload, "d=%v: still open after an hour", d)
			c.Close()
			srv.Stop()
			assert.Zero(t, srv.AgedOut())
		})
	}
}
