package pickfirst

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/sim"
)

// DefaultMinTimeBetweenResolutions is grpc-js's default for
// grpc.dns_min_time_between_resolutions_ms.
const DefaultMinTimeBetweenResolutions = 30 * time.Second

// ResolverListener receives resolution results (grpc-js
// onSuccessfulResolution / onError). It is called from the resolver's
// tasks, never from inside UpdateResolution, and never after Destroy has
// returned.
type ResolverListener interface {
	OnResolved(addrs []string)
	OnResolveError(err error)
}

// Lookup resolves a name to addresses ("ip:port" strings, or bare IPs that
// get the target's port); it runs inside a task and may block (Sleep) to
// model DNS latency.
type Lookup func(name string) ([]string, error)

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	// MinTimeBetweenResolutions: grpc.dns_min_time_between_resolutions_ms,
	// default (0) DefaultMinTimeBetweenResolutions (30s); negative is an
	// error.
	MinTimeBetweenResolutions time.Duration
	// Lookup answers the queries; required for DNS-name targets.
	Lookup Lookup
}

// Resolver is a DNS-style resolver for one target "host:port": grpc-js's
// DnsResolver (resolver-dns.ts, 1.10) as a deterministic model.
//
//   - An IP-literal target ("10.0.0.1:50051", "[::1]:443") needs no lookup:
//     the first UpdateResolution delivers [target] once, from a task;
//     later calls do nothing.
//   - A DNS-name target is looked up with Options.Lookup in a task
//     "resolver/<target>/lookup"; the result (addresses in lookup order,
//     each "ip:port") or the error (naming the target) goes to the
//     listener from that task.
//   - Starting a lookup starts the rate-limit window
//     (MinTimeBetweenResolutions). UpdateResolution while a lookup is in
//     flight does nothing; inside the window it is deferred
//     (continueResolving): one lookup starts when the window ends, however
//     many requests came in. A failed lookup ends the window at once
//     (grpc-js stops nextResolutionTimer on error), so the next request
//     after an error resolves immediately.
//
// grpc-js's DNS resolver also runs its own backoff timer and a TXT
// (service config) query; neither is modelled. A deferred resolution waits
// for the window in its lookup task (a timer the task stops on every way
// out), so every task and timer of the resolver is accounted for and
// Destroy can wait for them.
type Resolver struct {
	env      netmodel.Env
	target   string
	host     string
	port     string
	ip       bool // the target is an IP literal
	minTime  time.Duration
	lookup   Lookup
	listener ResolverListener
	taskName string

	mu          sim.Mutex
	wg          sim.WaitGroup      // the lookup and IP-result tasks
	stop        sim.Chan[struct{}] // closed by Destroy: ends a deferred wait
	destroyed   bool
	inFlight    bool      // a lookup has started and not returned
	deferred    bool      // continueResolving: a lookup waits for the window
	windowOpen  bool      // lastStart starts a rate-limit window
	lastStart   time.Time // when the latest lookup started
	returnedIP  bool
	resolutions int
	delivering  *sim.Task // the task calling the listener (simulation only)
}

// NewResolver checks target and opts and returns an idle resolver: nothing
// runs until UpdateResolution. Errors name what was wrong: an empty target,
// a target without a port, a bad port, an empty host, a DNS name without
// opts.Lookup, a negative MinTimeBetweenResolutions, a nil listener.
func NewResolver(env netmodel.Env, target string, opts ResolverOptions, l ResolverListener) (*Resolver, error) {
	if target == "" {
		return nil, errors.New("pickfirst: resolver: empty target (want host:port)")
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("pickfirst: resolver: target %q is not host:port: %w", target, err)
	}
	if host == "" {
		return nil, fmt.Errorf("pickfirst: resolver: target %q has an empty host", target)
	}
	if port == "" {
		return nil, fmt.Errorf("pickfirst: resolver: target %q has no port", target)
	}
	if err := checkPort(port); err != nil {
		return nil, fmt.Errorf("pickfirst: resolver: target %q: %w", target, err)
	}
	_, perr := netip.ParseAddr(host)
	ip := perr == nil
	if !ip && opts.Lookup == nil {
		return nil, fmt.Errorf("pickfirst: resolver: target %q is a DNS name: ResolverOptions.Lookup is required", target)
	}
	if opts.MinTimeBetweenResolutions < 0 {
		return nil, fmt.Errorf("pickfirst: resolver: target %q: ResolverOptions.MinTimeBetweenResolutions is negative (%v)", target, opts.MinTimeBetweenResolutions)
	}
	if l == nil {
		return nil, fmt.Errorf("pickfirst: resolver: target %q: nil listener", target)
	}
	minTime := opts.MinTimeBetweenResolutions
	if minTime == 0 {
		minTime = DefaultMinTimeBetweenResolutions
	}
	return &Resolver{
		env: env, target: target, host: host, port: port, ip: ip,
		minTime: minTime, lookup: opts.Lookup, listener: l,
		taskName: "resolver/" + target,
		mu:       env.NewMutex(), wg: env.NewWaitGroup(), stop: sim.NewChan[struct{}](env, 0),
	}, nil
}

// checkPort accepts a decimal port in 1..65535.
func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return fmt.Errorf("bad port %q (want 1-65535)", port)
	}
	return nil
}

// UpdateResolution is grpc-js's updateResolution: if a lookup is in flight
// (or one is already deferred), nothing; within MinTimeBetweenResolutions
// of the latest lookup's start, the resolution is deferred to the end of
// that window; otherwise a lookup starts now. For an IP literal the first
// call delivers the address and later calls do nothing. After Destroy it
// does nothing. It never blocks and never calls the listener itself.
func (r *Resolver) UpdateResolution() {
	r.mu.Lock()
	if r.destroyed || r.inFlight || r.deferred {
		r.mu.Unlock()
		return
	}
	if r.ip {
		if r.returnedIP {
			r.mu.Unlock()
			return
		}
		r.returnedIP = true
		r.wg.Add(1)
		r.mu.Unlock()
		r.env.Go(r.taskName+"/ip", func() {
			defer r.wg.Done()
			r.deliverIP()
		})
		return
	}
	var wait time.Time // zero: start now
	if now := r.env.Now(); r.windowOpen && now.Before(r.lastStart.Add(r.minTime)) {
		r.deferred = true
		wait = r.lastStart.Add(r.minTime)
	} else {
		r.startLocked()
	}
	r.wg.Add(1)
	r.mu.Unlock()
	r.env.Go(r.taskName+"/lookup", func() {
		defer r.wg.Done()
		r.run(wait)
	})
}

// startLocked records the start of a lookup: it opens the rate-limit
// window (grpc-js startNextResolutionTimer) and counts the resolution.
func (r *Resolver) startLocked() {
	r.deferred = false
	r.inFlight = true
	r.windowOpen = true
	r.lastStart = r.env.Now()
	r.resolutions++
}

// run is the lookup task: a deferred resolution first waits for the end of
// the rate-limit window (or Destroy), then the lookup runs and its result
// goes to the listener unless the resolver was destroyed meanwhile.
func (r *Resolver) run(wait time.Time) {
	if !wait.IsZero() {
		tm := r.env.NewTimer(r.env.Until(wait))
		fired := sim.Select(r.env, sim.RecvCase(tm.C(), nil, nil), sim.RecvCase(r.stop, nil, nil)) == 0
		tm.Stop()
		if !fired {
			return
		}
		r.mu.Lock()
		if r.destroyed {
			r.mu.Unlock()
			return
		}
		r.startLocked()
		r.mu.Unlock()
	}
	raw, err := r.lookup(r.host)
	var addrs []string
	if err != nil {
		err = fmt.Errorf("pickfirst: name resolution failed for target %q: %w", r.target, err)
	} else {
		addrs, err = r.addresses(raw)
	}
	r.mu.Lock()
	if r.destroyed {
		r.mu.Unlock()
		return
	}
	r.inFlight = false
	if err != nil {
		// grpc-js stops nextResolutionTimer when a lookup fails.
		r.windowOpen = false
	}
	r.mu.Unlock()
	r.deliver(func() {
		if err != nil {
			r.listener.OnResolveError(err)
		} else {
			r.listener.OnResolved(addrs)
		}
	})
}

// addresses turns a lookup's answer into "ip:port" strings, in order: a
// bare IP (IPv6 with or without brackets) gets the target's port.
func (r *Resolver) addresses(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			host, port = a, r.port
			if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
				host = a[1 : len(a)-1]
			}
		} else if perr := checkPort(port); perr != nil {
			return nil, fmt.Errorf("pickfirst: name resolution for target %q: lookup of %q returned %q: %w", r.target, r.host, a, perr)
		}
		if _, perr := netip.ParseAddr(host); perr != nil {
			return nil, fmt.Errorf("pickfirst: name resolution for target %q: lookup of %q returned %q, which is not an IP address", r.target, r.host, a)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// deliverIP is the IP literal's one result.
func (r *Resolver) deliverIP() {
	r.mu.Lock()
	destroyed := r.destroyed
	r.mu.Unlock()
	if destroyed {
		return
	}
	addrs := []string{net.JoinHostPort(r.host, r.port)}
	r.deliver(func() { r.listener.OnResolved(addrs) })
}

// deliver calls the listener, noting the calling task so that a Destroy
// made from inside the callback does not wait for its own task.
func (r *Resolver) deliver(call func()) {
	var self *sim.Task
	if w := r.env.Sim(); w != nil {
		self = w.Current()
	}
	r.mu.Lock()
	r.delivering = self
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.delivering = nil
		r.mu.Unlock()
	}()
	call()
}

// Destroy stops the resolver: a deferred resolution is cancelled, a lookup
// in flight is waited for (a Lookup cannot be interrupted) and its result
// dropped, and later UpdateResolution calls do nothing. When it returns no
// task or timer of the resolver is left and the listener is not called
// again. It is idempotent. Called from inside a listener callback it does
// not wait for the calling task (which exits when the callback returns).
// Unlike grpc-js's destroy, which resets the resolver for reuse, a
// destroyed Resolver stays destroyed.
func (r *Resolver) Destroy() {
	var self *sim.Task
	if w := r.env.Sim(); w != nil {
		self = w.Current()
	}
	r.mu.Lock()
	first := !r.destroyed
	r.destroyed = true
	r.deferred = false
	inCallback := self != nil && r.delivering == self
	r.mu.Unlock()
	if first {
		r.stop.Close()
	}
	if inCallback {
		return
	}
	r.wg.Wait()
}

// Pending reports whether a lookup is in flight or deferred to the end of
// the rate-limit window: a result (or error) will reach the listener.
func (r *Resolver) Pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.destroyed && (r.inFlight || r.deferred)
}

// Resolutions counts the lookups started so far (an IP literal needs none).
func (r *Resolver) Resolutions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resolutions
}
