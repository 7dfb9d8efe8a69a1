package scenarios

import (
	"net"
	"strconv"
	"time"

	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/pickfirst"
)

func init() {
	registerLive(&LiveMode{
		Scenario: "pickfirst",
		Doc: "grpc-js's pick_first channel (1.10.11, the fixed variant) behind its DNS-style resolver (30s rate " +
			"limit) and a real server. Each cycle: a wait-for-ready RPC connects; the server stops (its " +
			"connections close) and restarts on the same port 200ms later; for 1s with no RPC the channel must " +
			"stay IDLE and make no connection attempt (gRFC A62); the next RPC must reconnect. Cycles repeat while " +
			"-duration allows; the last phase stops the server under a wait-for-ready RPC, which must complete " +
			"once the server is back (through a connection backoff). Subchannel transitions must be legal and " +
			"every backoff within the spec's bounds.",
		DefaultNodes: 2, MinNodes: 2, MaxNodes: 2,
		DefaultDuration: 5 * time.Second, MinDuration: 3 * time.Second,
		Properties: []string{"rpcs-succeed", "a62-idle", "reconnect-on-rpc", "wait-for-ready-liveness", "legal-transitions", "backoff-bounds"},
		run:        runLivePickfirst,
	})
}

func runLivePickfirst(l *liveRun) error {
	env, duration := l.env, l.cfg.Duration
	const (
		port     = 50051
		down     = 200 * time.Millisecond // the server's restart
		quietFor = time.Second            // no RPC: no connection attempt
		cycleLen = down + quietFor + 300*time.Millisecond
		lastLen  = 2 * time.Second
		deadline = 10 * time.Second // of each RPC
	)
	bound := 5*time.Second + LiveTolerance // a state change after a stop
	cenv, err := l.cfg.Net.AddNode("client")
	if err != nil {
		return err
	}
	senv, err := l.cfg.Net.AddNode("server")
	if err != nil {
		return err
	}
	srvIP := senv.Net().Interfaces()[0].Addr.String()

	// The server, started and restarted for real on the same port.
	var srv *server.Server
	srvMu := env.NewMutex()
	startServer := func() error {
		ln, err := senv.Net().Listen("tcp", ":"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		s := server.New(senv, "server")
		if err := s.Serve(ln); err != nil {
			return err
		}
		srvMu.Lock()
		srv = s
		srvMu.Unlock()
		return nil
	}
	stopServer := func() {
		srvMu.Lock()
		s := srv
		srv = nil
		srvMu.Unlock()
		if s != nil {
			s.Stop()
		}
	}
	if err := startServer(); err != nil {
		return err
	}
	l.event("server listening on %s", net.JoinHostPort(srvIP, strconv.Itoa(port)))

	// The properties' state, as in the simulated scenario (see its
	// comments): the A62 idle rule with the licence a demanded, deferred
	// resolution gives.
	mu := env.NewMutex()
	var (
		pending                       int // RPCs in Invoke
		undemanded                    = true
		demandedResolution, licensed  bool
		state                         = connectivity.Idle
		attempts                      int
		lastAttempt                   time.Duration
		transitionsOK, backoffsOK     int
		quiet                         = func() bool { return undemanded && pending == 0 }
		backoff                       = pickfirst.DefaultBackoff
		maxBackoffSeen, minBackoffSet time.Duration
	)
	opts := pickfirst.Options{
		Variant: pickfirst.V1_10_11,
		Subchannels: pickfirst.SubchannelOptions{
			OnAttempt: func(addr string, _ time.Time) {
				mu.Lock()
				defer mu.Unlock()
				attempts++
				lastAttempt = l.since()
				l.event("client: connection attempt to %s (channel %v)", addr, state)
				if quiet() && !licensed {
					l.violate("a62-idle", "connection attempt to %s after the picked connection was lost, with no RPC pending and no connect request since (gRFC A62); channel %v", addr, state)
				}
			},
			OnTransition: func(addr string, prev, next connectivity.State) {
				mu.Lock()
				defer mu.Unlock()
				if !legalSubchannelTransition(prev, next) {
					l.violate("legal-transitions", "subchannel %s: %v -> %v is not a legal transition", addr, prev, next)
				}
				transitionsOK++
			},
			OnBackoff: func(addr string, attempt int, d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				nom := nominalBackoff(backoff, attempt)
				lo, hi := time.Duration(float64(float64(nom)*0.8)), time.Duration(float64(float64(nom)*1.2))
				if d < lo-time.Microsecond || d > hi+time.Microsecond {
					l.violate("backoff-bounds", "subchannel %s: backoff %v before attempt %d, spec bounds [%v, %v]", addr, d, attempt+1, lo, hi)
				}
				backoffsOK++
				maxBackoffSeen = max(maxBackoffSeen, d)
				if minBackoffSet == 0 || d < minBackoffSet {
					minBackoffSet = d
				}
			},
		},
		Resolver: pickfirst.ResolverOptions{
			Lookup: func(string) ([]string, error) { return []string{srvIP}, nil },
		},
		OnResolveRequest: func(cause pickfirst.ResolveCause) {
			mu.Lock()
			defer mu.Unlock()
			if cause == pickfirst.ResolveExitIdle {
				undemanded = false
			}
			if cause == pickfirst.ResolveExitIdle || !undemanded || licensed {
				demandedResolution = true
			}
		},
		OnResolved: func(addrs []string) {
			mu.Lock()
			defer mu.Unlock()
			licensed = demandedResolution
			demandedResolution = false
		},
		OnState: func(s connectivity.State) {
			mu.Lock()
			defer mu.Unlock()
			if state == connectivity.Ready && s != connectivity.Ready {
				undemanded, licensed = true, false
			}
			if s != state {
				l.event("client: channel %v", s)
			}
			state = s
		},
	}
	target := net.JoinHostPort("backend.test", strconv.Itoa(port))
	ch, err := pickfirst.NewChannel(cenv, target, opts)
	if err != nil {
		stopServer()
		return err
	}
	restarts := env.NewWaitGroup()
	defer func() {
		restarts.Wait()
		ch.Close()
		stopServer()
	}()

	rpc := func(what string) (time.Duration, error) {
		mu.Lock()
		pending++
		undemanded = false
		mu.Unlock()
		defer func() {
			mu.Lock()
			pending--
			mu.Unlock()
		}()
		ctx, cancel := cenv.WithTimeout(cenv.Background(), deadline)
		defer cancel()
		start := l.since()
		resp, err := ch.Invoke(ctx, "/test.Echo/Ping", []byte("ping"), true)
		took := l.since() - start
		if err != nil {
			l.violate("rpcs-succeed", "%s: %v", what, err)
			return took, err
		}
		l.event("client: %s served by %q in %v", what, resp, took.Round(time.Microsecond))
		return took, nil
	}
	channelState := func() connectivity.State {
		mu.Lock()
		defer mu.Unlock()
		return state
	}
	stopAndAwaitIdle := func() {
		l.event("server stops (its connections close)")
		stopServer()
		if !l.waitUntil(bound, time.Millisecond, func() bool { return channelState() != connectivity.Ready }) {
			l.violate("a62-idle", "the channel still reports READY %v after the server stopped", bound)
		}
	}

	rpcs, cycles := 0, 0
	var maxReconnect time.Duration
	for cycles == 0 || l.since()+cycleLen+lastLen <= duration {
		cycles++
		if _, err := rpc("RPC"); err == nil {
			rpcs++
		}
		stopAndAwaitIdle()
		env.Sleep(down)
		if err := startServer(); err != nil {
			return err
		}
		l.event("server restarted on the same port")

		mu.Lock()
		before := attempts
		mu.Unlock()
		env.Sleep(quietFor)
		mu.Lock()
		idleAttempts, st := attempts-before, state
		mu.Unlock()
		if idleAttempts == 0 {
			l.event("client: %v for %v with no RPC: no connection attempt", st, quietFor)
		}

		issued := l.since()
		took, err := rpc("RPC after the restart")
		mu.Lock()
		reconnected := attempts > before && lastAttempt >= issued
		mu.Unlock()
		if err == nil {
			rpcs++
			maxReconnect = max(maxReconnect, took)
		}
		if !reconnected && err == nil {
			l.violate("reconnect-on-rpc", "cycle %d: the RPC after the restart was served without a new connection attempt", cycles)
		}
	}

	// Last: the server goes away under a wait-for-ready RPC and comes back
	// 500ms later; the RPC must complete (backoff retries reach it).
	stopAndAwaitIdle()
	restarts.Add(1)
	cenv.Go("restarter", func() {
		defer restarts.Done()
		env.Sleep(500 * time.Millisecond)
		if err := startServer(); err != nil {
			l.violate("wait-for-ready-liveness", "restarting the server: %v", err)
			return
		}
		l.event("server restarted on the same port")
	})
	took, err := rpc("wait-for-ready RPC issued while the server is down")
	if err != nil {
		l.violate("wait-for-ready-liveness", "a wait-for-ready RPC to a server that came back did not complete within %v: %v", deadline, err)
	} else {
		rpcs++
		l.held("wait-for-ready-liveness", "a wait-for-ready RPC issued while the server was down completed %v later", took.Round(time.Millisecond))
	}

	mu.Lock()
	defer mu.Unlock()
	l.held("rpcs-succeed", "%d RPCs served", rpcs)
	l.held("a62-idle", "%d restarts: after each the channel went IDLE and made no connection attempt while no RPC was pending", cycles+1)
	l.held("reconnect-on-rpc", "%d reconnections, each started by an RPC; slowest RPC %v", cycles, maxReconnect.Round(time.Microsecond))
	l.held("legal-transitions", "%d subchannel transitions, all legal", transitionsOK)
	if backoffsOK == 0 {
		l.held("backoff-bounds", "no backoff was scheduled")
	} else {
		l.held("backoff-bounds", "%d backoffs in [%v, %v], within the spec's bounds", backoffsOK, minBackoffSet.Round(time.Millisecond), maxBackoffSeen.Round(time.Millisecond))
	}
	l.metric("connection_attempts", float64(attempts))
	l.metric("rpcs", float64(rpcs))
	l.metric("max_reconnect_rpc_ms", float64(maxReconnect.Microseconds())/1000)
	return nil
}
