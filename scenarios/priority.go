package scenarios

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/clientconn"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/priority"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"

	_ "github.com/detsim/detsim/protocols/grpc/outlierdetection" // child policy
	_ "github.com/detsim/detsim/protocols/grpc/roundrobin"       // child policy
)

// backend is one priority's server host: its server is stopped and started
// again by the scenario (like the restartable backend of grpc-go's test).
type backend struct {
	name string
	host *netmodel.Host
	addr string
	srv  *server.Server
}

func (be *backend) start() error {
	env := be.host.Env()
	ln, err := env.Net().Listen("tcp", ":50051")
	if err != nil {
		return err
	}
	be.srv = server.New(env, be.name)
	return be.srv.Serve(ln) // starts the accept task and returns
}

func (be *backend) stop() {
	if be.srv != nil {
		be.srv.Stop()
		be.srv = nil
	}
}

// priorityTestbed builds a client and one backend per priority on a
// loopback-like segment (50µs, as the upstream test's localhost).
type priorityTestbed struct {
	r        *scenario.Run
	net      *netmodel.Network
	client   *netmodel.Host
	backends []*backend
	cc       *clientconn.ClientConn
	lb       *priority.Balancer
	rpcs     int
}

func newPriorityTestbed(r *scenario.Run, n int) *priorityTestbed {
	nw := r.Network(netmodel.Options{})
	// Loopback-like: the upstream test's backends are on localhost.
	if err := nw.AddSegment("lo", netip.MustParsePrefix("127.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(50 * time.Microsecond)}); err != nil {
		panic(err)
	}
	tb := &priorityTestbed{r: r, net: nw}
	var err error
	if tb.client, err = nw.AddHost("client", nil, netmodel.Iface{Segment: "lo", Addr: netip.MustParseAddr("127.0.0.100")}); err != nil {
		panic(err)
	}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%d", i)
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)})
		h, err := nw.AddHost(name, nil, netmodel.Iface{Segment: "lo", Addr: ip})
		if err != nil {
			panic(err)
		}
		tb.backends = append(tb.backends, &backend{name: name, host: h, addr: net.JoinHostPort(ip.String(), "50051")})
	}
	return tb
}

// config is the priority LB config: one outlier_detection(round_robin)
// child per priority, as the upstream test's clusterimpl/outlierdetection/
// ring_hash chain gives each child tasks of its own.
func (tb *priorityTestbed) config() string {
	var children, prios []string
	for _, be := range tb.backends {
		children = append(children, fmt.Sprintf(`%q: {"config": [{"outlier_detection_experimental": {"interval": "10s", "childPolicy": [{"round_robin": {}}]}}]}`, be.name))
		prios = append(prios, fmt.Sprintf("%q", be.name))
	}
	return fmt.Sprintf(`[{"%s": {"children": {%s}, "priorities": [%s], "variant": %q}}]`,
		priority.Name, strings.Join(children, ", "), strings.Join(prios, ", "), tb.r.Variant)
}

// dial creates the client connection and gives it every backend's address,
// each routed to its priority's child.
func (tb *priorityTestbed) dial() {
	cc, err := clientconn.New(tb.client.Env(), "priority-test", clientconn.Options{
		LBConfig: []byte(tb.config()),
		// The upstream test's fastConnectParams: a 10ms first backoff,
		// then (MaxDelay 0) immediate retries, and a 100ms connect
		// timeout, so a restarted backend is found within a round trip.
		ConnectTimeout: 100 * time.Millisecond,
		Backoff:        clientconn.BackoffConfig{BaseDelay: 10 * time.Millisecond},
	})
	if err != nil {
		panic(err)
	}
	tb.cc = cc
	var addrs []resolver.Address
	for _, be := range tb.backends {
		addrs = append(addrs, resolver.Address{Addr: be.addr, Path: []string{be.name}})
	}
	if err := cc.UpdateResolverState(resolver.State{Addresses: addrs}); err != nil {
		panic(err)
	}
	tb.lb, _ = cc.Balancer().(*priority.Balancer)
}

// rpc makes one RPC with a deadline and returns the backend that served it.
func (tb *priorityTestbed) rpc(timeout time.Duration, opts ...clientconn.CallOption) (string, error) {
	env := tb.client.Env()
	ctx, cancel := env.WithTimeout(env.Background(), timeout)
	defer cancel()
	tb.rpcs++
	resp, err := tb.cc.Invoke(ctx, "/test.Echo/Ping", []byte("ping"), opts...)
	return string(resp), err
}

// rpcUntil makes RPCs back to back until one is served by want, within
// timeout, as the upstream test's loops do: no pause between successful
// RPCs, so the RPC that follows a picker switch starts as soon as the one
// before it returns. Errors are expected while a failure is being detected
// (an RPC sent on a connection the server is closing fails Unavailable);
// like upstream, the loop counts them and keeps going, after a millisecond
// so that a fail-fast error cannot spin without time passing.
func (tb *priorityTestbed) rpcUntil(want string, timeout time.Duration, opts ...clientconn.CallOption) (time.Duration, error) {
	w := tb.r.W
	start := w.Elapsed()
	var last error
	for w.Elapsed()-start < timeout {
		got, err := tb.rpc(timeout-(w.Elapsed()-start), opts...)
		if err == nil && got == want {
			return w.Elapsed() - start, nil
		}
		if err != nil {
			last = err
			tb.r.Add("rpc_errors", 1)
			w.Sleep(time.Millisecond)
		}
	}
	return 0, fmt.Errorf("no RPC reached %s within %v (last error: %v)", want, timeout, last)
}

// checkChoice is the safety property: whenever the priority policy is
// quiescent, the child in use is the one gRFC A56 chooses.
func (tb *priorityTestbed) checkChoice() error {
	if tb.lb == nil || tb.lb.ChoiceHolds() {
		return nil
	}
	if inUse, want, ok := tb.lb.Snapshot(); ok && inUse != want {
		return fmt.Errorf("child in use is %q, gRFC A56 chooses %q", inUse, want)
	}
	return nil
}

func (tb *priorityTestbed) shutdown() {
	tb.cc.Close()
	for _, be := range tb.backends {
		be.stop()
	}
}

func init() {
	scenario.Register(&scenario.Scenario{
		Name: "priority",
		Description: "gRPC priority failover (gRFC A56) with two priorities, each an " +
			"outlier_detection(round_robin) child in a balancergroup, following grpc-go's " +
			"TestRingHash_SwitchToLowerPriorityAndThenBack: P0's backend stops, the client fails " +
			"over to P1, P0's backend restarts, the client switches back, and the connection " +
			"closes as soon as an RPC reaches P0. In the buggy variant (pre grpc/grpc-go#8095) the " +
			"balancergroup clears its idle cache before marking itself closed, so a Remove of P1 " +
			"from the priority's run task that lands in between puts P1 in the 15-minute cache " +
			"after the clear: P1's balancer and its tasks leak (grpc/grpc-go#7783, ~2 in 100k " +
			"runs upstream).",
		Variants: []scenario.Variant{
			{Name: "fixed", Doc: "balancergroup closing is terminal and ordered (#8095)"},
			{Name: "buggy", Doc: "cache cleared before the group is marked closed (#4308 order)", Buggy: true},
		},
		Params: []scenario.Param{
			scenario.Duration("rpc-timeout", "deadline of each RPC and of each phase", 30*time.Second, time.Second, 5*time.Minute),
		},
		Probes: []string{"failover", "switched-back"},
		// The race needs the priority's run task to be descheduled inside
		// Remove(P1), after P0's picker is published, while the next RPC
		// reaches P0 and Close clears the cache: +delay preempts tasks as
		// an OS does, and +swarm preempts only about one task in four, so
		// the tasks of that RPC and of Close often run unhindered.
		// Preemptions of up to 500µs (ten loopback one-way latencies) are
		// enough: measured on 20,000 seeds, 1.15% of buggy seeds leak,
		// against 1.03% with up to 10ms (which makes preempted tasks so
		// slow that runs take twice the steps), 0.59% with every task
		// preempted (pct:1+delay:100ms:16) and none without +delay.
		Strategy:   "pct:1+delay:500us:1+swarm:4",
		Seeds:      2000,
		CheckLeaks: true,
		MaxTime:    time.Hour,
		Main: func(r *scenario.Run) {
			timeout := r.Params.Duration("rpc-timeout")
			tb := newPriorityTestbed(r, 2)
			r.Safety("a56-choice", tb.checkChoice)
			for _, be := range tb.backends {
				if err := be.start(); err != nil {
					panic(err)
				}
			}
			r.W.Sleep(time.Millisecond) // the servers listen before the client dials
			tb.dial()
			p0, p1 := tb.backends[0], tb.backends[1]
			if _, err := tb.rpcUntil("p0", timeout); err != nil {
				r.Violate("rpcs-succeed", "initial: %v", err)
			}
			// P0's backend stops: fail over to P1.
			p0.stop()
			took, err := tb.rpcUntil("p1", timeout, clientconn.WaitForReady(true))
			if err != nil {
				r.Violate("rpcs-succeed", "failover: %v", err)
			}
			r.Sometimes("failover", err == nil)
			r.Metric("failover_ms", float64(took.Milliseconds()))
			if took > priority.DefaultPriorityInitTimeout+time.Second {
				r.Violate("failover-within-timer", "failover took %v, longer than the %v failover timer", took, priority.DefaultPriorityInitTimeout)
			}
			// P0's backend restarts: switch back, then close at once.
			if err := p0.start(); err != nil {
				panic(err)
			}
			took, err = tb.rpcUntil("p0", timeout)
			if err != nil {
				r.Violate("rpcs-succeed", "switch back: %v", err)
			}
			r.Sometimes("switched-back", err == nil)
			r.Metric("switch_back_ms", float64(took.Milliseconds()))
			r.Metric("rpcs", float64(tb.rpcs))
			tb.shutdown()
			_ = p1
			// CheckLeaks now requires every task and timer of the client,
			// the policy and its children to be gone.
		},
	})
	scenario.Register(&scenario.Scenario{
		Name: "priority-chaos",
		Description: "The priority policy over 3-4 priorities while backends stop and restart at " +
			"random, with RPCs throughout and the client connection closed at a random moment; " +
			"after the close nothing of the policy may be alive and the child in use is always " +
			"the one gRFC A56 chooses. A stress test of the fixed balancergroup (#8095): a random " +
			"close rarely meets a deactivation, so the #7783 leak is the priority scenario's job.",
		Variants: []scenario.Variant{
			{Name: "fixed", Doc: "balancergroup closing is terminal and ordered (#8095)"},
		},
		Params: []scenario.Param{
			scenario.IntDrawn("priorities", "number of priorities", 3, 4),
			scenario.IntDrawn("flaps", "backend stop/start events before the close", 2, 8),
		},
		Probes:     []string{"failover"},
		Strategy:   "random+delay",
		Seeds:      300,
		CheckLeaks: true,
		MaxTime:    time.Hour,
		Main: func(r *scenario.Run) {
			tb := newPriorityTestbed(r, r.Params.Int("priorities"))
			r.Safety("a56-choice", tb.checkChoice)
			for _, be := range tb.backends {
				if err := be.start(); err != nil {
					panic(err)
				}
			}
			r.W.Sleep(time.Millisecond)
			tb.dial()
			rnd := r.W.Rand("priority-chaos")
			stopRPCs := false
			done := sim.NewChan[struct{}](r.W, 0)
			tb.client.Env().Go("rpc-loop", func() {
				defer done.Close()
				for !stopRPCs {
					if got, err := tb.rpc(time.Minute); err == nil && got != "p0" {
						r.Sometimes("failover", true)
					}
					r.W.Sleep(time.Duration(50+rnd.Intn(200)) * time.Millisecond)
				}
			})
			for i := r.Params.Int("flaps"); i > 0; i-- {
				r.W.Sleep(time.Duration(500+rnd.Intn(5000)) * time.Millisecond)
				be := tb.backends[rnd.Intn(len(tb.backends))]
				if be.srv != nil {
					be.stop()
				} else if err := be.start(); err != nil {
					panic(err)
				}
			}
			r.W.Sleep(time.Duration(rnd.Intn(3000)) * time.Millisecond)
			stopRPCs = true
			tb.cc.Close() // at a random moment: RPCs and failovers may be in flight
			done.Recv()
			for _, be := range tb.backends {
				be.stop()
			}
		},
	})
}
