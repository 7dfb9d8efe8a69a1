package scenarios

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/clientconn"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/priority"
	"github.com/detsim/detsim/sim/scenario"
)

func init() {
	registerLive(&LiveMode{
		Scenario: "priority",
		Doc: "grpc-go's TestRingHash_SwitchToLowerPriorityAndThenBack for real: a gRPC client with the priority " +
			"policy (fixed variant) over two priorities, each outlier_detection(round_robin) with one real " +
			"backend. RPCs reach P0; P0's server stops and wait-for-ready RPCs must fail over to P1 within the " +
			"failover timer (10s, + tolerance); P0's server restarts and RPCs must switch back to P0; then the " +
			"client closes. -duration bounds each phase.",
		DefaultNodes: 3, MinNodes: 3, MaxNodes: 3,
		DefaultDuration: 30 * time.Second, MinDuration: time.Second,
		Properties: []string{"rpcs-succeed", "failover-within-timer", "switched-back"},
		Variants:   []string{"buggy"},
		run:        runLivePriority,
	})
}

// liveBackend is one priority's real backend.
type liveBackend struct {
	name string
	env  netmodel.Env
	addr string
	srv  *server.Server
}

func (be *liveBackend) start() error {
	ln, err := be.env.Net().Listen("tcp", ":50051")
	if err != nil {
		return err
	}
	be.srv = server.New(be.env, be.name)
	return be.srv.Serve(ln)
}

func (be *liveBackend) stop() {
	if be.srv != nil {
		be.srv.Stop()
		be.srv = nil
	}
}

func runLivePriority(l *liveRun) error {
	env, phase := l.env, l.cfg.Duration
	cenv, err := l.cfg.Net.AddNode("client")
	if err != nil {
		return err
	}
	var bes []*liveBackend
	defer func() {
		for _, be := range bes {
			be.stop()
		}
	}()
	for i := range 2 {
		be := &liveBackend{name: fmt.Sprintf("p%d", i)}
		if be.env, err = l.cfg.Net.AddNode(be.name); err != nil {
			return err
		}
		be.addr = net.JoinHostPort(be.env.Net().Interfaces()[0].Addr.String(), strconv.Itoa(50051))
		bes = append(bes, be)
		if err := be.start(); err != nil {
			return err
		}
		l.event("backend %s serving on %s", be.name, be.addr)
	}
	// The LB config is the simulated scenario's (one outlier_detection
	// (round_robin) child per priority), built by the same code.
	tb := &priorityTestbed{r: &scenario.Run{Variant: l.cfg.Variant}}
	for _, be := range bes {
		tb.backends = append(tb.backends, &backend{name: be.name, addr: be.addr})
	}
	cc, err := clientconn.New(cenv, "priority-live", clientconn.Options{
		LBConfig:       []byte(tb.config()),
		ConnectTimeout: 100 * time.Millisecond,
		Backoff:        clientconn.BackoffConfig{BaseDelay: 10 * time.Millisecond},
	})
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			cc.Close()
		}
	}()
	var addrs []resolver.Address
	for _, be := range bes {
		addrs = append(addrs, resolver.Address{Addr: be.addr, Path: []string{be.name}})
	}
	if err := cc.UpdateResolverState(resolver.State{Addresses: addrs}); err != nil {
		return err
	}

	rpcs, errs := 0, 0
	// rpcUntil makes RPCs back to back until one is served by want, as the
	// simulated scenario (and grpc-go's test) do.
	rpcUntil := func(want string, timeout time.Duration, opts ...clientconn.CallOption) (time.Duration, error) {
		start := l.since()
		var last error
		for l.since()-start < timeout {
			ctx, cancel := cenv.WithTimeout(cenv.Background(), timeout-(l.since()-start))
			resp, err := cc.Invoke(ctx, "/test.Echo/Ping", []byte("ping"), opts...)
			cancel()
			rpcs++
			if err == nil && string(resp) == want {
				return l.since() - start, nil
			}
			if err != nil {
				last = err
				errs++
				env.Sleep(time.Millisecond)
			}
		}
		return 0, fmt.Errorf("no RPC reached %s within %v (last error: %v)", want, timeout, last)
	}

	if took, err := rpcUntil("p0", phase); err != nil {
		l.violate("rpcs-succeed", "initial: %v", err)
	} else {
		l.event("client: RPCs reach p0 (%v)", took.Round(time.Microsecond))
	}

	bes[0].stop()
	l.event("backend p0 stopped")
	timer := priority.DefaultPriorityInitTimeout + LiveTolerance
	took, err := rpcUntil("p1", phase, clientconn.WaitForReady(true))
	switch {
	case err != nil:
		l.violate("rpcs-succeed", "failover: %v", err)
		l.violate("failover-within-timer", "no failover: %v", err)
	case took > timer:
		l.violate("failover-within-timer", "failover took %v, longer than the %v failover timer + %v tolerance", took, priority.DefaultPriorityInitTimeout, LiveTolerance)
	default:
		l.event("client: failed over to p1 in %v", took.Round(time.Microsecond))
		l.held("failover-within-timer", "failed over to p1 %v after p0 stopped (bound %v)", took.Round(time.Microsecond), timer)
		l.metric("failover_ms", float64(took.Microseconds())/1000)
	}

	if err := bes[0].start(); err != nil {
		return err
	}
	l.event("backend p0 restarted")
	if took, err := rpcUntil("p0", phase); err != nil {
		l.violate("rpcs-succeed", "switch back: %v", err)
		l.violate("switched-back", "%v", err)
	} else {
		l.event("client: switched back to p0 in %v", took.Round(time.Microsecond))
		l.held("switched-back", "RPCs reached p0 again %v after it restarted", took.Round(time.Microsecond))
		l.metric("switch_back_ms", float64(took.Microseconds())/1000)
	}
	// Close at once, as the upstream test does right after the switch.
	cc.Close()
	closed = true
	l.event("client closed")
	l.held("rpcs-succeed", "%d RPCs (%d failed while a failure was being detected, as upstream allows)", rpcs, errs)
	l.metric("rpcs", float64(rpcs))
	return nil
}
