// Package testnet builds the simulated network the gRPC tests and
// scenarios run on: a World, a client host and backend hosts that each run
// a server (package server) on BackendPort, restarted with the host.
package testnet

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/sim"
)

// BackendPort is the port every backend listens on.
const BackendPort = 50051

// Config describes the network.
type Config struct {
	// Sim are the World's options (seed, strategy, CheckLeaks, ...).
	Sim sim.Options
	// Backends is the number of backend hosts, "b1" (10.0.0.11) ... "bN".
	Backends int
	// Latency is the constant one-way latency on the segment (0 is
	// localhost-like).
	Latency time.Duration
	// Net are the network's options.
	Net netmodel.Options
	// Boot, if set, runs on a backend host at every (re)start before its
	// server listens: it may sleep (delay the server) and return server
	// options (a handler). Returning listen=false leaves the host without a
	// server.
	Boot func(env netmodel.Env, backend string) (opts []server.Option, listen bool)
}

// Net is the built network.
type Net struct {
	W        *sim.World
	N        *netmodel.Network
	Client   *netmodel.Host
	Backends []*netmodel.Host
	servers  map[string]*server.Server
	stopped  bool
}

// New builds the network; nothing runs until W.Run.
func New(cfg Config) (*Net, error) {
	w, err := sim.New(cfg.Sim)
	if err != nil {
		return nil, err
	}
	n, err := netmodel.New(w, cfg.Net)
	if err != nil {
		return nil, err
	}
	if err := n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(cfg.Latency)}); err != nil {
		return nil, err
	}
	tn := &Net{W: w, N: n, servers: map[string]*server.Server{}}
	if tn.Client, err = n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")}); err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.Backends; i++ {
		name := fmt.Sprintf("b%d", i)
		h, err := n.AddHost(name, func(env netmodel.Env) { tn.boot(cfg, env, name) },
			netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})})
		if err != nil {
			return nil, err
		}
		tn.Backends = append(tn.Backends, h)
	}
	return tn, nil
}

func (tn *Net) boot(cfg Config, env netmodel.Env, name string) {
	var opts []server.Option
	listen := true
	if cfg.Boot != nil {
		opts, listen = cfg.Boot(env, name)
	}
	if !listen || tn.stopped {
		return
	}
	srv := server.New(env, name, opts...)
	ln, err := env.Net().Listen("tcp", fmt.Sprintf(":%d", BackendPort))
	if err != nil {
		env.Sim().Violate("testnet-listen", "%s: %v", name, err)
		return
	}
	if err := srv.Serve(ln); err != nil {
		env.Sim().Violate("testnet-serve", "%s: %v", name, err)
		return
	}
	tn.servers[name] = srv
	if tn.stopped {
		// StopServers ran while this boot was listening: a host restarted
		// just before the end of a run must not leave a server behind.
		srv.Stop()
	}
}

// Addr is backend i's address (1-based), "10.0.0.1i:50051".
func (tn *Net) Addr(i int) resolver.Address {
	return resolver.Address{Addr: fmt.Sprintf("%s:%d", tn.Backends[i-1].Addr(), BackendPort)}
}

// Addrs lists every backend's address.
func (tn *Net) Addrs() []resolver.Address {
	out := make([]resolver.Address, len(tn.Backends))
	for i := range tn.Backends {
		out[i] = tn.Addr(i + 1)
	}
	return out
}

// Server returns the server the backend's latest boot started, or nil.
func (tn *Net) Server(backend string) *server.Server { return tn.servers[backend] }

// StopServers stops the server of every backend that is up; backends
// that boot afterwards (a restart still in progress) start none.
func (tn *Net) StopServers() {
	tn.stopped = true
	for _, h := range tn.Backends {
		if s := tn.servers[h.Name()]; s != nil && h.Up() {
			s.Stop()
		}
	}
}

// WaitFor polls cond every step of virtual time until it holds or timeout
// passes, and reports whether it held.
func WaitFor(env sim.Env, timeout, step time.Duration, cond func() bool) bool {
	deadline := env.Now().Add(timeout)
	for !cond() {
		if !env.Now().Before(deadline) {
			return false
		}
		env.Sleep(step)
	}
	return true
}

// Settle lets every task runnable now run to a block before the caller
// goes on (it sleeps 1ms of virtual time). Backends boot at t=0 alongside
// main: a client that must find their servers listening (rather than have
// its first dial refused, under some schedules) calls Settle first.
func Settle(env sim.Env) { env.Sleep(time.Millisecond) }
