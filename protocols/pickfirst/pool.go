package pickfirst

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/sim"
)

// Pool is grpc-js's subchannel pool (subchannel-pool.ts): one real
// Subchannel per address while it is referenced, shared by every Handle
// that Get returns for that address. grpc-js drops unreferenced
// subchannels on a periodic sweep; here the last Unref shuts the
// subchannel down and takes it out of the pool at once.
type Pool struct {
	env  netmodel.Env
	name string
	opts SubchannelOptions
	wg   sim.WaitGroup // every connect and reader task of every subchannel

	mu     sim.Mutex
	subs   map[string]*Subchannel
	closed bool
}

// NewPool returns an empty pool called name (the prefix of its tasks'
// names and random streams). It fails if opts.Backoff is invalid; the zero
// BackoffConfig means DefaultBackoff.
func NewPool(env netmodel.Env, name string, opts SubchannelOptions) (*Pool, error) {
	opts.Backoff = opts.Backoff.orDefault()
	if err := opts.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("pickfirst: NewPool %q: %w", name, err)
	}
	return &Pool{
		env: env, name: name, opts: opts, wg: env.NewWaitGroup(), mu: env.NewMutex(),
		subs: map[string]*Subchannel{},
	}, nil
}

// checkAddr accepts "ip:port" and "host:port" with a non-empty host and a
// decimal port in 1..65535.
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("pickfirst: bad subchannel address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("pickfirst: bad subchannel address %q: empty host", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("pickfirst: bad subchannel address %q: port %q is not in 1..65535", addr, port)
	}
	return nil
}

// errPoolClosed is returned by Get after Close.
var errPoolClosed = errors.New("pool is closed")

// Get returns a new Handle on the pool's real subchannel for addr, making
// one (IDLE) if there is none. The Handle holds no reference yet: call Ref.
// addr must be "ip:port" or "host:port" with a port in 1..65535.
func (p *Pool) Get(addr string) (*Handle, error) {
	if err := checkAddr(addr); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("pickfirst: Get(%q) from pool %s: %w", addr, p.name, errPoolClosed)
	}
	s := p.subs[addr]
	// A subchannel shut down by its last Unref may not have left the map
	// yet: it is never handed out again.
	if s == nil || s.State() == connectivity.Shutdown {
		s = newSubchannel(p, addr)
		p.subs[addr] = s
	}
	return &Handle{s: s}, nil
}

// remove takes s out of the pool (if it is still the one for its address).
func (p *Pool) remove(s *Subchannel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subs[s.addr] == s {
		delete(p.subs, s.addr)
	}
}

// Subchannels lists the pool's live real subchannels, sorted by address.
func (p *Pool) Subchannels() []*Subchannel {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Subchannel, 0, len(p.subs))
	for _, addr := range slices.Sorted(maps.Keys(p.subs)) {
		if s := p.subs[addr]; s.State() != connectivity.Shutdown {
			out = append(out, s)
		}
	}
	return out
}

// Close shuts down every real subchannel (SHUTDOWN, delivered to its
// listeners), stops their timers and waits until all their tasks have
// exited; later Gets fail. It is idempotent. Call it from a task that is
// not one of the pool's (not from a listener).
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	subs := make([]*Subchannel, 0, len(p.subs))
	for _, addr := range slices.Sorted(maps.Keys(p.subs)) {
		subs = append(subs, p.subs[addr])
	}
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		t, changed := s.shutdownLocked()
		s.mu.Unlock()
		s.finishShutdown(t, changed)
	}
	p.wg.Wait()
}
